"""The web desk in-process (Starlette's TestClient) over a real RemoteDesk and the live staff API of tests/staff."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from crypto.keys import load_identity
from staff.desk import Desk, RemoteDesk
from staff.pins import PinStore
from staff.tui.desk import DeskThread
from staff.web.app import DeskApp, Settings
from staff.web.gate import Gate
from staff.web.life import Life
from staff.web.preview import Notice
from staff.web.state import DeskState
from tests.cli.runner import PASSPHRASE
from tests.staff.conftest import Site

HOST = "127.0.0.1:8123"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def notice(language: str) -> Notice:
    return Notice(language, {"ru": "Русский"}.get(language, "English"), f"notice-{language}", f"show-{language}")


@dataclass
class WebDesk:
    """A desk app, its gate, its clock and a browser-like client (no cookie yet)."""

    app: DeskApp
    gate: Gate
    clock: Clock
    client: TestClient
    site: Site

    def enter(self) -> None:
        answer = self.client.get(f"/s/{self.gate.url_secret}", follow_redirects=False)
        assert answer.status_code == 303

    def post(self, path: str, **fields: str) -> object:
        return self.client.post(path, data={"token": self.gate.form_token, **fields}, follow_redirects=False)


def opener(site: Site, name: str) -> Callable[[bytes], Callable[[], Desk]]:
    data = site.key_files[name].read_bytes()

    def unlock(passphrase: bytes) -> Callable[[], Desk]:
        identity = load_identity(data, passphrase)
        return lambda: RemoteDesk.open(site.url, identity, PinStore(site.tmp / "pins" / f"{name}-web.json"))

    return unlock


@contextmanager
def web_desk(site: Site, name: str) -> Iterator[WebDesk]:
    """`name`'s desk, unlocked, served in-process on a fake host."""
    unlocker = opener(site, name)
    state = DeskState(unlocker)
    state.adopt(DeskThread(unlocker(PASSPHRASE.encode())))
    clock, gate = Clock(), Gate()
    app = DeskApp(state, gate, Life(clock, 600.0), Settings(notice, hosts={HOST}, refresh_seconds=3600, clock=clock))
    try:
        with TestClient(app.app, base_url=f"http://{HOST}") as client:
            yield WebDesk(app, gate, clock, client, site)
    finally:
        if state.thread is not None:
            state.thread.close()


@pytest.fixture
def web(site: Site) -> Iterator[WebDesk]:
    """cas-main's desk."""
    with web_desk(site, "cas-main") as desk:
        yield desk
