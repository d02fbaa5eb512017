"""Times of day in a time zone: daily schedules (digest, retention) and volunteers' quiet hours."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.errors import StorageError

_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MINUTES_PER_DAY = 24 * 60


class TimeOfDayInvalid(StorageError, ValueError):
    """A time of day, range or time zone that cannot be understood."""


def parse_time_of_day(text: str) -> int:
    """'HH:MM' (24-hour) as minutes after midnight."""
    match = _HH_MM.fullmatch(text.strip())
    if match is None:
        raise TimeOfDayInvalid(f"{text!r} is not a time of day written HH:MM (00:00 to 23:59)")
    return int(match.group(1)) * 60 + int(match.group(2))


def format_time_of_day(minutes: int) -> str:
    """Minutes after midnight as 'HH:MM'."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def zone(name: str) -> ZoneInfo:
    """A time zone by its IANA name (e.g. 'Europe/Berlin')."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise TimeOfDayInvalid(f"{name!r} is not a known time zone (use an IANA name such as Europe/Berlin)") from err


def minute_of_day(ts: float, tz: ZoneInfo) -> int:
    """Local minutes after midnight at Unix time `ts`."""
    local = datetime.fromtimestamp(ts, tz)
    return local.hour * 60 + local.minute


def next_time_of_day(ts: float, minutes: int, tz: ZoneInfo) -> int:
    """The first Unix time strictly after `ts` at which the local clock shows `minutes`."""
    local = datetime.fromtimestamp(ts, tz)
    wall = time(minutes // 60, minutes % 60)
    for days in range(3):  # today, tomorrow, or (across a DST gap) the day after
        candidate = datetime.combine(local.date() + timedelta(days=days), wall, tzinfo=tz).timestamp()
        if candidate > ts:
            return int(candidate)
    raise TimeOfDayInvalid("no such time of day in the next three days")  # unreachable with real zones


@dataclass(frozen=True)
class QuietHours:
    """A daily window, in a volunteer's own time zone, in which only the most urgent alerts are sent."""

    start: int  # minutes after midnight
    end: int
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not (0 <= self.start < MINUTES_PER_DAY and 0 <= self.end < MINUTES_PER_DAY):
            raise TimeOfDayInvalid("quiet hours must lie between 00:00 and 23:59")
        if self.start == self.end:
            raise TimeOfDayInvalid("quiet hours must start and end at different times")
        zone(self.timezone)

    @classmethod
    def parse(cls, text: str, timezone: str = "UTC") -> QuietHours:
        """'22:00-07:00' in `timezone`; the window may run past midnight."""
        start, sep, end = text.partition("-")
        if not sep:
            raise TimeOfDayInvalid(f"{text!r}: write quiet hours as HH:MM-HH:MM, e.g. 22:00-07:00")
        return cls(parse_time_of_day(start), parse_time_of_day(end), timezone)

    def contains(self, ts: float) -> bool:
        """True if Unix time `ts` falls in the window."""
        now = minute_of_day(ts, zone(self.timezone))
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def ends_after(self, ts: float) -> int:
        """When the window that contains `ts` is over."""
        return next_time_of_day(ts, self.end, zone(self.timezone))

    def __str__(self) -> str:
        return f"{format_time_of_day(self.start)}-{format_time_of_day(self.end)} {self.timezone}"
