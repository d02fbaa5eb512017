"""Run the desk: uvicorn on a free 127.0.0.1 port, the one-time URL handed out, until the page is gone."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable

import uvicorn

from staff.web.app import DeskApp, Settings
from staff.web.gate import Gate
from staff.web.life import Life
from staff.web.preview import NoticeTexts
from staff.web.state import DeskState


def bind_loopback() -> socket.socket:
    """A listening socket on 127.0.0.1 and a port the system picked (never another interface)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def build(state: DeskState, notice: NoticeTexts, port: int, idle_lock_seconds: float,
          refresh_seconds: float = 20.0) -> tuple[DeskApp, str]:
    """The app for `port` and its one-time URL."""
    gate = Gate()
    app = DeskApp(state, gate, Life(time.monotonic, idle_lock_seconds),
                  Settings(notice, hosts={f"127.0.0.1:{port}"}, refresh_seconds=refresh_seconds))
    return app, f"http://127.0.0.1:{port}/s/{gate.url_secret}"


def run(state: DeskState, notice: NoticeTexts, idle_lock_seconds: float, announce: Callable[[str], None],
        refresh_seconds: float = 20.0) -> None:
    """Serve until the page is closed, the desk ends itself, or Ctrl+C; `announce` gets the URL once."""
    sock = bind_loopback()
    app, url = build(state, notice, sock.getsockname()[1], idle_lock_seconds, refresh_seconds)
    # No access log: the first request's path is the URL secret.
    server = uvicorn.Server(uvicorn.Config(app.app, log_level="warning", access_log=False, lifespan="on"))

    async def stop_when_ended() -> None:
        while not server.started:  # uvicorn has bound and installed its Ctrl+C handler: hand out the URL
            await asyncio.sleep(0.05)
        announce(url)
        await app.ended.wait()
        server.should_exit = True

    async def main() -> None:
        stopper = asyncio.create_task(stop_when_ended())
        try:
            await server.serve(sockets=[sock])
        finally:
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
            await state.lock()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass  # Ctrl+C before uvicorn took over the signal: the desk ends all the same (main's finally locked it)
    finally:
        sock.close()
