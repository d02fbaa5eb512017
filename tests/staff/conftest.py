"""A live staff API for tests: real uvicorn on a loopback port, real SQLCipher home, real signatures.

The server runs in a background thread with its own event loop and its own
database connection, exactly as `waystation bot run` mounts the routes. Tests
talk HTTP to it; they inspect the database through a second connection.
Every API answer a test sees is recorded and, when the test ends, checked
against the OpenAPI document (status documented, JSON body valid).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from starlette.applications import Starlette

from crypto.keys import Identity, dump_identity
from crypto.reference import CaseReference, hash_reference
from intake.requests import Request, seal_reply_handle, submit
from staff.desk import Desk, RemoteDesk
from staff.direct import DirectDesk
from staff.httpsig import sign_request
from staff.pins import PinStore
from staff.remote import RemoteStaff
from staffapi import staff_api_routes
from staffapi.limits import Limits
from staffapi.openapi import document
from storage.cases import CaseId
from storage.home import Home
from storage.server import Server
from tests.bot.harness import free_port, wait_until
from tests.cli.runner import PASSPHRASE
from tests.conftest import StaffedHome, build_staffed_home

CHAT_ID = 987_654_321_012
REQUEST_CANARY = "canary-request-Zq81"


class LiveServer:
    """uvicorn serving staff_api_routes in a thread; the Server is opened on that thread (SQLCipher's rule)."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time, limits: Limits | None = None) -> None:
        self.root = root
        self.clock = clock
        self.limits = limits
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._uvicorn: uvicorn.Server | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="staff-api", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as err:  # noqa: BLE001 - reported to the test by start()
            self._error = err

    async def _serve(self) -> None:
        with Server.open(self.root, environ={}) as server:
            app = Starlette(routes=staff_api_routes(server, self.clock, self.limits))
            self._uvicorn = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                          access_log=False, lifespan="off"))
            await self._uvicorn.serve()

    def start(self) -> LiveServer:
        self._thread.start()

        def ready() -> bool:
            if self._error is not None:
                raise AssertionError(f"staff API did not start: {self._error!r}")
            try:
                return httpx.get(f"{self.base_url}/openapi.json", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 15, what="the staff API to start")
        return self

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
            self._uvicorn.force_exit = True  # no grace period: the test is over
        self._thread.join(10)


# -- recording answers and checking them against the OpenAPI document -------------------

_DOC = document()
_TEMPLATES = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in _DOC["paths"]]


def operation_of(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The documented (template, operation) for a concrete method and path."""
    for pattern, template in _TEMPLATES:
        if pattern.match(path):
            operation = _DOC["paths"][template].get(method.lower())
            return None if operation is None else (template, operation)
    return None


def check_documented(method: str, path: str, status: int, body: Any) -> None:
    """Fail unless this answer is one the OpenAPI document promises, body included."""
    found = operation_of(method, path)
    assert found is not None, f"{method} {path} is not in the OpenAPI document"
    template, operation = found
    response = operation["responses"].get(str(status))
    assert response is not None, f"{method} {template} answered {status}, which is not documented"
    schema = response["content"]["application/json"]["schema"]
    errors = list(Draft202012Validator({**schema, "components": _DOC["components"]}).iter_errors(body))
    assert not errors, f"{method} {template} {status}: {errors[0].message}"


@dataclass
class Recorder:
    """Every (method, path, status, json) the test's HTTP clients saw."""

    seen: list[tuple[str, str, int, Any]] = field(default_factory=list)

    def hook(self, response: httpx.Response) -> None:
        response.read()
        try:
            body = response.json()
        except ValueError:
            body = response.text
        self.seen.append((response.request.method, response.request.url.path, response.status_code, body))

    def client(self) -> httpx.Client:
        return httpx.Client(timeout=30, event_hooks={"response": [self.hook]})

    def check(self) -> None:
        for method, path, status, body in self.seen:
            if path.startswith("/api/"):
                check_documented(method, path, status, body)


# -- the site: home, keys, seeded cases, live server ----------------------------------------


def snapshot(root: Path) -> tuple[list[tuple[Any, ...]], ...]:
    """Every row of cases, events, outbox and audit (a second connection, as an outside observer)."""
    with Server.open(root, environ={}) as server:
        conn = server.db.conn
        return tuple(conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                     for table in ("cases", "case_events", "outbox", "audit"))


def home_bytes(root: Path) -> bytes:
    """Every byte of every file in the server home (database, WAL, config, secrets)."""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


@dataclass
class Site:
    """A staffed home with seeded cases, key files and a running staff API."""

    tmp: Path
    home: StaffedHome
    live: LiveServer
    recorder: Recorder
    cases: dict[str, CaseId]
    references: dict[str, str]
    key_files: dict[str, Path]

    @property
    def url(self) -> str:
        return self.live.base_url

    @property
    def root(self) -> Path:
        return self.home.root

    def identity(self, name: str) -> Identity:
        return self.home.admin if name == "admin" else self.home.staff[name]

    def remote(self, name: str, pins: Path | None = None, clock: Callable[[], float] = time.time) -> RemoteStaff:
        """The remote client as `name`, pinning into its own file under tmp."""
        store = PinStore(pins or self.tmp / "pins" / f"{name}.json")
        return RemoteStaff(self.url, self.identity(name), store, clock=clock, http=self.recorder.client())

    def send(self, name: str | Identity | None, method: str, path: str, *, body: bytes | None = None,
             json: Any = None, offset: float = 0.0, nonce: str | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """One request, signed by `name` (or unsigned if None), `offset` seconds off the real clock."""
        content = body if body is not None else (b"" if json is None else _dumps(json))
        with self.recorder.client() as client:
            request = client.build_request(method, self.url + path, content=content or None,
                                           headers={"content-type": "application/json", **(headers or {})})
            if name is not None:
                identity = name if isinstance(name, Identity) else self.identity(name)
                sign_request(request, identity.signing_key, content, now=time.time() + offset, nonce=nonce)
            return client.send(request)

    def snapshot(self) -> tuple[list[tuple[Any, ...]], ...]:
        return snapshot(self.root)

    def open(self) -> Server:
        return self.home.open()


def _dumps(obj: Any) -> bytes:
    return jsonlib.dumps(obj).encode("utf-8")


def seed(staffed: StaffedHome) -> tuple[dict[str, CaseId], dict[str, str]]:
    """Two cases in 'main' (the first with a reply handle, as the bot makes them) and one in 'other'."""
    cases: dict[str, CaseId] = {}
    references: dict[str, str] = {}
    now = int(time.time())
    with staffed.open() as server:
        bot = server.bot_identity()
        requests = {
            "main": Request({"help": "shelter", "urgency": "now", "story": REQUEST_CANARY}, "ru", "telegram",
                            seal_reply_handle(bot, CHAT_ID)),
            "main-2": Request({"help": "documents"}, "en", "cli"),
            "other": Request({"help": "legal"}, "en", "telegram", seal_reply_handle(bot, CHAT_ID + 1)),
        }
        granularity = server.config.privacy.time_granularity_seconds
        for index, (label, request) in enumerate(requests.items()):
            # One time bucket apart, oldest first: within one bucket cases have no order (random ids).
            at = now - (len(requests) - index) * granularity
            receipt = submit(server, request, at, queue="other" if label == "other" else "main")
            cases[label], references[label] = receipt.case_id, receipt.reference
    return cases, references


def write_keys(staffed: StaffedHome, where: Path, kdf: Any) -> dict[str, Path]:
    """Every identity as a passphrase-protected key file (minimum Argon2id, for speed)."""
    where.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name, identity in [("admin", staffed.admin), *staffed.staff.items()]:
        files[name] = where / f"{name}.key"
        files[name].write_bytes(dump_identity(identity, PASSPHRASE.encode(), kdf))
    return files


@dataclass(frozen=True)
class Template:
    """One staffed, seeded home per test session; each test works on its own copy."""

    home: StaffedHome
    cases: dict[str, CaseId]
    references: dict[str, str]


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    staffed = build_staffed_home(tmp_path_factory.mktemp("template") / "home")
    cases, references = seed(staffed)
    return Template(staffed, cases, references)


@pytest.fixture
def site_limits() -> Limits | None:
    """The staff API's request budgets in `site`: None for config.toml's (a module may override this)."""
    return None


@pytest.fixture
def site(tmp_path: Path, kdf: Any, template: Template, site_limits: Limits | None) -> Iterator[Site]:
    """A fresh copy of the staffed home with three cases, and a live staff API on a free port."""
    shutil.copytree(template.home.root, tmp_path / "home")
    staffed = StaffedHome(tmp_path / "home", template.home.admin, dict(template.home.staff))
    live = LiveServer(staffed.root, limits=site_limits).start()
    recorder = Recorder()
    try:
        yield Site(tmp_path, staffed, live, recorder, dict(template.cases), dict(template.references),
                   write_keys(staffed, tmp_path / "keys", kdf))
    finally:
        live.stop()
    recorder.check()


def reference_hash(site: Site, label: str) -> bytes:
    """The stored hash of a seeded case's reference (what the bot computes for a follow-up)."""
    return hash_reference(CaseReference(site.references[label]), Home(site.root).pepper())


@contextmanager
def remote(site: Site, name: str) -> Iterator[Desk]:
    """A RemoteDesk for roster member `name` over the site's staff API, shut afterwards."""
    desk = RemoteDesk(site.remote(name))
    try:
        yield desk
    finally:
        desk.shut()


@contextmanager
def direct(site: Site, name: str) -> Iterator[Desk]:
    """A DirectDesk for roster member `name` on the site's home, shut afterwards."""
    desk = DirectDesk.open(site.root, site.identity(name))
    try:
        yield desk
    finally:
        desk.shut()
