"""The reply outbox: caseworkers' replies, waiting until the person reads them by their reference.

A row holds two envelopes. `reply` is the text sealed to the person's reply key, which is
derived from their case reference: no key on the server opens it. `delivery` is sealed to the
bot (the reply handle, its tag and the language) so that the bot can send a neutral notice;
it is erased in the same transaction that records the notice, or when the chat is refused,
and the WAL is then checkpointed so no old frame keeps it. The row goes when the person read
the reply, when the bot refused it, or when it expired. The caseworkers' copy in case_events
carries the reply's state (storage.cases.Delivery). Every time written here is coarse; the next
attempt after a failed notice is counted from the end of the time bucket (Database.deadline) and
goes back to the coarse creation time as soon as the notice has gone out (or was given up).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.cases import CaseId, Delivery, EventKind, audit, record_event
from storage.db import Connection, Database, fresh_row_id
from storage.errors import CaseNotFound, TransitionRefused

_COLUMNS = "id, case_id, event_id, seq, created_at, attempts, next_attempt_at, notified_at, delivery, envelope"


@dataclass(frozen=True)
class OutboxItem:
    """One reply waiting for the person; `delivery` is None once the notice went out (or could not)."""

    id: int
    case_id: CaseId | None
    event_id: int | None
    seq: int
    created_at: int
    attempts: int
    next_attempt_at: int
    notified_at: int | None
    delivery: bytes | None
    reply: bytes


class OutboxStore:
    """Repository of the outbox; each change is one transaction with its audit entry and the reply's state."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def queue_reply(self, case_id: str, actor: str, delivery: bytes, reply: bytes, copy: bytes, now: int) -> int:
        """Put a reply in the outbox and the caseworkers' copy (state queued) in the history, atomically.

        `delivery`: the envelope for the bot (kind DELIVERY); `reply`: the text sealed to the
        person's reply key (kind REPLY); `copy`: the text sealed to the queue's caseworkers.
        Returns the outbox row id.
        """
        t = self.db.coarse(now)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT status FROM cases WHERE id = ?", (case_id,)).fetchone()
            if row is None:
                raise CaseNotFound(case_id)
            if row[0] == "closed":
                raise TransitionRefused("cannot reply to a closed case: reopen it first")
            event_id = record_event(conn, case_id, EventKind.REPLY, actor, t, copy)  # audited as case.reply
            conn.execute("UPDATE case_events SET delivery = ? WHERE id = ?", (Delivery.QUEUED.value, event_id))
            (seq,) = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox WHERE case_id = ?", (case_id,)
            ).fetchone()
            item_id = fresh_row_id(conn, "outbox", "id")
            conn.execute(
                "INSERT INTO outbox (id, case_id, event_id, seq, created_at, next_attempt_at, delivery, envelope)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (item_id, case_id, event_id, seq, t, t, delivery, reply),
            )
            conn.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (t, case_id))
        return item_id

    def due(self, now: int, limit: int = 50) -> list[OutboxItem]:
        """Replies whose notice has not gone out yet and whose next attempt is due."""
        return self._select("WHERE delivery IS NOT NULL AND next_attempt_at <= ? ORDER BY created_at, seq LIMIT ?",
                            (now, limit))

    def waiting(self, case_id: str) -> list[OutboxItem]:
        """Every reply of a case not yet read, in the order they were written."""
        return self._select("WHERE case_id = ? ORDER BY seq", (case_id,))

    def all(self) -> list[OutboxItem]:
        """Every row (for tests, doctor and metrics)."""
        return self._select("ORDER BY case_id, seq", ())

    def retry_later(self, item_id: int, now: int, wait: int) -> None:
        """A notice could not be sent: count the attempt and try again `wait` seconds from the end of `now`'s bucket."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
                         (self.db.deadline(now, wait), item_id))

    def notified(self, item_id: int, now: int) -> bool:
        """Telegram took the notice: erase the delivery envelope and record the state, in one transaction.

        Returns False if the row was gone or already past its notice (the person was faster).
        """
        return self._end_delivery(item_id, now, Delivery.NOTIFIED)

    def undeliverable(self, item_id: int, now: int) -> bool:
        """Telegram refused the chat (or kept failing): erase the delivery envelope; the reply stays readable."""
        return self._end_delivery(item_id, now, Delivery.UNDELIVERABLE)

    def read(self, item_id: int, now: int) -> bool:
        """Telegram took the reply the person asked for with their reference: erase the row."""
        return self._erase(item_id, now, Delivery.READ)

    def reject(self, item_id: int, now: int) -> bool:
        """The bot refused the row (signature, signer, binding, handle): erase it."""
        return self._erase(item_id, now, Delivery.REJECTED)

    def expire(self, now: int, older_than_seconds: int) -> int:
        """Erase every reply written more than `older_than_seconds` ago and not read; returns how many."""
        cutoff = now - older_than_seconds
        ids = [int(r[0]) for r in self.db.conn.execute("SELECT id FROM outbox WHERE created_at < ?", (cutoff,))]
        erased = sum(self._erase(item_id, now, Delivery.EXPIRED, forget=False) for item_id in ids)
        if erased:
            self.db.forget_history()
        return erased

    def _end_delivery(self, item_id: int, now: int, state: Delivery) -> bool:
        t = self.db.coarse(now)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT case_id, event_id FROM outbox WHERE id = ? AND delivery IS NOT NULL",
                               (item_id,)).fetchone()
            if row is None:
                return False
            # The notice time is coarse and next_attempt_at goes back to the (coarse) creation time,
            # so no outbox time can be matched against the notice's pending deletion.
            conn.execute("UPDATE outbox SET delivery = NULL, notified_at = ?, next_attempt_at = created_at,"
                         " attempts = 0 WHERE id = ?", (t if state is Delivery.NOTIFIED else None, item_id))
            _record(conn, row[0], row[1], state, t)
        self.db.forget_history()  # the WAL still held the page with the delivery envelope
        return True

    def _erase(self, item_id: int, now: int, state: Delivery, *, forget: bool = True) -> bool:
        t = self.db.coarse(now)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT case_id, event_id FROM outbox WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM outbox WHERE id = ?", (item_id,))  # secure_delete overwrites the row
            _record(conn, row[0], row[1], state, t)
        if forget:
            self.db.forget_history()
        return True

    def _select(self, where: str, params: tuple[object, ...]) -> list[OutboxItem]:
        rows = self.db.conn.execute(f"SELECT {_COLUMNS} FROM outbox " + where, params)
        return [
            OutboxItem(int(r[0]), None if r[1] is None else CaseId(str(r[1])), None if r[2] is None else int(r[2]),
                       int(r[3]), int(r[4]), int(r[5]), int(r[6]), None if r[7] is None else int(r[7]),
                       None if r[8] is None else bytes(r[8]), bytes(r[9]))
            for r in rows
        ]


def _record(conn: Connection, case_id: object, event_id: object, state: Delivery, t: int) -> None:
    """The reply's new state on the caseworkers' copy, and its audit entry (actor: the bot)."""
    if event_id is not None:
        conn.execute("UPDATE case_events SET delivery = ? WHERE id = ?", (state.value, event_id))
    audit(conn, actor="bot", action=f"reply.{state.value}", case_id=None if case_id is None else str(case_id), now=t)
