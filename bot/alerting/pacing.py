"""Sending state of one bot: whether a run is going on, each chat's next slot, the totals so far."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from storage.alerts import Results

log = logging.getLogger("waystation.bot.sending")


class Sender:
    """Whether a run is going on, and when each chat may get its next message."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.busy = False
        self.again = False
        self.totals: Counter[str] = Counter()
        self._next_slot: dict[int, float] = {}

    async def pace(self, chat_id: int) -> None:
        """Wait for this chat's next slot: Telegram allows about one message a second per chat."""
        loop = asyncio.get_running_loop()
        slot = self._next_slot.get(chat_id, 0.0)
        now = loop.time()
        if slot > now:
            await asyncio.sleep(slot - now)
        self._next_slot[chat_id] = max(now, slot) + self.interval

    def forget_idle_chats(self) -> None:
        """Drop the slots that have passed (a chat that got nothing lately needs none)."""
        now = asyncio.get_running_loop().time()
        for chat_id in [c for c, slot in self._next_slot.items() if slot <= now]:
            del self._next_slot[chat_id]

    def count(self, results: Results) -> None:
        """Add a round's outcomes to the totals and log them (counts only)."""
        counts = {"sent": len(results.sent), "edited": len(results.edited), "held": len(results.held),
                  "retrying": len(results.retry), "flood_control": len(results.later),
                  "undeliverable": len(results.failed), "blocked": len(results.blocked)}
        self.totals.update(counts)
        if any(counts.values()):
            log.info("volunteer messages: %s", ", ".join(f"{n} {what}" for what, n in counts.items() if n))
