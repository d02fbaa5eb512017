"""Flood control for intake chats: a chat that sends too much is ignored for a while."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from telegram import Update

from bot.screens import FORGET


class Verdict(Enum):
    """What to do with one update of a chat."""

    PASS = "pass"      # handle it
    WARN = "warn"      # over the limit: say "slow down" (once per window), handle nothing
    IGNORE = "ignore"  # over the limit and already told: no answer at all, not even to a button


@dataclass
class FloodGate:
    """Sliding-window counter per chat, in memory only: times of recent updates, never content.

    Every update counts, the ignored ones too, so a chat that keeps flooding
    stays shut until it has been quiet for a window. Nothing a chat can do
    resets its count (/forget and "start again" drop the conversation, not
    this): otherwise a flooder would send /forget between messages. What the
    gate remembers of a chat is gone a window or two after its last update.
    """

    limit: int
    window: float
    _seen: dict[int, deque[float]] = field(default_factory=dict)
    _warned: dict[int, float] = field(default_factory=dict)
    _erased: dict[int, float] = field(default_factory=dict)
    _held: dict[int, list[int]] = field(default_factory=dict)
    _pruned_at: float = 0.0

    def check(self, chat_id: int, now: float, erase: bool = False) -> Verdict:
        """Count one update of a chat and say what to do with it.

        `erase` marks /forget and "Delete this chat now": a chat over the limit
        may still have its messages deleted at once, but only once per window,
        so erasing cannot be used to flood either.
        """
        self._prune(now)
        # The (limit + 1)-th newest time is all it takes to know whether limit + 1 fell in one window.
        times = self._seen.setdefault(chat_id, deque(maxlen=self.limit + 1))
        times.append(now)
        if len(times) <= self.limit or times[0] <= now - self.window:
            return Verdict.PASS
        if erase and self._once_per_window(self._erased, chat_id, now):
            return Verdict.PASS
        if self._once_per_window(self._warned, chat_id, now):
            return Verdict.WARN
        return Verdict.IGNORE

    def hold(self, chat_id: int, message_ids: list[int]) -> None:
        """Keep an ignored message's id until the next `release`: its deletion is recorded in a batch.

        Recording each message of a flood on its own (one database commit each,
        on the event loop) is what a flood would otherwise cost everyone else.
        """
        if message_ids:
            self._held.setdefault(chat_id, []).extend(message_ids)

    def release(self, chat_id: int) -> list[int]:
        """The ids held for one chat (now to be recorded for deletion), and hold none any more."""
        return self._held.pop(chat_id, [])

    def release_all(self) -> dict[int, list[int]]:
        """Every chat's held ids (the batch to record now), and hold none any more."""
        held, self._held = self._held, {}
        return held

    def tracked_chats(self) -> int:
        """How many chats the gate remembers right now (a count only)."""
        return len(self._seen.keys() | self._warned.keys() | self._erased.keys())

    def forget(self, chat_id: int) -> None:
        """Drop everything known about a chat (for pruning; a chat's own /forget must not reset its count)."""
        self._seen.pop(chat_id, None)
        self._warned.pop(chat_id, None)
        self._erased.pop(chat_id, None)

    def _once_per_window(self, last: dict[int, float], chat_id: int, now: float) -> bool:
        before = last.get(chat_id)
        if before is not None and now - before < self.window:
            return False
        last[chat_id] = now
        return True

    def _prune(self, now: float) -> None:
        """Once a window, forget the chats that have been quiet for a whole window."""
        if now - self._pruned_at < self.window:
            return
        self._pruned_at = now
        cutoff = now - self.window
        quiet = [c for c, t in self._seen.items() if (not t or t[-1] <= cutoff) and c not in self._held]
        for chat_id in quiet:
            if self._warned.get(chat_id, cutoff) <= cutoff and self._erased.get(chat_id, cutoff) <= cutoff:
                self.forget(chat_id)


def wants_erase(update: Update) -> bool:
    """True for /forget and the "Delete this chat now" button."""
    query = update.callback_query
    if query is not None:
        return query.data == FORGET
    text = update.message.text if update.message is not None else None
    if not text or not text.startswith("/"):
        return False
    command = text.split(maxsplit=1)[0][1:].split("@", 1)[0]
    return command.lower() == "forget"
