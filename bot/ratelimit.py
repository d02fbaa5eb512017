"""Pacing what the bot sends: one limit for the whole bot, one pace per chat, and a 429 pauses only its chat.

python-telegram-bot's AIORateLimiter halts *every* request after any 429, so one
chat that draws flood control (say, someone flooding a text question) would
stall the answers to everyone else. Here a 429 for a chat pauses that chat
alone; only a 429 for a request that names no chat pauses the whole bot.
Each private chat is paced to about one message a second (with a small burst),
which is what Telegram allows, so a chat rarely draws a 429 at all.

A request never waits long for its chat's pause: if the pause is longer than
`max_wait`, it fails at once with RetryAfter, and the caller decides (a
conversation step is dropped, a volunteer message stays owed). Retries after a
429 are bounded by `max_retries`. So a flooding chat's sends are given up, never
queued for ever, and its waiting never holds up another chat.

Chats are known here only as dictionary keys while they are being paced or
paused; idle ones are forgotten within a minute. Nothing is logged about a chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger("waystation.bot.ratelimit")

ChatKey = int | str
Result = bool | dict[str, Any] | list[dict[str, Any]]
Callback = Callable[..., Coroutine[Any, Any, Result]]

#: Telegram: about one message a second per private chat, short bursts tolerated.
CHAT_PER_SECOND = 1.0
CHAT_BURST = 3
#: Telegram: 20 messages a minute per group.
GROUP_PER_MINUTE = 20.0
#: A request waits at most this long for its chat's (or the bot's) pause to end, then gives up.
MAX_WAIT_SECONDS = 10.0
#: How often (seconds) idle pacers and ended pauses are dropped.
PRUNE_SECONDS = 30.0
#: Bot API methods that put a message into a chat or change one: these are paced per chat.
#: Deleting, answering a button and the like are not (deletion must never wait on pacing).
PACED_PREFIXES = ("send", "edit", "copy", "forward", "stop")
UNPACED = frozenset({"sendChatAction"})


def retry_seconds(err: RetryAfter) -> float:
    """The wait a 429 asked for, in seconds (PTB warns that the attribute will become a timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = err.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def chat_key(data: dict[str, Any]) -> ChatKey | None:
    """The chat a request is for: an int id, an @username (channels and supergroups), or None."""
    value = data.get("chat_id")
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    with contextlib.suppress(ValueError):
        return int(text)
    return text


def is_paced(endpoint: str) -> bool:
    """True for the methods that Telegram's per-chat message limit applies to."""
    return endpoint.startswith(PACED_PREFIXES) and endpoint not in UNPACED


class ChatPacedRateLimiter(BaseRateLimiter[int]):
    """The bot-wide limit, a pace per chat, and 429 pauses per chat (see the module docstring).

    `rate_limit_args` of a call, if given, replaces `max_retries` for it.
    `clock` is monotonic seconds (the loop's clock by default).
    """

    def __init__(
        self,
        overall_per_second: float,
        *,
        chat_per_second: float = CHAT_PER_SECOND,
        chat_burst: int = CHAT_BURST,
        group_per_minute: float = GROUP_PER_MINUTE,
        max_retries: int = 3,
        max_wait: float = MAX_WAIT_SECONDS,
        prune_every: float = PRUNE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (("overall_per_second", overall_per_second), ("chat_per_second", chat_per_second),
                            ("group_per_minute", group_per_minute), ("max_wait", max_wait)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0 (0 turns that limit off)")
        if not isinstance(chat_burst, int) or chat_burst < 1:
            raise ValueError("chat_burst must be a whole number >= 1")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError("max_retries must be a whole number >= 0")
        self._overall = AsyncLimiter(overall_per_second, 1) if overall_per_second else None
        self._chat_rate = chat_per_second
        self._chat_burst = chat_burst
        self._group_per_minute = group_per_minute
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._clock = clock
        self._pacers: dict[ChatKey, AsyncLimiter] = {}
        self._paused: dict[ChatKey, float] = {}
        self._paused_all = 0.0
        self._prune_every = prune_every
        self._pruned_at = clock()

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""

    @property
    def tracked_chats(self) -> int:
        """How many chats are being paced or paused right now (for tests and metrics: a count only)."""
        return len(self._pacers.keys() | self._paused.keys())

    def paused_for(self, chat: ChatKey | None) -> float:
        """Seconds until requests for `chat` (None: requests without a chat) may go again."""
        until = self._paused_all if chat is None else max(self._paused_all, self._paused.get(chat, 0.0))
        return max(0.0, until - self._clock())

    async def process_request(
        self,
        callback: Callback,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        """Wait out this chat's pause and pace, then the bot-wide limit; after a 429 pause and retry, bounded."""
        retries = self._max_retries if rate_limit_args is None else rate_limit_args
        chat = chat_key(data)
        self._prune()
        for attempt in range(retries + 1):
            await self._wait_out_pause(chat)
            pacer = self._pacer(chat) if chat is not None and is_paced(endpoint) else None
            async with pacer or contextlib.nullcontext():
                await self._wait_out_pause(chat)  # a 429 may have come in while this waited for its turn
                async with (self._overall if chat is not None and self._overall else contextlib.nullcontext()):
                    try:
                        return await callback(*args, **kwargs)
                    except RetryAfter as err:
                        wait = retry_seconds(err)
                        self._pause(chat, wait)
                        if attempt == retries:
                            log.warning("flood control (429) outlasted %d retries; this call was given up", retries)
                            raise
                        log.info("flood control (429): %s paused for %.1f s",
                                 "one chat" if chat is not None else "the whole bot", wait)
        raise RuntimeError("unreachable: the last attempt returns or raises")

    async def _wait_out_pause(self, chat: ChatKey | None) -> None:
        """Sleep through a short pause; give up at once on a long one, so nothing queues behind it."""
        wait = self.paused_for(chat)
        if wait <= 0:
            return
        if wait > self._max_wait:
            raise RetryAfter(dt.timedelta(seconds=math.ceil(wait)))
        await asyncio.sleep(wait)

    def _pause(self, chat: ChatKey | None, seconds: float) -> None:
        # A little more than asked: Telegram's figure is rounded to whole seconds.
        until = self._clock() + seconds + 0.1
        if chat is None:
            self._paused_all = max(self._paused_all, until)
        else:
            self._paused[chat] = max(self._paused.get(chat, 0.0), until)

    def _pacer(self, chat: ChatKey) -> AsyncLimiter | None:
        group = isinstance(chat, str) or chat < 0
        if (group and not self._group_per_minute) or (not group and not self._chat_rate):
            return None
        pacer = self._pacers.get(chat)
        if pacer is None:
            # A leaky bucket of `burst` that drains at `rate`: a burst at once, then the steady pace.
            pacer = (AsyncLimiter(self._group_per_minute, 60) if group
                     else AsyncLimiter(self._chat_burst, self._chat_burst / self._chat_rate))
            self._pacers[chat] = pacer
        return pacer

    def _prune(self) -> None:
        """Forget chats whose pacer is empty and whose pause is over (bounded memory, no lasting trace)."""
        now = self._clock()
        if now - self._pruned_at < self._prune_every:
            return
        self._pruned_at = now
        for chat in [c for c, until in self._paused.items() if until <= now]:
            del self._paused[chat]
        for chat in [c for c, pacer in self._pacers.items() if pacer.has_capacity(pacer.max_rate)]:
            del self._pacers[chat]
