"""Identities and key files: round trips, passphrases, tampering, fingerprints."""

from __future__ import annotations

import json
import re

import pytest

from crypto.encoding import b64
from crypto.errors import KeyFileInvalid, PassphraseRejected
from crypto.keys import (
    Identity,
    KdfLimits,
    dump_identity,
    dump_public,
    identity_is_locked,
    load_identity,
    load_public,
)


def test_locked_key_round_trips(kdf: KdfLimits) -> None:
    identity = Identity.generate("Cas Worker")
    data = dump_identity(identity, b"correct horse", kdf)
    assert identity_is_locked(data)
    loaded = load_identity(data, b"correct horse")
    assert loaded.public == identity.public
    assert bytes(loaded.signing_key) == bytes(identity.signing_key)


def test_key_file_records_kdf_parameters(kdf: KdfLimits) -> None:
    obj = json.loads(dump_identity(Identity.generate("a"), b"pw", kdf))
    assert obj["kdf"]["alg"] == "argon2id13"
    assert obj["kdf"]["opslimit"] == kdf.opslimit and obj["kdf"]["memlimit"] == kdf.memlimit


def test_private_key_is_not_in_the_file_in_clear(kdf: KdfLimits) -> None:
    identity = Identity.generate("a")
    data = dump_identity(identity, b"pw", kdf)
    assert b64(bytes(identity.signing_key)).encode() not in data
    assert b64(bytes(identity.box_private)).encode() not in data


def test_wrong_passphrase_is_a_typed_error(kdf: KdfLimits) -> None:
    data = dump_identity(Identity.generate("a"), b"right", kdf)
    with pytest.raises(PassphraseRejected):
        load_identity(data, b"wrong")
    with pytest.raises(PassphraseRejected):
        load_identity(data, None)


def test_swapped_public_part_fails_to_unlock(kdf: KdfLimits) -> None:
    victim, other = Identity.generate("a"), Identity.generate("a")
    obj = json.loads(dump_identity(victim, b"pw", kdf))
    obj["public"]["box"] = b64(bytes(other.box_private.public_key))
    with pytest.raises(PassphraseRejected):
        load_identity(json.dumps(obj).encode(), b"pw")


def test_empty_passphrase_is_refused(kdf: KdfLimits) -> None:
    with pytest.raises(PassphraseRejected):
        dump_identity(Identity.generate("a"), b"", kdf)


@pytest.mark.parametrize("data", [b"", b"not json", b"[]", b'{"format":"other"}', b"\xff\xfe"])
def test_garbage_key_files_are_rejected(data: bytes) -> None:
    with pytest.raises(KeyFileInvalid):
        load_identity(data, b"pw")


def test_public_file_where_private_needed_says_so() -> None:
    with pytest.raises(KeyFileInvalid, match="public key file"):
        load_identity(dump_public(Identity.generate("a").public), b"pw")


def test_out_of_range_kdf_parameters_are_rejected(kdf: KdfLimits) -> None:
    obj = json.loads(dump_identity(Identity.generate("a"), b"pw", kdf))
    obj["kdf"]["memlimit"] = 2**40
    with pytest.raises(KeyFileInvalid):
        load_identity(json.dumps(obj).encode(), b"pw")


def test_unencrypted_bot_identity_round_trips() -> None:
    bot = Identity.generate("bot")
    data = dump_identity(bot, None)
    assert not identity_is_locked(data)
    assert load_identity(data, None).public == bot.public


def test_mismatched_unencrypted_secret_is_rejected() -> None:
    obj = json.loads(dump_identity(Identity.generate("bot"), None))
    obj["public"]["sign"] = b64(bytes(Identity.generate("x").signing_key.verify_key))
    with pytest.raises(KeyFileInvalid):
        load_identity(json.dumps(obj).encode(), None)


def test_public_file_round_trips_and_checks_fingerprint() -> None:
    public = Identity.generate("Ada").public
    assert load_public(dump_public(public)) == public
    obj = json.loads(dump_public(public))
    obj["fingerprint"] = "00000 00000 00000 00000 00000 00000"
    with pytest.raises(KeyFileInvalid):
        load_public(json.dumps(obj).encode())


def test_fingerprint_is_six_groups_of_five_digits_and_key_specific() -> None:
    a, b = Identity.generate("a").public, Identity.generate("a").public
    assert re.fullmatch(r"(\d{5} ){5}\d{5}", a.fingerprint())
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() == a.fingerprint()


@pytest.mark.parametrize("name", ["", " padded", "x" * 65, "tab\there"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(KeyFileInvalid):
        Identity.generate(name)
