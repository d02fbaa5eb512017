"""The chat state (HOME/chats.state) in operations: never in a backup, checked by doctor, carried by key rotation."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from crypto.keys import load_identity
from ops.backup import read_backup
from storage.chatstate import (
    CHAT_STATE_NAME,
    ChatSnapshot,
    ChatStateDamaged,
    encode,
    read_chat_state,
    seal,
)
from storage.db import DatabaseKey
from storage.deletions import DeletionStore, Intent, new_intent_id
from storage.home import Home
from storage.server import Server
from tests.ops.conftest import (
    PASSPHRASE,
    REPO,
    TOKEN,
    OpsHome,
    ok,
    refused,
    waystation,
    with_passphrase,
)
from tests.storage.sqlcipher_pages import decrypt_pages, pages_holding

CHATS = {700000011: [1, 2, 3], 700000012: [7]}
TOKEN_ENV = {"WAYSTATION_BOT_TOKEN": TOKEN}


def _key(root: Path) -> DatabaseKey:
    return Home(root).db_key(environ={})


def _pending(ops_home: OpsHome) -> ChatSnapshot:
    """What the bot would have left: messages to delete in two chats and an interrupted send."""
    now = int(time.time())
    with ops_home.staffed.open() as server:
        store = DeletionStore(server.db)
        for chat_id, ids in CHATS.items():
            store.record(chat_id, ids, now + 600)
        store.intend(Intent(new_intent_id(), 700000013, None, now + 600))
        return store.state.current()


def _chat_file(ops_home: OpsHome) -> Path:
    return ops_home.root / CHAT_STATE_NAME


def test_a_backup_holds_no_chat_state_and_a_restored_home_starts_with_none(ops_home: OpsHome, tmp_path: Path) -> None:
    _pending(ops_home)
    archive = tmp_path / "one.backup"
    ok("backup", "--home", ops_home.root, "--out", archive)
    admin = load_identity(ops_home.key("admin").read_bytes(), PASSPHRASE.encode())
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    manifest = read_backup(archive, admin.box_private, unpacked)
    assert CHAT_STATE_NAME not in manifest["files"]  # type: ignore[operator]
    assert not (unpacked / CHAT_STATE_NAME).exists()
    pages = list(decrypt_pages(unpacked / "waystation.db", _key(ops_home.root)).values())
    for chat_id in [*CHATS, 700000013]:
        assert pages_holding(pages, chat_id) == 0, chat_id

    restored = tmp_path / "restored"
    ok("restore", "--home", restored, "--key", ops_home.key("admin"), archive, env=with_passphrase())
    assert not (restored / CHAT_STATE_NAME).exists()
    ran = ok("doctor", "--home", restored, "--no-network", env=TOKEN_ENV)
    assert "[deletions]" not in ran.out
    with Server.open(restored, environ={}) as server:
        store = DeletionStore(server.db)
        assert store.all() == [] and store.intents() == []


@pytest.mark.parametrize("damage", ["flip", "truncate", "foreign key"])
def test_doctor_reports_a_damaged_chat_state_and_never_writes_it(ops_home: OpsHome, damage: str) -> None:
    _pending(ops_home)
    path = _chat_file(ops_home)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-5] ^= 0x40
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray(seal(encode(ChatSnapshot()), bytes(32)))
    path.write_bytes(bytes(data))
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    ran = waystation("doctor", "--home", ops_home.root, "--no-network", env=TOKEN_ENV)
    assert ran.code == 1, str(ran)
    [line] = [line for line in ran.out.splitlines() if line.startswith("error: [deletions]")]
    assert CHAT_STATE_NAME in line and "move" in line
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    for chat_id in CHATS:
        assert str(chat_id) not in ran.out + ran.err


def test_doctor_passes_a_healthy_chat_state_and_a_home_without_one(ops_home: OpsHome) -> None:
    ran = ok("doctor", "--home", ops_home.root, "--no-network", env=TOKEN_ENV)
    assert "[deletions]" not in ran.out
    _pending(ops_home)
    ran = ok("doctor", "--home", ops_home.root, "--no-network", env=TOKEN_ENV)
    assert "[deletions]" not in ran.out


def test_the_bot_refuses_to_start_with_a_chat_state_that_does_not_open(ops_home: OpsHome) -> None:
    _pending(ops_home)
    path = _chat_file(ops_home)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    ran = refused("bot", "run", "--home", ops_home.root, env=TOKEN_ENV)
    assert CHAT_STATE_NAME in ran.err and "does not open" in ran.err
    assert path.read_bytes() == bytes(data)


def test_rotation_reseals_the_chat_state_under_the_new_key(ops_home: OpsHome) -> None:
    before = _pending(ops_home)
    old = _key(ops_home.root)
    ok("rotate-db-key", "--home", ops_home.root)
    new = _key(ops_home.root)
    assert new != old
    assert read_chat_state(ops_home.root, new) == before
    with pytest.raises(ChatStateDamaged):
        read_chat_state(ops_home.root, old)
    ran = ok("doctor", "--home", ops_home.root, "--no-network", env=TOKEN_ENV)
    assert "[deletions]" not in ran.out


def test_rotation_refuses_a_chat_state_that_does_not_open_and_changes_nothing(ops_home: OpsHome) -> None:
    _pending(ops_home)
    path = _chat_file(ops_home)
    path.write_bytes(seal(encode(ChatSnapshot()), bytes(32)))
    old = _key(ops_home.root)
    ran = refused("rotate-db-key", "--home", ops_home.root)
    assert "doctor" in ran.err
    assert _key(ops_home.root) == old and not (ops_home.root / "secrets" / "db.key.new").exists()


def _crash(root: Path, stop_after: str) -> None:
    done = subprocess.run([sys.executable, str(REPO / "tests" / "ops" / "crash_rekey.py"), str(root), stop_after],
                          cwd=REPO, env={"PYTHONPATH": str(REPO)}, capture_output=True, timeout=60, check=False)
    assert done.returncode == 3, done.stderr.decode()


@pytest.mark.parametrize("stop_after", ["stage", "rekey", "reseal", "commit"])
def test_a_crash_at_any_step_of_the_rotation_keeps_the_pending_deletions(ops_home: OpsHome, stop_after: str) -> None:
    before = _pending(ops_home)
    _crash(ops_home.root, stop_after)
    ok("rotate-db-key", "--home", ops_home.root)  # settles the interrupted rotation
    assert not (ops_home.root / "secrets" / "db.key.new").exists()
    assert read_chat_state(ops_home.root, _key(ops_home.root)) == before
    with ops_home.staffed.open() as server:
        assert DeletionStore(server.db).state.current() == before
    ran = ok("doctor", "--home", ops_home.root, "--no-network", env=TOKEN_ENV)
    assert "[deletions]" not in ran.out and "rotation" not in ran.out
