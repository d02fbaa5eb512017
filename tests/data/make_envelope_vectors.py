"""Regenerate tests/data/envelope_v1_vectors.json (run from the repository root).

Keys are derived from public labels, so the vectors carry no secret: anybody can
rebuild them. The committed file is the reference. Sealing is randomised, so an
envelope vector already in the file is kept as it is; only missing ones are added
(regenerate every envelope only when the format version changes, never to make a
failing test pass); so is a grant vector. Reply keys and handle tags are deterministic and recomputed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nacl.hash
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from crypto.envelope import SIGNATURE_SIZE, Kind, recover_content_key, seal
from crypto.grant import envelope_digest, make_grant
from crypto.reference import REFERENCE_COST_MINIMUM
from crypto.replykey import REPLY_KEY_COST, derive_reply_key, handle_tag, reply_salt

PATH = Path("tests/data/envelope_v1_vectors.json")
#: The reference and case of the reply vectors (public test values).
REFERENCE = "4242 123 456 789 012"
REPLY_CASE = "vector-case-2"
#: A reply handle as the bot seals it (a fixed byte string here: sealing is randomised).
HANDLE = bytes(range(64))


def seed(label: str) -> bytes:
    """The 32-byte test seed for a label."""
    return nacl.hash.blake2b(label.encode(), digest_size=32, person=b"ws-test-vector", encoder=RawEncoder)


def _envelope_vectors() -> list[dict[str, Any]]:
    signer = SigningKey(seed("signer"))
    recipients = [PrivateKey(seed(f"recipient-{i}")) for i in range(3)]
    payload = b'{"answers":{"help":"leave","urgency":"now"},"language":"ru"}'
    good = seal(payload, kind=Kind.REQUEST, case_id="vector-case-1", queue="main",
                recipients=[r.public_key for r in recipients[:2]], signer=signer)
    tampered = bytearray(good)
    tampered[len(good) - SIGNATURE_SIZE - 1] ^= 0x01
    bot = PrivateKey(seed("bot"))
    delivery_payload = json.dumps({"v": 1, "reply_handle": "AAEC", "reply_tag": "AAAAAAAAAAAAAAAAAAAAAA==",
                                   "language": "ru"}, separators=(",", ":")).encode()
    delivery = seal(delivery_payload, kind=Kind.DELIVERY, case_id=REPLY_CASE, queue="main",
                    recipients=[bot.public_key], signer=signer)
    reply_payload = b'{"v":1,"text":"We can help."}'
    person = derive_reply_key(REFERENCE, REPLY_CASE, REPLY_KEY_COST)
    reply = seal(reply_payload, kind=Kind.REPLY, case_id=REPLY_CASE, queue="main", recipients=[person.public_key],
                 signer=signer)
    common = {"case_id": "vector-case-1", "queue": "main", "kind": "REQUEST"}
    return [
        {"description": "request to recipients 0 and 1, opened by recipient 1", "envelope": good.hex(),
         "recipient": "recipient-1", **common, "payload": payload.hex(), "error": None},
        {"description": "same envelope, recipient 2 is not a recipient", "envelope": good.hex(),
         "recipient": "recipient-2", **common, "payload": None, "error": "NotARecipient"},
        {"description": "same envelope, expected in another queue", "envelope": good.hex(),
         "recipient": "recipient-0", **common, "queue": "legal", "payload": None, "error": "BindingMismatched"},
        {"description": "last ciphertext byte flipped", "envelope": bytes(tampered).hex(),
         "recipient": "recipient-0", **common, "payload": None, "error": "SignatureInvalid"},
        {"description": "version byte set to 2", "envelope": (good[:4] + b"\x02" + good[5:]).hex(),
         "recipient": "recipient-0", **common, "payload": None, "error": "UnknownVersion"},
        {"description": "delivery (kind 5) to the bot, opened by the bot", "envelope": delivery.hex(),
         "recipient": "bot", "case_id": REPLY_CASE, "queue": "main", "kind": "DELIVERY",
         "payload": delivery_payload.hex(), "error": None},
        {"description": "same delivery envelope, expected as a reply", "envelope": delivery.hex(),
         "recipient": "bot", "case_id": REPLY_CASE, "queue": "main", "kind": "REPLY", "payload": None,
         "error": "BindingMismatched"},
        {"description": "reply to the person's reply key, opened with the key derived from the reference",
         "envelope": reply.hex(), "reply_reference": REFERENCE, "case_id": REPLY_CASE, "queue": "main",
         "kind": "REPLY", "payload": reply_payload.hex(), "error": None},
        {"description": "same reply, key derived from a wrong reference", "envelope": reply.hex(),
         "reply_reference": "4242 123 456 789 013", "case_id": REPLY_CASE, "queue": "main", "kind": "REPLY",
         "payload": None, "error": "NotARecipient"},
        {"description": "same reply, key derived for another case id", "envelope": reply.hex(),
         "reply_reference": REFERENCE, "reply_case_id": "vector-case-3", "case_id": REPLY_CASE, "queue": "main",
         "kind": "REPLY", "payload": None, "error": "NotARecipient"},
    ]


def reply_key_vectors() -> list[dict[str, Any]]:
    """Reply key derivations at the format's cost and at the minimum (the latter only for fast checks)."""
    out = []
    for name, cost in (("format", REPLY_KEY_COST), ("minimum", REFERENCE_COST_MINIMUM)):
        key = derive_reply_key(REFERENCE, REPLY_CASE, cost)
        out.append({"reference": REFERENCE, "case_id": REPLY_CASE, "cost": name, "opslimit": cost.opslimit,
                    "memlimit": cost.memlimit, "salt": reply_salt(REPLY_CASE).hex(), "secret": bytes(key).hex(),
                    "public": bytes(key.public_key).hex()})
    return out


def handle_tag_vectors() -> list[dict[str, Any]]:
    """Tags of one handle for two cases, under the key of the bot seeded 'bot'."""
    bot = PrivateKey(seed("bot"))
    return [{"bot": "bot", "handle": HANDLE.hex(), "case_id": case, "tag": handle_tag(bot, HANDLE, case).hex()}
            for case in (REPLY_CASE, "vector-case-3")]


def grant_vectors(envelope: bytes) -> list[dict[str, Any]]:
    """A grant by 'granter' to recipient-2 of the content key of `envelope` (the first vector), and its failures.

    The content key is recovered with recipient-0's key, as a granting caseworker does.
    """
    content_key = recover_content_key(envelope, recipient=PrivateKey(seed("recipient-0")),
                                      trusted_signers=[SigningKey(seed("signer")).verify_key],
                                      case_id="vector-case-1", queue="main", kinds={Kind.REQUEST})
    granter = SigningKey(seed("granter"))
    grant = make_grant({envelope_digest(envelope): content_key}, case_id="vector-case-1", queue="main",
                       recipient=PrivateKey(seed("recipient-2")).public_key,
                       granter=PrivateKey(seed("granter-box")).public_key, signer=granter, at=1_767_225_600)
    tampered = bytearray(grant)
    tampered[len(grant) - SIGNATURE_SIZE - 1] ^= 0x01
    common = {"granter": "granter", "granter_box": "granter-box", "case_id": "vector-case-1", "queue": "main"}
    return [
        {"description": "grant of vector 0's content key to recipient-2, opened by recipient-2", "grant": grant.hex(),
         "recipient": "recipient-2", **common, "error": None},
        {"description": "same grant, opened by recipient-1 (not addressed to it)", "grant": grant.hex(),
         "recipient": "recipient-1", **common, "error": "GrantBindingMismatched"},
        {"description": "same grant, expected for another case", "grant": grant.hex(), "recipient": "recipient-2",
         **common, "case_id": "vector-case-2", "error": "GrantBindingMismatched"},
        {"description": "last stanza byte flipped", "grant": bytes(tampered).hex(), "recipient": "recipient-2",
         **common, "error": "GrantSignatureInvalid"},
    ]


def main() -> None:
    existing = json.loads(PATH.read_text()) if PATH.exists() else {"vectors": []}
    kept = {v["description"]: v for v in existing["vectors"]}
    vectors = [kept.get(v["description"], v) for v in _envelope_vectors()]
    kept_grants = {v["description"]: v for v in existing.get("grants", [])}
    grants = [kept_grants.get(v["description"], v) for v in grant_vectors(bytes.fromhex(vectors[0]["envelope"]))]
    out = {"signer": "signer", "seed_derivation": "blake2b(label, digest_size=32, person='ws-test-vector')",
           "vectors": vectors, "reply_keys": reply_key_vectors(), "handle_tags": handle_tag_vectors(),
           "grants": grants}
    PATH.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
