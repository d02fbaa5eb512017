"""The rule a new key's passphrase must meet: long, and not one of the first things an attacker tries.

A private key file is only as strong as its passphrase: Argon2id makes each guess slow, but a
stolen laptop gives the attacker unlimited time offline, and "x", "12345678" or "password1"
fall in the first seconds of any guessing run. The rule is deliberately simple, so that it
can be said in one sentence (RULE) and checked without a word list that would need updating.
"""

from __future__ import annotations

import string

MIN_CHARS = 12
MIN_DISTINCT = 6
#: The passphrase rule, said to the person in every refusal.
RULE = (f"at least {MIN_CHARS} characters, at least {MIN_DISTINCT} different ones, not only digits, not a "
        "shorter piece repeated, not a keyboard or alphabet run, not a common password; five or more random "
        "words are best")

# Runs an attacker tries first (also backwards): alphabet, digits, keyboard rows.
_RUNS = ("abcdefghijklmnopqrstuvwxyz", "01234567890", "qwertyuiopasdfghjklzxcvbnm", "qwertzuiopasdfghjklyxcvbnm",
         "azertyuiopqsdfghjklmwxcvbn", "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
         "йцукенгшщзхъфывапролджэячсмитьбю")
# The bases of the commonest passwords (with digits or symbols around them they are no better).
_COMMON = frozenset({
    "password", "passphrase", "passwort", "motdepasse", "contrasena", "parol", "qwerty", "letmein", "iloveyou",
    "admin", "administrator", "welcome", "secret", "changeme", "monkey", "dragon", "master", "sunshine",
    "princess", "football", "baseball", "trustno", "waystation", "telegram", "default", "test", "login",
})

# "P@ssw0rd" is "password" to any guessing tool.
_LEET = str.maketrans({"@": "a", "4": "a", "8": "b", "3": "e", "1": "i", "!": "i", "0": "o", "$": "s", "5": "s",
                       "7": "t", "+": "t"})


def weakness(passphrase: str) -> str | None:
    """Why `passphrase` is too weak for a new key, or None if it meets RULE."""
    text = passphrase.strip()
    if len(text) < MIN_CHARS:
        return f"it has {len(text)} characters"
    folded = text.casefold()
    if len(set(folded)) < MIN_DISTINCT:
        return f"it uses only {len(set(folded))} different characters"
    if text.isdigit():
        return "it is only digits"
    if any(len(folded) % size == 0 and folded == folded[:size] * (len(folded) // size)
           for size in range(1, len(folded) // 2 + 1)):
        return "it repeats a shorter piece"
    squeezed = "".join(ch for ch in folded if not ch.isspace())
    if any(squeezed in run * 3 or squeezed in run[::-1] * 3 for run in _RUNS):
        return "it is a keyboard or alphabet run"
    # Digits and symbols around a word are not counted; inside it they may be spelled-out letters.
    core = folded.strip(string.digits + string.punctuation + string.whitespace)
    for spelling in (folded, core.translate(_LEET)):
        letters = "".join(ch for ch in spelling if ch.isalpha())
        if not letters or any(letters == word * (len(letters) // len(word)) for word in _COMMON):
            return "it is a common password"
    return None
