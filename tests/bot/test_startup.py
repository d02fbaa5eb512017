"""What stops the real `waystation bot run` at start is one clear line, never a traceback, never the token.

The staff API port already taken, a token Telegram refuses (with text and with JSON logs), a
secret other users can read, and a Bot API that cannot be reached yet (waited for with
backoff, one line per attempt, until it answers or a stop signal comes). Real processes, the
real sandbox, a real gateway standing in for the network coming back.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot import texts
from tests.bot.flows import tr
from tests.bot.gateway import Gateway
from tests.bot.harness import (
    TOKEN,
    Process,
    Sandbox,
    configure_home,
    free_port,
    spawn,
    wait_until,
    waystation,
)
from tests.conftest import StaffedHome, build_staffed_home

pytestmark = pytest.mark.timeout(180)
EXIT_CONFIG = 78


def _home(tmp_path: Path, sandbox: Sandbox, *, api: str | None = None, extra: str = "") -> tuple[StaffedHome, int]:
    staffed = build_staffed_home(tmp_path / "home")
    port = configure_home(staffed.root, sandbox, extra=extra)
    if api is not None:
        config = staffed.root / "config.toml"
        config.write_text(config.read_text().replace(sandbox.bot_base_url, api))
    return staffed, port


def _json_logs(root: Path) -> None:
    config = root / "config.toml"
    config.write_text(config.read_text().replace('format = "text"', 'format = "json"'))


def _run(root: Path, tmp_path: Path, name: str = "bot.log") -> Process:
    return spawn(waystation("bot", "run", "--home", str(root)), tmp_path / name)


def _finished(process: Process, timeout: float = 60) -> tuple[int, list[str]]:
    code = process.popen.wait(timeout)
    return code, [line for line in process.log().splitlines() if line.strip()]


def _error_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("Error:")]


def _healthz(port: int) -> tuple[int, dict[str, object]] | None:
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except httpx.HTTPError:
        return None
    return answer.status_code, answer.json()


@pytest.fixture
def taken_port() -> Iterator[socket.socket]:
    """Someone else listening on a port (an old instance, another service)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def test_a_staff_port_in_use_is_one_line_naming_the_address_before_running(
        tmp_path: Path, sandbox: Sandbox, taken_port: socket.socket) -> None:
    staffed, port = _home(tmp_path, sandbox)
    taken = taken_port.getsockname()[1]
    config = staffed.root / "config.toml"
    config.write_text(config.read_text().replace(f'listen = "127.0.0.1:{port}"', f'listen = "127.0.0.1:{taken}"'))
    code, lines = _finished(_run(staffed.root, tmp_path))
    assert code != 0, lines
    [error] = _error_lines(lines)
    assert f"127.0.0.1:{taken}" in error and "already in use" in error and "[staff_api] listen" in error, error
    text = "\n".join(lines)
    assert "bot running" not in text and "Traceback" not in text and "internal error" not in text, text


def _register(sandbox: Sandbox) -> None:
    """The sandbox knows bot 424242 by TOKEN; the same id with another secret is then a revoked token."""
    httpx.get(f"{sandbox.bot_base_url}{TOKEN}/getMe", timeout=10).raise_for_status()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_refused_token_is_one_line_without_the_token_and_exit_78(tmp_path: Path, sandbox: Sandbox,
                                                                   log_format: str) -> None:
    _register(sandbox)
    staffed, port = _home(tmp_path, sandbox)
    revoked = "424242:" + "R" * 35
    (staffed.root / "secrets" / "bot_token").write_text(revoked + "\n")
    if log_format == "json":
        _json_logs(staffed.root)
    code, lines = _finished(_run(staffed.root, tmp_path))
    assert code == EXIT_CONFIG, lines
    [error] = _error_lines(lines)
    assert "refused the bot token" in error and "secrets/bot_token" in error and "@BotFather" in error, error
    text = "\n".join(lines)
    assert "R" * 20 not in text and revoked not in text, "the token was printed"
    assert "Traceback" not in text and "bot running" not in text, text
    if log_format == "json":  # every other line is one JSON log record
        for line in lines:
            if line is not error:
                json.loads(line)
    assert _healthz(port) is None  # the listener is closed again


def test_a_secret_others_can_read_stops_the_bot_with_the_chmod_to_run(tmp_path: Path, sandbox: Sandbox) -> None:
    staffed, _ = _home(tmp_path, sandbox)
    key = staffed.root / "secrets" / "db.key"
    os.chmod(key, 0o644)
    code, lines = _finished(_run(staffed.root, tmp_path))
    assert code == EXIT_CONFIG, lines
    [error] = lines
    assert error.startswith("Error:") and str(key) in error and f"chmod 600 {key}" in error, error
    os.chmod(key, 0o600)
    os.chmod(staffed.root / "secrets", 0o750)
    code, lines = _finished(_run(staffed.root, tmp_path, "bot2.log"))
    assert code == EXIT_CONFIG and len(lines) == 1 and f"chmod 700 {staffed.root / 'secrets'}" in lines[0], lines


def _attempts(process: Process) -> list[tuple[int, int]]:
    """(attempt, seconds to the next) of each 'could not be reached' line so far."""
    return [(int(a), int(s)) for a, s in
            re.findall(r"could not be reached \([^)]*\); attempt (\d+), next in (\d+) s", process.log())]


def test_an_unreachable_bot_api_is_waited_for_with_backoff_then_intake_works(tmp_path: Path,
                                                                            sandbox: Sandbox) -> None:
    gateway = Gateway(f"http://127.0.0.1:{sandbox.port}", port=free_port())
    staffed, port = _home(tmp_path, sandbox, api=gateway.bot_base_url)  # nothing listens there yet
    process = _run(staffed.root, tmp_path)
    try:
        wait_until(lambda: len(_attempts(process)) >= 4 or process.popen.poll() is not None, 30,
                   what="four attempts to reach the Bot API")
        assert process.popen.poll() is None, process.log()
        assert _attempts(process)[:4] == [(1, 1), (2, 2), (3, 4), (4, 8)], process.log()
        # Meanwhile the staff API and /healthz serve, and say what is missing.
        status, body = wait_until(lambda: _healthz(port), 10, what="/healthz")
        assert status == 503 and body["failed"] == ["bot_api", "bot"], body
        gateway.start()  # the network comes back
        try:
            wait_until(lambda: "bot running" in process.log(), 30, what="the bot to start once the API answers")
            assert (_healthz(port) or (0, {}))[0] == 200
            person = sandbox.person("en")
            person.say("/start")
            person.wait_for_text(tr("en", texts.CONSENT))
        finally:
            code = process.stop(signal.SIGTERM)
            gateway.stop()
    finally:
        if process.popen.poll() is None:
            process.popen.kill()
    log = process.log()
    assert code == 0 and "Traceback" not in log and TOKEN not in log, log
    assert log.rstrip().splitlines()[-1].endswith("bot stopped"), log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_during_the_backoff_wait_stops_cleanly(tmp_path: Path, sandbox: Sandbox,
                                                            sig: signal.Signals) -> None:
    staffed, _ = _home(tmp_path, sandbox, api=f"http://127.0.0.1:{free_port()}/bot")
    process = _run(staffed.root, tmp_path)
    wait_until(lambda: len(_attempts(process)) >= 3 or process.popen.poll() is not None, 30,
               what="the bot to wait between attempts")
    before = len(_attempts(process))
    code = process.stop(sig)
    log = process.log()
    assert code == 0, log
    assert len(_attempts(process)) == before, log  # the wait ended at the signal: no attempt after it
    assert log.rstrip().splitlines()[-1].endswith("bot stopped") and "Traceback" not in log, log
    wal = staffed.root / "waystation.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
