"""Update processing: different chats concurrently, one chat strictly in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor

#: PTB's own bound, set out of reach: the real one is taken once a chat's turn has come (see below).
_OUTER_BOUND = 2**30


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Runs up to `running` updates at once, but never two of the same chat.

    Each person's conversation sees their updates one at a time, in order,
    while other chats go on. PTB takes its semaphore *before* calling
    do_process_update; were that the real bound, a chat's updates waiting for
    their chat's lock would hold its slots, and one flooding chat whose step is
    waiting (for its pace, or a 429 pause) could fill all of them and stall
    every other chat. So a slot is taken only after the chat's lock: a waiting
    update holds nothing but its own small task.

    It also notes when each update arrived (`arrived_at`), so that the flood
    gate counts a chat's updates by when they came, not by when their turn
    came: a chat whose answers are slow (paced, or paused by a 429) must not
    have its queued flood counted out over minutes and let through.
    """

    def __init__(self, running: int, clock: Callable[[], float] = time.time) -> None:
        if running < 1:
            raise ValueError("running must be a positive number of updates")
        super().__init__(_OUTER_BOUND)
        self.running = running
        self._clock = clock
        self._slots = asyncio.BoundedSemaphore(running)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self._arrived: dict[int, float] = {}

    def arrived_at(self, update: object) -> float | None:
        """When an update now being processed reached the bot (the `clock`'s time), or None."""
        return self._arrived.get(id(update))

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            async with self._slots:
                await coroutine
            return
        key = chat.id
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        self._arrived[id(update)] = self._clock()
        try:
            async with lock, self._slots:
                await coroutine
        finally:
            del self._arrived[id(update)]
            self._waiting[key] -= 1
            if self._waiting[key] == 0:  # nothing queued for this chat: keep no trace of it
                del self._waiting[key]
                del self._locks[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""


def arrival_time(application: Application, update: object) -> float | None:  # type: ignore[type-arg]
    """When `update` reached the bot, if the application's processor is a PerChatUpdateProcessor."""
    processor = application.update_processor
    return processor.arrived_at(update) if isinstance(processor, PerChatUpdateProcessor) else None
