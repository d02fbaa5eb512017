"""Opening the SQLCipher database: key, pragmas, migrations, transactions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NewType

from sqlcipher3 import dbapi2 as sqlcipher

from storage.errors import DatabaseKeyRejected, DatabaseMissing, DatabaseWriteFailed, SchemaTooNew, StorageError
from storage.schema import MIGRATIONS, SCHEMA_VERSION

DatabaseKey = NewType("DatabaseKey", bytes)
KEY_SIZE = 32

BUSY_TIMEOUT_MS = 10_000

# Durability and hygiene: WAL for concurrent readers, FULL sync so that an
# acknowledged case survives power loss, secure_delete so that deleted rows are
# overwritten rather than left in free pages, temp data kept in memory.
PRAGMAS: tuple[str, ...] = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA secure_delete = ON",
    "PRAGMA foreign_keys = ON",
    "PRAGMA temp_store = MEMORY",
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
)

Connection = sqlcipher.Connection
DatabaseError = sqlcipher.DatabaseError
IntegrityError = sqlcipher.IntegrityError
OperationalError = sqlcipher.OperationalError
#: SQLite result codes that mean "this write could not be made" rather than a programming error:
#: BUSY, LOCKED, READONLY, IOERR, CORRUPT, FULL, CANTOPEN.
WRITE_FAILURES = frozenset({5, 6, 8, 10, 11, 13, 14})


def _key_pragma(key: DatabaseKey) -> str:
    if len(key) != KEY_SIZE:
        raise DatabaseKeyRejected(f"the database key must be {KEY_SIZE} bytes")
    # A raw key (x'..') skips SQLCipher's own PBKDF2: the key is already random.
    return f"PRAGMA key = \"x'{key.hex()}'\""


def connect(path: Path, key: DatabaseKey) -> Connection:
    """Open and unlock a connection with our pragmas, without touching the schema."""
    conn = sqlcipher.connect(str(path), isolation_level=None, timeout=10.0)
    try:
        # SQLCipher would print HMAC failures of a wrong key to stderr; the typed error below says it once.
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(_key_pragma(key))
        # The first read proves the key; until it succeeds nothing is written.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except DatabaseError as err:
        conn.close()
        raise DatabaseKeyRejected(
            f"the database key does not open {path}: check secrets/db.key, "
            "WAYSTATION_DB_KEY or the systemd credential"
        ) from err
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


class Database:
    """One unlocked SQLCipher connection at the current schema version."""

    def __init__(self, path: Path, conn: Connection, granularity: int = 1) -> None:
        self.path = path
        self.conn = conn
        #: Case-side times are stored rounded down to this many seconds (config:
        #: privacy.time_granularity_seconds), so that they cannot be matched against a chat's.
        self.granularity = max(1, granularity)

    @classmethod
    def open(cls, path: Path, key: DatabaseKey, *, create: bool = False, granularity: int = 1) -> Database:
        """Open (or, with create, make) the database and migrate it to the current schema."""
        if not create and not path.exists():
            raise DatabaseMissing(f"no database at {path}: run 'waystation init' or check --home")
        if not create and path.stat().st_size == 0:
            raise DatabaseMissing(f"{path} is empty: restore it from a backup, or check --home")
        if create and path.exists():
            raise StorageError(f"refusing to create {path}: it already exists")
        if create:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
        db = cls(path, connect(path, key), granularity)
        try:
            db._migrate()
        except BaseException:
            db.close()
            raise
        return db

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{self.path} has schema version {version}, newer than this Waystation "
                f"understands ({SCHEMA_VERSION}): upgrade Waystation; the file was not changed"
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction() as conn:
                for statement in _statements(MIGRATIONS[number]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """BEGIN IMMEDIATE .. COMMIT, rolled back on any exception.

        A write the file system refuses (disk full, I/O error, a lock held too long) raises
        DatabaseWriteFailed, a StorageError, after the rollback: nothing of the transaction
        is kept and the connection stays usable once the cause is gone.
        """
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self._rollback()
                raise
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                # SQLite may leave the transaction open after a failed COMMIT (SQLITE_FULL, IOERR):
                # without this ROLLBACK every later BEGIN would fail.
                self._rollback()
                raise
        except OperationalError as err:
            if getattr(err, "sqlite_errorcode", None) in WRITE_FAILURES:
                raise DatabaseWriteFailed(
                    f"the database {self.path.name} could not be written ({getattr(err, 'sqlite_errorname', 'error')}): "
                    "check free disk space and the file system; nothing of this change was kept"
                ) from err
            raise

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except DatabaseError:
                pass  # already rolled back by SQLite itself (its documented behaviour after SQLITE_FULL)

    def meta(self, key: str) -> str | None:
        """A value from the meta table."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, conn: Connection, key: str, value: str) -> None:
        """Set a meta value inside a transaction."""
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def coarse(self, now: int) -> int:
        """`now` rounded down to the granularity: the only form in which a case-side time is stored."""
        return now - now % self.granularity

    def checkpoint(self) -> None:
        """Fold the WAL into the main file and truncate it."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def forget_history(self) -> bool:
        """Checkpoint and truncate the WAL, so that old frames (earlier versions of pages) are gone.

        Call after erasing chat rows and after writes a person caused: the WAL's frame order
        would otherwise keep the order of those writes. Returns False if a reader kept some
        frames (the next call, or SQLite's automatic checkpoint, finishes the job).
        """
        # TRUNCATE waits (busy_timeout, 10 s) for readers of older snapshots, e.g. a backup or a
        # staff command in another process: the bot's event loop must not stall on it, so it
        # does not wait; frames a reader still needs stay until the next call.
        self.conn.execute("PRAGMA busy_timeout = 0")
        try:
            busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return int(busy) == 0

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _statements(script: str) -> list[str]:
    """Split a migration script into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlcipher.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise StorageError("migration script ends mid-statement")
    return statements
