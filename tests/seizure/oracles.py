"""Cheap ways to check a guessed reference: what a careless design would store, and the attacker then searches for.

A reference has about 53 bits; the server may keep only a test of it that costs an Argon2id
run with 64 MiB (the peppered reference hash; the reply key, salted by the case id, is the
same cost). Anything cheaper on the disk would make every reference, and with it every
waiting reply, a matter of hours: a fast hash of the digits (plain, peppered, keyed), an
Argon2id run at the minimum cost, or a reply key (or its envelope key id) derived that way.
For each reference the test gave, the attacker computes these and searches for them like any
other needle (raw, hex, base64). The true values at the real cost are not searched: finding
them would only show the design works as documented.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path

import nacl.hash
import nacl.pwhash
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey

from crypto.keys import key_id
from crypto.replykey import reply_salt
from tests.seizure.keys import _decodings
from tests.seizure.needles import Needle

CHEAP_OPS = nacl.pwhash.argon2id.OPSLIMIT_MIN
CHEAP_MEM = nacl.pwhash.argon2id.MEMLIMIT_MIN


def peppers(home: Path) -> list[bytes]:
    """The reference pepper in every form the file could hold it (16 bytes)."""
    path = home / "secrets" / "reference_pepper"
    if not path.is_file():
        return []
    found = [m for _, m in _decodings(path.read_bytes()) if len(m) == nacl.pwhash.argon2id.SALTBYTES]
    return list(dict.fromkeys(found))


def _fast(digits: bytes, pepper_list: list[bytes]) -> list[tuple[str, bytes]]:
    out = [("sha256", hashlib.sha256(digits).digest()), ("sha512", hashlib.sha512(digits).digest()),
           ("blake2b-256", nacl.hash.blake2b(digits, digest_size=32, encoder=RawEncoder)),
           ("blake2b-512", nacl.hash.blake2b(digits, digest_size=64, encoder=RawEncoder))]
    for i, pepper in enumerate(pepper_list):
        out += [(f"sha256(pepper{i} || digits)", hashlib.sha256(pepper + digits).digest()),
                (f"hmac-sha256(pepper{i})", hmac.new(pepper, digits, hashlib.sha256).digest()),
                (f"blake2b keyed with pepper{i}", nacl.hash.blake2b(digits, digest_size=32, key=pepper,
                                                                     encoder=RawEncoder)),
                (f"argon2id at the minimum cost, pepper{i}",
                 nacl.pwhash.argon2id.kdf(32, digits, pepper, CHEAP_OPS, CHEAP_MEM))]
    return out


def cheap_needles(needles: Iterable[Needle], pepper_list: list[bytes], case_ids: Iterable[str]) -> list[Needle]:
    """For each reference needle: its fast hashes, and reply keys (and key ids) derived cheaply for every case."""
    cases = sorted(set(case_ids))
    out: list[Needle] = []
    seen: set[str] = set()
    for needle in needles:
        if needle.kind != "reference" or not isinstance(needle.value, str):
            continue
        digits = "".join(ch for ch in needle.value if ch.isdigit()).encode("ascii")
        if len(digits) != 16 or digits in seen:
            continue
        seen.add(digits.decode())
        for how, value in _fast(digits, pepper_list):
            out.append(Needle(f"{needle.label} as {how}", "reference", value))
            if len(value) >= 32:  # the same value used as a reply key's secret
                public = PrivateKey(value[:32]).public_key
                out.append(Needle(f"{needle.label}: reply key from {how}", "reference", bytes(public)))
                out.append(Needle(f"{needle.label}: reply key from {how}, its key id", "reference",
                                  bytes(key_id(public))))
        for case_id in cases:
            seed = nacl.pwhash.argon2id.kdf(32, digits, reply_salt(case_id), CHEAP_OPS, CHEAP_MEM)
            out.append(Needle(f"{needle.label}: reply key at the minimum cost for a case, its key id",
                              "reference", bytes(key_id(PrivateKey(seed).public_key))))
    return out
