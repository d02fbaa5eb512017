"""Running the sandbox under uvicorn on a socket we bind ourselves."""

from __future__ import annotations

import socket

import uvicorn

from sandbox.app import create_app, sandbox_of_app
from sandbox.errors import BindFailed
from sandbox.settings import SandboxSettings
from sandbox.state import Sandbox

GRACEFUL_SHUTDOWN_SECONDS = 2


def bind_socket(host: str, port: int) -> socket.socket:
    """Return a listening TCP socket on host:port, or raise BindFailed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise BindFailed(f"cannot resolve host {host!r}") from err
    last_error: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(128)
        except OSError as err:
            sock.close()
            last_error = err
            continue
        sock.set_inheritable(True)
        return sock
    reason = last_error.strerror if last_error is not None else "no usable address"
    raise BindFailed(f"cannot listen on {host}:{port}: {reason}")


def page_url(host: str, port: int) -> str:
    """Return the URL of the web chat page for a listening address."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def serve(host: str, port: int, settings: SandboxSettings) -> None:
    """Serve the sandbox until interrupted (blocking); raise BindFailed if the port is taken."""
    serve_socket(bind_socket(host, port), settings)


class _SandboxServer(uvicorn.Server):
    """A uvicorn server that releases long polls as soon as it is asked to stop."""

    def __init__(self, config: uvicorn.Config, sandbox: Sandbox) -> None:
        super().__init__(config)
        self._sandbox = sandbox

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Answer waiting getUpdates calls, then shut down as uvicorn does."""
        # Without this, a bot's 50-second long poll would hold Ctrl+C until it times out.
        self._sandbox.close()
        await super().shutdown(sockets)


def make_server(settings: SandboxSettings) -> uvicorn.Server:
    """Return a uvicorn server for a fresh sandbox app, quiet about URLs."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        log_level="warning",
        # The access log would print bot tokens and chat ids from URLs.
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return _SandboxServer(config, sandbox_of_app(app))


def serve_socket(sock: socket.socket, settings: SandboxSettings) -> None:
    """Serve the sandbox on an already listening socket until interrupted, then close it."""
    try:
        make_server(settings).run(sockets=[sock])
    finally:
        sock.close()
