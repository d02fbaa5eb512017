"""Pending deletions and send intents: which messages of which chat must still be deleted, and when.

Only chat ids, message ids and due times are kept, never linked to a case, and
rows are erased as soon as the messages are gone. A *send intent* is written
before each message the bot sends and erased, together with the insertion of
the returned message id, once Telegram answers: an intent left over after a
crash says that a message may exist in that chat whose id was never learnt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import nacl.utils

from storage.db import Database

#: Intent ids are random 62-bit numbers: the table's order says nothing about when a send happened.
_ID_BYTES = 8
_ID_MASK = (1 << 62) - 1
#: A message known to exist; if its id was swept before, it is known now.
_INSERT_KNOWN = ("INSERT INTO pending_deletions (chat_id, message_id, due_at) VALUES (?, ?, ?)"
                 " ON CONFLICT (chat_id, message_id) DO UPDATE SET swept = 0")
#: An id that may hold a message nobody learnt of (after an interrupted send).
_INSERT_SWEPT = "INSERT OR IGNORE INTO pending_deletions (chat_id, message_id, due_at, swept) VALUES (?, ?, ?, 1)"


@dataclass(frozen=True)
class PendingChat:
    """Messages of one chat due for deletion at `due_at`."""

    chat_id: int
    due_at: int
    message_ids: tuple[int, ...]


@dataclass(frozen=True)
class Intent:
    """A send whose outcome is not recorded yet.

    `floor` is the highest message id known in the chat before the send (None if
    none was known); message ids in a private chat only grow, so the message, if
    it was created, has an id above it. `due_at` is when it would have been deleted.
    """

    id: int
    chat_id: int
    floor: int | None
    due_at: int


@dataclass(frozen=True)
class Settle:
    """Ids that join a chat's pending deletions, and the intents they settle.

    `known` are messages known to exist, `swept` ids that may hold a message nobody
    learnt of. The chat's due time becomes the later of `due_at` and the one it
    had: nothing is deleted sooner than it was promised.
    """

    chat_id: int
    due_at: int
    known: tuple[int, ...] = ()
    swept: tuple[int, ...] = ()
    intent_ids: tuple[int, ...] = ()


def new_intent_id() -> int:
    """A random positive intent id."""
    return int.from_bytes(nacl.utils.random(_ID_BYTES), "big") & _ID_MASK or 1


class DeletionStore:
    """Repository of pending deletions and send intents."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- pending deletions ------------------------------------------------------------------------

    def record(self, chat_id: int, message_ids: Iterable[int], due_at: int) -> None:
        """Add messages and move the whole chat's due time to `due_at` (last activity counts)."""
        with self.db.transaction() as conn:
            conn.executemany(_INSERT_KNOWN, [(chat_id, mid, due_at) for mid in message_ids])
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

    # -- what is known about a chat ----------------------------------------------------------------

    def floor(self, chat_id: int) -> int | None:
        """The highest message id known to exist in a chat: pending rows (not swept ones), else alerts sent to a volunteer."""
        row = self.db.conn.execute(
            "SELECT message_id FROM pending_deletions WHERE chat_id = ? AND swept = 0 ORDER BY message_id DESC LIMIT 1",
            (chat_id,)).fetchone()
        if row is not None:
            return int(row[0])  # ids only grow: whatever a volunteer was sent before is below it
        row = self.db.conn.execute(
            "SELECT max(vm.message_id) FROM volunteer_messages AS vm JOIN volunteers AS v ON v.id = vm.volunteer_id"
            " WHERE v.chat_id = ?", (chat_id,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def volunteer_chat(self, chat_id: int) -> bool:
        """True if a volunteer was ever enrolled from this chat (active, inactive or removed alike)."""
        return self.db.conn.execute("SELECT 1 FROM volunteers WHERE chat_id = ?", (chat_id,)).fetchone() is not None

    # -- send intents -----------------------------------------------------------------------------

    def intend(self, intent: Intent) -> None:
        """Commit an intent before its send."""
        self.write_batch([intent], [], [])

    def intents(self) -> list[Intent]:
        """Every intent left (after a crash: sends whose outcome was never learnt)."""
        return [Intent(int(r[0]), int(r[1]), None if r[2] is None else int(r[2]), int(r[3]))
                for r in self.db.conn.execute("SELECT id, chat_id, floor, due_at FROM send_intents")]

    def settle(self, chat_id: int, due_at: int, *, known: Iterable[int] = (), swept: Iterable[int] = (),
               intent_ids: Iterable[int] = ()) -> None:
        """In one transaction: ids of a chat join its pending deletions, and the intents they settle go."""
        self.write_batch([], [Settle(chat_id, due_at, tuple(known), tuple(swept), tuple(intent_ids))], [])

    def drop_intents(self, intent_ids: Iterable[int]) -> None:
        """Erase intents whose send is known to have created nothing (or can no longer be deleted)."""
        self.write_batch([], [], intent_ids)

    def write_batch(self, intents: Iterable[Intent], settles: Iterable[Settle], dropped: Iterable[int]) -> None:
        """New intents, settled sends and dropped intents of several chats, in one transaction (one fsync)."""
        with self.db.transaction() as conn:
            conn.executemany("INSERT INTO send_intents (id, chat_id, floor, due_at) VALUES (?, ?, ?, ?)",
                             [(i.id, i.chat_id, i.floor, i.due_at) for i in intents])
            for settle in settles:
                # Every row of a chat has the chat's one due time: one row tells it.
                row = conn.execute("SELECT due_at FROM pending_deletions WHERE chat_id = ? LIMIT 1",
                                   (settle.chat_id,)).fetchone()
                current = None if row is None else int(row[0])
                due = settle.due_at if current is None else max(settle.due_at, current)
                conn.executemany(_INSERT_KNOWN, [(settle.chat_id, mid, due) for mid in settle.known])
                conn.executemany(_INSERT_SWEPT, [(settle.chat_id, mid, due) for mid in settle.swept if mid > 0])
                if current is not None and due > current:
                    conn.execute("UPDATE pending_deletions SET due_at = ? WHERE chat_id = ?", (due, settle.chat_id))
                conn.executemany("DELETE FROM send_intents WHERE id = ?", [(i,) for i in settle.intent_ids])
            conn.executemany("DELETE FROM send_intents WHERE id = ?", [(i,) for i in dropped])
