"""The committed envelope v1 vectors open (or fail) exactly as docs/envelope.md says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey

import crypto.errors
from crypto.envelope import Kind, open_envelope, open_with_content_key
from crypto.grant import envelope_digest, open_grant
from crypto.keys import key_id
from crypto.reference import ReferenceCost
from crypto.replykey import (
    REPLY_KEY_COST,
    derive_reply_key,
    handle_tag,
    open_handle,
    reply_salt,
)
from tests.data.make_envelope_vectors import seed

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "envelope_v1_vectors.json").read_text())


def _recipient(vector: dict[str, str]) -> PrivateKey:
    if "reply_reference" in vector:  # the person's reply key, derived at the format's cost
        return derive_reply_key(vector["reply_reference"], vector.get("reply_case_id", vector["case_id"]))
    return PrivateKey(seed(vector["recipient"]))


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["description"])
def test_vector(vector: dict[str, str]) -> None:
    signer = SigningKey(seed(VECTORS["signer"])).verify_key
    kwargs = dict(
        recipient=_recipient(vector), trusted_signers=[signer],
        case_id=vector["case_id"], queue=vector["queue"], kinds={Kind[vector["kind"]]},
    )
    envelope = bytes.fromhex(vector["envelope"])
    if vector["error"] is None:
        assert open_envelope(envelope, **kwargs).payload == bytes.fromhex(vector["payload"])  # type: ignore[arg-type]
    else:
        with pytest.raises(getattr(crypto.errors, vector["error"])):
            open_envelope(envelope, **kwargs)  # type: ignore[arg-type]


def test_vector_header_layout_matches_spec() -> None:
    """Spot-check the documented offsets on the first vector."""
    envelope = bytes.fromhex(VECTORS["vectors"][0]["envelope"])
    signer = bytes(SigningKey(seed("signer")).verify_key)
    assert envelope[0:4] == b"WSEV"
    assert envelope[4] == 1 and envelope[5] == Kind.REQUEST
    assert envelope[6:38] == signer
    assert envelope[38] == len(b"vector-case-1") and envelope[39:52] == b"vector-case-1"
    assert envelope[52] == 4 and envelope[53:57] == b"main"
    assert envelope[57] == 2  # two recipients
    stanzas_end = 58 + 2 * (8 + 80)
    ct_len = int.from_bytes(envelope[stanzas_end + 24 : stanzas_end + 28], "big")
    assert ct_len == 512 + 16
    assert len(envelope) == stanzas_end + 24 + 4 + ct_len + 64


@pytest.mark.parametrize("vector", VECTORS["reply_keys"], ids=lambda v: v["cost"])
def test_reply_key_vector(vector: dict[str, Any]) -> None:
    cost = ReferenceCost(vector["opslimit"], vector["memlimit"])
    if vector["cost"] == "format":
        assert cost == REPLY_KEY_COST  # the format's constant has not drifted
    assert reply_salt(vector["case_id"]).hex() == vector["salt"]
    key = derive_reply_key(vector["reference"], vector["case_id"], cost)
    assert bytes(key).hex() == vector["secret"]
    assert bytes(key.public_key).hex() == vector["public"]


@pytest.mark.parametrize("vector", VECTORS["handle_tags"], ids=lambda v: v["case_id"])
def test_handle_tag_vector(vector: dict[str, str]) -> None:
    bot = PrivateKey(seed(vector["bot"]))
    handle = bytes.fromhex(vector["handle"])
    assert handle_tag(bot, handle, vector["case_id"]).hex() == vector["tag"]
    others = [v["case_id"] for v in VECTORS["handle_tags"] if v["case_id"] != vector["case_id"]]
    with pytest.raises(crypto.errors.HandleRejected):
        open_handle([bot], handle, bytes.fromhex(vector["tag"]), others[0])


@pytest.mark.parametrize("vector", VECTORS["grants"], ids=lambda v: v["description"])
def test_grant_vector(vector: dict[str, Any]) -> None:
    """A committed grant opens (or fails) as docs/envelope.md, "Grants", says; it opens the first envelope vector."""
    envelope = bytes.fromhex(VECTORS["vectors"][0]["envelope"])
    grant = bytes.fromhex(vector["grant"])
    granter = SigningKey(seed(vector["granter"])).verify_key
    kwargs = dict(recipient=PrivateKey(seed(vector["recipient"])), trusted_signers=[granter],
                  case_id=vector["case_id"], queue=vector["queue"])
    if vector["error"] is not None:
        with pytest.raises(getattr(crypto.errors, vector["error"])):
            open_grant(grant, envelope, **kwargs)  # type: ignore[arg-type]
        return
    content_key = open_grant(grant, envelope, **kwargs)  # type: ignore[arg-type]
    opened = open_with_content_key(envelope, content_key, trusted_signers=[SigningKey(seed("signer")).verify_key],
                                   case_id="vector-case-1", queue="main", kinds={Kind.REQUEST})
    assert opened.payload == bytes.fromhex(VECTORS["vectors"][0]["payload"])
    # The documented layout: magic, version, signer, granter and recipient key ids, time, labels, stanzas.
    assert grant[0:4] == b"WSGR" and grant[4] == 1 and grant[5:37] == bytes(granter)
    assert grant[37:45] == key_id(PrivateKey(seed(vector["granter_box"])).public_key)
    assert grant[45:53] == key_id(PrivateKey(seed("recipient-2")).public_key)
    assert int.from_bytes(grant[53:61], "big") % 3600 == 0
    assert grant[61] == 13 and grant[62:75] == b"vector-case-1" and grant[75] == 4 and grant[76:80] == b"main"
    assert grant[80] == 1 and grant[81:113] == envelope_digest(envelope)
    assert len(grant) == 81 + 32 + 80 + 64
