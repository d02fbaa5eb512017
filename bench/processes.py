"""Benchmark plumbing: the real sandbox and the real bot as subprocesses, and a staffed home.

Benchmarks run on a plain install of the project (no test extras), so this module imports
nothing from tests/ and neither pytest nor hypothesis. It mirrors the parts of the test
harness (tests/bot/harness.py, tests/conftest.py) that bench/intake_load.py drives.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from crypto.keys import Identity
from crypto.roster import DAY, Member, Role, new_roster, sign_roster
from storage.home import init_home
from storage.server import Server

#: A well-formed token the sandbox accepts; it is no real bot's.
TOKEN = "424242:" + "T" * 35
#: The staff of a benchmark home: caseworkers on 'main' and 'other', and a volunteer.
STAFF: dict[str, tuple[Role, tuple[str, ...]]] = {
    "cas-main": (Role.CASEWORKER, ("main",)),
    "cas-main-2": (Role.CASEWORKER, ("main",)),
    "cas-other": (Role.CASEWORKER, ("other",)),
    "vol": (Role.VOLUNTEER, ("main",)),
}


class NotReady(RuntimeError):
    """A subprocess exited, or did not answer in time."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until predicate() is true; raise NotReady naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise NotReady(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def waystation(*args: str) -> list[str]:
    """Command line of the waystation CLI under the current interpreter."""
    return [sys.executable, "-m", "waystation", *args]


@dataclass
class Process:
    """A background subprocess whose output goes to a file."""

    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                return self.popen.wait(timeout)
        return int(self.popen.returncode)


def spawn(args: list[str], log_path: Path) -> Process:
    """Start a subprocess with stdout and stderr into log_path."""
    with log_path.open("ab") as handle:
        popen = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=dict(os.environ))
    return Process(popen, log_path)


@dataclass
class Sandbox:
    """A running `waystation sandbox`."""

    port: int
    process: Process
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/sandbox/api"

    @property
    def bot_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.client.get(f"{self.api}/events").json()["events"]
        return [e for e in events if kind is None or e["kind"] == kind]

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        reply = self.client.get(f"{self.api}/chats/{chat_id}/messages")
        reply.raise_for_status()
        return list(reply.json()["messages"])


def _answers(url: str, process: Process, what: str) -> bool:
    if process.popen.poll() is not None:
        raise NotReady(f"{what} exited: {process.log()}")
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def start_sandbox(tmp: Path, *extra: str) -> Sandbox:
    """Start `waystation sandbox` on a free port and wait until it answers."""
    port = free_port()
    process = spawn(waystation("sandbox", "--port", str(port), *extra), tmp / f"sandbox-{port}.log")
    sandbox = Sandbox(port, process)
    wait_until(lambda: _answers(f"{sandbox.api}/events", process, "the sandbox"), 20, "the sandbox to start")
    return sandbox


def build_staffed_home(root: Path) -> Identity:
    """Create a home at `root` and sign a roster with STAFF for it; returns the admin."""
    home = init_home(root)
    admin = Identity.generate("Bench Admin")
    now = int(time.time())
    roster = new_roster(admin.public, now, 30, 365)
    for name, (role, queues) in STAFF.items():
        identity = Identity.generate(name)
        roster = roster.with_member(Member(identity.public, role, queues, now, now + 365 * DAY), now, 30)
    home.add_trusted_admin(admin.signing_key.verify_key, admin.name)
    with Server.open(root, environ={}) as server:
        server.save_roster(sign_roster(roster, admin), now)
    return admin


def configure_home(root: Path, sandbox: Sandbox, *, delete_after: int, after_submit: int, flood: int) -> int:
    """Point a staffed home at the sandbox, give it a token and a free staff API port; returns that port."""
    port = free_port()
    config = (root / "config.toml").read_text()
    for default, wanted in (
        ('api_base_url = "https://api.telegram.org/bot"', f'api_base_url = "{sandbox.bot_base_url}"'),
        ('listen = "127.0.0.1:8765"', f'listen = "127.0.0.1:{port}"'),
        ("delete_after_seconds = 600", f"delete_after_seconds = {delete_after}"),
        ("delete_after_submit_seconds = 120", f"delete_after_submit_seconds = {after_submit}"),
        ("flood_messages = 20", f"flood_messages = {flood}"),
    ):
        if default not in config:
            raise NotReady(f"config.toml has no line {default!r}; update bench/processes.py")
        config = config.replace(default, wanted)
    (root / "config.toml").write_text(config)
    token = root / "secrets" / "bot_token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    return port


def start_bot(home: Path, port: int, log_path: Path) -> Process:
    """Run `waystation bot run` and wait for its health endpoint."""
    process = spawn(waystation("bot", "run", "--home", str(home)), log_path)
    wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz", process, "the bot"), 30, "the bot to start")
    return process
