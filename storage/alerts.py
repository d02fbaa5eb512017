"""Alerting state: each case's escalation and acknowledgement, and every message owed to a volunteer.

`case_alerts` holds one row per alerted case: the alert-safe answers sealed to
the bot's own key (erased once the case is taken), the round of escalation and
its next deadline, and who pressed "I'm on it". `volunteer_messages` holds one
row per message owed to a volunteer (alert, reminder, digest, notice) until
Telegram accepted it, so a failure or a restart never loses one silently; once
a case is taken the same rows record which sent alerts still need editing.
Nothing a person typed is stored here.

Like every case-side store, this one keeps times coarse and ids random (see
storage/cases.py): an alert goes out within moments of its case, so an exact
time here would be the case's exact time. Deadlines (the next reminder, a
retry) are counted from the end of the current time bucket (`Database.deadline`):
never early, up to `time_granularity_seconds` late, and no finer than that.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from storage.cases import CaseId, EventKind, audit, record_event
from storage.db import Connection, Database, fresh_row_id
from storage.volunteers import (
    BLOCKED,
    REMOVED,
    VolunteerId,
    VolunteerNotFound,
    VolunteerStore,
)


class MessageKind(StrEnum):
    """What a volunteer message is."""

    ALERT = "alert"
    REMINDER = "reminder"
    DIGEST = "digest"
    NOTICE = "notice"


class Outcome(StrEnum):
    """What a sent alert must say once its case is taken."""

    MINE = "mine"
    TAKEN = "taken"


class AckResult(StrEnum):
    """What pressing "I'm on it" did."""

    WON = "won"            # this volunteer is the one (pressing again says the same)
    TAKEN = "taken"        # someone else acknowledged it, or a caseworker claimed or closed it
    GONE = "gone"          # no such alerted case (purged, never alerted, or made-up data)
    REFUSED = "refused"    # not an active volunteer alerted about it or in its circle: nothing changed


@dataclass(frozen=True)
class Outgoing:
    """A message to send, or (when `outcome` is set) a sent alert to edit."""

    id: int
    volunteer_id: VolunteerId
    kind: MessageKind
    case_id: CaseId | None
    queue: str | None
    answers: bytes | None
    round: int
    payload: dict[str, object]
    attempts: int
    message_id: int | None
    outcome: Outcome | None


@dataclass(frozen=True)
class OpenCase:
    """An alerted case nobody has taken yet."""

    case_id: CaseId
    queue: str
    round: int
    answers: bytes | None


@dataclass(frozen=True)
class DigestCounts:
    """A queue's day, from metadata only."""

    new: int
    claimed: int
    closed: int
    oldest_unclaimed_at: int | None


@dataclass
class Results:
    """What one round of sending did; written back in one transaction."""

    sent: list[tuple[int, int]] = field(default_factory=list)      # (row id, Telegram message id)
    edited: list[int] = field(default_factory=list)                # rows whose final text is shown (or never can be)
    held: list[tuple[int, int]] = field(default_factory=list)      # (row id, not before): end of quiet hours
    retry: list[tuple[int, int]] = field(default_factory=list)     # (row id, seconds to wait): a transient failure
    later: list[tuple[int, int]] = field(default_factory=list)     # (row id, seconds to wait): flood control
    failed: list[tuple[int, str]] = field(default_factory=list)    # (row id, reason): given up
    blocked: set[VolunteerId] = field(default_factory=set)         # volunteers who blocked the bot

    def __len__(self) -> int:
        return (len(self.sent) + len(self.edited) + len(self.held) + len(self.retry) + len(self.later)
                + len(self.failed) + len(self.blocked))


# Both halves of the union use an index (volunteer_messages_due, volunteer_messages_to_edit), and
# CROSS JOIN keeps SQLite from driving the query from the whole table instead. Lower rounds go
# first, so that a case's alert held by quiet hours never comes after its reminder; ids are
# random, so within one round and time the order carries no meaning.
# New messages go to active volunteers only; edits to every volunteer still holding a copy (paused
# and removed ones included: a copy must not keep its button once the case is taken), except one
# who blocked the bot (Telegram refuses every edit in their chat).
_DUE = (
    "SELECT m.id, m.volunteer_id, m.kind, m.case_id, c.queue, a.answers, m.round, m.payload, m.attempts,"
    " m.message_id, m.outcome FROM ("
    "   SELECT id, 0 AS edit FROM volunteer_messages WHERE state = 'pending' AND next_attempt_at <= :now"
    "   UNION ALL SELECT id, 1 AS edit FROM volunteer_messages INDEXED BY volunteer_messages_to_edit"
    "   WHERE state = 'sent' AND outcome IS NOT NULL AND edited = 0 AND next_attempt_at <= :now) d"
    " CROSS JOIN volunteer_messages m ON m.id = d.id"
    " JOIN volunteers v ON v.id = m.volunteer_id"
    " LEFT JOIN cases c ON c.id = m.case_id"
    " LEFT JOIN case_alerts a ON a.case_id = m.case_id"
    " WHERE d.edit = 1 AND m.message_id IS NOT NULL AND v.inactive_reason IS NOT :blocked"
    "   OR d.edit = 0 AND v.active = 1 AND"
    "   (m.case_id IS NULL OR (c.status = 'new' AND a.finished_at IS NULL AND a.acked_by IS NULL))"
    " ORDER BY m.round, m.next_attempt_at, m.id LIMIT :limit"
)


class AlertStore:
    """Repository of alerting state."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- a case enters, escalates, is taken ------------------------------------------------------

    def open_case(self, case_id: str, answers: bytes | None, recipients: Iterable[VolunteerId],
                  remind_after: int | None, now: int) -> bool:
        """Start alerting a case: its state and round 0's alerts, atomically. False if already alerted.

        `remind_after`: seconds until the next round if nobody reacts (None: no further round).
        """
        next_at = None if remind_after is None else self.db.deadline(now, remind_after)
        now = self.db.coarse(now)
        with self.db.transaction() as conn:
            cur = conn.execute("INSERT INTO case_alerts (rowid, case_id, answers, round, next_at, created_at)"
                               " VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT (case_id) DO NOTHING",
                               (fresh_row_id(conn, "case_alerts"), case_id, answers, next_at, now))
            if cur.rowcount != 1:
                return False
            self._owe(conn, recipients, MessageKind.ALERT, case_id, 0, None, now)
            audit(conn, actor="bot", action="case.alerted", case_id=case_id, now=now)
        return True

    def overdue(self, now: int) -> list[OpenCase]:
        """Cases still waiting whose escalation deadline has passed (missed ones included)."""
        rows = self.db.conn.execute(
            "SELECT a.case_id, c.queue, a.round, a.answers FROM case_alerts a JOIN cases c ON c.id = a.case_id"
            " WHERE a.finished_at IS NULL AND a.next_at IS NOT NULL AND a.next_at <= ? AND c.status = 'new'"
            " ORDER BY a.next_at", (now,))
        return [OpenCase(CaseId(str(r[0])), str(r[1]), int(r[2]), None if r[3] is None else bytes(r[3])) for r in rows]

    def escalate(self, case_id: str, round_: int, recipients: Iterable[VolunteerId], remind_after: int | None,
                 now: int) -> bool:
        """Move a case to `round_` and owe its reminders; False if it moved on meanwhile.

        `remind_after`: seconds until the round after this one (None: this is the last).
        """
        next_at = None if remind_after is None else self.db.deadline(now, remind_after)
        now = self.db.coarse(now)
        with self.db.transaction() as conn:
            cur = conn.execute("UPDATE case_alerts SET round = ?, next_at = ? WHERE case_id = ? AND round = ?"
                               " AND finished_at IS NULL", (round_, next_at, case_id, round_ - 1))
            if cur.rowcount != 1:
                return False
            self._owe(conn, recipients, MessageKind.REMINDER, case_id, round_, None, now)
            audit(conn, actor="bot", action="case.escalated", case_id=case_id, now=now)
        return True

    def stop_escalating(self, case_id: str) -> None:
        """No more rounds for this case (the last one was sent)."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE case_alerts SET next_at = NULL WHERE case_id = ?", (case_id,))

    def acknowledge(self, case_id: str, volunteer_id: VolunteerId, now: int, *, everyone: bool) -> AckResult:
        """ "I'm on it": the first volunteer wins, atomically; the case's event and audit entry in the same transaction.

        Only an active volunteer who was sent an alert of this case (and is still in its queue, or
        in its circle), or who is in the circle its current round reaches (`VolunteerStore.circle`;
        `everyone`: `escalate_to = "all"`), may acknowledge it. Callback data is chosen by the
        client, so anyone else's press is REFUSED and changes nothing. The check is made in the
        same transaction as the acknowledgement: a volunteer removed meanwhile cannot win.
        """
        now = self.db.coarse(now)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT a.acked_by, c.queue, a.round FROM case_alerts a JOIN cases c ON c.id = a.case_id"
                               " WHERE a.case_id = ?", (case_id,)).fetchone()
            if row is None:
                return AckResult.GONE
            if not self._may_acknowledge(conn, case_id, str(row[1]), int(row[2]), volunteer_id, everyone):
                return AckResult.REFUSED
            if row[0] == volunteer_id:
                return AckResult.WON
            cur = conn.execute(
                "UPDATE case_alerts SET acked_by = ?, acked_at = ?, next_at = NULL, finished_at = ?, answers = NULL"
                " WHERE case_id = ? AND acked_by IS NULL AND finished_at IS NULL"
                " AND EXISTS (SELECT 1 FROM cases WHERE id = ? AND status = 'new')",
                (volunteer_id, now, now, case_id, case_id))
            if cur.rowcount != 1:
                return AckResult.TAKEN
            conn.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (now, case_id))
            record_event(conn, case_id, EventKind.ACK, f"volunteer:{volunteer_id}", now)
            self._taken(conn, case_id, now, winner=volunteer_id)
        return AckResult.WON

    def finish_taken(self, now: int) -> list[CaseId]:
        """Stop alerting cases a caseworker claimed or closed (or that were purged); their alerts get edited."""
        now = self.db.coarse(now)
        with self.db.transaction() as conn:
            ids = [CaseId(str(r[0])) for r in conn.execute(
                "SELECT a.case_id FROM case_alerts a JOIN cases c ON c.id = a.case_id"
                " WHERE a.finished_at IS NULL AND c.status != 'new'")]
            for case_id in ids:
                conn.execute("UPDATE case_alerts SET finished_at = ?, next_at = NULL, answers = NULL"
                             " WHERE case_id = ?", (now, case_id))
                self._taken(conn, case_id, now, winner=None)
        return ids

    def is_copy(self, case_id: str, volunteer_id: VolunteerId, message_id: int) -> bool:
        """Whether this message is an alert or reminder of this case sent to this volunteer (only those are edited)."""
        return self.db.conn.execute(
            "SELECT 1 FROM volunteer_messages WHERE case_id = ? AND volunteer_id = ? AND message_id = ?"
            " AND state = 'sent'", (case_id, volunteer_id, message_id)).fetchone() is not None

    def mark_edited(self, case_id: str, volunteer_id: VolunteerId, message_id: int) -> None:
        """The handler already showed the final text on this message."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE volunteer_messages SET edited = 1 WHERE case_id = ? AND volunteer_id = ?"
                         " AND message_id = ? AND outcome IS NOT NULL", (case_id, volunteer_id, message_id))

    def unalerted(self, created_since: int) -> list[tuple[CaseId, str]]:
        """New cases that entered a queue without an alert (e.g. through `waystation submit`)."""
        return [(CaseId(str(r[0])), str(r[1])) for r in self.db.conn.execute(
            "SELECT c.id, c.queue FROM cases c WHERE c.status = 'new' AND c.created_at >= ?"
            " AND NOT EXISTS (SELECT 1 FROM case_alerts a WHERE a.case_id = c.id) ORDER BY c.created_at",
            (created_since,))]

    # -- digests and notices -------------------------------------------------------------------

    def owe(self, recipients: Iterable[VolunteerId], kind: MessageKind, payload: dict[str, object], now: int) -> None:
        """Queue a digest or notice (counts only) for each recipient."""
        now = self.db.coarse(now)
        with self.db.transaction() as conn:
            self._owe(conn, recipients, kind, None, 0, payload, now)

    def digest_counts(self, queue: str, since: int) -> DigestCounts:
        """New, claimed and closed since `since`, and when the oldest still-unclaimed case came in."""
        row = self.db.conn.execute(
            "SELECT coalesce(sum(created_at >= ?), 0), coalesce(sum(claimed_at >= ?), 0),"
            " coalesce(sum(closed_at >= ?), 0), min(CASE WHEN status = 'new' THEN created_at END)"
            " FROM cases WHERE queue = ?", (since, since, since, queue)).fetchone()
        return DigestCounts(int(row[0]), int(row[1]), int(row[2]), None if row[3] is None else int(row[3]))

    # -- sending -------------------------------------------------------------------------------

    def due(self, now: int, limit: int = 1000) -> list[Outgoing]:
        """Messages to send (to active volunteers) and alerts to edit (for anyone holding one) now, oldest first.

        An alert or reminder of a case that is no longer waiting is never due: reminders stop
        the moment a case is acknowledged, claimed or closed, even before the check job notices.
        """
        return [_outgoing(r) for r in self.db.conn.execute(_DUE, {"now": now, "limit": limit, "blocked": BLOCKED})]

    def record(self, results: Results, now: int) -> None:
        """Write back one round of sending, in one transaction.

        Quiet hours hold a message until their end (a time of day, not of any case); retries and
        flood control wait their seconds from the end of the current time bucket (`Database.deadline`).
        """
        with self.db.transaction() as conn:
            conn.executemany("UPDATE volunteer_messages SET state = 'sent', message_id = ?, attempts = attempts + 1"
                             " WHERE id = ?", [(mid, rid) for rid, mid in results.sent])
            conn.executemany("UPDATE volunteer_messages SET edited = 1 WHERE id = ?", [(r,) for r in results.edited])
            conn.executemany("UPDATE volunteer_messages SET next_attempt_at = ? WHERE id = ?",
                             [(at, rid) for rid, at in results.held]
                             + [(self.db.deadline(now, wait), rid) for rid, wait in results.later])
            conn.executemany("UPDATE volunteer_messages SET next_attempt_at = ?, attempts = attempts + 1 WHERE id = ?",
                             [(self.db.deadline(now, wait), rid) for rid, wait in results.retry])
            for row_id, reason in results.failed:
                found = conn.execute("UPDATE volunteer_messages SET state = CASE WHEN state = 'pending' THEN 'failed'"
                                     " ELSE state END, edited = 1 WHERE id = ? RETURNING case_id", (row_id,)).fetchone()
                audit(conn, actor="bot", action=f"alert.undeliverable.{reason}",
                      case_id=None if found is None else found[0], now=now)
            for volunteer_id in results.blocked:
                # A removed volunteer stays removed (and is erased once their chat is clear).
                changed = conn.execute("UPDATE volunteers SET active = 0, inactive_reason = ? WHERE id = ?"
                                       " AND inactive_reason IS NOT ?", (BLOCKED, volunteer_id, REMOVED)).rowcount
                conn.execute("UPDATE volunteer_messages SET state = 'cancelled' WHERE volunteer_id = ?"
                             " AND state = 'pending'", (volunteer_id,))
                # Telegram refuses every edit in their chat: stop trying.
                conn.execute("UPDATE volunteer_messages SET edited = 1 WHERE volunteer_id = ? AND state = 'sent'"
                             " AND outcome IS NOT NULL", (volunteer_id,))
                if changed:
                    audit(conn, actor="bot", action="volunteer.blocked", case_id=None, now=now)

    def counts(self) -> dict[str, int]:
        """Messages by state, for `volunteers list` and health checks."""
        return {str(state): int(n) for state, n in self.db.conn.execute(
            "SELECT state, count(*) FROM volunteer_messages GROUP BY state")}

    def prune(self, before: int) -> int:
        """Forget finished digests and notices older than `before` (case alerts go with their case)."""
        with self.db.transaction() as conn:
            return int(conn.execute("DELETE FROM volunteer_messages WHERE case_id IS NULL AND state != 'pending'"
                                    " AND created_at < ?", (before,)).rowcount)

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _owe(conn: Connection, recipients: Iterable[VolunteerId], kind: MessageKind, case_id: str | None,
             round_: int, payload: dict[str, object] | None, now: int) -> None:
        """One pending row per recipient (`now` already coarse: due at once), each under a fresh random id."""
        text = None if payload is None else json.dumps(payload, sort_keys=True)
        for volunteer_id in dict.fromkeys(recipients):
            # One at a time, so that each id is checked against the ones just inserted: OR IGNORE
            # is for a message already owed, never for an id clash.
            conn.execute(
                "INSERT OR IGNORE INTO volunteer_messages (id, volunteer_id, kind, case_id, round, payload, state,"
                " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (fresh_row_id(conn, "volunteer_messages", "id"), volunteer_id, kind.value, case_id, round_, text,
                 now, now))

    def _may_acknowledge(self, conn: Connection, case_id: str, queue: str, round_: int, volunteer_id: VolunteerId,
                         everyone: bool) -> bool:
        """Active, and alerted about the case (still of its queue, or in its circle) or in its current circle."""
        volunteers = VolunteerStore(self.db)  # same connection: read inside this transaction
        try:
            volunteer = volunteers.get(volunteer_id)
        except VolunteerNotFound:
            return False
        if not volunteer.active:
            return False
        in_circle = any(v.id == volunteer_id for v in volunteers.circle(queue, round_, everyone))
        if in_circle or queue not in volunteer.queues:
            return in_circle
        return conn.execute("SELECT 1 FROM volunteer_messages WHERE case_id = ? AND volunteer_id = ? AND state = 'sent'"
                            " AND kind IN ('alert', 'reminder')", (case_id, volunteer_id)).fetchone() is not None

    @staticmethod
    def _taken(conn: Connection, case_id: str, now: int, winner: VolunteerId | None) -> None:
        """Unsent alerts of the case are cancelled; sent ones are marked for their final text."""
        conn.execute("UPDATE volunteer_messages SET state = 'cancelled' WHERE case_id = ? AND state = 'pending'",
                     (case_id,))
        conn.execute("UPDATE volunteer_messages SET outcome = CASE WHEN volunteer_id = ? THEN 'mine' ELSE 'taken' END,"
                     " next_attempt_at = ? WHERE case_id = ? AND state = 'sent' AND outcome IS NULL",
                     (winner, now, case_id))


def _outgoing(r: Sequence[object]) -> Outgoing:
    payload = json.loads(str(r[7])) if r[7] is not None else {}
    return Outgoing(
        int(r[0]), VolunteerId(int(r[1])), MessageKind(str(r[2])),  # type: ignore[call-overload]
        None if r[3] is None else CaseId(str(r[3])), None if r[4] is None else str(r[4]),
        None if r[5] is None else bytes(r[5]), int(r[6]), payload if isinstance(payload, dict) else {},  # type: ignore[call-overload]
        int(r[8]), None if r[9] is None else int(r[9]), None if r[10] is None else Outcome(str(r[10])),  # type: ignore[call-overload]
    )
