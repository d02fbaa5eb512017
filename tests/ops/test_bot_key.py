"""`waystation rotate-bot-key`: a new bot identity; what the old one signed or sealed stays usable."""

from __future__ import annotations

import time

import nacl.exceptions
import pytest
from nacl.public import SealedBox

from crypto.encoding import b64
from crypto.envelope import Kind, open_envelope
from crypto.errors import SignerUntrusted
from crypto.keys import Identity, load_identity, load_public
from intake.requests import Request, seal_reply_handle, submit
from staff.direct import ReadState, StaffSession
from storage.errors import HomeInvalid
from storage.home import Home
from storage.keyring import bot_box_keys, load_previous_bot_keys
from storage.server import Server
from tests.ops.conftest import OpsHome, ok, refused, waystation


def _bot(ops_home: OpsHome) -> Identity:
    return load_identity((ops_home.root / "secrets" / "bot_identity.json").read_bytes(), None)


def test_old_envelopes_still_verify_and_new_ones_carry_the_new_key(ops_home: OpsHome) -> None:
    old_bot = _bot(ops_home)
    with ops_home.staffed.open() as server:
        old_case = submit(server, Request({"help": "before"}), int(time.time())).case_id
    pub = ops_home.keys / "bot.pub"
    ran = ok("rotate-bot-key", "--home", ops_home.root, "--pub-out", pub)
    assert "new bot identity" in ran.out and "pin --bot" in ran.out
    new_bot = _bot(ops_home)
    assert load_public(pub.read_bytes()).verify_key == new_bot.signing_key.verify_key
    assert new_bot.signing_key.verify_key != old_bot.signing_key.verify_key
    assert new_bot.box_private.public_key != old_bot.box_private.public_key
    with Server.open(ops_home.root, environ={}) as server:
        new_case = submit(server, Request({"help": "after"}), int(time.time())).case_id
        assert server.trusted_bot_keys() == [new_bot.signing_key.verify_key, old_bot.signing_key.verify_key]
        caseworker = ops_home.staffed.staff["cas-main"]
        views = {v.case.id: v for v in StaffSession.start(server, caseworker, int(time.time())).list()}
        assert views[old_case].state is ReadState.OK and views[old_case].request is not None
        assert views[new_case].state is ReadState.OK
        assert views[old_case].request["answers"] == {"help": "before"}  # type: ignore[index]
        # New envelopes are signed by the new key alone: the old key does not verify them.
        envelope = server.cases.fetch(new_case).envelope
        assert envelope is not None
        with pytest.raises(SignerUntrusted):
            open_envelope(envelope, recipient=caseworker.box_private, trusted_signers=[old_bot.signing_key.verify_key],
                          case_id=new_case, queue="main", kinds={Kind.REQUEST})


def test_reply_handles_sealed_to_the_old_key_still_open(ops_home: OpsHome) -> None:
    old_bot = _bot(ops_home)
    handle = seal_reply_handle(old_bot, 987654321)
    ok("rotate-bot-key", "--home", ops_home.root)
    ok("rotate-bot-key", "--home", ops_home.root)
    keys = bot_box_keys(Home(ops_home.root))
    assert len(keys) == 3 and keys[0].public_key == _bot(ops_home).box_private.public_key
    opened = []
    for key in keys:
        try:
            opened.append(SealedBox(key).decrypt(handle))
        except nacl.exceptions.CryptoError:
            continue
    assert opened == [b"987654321"]
    previous = load_previous_bot_keys(Home(ops_home.root))
    assert len(previous) == 2 and previous[0].verify_key == old_bot.signing_key.verify_key
    assert (ops_home.root / "secrets" / "previous_bot_keys").stat().st_mode & 0o777 == 0o600
    # The retired private signing key is not kept: nothing may sign as the old bot again.
    text = (ops_home.root / "secrets" / "previous_bot_keys").read_text()
    assert b64(bytes(old_bot.signing_key)) not in text


def test_rotation_refuses_while_the_bot_runs(ops_home: OpsHome) -> None:
    before = (ops_home.root / "secrets" / "bot_identity.json").read_bytes()
    with ops_home.staffed.open():
        ran = refused("rotate-bot-key", "--home", ops_home.root)
    assert "in use" in ran.err
    assert (ops_home.root / "secrets" / "bot_identity.json").read_bytes() == before
    assert not (ops_home.root / "secrets" / "previous_bot_keys").exists()


def test_a_damaged_previous_keys_file_is_an_error_not_silence(ops_home: OpsHome) -> None:
    ok("rotate-bot-key", "--home", ops_home.root)
    (ops_home.root / "secrets" / "previous_bot_keys").write_text("{not json")
    with Server.open(ops_home.root, environ={}) as server, pytest.raises(HomeInvalid, match="previous_bot_keys"):
        server.trusted_bot_keys()
    ran = waystation("doctor", "--home", ops_home.root, "--no-network")
    assert ran.code == 1 and "error: [secrets]" in ran.out and "previous_bot_keys" in ran.out
