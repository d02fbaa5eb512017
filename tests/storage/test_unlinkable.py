"""No join from chat to case on the case side: coarse times, ids without order, a WAL without history.

A seized database (with its key) must not pair a case with a chat. These tests play the parts of
that attacker that the case side answers for: exact times (every case-side time is a bucket
boundary, or a fixed delay after one), row order (ids are random, not in creation order), and WAL
adjacency (after a commit the WAL is empty and the wal-index names no page of an earlier write).
The chat side (pending deletions) is not in the database at all: tests/storage/test_chat_state.py.
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from crypto.reference import hash_reference
from intake.followups import add_follow_up
from intake.requests import Request, new_case_id, submit
from storage import db as dbmodule
from storage.alerts import AlertStore, MessageKind, Results
from storage.cases import CaseId, CaseStore, EventKind
from storage.db import Database, connect, fresh_row_id
from storage.deletions import DeletionStore
from storage.schema import MIGRATIONS
from storage.server import Server
from storage.volunteers import (
    Settings,
    VolunteerId,
    VolunteerStore,
    hash_code,
    new_invite_code,
    normalise_code,
)
from tests.conftest import StaffedHome

pytestmark = pytest.mark.timeout(120)

DAY = 86_400
#: A time in the middle of a bucket (for the default granularity, 600 s) and not at a round second count.
T = 1_700_000_123


def _enrol(server: Server, chat_id: int, now: int, tier: int = 1) -> VolunteerId:
    code = normalise_code(new_invite_code()) or ""
    store = VolunteerStore(server.db)
    store.create_invite(hash_code(code, server.home.pepper()), Settings(("main",), tier=tier), "Ada Admin", now,
                        now + 3600)
    volunteer = store.redeem(hash_code(code, server.home.pepper()), chat_id, "en", now)
    assert volunteer is not None
    return volunteer.id


def _case_side_times(db: Database) -> dict[str, list[int]]:
    """Every stored time of the case side that is not a deadline, by table.column."""
    columns = {
        "cases": ("created_at", "updated_at", "claimed_at", "closed_at"),
        "case_events": ("created_at",),
        "audit": ("at",),
        "case_alerts": ("created_at", "acked_at", "finished_at"),
        "volunteer_messages": ("created_at",),
    }
    times: dict[str, list[int]] = {}
    for table, names in columns.items():
        for name in names:
            values = [int(v) for (v,) in db.conn.execute(f"SELECT {name} FROM {table} WHERE {name} IS NOT NULL")]
            times[f"{table}.{name}"] = values
    return times


def test_every_case_side_time_is_coarse_after_a_whole_case_life(server: Server) -> None:
    granularity = server.config.privacy.time_granularity_seconds
    assert granularity > 1 and T % granularity, "the test needs times that are not on a bucket boundary"
    clock = itertools.count(T, 37)  # every step at a new, odd second

    def now() -> int:
        return next(clock)

    first, second, third = (_enrol(server, 700000001 + n, now()) for n in range(3))
    alerts = AlertStore(server.db)
    # Intake, a follow-up with the person's reference, and the caseworker's work on the case.
    receipt = submit(server, Request({"help": "x"}, "en", "telegram"), now())
    case_id = receipt.case_id
    assert alerts.open_case(case_id, None, [first, second], 1800, now())
    ref_hash = hash_reference(receipt.reference, server.home.pepper())
    assert add_follow_up(server, ref_hash, "more", "en", now()) == case_id
    # Sending: one alert accepted, one failed for a while, then escalation and a volunteer's "I'm on it".
    due = alerts.due(now() + granularity)
    assert {row.volunteer_id for row in due} == {first, second}
    sent = next(row for row in due if row.volunteer_id == first)
    failed = next(row for row in due if row.volunteer_id == second)
    alerts.record(Results(sent=[(sent.id, 11)], retry=[(failed.id, 5)]), now())
    assert alerts.escalate(case_id, 1, [third], 1800, now())
    assert alerts.acknowledge(case_id, third, now(), everyone=False).value == "won"
    # A second case: taken by a caseworker, closed, reopened, closed again and purged; a digest.
    other = submit(server, Request({"help": "y"}), now()).case_id
    assert alerts.open_case(other, None, [first], None, now())
    cases = server.cases
    cases.claim(other, "cas-main", now())
    cases.add_event(other, EventKind.NOTE, "cas-main", now(), b"n" * 40)
    assert alerts.finish_taken(now()) == [other]
    cases.close(other, "cas-main", now())
    cases.reopen(other, "cas-main", now())
    cases.close(other, "cas-main", now())
    alerts.owe([first], MessageKind.DIGEST, {"new": 1}, now())
    cases.claim(case_id, "cas-main", now())
    assert cases.purge_closed(closed_before=now() + DAY, quiet_since=None, now=now() + DAY) == [other]

    times = _case_side_times(server.db)
    for column in ("cases.created_at", "cases.claimed_at", "case_events.created_at", "audit.at",
                   "case_alerts.created_at", "case_alerts.acked_at", "volunteer_messages.created_at"):
        assert times[column], f"{column}: the operations above should have written some"
    for column, values in times.items():
        assert [v for v in values if v % granularity] == [], f"{column} holds a time finer than the granularity"
    # Deadlines: a fixed delay after a bucket boundary, never finer (the delay is public: config or backoff).
    next_at = server.db.conn.execute("SELECT next_at FROM case_alerts WHERE next_at IS NOT NULL").fetchall()
    assert next_at == [] or all((v - 1800) % granularity == 0 for (v,) in next_at)
    retry_at = server.db.conn.execute("SELECT next_attempt_at FROM volunteer_messages WHERE attempts > 0"
                                      " AND message_id IS NULL").fetchall()  # the failed alert (cancelled since)
    assert retry_at and all((v - 5) % granularity == 0 for (v,) in retry_at)
    pending = server.db.conn.execute("SELECT next_attempt_at FROM volunteer_messages WHERE attempts = 0").fetchall()
    assert pending and all(v % granularity == 0 for (v,) in pending)


def test_a_deadline_is_never_early_at_most_one_granularity_late_and_no_finer_than_it(tmp_path: Path) -> None:
    granularity = 600
    db = Database.open(tmp_path / "d.db", dbmodule.DatabaseKey(os.urandom(32)), create=True, granularity=granularity)
    try:
        for delay in (0, 5, 300, 1800, 1799):
            stored = {db.deadline(start + second, delay) for start in (T - T % granularity,)
                      for second in range(granularity)}
            assert len(stored) == 1, "the stored deadline depends on more than the time bucket"
            value = stored.pop()
            bucket = T - T % granularity
            assert bucket + granularity - 1 + delay <= value <= bucket + granularity + delay
    finally:
        db.close()
    exact = Database.open(tmp_path / "e.db", dbmodule.DatabaseKey(os.urandom(32)), create=True)
    try:
        assert exact.deadline(T, 5) == T + 5  # granularity 1: nothing to hide
    finally:
        exact.close()


# -- row order ------------------------------------------------------------------------------


def _concordant(values: Sequence[int]) -> float:
    """The fraction of pairs (earlier, later) whose values are in the same order: 1.0 for increasing ids."""
    pairs = [(a, b) for a, b in itertools.combinations(values, 2) if a != b]
    return sum(a < b for a, b in pairs) / len(pairs)


#: For n = 200 random ids the fraction has mean 0.5 and standard deviation 0.0245; 0.2 is more than
#: eight of them (a false failure about once in 10**15 runs). Ids in creation order give 1.0.
ORDER_CASES = 200
ORDER_BOUND = 0.2


def _ids_in_creation_order(db: Database, sql: str, keys: Sequence[str]) -> list[int]:
    ids = dict(db.conn.execute(sql).fetchall())
    return [int(ids[key]) for key in keys]


def test_case_side_ids_do_not_follow_creation_order(server: Server) -> None:
    volunteer = _enrol(server, 700000001, T)
    alerts, cases = AlertStore(server.db), server.cases
    created: list[CaseId] = []
    for n in range(ORDER_CASES):
        case_id = new_case_id()
        cases.enqueue(case_id=case_id, queue="main", envelope=b"e" * 64, ref_hash=None, now=T + n)
        alerts.open_case(case_id, None, [volunteer], None, T + n)
        cases.add_event(case_id, EventKind.NOTE, "cas-main", T + n, b"n" * 40)
        created.append(case_id)
    db = server.db
    orders = {
        "cases.rowid": _ids_in_creation_order(db, "SELECT id, rowid FROM cases", created),
        "case_events.id": _ids_in_creation_order(db, "SELECT case_id, id FROM case_events", created),
        "audit.id": _ids_in_creation_order(db, "SELECT case_id, id FROM audit WHERE action = 'case.created'", created),
        "case_alerts.rowid": _ids_in_creation_order(db, "SELECT case_id, rowid FROM case_alerts", created),
        "volunteer_messages.id": _ids_in_creation_order(db, "SELECT case_id, id FROM volunteer_messages", created),
    }
    for name, ids in orders.items():
        assert abs(_concordant(ids) - 0.5) < ORDER_BOUND, f"{name} follows the order in which cases came in"
    assert _concordant(sorted(orders["cases.rowid"])) == 1.0  # the measure does see an order when there is one


def test_a_case_keeps_its_own_history_in_order_within_one_time_bucket(server: Server) -> None:
    cases = server.cases
    mine = submit(server, Request({"help": "x"}), T).case_id
    other = submit(server, Request({"help": "y"}), T).case_id
    steps: list[tuple[EventKind, Callable[[str, int], object]]] = [
        (EventKind.CLAIM, lambda c, t: cases.claim(c, "cas-main", t)),
        (EventKind.NOTE, lambda c, t: cases.add_event(c, EventKind.NOTE, "cas-main", t, b"n")),
        (EventKind.FOLLOW_UP, lambda c, t: cases.add_event(c, EventKind.FOLLOW_UP, "person", t, b"f")),
        (EventKind.CLOSE, lambda c, t: cases.close(c, "cas-main", t)),
        (EventKind.REOPEN, lambda c, t: cases.reopen(c, "cas-main", t)),
        (EventKind.NOTE, lambda c, t: cases.add_event(c, EventKind.NOTE, "cas-main", t, b"m")),
        (EventKind.CLOSE, lambda c, t: cases.close(c, "cas-main", t)),
    ]
    for second, (_, step) in enumerate(steps):
        step(mine, T + second)
        step(other, T + second)  # interleaved with another case's history
    for case_id in (mine, other):
        events = cases.events(case_id)
        assert [e.kind for e in events] == [kind for kind, _ in steps]
        assert len({e.created_at for e in events}) == 1  # one time bucket: only seq keeps the order
        assert [a.action for a in cases.audit_log(case_id)] == (
            ["case.created"] + [f"case.{kind.value}" for kind, _ in steps])


def test_a_fresh_row_id_is_drawn_again_when_it_is_taken(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    case_id = submit(server, Request({"help": "x"}), T).case_id
    taken = int(server.db.conn.execute("SELECT rowid FROM cases WHERE id = ?", (case_id,)).fetchone()[0])
    draws: Iterator[int] = iter([taken, taken, 12345])
    monkeypatch.setattr(dbmodule, "random_row_id", lambda: next(draws))
    with server.db.transaction() as conn:
        assert fresh_row_id(conn, "cases") == 12345


def test_an_event_inserted_without_a_number_still_gets_its_place(server: Server) -> None:
    """Code that inserts an event directly (not through record_event) cannot break a case's order."""
    case_id = submit(server, Request({"help": "x"}), T).case_id
    server.cases.claim(case_id, "cas-main", T)
    with server.db.transaction() as conn:
        conn.execute("INSERT INTO case_events (case_id, kind, actor, created_at) VALUES (?, 'note', 'x', ?)",
                     (case_id, T - T % 600))
    server.cases.close(case_id, "cas-main", T)
    assert [e.kind for e in server.cases.events(case_id)] == [EventKind.CLAIM, EventKind.NOTE, EventKind.CLOSE]


# -- coarse bounds --------------------------------------------------------------------------


def test_a_case_closed_in_the_bucket_of_the_purge_bound_is_kept_for_a_later_run(server: Server) -> None:
    granularity = server.config.privacy.time_granularity_seconds
    bucket = T - T % granularity
    case_id = submit(server, Request({"help": "x"}), bucket).case_id
    server.cases.close(case_id, "cas-main", bucket + 30)
    assert server.cases.purge_closed(closed_before=bucket + 31, quiet_since=None, now=bucket + DAY) == []
    assert server.cases.purge_closed(closed_before=bucket + granularity, quiet_since=None,
                                     now=bucket + DAY) == [case_id]


# -- the WAL and the wal-index ------------------------------------------------------------------


def _wal_size(home: StaffedHome) -> int:
    path = home.root / "waystation.db-wal"
    return path.stat().st_size if path.exists() else 0


def _wal_index_pages(home: StaffedHome) -> set[int]:
    """Page numbers the wal-index (the plaintext -shm file) still lists, frame by frame."""
    path = home.root / "waystation.db-shm"
    if not path.exists():
        return set()
    data = path.read_bytes()
    # The first hash block: 136 bytes of headers, then one 32-bit page number per WAL frame.
    slots = min(4062, (len(data) - 136) // 4)
    return {n for n in struct.unpack(f"={slots}I", data[136:136 + 4 * slots]) if n}


def _root_page(db: Database, table: str) -> int:
    return int(db.conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0])


def test_the_wal_is_empty_after_a_case_is_stored(server: Server, staffed_home: StaffedHome) -> None:
    submit(server, Request({"help": "x"}), T)
    assert _wal_size(staffed_home) == 0
    case_id = server.cases.list()[0].id
    server.cases.add_event(case_id, EventKind.FOLLOW_UP, "person", T, b"f" * 40)
    assert _wal_size(staffed_home) == 0


def test_a_chat_write_leaves_the_database_its_wal_and_wal_index_untouched(server: Server,
                                                                         staffed_home: StaffedHome) -> None:
    """The chat side is not in the database: no page, frame or wal-index slot can pair a chat's write with a case's."""
    submit(server, Request({"help": "x"}), T)
    files = ("waystation.db", "waystation.db-wal", "waystation.db-shm")
    before = {name: (staffed_home.root / name).read_bytes() if (staffed_home.root / name).exists() else None
              for name in files}
    pages_before = _wal_index_pages(staffed_home)
    deletions = DeletionStore(server.db)
    deletions.record(5550001234, [1, 2, 3], T)
    deletions.settle(5550001234, T + 600, known=[4], swept=[5, 6])
    deletions.remove(5550001234, [1, 2, 3, 4, 5, 6])
    after = {name: (staffed_home.root / name).read_bytes() if (staffed_home.root / name).exists() else None
             for name in files}
    assert after == before
    assert _wal_index_pages(staffed_home) == pages_before
    assert "pending_deletions" not in {r[0] for r in server.db.conn.execute("SELECT name FROM sqlite_master")}


def test_a_reader_delays_the_checkpoint_and_forget_history_finishes_it(server: Server,
                                                                       staffed_home: StaffedHome) -> None:
    key = staffed_home.open().db  # a second connection, as a staff command in direct mode would hold
    try:
        key.conn.execute("BEGIN")
        key.conn.execute("SELECT count(*) FROM cases").fetchone()  # a read snapshot that pins the WAL
        submit(server, Request({"help": "x"}), T)  # must not wait for the reader
        assert _wal_size(staffed_home) > 0
        assert server.db.forget_history() is False
        key.conn.execute("COMMIT")
    finally:
        key.close()
    assert server.db.forget_history() is True
    assert _wal_size(staffed_home) == 0


# -- databases written before this ---------------------------------------------------------------


def _unlinking_migration() -> int:
    return next(i for i, script in enumerate(MIGRATIONS) if "case_events_numbered" in script)


def test_the_migration_numbers_old_histories_then_gives_random_ids_and_coarse_times(tmp_path: Path) -> None:
    path, key = tmp_path / "old.db", dbmodule.DatabaseKey(os.urandom(32))
    path.touch(mode=0o600)
    conn = connect(path, key)
    version = _unlinking_migration()
    for script in MIGRATIONS[:version]:
        for statement in dbmodule._statements(script):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    old_cases = [f"oldcase{n:09d}" for n in range(30)]
    for n, case_id in enumerate(old_cases):  # as the old code wrote them: increasing ids, exact times
        conn.execute("INSERT INTO cases (id, queue, status, created_at, updated_at, envelope)"
                     " VALUES (?, 'main', 'new', ?, ?, x'00')", (case_id, T + n, T + n))
        conn.execute("INSERT INTO audit (at, actor, action, case_id) VALUES (?, 'intake', 'case.created', ?)",
                     (T + n, case_id))
        for kind in ("claim", "note", "close"):
            conn.execute("INSERT INTO case_events (case_id, kind, actor, created_at) VALUES (?, ?, 'cas', ?)",
                         (case_id, kind, T + n))
            conn.execute("INSERT INTO audit (at, actor, action, case_id) VALUES (?, 'cas', ?, ?)",
                         (T + n, f"case.{kind}", case_id))
    conn.close()

    db = Database.open(path, key, granularity=600)
    try:
        store = CaseStore(db)
        for case_id in old_cases:
            assert [e.kind.value for e in store.events(case_id)] == ["claim", "note", "close"]
            assert [a.action for a in store.audit_log(case_id)] == [
                "case.created", "case.claim", "case.note", "case.close"]
        assert all(t % 600 == 0 for ts in _case_side_times(db).values() for t in ts)
        rowids = _ids_in_creation_order(db, "SELECT id, rowid FROM cases", old_cases)
        assert abs(_concordant(rowids) - 0.5) < 0.35  # n = 30: more than seven standard deviations
        with pytest.raises(dbmodule.DatabaseError, match="append-only"):
            db.conn.execute("UPDATE audit SET actor = 'someone else'")
        store.add_event(old_cases[0], EventKind.NOTE, "cas", T + DAY, b"n")  # new events go after the old ones
        assert [e.kind.value for e in store.events(old_cases[0])] == ["claim", "note", "close", "note"]
    finally:
        db.close()


# -- page order -------------------------------------------------------------------------------

#: A request's envelope as intake stores it (2 KiB request in the 4 KiB bucket, five recipients):
#: larger than a page, so part of it goes to an overflow page.
ENVELOPE_BYTES = 4705
PAGE_CASES = 60
#: For 60 cases the concordant fraction of random page numbers has a standard deviation of about
#: 0.045; 0.3 is more than six of them. Pages taken in arrival order give about 1.0.
PAGE_BOUND = 0.3


def _pages_of_new_cases(tmp_path: Path, name: str, pool: int) -> tuple[list[int], list[int]]:
    """Store cases, then a bucket's worth more; the leaf and first overflow page of each, in arrival order."""
    key = dbmodule.DatabaseKey(os.urandom(32))
    db = Database.open(tmp_path / name, key, create=True, granularity=600)
    try:
        cases = CaseStore(db)
        for _ in range(100):  # earlier cases, so that new ones have neighbours
            cases.enqueue(case_id=new_case_id(), queue="main", envelope=os.urandom(ENVELOPE_BYTES),
                          ref_hash=os.urandom(32), now=T - DAY)
        if pool:
            assert db.keep_free_pages(T, pool) == pool
        created = []
        for n in range(PAGE_CASES):
            case_id = new_case_id()
            cases.enqueue(case_id=case_id, queue="main", envelope=os.urandom(ENVELOPE_BYTES),
                          ref_hash=os.urandom(32), now=T + n)
            created.append(case_id)
        rowids = dict(db.conn.execute("SELECT id, rowid FROM cases").fetchall())
        root = _root_page(db, "cases")
    finally:
        db.close()
    from tests.storage.sqlcipher_pages import decrypt_pages, table_rows
    places = table_rows(decrypt_pages(tmp_path / name, key), root)
    rows = [places[int(rowids[case_id])] for case_id in created]
    assert all(row.overflow for row in rows), "the envelopes should need overflow pages"
    return [row.page for row in rows], [row.overflow for row in rows]


def test_new_cases_do_not_get_pages_in_the_order_they_came_in(tmp_path: Path) -> None:
    """With the shuffled free-page pool, neither leaf nor overflow page numbers follow arrival order."""
    leaves, overflows = _pages_of_new_cases(tmp_path, "pooled.db", pool=1024)
    assert abs(_concordant(leaves) - 0.5) < PAGE_BOUND, "leaf pages follow the order of arrival"
    assert abs(_concordant(overflows) - 0.5) < PAGE_BOUND, "overflow pages follow the order of arrival"
    # Without the pool, the attacker's reading works: new pages come from the end of the file.
    _, appended = _pages_of_new_cases(tmp_path, "plain.db", pool=0)
    assert _concordant(appended) > 0.5 + PAGE_BOUND


def test_the_free_page_pool_is_refilled_once_per_time_bucket_and_when_it_runs_low(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "p.db", dbmodule.DatabaseKey(os.urandom(32)), create=True, granularity=600)
    try:
        bucket = T - T % 600
        free = lambda: int(db.conn.execute("PRAGMA freelist_count").fetchone()[0])  # noqa: E731
        start = free()  # pages freed by migrations that dropped tables
        assert db.keep_free_pages(bucket + 1, 64) == 64 - start and free() >= 64
        assert db.keep_free_pages(bucket + 2, 64) == 0  # same bucket, pool full: nothing written
        with db.transaction() as conn:  # use up most of the pool
            conn.executemany("INSERT INTO spare_pages (id, filler) VALUES (?, zeroblob(3900))",
                             [(i,) for i in range(1, 60)])
        assert free() < 16
        assert db.keep_free_pages(bucket + 3, 64) > 0  # ran low: refilled within the bucket
        db.keep_free_pages(bucket + 600, 64)  # a new bucket: topped up to the target
        assert free() >= 64
        assert db.conn.execute("SELECT count(*) FROM spare_pages").fetchone()[0] == 59
    finally:
        db.close()
