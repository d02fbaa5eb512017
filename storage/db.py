"""Opening the SQLCipher database: key, pragmas, migrations, transactions."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NewType
from urllib.parse import quote

import nacl.utils
from sqlcipher3 import dbapi2 as sqlcipher

from storage.chatstate import ChatEntry, ChatSnapshot, ChatState, ChatStateFile, Intent
from storage.errors import (
    DatabaseDamaged,
    DatabaseKeyRejected,
    DatabaseMissing,
    DatabaseWriteFailed,
    SchemaTooNew,
    StorageError,
)
from storage.schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger("waystation.db")
DatabaseKey = NewType("DatabaseKey", bytes)
KEY_SIZE = 32
BUSY_TIMEOUT_MS = 10_000
#: Case-side row ids are drawn at random from 1 .. 2**53 - 1: plenty to carry no order, and
#: still exact as a JSON number in any staff API client (doubles hold 53 bits).
MAX_ROW_ID = 2**53 - 1

# Durability and hygiene: WAL for concurrent readers, FULL sync so that an
# acknowledged case survives power loss, secure_delete so that deleted rows are
# overwritten rather than left in free pages, temp data kept in memory, and a
# WAL cut back to nothing whenever it is reset, so that no old frame (an earlier
# version of a page, in write order) outlives a checkpoint.
PRAGMAS: tuple[str, ...] = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA secure_delete = ON",
    "PRAGMA foreign_keys = ON",
    "PRAGMA temp_store = MEMORY",
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA journal_size_limit = 0",
)

#: A filler row of this many bytes fills one table leaf page (4096-byte pages, 80 bytes of which
#: SQLCipher keeps for the IV and MAC), so that each deleted filler row frees one page.
SPARE_FILLER_BYTES = 3900

Connection = sqlcipher.Connection
DatabaseError = sqlcipher.DatabaseError
IntegrityError = sqlcipher.IntegrityError
OperationalError = sqlcipher.OperationalError
#: A value as SQLite hands it to (and takes it from) a function we register on a connection.
SqlValue = int | float | str | bytes | None
#: SQLite result codes that mean "this write could not be made" rather than a programming error:
#: BUSY, LOCKED, READONLY, IOERR, CORRUPT, FULL, CANTOPEN.
WRITE_FAILURES = frozenset({5, 6, 8, 10, 11, 13, 14})


def _key_pragma(key: DatabaseKey) -> str:
    if len(key) != KEY_SIZE:
        raise DatabaseKeyRejected(f"the database key must be {KEY_SIZE} bytes")
    # A raw key (x'..') skips SQLCipher's own PBKDF2: the key is already random.
    return f"PRAGMA key = \"x'{key.hex()}'\""


# SQLite's primary result codes (the low byte of an extended code) that a person can act on.
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT = 5, 6, 8, 10, 11
SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 13, 14, 26


def _restore(path: Path | str) -> str:
    home = f" --home {Path(path).parent}" if isinstance(path, Path) else ""
    return f"stop the bot, run 'waystation doctor{home}' and restore the newest backup"


def connect(path: Path, key: DatabaseKey, *, read_only: bool = False, verify: bool = False) -> Connection:
    """Open and unlock a connection with our pragmas, without touching the schema.

    `read_only` opens the file so that SQLite cannot write to it (for doctor). `verify` reads
    every page before anything is written and raises DatabaseDamaged if one is missing or does
    not decrypt and authenticate (a truncated or overwritten file).
    """
    if read_only:
        # Without a WAL beside it (the bot is stopped) the file is opened immutable: SQLite then
        # takes no lock and creates no -wal or -shm file. With one, read-only still reads the
        # bot's newest commits from the WAL and never writes the database.
        wal = path.with_name(path.name + "-wal")
        flag = "mode=ro" if wal.exists() else "immutable=1"
        conn = sqlcipher.connect(f"file:{quote(str(path.absolute()))}?{flag}", uri=True,
                                 isolation_level=None, timeout=10.0)
    else:
        conn = sqlcipher.connect(str(path), isolation_level=None, timeout=10.0)
    try:
        # SQLCipher would print HMAC failures of a wrong key to stderr; the typed error below says it once.
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(_key_pragma(key))
        # The first read proves the key; until it succeeds nothing is written.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except DatabaseError as err:
        code = sqlite_code(err)
        if code == SQLITE_CORRUPT:  # page 1 authenticated (so the key is right), the schema's pages did not
            what = _truncation(path, conn) or _damaged(path)
            conn.close()
            raise DatabaseDamaged(what, _restore(path)) from err
        conn.close()
        if code != SQLITE_NOTADB:  # e.g. a full disk while creating the -wal or -shm file
            raise database_failure(err, path) from err
        # A damaged first page cannot be told from a wrong key: both fail page 1's authentication.
        raise DatabaseKeyRejected(
            f"the database key does not open {path} (or the file's first page is damaged): check "
            "secrets/db.key, WAYSTATION_DB_KEY or the systemd credential; if the key is right, "
            "restore the newest backup"
        ) from err
    try:
        problem = damage(path, conn) if verify else None
    except BaseException:
        conn.close()
        raise
    if problem is not None:
        conn.close()
        raise DatabaseDamaged(problem, _restore(path))
    for pragma in PRAGMAS:
        if read_only and "journal_mode" in pragma:
            continue  # setting the journal mode may write the file header
        conn.execute(pragma)
    return conn


def random_row_id() -> int:
    """A random positive row id (53 bits): rows of different cases carry no creation order."""
    while True:
        value = int.from_bytes(nacl.utils.random(8), "big") & MAX_ROW_ID
        if value:
            return value


def fresh_row_id(conn: Connection, table: str, column: str = "rowid") -> int:
    """A random row id not yet used in `table`; call inside the transaction that inserts it.

    A collision is all but impossible (2**53 values), but a clash must never overwrite
    or silently drop a row (INSERT OR IGNORE), so the id is checked and drawn again.
    """
    while True:
        candidate = random_row_id()
        if conn.execute(f"SELECT 1 FROM {table} WHERE {column} = ?", (candidate,)).fetchone() is None:
            return candidate


def damage(path: Path, conn: Connection) -> str | None:
    """What is wrong with an unlocked database file (truncated, overwritten), or None if every page reads.

    SQLCipher authenticates each page with its own MAC, so `quick_check`, which reads every page
    of every table and index, finds any page that was cut off or changed.
    """
    try:
        truncated = _truncation(path, conn)
        if truncated is not None:
            return truncated
        result = conn.execute("PRAGMA quick_check").fetchall()
    except DatabaseError:
        return _damaged(path)
    if result != [("ok",)]:
        return f"{path} fails its integrity check ({len(result)} problems)"
    return None


def _truncation(path: Path, conn: Connection) -> str | None:
    # cipher_page_size is a setting of the connection: reading it reads nothing from the file.
    page = int(conn.execute("PRAGMA cipher_page_size").fetchone()[0])
    size = path.stat().st_size
    if page > 0 and size % page:
        return f"{path} is truncated ({size} bytes is not a whole number of {page}-byte pages)"
    return None


def _damaged(path: Path) -> str:
    return f"{path} is damaged (truncated or overwritten: some pages do not decrypt and verify)"


def require_nonempty(path: Path) -> None:
    """Raise DatabaseMissing or DatabaseDamaged unless `path` is a non-empty file; never creates it."""
    if not path.is_file():
        raise DatabaseMissing(f"no database at {path}: run 'waystation init' or check --home")
    if path.stat().st_size == 0:
        raise DatabaseDamaged(f"{path} is empty (0 bytes)", "restore the newest backup, or check --home")


def sqlite_code(err: Exception) -> int:
    """SQLite's primary result code of an error from sqlcipher3 (0 if it has none)."""
    return int(getattr(err, "sqlite_errorcode", 0) or 0) & 0xFF


def database_failure(err: Exception, path: Path | str = "the database") -> StorageError:
    """A typed error that says what to do, for a SQLite failure met while using the database.

    Names only SQLite's error code, never its message, which can quote values of a statement.
    """
    code = sqlite_code(err)
    name = str(getattr(err, "sqlite_errorname", "") or type(err).__name__)
    if code == SQLITE_FULL:
        return DatabaseWriteFailed(f"the disk holding {path} is full: nothing was saved; free space "
                                   "on it (df -h) and run the command again")
    if code == SQLITE_IOERR:
        return DatabaseWriteFailed(f"reading or writing {path} failed ({name}): the disk may be full "
                                   "or failing; check 'df -h' and 'dmesg', then run 'waystation doctor' on this home")
    if code in (SQLITE_READONLY, SQLITE_CANTOPEN):
        return DatabaseWriteFailed(f"{path} cannot be written ({name}): check that the file system is "
                                   "mounted read-write and that the home belongs to the user running this")
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return DatabaseDamaged(f"{path} is damaged ({name})", _restore(path))
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StorageError(f"{path} is busy ({name}): another process holds it; try again in a moment")
    return StorageError(f"{path} failed ({name}): run 'waystation doctor' on this home")


class Database:
    """One unlocked SQLCipher connection at the current schema version.

    Every committed transaction is followed by a truncating WAL checkpoint (see
    `forget_history`): the WAL and the wal-index never hold two transactions side
    by side, so a seized copy cannot pair a chat's write with a case's by adjacency.
    """

    def __init__(self, path: Path, conn: Connection, granularity: int = 1, chats: ChatState | None = None) -> None:
        self.path = path
        self.conn = conn
        #: The chat side (pending deletions, send intents), kept outside the database in the sealed
        #: snapshot HOME/chats.state (storage.chatstate); None for a bare connection (doctor).
        self.chats = chats
        #: Case-side times are stored rounded down to this many seconds (config:
        #: privacy.time_granularity_seconds), so that they cannot be matched against a chat's.
        self.granularity = max(1, granularity)
        # The same rounding for code that only holds the connection (audit entries, events),
        # and for migrations that coarsen rows written before times were coarse.
        conn.create_function("coarse_time", 1, self._coarse_sql, deterministic=True)
        conn.create_function("coarse_after", 1, self._coarse_after_sql, deterministic=True)
        conn.create_function("random_row_id", 0, random_row_id)
        self._spares_bucket: int | None = None
        #: SQLite's error name of the last transaction the file system refused; None once one commits (for /healthz).
        self.write_failure: str | None = None

    @classmethod
    def open(cls, path: Path, key: DatabaseKey, *, create: bool = False, granularity: int = 1) -> Database:
        """Open (or, with create, make) the database and migrate it to the current schema."""
        if not create:
            require_nonempty(path)
        if create and path.exists():
            raise StorageError(f"refusing to create {path}: it already exists")
        if create:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
        # Every page is read before the first write, so no command writes into a damaged file.
        db = cls(path, connect(path, key, verify=not create), granularity, ChatState(ChatStateFile.beside(path, key)))
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
                f"understands ({SCHEMA_VERSION}): upgrade Waystation, or after a rollback restore the "
                "backup made before the upgrade; the file was not changed"
            )
        if version < SCHEMA_VERSION:
            self._adopt_chat_rows()
        for number in range(version, SCHEMA_VERSION):
            with self.transaction() as conn:
                for statement in _statements(MIGRATIONS[number]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    def _adopt_chat_rows(self) -> None:
        """Move pending deletions and send intents left in the database into the chat state file.

        Runs before the migrations, one of which drops those tables. The file is written first
        (merged with what it holds, times rounded up), so a crash before the drop loses nothing:
        the next open merges the same rows again. If the file cannot be written, nothing is
        migrated and the error is raised.
        """
        tables = {str(r[0]) for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "pending_deletions" not in tables or self.chats is None:
            return
        columns = {str(r[1]) for r in self.conn.execute("PRAGMA table_info(pending_deletions)")}
        swept = "swept" if "swept" in columns else "0"
        rows = self.conn.execute(f"SELECT chat_id, message_id, due_at, {swept} FROM pending_deletions").fetchall()
        intents = self.conn.execute("SELECT id, chat_id, floor, due_at FROM send_intents").fetchall() \
            if "send_intents" in tables else []
        if not rows and not intents:
            return
        snapshot = self.chats.current()
        chats = dict(snapshot.chats)
        found: dict[int, tuple[int, set[int], set[int]]] = {}
        for chat_id, message_id, due_at, was_swept in rows:
            due, known, unknown = found.setdefault(int(chat_id), (0, set(), set()))
            (unknown if was_swept else known).add(int(message_id))
            found[int(chat_id)] = (max(due, self.coarse_after(int(due_at))), known, unknown)
        for chat_id, (due, known, unknown) in found.items():
            old = chats.get(chat_id)
            if old is not None:
                due = max(due, old.due_at)
                known |= set(old.message_ids) - old.swept
                unknown |= old.swept
            unknown -= known
            chats[chat_id] = ChatEntry(chat_id, due, tuple(sorted(known | unknown)), frozenset(unknown))
        merged = dict(snapshot.intents)
        for intent_id, chat_id, floor, due_at in intents:
            merged[int(intent_id)] = Intent(int(intent_id), int(chat_id), None if floor is None else int(floor),
                                            self.coarse_after(int(due_at)))
        self.chats.commit(ChatSnapshot(chats, merged))
        log.info("moved %d pending deletions and %d send intents out of the database into %s",
                 len(rows), len(intents), self.chats.file.path.name)

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """BEGIN IMMEDIATE .. COMMIT, rolled back on any exception; then the WAL is emptied.

        A write the file system refuses (disk full, I/O error, a lock held too long) raises a
        StorageError saying what to do (`database_failure`: DatabaseWriteFailed for a full or
        failing disk), after the rollback: nothing of the transaction is kept and the
        connection stays usable once the cause is gone.
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
            if sqlite_code(err) in WRITE_FAILURES:
                self.write_failure = str(getattr(err, "sqlite_errorname", "") or type(err).__name__)
            if getattr(err, "sqlite_errorcode", None) in WRITE_FAILURES:
                raise database_failure(err, self.path.name) from err
            raise
        self.write_failure = None
        self._forget_after_commit()

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

    def _coarse_sql(self, value: SqlValue) -> SqlValue:
        return self.coarse(value) if isinstance(value, int) else value

    def coarse_after(self, when: int) -> int:
        """The first granularity boundary at or after `when`: how a chat-side due time is stored.

        Rounded up, never down: a deletion or a nonce's expiry is never earlier than it was
        promised, and at most one granularity later.
        """
        return -(-when // self.granularity) * self.granularity

    def _coarse_after_sql(self, value: SqlValue) -> SqlValue:
        return self.coarse_after(value) if isinstance(value, int) else value

    def deadline(self, now: int, delay: int) -> int:
        """When something `delay` seconds from `now` is due, as stored on the case side.

        Counted from the end of `now`'s time bucket, so the stored value tells nothing finer
        than `coarse(now)` (rounding `now + delay` up would, for a delay that is not a multiple
        of the granularity). Never earlier than `now + delay`; up to one granularity later.
        """
        if self.granularity == 1:  # nothing to hide: the deadline is exact
            return now + max(0, delay)
        return self.coarse(now) + self.granularity + max(0, delay)

    def checkpoint(self) -> None:
        """Fold the WAL into the main file and truncate it, waiting (busy timeout) for readers."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def forget_history(self) -> bool:
        """Checkpoint and truncate the WAL now, so that no old frame (an earlier page, in write order) is left.

        Never waits: a reader still using the WAL makes it return False, and the next commit
        or the bot's periodic call finishes the job. Every transaction() already ends with it;
        call it directly after writes made outside transaction() and from periodic jobs.
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

    def scatter_free_pages(self, target: int) -> int:
        """Top the free list up to `target` pages, freed in random order; returns how many were added.

        SQLite takes a new page (a B-tree split, a large envelope's overflow pages) from the free
        list before it grows the file. Without free pages every new case's pages would be the
        file's newest, numbered in the order cases came in, whatever their ids; with a shuffled
        free list their numbers carry no order. `target` filler rows of one page each are written
        (taking every free page first, then growing the file) and deleted in random order
        (secure_delete zeroes them): the whole pool, old pages and new, is shuffled again.
        """
        free = int(self.conn.execute("PRAGMA freelist_count").fetchone()[0])
        missing = target - free
        if missing <= 0:
            return 0
        with self.transaction() as conn:
            base = int(conn.execute("SELECT coalesce(max(id), 0) FROM spare_pages").fetchone()[0])
            ids = list(range(base + 1, base + target + 1))
            order = sorted(ids, key=lambda _: random_row_id())  # a random permutation (PyNaCl's randomness)
            conn.executemany("INSERT INTO spare_pages (id, filler) VALUES (?, zeroblob(?))",
                             [(i, SPARE_FILLER_BYTES) for i in ids])
            conn.executemany("DELETE FROM spare_pages WHERE id = ?", [(i,) for i in order])
        return missing

    def keep_free_pages(self, now: int, target: int) -> int:
        """Refill the shuffled free list once per time bucket, and sooner if it ran low; returns pages added.

        A refill adds pages at the end of the file, so the cases that use them can be told from
        those that used the pages before; refilling at a bucket's start tells nothing the coarse
        times do not. A burst that drains the pool within a bucket costs one such split, which
        is still better than pages in arrival order.
        """
        bucket = self.coarse(now)
        free = int(self.conn.execute("PRAGMA freelist_count").fetchone()[0])
        if bucket == self._spares_bucket and free >= target // 4:
            return 0
        self._spares_bucket = bucket
        return self.scatter_free_pages(target)

    def _forget_after_commit(self) -> None:
        # The transaction is committed and durable (synchronous = FULL); a checkpoint that
        # fails (a reader, a full disk) leaves frames for the next one, never an error here.
        try:
            self.forget_history()
        except DatabaseError as err:
            log.warning("the WAL could not be checkpointed after a commit (%s); the next commit retries",
                        type(err).__name__)

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
