"""Running a sandbox inside a test process: a real uvicorn server on a free loopback port."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

import httpx

from sandbox.server import bind_socket, make_server
from sandbox.settings import SandboxSettings

START_TIMEOUT_SECONDS = 5.0
STOP_TIMEOUT_SECONDS = 10.0

T = TypeVar("T")


class Runner(Protocol):
    """The shape of run_bounded, for annotating a test fixture that hands it out."""

    def __call__(self, scenario: Callable[[], Awaitable[T]], timeout: float = ...) -> T:
        """Run the scenario within the time bound."""
        ...


class SandboxDidNotStart(RuntimeError):
    """The background sandbox server did not come up in time."""


@dataclass(frozen=True)
class RunningSandbox:
    """Where a running sandbox listens."""

    port: int

    @property
    def url(self) -> str:
        """Return the web chat page URL."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def bot_base_url(self) -> str:
        """Return the base_url python-telegram-bot appends the token to."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def api_url(self) -> str:
        """Return the control API root."""
        return f"http://127.0.0.1:{self.port}/sandbox/api"

    def control(self) -> httpx.Client:
        """Return an HTTP client for the control API (close it, or use it in a with block)."""
        return httpx.Client(base_url=self.api_url, timeout=5.0)


StartSandbox = Callable[[SandboxSettings], RunningSandbox]


@contextmanager
def running_sandbox(settings: SandboxSettings | None = None) -> Iterator[RunningSandbox]:
    """Run a fresh sandbox under uvicorn in a background thread until the block ends."""
    sock = bind_socket("127.0.0.1", 0)
    port = int(sock.getsockname()[1])
    server = make_server(settings or SandboxSettings())
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="sandbox-uvicorn", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise SandboxDidNotStart("the sandbox server did not start")
            time.sleep(0.01)
        yield RunningSandbox(port)
    finally:
        server.should_exit = True
        thread.join(timeout=STOP_TIMEOUT_SECONDS)
        sock.close()


def run_bounded(scenario: Callable[[], Awaitable[T]], timeout: float = 15.0) -> T:
    """Run an async scenario in a new event loop, cancelling it after timeout seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(bounded())
