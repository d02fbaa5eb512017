"""Whether the Bot API answers: when a call last got an answer, kept for /healthz.

Every request the bot makes goes through `ObservedRequest`, so polling (getUpdates every few
seconds) keeps the time fresh by itself. A webhook bot with nobody writing makes no call, so
`heartbeat` asks getMe whenever the API has been silent for a while: silence then means the
API cannot be reached, not that nobody wrote.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from telegram.error import TelegramError
from telegram.ext import CallbackContext
from telegram.request import HTTPXRequest

log = logging.getLogger("waystation.bot.reach")
HEARTBEAT_JOB = "bot-api-heartbeat"
#: Answers that do not show a working bot: the token refused (401, 404), another instance polling (409).
NOT_REACHED = frozenset({401, 404, 409})


class BotApiReach:
    """When the Bot API last answered a call (monotonic time); no content, no chat, no method."""

    def __init__(self, ask_after: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        #: The heartbeat asks getMe once the API has been silent this long.
        self.ask_after = ask_after
        self._clock = clock
        self._last: float | None = None
        #: The error type of a heartbeat that failed, until one succeeds (for one log line per outage).
        self.failing: str | None = None

    def reached(self) -> None:
        """A call got an answer from the Bot API."""
        self._last = self._clock()

    def silent_for(self) -> float | None:
        """Seconds since the last answer; None if none came yet."""
        return None if self._last is None else self._clock() - self._last


class ObservedRequest(HTTPXRequest):
    """python-telegram-bot's HTTPX transport, recording each answer from the Bot API in a BotApiReach."""

    def __init__(self, reach: BotApiReach, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._reach = reach

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """Make the call; a status below 500 (other than NOT_REACHED) counts as an answer."""
        code, payload = await super().do_request(*args, **kwargs)
        if code < 500 and code not in NOT_REACHED:
            self._reach.reached()
        return code, payload


async def heartbeat(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """The heartbeat job (data: a BotApiReach): getMe once the API has been silent for `ask_after` seconds."""
    reach = context.job.data if context.job is not None else None
    if not isinstance(reach, BotApiReach):
        return
    silent = reach.silent_for()
    if silent is not None and silent < reach.ask_after:
        return
    try:
        await context.bot.get_me()
    except TelegramError as err:
        if reach.failing is None:  # once per outage, not once per heartbeat
            log.warning("the Bot API did not answer getMe (%s); /healthz reports bot_api unreachable until it does",
                        type(err).__name__)
        reach.failing = type(err).__name__
        return
    if reach.failing is not None:
        log.info("the Bot API answers again")
        reach.failing = None
