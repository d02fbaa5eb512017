"""The bot key across rotations and restores: `bot fingerprint` prints what caseworkers compare, a restore keeps
a newer bot identity, and doctor warns of an older one (caseworkers' clients would refuse it)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from crypto.encoding import b64
from crypto.keys import Identity, dump_identity, load_identity, load_public
from intake.requests import Request, submit
from staff.direct import ReadState, StaffSession
from staff.pins import ServerPins, check_bot
from storage.home import bot_key_history
from storage.server import Server
from tests.ops.conftest import TOKEN, OpsHome, ok, refused, waystation, with_passphrase

TOKEN_ENV = {"WAYSTATION_BOT_TOKEN": TOKEN}


def _bot(root: Path) -> Identity:
    return load_identity((root / "secrets" / "bot_identity.json").read_bytes(), None)


def _bot_key_findings(root: Path) -> list[dict[str, str]]:
    ran = waystation("doctor", "--home", root, "--json", "--no-network", env=TOKEN_ENV)
    return [f for f in json.loads(ran.out)["findings"] if f["check"] == "bot-key"]


def test_bot_fingerprint_prints_what_the_staff_client_shows_at_first_contact(ops_home: OpsHome,
                                                                            tmp_path: Path) -> None:
    bot = _bot(ops_home.root)
    ran = ok("bot", "fingerprint", "--home", ops_home.root, "--pub-out", tmp_path / "bot.pub")
    first_contact = check_bot("https://staff.example", bot.public, [], ServerPins())
    assert ran.out.splitlines()[0] == first_contact[0] == f"bot key {bot.public.fingerprint()}"
    assert load_public((tmp_path / "bot.pub").read_bytes()).fingerprint() == bot.public.fingerprint()
    assert "already exists" in refused("bot", "fingerprint", "--home", ops_home.root, "--pub-out",
                                       tmp_path / "bot.pub").err
    ok("rotate-bot-key", "--home", ops_home.root)
    ran = ok("bot", "fingerprint", "--home", ops_home.root)
    assert ran.out.splitlines()[0] == f"bot key {_bot(ops_home.root).public.fingerprint()}" != first_contact[0]
    assert "earlier bot keys still trusted for old cases: 1" in ran.out


def test_a_rotation_is_recorded_in_the_database(ops_home: OpsHome) -> None:
    old = _bot(ops_home.root)
    ok("rotate-bot-key", "--home", ops_home.root)
    new = _bot(ops_home.root)
    with ops_home.staffed.open() as server:
        assert bot_key_history(server.db.conn) == [b64(bytes(old.signing_key.verify_key)),
                                                   b64(bytes(new.signing_key.verify_key))]


def test_restoring_a_backup_from_before_a_rotation_keeps_the_newer_bot_identity(ops_home: OpsHome,
                                                                               tmp_path: Path) -> None:
    with ops_home.staffed.open() as server:
        old_case = submit(server, Request({"help": "x"}), int(time.time())).case_id
    archive = tmp_path / "before-rotation.backup"
    ok("backup", "--home", ops_home.root, "--out", archive)
    old = _bot(ops_home.root)
    ok("rotate-bot-key", "--home", ops_home.root)
    new = _bot(ops_home.root)
    assert new.signing_key.verify_key != old.signing_key.verify_key
    ran = ok("restore", "--home", ops_home.root, "--key", ops_home.key("admin"), "--force", archive,
             env=with_passphrase())
    assert "kept the newer bot identity" in ran.out and f"bot key {new.public.fingerprint()}" in ran.out, str(ran)
    assert _bot(ops_home.root).signing_key.verify_key == new.signing_key.verify_key
    assert _bot_key_findings(ops_home.root) == []
    with Server.open(ops_home.root, environ={}) as server:
        # The restored case, signed by the old key, still verifies and opens for its caseworker.
        views = StaffSession.start(server, ops_home.staffed.staff["cas-main"], int(time.time())).list()
        assert [(v.case.id, v.state) for v in views] == [(old_case, ReadState.OK)]
        assert server.note_bot_key()  # the bot at start records the kept identity as the newest
        assert bot_key_history(server.db.conn)[-1] == b64(bytes(new.signing_key.verify_key))


def test_restoring_over_a_fresh_home_keeps_the_backups_bot_identity(ops_home: OpsHome, tmp_path: Path) -> None:
    archive = tmp_path / "home.backup"
    ok("backup", "--home", ops_home.root, "--out", archive)
    fresh = tmp_path / "fresh"
    ok("init", str(fresh))
    ran = ok("restore", "--home", fresh, "--key", ops_home.key("admin"), "--force", archive, env=with_passphrase())
    assert "kept the newer bot identity" not in ran.out
    assert _bot(fresh).signing_key.verify_key == _bot(ops_home.root).signing_key.verify_key


def test_doctor_warns_of_an_older_or_foreign_bot_identity(ops_home: OpsHome, tmp_path: Path) -> None:
    saved = tmp_path / "saved"
    saved.mkdir()
    shutil.copy(ops_home.root / "secrets" / "bot_identity.json", saved)
    ok("rotate-bot-key", "--home", ops_home.root)
    assert _bot_key_findings(ops_home.root) == []
    # Only the old identity file copied back (a partial restore): older than the database knows.
    (ops_home.root / "secrets" / "bot_identity.json").write_bytes((saved / "bot_identity.json").read_bytes())
    (ops_home.root / "secrets" / "previous_bot_keys").unlink()
    [finding] = _bot_key_findings(ops_home.root)
    assert finding["level"] == "warning" and "an older bot identity" in finding["problem"], finding
    assert "1 newer one(s) since" in finding["problem"] and "rotate-bot-key" in finding["fix"], finding
    with Server.open(ops_home.root, environ={}) as server:
        assert not server.note_bot_key()  # the bot warns at start, and records nothing
    (ops_home.root / "secrets" / "bot_identity.json").write_bytes(dump_identity(Identity.generate("bot"), None))
    [finding] = _bot_key_findings(ops_home.root)
    assert "never used with" in finding["problem"], finding
