"""Pending deletions and send intents: which messages of which chat must still be deleted, and when.

Only chat ids, message ids and due times are kept, never linked to a case, and
entries are erased as soon as the messages are gone. A *send intent* is written
before each message the bot sends and erased, together with the insertion of
the returned message id, once Telegram answers: an intent left over after a
crash says that a message may exist in that chat whose id was never learnt.

They live in the sealed, history-free snapshot HOME/chats.state (storage.chatstate),
not in the database: every change rewrites that file whole, sorted by chat id, and
every due time in it is rounded *up* to `[privacy] time_granularity_seconds`
(Database.coarse_after). The bot keeps the exact times in its timers; after a crash
a chat is deleted at most one granularity late. Each change is one atomic write; a
write that fails leaves the state as it was (the caller keeps the ids in memory).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import nacl.utils

from storage.chatstate import ChatEntry, ChatSnapshot, ChatState, Intent
from storage.db import Database
from storage.errors import StorageError

__all__ = ["DeletionStore", "Intent", "PendingChat", "Settle", "new_intent_id"]

#: Intent ids are random 62-bit numbers: they say nothing about when a send happened.
_ID_BYTES = 8
_ID_MASK = (1 << 62) - 1


@dataclass(frozen=True)
class PendingChat:
    """Messages of one chat due for deletion at `due_at`."""

    chat_id: int
    due_at: int
    message_ids: tuple[int, ...]


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


class _Draft:
    """A change to the chat state, built on a copy: nothing is seen until it is written."""

    def __init__(self, snapshot: ChatSnapshot) -> None:
        self.chats = dict(snapshot.chats)
        self.intents = dict(snapshot.intents)
        self.changed = False

    def put(self, chat_id: int, due_at: int, known: set[int], swept: set[int]) -> None:
        """Set a chat's ids (`swept` a subset of `known | swept` that only may exist) and due time."""
        ids = known | swept
        old = self.chats.get(chat_id)
        if not ids:
            if old is not None:
                del self.chats[chat_id]
                self.changed = True
            return
        entry = ChatEntry(chat_id, due_at, tuple(sorted(ids)), frozenset(swept - known))
        if entry != old:
            self.chats[chat_id] = entry
            self.changed = True

    def drop_intent(self, intent_id: int) -> None:
        if self.intents.pop(intent_id, None) is not None:
            self.changed = True

    def snapshot(self) -> ChatSnapshot:
        return ChatSnapshot(self.chats, self.intents)


class DeletionStore:
    """Repository of pending deletions and send intents (the chat state of the database's home)."""

    def __init__(self, db: Database) -> None:
        if db.chats is None:
            raise StorageError("this database was opened without its chat state: open it with Database.open")
        self.db = db
        self.state: ChatState = db.chats

    def _due(self, when: int) -> int:
        """A due time as it is stored: rounded up to the granularity, never earlier."""
        return self.db.coarse_after(when)

    def _write(self, draft: _Draft) -> None:
        if draft.changed:
            self.state.commit(draft.snapshot())

    @staticmethod
    def _parts(entry: ChatEntry | None) -> tuple[set[int], set[int]]:
        if entry is None:
            return set(), set()
        return set(entry.message_ids) - entry.swept, set(entry.swept)

    def verify(self) -> None:
        """Raise ChatStateDamaged unless the chat state opens (the bot checks this before it starts)."""
        self.state.current()

    def start_writing(self) -> None:
        """Called by the one writer (the bot) at its start: check the state opens, drop a copy a crash left."""
        self.verify()
        self.state.file.remove_leftover()  # as old as the file, or one write newer: never needed again

    # -- pending deletions ------------------------------------------------------------------------

    def record(self, chat_id: int, message_ids: Iterable[int], due_at: int) -> None:
        """Add messages and move the whole chat's due time to `due_at` (last activity counts)."""
        draft = _Draft(self.state.current())
        known, swept = self._parts(draft.chats.get(chat_id))
        new = set(message_ids)
        draft.put(chat_id, self._due(due_at), known | new, swept - new)
        self._write(draft)

    def reschedule(self, chat_id: int, due_at: int) -> None:
        """Move a chat's due time (e.g. sooner, after submit)."""
        draft = _Draft(self.state.current())
        entry = draft.chats.get(chat_id)
        if entry is not None:
            draft.put(chat_id, self._due(due_at), *self._parts(entry))
        self._write(draft)

    def chat(self, chat_id: int) -> PendingChat | None:
        """Pending messages of one chat."""
        entry = self.state.current().chats.get(chat_id)
        return None if entry is None else PendingChat(chat_id, entry.due_at, entry.message_ids)

    def all(self) -> list[PendingChat]:
        """Every chat with pending deletions, soonest first."""
        chats = self.state.current().chats.values()
        return sorted((PendingChat(e.chat_id, e.due_at, e.message_ids) for e in chats),
                      key=lambda p: (p.due_at, p.chat_id))

    def remove(self, chat_id: int, message_ids: Iterable[int]) -> None:
        """Erase entries once their messages are deleted; a chat with none left is forgotten."""
        draft = _Draft(self.state.current())
        entry = draft.chats.get(chat_id)
        if entry is not None:
            known, swept = self._parts(entry)
            gone = set(message_ids)
            draft.put(chat_id, entry.due_at, known - gone, swept - gone)
        self._write(draft)

    def counts(self, now: int) -> tuple[int, int]:
        """(pending, overdue) message counts, for health and metrics (by the stored, rounded-up times)."""
        chats = self.state.current().chats.values()
        return (sum(len(e.message_ids) for e in chats),
                sum(len(e.message_ids) for e in chats if e.due_at <= now))

    # -- what is known about a chat ----------------------------------------------------------------

    def floor(self, chat_id: int) -> int | None:
        """The highest message id known to exist in a chat: pending ones (not swept), else alerts to a volunteer."""
        entry = self.state.current().chats.get(chat_id)
        if entry is not None:
            known = [m for m in entry.message_ids if m not in entry.swept]
            if known:
                return known[-1]  # ids only grow: whatever a volunteer was sent before is below it
        row = self.db.conn.execute(
            "SELECT max(vm.message_id) FROM volunteer_messages AS vm JOIN volunteers AS v ON v.id = vm.volunteer_id"
            " WHERE v.chat_id = ?", (chat_id,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def volunteer_chat(self, chat_id: int) -> bool:
        """True if a volunteer was ever enrolled from this chat (active, inactive or removed alike)."""
        return self.db.conn.execute("SELECT 1 FROM volunteers WHERE chat_id = ?", (chat_id,)).fetchone() is not None

    # -- send intents -----------------------------------------------------------------------------

    def intend(self, intent: Intent) -> None:
        """Write an intent before its send."""
        self.write_batch([intent], [], [])

    def intents(self) -> list[Intent]:
        """Every intent left (after a crash: sends whose outcome was never learnt), by chat."""
        return sorted(self.state.current().intents.values(), key=lambda i: (i.chat_id, i.id))

    def settle(self, chat_id: int, due_at: int, *, known: Iterable[int] = (), swept: Iterable[int] = (),
               intent_ids: Iterable[int] = ()) -> None:
        """In one write: ids of a chat join its pending deletions, and the intents they settle go."""
        self.write_batch([], [Settle(chat_id, due_at, tuple(known), tuple(swept), tuple(intent_ids))], [])

    def drop_intents(self, intent_ids: Iterable[int]) -> None:
        """Erase intents whose send is known to have created nothing (or can no longer be deleted)."""
        self.write_batch([], [], intent_ids)

    def write_batch(self, intents: Iterable[Intent], settles: Iterable[Settle], dropped: Iterable[int]) -> None:
        """New intents, settled sends and dropped intents of several chats, in one write (one rename)."""
        draft = _Draft(self.state.current())
        for intent in intents:
            draft.intents[intent.id] = Intent(intent.id, intent.chat_id, intent.floor, self._due(intent.due_at))
            draft.changed = True
        for settle in settles:
            entry = draft.chats.get(settle.chat_id)
            due = self._due(settle.due_at) if entry is None else max(self._due(settle.due_at), entry.due_at)
            known, swept = self._parts(entry)
            known |= set(settle.known)
            swept |= {m for m in settle.swept if m > 0} - known  # an id already known stays known
            draft.put(settle.chat_id, due, known, swept)
            for intent_id in settle.intent_ids:
                draft.drop_intent(intent_id)
        for intent_id in dropped:
            draft.drop_intent(intent_id)
        self._write(draft)
