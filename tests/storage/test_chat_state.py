"""The chat side's file (HOME/chats.state): only the present, sorted, coarse, padded, sealed; and its migration.

These tests play the seizure attacker who holds every server secret (db.key included): they
read the file with `read_chat_state`, decrypt every database page and WAL frame, and search
every file of the home byte by byte for chat ids.
"""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import db as dbmodule
from storage.chatstate import (
    CHAT_STATE_NAME,
    HEADER_SIZE,
    MAGIC,
    MIN_PADDED,
    NONCE_SIZE,
    ChatEntry,
    ChatSnapshot,
    ChatState,
    ChatStateDamaged,
    ChatStateFile,
    ChatStateWriteFailed,
    Intent,
    decode,
    encode,
    read_chat_state,
    seal,
    unseal,
)
from storage.db import Database, DatabaseKey, connect
from storage.deletions import DeletionStore, new_intent_id
from storage.errors import StorageError
from storage.schema import MIGRATIONS, SCHEMA_VERSION
from tests.fulldisk import fill
from tests.storage.sqlcipher_pages import (
    decrypt_pages,
    decrypt_wal_frames,
    pages_holding,
)

GRANULARITY = 600
T = 1_700_000_123  # inside a bucket, at an odd second
BOX_OVERHEAD = HEADER_SIZE + NONCE_SIZE + 16


@pytest.fixture
def key() -> DatabaseKey:
    return DatabaseKey(os.urandom(32))


@pytest.fixture
def db(tmp_path: Path, key: DatabaseKey) -> Iterator[Database]:
    opened = Database.open(tmp_path / "waystation.db", key, create=True, granularity=GRANULARITY)
    yield opened
    opened.close()


def _body(path: Path, key: bytes) -> bytes:
    padded = unseal(path.read_bytes(), key)
    return padded[4:4 + struct.unpack(">I", padded[:4])[0]]


def _raw_forms(chat_id: int) -> list[bytes]:
    """Ways a chat id could sit in a file: decimal text, 8 bytes either way round."""
    return [str(chat_id).encode(), chat_id.to_bytes(8, "big"), chat_id.to_bytes(8, "little")]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# -- what is in the file ------------------------------------------------------------------------


def test_entries_are_sorted_by_chat_id_whatever_the_order_they_came_in(db: Database, key: DatabaseKey) -> None:
    store = DeletionStore(db)
    chats = [700000000 + n * 7919 % 1000 for n in range(40)]
    random.Random(1).shuffle(chats)
    for n, chat_id in enumerate(chats):
        store.record(chat_id, random.Random(n).sample(range(1, 500), 5), T + n)
    body = _body(db.path.with_name(CHAT_STATE_NAME), key)
    count = struct.unpack(">I", body[1:5])[0]
    at, seen = 5, []
    for _ in range(count):
        chat_id, _, n = struct.unpack(">qqI", body[at:at + 20])
        ids = struct.unpack(f">{n}q", body[at + 20:at + 20 + 8 * n])
        assert list(ids) == sorted(set(ids))
        seen.append(chat_id)
        at += 20 + 9 * n
    assert seen == sorted(set(chats))
    # Canonical: the same state, reached in another order, gives the same plaintext.
    again = Database.open(db.path.with_name("other.db"), key, create=True, granularity=GRANULARITY)
    try:
        other = DeletionStore(again)
        snapshot = store.state.current()
        for chat_id in sorted(snapshot.chats, reverse=True):
            entry = snapshot.chats[chat_id]
            other.record(chat_id, reversed(entry.message_ids), entry.due_at)
        assert encode(other.state.current()) == encode(snapshot)
    finally:
        again.close()


def test_every_stored_time_is_a_multiple_of_the_granularity_and_never_before_the_real_due(
    db: Database, key: DatabaseKey
) -> None:
    store = DeletionStore(db)
    real: dict[int, int] = {}
    rng = random.Random(7)
    for n in range(60):
        chat_id, due = 700000001 + n % 12, T + rng.randrange(0, 5000)
        action = n % 4
        if action == 0:
            store.record(chat_id, [n + 1], due)
            real[chat_id] = due
        elif action == 1:
            store.settle(chat_id, due, known=[n + 1])
            real[chat_id] = max(due, real.get(chat_id, due))
        elif action == 2:
            store.intend(Intent(new_intent_id(), chat_id, None, due))
        elif chat_id in real:
            store.reschedule(chat_id, due)
            real[chat_id] = due
    snapshot = read_chat_state(db.path.parent, key)
    dues = [e.due_at for e in snapshot.chats.values()] + [i.due_at for i in snapshot.intents.values()]
    assert dues and all(d % GRANULARITY == 0 for d in dues)
    for chat_id, entry in snapshot.chats.items():
        assert real[chat_id] <= entry.due_at < real[chat_id] + GRANULARITY


def test_the_file_size_tells_counts_only_to_a_power_of_two(db: Database) -> None:
    store = DeletionStore(db)
    path = db.path.with_name(CHAT_STATE_NAME)
    sizes = []
    for n in range(120):
        store.record(700000001 + n, [1, 2, 3], T)
        sizes.append(path.stat().st_size - BOX_OVERHEAD)
    assert all(s >= MIN_PADDED and s & (s - 1) == 0 for s in sizes)
    assert len(set(sizes)) <= 3  # 120 chats of 3 messages: 4, 8 and 16 KiB at most
    assert sizes[0] == sizes[60]  # one chat and sixty: the same size


def test_an_emptied_chat_is_in_no_file_of_the_home(db: Database, key: DatabaseKey) -> None:
    store = DeletionStore(db)
    gone, staying = 700000123, 700000456
    store.record(gone, [1, 2], T)
    store.intend(Intent(new_intent_id(), gone, 2, T))
    store.record(staying, [5], T)
    store.write_batch([], [], [i.id for i in store.intents()])
    store.remove(gone, [1, 2])
    snapshot = read_chat_state(db.path.parent, key)
    assert set(snapshot.chats) == {staying} and not snapshot.intents
    files = _files(db.path.parent)
    assert set(files) <= {"waystation.db", "waystation.db-wal", "waystation.db-shm", CHAT_STATE_NAME}
    for name, data in files.items():
        assert not any(form in data for form in _raw_forms(gone)), name
    assert not any(form in _body(db.path.with_name(CHAT_STATE_NAME), key) for form in _raw_forms(gone)[1:])
    pages = list(decrypt_pages(db.path, key).values()) + decrypt_wal_frames(db.path.with_name("waystation.db-wal"), key)
    assert pages_holding(pages, gone) == 0 and pages_holding(pages, staying) == 0


def test_without_the_database_key_the_file_does_not_open(db: Database) -> None:
    DeletionStore(db).record(700000001, [1], T)
    with pytest.raises(ChatStateDamaged, match="does not open"):
        read_chat_state(db.path.parent, os.urandom(32))


def test_a_reader_sees_what_another_process_wrote(db: Database, key: DatabaseKey) -> None:
    writer = DeletionStore(db)
    with Database.open(db.path, key, granularity=GRANULARITY) as other:
        reader = DeletionStore(other)
        assert reader.all() == []
        writer.record(700000001, [1, 2], T)
        assert [p.message_ids for p in reader.all()] == [(1, 2)]
        writer.remove(700000001, [1, 2])
        assert reader.all() == []


def test_a_write_that_changes_nothing_does_not_rewrite_the_file(db: Database) -> None:
    store = DeletionStore(db)
    store.record(700000001, [1], T)
    path = db.path.with_name(CHAT_STATE_NAME)
    before = path.read_bytes()
    store.reschedule(700000001, T + 1)  # the same bucket, rounded up
    store.remove(700000002, [1])
    store.drop_intents([12345])
    assert path.read_bytes() == before


def test_a_failed_write_keeps_the_previous_state_and_leaves_no_copy(small_disk: Path, key: DatabaseKey) -> None:
    db = Database.open(small_disk / "waystation.db", key, create=True, granularity=GRANULARITY)
    try:
        store = DeletionStore(db)
        store.record(700000001, [1], T)
        path = small_disk / CHAT_STATE_NAME
        before = path.read_bytes()
        filler = fill(small_disk)
        with pytest.raises(ChatStateWriteFailed) as failed:
            store.record(700000002, list(range(1, 2000)), T)  # needs more room than the old file frees
        assert isinstance(failed.value, StorageError) and "700000002" not in str(failed.value)
        assert path.read_bytes() == before
        assert sorted(p.name for p in small_disk.iterdir() if p.name.startswith(".")) == []
        assert [p.chat_id for p in store.all()] == [700000001]
        filler.unlink()
        store.record(700000002, [3], T)
        assert [p.chat_id for p in DeletionStore(db).all()] == [700000001, 700000002]
    finally:
        db.close()


# -- what a reader must reject ----------------------------------------------------------------------


def _sealed(path: Path, key: bytes, padded: bytes) -> None:
    path.write_bytes(seal(padded, key))


def _padded(body: bytes, size: int = MIN_PADDED, tail: bytes = b"") -> bytes:
    data = struct.pack(">I", len(body)) + body + tail
    return data + bytes(size - len(data))


def _chat(chat_id: int, due: int, ids: list[int], flags: list[int] | None = None) -> bytes:
    flags = flags if flags is not None else [0] * len(ids)
    return struct.pack(f">qqI{len(ids)}q", chat_id, due, len(ids), *ids) + bytes(flags)


GOOD = bytes([1]) + struct.pack(">I", 1) + _chat(5, 600, [1, 2]) + struct.pack(">I", 0)


@pytest.mark.parametrize(("why", "padded"), [
    ("padding not zero", _padded(GOOD, tail=b"\x00\x01")),
    ("length not a bucket", _padded(GOOD, size=MIN_PADDED + 16)),
    ("body past its end", struct.pack(">I", MIN_PADDED) + bytes(MIN_PADDED - 4)),
    ("another body version", _padded(bytes([2]) + GOOD[1:])),
    ("chats out of order", _padded(bytes([1]) + struct.pack(">I", 2) + _chat(9, 600, [1]) + _chat(5, 600, [1])
                                   + struct.pack(">I", 0))),
    ("a chat twice", _padded(bytes([1]) + struct.pack(">I", 2) + _chat(5, 600, [1]) + _chat(5, 600, [2])
                             + struct.pack(">I", 0))),
    ("ids out of order", _padded(bytes([1]) + struct.pack(">I", 1) + _chat(5, 600, [2, 1]) + struct.pack(">I", 0))),
    ("a zero message id", _padded(bytes([1]) + struct.pack(">I", 1) + _chat(5, 600, [0]) + struct.pack(">I", 0))),
    ("a chat without ids", _padded(bytes([1]) + struct.pack(">I", 1) + _chat(5, 600, []) + struct.pack(">I", 0))),
    ("a flag out of range", _padded(bytes([1]) + struct.pack(">I", 1) + _chat(5, 600, [1], [2])
                                    + struct.pack(">I", 0))),
    ("intents out of order", _padded(bytes([1]) + struct.pack(">I", 0) + struct.pack(">I", 2)
                                     + struct.pack(">Qqqq", 9, 5, 0, 600) + struct.pack(">Qqqq", 3, 5, 0, 600))),
    ("an intent id of zero", _padded(bytes([1]) + struct.pack(">I", 0) + struct.pack(">I", 1)
                                     + struct.pack(">Qqqq", 0, 5, 0, 600))),
    ("a negative floor", _padded(bytes([1]) + struct.pack(">I", 0) + struct.pack(">I", 1)
                                 + struct.pack(">Qqqq", 3, 5, -1, 600))),
    ("bytes after the body", _padded(GOOD + b"\x07")),
    ("a body cut short", _padded(GOOD[:-2])),
])
def test_a_reader_rejects_a_plaintext_that_breaks_the_format(tmp_path: Path, key: DatabaseKey, why: str,
                                                             padded: bytes) -> None:
    path = tmp_path / CHAT_STATE_NAME
    _sealed(path, key, padded)
    with pytest.raises(ChatStateDamaged):
        ChatStateFile(path, key).read()


def test_the_good_plaintext_of_those_tests_is_accepted(tmp_path: Path, key: DatabaseKey) -> None:
    path = tmp_path / CHAT_STATE_NAME
    _sealed(path, key, _padded(GOOD))
    assert ChatStateFile(path, key).read() == ChatSnapshot({5: ChatEntry(5, 600, (1, 2))}, {})


@pytest.mark.parametrize("damage", ["flip", "truncate", "magic", "version", "empty", "key"])
def test_a_reader_rejects_a_damaged_or_foreign_file(db: Database, key: DatabaseKey, damage: str) -> None:
    DeletionStore(db).record(700000001, [1], T)
    path = db.path.with_name(CHAT_STATE_NAME)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 1
    elif damage == "truncate":
        del data[-1]
    elif damage == "magic":
        data[0] ^= 1
    elif damage == "version":
        data[len(MAGIC)] = 2
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(seal(encode(ChatSnapshot()), os.urandom(32)))
    path.write_bytes(bytes(data))
    with pytest.raises(ChatStateDamaged):
        DeletionStore(Database.open(db.path, key)).all()


def test_decode_accepts_only_what_encode_makes() -> None:
    snapshot = ChatSnapshot({3: ChatEntry(3, 1200, (1, 4, 9), frozenset({9})), -7: ChatEntry(-7, 600, (2,))},
                            {5: Intent(5, 3, None, 1200), 6: Intent(6, -7, 2, 600)})
    assert decode(encode(snapshot)) == snapshot


def test_a_snapshot_the_format_cannot_hold_is_never_made_or_written(tmp_path: Path, key: DatabaseKey) -> None:
    for ids, swept in (((), set()), ((2, 1), set()), ((0, 1), set()), ((1,), {2})):
        with pytest.raises(ValueError):
            ChatEntry(3, 600, ids, frozenset(swept))
    state = ChatState(ChatStateFile(tmp_path / CHAT_STATE_NAME, key))
    for bad in (ChatSnapshot({4: ChatEntry(3, 600, (1,))}, {}),  # filed under another chat
                ChatSnapshot({}, {0: Intent(0, 3, None, 600)}),
                ChatSnapshot({}, {5: Intent(5, 3, 0, 600)})):
        with pytest.raises(ValueError):
            state.commit(bad)
    assert not (tmp_path / CHAT_STATE_NAME).exists()


# -- moving an older home's rows out of the database ------------------------------------------------


def _chat_side_migration() -> int:
    return next(i for i, script in enumerate(MIGRATIONS) if "DROP TABLE pending_deletions" in script)


OLD_ROWS = [(700000001, 1, T, 0), (700000001, 2, T, 0), (700000001, 3, T, 1), (700000002, 9, T + 50, 0)]
OLD_INTENTS = [(11, 700000001, 2, T + 7), (12, 700000003, None, T + 9)]


def _old_home(tmp_path: Path, key: DatabaseKey) -> Path:
    """A database as the previous version left it: chat rows and intents in their tables, exact times."""
    path = tmp_path / "waystation.db"
    path.touch(mode=0o600)
    conn = connect(path, key)
    Database(path, conn)  # registers the SQL functions older migrations use
    version = _chat_side_migration()
    for script in MIGRATIONS[:version]:
        for statement in dbmodule._statements(script):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.executemany("INSERT INTO pending_deletions (chat_id, message_id, due_at, swept) VALUES (?, ?, ?, ?)",
                     OLD_ROWS)
    conn.executemany("INSERT INTO send_intents (id, chat_id, floor, due_at) VALUES (?, ?, ?, ?)", OLD_INTENTS)
    conn.close()
    return path


def _expected() -> ChatSnapshot:
    up = lambda t: -(-t // GRANULARITY) * GRANULARITY  # noqa: E731
    return ChatSnapshot(
        {700000001: ChatEntry(700000001, up(T), (1, 2, 3), frozenset({3})),
         700000002: ChatEntry(700000002, up(T + 50), (9,))},
        {11: Intent(11, 700000001, 2, up(T + 7)), 12: Intent(12, 700000003, None, up(T + 9))},
    )


def test_the_migration_moves_every_row_into_the_file_and_leaves_no_chat_id_in_the_database(
    tmp_path: Path, key: DatabaseKey
) -> None:
    path = _old_home(tmp_path, key)
    with Database.open(path, key, granularity=GRANULARITY) as db:
        assert db.schema_version == SCHEMA_VERSION
        tables = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master")}
        assert not {"pending_deletions", "send_intents"} & tables
        assert DeletionStore(db).state.current() == _expected()
    assert read_chat_state(tmp_path, key) == _expected()
    pages = list(decrypt_pages(path, key).values()) + decrypt_wal_frames(path.with_name("waystation.db-wal"), key)
    for chat_id in (700000001, 700000002, 700000003):
        assert pages_holding(pages, chat_id) == 0, chat_id


def test_a_crash_between_writing_the_file_and_dropping_the_tables_loses_and_repeats_nothing(
    tmp_path: Path, key: DatabaseKey
) -> None:
    path = _old_home(tmp_path, key)
    # The first attempt wrote the file (with one more entry the bot had added since) and died before the drop.
    conn = connect(path, key)
    first = Database(path, conn, GRANULARITY, ChatState(ChatStateFile.beside(path, key)))
    first._adopt_chat_rows()
    DeletionStore(first).record(700000009, [4], T)
    conn.close()
    with Database.open(path, key, granularity=GRANULARITY) as db:
        state = DeletionStore(db).state.current()
    expected = _expected()
    assert state.intents == expected.intents
    assert {c: e for c, e in state.chats.items() if c != 700000009} == expected.chats
    assert state.chats[700000009].message_ids == (4,)


def test_a_migration_whose_file_cannot_be_written_changes_nothing(tmp_path: Path, key: DatabaseKey) -> None:
    path = _old_home(tmp_path, key)
    (tmp_path / CHAT_STATE_NAME).mkdir()  # the file cannot be put there
    with pytest.raises(StorageError):
        Database.open(path, key, granularity=GRANULARITY)
    conn = connect(path, key)
    try:
        assert conn.execute("SELECT count(*) FROM pending_deletions").fetchone()[0] == len(OLD_ROWS)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == _chat_side_migration()
    finally:
        conn.close()
    (tmp_path / CHAT_STATE_NAME).rmdir()
    with Database.open(path, key, granularity=GRANULARITY) as db:
        assert DeletionStore(db).state.current() == _expected()


def test_the_writer_removes_a_copy_a_crash_left_at_its_start(db: Database) -> None:
    store = DeletionStore(db)
    store.record(700000001, [1], T)
    leftover = db.path.with_name(f".{CHAT_STATE_NAME}.tmp")
    leftover.write_bytes(db.path.with_name(CHAT_STATE_NAME).read_bytes())  # renamed never: the process died
    store.verify()
    assert leftover.exists()  # checking alone changes nothing
    store.start_writing()
    assert not leftover.exists()
    assert [p.chat_id for p in store.all()] == [700000001]
