"""Request budgets of the staff API: one per staff key, one per network address for requests no key vouches for.

The staff API shares the bot's event loop, so every request it works on is
time the bot is not answering people. Budgets are token buckets (aiolimiter's
leaky bucket, never awaited: a request that finds its bucket empty is refused
at once with 429 and Retry-After, it does not wait). They are checked before
any costly step: no roster file read, no signature check, no database write.

Behind a reverse proxy or a Tor onion service every caller has the proxy's
address, so a per-address budget alone would let any stranger use up the
staff's. Hence a request that names a key on the roster spends that key's
budget, and only requests no key vouches for (unsigned, an unknown key, and
afterwards any signature that failed) spend their address's budget. Addresses
live only in memory, only while their bucket is not full, and are never logged.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

log = logging.getLogger("waystation.staff_api")

#: Buckets kept at most per kind; past that, new names share one bucket (memory stays bounded).
MAX_NAMES = 10_000
OVERFLOW = "(overflow)"
#: Idle buckets are dropped, and refusals summed up in the log, this often (seconds).
PRUNE_SECONDS = 60.0


class Buckets:
    """A token bucket per name: `per_minute` a minute on average, a quarter of that at once."""

    def __init__(self, per_minute: int, max_names: int = MAX_NAMES) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.burst = max(1, per_minute // 4)
        self.max_names = max_names
        self._buckets: dict[str, AsyncLimiter] = {}

    @property
    def retry_after(self) -> int:
        """Whole seconds after which an empty bucket holds a request again."""
        return max(1, math.ceil(60 / self.per_minute))

    async def take(self, name: str) -> bool:
        """Spend one request of `name`'s budget; False if there is none left (nothing is spent then)."""
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= self.max_names:
                name = OVERFLOW
            bucket = self._buckets.setdefault(name, AsyncLimiter(self.burst, self.burst * 60 / self.per_minute))
        if not bucket.has_capacity():
            return False
        await bucket.acquire()  # there is capacity, so this does not wait
        return True

    def prune(self) -> None:
        """Drop the buckets that are full again: nothing is remembered of an idle caller."""
        for name in [n for n, b in self._buckets.items() if b.has_capacity(b.max_rate)]:
            del self._buckets[name]


@dataclass
class Limits:
    """The staff API's budgets, and a count of refusals for the log."""

    per_key: Buckets
    per_address: Buckets
    clock: Callable[[], float] = time.monotonic
    refused: int = 0
    _pruned_at: float = 0.0

    @classmethod
    def of(cls, requests_per_minute: int, unverified_per_minute: int) -> Limits:
        """Budgets from config.toml's [staff_api] values."""
        return cls(Buckets(requests_per_minute), Buckets(unverified_per_minute))

    def tick(self) -> None:
        """Now and then: forget idle buckets and log how many requests were refused for rate, as one line."""
        now = self.clock()
        if now - self._pruned_at < PRUNE_SECONDS:
            return
        self._pruned_at = now
        self.per_key.prune()
        self.per_address.prune()
        if self.refused:
            log.warning("staff API: %d requests refused with 429 (over their budget) in the last minute or so",
                        self.refused)
            self.refused = 0
