"""Pending deletions: which messages of which intake chat must still be deleted, and when.

Only chat ids, message ids and due times are kept, never linked to a case, and
rows are erased as soon as the messages are gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from storage.db import Database


@dataclass(frozen=True)
class PendingChat:
    """Messages of one chat due for deletion at `due_at`."""

    chat_id: int
    due_at: int
    message_ids: tuple[int, ...]


class DeletionStore:
    """Repository of pending deletions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, chat_id: int, message_ids: Iterable[int], due_at: int) -> None:
        """Add messages and move the whole chat's due time to `due_at` (last activity counts)."""
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO pending_deletions (chat_id, message_id, due_at) VALUES (?, ?, ?)",
                [(chat_id, mid, due_at) for mid in message_ids],
            )
            conn.execute("UPDATE pending_deletions SET due_at = ? WHERE chat_id = ?", (due_at, chat_id))

    def reschedule(self, chat_id: int, due_at: int) -> None:
        """Move a chat's due time (e.g. sooner, after submit)."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE pending_deletions SET due_at = ? WHERE chat_id = ?", (due_at, chat_id))

    def chat(self, chat_id: int) -> PendingChat | None:
        """Pending messages of one chat."""
        rows = self.db.conn.execute(
            "SELECT message_id, due_at FROM pending_deletions WHERE chat_id = ? ORDER BY message_id", (chat_id,)
        ).fetchall()
        if not rows:
            return None
        return PendingChat(chat_id, min(int(r[1]) for r in rows), tuple(int(r[0]) for r in rows))

    def all(self) -> list[PendingChat]:
        """Every chat with pending deletions, soonest first."""
        grouped: dict[int, list[tuple[int, int]]] = {}
        for chat_id, message_id, due_at in self.db.conn.execute(
            "SELECT chat_id, message_id, due_at FROM pending_deletions ORDER BY chat_id, message_id"
        ):
            grouped.setdefault(int(chat_id), []).append((int(message_id), int(due_at)))
        chats = [PendingChat(c, min(d for _, d in rows), tuple(m for m, _ in rows)) for c, rows in grouped.items()]
        return sorted(chats, key=lambda p: p.due_at)

    def remove(self, chat_id: int, message_ids: Iterable[int]) -> None:
        """Erase rows once their messages are deleted."""
        with self.db.transaction() as conn:
            conn.executemany(
                "DELETE FROM pending_deletions WHERE chat_id = ? AND message_id = ?",
                [(chat_id, mid) for mid in message_ids],
            )

    def counts(self, now: int) -> tuple[int, int]:
        """(pending, overdue) message counts, for health and metrics."""
        row = self.db.conn.execute(
            "SELECT count(*), coalesce(sum(due_at <= ?), 0) FROM pending_deletions", (now,)
        ).fetchone()
        return int(row[0]), int(row[1])
