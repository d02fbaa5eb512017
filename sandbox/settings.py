"""Settings of the sandbox messenger."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sandbox.errors import SettingsRejected

MAX_TEXT_LENGTH = 4096
DELETE_WINDOW_SECONDS = 48 * 3600


@dataclass(frozen=True)
class SandboxSettings:
    """Flood limits and timings; a rate of 0 disables that limit."""

    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    global_per_second: float = 30.0
    per_group_per_minute: float = 20.0
    long_poll_max_seconds: float = 50.0
    webhook_timeout_seconds: float = 10.0
    webhook_retry_seconds: float = 0.5
    event_log_size: int = 10_000

    def __post_init__(self) -> None:
        for name in (
            "per_chat_per_second",
            "global_per_second",
            "per_group_per_minute",
        ):
            _check_rate(name, getattr(self, name))
        for name in ("long_poll_max_seconds", "webhook_timeout_seconds", "webhook_retry_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not _finite(value) or value <= 0:
                raise SettingsRejected(f"{name} must be a positive number of seconds")
        if isinstance(self.per_chat_burst, bool) or not isinstance(self.per_chat_burst, int):
            raise SettingsRejected("per_chat_burst must be an integer")
        if self.per_chat_burst < 1:
            raise SettingsRejected("per_chat_burst must be at least 1")
        if isinstance(self.event_log_size, bool) or not isinstance(self.event_log_size, int):
            raise SettingsRejected("event_log_size must be an integer")
        if self.event_log_size < 1:
            raise SettingsRejected("event_log_size must be at least 1")

    @classmethod
    def unlimited(cls) -> SandboxSettings:
        """Return settings with every flood limit disabled."""
        return cls(per_chat_per_second=0, global_per_second=0, per_group_per_minute=0)


def _finite(value: object) -> bool:
    """Tell whether value is a real, finite number (bools excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_rate(name: str, value: object) -> None:
    """Refuse a rate that is not a finite number >= 0."""
    if not isinstance(value, (int, float)) or not _finite(value) or value < 0:
        raise SettingsRejected(f"{name} must be a number >= 0 (0 disables the limit)")
