"""Idle lock, unlocking in the page, and the desk ending when the page is gone."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from functools import partial

from crypto.keys import load_identity
from staff.desk import RemoteDesk
from staff.pins import PinStore
from staff.tui.desk import DeskThread
from staff.web.life import BYE_GRACE_SECONDS, FIRST_VISIT_SECONDS, GRACE_SECONDS, Life
from staff.web.state import MAX_UNLOCK_TRIES, DeskState
from tests.cli.runner import PASSPHRASE
from tests.staff.conftest import REQUEST_CANARY, Site
from tests.staff.web.conftest import Clock, WebDesk


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_idle_time_locks_the_desk_and_drops_key_and_rows(web: WebDesk) -> None:
    web.enter()
    assert REQUEST_CANARY in web.client.get(f"/case/{web.site.cases['main']}").text
    web.clock.now += 601
    web.client.post("/heartbeat", data={"token": web.gate.form_token, "active": "0"})  # the page is still open
    wait_for(lambda: web.app.state.locked)
    assert not web.app.ended.is_set()
    assert web.app.state.thread is None and web.app.state.rows == {}
    answer = web.client.get("/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/unlock"
    assert web.client.get("/rows").status_code == 423
    assert web.client.post("/heartbeat", data={"token": web.gate.form_token}).text == "locked"


def test_heartbeats_alone_do_not_keep_the_desk_unlocked(web: WebDesk) -> None:
    web.enter()
    for _ in range(7):
        web.clock.now += 100
        web.client.post("/heartbeat", data={"token": web.gate.form_token, "active": "0"})
    wait_for(lambda: web.app.state.locked)


def test_the_passphrase_unlocks_again_and_a_wrong_one_does_not(web: WebDesk) -> None:
    web.enter()
    web.post("/lock")
    assert web.app.state.locked
    wrong = web.post("/unlock", passphrase="not it")
    assert wrong.headers["location"] == "/unlock?wrong=1" and web.app.state.locked
    right = web.post("/unlock", passphrase=PASSPHRASE)
    assert right.headers["location"] == "/" and not web.app.state.locked
    assert REQUEST_CANARY in web.client.get(f"/case/{web.site.cases['main']}").text


def test_guessing_passphrases_ends_the_desk(web: WebDesk) -> None:
    web.enter()
    web.post("/lock")
    for _ in range(MAX_UNLOCK_TRIES):
        web.post("/unlock", passphrase="guess")
    assert web.app.ended.is_set()


def test_the_desk_ends_when_the_page_says_goodbye_and_does_not_come_back(web: WebDesk) -> None:
    web.enter()
    web.post("/bye")
    web.clock.now += BYE_GRACE_SECONDS + 1
    wait_for(web.app.ended.is_set)


def test_moving_between_pages_does_not_end_it() -> None:
    clock = Clock()
    life = Life(clock, 600)
    life.active()
    life.bye()  # leaving the inbox for a case page
    clock.now += BYE_GRACE_SECONDS / 2
    life.seen()  # the case page loaded
    clock.now += BYE_GRACE_SECONDS * 2
    assert not life.should_end()


def test_silence_ends_it_and_an_unvisited_url_expires() -> None:
    clock = Clock()
    life = Life(clock, 600)
    clock.now += FIRST_VISIT_SECONDS - 1
    assert not life.should_end()
    clock.now += 2
    assert life.should_end()
    life.seen()
    clock.now += GRACE_SECONDS - 1
    assert not life.should_end()
    clock.now += 2
    assert life.should_end()


def test_locking_lets_go_of_the_unlocked_key(site: Site) -> None:
    """After the lock nothing in the process refers to the Identity any more (Python frees it)."""
    identity = load_identity(site.key_files["cas-main"].read_bytes(), PASSPHRASE.encode())
    held = weakref.ref(identity)
    pins = PinStore(site.tmp / "pins" / "weak.json")
    state = DeskState(lambda _p: lambda: RemoteDesk.open(site.url, load_identity(b"", None), pins))
    state.adopt(DeskThread(partial(RemoteDesk.open, site.url, identity, pins)))
    del identity
    asyncio.run(state.reload())
    assert state.rows and held() is not None
    asyncio.run(state.lock())
    gc.collect()
    assert held() is None and state.rows == {}
