"""When the desk locks itself and when it ends: idle time, the page's heartbeat, the page closing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: How long the URL waits for its first visit (a caseworker may copy it from the terminal).
FIRST_VISIT_SECONDS = 300.0
#: The page says it is open this often; silence for GRACE_SECONDS ends the desk.
HEARTBEAT_SECONDS = 10.0
GRACE_SECONDS = 45.0
#: After the page says goodbye (closed, or leaving for another page of the desk): time to come back.
BYE_GRACE_SECONDS = 8.0
DEFAULT_IDLE_LOCK_MINUTES = 15.0


@dataclass
class Life:
    """Times of the last sign of the page and of the caseworker; `clock` is seconds (time.monotonic)."""

    clock: Callable[[], float]
    idle_lock_seconds: float
    started: float = field(init=False)
    last_seen: float | None = field(init=False, default=None)
    last_active: float = field(init=False)
    leaving_since: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.started = self.last_active = self.clock()

    def seen(self) -> None:
        """The page is open (any request or heartbeat)."""
        self.last_seen = self.clock()
        self.leaving_since = None

    def active(self) -> None:
        """The caseworker did something (a page, a form, a key or a click)."""
        self.seen()
        self.last_active = self.clock()

    def bye(self) -> None:
        """The page is being closed or left: end unless a page of the desk comes back soon."""
        self.leaving_since = self.clock()

    def should_lock(self) -> bool:
        return self.clock() - self.last_active >= self.idle_lock_seconds

    def should_end(self) -> bool:
        now = self.clock()
        if self.last_seen is None:
            return now - self.started >= FIRST_VISIT_SECONDS
        if self.leaving_since is not None and now - self.leaving_since >= BYE_GRACE_SECONDS:
            return True
        return now - self.last_seen >= GRACE_SECONDS
