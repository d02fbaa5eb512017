"""Case references: 16 digits a person can keep among their contacts.

A reference carries about 53 bits of randomness. The server keeps only a slow
keyed hash of it (Argon2id, salted with a per-server secret), so a seized
database cannot be matched to a reference without the secret and a large
amount of work per guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

import nacl.encoding
import nacl.hash
import nacl.pwhash
import nacl.utils

from crypto.errors import ReferenceInvalid

CaseReference = NewType("CaseReference", str)
DIGITS = 16
PEPPER_SIZE = nacl.pwhash.argon2id.SALTBYTES
_GROUPS = (4, 3, 3, 3, 3)
_CHECK_PERSON = b"ws-pepper-check"
PEPPER_CHECK_SIZE = 16


@dataclass(frozen=True)
class ReferenceCost:
    """Argon2id cost of hashing one reference."""

    opslimit: int
    memlimit: int


REFERENCE_COST = ReferenceCost(nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE)
#: Only for tests.
REFERENCE_COST_MINIMUM = ReferenceCost(nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)


def new_reference() -> CaseReference:
    """Draw 16 uniformly random digits, formatted like a long phone number."""
    bound = 10**DIGITS
    limit = (2**64 // bound) * bound  # rejection sampling keeps every value equally likely
    while True:
        value = int.from_bytes(nacl.utils.random(8), "big")
        if value < limit:
            return format_reference(f"{value % bound:0{DIGITS}d}")


def normalise_reference(text: str) -> str:
    """The 16 digits of a reference typed with any spacing or punctuation."""
    digits = "".join(ch for ch in text if ch.isdigit() and ch.isascii())
    if len(digits) != DIGITS or len(text) > 64:
        raise ReferenceInvalid("a case reference has 16 digits")
    return digits


def format_reference(text: str) -> CaseReference:
    """Group the digits as 4-3-3-3-3 so it reads like a phone number."""
    digits = normalise_reference(text)
    parts, start = [], 0
    for size in _GROUPS:
        parts.append(digits[start : start + size])
        start += size
    return CaseReference(" ".join(parts))


def hash_reference(reference: str, pepper: bytes, cost: ReferenceCost = REFERENCE_COST) -> bytes:
    """The slow keyed hash the server stores instead of the reference."""
    if len(pepper) != PEPPER_SIZE:
        raise ValueError(f"pepper must be {PEPPER_SIZE} bytes")
    digits = normalise_reference(reference).encode("ascii")
    return nacl.pwhash.argon2id.kdf(32, digits, pepper, cost.opslimit, cost.memlimit)


def pepper_check(pepper: bytes) -> bytes:
    """A check value of the pepper (BLAKE2b keyed with it, over nothing): tells a damaged pepper from the right one.

    It reveals nothing that helps find the pepper (a keyed hash of a 16-byte random key).
    """
    if len(pepper) != PEPPER_SIZE:
        raise ValueError(f"pepper must be {PEPPER_SIZE} bytes")
    return nacl.hash.blake2b(b"", key=pepper, person=_CHECK_PERSON, digest_size=PEPPER_CHECK_SIZE,
                             encoder=nacl.encoding.RawEncoder)
