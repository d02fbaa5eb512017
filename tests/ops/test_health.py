"""/healthz parts on a real server home: the database part on a real full disk, the Bot API part by time, no content."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette

from bot.reach import BotApiReach
from storage.errors import DatabaseWriteFailed
from storage.server import Server
from tests.conftest import build_staffed_home
from tests.fulldisk import fill
from tests.ops.conftest import OpsHome
from tests.ops.test_metrics import _parse
from waystation.health import PROBE_EVERY, Health
from waystation.metrics import Counters, metrics_route


class Clock:
    """A clock the test moves, starting now."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _get(health: Health, path: str) -> httpx.Response:
    app = Starlette(routes=[health.route(), metrics_route(health.server, Counters(), health=health)])

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.get(path)

    return asyncio.run(fetch())


def test_ready_only_with_every_part_and_the_answer_holds_no_content(ops_home: OpsHome) -> None:
    clock = Clock()
    reach = BotApiReach(clock=clock)
    with ops_home.staffed.open() as server:
        health = Health(server, reach, silence_seconds=60)
        answer = _get(health, "/healthz")
        assert answer.status_code == 503
        assert answer.json() == {"ok": False, "failed": ["bot_api", "bot"], "parts": {
            "roster": "ok", "database": "ok", "bot_api": "unreachable", "bot": "starting"}}
        reach.reached()
        health.bot = "ok"
        answer = _get(health, "/healthz")
        assert answer.status_code == 200 and answer.json() == {"ok": True, "parts": {
            "roster": "ok", "database": "ok", "bot_api": "ok", "bot": "ok"}}
        samples = _parse(_get(health, "/metrics").text)
        assert samples["waystation_ready"] == 1 and samples['waystation_part_ready{part="bot_api"}'] == 1
        clock.now += 61  # a minute without any answer from the Bot API
        answer = _get(health, "/healthz")
        assert answer.status_code == 503 and answer.json()["failed"] == ["bot_api"]
        samples = _parse(_get(health, "/metrics").text)
        assert samples["waystation_ready"] == 0 and samples['waystation_part_ready{part="bot_api"}'] == 0
        (ops_home.root / "roster.json").unlink()  # no roster: nothing can be sealed to anyone
        reach.reached()
        answer = _get(health, "/healthz")
        assert answer.status_code == 503 and answer.json()["failed"] == ["roster"]
        assert answer.json()["parts"]["roster"] == "unusable"


def test_the_database_part_on_a_real_full_disk(small_disk: Path) -> None:
    staffed = build_staffed_home(small_disk / "home")
    with Server.open(staffed.root, environ={}) as server:
        clock = Clock()
        reach = BotApiReach(clock=clock)
        reach.reached()
        health = Health(server, reach, silence_seconds=60, clock=clock, bot="ok")
        assert health.database_part() == "ok"
        filler = fill(small_disk)
        assert health.database_part() == "low-space"
        try:
            with server.db.transaction() as conn:
                conn.execute("INSERT INTO meta (key, value) VALUES ('big', ?)", ("x" * 20_000,))
        except DatabaseWriteFailed:
            pass
        assert server.db.write_failure == "SQLITE_FULL"
        assert health.database_part() == "write-failed"  # the probe write fails too
        filler.unlink()
        clock.now += PROBE_EVERY  # a failing probe is not repeated sooner
        assert health.database_part() == "ok" and server.db.write_failure is None  # the probe write succeeded
        assert _get(health, "/healthz").status_code == 200
