"""The cover's small job, done for real: time-zone and unit conversion of one line of text.

Pure functions of the text (and, for the clock, the time given): no Telegram, no I/O.
An answer is language-neutral (numbers, units, zone names); None means "not understood".
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

MAX_QUERY = 200
_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$", re.IGNORECASE)
_OFFSET = re.compile(r"^(?:utc|gmt)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_JOINERS = {"to", "in", "->", "→", "=", "into"}


@cache
def _zone_names() -> dict[str, str]:
    """Lower-case IANA names and city names (last part, spaces for underscores) -> IANA name."""
    names: dict[str, str] = {}
    for name in sorted(available_timezones()):
        if name.startswith(("Etc/", "SystemV/", "posix/", "right/")) or "/" not in name:
            continue
        names[name.lower()] = name
        names.setdefault(name.rsplit("/", 1)[1].replace("_", " ").lower(), name)
    names.update({"utc": "UTC", "gmt": "UTC"})
    return names


def find_zone(text: str) -> tuple[str, tzinfo] | None:
    """A time zone named by IANA name, city, UTC/GMT or a UTC offset such as UTC+3; None if unknown."""
    key = " ".join(text.strip().split()).lower()
    offset = _OFFSET.match(key)
    if offset:
        sign, hours, minutes = offset.group(1), int(offset.group(2)), int(offset.group(3) or 0)
        if hours > 14 or minutes >= 60:
            return None
        delta = timedelta(hours=hours, minutes=minutes)
        label = f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")
        return label, timezone(delta if sign == "+" else -delta)
    name = _zone_names().get(key) or _zone_names().get(key.replace(" ", "_"))
    if name is None:
        return None
    try:
        return name, ZoneInfo(name)
    except ZoneInfoNotFoundError:
        return None


def _parse_time(text: str) -> tuple[int, int] | None:
    match = _TIME.match(text.strip())
    if not match:
        return None
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), (match.group(3) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return hour, minute


def _split_places(words: list[str]) -> tuple[tuple[str, tzinfo], tuple[str, tzinfo]] | None:
    """Two zones from the remaining words, split at a joiner word or at the first split that names two zones."""
    if any(w.lower() in _JOINERS for w in words):
        at = next(i for i, w in enumerate(words) if w.lower() in _JOINERS)
        first, second = find_zone(" ".join(words[:at])), find_zone(" ".join(words[at + 1:]))
        return (first, second) if first and second else None
    for at in range(1, len(words)):
        first, second = find_zone(" ".join(words[:at])), find_zone(" ".join(words[at:]))
        if first and second:
            return first, second
    return None


def convert_time(text: str, now: float) -> str | None:
    """'Tokyo' -> the time there now; '15:30 Berlin New York' -> that time in the second place."""
    if len(text) > MAX_QUERY:
        return None
    words = text.replace(",", " ").split()
    if not words:
        return None
    clock = _parse_time(words[0])
    if clock is None:
        place = find_zone(" ".join(words))
        if place is None:
            return None
        local = datetime.fromtimestamp(now, place[1])
        return f"{place[0]}: {local:%H:%M} ({local:%Y-%m-%d})"
    if len(words) > 1 and words[1].lower() in ("am", "pm"):  # "3 pm Berlin Tokyo"
        clock = _parse_time(words[0] + words[1])
        words = words[1:]
        if clock is None:
            return None
    places = _split_places(words[1:])
    if places is None:
        return None
    (source_name, source), (target_name, target) = places
    today = datetime.fromtimestamp(now, source).date()
    moment = datetime(today.year, today.month, today.day, clock[0], clock[1], tzinfo=source)
    there = moment.astimezone(target)
    shift = (there.date() - moment.date()).days
    day = f" ({'+' if shift > 0 else '-'}{abs(shift)}d)" if shift else ""
    return f"{moment:%H:%M} {source_name} = {there:%H:%M}{day} {target_name}"


# -- units -----------------------------------------------------------------------------------------

#: unit -> (dimension, factor to the dimension's base unit)
_UNITS: dict[str, tuple[str, float]] = {
    "mm": ("length", 0.001), "cm": ("length", 0.01), "m": ("length", 1.0), "km": ("length", 1000.0),
    "in": ("length", 0.0254), "ft": ("length", 0.3048), "yd": ("length", 0.9144), "mi": ("length", 1609.344),
    "g": ("mass", 0.001), "kg": ("mass", 1.0), "t": ("mass", 1000.0), "oz": ("mass", 0.028349523125),
    "lb": ("mass", 0.45359237), "st": ("mass", 6.35029318),
    "ml": ("volume", 0.001), "l": ("volume", 1.0), "gal": ("volume", 3.785411784), "qt": ("volume", 0.946352946),
    "pt": ("volume", 0.473176473), "cup": ("volume", 0.2365882365),
    "km/h": ("speed", 1 / 3.6), "m/s": ("speed", 1.0), "mph": ("speed", 0.44704), "kn": ("speed", 0.514444),
}
_ALIASES = {
    "meter": "m", "meters": "m", "metre": "m", "metres": "m", "kilometer": "km", "kilometers": "km",
    "kilometre": "km", "kilometres": "km", "mile": "mi", "miles": "mi", "foot": "ft", "feet": "ft",
    "inch": "in", "inches": "in", "yard": "yd", "yards": "yd", "kilo": "kg", "kilos": "kg", "kilogram": "kg",
    "kilograms": "kg", "gram": "g", "grams": "g", "pound": "lb", "pounds": "lb", "lbs": "lb", "ounce": "oz",
    "ounces": "oz", "liter": "l", "liters": "l", "litre": "l", "litres": "l", "gallon": "gal", "gallons": "gal",
    "kmh": "km/h", "kph": "km/h", "knots": "kn", "kt": "kn",
    "c": "c", "°c": "c", "celsius": "c", "f": "f", "°f": "f", "fahrenheit": "f", "k": "k", "kelvin": "k",
}
_TEMPERATURE = {"c": "°C", "f": "°F", "k": "K"}
_NUMBER = re.compile(r"^([+-]?\d+(?:[.,]\d+)?)\s*(.*)$")


def _unit(text: str) -> str | None:
    key = text.strip().lower()
    key = _ALIASES.get(key, key)
    return key if key in _UNITS or key in _TEMPERATURE else None


def _to_kelvin(value: float, unit: str) -> float:
    return value + 273.15 if unit == "c" else (value - 32) * 5 / 9 + 273.15 if unit == "f" else value


def _from_kelvin(value: float, unit: str) -> float:
    return value - 273.15 if unit == "c" else (value - 273.15) * 9 / 5 + 32 if unit == "f" else value


def _label(unit: str) -> str:
    return _TEMPERATURE.get(unit, unit)


def _number(value: float) -> str:
    text = f"{value:.6g}"
    return "0" if text == "-0" else text


def convert_units(text: str) -> str | None:
    """'5 km mi', '70 kg to lb', '30 C F' -> the converted value; None if not understood."""
    if len(text) > MAX_QUERY:
        return None
    match = _NUMBER.match(text.strip())
    if not match:
        return None
    value = float(match.group(1).replace(",", "."))
    words = [w for w in match.group(2).split() if w.lower() not in _JOINERS]
    if len(words) != 2:
        return None
    source, target = _unit(words[0]), _unit(words[1])
    if source is None or target is None:
        return None
    if source in _TEMPERATURE or target in _TEMPERATURE:
        if not (source in _TEMPERATURE and target in _TEMPERATURE):
            return None
        result = _from_kelvin(_to_kelvin(value, source), target)
    else:
        (dimension, factor), (target_dimension, target_factor) = _UNITS[source], _UNITS[target]
        if dimension != target_dimension:
            return None
        result = value * factor / target_factor
    return f"{_number(value)} {_label(source)} = {_number(result)} {_label(target)}"


def answer(utility: str, text: str, now: float) -> str | None:
    """The cover's answer to one line of text; None if it is not a query the utility understands."""
    if utility == "units":
        return convert_units(text)
    return convert_time(text, now)

