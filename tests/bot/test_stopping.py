"""SIGTERM (systemd, docker, Kubernetes) stops the real `waystation bot run` exactly like Ctrl+C.

Exit status 0, "bot stopped" in the log, and the WAL folded into the database and truncated, so
no old frames stay on disk. Sent with the real signal to the real process.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import texts
from ops.doctor import diagnose
from storage.deletions import DeletionStore
from tests.bot.conftest import BotFactory
from tests.bot.flows import tr
from tests.bot.harness import Sandbox, configure_home, spawn, wait_until, waystation
from tests.conftest import build_staffed_home

pytestmark = pytest.mark.timeout(120)


def _wal(home: Path) -> int:
    wal = home / "waystation.db-wal"
    return wal.stat().st_size if wal.exists() else 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_the_bot_in_order(sandbox: Sandbox, run_bot: BotFactory, sig: signal.Signals) -> None:
    staffed, bot = run_bot()
    person = sandbox.person("en")
    person.say("/start")
    person.wait_for_text(tr("en", texts.CONSENT))
    with staffed.open() as server:  # the deletions just recorded, in the chat state file
        wait_until(lambda: DeletionStore(server.db).counts(0)[0] >= 2, 10, what="the deletions to be recorded")
    code = bot.stop(sig)
    log = bot.process.log()
    assert code == 0, log
    assert log.rstrip().splitlines()[-1].endswith("bot stopped"), log
    assert "Traceback" not in log
    assert _wal(staffed.root) == 0 and not (staffed.root / "waystation.db-shm").exists()
    with staffed.open() as server:  # what the bot wrote is in the chat state file, none of it in the database
        pending = DeletionStore(server.db).counts(0)[0]
    assert pending >= 2
    report, _ = diagnose(staffed.root, int(time.time()), {})
    assert not [f for f in report.findings if f.check == "database"], report.findings


@dataclass
class SilentApi:
    url: str
    held: list[socket.socket]


@pytest.fixture
def silent_api() -> Iterator[SilentApi]:
    """A Bot API that accepts connections and never answers (a black-holed network)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield SilentApi(f"http://127.0.0.1:{server.getsockname()[1]}/bot", held)
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_while_starting_stops_at_once(tmp_path: Path, sandbox: Sandbox, silent_api: SilentApi,
                                                    sig: signal.Signals) -> None:
    staffed = build_staffed_home(tmp_path / "home")
    configure_home(staffed.root, sandbox)
    config = staffed.root / "config.toml"
    config.write_text(config.read_text().replace(sandbox.bot_base_url, silent_api.url))
    process = spawn(waystation("bot", "run", "--home", str(staffed.root)), tmp_path / "bot.log")
    # Started far enough to be waiting for the Bot API (which never answers): its database is open.
    wait_until(lambda: silent_api.held or process.popen.poll() is not None, 30, what="the bot to call the Bot API")
    assert process.popen.poll() is None, process.log()
    code = process.stop(sig)
    log = process.log()
    assert code == 0, log
    assert "bot stopped" in log and "Traceback" not in log, log
    assert _wal(staffed.root) == 0
