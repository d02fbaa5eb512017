"""The Starlette application: Bot API, control API, and the web chat page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox import control
from sandbox.botapi import bot_api_endpoint
from sandbox.errors import ControlError
from sandbox.settings import SandboxSettings
from sandbox.state import Sandbox

STATIC_DIR = Path(__file__).resolve().parent / "static"
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        # frame-src: the Mini App panel may frame https pages, and (the sandbox's allowance,
        # sandbox/markup.py LOCAL_HTTP_WEB_APP_HOSTS) plain http on loopback; nothing else.
        b"default-src 'self'; img-src 'self' data:; frame-src https: http://127.0.0.1:* http://localhost:*; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """ASGI middleware adding a strict CSP and no-store to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the call through, adding headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def index(request: Request) -> FileResponse:
    """GET /: the web chat page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")


def sandbox_of_app(app: Starlette) -> Sandbox:
    """Return the in-memory Sandbox behind an app made by create_app."""
    sandbox = app.state.sandbox
    if not isinstance(sandbox, Sandbox):
        raise TypeError("this app was not made by create_app")
    return sandbox


def create_app(settings: SandboxSettings | None = None) -> Starlette:
    """Build the sandbox messenger app; all state lives in memory, in app.state.sandbox."""
    sandbox = Sandbox(settings or SandboxSettings())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        sandbox.close()

    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/bot{token}/{method}", bot_api_endpoint, methods=["GET", "POST"]),
            Mount("/sandbox/api", routes=control.ROUTES),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        exception_handlers={ControlError: control.control_error},
        lifespan=lifespan,
    )
    app.add_middleware(SecurityHeaders)
    app.state.sandbox = sandbox
    return app
