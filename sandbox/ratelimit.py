"""Token-bucket flood limits in the manner of Telegram's (per chat and per bot)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sandbox.settings import SandboxSettings

Scope = Literal["chat", "global"]


@dataclass(frozen=True)
class Throttled:
    """A call refused by flood control: which limit, and whole seconds to wait."""

    scope: Scope
    retry_after: int


class TokenBucket:
    """A bucket of `capacity` tokens refilled at `rate` per second; rate 0 means unlimited."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self._tokens = self.capacity
        self._stamp = now

    def _refill(self, now: float) -> None:
        """Add the tokens earned since the last look."""
        if now > self._stamp:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = max(self._stamp, now)

    def wait_seconds(self, now: float) -> float:
        """Return how long until one token is available (0 if now)."""
        if self.rate <= 0:
            return 0.0
        self._refill(now)
        if self._tokens >= 1.0:
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def take(self, now: float) -> None:
        """Spend one token; call only after wait_seconds() returned 0."""
        if self.rate <= 0:
            return
        self._refill(now)
        self._tokens -= 1.0


class FloodControl:
    """Per-chat buckets plus one global bucket for one bot's sending methods."""

    def __init__(self, settings: SandboxSettings, now: float) -> None:
        self._settings = settings
        self._global = TokenBucket(settings.global_per_second, settings.global_per_second, now)
        self._chats: dict[int, TokenBucket] = {}

    def _chat_bucket(self, chat_id: int, is_group: bool, now: float) -> TokenBucket:
        """Return (creating on first use) the bucket of one chat."""
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if is_group:
                rate = self._settings.per_group_per_minute / 60.0
            else:
                rate = self._settings.per_chat_per_second
            bucket = TokenBucket(rate, self._settings.per_chat_burst, now)
            self._chats[chat_id] = bucket
        return bucket

    def check(self, chat_id: int, is_group: bool, now: float) -> Throttled | None:
        """Return why a send to chat_id must wait, or None if it may go now."""
        chat_wait = self._chat_bucket(chat_id, is_group, now).wait_seconds(now)
        if chat_wait > 0:
            return Throttled("chat", _whole_seconds(chat_wait))
        global_wait = self._global.wait_seconds(now)
        if global_wait > 0:
            return Throttled("global", _whole_seconds(global_wait))
        return None

    def record(self, chat_id: int, is_group: bool, now: float) -> None:
        """Charge one successful send to the chat's and the global bucket."""
        self._chat_bucket(chat_id, is_group, now).take(now)
        self._global.take(now)


def _whole_seconds(wait: float) -> int:
    """Round a wait up to Telegram's integer retry_after (at least 1)."""
    return max(1, math.ceil(wait))
