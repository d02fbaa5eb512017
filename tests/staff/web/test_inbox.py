"""The inbox's filters, sorting and search, and the interface language, as pure functions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import cast

import pytest

from model.cases import Case, CaseId, Status
from model.views import CaseView, ReadState
from staff.desk import Desk
from staff.tui.desk import DeskThread
from staff.web.i18n import negotiate
from staff.web.inbox import Filters, Seen, choices, row_of, select
from staff.web.state import DeskState

NOW = 10_000_000


def view(case_id: str, *, created: int, urgency: str = "days", status: Status = Status.NEW,
         claimed: str | None = None, text: str = "", state: ReadState = ReadState.OK) -> CaseView:
    case = Case(CaseId(case_id), "main", status, created, created, claimed, None, None, None)
    request = {"answers": {"help": "legal", "urgency": urgency, "details": text}} if state is ReadState.OK else None
    return CaseView(case, state, request, None if state is ReadState.OK else "not for this key")


ROWS = [row_of(view("aaaaaaaa1", created=NOW - 3600, urgency="weeks", text="Ищут на границе")),
        row_of(view("bbbbbbbb2", created=NOW - 10 * 86400, urgency="now", claimed="cas-main",
                    status=Status.CLAIMED)),
        row_of(view("cccccccc3", created=NOW - 60, status=Status.CLOSED)),
        row_of(view("dddddddd4", created=NOW - 120, state=ReadState.NOT_FOR_THIS_KEY))]


def ids(filters: Filters, seen: Seen | None = None) -> list[str]:
    return [r.id for r in select(ROWS, filters, "cas-main", NOW, seen or Seen())]


def test_open_cases_newest_first_by_default() -> None:
    assert ids(Filters()) == ["dddddddd4", "aaaaaaaa1", "bbbbbbbb2"]


@pytest.mark.parametrize(("filters", "expected"), [
    (Filters(status="all", sort="oldest"), ["bbbbbbbb2", "aaaaaaaa1", "dddddddd4", "cccccccc3"]),
    (Filters(sort="urgency"), ["bbbbbbbb2", "aaaaaaaa1", "dddddddd4"]),
    (Filters(status="closed"), ["cccccccc3"]),
    (Filters(age="1d"), ["dddddddd4", "aaaaaaaa1"]),
    (Filters(claimed="me"), ["bbbbbbbb2"]),
    (Filters(claimed="nobody"), ["dddddddd4", "aaaaaaaa1"]),
    (Filters(urgency="now"), ["bbbbbbbb2"]),
    (Filters(q="ИЩУТ граница"), []),  # every word must be found
    (Filters(q="ищут границе"), ["aaaaaaaa1"]),
])
def test_filters_sort_and_search(filters: Filters, expected: list[str]) -> None:
    assert ids(filters) == expected


def test_a_case_this_key_cannot_read_is_listed_but_not_searchable_by_content() -> None:
    row = next(r for r in ROWS if r.id == "dddddddd4")
    assert not row.readable and row.summary == "" and row.haystack == "dddddddd4 main"


def test_unknown_filter_values_are_ignored() -> None:
    filters = Filters.from_query({"sort": "drop table", "status": "whatever", "age": "99y"})
    assert filters.sort == "newest" and ids(filters) == ["cccccccc3", "dddddddd4", "aaaaaaaa1", "bbbbbbbb2"]


def test_menus_offer_what_the_cases_have() -> None:
    offered = choices(ROWS)
    assert offered["urgency"] == ["now", "days", "weeks"] and offered["claimed"] == ["cas-main"]


@pytest.mark.parametrize(("chosen", "header", "expected"), [
    (None, "ru-RU,ru;q=0.9,en;q=0.8", "ru"),
    (None, "de-DE,en;q=0.5,ru;q=0.9", "ru"),
    (None, "fr", "en"),
    (None, None, "en"),
    ("en", "ru", "en"),
    ("xx", "ru", "ru"),
    (None, "ru;q=abc,en", "en"),
])
def test_the_language_is_the_switch_or_the_browsers(chosen: str | None, header: str | None, expected: str) -> None:
    assert negotiate(chosen, header) == expected


class SlowDesk:
    """Just enough of a Desk to hold the listing after its first batch (the web layer's part, not the desk's)."""

    me, where, greeting = "cas-main", "here", None

    def __init__(self) -> None:
        self.release = threading.Event()

    def refresh(self) -> None:
        return None

    def members(self, queue: str | None = None) -> list[object]:
        return []

    def list_batches(self, statuses: object = None) -> Iterator[list[CaseView]]:
        yield [view("aaaaaaaa1", created=NOW)]
        self.release.wait(10)
        yield [view("bbbbbbbb2", created=NOW)]

    def shut(self) -> None:
        self.release.set()


def test_the_first_screen_shows_the_first_batch_while_the_rest_decrypts() -> None:
    slow = SlowDesk()

    async def scenario() -> None:
        state = DeskState(lambda _p: lambda: cast(Desk, slow))
        state.adopt(DeskThread(lambda: cast(Desk, slow)))
        try:
            await state.first_screen()
            assert set(state.rows) == {"aaaaaaaa1"} and not state.loaded
            slow.release.set()
            assert state.loading is not None
            await state.loading
            assert set(state.rows) == {"aaaaaaaa1", "bbbbbbbb2"} and state.loaded
        finally:
            await state.lock()

    asyncio.run(scenario())


class ManyDesk(SlowDesk):
    """600 readable cases in two batches, at once."""

    def list_batches(self, statuses: object = None) -> Iterator[list[CaseView]]:
        yield [view(f"case{n:05d}", created=NOW - n) for n in range(300)]
        yield [view(f"case{n:05d}", created=NOW - n) for n in range(300, 600)]


def test_the_inbox_lists_at_most_max_rows_and_says_so() -> None:
    from starlette.testclient import TestClient

    from staff.web.app import MAX_ROWS, DeskApp, Settings
    from staff.web.gate import Gate
    from staff.web.life import Life
    from tests.staff.web.conftest import HOST, Clock, notice

    many = ManyDesk()
    state = DeskState(lambda _p: lambda: cast(Desk, many))
    state.adopt(DeskThread(lambda: cast(Desk, many)))
    clock, gate = Clock(), Gate()
    app = DeskApp(state, gate, Life(clock, 600), Settings(notice, hosts={HOST}, refresh_seconds=3600, clock=clock))
    try:
        with TestClient(app.app, base_url=f"http://{HOST}") as client:
            client.get(f"/s/{gate.url_secret}")
            while not state.loaded:
                client.get("/rows")
            page = client.get("/").text
            assert page.count("<tr data-case=") == MAX_ROWS and "600 of 600 cases" in page
            assert f"Only the first {MAX_ROWS} are listed" in page
            assert "case00000" in page and "case00599" not in page  # newest first
            narrowed = client.get("/", params={"q": "case00599"}).text
            assert "case00599" in narrowed and "Only the first" not in narrowed
    finally:
        if state.thread is not None:
            state.thread.close()
