"""The reply outbox: caseworkers' replies, encrypted to the bot, until the person has seen them.

A row holds the case id and an envelope sealed to the bot's key; the chat id
is only inside the envelope (in the sealed reply handle), so the table links
no chat to a case. A row is erased once Telegram accepted the reply itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.cases import CaseId, EventKind, audit
from storage.db import Database
from storage.errors import CaseNotFound, TransitionRefused


@dataclass(frozen=True)
class OutboxItem:
    """One reply waiting to be delivered."""

    id: int
    case_id: CaseId | None
    created_at: int
    attempts: int
    next_attempt_at: int
    notified_at: int | None
    envelope: bytes


class OutboxStore:
    """Repository of the outbox."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def queue_reply(self, case_id: str, actor: str, to_bot: bytes, copy: bytes, now: int) -> int:
        """Put a reply in the outbox and its caseworker-readable copy in the case history, atomically."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT status FROM cases WHERE id = ?", (case_id,)).fetchone()
            if row is None:
                raise CaseNotFound(case_id)
            if row[0] == "closed":
                raise TransitionRefused("cannot reply to a closed case: reopen it first")
            cur = conn.execute(
                "INSERT INTO outbox (case_id, created_at, next_attempt_at, envelope) VALUES (?, ?, ?, ?)",
                (case_id, now, now, to_bot),
            )
            conn.execute(
                "INSERT INTO case_events (case_id, kind, actor, created_at, envelope) VALUES (?, ?, ?, ?, ?)",
                (case_id, EventKind.REPLY.value, actor, now, copy),
            )
            conn.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (now, case_id))
            audit(conn, actor=actor, action="case.reply", case_id=case_id, now=now)
            return int(cur.lastrowid or 0)

    def due(self, now: int, limit: int = 50) -> list[OutboxItem]:
        """Replies whose notice has not been sent yet and whose next attempt is due."""
        return self._select("WHERE notified_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?", (now, limit))

    def get(self, item_id: int) -> OutboxItem | None:
        """One reply by id."""
        items = self._select("WHERE id = ?", (item_id,))
        return items[0] if items else None

    def all(self) -> list[OutboxItem]:
        """Every row (for tests, doctor and metrics)."""
        return self._select("ORDER BY id", ())

    def mark_notified(self, item_id: int, now: int) -> None:
        """The discreet notice was accepted by Telegram."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE outbox SET notified_at = ? WHERE id = ?", (now, item_id))

    def retry_later(self, item_id: int, at: int) -> None:
        """A send failed: count it and try again at `at`."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?", (at, item_id))

    def delivered(self, item_id: int, now: int) -> None:
        """Telegram accepted the reply: erase it (secure_delete overwrites the row)."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT case_id FROM outbox WHERE id = ?", (item_id,)).fetchone()
            conn.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
            if row is not None:
                audit(conn, actor="bot", action="reply.delivered", case_id=row[0], now=now)

    def drop(self, item_id: int, now: int, reason: str) -> None:
        """A reply that can never be delivered (bad envelope, blocked bot): erase and audit."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT case_id FROM outbox WHERE id = ?", (item_id,)).fetchone()
            conn.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
            if row is not None:
                audit(conn, actor="bot", action=f"reply.dropped.{reason}", case_id=row[0], now=now)

    def _select(self, where: str, params: tuple[object, ...]) -> list[OutboxItem]:
        rows = self.db.conn.execute(
            "SELECT id, case_id, created_at, attempts, next_attempt_at, notified_at, envelope FROM outbox " + where,
            params,
        )
        return [
            OutboxItem(int(r[0]), None if r[1] is None else CaseId(str(r[1])), int(r[2]), int(r[3]), int(r[4]),
                       None if r[5] is None else int(r[5]), bytes(r[6]))
            for r in rows
        ]
