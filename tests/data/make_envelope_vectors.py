"""Regenerate tests/data/envelope_v1_vectors.json (run from the repository root).

Keys are derived from public labels, so the vectors carry no secret: anybody can
rebuild them. The committed file is the reference; regenerate only when the
format version changes, never to make a failing test pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import nacl.hash
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from crypto.envelope import SIGNATURE_SIZE, Kind, seal


def seed(label: str) -> bytes:
    """The 32-byte test seed for a label."""
    return nacl.hash.blake2b(label.encode(), digest_size=32, person=b"ws-test-vector", encoder=RawEncoder)


def main() -> None:
    signer = SigningKey(seed("signer"))
    recipients = [PrivateKey(seed(f"recipient-{i}")) for i in range(3)]
    payload = '{"answers":{"help":"leave","urgency":"now"},"language":"ru"}'.encode()
    good = seal(payload, kind=Kind.REQUEST, case_id="vector-case-1", queue="main",
                recipients=[r.public_key for r in recipients[:2]], signer=signer)
    tampered = bytearray(good)
    tampered[len(good) - SIGNATURE_SIZE - 1] ^= 0x01
    vectors = [
        {"description": "request to recipients 0 and 1, opened by recipient 1", "envelope": good.hex(),
         "recipient": "recipient-1", "case_id": "vector-case-1", "queue": "main", "kind": "REQUEST",
         "payload": payload.hex(), "error": None},
        {"description": "same envelope, recipient 2 is not a recipient", "envelope": good.hex(),
         "recipient": "recipient-2", "case_id": "vector-case-1", "queue": "main", "kind": "REQUEST",
         "payload": None, "error": "NotARecipient"},
        {"description": "same envelope, expected in another queue", "envelope": good.hex(),
         "recipient": "recipient-0", "case_id": "vector-case-1", "queue": "legal", "kind": "REQUEST",
         "payload": None, "error": "BindingMismatched"},
        {"description": "last ciphertext byte flipped", "envelope": bytes(tampered).hex(),
         "recipient": "recipient-0", "case_id": "vector-case-1", "queue": "main", "kind": "REQUEST",
         "payload": None, "error": "SignatureInvalid"},
        {"description": "version byte set to 2", "envelope": (good[:4] + b"\x02" + good[5:]).hex(),
         "recipient": "recipient-0", "case_id": "vector-case-1", "queue": "main", "kind": "REQUEST",
         "payload": None, "error": "UnknownVersion"},
    ]
    out = {"signer": "signer", "seed_derivation": "blake2b(label, digest_size=32, person='ws-test-vector')",
           "vectors": vectors}
    Path("tests/data/envelope_v1_vectors.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
