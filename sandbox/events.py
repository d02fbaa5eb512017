"""The event log: what happened, with ids and counts, never message text or names."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sandbox.clock import SandboxClock

EventValue = int | float | str | bool | None | list[int]


@dataclass(frozen=True)
class Event:
    """One logged happening."""

    seq: int
    time: float
    kind: str
    bot_id: int | None
    fields: dict[str, EventValue]

    def to_json(self) -> dict[str, EventValue]:
        """Return the control API's shape of this event."""
        shape: dict[str, EventValue] = {"seq": self.seq, "time": self.time, "kind": self.kind}
        if self.bot_id is not None:
            shape["bot_id"] = self.bot_id
        shape.update(self.fields)
        return shape


class EventLog:
    """A bounded, ordered list of events; each gets a sequence number."""

    def __init__(self, clock: SandboxClock, size: int) -> None:
        self._clock = clock
        self._events: deque[Event] = deque(maxlen=size)
        self._next_seq = 1

    def record(self, kind: str, bot_id: int | None, **fields: EventValue) -> None:
        """Append one event; fields must be ids, counts, flags or method names."""
        self._events.append(Event(self._next_seq, self._clock.now(), kind, bot_id, fields))
        self._next_seq += 1

    def since(self, seq: int, kind: str | None = None) -> list[Event]:
        """Return events with seq greater than `seq`, optionally of one kind."""
        return [
            event
            for event in self._events
            if event.seq > seq and (kind is None or event.kind == kind)
        ]

    @property
    def last_seq(self) -> int:
        """Return the sequence number of the newest event (0 if none)."""
        return self._next_seq - 1

    def clear(self) -> None:
        """Forget every event (sequence numbers keep growing)."""
        self._events.clear()
