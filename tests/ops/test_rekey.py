"""`waystation rotate-db-key`: the old key stops working, the data stays, and no crash loses the key."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import nacl.utils
import pytest

from storage.cases import CaseId, CaseStore
from storage.chatstate import read_chat_state
from storage.db import Database, DatabaseKey, connect
from storage.deletions import DeletionStore
from storage.errors import DatabaseKeyRejected
from storage.home import Home
from tests.ops.conftest import REPO, OpsHome, ok, refused, waystation


def _key(root: Path) -> DatabaseKey:
    return Home(root).db_key(environ={})


def _count(root: Path, key: DatabaseKey) -> int:
    conn = connect(root / "waystation.db", key)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return int(conn.execute("SELECT count(*) FROM cases").fetchone()[0])
    finally:
        conn.close()


def _fill(root: Path, cases: int, size: int = 2048) -> None:
    """Enqueue opaque blobs directly: enough pages for a rekey to take a while."""
    with Database.open(root / "waystation.db", _key(root)) as db:
        store = CaseStore(db)
        for n in range(cases):
            store.enqueue(case_id=CaseId(f"fill{n:012d}"), queue="main", envelope=nacl.utils.random(size),
                          ref_hash=None, now=int(time.time()))


def _opens(root: Path, key: DatabaseKey) -> bool:
    try:
        connect(root / "waystation.db", key).close()
    except DatabaseKeyRejected:
        return False
    return True


def test_rotation_replaces_the_key_and_keeps_the_data(ops_home: OpsHome) -> None:
    _fill(ops_home.root, 20)
    old = _key(ops_home.root)
    ran = ok("rotate-db-key", "--home", ops_home.root)
    assert "re-keyed" in ran.out and old.hex() not in ran.out
    new = _key(ops_home.root)
    assert new != old
    assert not _opens(ops_home.root, old)
    assert _count(ops_home.root, new) == 20
    assert (ops_home.root / "secrets" / "db.key").stat().st_mode & 0o777 == 0o600
    assert not (ops_home.root / "secrets" / "db.key.new").exists()
    ok("doctor", "--home", ops_home.root, "--no-network", env={"WAYSTATION_BOT_TOKEN": "1234:" + "a" * 35})


def test_rotation_refuses_while_the_database_is_open(ops_home: OpsHome) -> None:
    old = _key(ops_home.root)
    with ops_home.staffed.open():
        ran = refused("rotate-db-key", "--home", ops_home.root)
    assert "in use" in ran.err
    assert _key(ops_home.root) == old and _opens(ops_home.root, old)


def test_rotation_refuses_a_key_from_the_environment(ops_home: OpsHome) -> None:
    old = _key(ops_home.root)
    ran = refused("rotate-db-key", "--home", ops_home.root, env={"WAYSTATION_DB_KEY": old.hex()})
    assert "WAYSTATION_DB_KEY" in ran.err and old.hex() not in ran.err
    assert _opens(ops_home.root, old)


def test_rotation_writes_a_key_file_given_by_path(ops_home: OpsHome, tmp_path: Path) -> None:
    outside = tmp_path / "credstore" / "waystation-db-key"
    outside.parent.mkdir(mode=0o700)
    (ops_home.root / "secrets" / "db.key").rename(outside)
    old = DatabaseKey(bytes.fromhex(outside.read_text().strip()))
    ok("rotate-db-key", "--home", ops_home.root, "--key-file", outside)
    new = DatabaseKey(bytes.fromhex(outside.read_text().strip()))
    assert new != old and _opens(ops_home.root, new) and not _opens(ops_home.root, old)


def _crash(root: Path, stop_after: str) -> None:
    done = subprocess.run([sys.executable, str(REPO / "tests" / "ops" / "crash_rekey.py"), str(root), stop_after],
                          cwd=REPO, env={"PYTHONPATH": str(REPO)}, capture_output=True, timeout=60, check=False)
    assert done.returncode == 3, done.stderr.decode()


def test_a_crash_after_the_rekey_and_before_the_key_file_is_settled(ops_home: OpsHome) -> None:
    _fill(ops_home.root, 10)
    old = _key(ops_home.root)
    _crash(ops_home.root, "rekey")
    assert not _opens(ops_home.root, old)  # the database moved on; the key file did not
    ran = waystation("doctor", "--home", ops_home.root, "--no-network")
    assert ran.code == 1 and "rotation was interrupted" in ran.out and "rotate-db-key" in ran.out
    ran = ok("rotate-db-key", "--home", ops_home.root)
    assert "finished an interrupted rotation" in ran.out
    assert _count(ops_home.root, _key(ops_home.root)) == 10
    assert not (ops_home.root / "secrets" / "db.key.new").exists()


def test_a_crash_before_the_rekey_leaves_the_old_key_working(ops_home: OpsHome) -> None:
    old = _key(ops_home.root)
    _crash(ops_home.root, "stage")
    assert _opens(ops_home.root, old)
    ran = ok("rotate-db-key", "--home", ops_home.root)
    assert "had not changed the database" in ran.out
    assert _key(ops_home.root) == old and not (ops_home.root / "secrets" / "db.key.new").exists()


def test_a_crash_after_the_key_file_only_leaves_clean_up(ops_home: OpsHome) -> None:
    _crash(ops_home.root, "commit")
    ran = ok("rotate-db-key", "--home", ops_home.root)
    assert "finished an interrupted rotation" in ran.out or "re-keyed" in ran.out
    assert _opens(ops_home.root, _key(ops_home.root))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_killing_the_rotation_at_any_moment_never_loses_the_key(ops_home: OpsHome, seed: int) -> None:
    _fill(ops_home.root, 1500)
    with ops_home.staffed.open() as server:  # pending deletions sealed under the database key follow it
        DeletionStore(server.db).record(700000021, [1, 2], int(time.time()) + 600)
        chats = DeletionStore(server.db).state.current()
    pending = ops_home.root / "secrets" / "db.key.new"
    child = subprocess.Popen([sys.executable, "-m", "waystation", "rotate-db-key", "--home", str(ops_home.root)],
                             cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not pending.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(random.Random(seed).uniform(0.0, 0.15))
    child.kill()
    child.wait()
    ok("rotate-db-key", "--home", ops_home.root)  # settles whatever was left, or rotates afresh
    assert _count(ops_home.root, _key(ops_home.root)) == 1500
    assert read_chat_state(ops_home.root, _key(ops_home.root)) == chats
    assert not pending.exists()
