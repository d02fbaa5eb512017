"""A damaged database (empty, truncated, overwritten) is refused before anything writes to it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storage.db import Database, DatabaseError, connect
from storage.errors import DatabaseDamaged, DatabaseKeyRejected
from storage.home import Home, init_home
from storage.server import Server

pytestmark = pytest.mark.timeout(60)

PAGE = 4096


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """A home whose database spans a few dozen pages (filler rows in meta), closed and checkpointed."""
    home = init_home(tmp_path / "home")
    with Database.open(home.db_path, home.db_key({})) as db, db.transaction() as conn:
        for number in range(150):
            db.set_meta(conn, f"filler-{number}", os.urandom(400).hex())
    assert home.db_path.stat().st_size >= 30 * PAGE
    return home


def _state(home: Home) -> tuple[bytes, list[str]]:
    """The database's bytes and every file beside it (a -wal or -shm would show a write)."""
    return home.db_path.read_bytes(), sorted(p.name for p in home.root.iterdir())


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def test_empty_database_is_refused_and_stays_empty(home: Home) -> None:
    home.db_path.write_bytes(b"")
    before = _state(home)
    with pytest.raises(DatabaseDamaged, match="empty"):
        Server.open(home.root, environ={})
    assert _state(home) == before and home.db_path.stat().st_size == 0


@pytest.mark.parametrize("page", [3, 20])
def test_an_overwritten_page_is_refused_before_anything_is_written(home: Home, page: int) -> None:
    _overwrite(home.db_path, page * PAGE + 100, b"\xff" * 16)
    before = _state(home)
    with pytest.raises(DatabaseDamaged) as caught:
        Server.open(home.root, environ={})
    assert "restore the newest backup" in str(caught.value) and "not changed" in str(caught.value)
    assert _state(home) == before


@pytest.mark.parametrize("cut", [10 * PAGE + 1000, 10 * PAGE], ids=["mid-page", "page-boundary"])
def test_a_truncated_database_is_refused(home: Home, cut: int) -> None:
    with home.db_path.open("r+b") as handle:
        handle.truncate(cut)
    before = _state(home)
    with pytest.raises(DatabaseDamaged, match="truncated"):
        Database.open(home.db_path, home.db_key({}))
    assert _state(home) == before


def test_a_damaged_first_page_is_named_beside_a_wrong_key(home: Home) -> None:
    _overwrite(home.db_path, 200, b"\x00" * 8)
    with pytest.raises(DatabaseKeyRejected, match="first page is damaged"):
        Server.open(home.root, environ={})


def test_a_read_only_connection_writes_nothing_and_leaves_no_files(home: Home) -> None:
    before = home.db_path.stat().st_mtime_ns, _state(home)
    conn = connect(home.db_path, home.db_key({}), read_only=True)
    try:
        assert conn.execute("SELECT count(*) FROM meta").fetchone()[0] > 150
        with pytest.raises(DatabaseError):
            conn.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
    finally:
        conn.close()
    assert (home.db_path.stat().st_mtime_ns, _state(home)) == before


def test_a_read_only_connection_sees_what_an_open_writer_committed(home: Home) -> None:
    """While the bot runs, its newest commits sit in the WAL: doctor's read-only view includes them."""
    with Database.open(home.db_path, home.db_key({})) as writer:
        with writer.transaction() as conn:
            writer.set_meta(conn, "fresh", "yes")
        reader = connect(home.db_path, home.db_key({}), read_only=True)
        try:
            assert reader.execute("SELECT value FROM meta WHERE key = 'fresh'").fetchone() == ("yes",)
        finally:
            reader.close()
