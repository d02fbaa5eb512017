"""The SQLCipher database: encryption at rest, pragmas, keys, migrations, the audit trigger."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from storage.db import KEY_SIZE, Database, DatabaseError, DatabaseKey, connect
from storage.errors import (
    DatabaseKeyMissing,
    DatabaseKeyRejected,
    DatabaseMissing,
    DatabaseWriteFailed,
    SchemaTooNew,
    StorageError,
)
from storage.home import DB_KEY_CREDENTIAL, DB_KEY_ENV, Home, init_home
from storage.schema import SCHEMA_VERSION
from storage.server import Server
from tests.fulldisk import fill

pytestmark = pytest.mark.timeout(60)

SQLITE_MAGIC = b"SQLite format 3\x00"


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """A fresh home with an empty, migrated database."""
    return init_home(tmp_path / "home")


def _snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), os.stat(path).st_mtime_ns


def _siblings(db_path: Path) -> list[str]:
    """Journal files SQLite would leave beside the database."""
    return sorted(p.name for p in db_path.parent.iterdir() if p.name.startswith(db_path.name + "-"))


def _other_key(key: bytes) -> DatabaseKey:
    return DatabaseKey(bytes(b ^ 0x01 for b in key))


# -- encryption at rest ---------------------------------------------------------


def test_database_file_does_not_start_with_the_sqlite_header(home: Home) -> None:
    data = home.db_path.read_bytes()
    assert len(data) > 0
    assert not data.startswith(b"SQLite format 3")
    assert SQLITE_MAGIC not in data


def test_plain_sqlite_cannot_read_the_database(home: Home, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    shutil.copyfile(home.db_path, copy)
    plain = sqlite3.connect(copy)
    try:
        with pytest.raises(sqlite3.DatabaseError):
            plain.execute("SELECT name FROM sqlite_master").fetchall()
    finally:
        plain.close()


def test_database_is_opened_through_sqlcipher(home: Home) -> None:
    with Database.open(home.db_path, home.db_key({})) as db:
        version = db.conn.execute("PRAGMA cipher_version").fetchone()
    assert version is not None and version[0]


def test_pragmas_are_in_force_on_every_connection(home: Home) -> None:
    with Database.open(home.db_path, home.db_key({})) as db:
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert db.conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY


def test_database_and_its_wal_are_private_to_the_owner(home: Home) -> None:
    with Database.open(home.db_path, home.db_key({})) as db:
        with db.transaction() as conn:
            db.set_meta(conn, "probe", "1")
        assert "waystation.db-wal" in _siblings(home.db_path)
        for name in [home.db_path.name, *_siblings(home.db_path)]:
            mode = os.stat(home.root / name).st_mode & 0o777
            assert mode & 0o077 == 0, f"{name} is readable by others: {oct(mode)}"


# -- keys -------------------------------------------------------------------------


def test_wrong_database_key_is_refused_and_file_untouched(home: Home) -> None:
    right = home.db_key({})
    before = _snapshot(home.db_path)
    with pytest.raises(DatabaseKeyRejected) as caught:
        Database.open(home.db_path, _other_key(right))
    assert "db.key" in str(caught.value) and DB_KEY_ENV in str(caught.value)
    assert _snapshot(home.db_path) == before
    assert _siblings(home.db_path) == []


def test_wrong_key_from_the_environment_is_refused_and_file_untouched(home: Home) -> None:
    wrong = _other_key(home.db_key({})).hex()
    before = _snapshot(home.db_path)
    with pytest.raises(DatabaseKeyRejected):
        Server.open(home.root, environ={DB_KEY_ENV: wrong})
    assert _snapshot(home.db_path) == before
    assert _siblings(home.db_path) == []


def test_missing_key_file_names_every_place_to_check(home: Home) -> None:
    home.db_key_path.unlink()
    before = _snapshot(home.db_path)
    with pytest.raises(DatabaseKeyMissing) as caught:
        Server.open(home.root, environ={})
    message = str(caught.value)
    assert DB_KEY_ENV in message
    assert DB_KEY_CREDENTIAL in message
    assert str(home.db_key_path) in message
    assert _snapshot(home.db_path) == before


def test_key_is_taken_from_the_environment(home: Home) -> None:
    key_text = home.db_key_path.read_text()
    home.db_key_path.unlink()
    with Server.open(home.root, environ={DB_KEY_ENV: key_text.strip()}) as server:
        assert server.db.schema_version == SCHEMA_VERSION


def test_environment_key_takes_precedence_over_the_key_file(home: Home) -> None:
    wrong = _other_key(home.db_key({})).hex()
    assert home.db_key({DB_KEY_ENV: wrong}).hex() == wrong


def test_key_is_taken_from_the_systemd_credential(home: Home, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / DB_KEY_CREDENTIAL).write_text(home.db_key_path.read_text())
    home.db_key_path.unlink()
    with Server.open(home.root, environ={"CREDENTIALS_DIRECTORY": str(credentials)}) as server:
        assert server.db.schema_version == SCHEMA_VERSION


def test_credential_directory_without_the_credential_falls_back_to_the_key_file(home: Home, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    assert home.db_key({"CREDENTIALS_DIRECTORY": str(credentials)}) == home.db_key({})


def test_key_with_surrounding_whitespace_and_upper_case_is_accepted(home: Home) -> None:
    text = home.db_key_path.read_text().strip()
    assert home.db_key({DB_KEY_ENV: f"  {text.upper()}\n"}) == home.db_key({})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not hex at all", "not hexadecimal"),
        ("zz" * KEY_SIZE, "not hexadecimal"),
        ("ab" * (KEY_SIZE - 1), f"{KEY_SIZE * 2} hex characters"),
        ("ab" * (KEY_SIZE + 1), f"{KEY_SIZE * 2} hex characters"),
        ("abc", "not hexadecimal"),
    ],
)
def test_malformed_key_text_is_refused_naming_where_it_came_from(home: Home, text: str, fragment: str) -> None:
    with pytest.raises(DatabaseKeyRejected) as caught:
        home.db_key({DB_KEY_ENV: text})
    assert fragment in str(caught.value)
    assert DB_KEY_ENV in str(caught.value)


def test_malformed_key_file_is_refused_naming_the_file(home: Home) -> None:
    home.db_key_path.write_text("this is not a key\n")
    with pytest.raises(DatabaseKeyRejected) as caught:
        Server.open(home.root, environ={})
    assert str(home.db_key_path) in str(caught.value)


def test_key_of_the_wrong_size_is_refused_before_touching_the_file(home: Home) -> None:
    before = _snapshot(home.db_path)
    with pytest.raises(DatabaseKeyRejected):
        Database.open(home.db_path, DatabaseKey(b"\x00" * (KEY_SIZE - 1)))
    assert _snapshot(home.db_path) == before


# -- missing database, schema versions --------------------------------------------


def test_missing_database_is_refused_and_not_created(home: Home) -> None:
    key = home.db_key({})
    home.db_path.unlink()
    with pytest.raises(DatabaseMissing) as caught:
        Server.open(home.root, environ={})
    assert "waystation init" in str(caught.value)
    with pytest.raises(DatabaseMissing):
        Database.open(home.db_path, key)
    assert not home.db_path.exists()
    assert _siblings(home.db_path) == []


def test_create_refuses_an_existing_database(home: Home) -> None:
    before = _snapshot(home.db_path)
    with pytest.raises(StorageError, match="already exists"):
        Database.open(home.db_path, home.db_key({}), create=True)
    assert _snapshot(home.db_path) == before


def test_schema_too_new_is_refused_and_file_untouched(home: Home) -> None:
    key = home.db_key({})
    conn = connect(home.db_path, key)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = _snapshot(home.db_path)
    with pytest.raises(SchemaTooNew) as caught:
        Database.open(home.db_path, key)
    assert "upgrade Waystation" in str(caught.value)
    assert _snapshot(home.db_path) == before
    assert _siblings(home.db_path) == []
    check = connect(home.db_path, key)
    try:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    finally:
        check.close()


def test_migration_from_an_empty_database_records_the_version(tmp_path: Path) -> None:
    key = DatabaseKey(os.urandom(KEY_SIZE))
    path = tmp_path / "fresh.db"
    with Database.open(path, key, create=True) as db:
        assert db.schema_version == SCHEMA_VERSION
        tables = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"meta", "cases", "case_events", "outbox", "audit"} <= tables


def test_keyed_database_at_version_zero_is_migrated_on_open(tmp_path: Path) -> None:
    key = DatabaseKey(os.urandom(KEY_SIZE))
    path = tmp_path / "v0.db"
    conn = connect(path, key)  # creates a keyed, empty database without the schema
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()
    with Database.open(path, key) as db:
        assert db.schema_version == SCHEMA_VERSION
    with Database.open(path, key) as again:  # reopening does not migrate twice
        assert again.schema_version == SCHEMA_VERSION
        count = again.conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'cases'").fetchone()[0]
    assert count == 1


# -- transactions and the audit log -------------------------------------------------


def test_transaction_rolls_back_on_error(home: Home) -> None:
    with Database.open(home.db_path, home.db_key({})) as db:
        with pytest.raises(RuntimeError), db.transaction() as conn:
            db.set_meta(conn, "half", "written")
            raise RuntimeError("stop")
        assert db.meta("half") is None


def _db_with_audit_entry(home: Home) -> Database:
    db = Database.open(home.db_path, home.db_key({}))
    with db.transaction() as conn:
        conn.execute("INSERT INTO audit (at, actor, action, case_id) VALUES (1, 'intake', 'case.created', 'abc')")
    return db


def test_audit_log_refuses_update(home: Home) -> None:
    with _db_with_audit_entry(home) as db:
        with pytest.raises(DatabaseError, match="append-only"):
            db.conn.execute("UPDATE audit SET actor = 'mallory'")
        assert db.conn.execute("SELECT actor FROM audit").fetchall() == [("intake",)]


def test_audit_log_refuses_delete(home: Home) -> None:
    with _db_with_audit_entry(home) as db:
        with pytest.raises(DatabaseError, match="append-only"):
            db.conn.execute("DELETE FROM audit")
        assert db.conn.execute("SELECT count(*) FROM audit").fetchone()[0] == 1


def test_audit_log_refuses_upsert(home: Home) -> None:
    with _db_with_audit_entry(home) as db:
        with pytest.raises(DatabaseError, match="append-only"):
            db.conn.execute(
                "INSERT INTO audit (id, at, actor, action, case_id) VALUES (1, 2, 'm', 'x', NULL)"
                " ON CONFLICT (id) DO UPDATE SET actor = 'mallory'"
            )


def test_audit_log_refuses_insert_or_replace(home: Home) -> None:
    with _db_with_audit_entry(home) as db:
        with pytest.raises(DatabaseError, match="append-only"):
            db.conn.execute(
                "INSERT OR REPLACE INTO audit (id, at, actor, action, case_id) VALUES (1, 2, 'm', 'x', NULL)"
            )


@pytest.mark.timeout(8)  # the busy timeout is 10 s: a checkpoint that waited for the reader would not finish in time
def test_forget_history_does_not_wait_for_a_reader_and_truncates_once_it_is_gone(home: Home) -> None:
    with Database.open(home.db_path, home.db_key({})) as db, Database.open(home.db_path, home.db_key({})) as other:
        with db.transaction() as conn:
            db.set_meta(conn, "chat", "1")
        other.conn.execute("BEGIN")
        other.conn.execute("SELECT count(*) FROM meta").fetchone()  # a reader on this snapshot (a backup, say)
        with db.transaction() as conn:
            db.set_meta(conn, "chat", "2")
        assert db.forget_history() is False  # frames the reader needs stay
        assert db.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
        other.conn.execute("COMMIT")
        assert db.forget_history() is True
        wal = home.db_path.with_name(home.db_path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0


def test_a_full_disk_raises_a_typed_error_keeps_nothing_and_recovers(small_disk: Path) -> None:
    home = init_home(small_disk / "home")
    with Database.open(home.db_path, home.db_key({})) as db:
        filler = fill(small_disk)
        with pytest.raises(DatabaseWriteFailed) as failed, db.transaction() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES ('big', ?)", ("x" * 20_000,))
        assert isinstance(failed.value, StorageError) and "free space" in str(failed.value)
        assert not db.conn.in_transaction
        assert db.meta("big") is None
        filler.unlink()
        with db.transaction() as conn:  # the same connection works again once there is room
            db.set_meta(conn, "big", "x" * 20_000)
        assert db.meta("big") == "x" * 20_000
