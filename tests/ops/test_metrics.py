"""/metrics: Prometheus text format 0.0.4, counts only, no names or ids."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import httpx
import pytest
from starlette.applications import Starlette

from intake.requests import Request, submit
from storage.deletions import DeletionStore
from storage.server import Server
from tests.ops.conftest import OpsHome
from waystation.metrics import COUNTERS, Counters, metrics_route, render

DAY = 86_400

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?\d+)$')


def _get(server: Server, counters: Counters) -> httpx.Response:
    app = Starlette(routes=[metrics_route(server, counters)])

    async def fetch() -> httpx.Response:
        # ASGITransport runs the app on this thread's event loop: the thread that owns the connection.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.get("/metrics")

    return asyncio.run(fetch())


def _parse(text: str) -> dict[str, float]:
    assert text.endswith("\n")
    helped: set[str] = set()
    typed: dict[str, str] = {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind in ("counter", "gauge") and name not in typed
            typed[name] = kind
        else:
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name = match.group(1)
            assert name in typed and name in helped, f"{name} has no TYPE/HELP before it"
            samples[line.rsplit(" ", 1)[0]] = float(match.group(4))
    return samples


def test_metrics_page_parses_and_counts(ops_home: OpsHome) -> None:
    counters = Counters()
    counters.inc("updates", 5)
    counters.inc("intakes")
    counters.inc("send_retries", 2)
    with ops_home.staffed.open() as server:
        for _ in range(2):
            submit(server, Request({"help": "x"}), int(time.time()))
        # Stored due times are rounded up to the granularity (600 s): an hour ago is overdue whatever the clock.
        DeletionStore(server.db).record(5550001234, [10, 11, 12], int(time.time()) - 3600)
        DeletionStore(server.db).record(5550009999, [13], int(time.time()) + 600)
        response = _get(server, counters)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = _parse(response.text)
    assert samples["waystation_updates_total"] == 5
    assert samples["waystation_intakes_total"] == 1
    assert samples["waystation_send_retries_total"] == 2
    assert samples['waystation_cases{queue="main",status="new"}'] == 2
    assert samples['waystation_cases{queue="main",status="closed"}'] == 0
    assert samples["waystation_deletions_pending"] == 4
    assert samples["waystation_deletions_overdue"] == 3


def test_metrics_never_carry_names_or_ids(ops_home: OpsHome) -> None:
    with ops_home.staffed.open() as server:
        case_id = submit(server, Request({"help": "canary-help-text"}), int(time.time())).case_id
        DeletionStore(server.db).record(5550001234, [77], int(time.time()))
        text = _get(server, Counters()).text
    for secret in ("canary", "Ada Admin", "cas-main", case_id, "5550001234"):
        assert secret not in text, secret
    labels = set(re.findall(r'([a-z_]+)="', text))
    assert labels == {"queue", "status", "state"}


def _states(samples: dict[str, float]) -> str:
    on = [key for key, value in samples.items() if key.startswith("waystation_roster_state{") and value == 1]
    assert len(on) == 1, samples
    return on[0].split('"')[1]


def test_roster_gauges_follow_it_through_the_grace_to_expiry(ops_home: OpsHome) -> None:
    now = int(time.time())
    with ops_home.staffed.open() as server:
        standing = server.roster_standing(now)
        pages = {when: _parse(render(server, Counters(), when))
                 for when in (now, standing.expires + DAY, standing.grace_ends)}
        (ops_home.root / "roster.json").write_bytes(b'{"format": "waystation-roster"}')
        broken = _parse(render(server, Counters(), now))
    valid, grace, expired = pages.values()
    assert _states(valid) == "valid" and _states(grace) == "grace" and _states(expired) == "expired"
    assert valid["waystation_roster_expires_seconds"] == standing.expires - now
    assert grace["waystation_roster_expires_seconds"] == -DAY
    assert grace["waystation_roster_grace_ends_seconds"] == 29 * DAY
    assert expired["waystation_roster_grace_ends_seconds"] == 0
    assert valid["waystation_roster_member_expires_seconds"] == min(
        m.expires for m in standing.roster.members) - now
    assert valid['waystation_roster_caseworkers{queue="main"}'] == 2
    assert valid['waystation_roster_caseworkers{queue="other"}'] == 1
    assert grace['waystation_roster_caseworkers{queue="main"}'] == 2  # those it seals to during the grace
    assert valid["waystation_roster_admins"] == 1
    assert _states(broken) == "invalid" and "waystation_roster_expires_seconds" not in broken


def test_counters_refuse_unknown_names_and_negative_steps() -> None:
    counters = Counters()
    with pytest.raises(ValueError):
        counters.inc("chat_5550001234")
    with pytest.raises(ValueError):
        counters.inc("updates", -1)
    assert set(counters.snapshot()) == set(COUNTERS)


def test_counters_are_thread_safe() -> None:
    counters = Counters()
    threads = [threading.Thread(target=lambda: [counters.inc("updates") for _ in range(2000)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counters.snapshot()["updates"] == 16000
