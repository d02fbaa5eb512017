"""Regenerate tests/data/sealed_form_vectors.json (run from the repository root): docs/envelope.md, "The sealed form".

A body is what the page builds (bot/webform/static/seal.js); the envelope is that body signed by
the bot (crypto.envelope.countersign). Content key and nonce are fixed test values; the sealed
content keys are random (crypto_box_seal draws an ephemeral key), so they are recorded and a
committed file is kept as it is unless it is missing. Python (tests/crypto/test_sealed_form.py)
and node (tests/js/envelope_vectors.test.js) check the same file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nacl.bindings
from nacl.public import PrivateKey, SealedBox
from nacl.signing import SigningKey

from crypto.envelope import MAGIC, VERSION, Kind, countersign
from crypto.keys import key_id
from crypto.padding import pad
from tests.data.make_envelope_vectors import seed

PATH = Path("tests/data/sealed_form_vectors.json")
BOT = "bot-signer"
CASE, QUEUE = "vector-sealed-1", "main"
RECIPIENTS = ["recipient-0", "recipient-1"]
PAYLOAD = ('{"v":1,"answers":{"help":"Leave the country","country":"Россия"},"language":"ru",'
           '"channel":"telegram","submitted_hour":"2026-01-01T10:00Z","reply_handle":null,"reply_tag":null,'
           '"reply_key":null}').encode()


def body(payload: bytes, kind: Kind, case_id: str, queue: str, recipients: list[str], content_key: bytes,
         nonce: bytes, sealed: list[bytes], signer: bytes) -> bytes:
    """An envelope body laid out by hand, as the page lays it out (fixed randomness)."""
    header = bytearray(MAGIC) + bytes([VERSION, int(kind)]) + signer
    for label in (case_id, queue):
        header += bytes([len(label)]) + label.encode()
    header += bytes([len(recipients)])
    for label, sealed_key in zip(recipients, sealed, strict=True):
        header += key_id(PrivateKey(seed(label)).public_key) + sealed_key
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(pad(payload), bytes(header), nonce,
                                                                          content_key)
    return bytes(header) + nonce + len(ciphertext).to_bytes(4, "big") + ciphertext


def build() -> dict[str, Any]:
    bot = SigningKey(seed(BOT))
    content_key, nonce = seed("sealed-content-key"), seed("sealed-nonce")[:24]
    sealed = [SealedBox(PrivateKey(seed(r)).public_key).encrypt(content_key) for r in RECIPIENTS]
    good = body(PAYLOAD, Kind.REQUEST, CASE, QUEUE, RECIPIENTS, content_key, nonce, sealed, bytes(bot.verify_key))
    envelope = countersign(good, signer=bot, case_id=CASE, queue=QUEUE, kinds={Kind.REQUEST},
                           recipients={key_id(PrivateKey(seed(r)).public_key) for r in RECIPIENTS})
    other_signer = body(PAYLOAD, Kind.REQUEST, CASE, QUEUE, RECIPIENTS, content_key, nonce, sealed,
                        bytes(SigningKey(seed("signer")).verify_key))
    one_recipient = body(PAYLOAD, Kind.REQUEST, CASE, QUEUE, RECIPIENTS[:1], content_key, nonce, sealed[:1],
                         bytes(bot.verify_key))
    follow_up = body(b'{"v":1,"text":"x","language":"en"}', Kind.FOLLOW_UP, CASE, QUEUE, RECIPIENTS, content_key,
                     nonce, sealed, bytes(bot.verify_key))
    short = bytearray(good)
    length_at = len(good) - (len(good) - good.index(nonce) - 24)
    short[length_at:length_at + 4] = (int.from_bytes(good[length_at:length_at + 4], "big") - 1).to_bytes(4, "big")
    common = {"case_id": CASE, "queue": QUEUE, "recipients": RECIPIENTS, "kind": "REQUEST"}
    return {
        "bot": BOT,
        "seed_derivation": "blake2b(label, digest_size=32, person='ws-test-vector')",
        "body": {**common, "payload": PAYLOAD.hex(), "content_key": content_key.hex(), "nonce": nonce.hex(),
                 "sealed_keys": [s.hex() for s in sealed], "body": good.hex(), "envelope": envelope.hex()},
        "refusals": [
            {"description": "body naming another signer", "body": other_signer.hex(), **common,
             "error": "SignerUntrusted"},
            {"description": "body for another case id", "body": good.hex(), **common, "case_id": "vector-sealed-2",
             "error": "BindingMismatched"},
            {"description": "body for another queue", "body": good.hex(), **common, "queue": "legal",
             "error": "BindingMismatched"},
            {"description": "body sealed to one caseworker of two", "body": one_recipient.hex(), **common,
             "error": "BindingMismatched"},
            {"description": "body sealed to a caseworker who is not the queue's", "body": good.hex(), **common,
             "recipients": ["recipient-0", "recipient-2"], "error": "BindingMismatched"},
            {"description": "follow-up where a request is expected", "body": follow_up.hex(), **common,
             "error": "BindingMismatched"},
            {"description": "ciphertext one byte short of its bucket", "body": bytes(short[:-1]).hex(), **common,
             "error": "EnvelopeMalformed"},
            {"description": "a byte after the ciphertext", "body": (good + b"\x00").hex(), **common,
             "error": "EnvelopeMalformed"},
            {"description": "version byte set to 2", "body": (good[:4] + b"\x02" + good[5:]).hex(), **common,
             "error": "UnknownVersion"},
        ],
    }


def main() -> None:
    if PATH.exists():
        print(f"{PATH} exists; delete it to rebuild (its sealed keys are random)")
        return
    PATH.write_text(json.dumps(build(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
