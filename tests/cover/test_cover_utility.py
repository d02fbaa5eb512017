"""The cover's job, done for real: time zones and units, and refusals of what it does not understand."""

from __future__ import annotations

import pytest

from bot.cover_utility import MAX_QUERY, convert_time, convert_units, find_zone

NOON_UTC = 1_700_049_600  # 2023-11-15 12:00 UTC


@pytest.mark.parametrize(("query", "expected"), [
    ("Tokyo", "Asia/Tokyo: 21:00 (2023-11-15)"),
    ("new york", "America/New_York: 07:00 (2023-11-15)"),
    ("Europe/Berlin", "Europe/Berlin: 13:00 (2023-11-15)"),
    ("UTC-5", "UTC-5: 07:00 (2023-11-15)"),
    ("15:30 Berlin New York", "15:30 Europe/Berlin = 09:30 America/New_York"),
    ("3 pm London to Tokyo", "15:00 Europe/London = 00:00 (+1d) Asia/Tokyo"),
    ("01:00 UTC in Los Angeles", "01:00 UTC = 17:00 (-1d) America/Los_Angeles"),
])
def test_times_are_shown_and_converted(query: str, expected: str) -> None:
    assert convert_time(query, NOON_UTC) == expected


@pytest.mark.parametrize("query", ["", "help me", "25:00 Berlin Tokyo", "13 pm Berlin Tokyo", "UTC+15",
                                   "10:00 Berlin", "Atlantis", "x" * (MAX_QUERY + 1)])
def test_what_is_not_a_time_query_is_not_understood(query: str) -> None:
    assert convert_time(query, NOON_UTC) is None


def test_zones_are_found_by_city_and_offset() -> None:
    assert find_zone("sao paulo") is not None and find_zone("UTC+5:30") is not None
    assert find_zone("Nowhere") is None


@pytest.mark.parametrize(("query", "expected"), [
    ("5 km mi", "5 km = 3.10686 mi"),
    ("70 kg to lb", "70 kg = 154.324 lb"),
    ("30 C F", "30 °C = 86 °F"),
    ("-40 F in C", "-40 °F = -40 °C"),
    ("1,5 l ml", "1.5 l = 1500 ml"),
    ("100 km/h mph", "100 km/h = 62.1371 mph"),
])
def test_units_are_converted(query: str, expected: str) -> None:
    assert convert_units(query) == expected


@pytest.mark.parametrize("query", ["", "km mi", "5 km kg", "5 C km", "5 parsec mi", "5 km", "1 2 3 4"])
def test_what_is_not_a_unit_query_is_not_understood(query: str) -> None:
    assert convert_units(query) is None
