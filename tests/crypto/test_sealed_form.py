"""The sealed form's envelopes (docs/envelope.md, "The sealed form"): a body the page seals, the bot countersigns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey

import crypto.errors
from crypto.envelope import Kind, countersign, open_envelope, seal, seal_body
from crypto.keys import key_id
from crypto.padding import BUCKETS
from tests.data.make_envelope_vectors import seed

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "sealed_form_vectors.json").read_text(encoding="utf-8"))


def _kids(labels: list[str]) -> set[Any]:
    return {key_id(PrivateKey(seed(label)).public_key) for label in labels}


def test_the_vector_body_countersigned_is_the_vector_envelope_and_opens() -> None:
    vector = VECTORS["body"]
    bot = SigningKey(seed(VECTORS["bot"]))
    envelope = countersign(bytes.fromhex(vector["body"]), signer=bot, case_id=vector["case_id"],
                           queue=vector["queue"], kinds={Kind.REQUEST}, recipients=_kids(vector["recipients"]))
    assert envelope.hex() == vector["envelope"]
    for label in vector["recipients"]:
        opened = open_envelope(envelope, recipient=PrivateKey(seed(label)), trusted_signers=[bot.verify_key],
                               case_id=vector["case_id"], queue=vector["queue"], kinds={Kind.REQUEST})
        assert opened.payload.hex() == vector["payload"]


@pytest.mark.parametrize("vector", VECTORS["refusals"], ids=lambda v: v["description"])
def test_countersign_refuses(vector: dict[str, Any]) -> None:
    bot = SigningKey(seed(VECTORS["bot"]))
    with pytest.raises(getattr(crypto.errors, vector["error"])):
        countersign(bytes.fromhex(vector["body"]), signer=bot, case_id=vector["case_id"], queue=vector["queue"],
                    kinds={Kind.REQUEST}, recipients=_kids(vector["recipients"]))


def _body(payload: bytes = b"{}", **kwargs: Any) -> tuple[bytes, SigningKey, PrivateKey]:
    bot, person = SigningKey.generate(), PrivateKey.generate()
    body = seal_body(payload, kind=Kind.REQUEST, case_id="case-1", queue="main", recipients=[person.public_key],
                     signer_key=bot.verify_key)
    return body, bot, person


def test_countersign_refuses_a_ciphertext_above_the_size_limit() -> None:
    body, bot, person = _body(b"x" * 5000)  # the 8192 bucket
    with pytest.raises(crypto.errors.EnvelopeMalformed):
        countersign(body, signer=bot, case_id="case-1", queue="main", kinds={Kind.REQUEST},
                    recipients={key_id(person.public_key)}, max_size=BUCKETS[3])


def test_countersign_refuses_a_truncated_body() -> None:
    body, bot, person = _body()
    for cut in (3, 37, 60, len(body) - 1):
        with pytest.raises(crypto.errors.EnvelopeMalformed):
            countersign(body[:cut], signer=bot, case_id="case-1", queue="main", kinds={Kind.REQUEST},
                        recipients={key_id(person.public_key)})


def test_a_tampered_countersigned_body_does_not_open() -> None:
    body, bot, person = _body(b'{"a":1}')
    tampered = bytearray(body)
    tampered[-1] ^= 1  # the page (or anyone before the bot) changed the ciphertext: the AEAD fails at opening
    envelope = countersign(bytes(tampered), signer=bot, case_id="case-1", queue="main", kinds={Kind.REQUEST},
                           recipients={key_id(person.public_key)})
    with pytest.raises(crypto.errors.DecryptionFailed):
        open_envelope(envelope, recipient=person, trusted_signers=[bot.verify_key], case_id="case-1", queue="main",
                      kinds={Kind.REQUEST})


def test_seal_is_seal_body_signed() -> None:
    bot, person = SigningKey.generate(), PrivateKey.generate()
    envelope = seal(b"hello", kind=Kind.NOTE, case_id="c", queue="q", recipients=[person.public_key], signer=bot)
    assert envelope[6:38] == bytes(bot.verify_key)
    assert open_envelope(envelope, recipient=person, trusted_signers=[bot.verify_key], case_id="c", queue="q",
                         kinds={Kind.NOTE}).payload == b"hello"
