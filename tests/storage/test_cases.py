"""The case repository: enqueue, list, fetch, resolve, claim, events, transitions, purge, stats."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from crypto.envelope import Kind, seal
from storage.cases import CaseId, CaseStore, EventKind, Status
from storage.config import PrivacyConfig
from storage.db import Database, DatabaseKey
from storage.errors import CaseNotFound, ClaimConflict, StorageError, TransitionRefused
from storage.server import Server
from tests.conftest import StaffedHome

pytestmark = pytest.mark.timeout(60)

#: The default time granularity (the `server` fixture's config): case-side times are stored rounded down to it.
G = PrivacyConfig().time_granularity_seconds
T0 = 1_700_000_000 // G * G  # the start of a time bucket
DAY = 86_400


def _envelope(server: Server, staffed: StaffedHome, case_id: str, queue: str = "main", text: bytes = b"{}") -> bytes:
    """A real envelope, sealed by the bot to a caseworker (its bytes are opaque to the store)."""
    return seal(
        text,
        kind=Kind.REQUEST,
        case_id=case_id,
        queue=queue,
        recipients=[staffed.staff["cas-main"].box_private.public_key],
        signer=server.bot_identity().signing_key,
    )


def _case_id(n: int) -> CaseId:
    return CaseId(f"case{n:012d}")


def _enqueue(server: Server, staffed: StaffedHome, n: int, queue: str = "main", now: int = T0) -> CaseId:
    case_id = _case_id(n)
    server.cases.enqueue(case_id=case_id, queue=queue, envelope=_envelope(server, staffed, case_id, queue),
                         ref_hash=os.urandom(32), now=now)
    return case_id


def _count(server: Server, table: str) -> int:
    return int(server.db.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# -- enqueue, list, fetch, resolve --------------------------------------------------


def test_enqueued_case_is_fetched_with_its_envelope(server: Server, staffed_home: StaffedHome) -> None:
    envelope = _envelope(server, staffed_home, _case_id(1))
    ref_hash = os.urandom(32)
    server.cases.enqueue(case_id=_case_id(1), queue="main", envelope=envelope, ref_hash=ref_hash, now=T0 + 7)
    case = server.cases.fetch(_case_id(1))
    assert (case.id, case.queue, case.status) == (_case_id(1), "main", Status.NEW)
    assert (case.created_at, case.updated_at) == (T0, T0)  # rounded down to the granularity
    assert (case.claimed_by, case.claimed_at, case.closed_at) == (None, None, None)
    assert case.envelope == envelope
    assert server.cases.find_by_reference(ref_hash) == _case_id(1)
    assert server.cases.find_by_reference(os.urandom(32)) is None


def test_enqueue_of_a_duplicate_id_is_refused_and_leaves_one_row(server: Server, staffed_home: StaffedHome) -> None:
    _enqueue(server, staffed_home, 1)
    audit_before = len(server.cases.audit_log())
    with pytest.raises(StorageError, match="already exists"):
        _enqueue(server, staffed_home, 1)
    assert _count(server, "cases") == 1
    assert len(server.cases.audit_log()) == audit_before


def test_list_filters_by_queue_and_status_oldest_first(server: Server, staffed_home: StaffedHome) -> None:
    a = _enqueue(server, staffed_home, 1, "main", T0 + 3 * G)
    b = _enqueue(server, staffed_home, 2, "other", T0 + G)
    c = _enqueue(server, staffed_home, 3, "main", T0 + 2 * G)
    server.cases.claim(c, "cas-main", T0 + 4 * G)
    store = server.cases
    assert [x.id for x in store.list()] == [b, c, a]
    assert [x.id for x in store.list(queues=["main"])] == [c, a]
    assert [x.id for x in store.list(statuses=[Status.NEW])] == [b, a]
    assert [x.id for x in store.list(queues=["main"], statuses=[Status.CLAIMED])] == [c]
    assert [x.id for x in store.list(queues=["main", "other"], limit=2)] == [b, c]
    assert store.list(queues=[]) == []
    assert store.list(queues=["nobody"]) == []
    assert all(x.envelope is None for x in store.list())
    assert all(x.envelope for x in store.list(with_envelopes=True))


def test_a_page_and_what_follows_it_are_read_from_the_index_in_order(
    server: Server, staffed_home: StaffedHome
) -> None:
    """Keyset pages (the staff API's `limit` and `after`) neither sort nor read every envelope of the table."""
    ids = [_enqueue(server, staffed_home, n, "main" if n % 3 else "other", T0 + n * G) for n in range(1, 10)]
    store, statements = server.cases, []
    server.db.conn.set_trace_callback(statements.append)
    try:
        page = store.list(queues=["main"], with_envelopes=True, limit=2, after=(T0 + 2 * G, ids[1]))
        following = store.count(queues=["main"], statuses=[Status.NEW], after=(page[-1].created_at, page[-1].id))
    finally:
        server.db.conn.set_trace_callback(None)
    assert [c.id for c in page] == [ids[3], ids[4]] and following == 2  # cases 7 and 8
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and " FROM cases " in s]
    assert len(reads) == 2
    for sql in reads:  # the trace shows each statement with its parameters in place
        plan = " | ".join(str(row[3]) for row in server.db.conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "cases_in_order" in plan and "TEMP B-TREE" not in plan, plan


def test_cases_of_one_time_bucket_are_listed_by_case_id_not_by_arrival(
    server: Server, staffed_home: StaffedHome
) -> None:
    for n, second in ((3, 1), (1, 2), (2, 3)):
        _enqueue(server, staffed_home, n, now=T0 + second)
    earlier = _enqueue(server, staffed_home, 9, now=T0 - 1)
    assert [x.id for x in server.cases.list()] == [earlier, _case_id(1), _case_id(2), _case_id(3)]


def test_fetch_of_an_unknown_case_raises_case_not_found(server: Server) -> None:
    with pytest.raises(CaseNotFound) as caught:
        server.cases.fetch("nosuchcase000000")
    assert str(caught.value) == "no such case"


def test_resolve_finds_the_one_case_with_a_prefix(server: Server, staffed_home: StaffedHome) -> None:
    case_id = _enqueue(server, staffed_home, 1)
    assert server.cases.resolve(case_id) == case_id
    assert server.cases.resolve(case_id[:6]) == case_id


@pytest.mark.parametrize("prefix", ["", "c", "case0", "case00000001x", "case0%", "case0_", "case0*"])
def test_resolve_refuses_short_unknown_or_wildcard_prefixes(
    server: Server, staffed_home: StaffedHome, prefix: str
) -> None:
    _enqueue(server, staffed_home, 1)
    with pytest.raises(CaseNotFound):
        server.cases.resolve(prefix)


def test_resolve_refuses_an_ambiguous_prefix(server: Server, staffed_home: StaffedHome) -> None:
    first = _enqueue(server, staffed_home, 11)
    second = _enqueue(server, staffed_home, 12)
    shared = os.path.commonprefix([first, second])
    assert len(shared) >= 6
    with pytest.raises(CaseNotFound):
        server.cases.resolve(shared)
    assert server.cases.resolve(first) == first
    assert server.cases.resolve(second) == second


# -- claims -----------------------------------------------------------------------


def test_claim_then_second_claim_conflicts(server: Server, staffed_home: StaffedHome) -> None:
    case_id = _enqueue(server, staffed_home, 1)
    server.cases.claim(case_id, "cas-main", T0 + G + 5)
    with pytest.raises(ClaimConflict):
        server.cases.claim(case_id, "cas-main-2", T0 + 2 * G + 6)
    case = server.cases.fetch(case_id)
    assert (case.status, case.claimed_by, case.claimed_at, case.updated_at) == (
        Status.CLAIMED, "cas-main", T0 + G, T0 + G)
    assert [e.kind for e in server.cases.events(case_id)] == [EventKind.CLAIM]


def test_claim_of_unknown_or_closed_case_is_refused(server: Server, staffed_home: StaffedHome) -> None:
    with pytest.raises(CaseNotFound):
        server.cases.claim("nosuchcase000000", "cas-main", T0)
    case_id = _enqueue(server, staffed_home, 1)
    server.cases.close(case_id, "cas-main", T0 + 1)
    with pytest.raises(ClaimConflict):
        server.cases.claim(case_id, "cas-main", T0 + 2)
    assert server.cases.fetch(case_id).claimed_by is None


def _claim_all(db_path: str, key_hex: str, case_ids: list[str], actor: str, barrier: Any, results: Any) -> None:
    """Child process: claim each case right after the other process reaches the same case."""
    outcome: dict[str, str] = {}
    try:
        with Database.open(Path(db_path), DatabaseKey(bytes.fromhex(key_hex))) as db:
            store = CaseStore(db)
            for case_id in case_ids:
                barrier.wait(timeout=30)
                try:
                    store.claim(case_id, actor, T0 + 100)
                    outcome[case_id] = "won"
                except ClaimConflict:
                    outcome[case_id] = "lost"
                except Exception as err:  # reported, then asserted on by the parent
                    outcome[case_id] = f"error {type(err).__name__}: {err}"
    finally:
        results.put((actor, outcome))


def test_concurrent_double_claims_from_two_processes_have_exactly_one_winner(
    server: Server, staffed_home: StaffedHome
) -> None:
    pairs = 25
    case_ids = [_enqueue(server, staffed_home, n) for n in range(pairs)]
    key_hex = server.home.db_key({}).hex()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    actors = ("cas-main", "cas-main-2")
    procs = [
        ctx.Process(target=_claim_all, args=(str(server.db.path), key_hex, case_ids, actor, barrier, results))
        for actor in actors
    ]
    for proc in procs:
        proc.start()
    try:
        outcomes = dict(results.get(timeout=50) for _ in procs)
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    assert set(outcomes) == set(actors)
    for case_id in case_ids:
        got = sorted(outcomes[actor].get(case_id, "missing") for actor in actors)
        assert got == ["lost", "won"], f"{case_id}: {got}"
        winner = next(actor for actor in actors if outcomes[actor][case_id] == "won")
        case = server.cases.fetch(case_id)
        assert (case.status, case.claimed_by) == (Status.CLAIMED, winner)
        assert [(e.kind, e.actor) for e in server.cases.events(case_id)] == [(EventKind.CLAIM, winner)]
        assert [a.action for a in server.cases.audit_log(case_id)] == ["case.created", "case.claim"]


# -- events, close, reopen --------------------------------------------------------


def test_add_event_records_encrypted_content_in_order(server: Server, staffed_home: StaffedHome) -> None:
    case_id = _enqueue(server, staffed_home, 1)
    note = _envelope(server, staffed_home, case_id, text=b"note")
    first = server.cases.add_event(case_id, EventKind.NOTE, "cas-main", T0 + G + 10, note)
    second = server.cases.add_event(case_id, EventKind.FOLLOW_UP, "cas-main", T0 + 2 * G + 20)
    assert first != second
    events = server.cases.events(case_id)
    assert [(e.id, e.kind, e.actor, e.created_at, e.envelope) for e in events] == [
        (first, EventKind.NOTE, "cas-main", T0 + G, note),
        (second, EventKind.FOLLOW_UP, "cas-main", T0 + 2 * G, None),
    ]
    assert server.cases.fetch(case_id).updated_at == T0 + 2 * G


@pytest.mark.parametrize("kind", [EventKind.CLAIM, EventKind.CLOSE, EventKind.REOPEN])
def test_add_event_refuses_transition_kinds(server: Server, staffed_home: StaffedHome, kind: EventKind) -> None:
    case_id = _enqueue(server, staffed_home, 1)
    with pytest.raises(TransitionRefused):
        server.cases.add_event(case_id, kind, "cas-main", T0 + 1)
    assert server.cases.events(case_id) == []
    assert server.cases.fetch(case_id).status is Status.NEW


def test_add_event_to_unknown_case_is_refused(server: Server) -> None:
    with pytest.raises(CaseNotFound):
        server.cases.add_event("nosuchcase000000", EventKind.NOTE, "cas-main", T0)
    assert _count(server, "case_events") == 0


def test_close_and_reopen_a_claimed_case(server: Server, staffed_home: StaffedHome) -> None:
    case_id = _enqueue(server, staffed_home, 1)
    server.cases.claim(case_id, "cas-main", T0 + 1)
    server.cases.close(case_id, "cas-main", T0 + G + 2)
    closed = server.cases.fetch(case_id)
    assert (closed.status, closed.closed_at) == (Status.CLOSED, T0 + G)
    server.cases.reopen(case_id, "cas-main-2", T0 + 2 * G + 3)
    reopened = server.cases.fetch(case_id)
    assert (reopened.status, reopened.claimed_by, reopened.closed_at, reopened.updated_at) == (
        Status.CLAIMED, "cas-main", None, T0 + 2 * G)
    assert [e.kind for e in server.cases.events(case_id)] == [EventKind.CLAIM, EventKind.CLOSE, EventKind.REOPEN]


def test_reopen_of_an_unclaimed_closed_case_returns_it_to_new(server: Server, staffed_home: StaffedHome) -> None:
    case_id = _enqueue(server, staffed_home, 1)
    server.cases.close(case_id, "cas-main", T0 + 1)
    server.cases.reopen(case_id, "cas-main", T0 + 2)
    assert server.cases.fetch(case_id).status is Status.NEW
    server.cases.claim(case_id, "cas-main-2", T0 + 3)  # claimable again
    assert server.cases.fetch(case_id).claimed_by == "cas-main-2"


def test_transitions_that_make_no_sense_are_refused(server: Server, staffed_home: StaffedHome) -> None:
    fresh = _enqueue(server, staffed_home, 1)
    with pytest.raises(TransitionRefused):
        server.cases.reopen(fresh, "cas-main", T0 + 1)
    server.cases.close(fresh, "cas-main", T0 + G + 2)
    with pytest.raises(TransitionRefused):
        server.cases.close(fresh, "cas-main", T0 + 2 * G + 3)
    assert server.cases.fetch(fresh).closed_at == T0 + G
    assert [e.kind for e in server.cases.events(fresh)] == [EventKind.CLOSE]
    for operation in (server.cases.close, server.cases.reopen):
        with pytest.raises(CaseNotFound):
            operation("nosuchcase000000", "cas-main", T0)


# -- audit ------------------------------------------------------------------------


def test_every_write_leaves_one_audit_entry_without_content(server: Server, staffed_home: StaffedHome) -> None:
    store = server.cases
    marker = b"SECRET-NOTE-MARKER"
    steps: list[tuple[str, Any]] = [
        ("case.created", lambda: _enqueue(server, staffed_home, 1)),
        ("case.claim", lambda: store.claim(_case_id(1), "cas-main", T0 + 1)),
        ("case.note", lambda: store.add_event(_case_id(1), EventKind.NOTE, "cas-main", T0 + 2,
                                              _envelope(server, staffed_home, _case_id(1), text=marker))),
        ("case.reply", lambda: store.add_event(_case_id(1), EventKind.REPLY, "cas-main", T0 + 3, b"x" * 40)),
        ("case.close", lambda: store.close(_case_id(1), "cas-main", T0 + 4)),
        ("case.reopen", lambda: store.reopen(_case_id(1), "cas-main-2", T0 + 5)),
        ("case.close", lambda: store.close(_case_id(1), "cas-main-2", T0 + 6)),
        ("case.purged", lambda: store.purge_closed(closed_before=T0 + G, quiet_since=None, now=T0 + G)),
    ]
    for action, step in steps:
        before = store.audit_log()
        step()
        after = store.audit_log()
        assert after[: len(before)] == before, "earlier audit entries changed"
        assert [e.action for e in after[len(before):]] == [action]
        assert after[-1].case_id == _case_id(1)
    columns = [r[1] for r in server.db.conn.execute("PRAGMA table_info(audit)")]
    assert columns == ["id", "at", "actor", "action", "case_id", "seq"]
    for row in server.db.conn.execute("SELECT * FROM audit"):
        assert all(isinstance(v, (int, str)) or v is None for v in row)
        assert all(len(v) <= 32 for v in row if isinstance(v, str))
        assert not any(isinstance(v, str) and marker.decode() in v for v in row)


def test_failed_writes_leave_no_audit_entry(server: Server, staffed_home: StaffedHome) -> None:
    case_id = _enqueue(server, staffed_home, 1)
    server.cases.claim(case_id, "cas-main", T0 + 1)
    before = server.cases.audit_log()
    for failing in (
        lambda: server.cases.claim(case_id, "cas-main-2", T0 + 2),
        lambda: server.cases.reopen(case_id, "cas-main", T0 + 2),
        lambda: server.cases.add_event("nosuchcase000000", EventKind.NOTE, "cas-main", T0 + 2),
    ):
        with pytest.raises(StorageError):
            failing()
    assert server.cases.audit_log() == before


# -- retention ----------------------------------------------------------------------


def _add_outbox(server: Server, case_id: str) -> None:
    with server.db.transaction() as conn:
        conn.execute("INSERT INTO outbox (case_id, created_at, next_attempt_at, envelope) VALUES (?, ?, ?, ?)",
                     (case_id, T0, T0, b"reply"))


def test_purge_removes_old_closed_cases_with_their_events_and_outbox(server: Server, staffed_home: StaffedHome) -> None:
    old = _enqueue(server, staffed_home, 1)
    server.cases.claim(old, "cas-main", T0 + 1)
    server.cases.add_event(old, EventKind.NOTE, "cas-main", T0 + 2, b"n" * 40)
    _add_outbox(server, old)
    server.cases.close(old, "cas-main", T0 + 3)
    recent = _enqueue(server, staffed_home, 2)
    server.cases.close(recent, "cas-main", T0 + 50 * DAY)
    still_open = _enqueue(server, staffed_home, 3)
    claimed = _enqueue(server, staffed_home, 4)
    server.cases.claim(claimed, "cas-main", T0 + 1)

    purged = server.cases.purge_closed(closed_before=T0 + 10 * DAY, quiet_since=None, now=T0 + 60 * DAY)

    assert purged == [old]
    assert {c.id for c in server.cases.list()} == {recent, still_open, claimed}
    with pytest.raises(CaseNotFound):
        server.cases.fetch(old)
    assert server.db.conn.execute("SELECT count(*) FROM case_events WHERE case_id = ?", (old,)).fetchone()[0] == 0
    assert _count(server, "outbox") == 0
    assert [a.action for a in server.cases.audit_log(old)][-1] == "case.purged"


def test_purge_keeps_closed_cases_with_a_recent_note_or_follow_up(server: Server, staffed_home: StaffedHome) -> None:
    quiet, noted, followed, acked = (_enqueue(server, staffed_home, n) for n in range(4))
    server.cases.add_event(noted, EventKind.NOTE, "cas-main", T0 + 20 * DAY, b"n" * 40)
    server.cases.add_event(followed, EventKind.FOLLOW_UP, "cas-main", T0 + 20 * DAY)
    server.cases.add_event(acked, EventKind.ACK, "cas-main", T0 + 20 * DAY)  # an ack is not activity
    for case_id in (quiet, noted, followed, acked):
        server.cases.close(case_id, "cas-main", T0 + DAY)

    purged = server.cases.purge_closed(closed_before=T0 + 10 * DAY, quiet_since=T0 + 15 * DAY, now=T0 + 30 * DAY)

    assert sorted(purged) == sorted([quiet, acked])
    assert {c.id for c in server.cases.list()} == {noted, followed}


def test_purge_with_nothing_to_purge_changes_nothing(server: Server, staffed_home: StaffedHome) -> None:
    _enqueue(server, staffed_home, 1)
    before = server.cases.audit_log()
    assert server.cases.purge_closed(closed_before=T0 + 100 * DAY, quiet_since=None, now=T0) == []
    assert server.cases.audit_log() == before


# -- stats ----------------------------------------------------------------------


def test_stats_count_by_queue_and_status(server: Server, staffed_home: StaffedHome) -> None:
    assert server.cases.stats() == {}
    for n in range(3):
        _enqueue(server, staffed_home, n, "main")
    _enqueue(server, staffed_home, 10, "other")
    server.cases.claim(_case_id(0), "cas-main", T0 + 1)
    server.cases.close(_case_id(1), "cas-main", T0 + 1)
    assert server.cases.stats() == {
        "main": {"new": 1, "claimed": 1, "closed": 1},
        "other": {"new": 1, "claimed": 0, "closed": 0},
    }
