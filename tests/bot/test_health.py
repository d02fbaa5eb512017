"""/healthz of the real `waystation bot run`: 503 naming the part when the Bot API or the roster is lost, 200 after.

The bot talks to the sandbox through a gateway that the test stops and starts: the network
going away and coming back, with nothing of ours replaced.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.bot.gateway import Gateway
from tests.bot.harness import Sandbox, configure_home, free_port, start_bot, wait_until
from tests.conftest import build_staffed_home

pytestmark = pytest.mark.timeout(180)
SILENCE = 10


def _health(port: int) -> tuple[int, dict[str, object]]:
    answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    return answer.status_code, answer.json()


def test_healthz_follows_the_bot_api_and_the_roster_of_a_running_bot(tmp_path: Path, sandbox: Sandbox) -> None:
    gateway = Gateway(f"http://127.0.0.1:{sandbox.port}", port=free_port()).start()
    staffed = build_staffed_home(tmp_path / "home")
    port = configure_home(staffed.root, sandbox)
    config = staffed.root / "config.toml"
    config.write_text(config.read_text().replace(sandbox.bot_base_url, gateway.bot_base_url)
                      .replace("bot_api_silence_seconds = 180", f"bot_api_silence_seconds = {SILENCE}"))
    bot = start_bot(staffed.root, port, tmp_path / "bot.log")
    try:
        status, body = _health(port)
        assert status == 200 and body == {"ok": True, "parts": {"roster": "ok", "database": "ok", "bot_api": "ok",
                                                                 "bot": "ok"}}, body
        gateway.stop()  # the Bot API can no longer be reached
        wait_until(lambda: _health(port)[0] == 503, SILENCE * 4, what="/healthz to report the Bot API lost")
        status, body = _health(port)
        assert body["failed"] == ["bot_api"] and body["parts"]["bot_api"] == "unreachable", body  # type: ignore[index]
        gateway = Gateway(gateway.upstream, port=gateway.port).start()  # it comes back
        wait_until(lambda: _health(port)[0] == 200, SILENCE * 4, what="/healthz to recover with the Bot API")
        roster = staffed.root / "roster.json"
        saved = roster.read_bytes()
        roster.unlink()
        status, body = _health(port)
        assert status == 503 and body["failed"] == ["roster"], body
        roster.write_bytes(saved)
        assert _health(port)[0] == 200
    finally:
        bot.stop()
        gateway.stop()
    log = bot.process.log()
    # One warning for the outage and one line when it ends, not one per heartbeat.
    assert log.count("the Bot API did not answer getMe") == 1 and log.count("the Bot API answers again") == 1, log
    assert "Traceback" not in log
    assert f"database key: from {staffed.root / 'secrets' / 'db.key'}" in log  # the source it used, never the key
    assert (staffed.root / "secrets" / "db.key").read_text().strip() not in log
