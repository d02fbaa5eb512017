"""Test harness: the real sandbox and the real bot as subprocesses, a person driven over HTTP.

Nothing of ours is mocked: the bot is `waystation bot run`, talking HTTP to
`waystation sandbox`, exactly as in the demo.
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

TOKEN = "424242:" + "T" * 35


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll until predicate() is truthy; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


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


def spawn(args: list[str], log_path: Path, env: dict[str, str] | None = None) -> Process:
    """Start a subprocess with stdout and stderr into log_path."""
    handle = log_path.open("ab")
    popen = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env={**os.environ, **(env or {})})
    handle.close()
    return Process(popen, log_path)


@dataclass
class Sandbox:
    """A running sandbox messenger."""

    port: int
    process: Process
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/sandbox/api"

    @property
    def bot_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def person(self, language: str = "en", name: str = "Sandbox Person", username: str | None = None) -> Person:
        body: dict[str, str] = {"first_name": name, "language_code": language}
        if username:
            body["username"] = username
        reply = self.client.post(f"{self.api}/users", json=body)
        reply.raise_for_status()
        return Person(self, int(reply.json()["chat_id"]))

    def group(self) -> int:
        reply = self.client.post(f"{self.api}/groups", json={"first_name": "Group Member"})
        reply.raise_for_status()
        return int(reply.json()["chat_id"])

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        events = self.client.get(f"{self.api}/events").json()["events"]
        return [e for e in events if kind is None or e["kind"] == kind]

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        reply = self.client.get(f"{self.api}/chats/{chat_id}/messages")
        reply.raise_for_status()
        return list(reply.json()["messages"])

    def post(self, chat_id: int, text: str) -> None:
        self.client.post(f"{self.api}/chats/{chat_id}/messages", json={"text": text}).raise_for_status()

    def delay(self, chat_id: int, seconds: float = 60, method: str = "sendMessage", count: int = 1) -> None:
        """Hold the answer to the next `count` calls of `method` in this chat (the call itself takes effect)."""
        self.client.post(f"{self.api}/delays", params={"bot": TOKEN}, json={
            "method": method, "seconds": seconds, "chat_id": chat_id, "count": count}).raise_for_status()

    def delayed(self, chat_id: int) -> bool:
        """True once a call in this chat is being held."""
        return any(e.get("chat_id") == chat_id for e in self.events("answer_delayed"))


@dataclass
class Person:
    """Someone in a private chat with the bot, on the sandbox."""

    sandbox: Sandbox
    chat_id: int

    def messages(self) -> list[dict[str, Any]]:
        return self.sandbox.messages(self.chat_id)

    def bot_messages(self) -> list[dict[str, Any]]:
        return [m for m in self.messages() if m["side"] == "bot"]

    def say(self, text: str) -> None:
        self.sandbox.post(self.chat_id, text)

    def buttons(self, message: dict[str, Any]) -> list[tuple[str, str]]:
        markup = message.get("reply_markup") or {}
        return [(b["text"], b.get("callback_data", "")) for row in markup.get("inline_keyboard", []) for b in row]

    def press(self, data: str, timeout: float = 10.0) -> None:
        """Press the button with callback data `data` on the newest bot message that has it."""
        def find() -> dict[str, Any] | None:
            for message in reversed(self.bot_messages()):
                if any(d == data for _, d in self.buttons(message)):
                    return message
            return None

        message = wait_until(find, timeout, what=f"a button {data!r}")
        self.sandbox.client.post(f"{self.sandbox.api}/chats/{self.chat_id}/callback",
                                 json={"message_id": message["message_id"], "data": data}).raise_for_status()

    def wait_for_text(self, needle: str, timeout: float = 10.0) -> dict[str, Any]:
        """The newest bot message containing `needle`, once it appears."""
        def find() -> dict[str, Any] | None:
            return next((m for m in reversed(self.bot_messages()) if needle in (m.get("text") or "")), None)

        return wait_until(find, timeout, what=f"bot text containing {needle!r}")

    def wait_for_buttons(self, data: str, timeout: float = 10.0) -> None:
        """Wait until some bot message offers the button `data`."""
        wait_until(lambda: any(d == data for m in self.bot_messages() for _, d in self.buttons(m)), timeout,
                   what=f"button {data!r}")

    def wait_quiet(self, count: int, timeout: float = 10.0) -> None:
        """Wait until the chat shows at least `count` bot messages."""
        wait_until(lambda: len(self.bot_messages()) >= count, timeout, what=f"{count} bot messages")


def start_sandbox(tmp: Path, *extra: str) -> Sandbox:
    """Start `waystation sandbox` on a free port and wait until it answers."""
    port = free_port()
    process = spawn(waystation("sandbox", "--port", str(port), *extra), tmp / f"sandbox-{port}.log")
    sandbox = Sandbox(port, process)

    def ready() -> bool:
        if process.popen.poll() is not None:
            raise AssertionError(f"sandbox exited: {process.log()}")
        try:
            return sandbox.client.get(f"{sandbox.api}/events").status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, 20, what="the sandbox to start")
    return sandbox


def configure_home(root: Path, sandbox: Sandbox, *, delete_after: int = 600, after_submit: int = 120,
                   flood: int = 20, granularity: int = 600, extra: str = "") -> int:
    """Point a staffed home at the sandbox, give it a token and a free staff API port; returns that port.

    `granularity` is [privacy] time_granularity_seconds: stored deletion times are rounded up to
    it, so a bot restarted after a crash deletes up to that much later than its timers would have.
    """
    port = free_port()
    config = (root / "config.toml").read_text()
    config = config.replace('api_base_url = "https://api.telegram.org/bot"', f'api_base_url = "{sandbox.bot_base_url}"')
    config = config.replace('listen = "127.0.0.1:8765"', f'listen = "127.0.0.1:{port}"')
    config = config.replace("delete_after_seconds = 600", f"delete_after_seconds = {delete_after}")
    config = config.replace("delete_after_submit_seconds = 120", f"delete_after_submit_seconds = {after_submit}")
    config = config.replace("flood_messages = 20", f"flood_messages = {flood}")
    config = config.replace("time_granularity_seconds = 600", f"time_granularity_seconds = {granularity}")
    # The pool's tickets cost Argon2id runs in the background of every bot a test starts: a few do.
    config = config.replace("ready_references = 64", "ready_references = 8")
    (root / "config.toml").write_text(config + extra)
    token = root / "secrets" / "bot_token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    return port


@dataclass
class Bot:
    """`waystation bot run` as a subprocess."""

    home: Path
    port: int
    process: Process

    def stop(self, sig: int = signal.SIGTERM) -> int:
        return self.process.stop(sig)


def start_bot(home: Path, port: int, log_path: Path) -> Bot:
    """Run the bot and wait for its health endpoint and its first poll."""
    process = spawn(waystation("bot", "run", "--home", str(home)), log_path)
    bot = Bot(home, port, process)

    def ready() -> bool:
        if process.popen.poll() is not None:
            raise AssertionError(f"bot exited: {process.log()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, 30, what="the bot to start")
    return bot
