"""The case queue: enqueue, list, fetch, claim, events, close, reopen, purge.

Every method that writes runs in one transaction together with its audit
entry, so after a crash a change is either wholly there or not at all. Rows
hold ciphertext (envelopes) and metadata only; never what a person typed.

Nothing here may help pair a case with a chat: every time is stored coarse
(`Database.coarse`, done here rather than by callers), and rows get random ids,
so neither row order nor id order follows the order in which cases came in. A
case's own history keeps its order through a per-case sequence number (`seq`).
"""

from __future__ import annotations

import builtins
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from model.cases import Case as Case
from model.cases import CaseId as CaseId
from model.cases import CaseTimes as CaseTimes
from model.cases import Delivery as Delivery
from model.cases import Event as Event
from model.cases import EventKind as EventKind
from model.cases import Status as Status
from storage.db import Connection, Database, IntegrityError, fresh_row_id
from storage.errors import CaseNotFound, ClaimConflict, StorageError, TransitionRefused


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which case, and when. Never content."""

    id: int
    at: int
    actor: str
    action: str
    case_id: CaseId | None


_CASE_COLUMNS = "id, queue, status, created_at, updated_at, claimed_by, claimed_at, closed_at, assigned_to"
_EVENT_COLUMNS = "id, case_id, kind, actor, created_at, envelope, delivery, subject"


def _case(row: tuple[Any, ...], with_envelope: bool) -> Case:
    # A row as SQLite returns it: columns carry no static type (an INTEGER column may hold text).
    return Case(
        CaseId(str(row[0])),
        str(row[1]),
        Status(str(row[2])),
        int(row[3]),
        int(row[4]),
        None if row[5] is None else str(row[5]),
        None if row[6] is None else int(row[6]),
        None if row[7] is None else int(row[7]),
        bytes(row[9]) if with_envelope else None,
        None if row[8] is None else str(row[8]),
    )


def _event(r: tuple[Any, ...]) -> Event:
    return Event(int(r[0]), CaseId(str(r[1])), EventKind(r[2]), str(r[3]), int(r[4]),
                 None if r[5] is None else bytes(r[5]), None if r[6] is None else Delivery(r[6]),
                 None if r[7] is None else str(r[7]))


def audit(conn: Connection, *, actor: str, action: str, case_id: str | None, now: int) -> None:
    """Append one audit entry inside the caller's transaction, at a coarse time, under a random id.

    Entries of one case are numbered (`seq`) so that their order survives coarse times;
    entries of different cases within one time bucket have no order.
    """
    conn.execute(
        "INSERT INTO audit (id, at, actor, action, case_id, seq) VALUES (:id, coarse_time(:now), :actor, :action,"
        " :case_id, CASE WHEN :case_id IS NULL THEN NULL"
        " ELSE (SELECT coalesce(max(seq), 0) + 1 FROM audit WHERE case_id = :case_id) END)",
        {"id": fresh_row_id(conn, "audit", "id"), "now": now, "actor": actor, "action": action, "case_id": case_id},
    )


def record_event(conn: Connection, case_id: str, kind: EventKind, actor: str, now: int,
                 envelope: bytes | None = None, action: str | None = None, subject: str | None = None) -> int:
    """Insert one event of a case (random id, coarse time) and its audit entry; returns the event id.

    Its place in the case's history (`seq`) is set by the database (trigger case_events_numbered).
    The audit action is `case.<kind>` unless `action` names another.
    """
    event_id = fresh_row_id(conn, "case_events", "id")
    conn.execute(
        "INSERT INTO case_events (id, case_id, kind, actor, created_at, envelope, subject)"
        " VALUES (?, ?, ?, ?, coarse_time(?), ?, ?)",
        (event_id, case_id, kind.value, actor, now, envelope, subject),
    )
    audit(conn, actor=actor, action=action or f"case.{kind.value}", case_id=case_id, now=now)
    return event_id


class CaseStore:
    """Repository of cases over an open Database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(
        self, *, case_id: CaseId, queue: str, envelope: bytes, ref_hash: bytes | None, now: int, actor: str = "intake"
    ) -> None:
        """Store a new case and its audit entry in one transaction (the WAL is emptied after it)."""
        now = self.db.coarse(now)
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT INTO cases (rowid, id, queue, status, created_at, updated_at, ref_hash, envelope)"
                    " VALUES (?, ?, ?, 'new', ?, ?, ?, ?)",
                    (fresh_row_id(conn, "cases"), case_id, queue, now, now, ref_hash, envelope),
                )
                audit(conn, actor=actor, action="case.created", case_id=case_id, now=now)
        except IntegrityError as err:
            raise StorageError("a case with this id or reference already exists") from err

    def list(
        self,
        *,
        queues: Collection[str] | None = None,
        statuses: Collection[Status] | None = None,
        with_envelopes: bool = False,
        limit: int | None = None,
        after: tuple[int, str] | None = None,
    ) -> builtins.list[Case]:
        """Cases filtered by queue and status, oldest first (by coarse time, then case id: no finer order exists).

        Each carries its follow-up count; with envelopes, also its sealed tag and untag events.
        `after` (created_at, id) continues a listing where an earlier page ended (keyset paging:
        cases that arrive in between are neither skipped nor repeated).
        """
        where: builtins.list[str] = []
        params: builtins.list[object] = []
        if queues is not None:
            where.append(f"queue IN ({','.join('?' * len(queues))})")
            params.extend(queues)
        if statuses is not None:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(s.value for s in statuses)
        if after is not None:
            where.append("(created_at, id) > (?, ?)")
            params.extend(after)
        # In list order from the index (no sort, no envelope read but those of the page); SQLite
        # would otherwise pick cases_by_queue and sort every matching row, envelopes and all.
        sql = f"SELECT {_CASE_COLUMNS}, {'envelope' if with_envelopes else 'NULL'} FROM cases INDEXED BY cases_in_order"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        cases = [_case(row, with_envelopes) for row in self.db.conn.execute(sql, params)]
        return self._with_activity(cases, with_envelopes)

    def _with_activity(self, cases: builtins.list[Case], with_tags: bool) -> builtins.list[Case]:
        """The cases with their follow-up counts (and tag events): two queries for the whole list."""
        if not cases:
            return cases
        wanted = {c.id for c in cases}
        conn = self.db.conn
        followups = {str(r[0]): int(r[1]) for r in conn.execute(
            "SELECT case_id, count(*) FROM case_events WHERE kind = 'follow_up' GROUP BY case_id")}
        tags: dict[str, builtins.list[Event]] = {}
        if with_tags:
            for row in conn.execute(f"SELECT {_EVENT_COLUMNS} FROM case_events WHERE kind IN ('tag', 'untag')"
                                    " ORDER BY case_id, seq"):
                if str(row[1]) in wanted:
                    tags.setdefault(str(row[1]), []).append(_event(row))
        return [replace(c, followups=followups.get(c.id, 0), tag_events=tuple(tags.get(c.id, ())))
                if c.id in followups or c.id in tags else c for c in cases]

    def count(self, *, queues: Collection[str], statuses: Collection[Status] | None = None,
              after: tuple[int, str] | None = None) -> int:
        """How many cases list() would return with these filters and no limit."""
        if not queues:
            return 0
        sql = f"SELECT count(*) FROM cases INDEXED BY cases_in_order WHERE queue IN ({','.join('?' * len(queues))})"
        params: builtins.list[object] = [*queues]
        if statuses is not None:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            params.extend(s.value for s in statuses)
        if after is not None:
            sql += " AND (created_at, id) > (?, ?)"
            params.extend(after)
        return int(self.db.conn.execute(sql, params).fetchone()[0])

    def fetch(self, case_id: str) -> Case:
        """One case with its envelope; raises CaseNotFound."""
        row = self.db.conn.execute(f"SELECT {_CASE_COLUMNS}, envelope FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise CaseNotFound(case_id)
        case = _case(row, True)
        count = self.db.conn.execute("SELECT count(*) FROM case_events WHERE case_id = ? AND kind = 'follow_up'",
                                     (case_id,)).fetchone()[0]
        return replace(case, followups=int(count)) if count else case

    def resolve(self, prefix: str) -> CaseId:
        """The one case id starting with `prefix` (at least 6 characters); raises CaseNotFound."""
        if len(prefix) < 6 or not prefix.isalnum():
            raise CaseNotFound(prefix)
        rows = self.db.conn.execute(
            "SELECT id FROM cases WHERE id >= ? AND id < ? LIMIT 2", (prefix, prefix + "\U0010ffff")
        ).fetchall()
        if len(rows) != 1:
            raise CaseNotFound(prefix)
        return CaseId(str(rows[0][0]))

    def find_by_reference(self, ref_hash: bytes) -> CaseId | None:
        """The case whose person-held reference hashes to `ref_hash`."""
        row = self.db.conn.execute("SELECT id FROM cases WHERE ref_hash = ?", (ref_hash,)).fetchone()
        return None if row is None else CaseId(str(row[0]))

    def events(self, case_id: str) -> builtins.list[Event]:
        """Events of a case, in the order they happened."""
        rows = self.db.conn.execute(f"SELECT {_EVENT_COLUMNS} FROM case_events WHERE case_id = ? ORDER BY seq",
                                    (case_id,))
        return [_event(r) for r in rows]

    def claim(self, case_id: str, actor: str, now: int) -> None:
        """Claim a new case; exactly one of two concurrent claims wins, the other gets ClaimConflict."""
        now = self.db.coarse(now)
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE cases SET status = 'claimed', claimed_by = ?, claimed_at = ?, updated_at = ?"
                " WHERE id = ? AND status = 'new'",
                (actor, now, now, case_id),
            )
            if cur.rowcount != 1:
                self._require(conn, case_id)
                raise ClaimConflict("the case is already claimed or closed")
            self._event(conn, case_id, EventKind.CLAIM, actor, now, None)

    def take_over(self, case_id: str, actor: str, now: int) -> str:
        """Hand a claimed case to `actor` (a caseworker of its queue: the caller checks); returns the previous owner.

        Only a claimed case owned by someone else can be taken over: a new one is claimed, a
        closed one reopened first. Recorded as a claim event by the new owner (what every
        client already shows) with the audit action `case.take_over`, in one transaction.
        Raises CaseNotFound or TransitionRefused.
        """
        now = self.db.coarse(now)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT status, claimed_by FROM cases WHERE id = ?", (case_id,)).fetchone()
            if row is None:
                raise CaseNotFound(case_id)
            status, owner = Status(row[0]), None if row[1] is None else str(row[1])
            if status is Status.NEW:
                raise TransitionRefused("the case is not claimed: claim it instead")
            if status is Status.CLOSED:
                raise TransitionRefused("cannot take over a closed case: reopen it first")
            if owner == actor:
                raise TransitionRefused("the case is already yours")
            conn.execute("UPDATE cases SET claimed_by = ?, claimed_at = ?, updated_at = ? WHERE id = ?"
                         " AND status = 'claimed'", (actor, now, now, case_id))
            record_event(conn, case_id, EventKind.CLAIM, actor, now, None, action="case.take_over")
        return owner or ""

    def assign(self, case_id: str, actor: str, assignee: str, now: int) -> None:
        """Assign an open case to `assignee` (an active caseworker of its queue: the caller checks), with its event.

        Raises CaseNotFound, or TransitionRefused for a closed case or one already assigned to them.
        """
        now = self.db.coarse(now)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT status, assigned_to FROM cases WHERE id = ?", (case_id,)).fetchone()
            if row is None:
                raise CaseNotFound(case_id)
            if Status(row[0]) is Status.CLOSED:
                raise TransitionRefused("cannot assign a closed case: reopen it first")
            if row[1] == assignee:
                raise TransitionRefused(f"the case is already assigned to {assignee}")
            conn.execute("UPDATE cases SET assigned_to = ?, updated_at = ? WHERE id = ?", (assignee, now, case_id))
            record_event(conn, case_id, EventKind.ASSIGN, actor, now, None, subject=assignee)

    def add_event(self, case_id: str, kind: EventKind, actor: str, now: int, envelope: bytes | None = None) -> int:
        """Record a note, follow-up, reply, tag, untag or acknowledgement; returns the event id."""
        if kind in (EventKind.CLAIM, EventKind.CLOSE, EventKind.REOPEN, EventKind.ASSIGN):
            raise TransitionRefused(f"use the {kind.value} operation for a {kind.value}")
        now = self.db.coarse(now)
        with self.db.transaction() as conn:
            self._require(conn, case_id)
            conn.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (now, case_id))
            return self._event(conn, case_id, kind, actor, now, envelope)

    def close(self, case_id: str, actor: str, now: int) -> None:
        """Close a case that is new or claimed."""
        now = self.db.coarse(now)
        self._transition(case_id, actor, now, EventKind.CLOSE, (Status.NEW, Status.CLAIMED),
                         "status = 'closed', closed_at = ?", (now,))

    def reopen(self, case_id: str, actor: str, now: int) -> None:
        """Reopen a closed case: it returns to 'claimed' if it had an owner, else to 'new'."""
        now = self.db.coarse(now)
        self._transition(case_id, actor, now, EventKind.REOPEN, (Status.CLOSED,),
                         "status = CASE WHEN claimed_by IS NULL THEN 'new' ELSE 'claimed' END, closed_at = NULL", ())

    def _transition(
        self, case_id: str, actor: str, now: int, kind: EventKind, allowed: tuple[Status, ...], assignment: str,
        params: tuple[object, ...],
    ) -> None:
        with self.db.transaction() as conn:
            status = self._require(conn, case_id)
            if status not in allowed:
                raise TransitionRefused(f"cannot {kind.value} a case that is {status.value}")
            conn.execute(f"UPDATE cases SET {assignment}, updated_at = ? WHERE id = ?", (*params, now, case_id))
            self._event(conn, case_id, kind, actor, now, None)

    def purge_closed(
        self, *, closed_before: int, quiet_since: int | None, now: int, actor: str = "retention"
    ) -> builtins.list[CaseId]:
        """Delete closed cases closed before `closed_before`, except those with an event since `quiet_since`.

        Stored times are coarse, so both bounds are too: a case closed, or active, in the same
        time bucket as a bound is kept for a later run rather than purged early.
        """
        closed_before = self.db.coarse(closed_before)
        quiet_since = None if quiet_since is None else self.db.coarse(quiet_since)
        with self.db.transaction() as conn:
            sql = "SELECT id FROM cases c WHERE status = 'closed' AND closed_at < ?"
            params: builtins.list[object] = [closed_before]
            if quiet_since is not None:
                sql += (" AND NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id"
                        " AND e.kind IN ('note', 'follow_up', 'reply') AND e.created_at >= ?)")
                params.append(quiet_since)
            ids = [CaseId(str(r[0])) for r in conn.execute(sql, params).fetchall()]
            for case_id in ids:
                conn.execute("DELETE FROM cases WHERE id = ?", (case_id,))
                audit(conn, actor=actor, action="case.purged", case_id=case_id, now=now)
        return ids

    def stats(self) -> dict[str, dict[str, int]]:
        """Counts by queue and status, from metadata only."""
        result: dict[str, dict[str, int]] = {}
        for queue, status, count in self.db.conn.execute(
            "SELECT queue, status, count(*) FROM cases GROUP BY queue, status ORDER BY queue"
        ):
            result.setdefault(str(queue), {s.value: 0 for s in Status})[str(status)] = int(count)
        return result

    def times(self, *, queues: Collection[str], since: int) -> builtins.list[CaseTimes]:
        """Cases of `queues` created at or after `since`, with their first claim (or assignment) and first reply.

        Metadata only (statuses, queues, coarse times, event kinds): nothing is decrypted, and no
        urgency, which is not metadata (docs/staff-api.md, Statistics).
        """
        if not queues:
            return []
        rows = self.db.conn.execute(
            "SELECT c.id, c.queue, c.status, c.created_at,"
            " (SELECT min(e.created_at) FROM case_events e WHERE e.case_id = c.id AND e.kind IN ('claim', 'assign')),"
            " (SELECT min(e.created_at) FROM case_events e WHERE e.case_id = c.id AND e.kind = 'reply')"
            f" FROM cases c WHERE c.queue IN ({','.join('?' * len(queues))}) AND c.created_at >= ?"
            " ORDER BY c.created_at, c.id", (*queues, self.db.coarse(since)))
        return [CaseTimes(CaseId(str(r[0])), str(r[1]), Status(str(r[2])), int(r[3]),
                          None if r[4] is None else int(r[4]), None if r[5] is None else int(r[5])) for r in rows]

    def audit_log(self, case_id: str | None = None) -> builtins.list[AuditEntry]:
        """The audit log, optionally for one case: by coarse time, then by case and each case's own order.

        Entries of different cases within one time bucket have no recorded order (the price of
        not letting a seized database tell in which order cases and chats came and went).
        """
        sql = "SELECT id, at, actor, action, case_id FROM audit"
        params: tuple[object, ...] = ()
        if case_id is not None:
            sql += " WHERE case_id = ?"
            params = (case_id,)
        return [
            AuditEntry(int(r[0]), int(r[1]), str(r[2]), str(r[3]), None if r[4] is None else CaseId(str(r[4])))
            for r in self.db.conn.execute(sql + " ORDER BY at, case_id, seq, id", params)
        ]

    @staticmethod
    def _require(conn: Connection, case_id: str) -> Status:
        row = conn.execute("SELECT status FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise CaseNotFound(case_id)
        return Status(row[0])

    @staticmethod
    def _event(conn: Connection, case_id: str, kind: EventKind, actor: str, now: int, envelope: bytes | None) -> int:
        return record_event(conn, case_id, kind, actor, now, envelope)
