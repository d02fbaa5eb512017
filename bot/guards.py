"""Flood control for intake chats: a chat that sends too much is ignored for a while."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class FloodGate:
    """Sliding-window counter per chat. Only counts are kept, never content."""

    limit: int
    window: float
    _seen: dict[int, deque[float]] = field(default_factory=dict)
    _warned: dict[int, float] = field(default_factory=dict)

    def allow(self, chat_id: int, now: float) -> bool:
        """Record one update from a chat; False once it exceeds `limit` within `window` seconds."""
        times = self._seen.setdefault(chat_id, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        times.append(now)
        if len(self._seen) > 10_000:
            self._prune(now)
        return len(times) <= self.limit

    def should_warn(self, chat_id: int, now: float) -> bool:
        """True at most once per window for a flooding chat."""
        last = self._warned.get(chat_id)
        if last is not None and now - last < self.window:
            return False
        self._warned[chat_id] = now
        return True

    def forget(self, chat_id: int) -> None:
        """Drop everything known about a chat."""
        self._seen.pop(chat_id, None)
        self._warned.pop(chat_id, None)

    def _prune(self, now: float) -> None:
        for chat_id in [c for c, t in self._seen.items() if not t or t[-1] <= now - self.window]:
            self.forget(chat_id)
