"""The sandbox clock: real time plus an offset that tests can advance."""

from __future__ import annotations

import time


class SandboxClock:
    """Wall and monotonic time shifted by the same adjustable offset."""

    def __init__(self) -> None:
        self._offset = 0.0

    @property
    def offset_seconds(self) -> float:
        """Return how far the clock has been advanced."""
        return self._offset

    def now(self) -> float:
        """Return sandbox Unix time in seconds."""
        return time.time() + self._offset

    def unix(self) -> int:
        """Return sandbox Unix time as Telegram's integer 'date'."""
        return int(self.now())

    def monotonic(self) -> float:
        """Return a monotonic reading that also jumps when the clock is advanced."""
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward; it never runs backwards."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._offset += seconds

    def reset(self) -> None:
        """Return to real time."""
        self._offset = 0.0
