"""`waystation bot run`: the bot and its ASGI server (webhook, health, staff API) in one event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import build_application, on_start
from bot.form import load_form
from bot.guards import FloodGate
from bot.i18n import Translations
from bot.runtime import Runtime
from bot.token import load_token
from bot.vanish import Vanisher
from bot.webhook import WEBHOOK_PATH, webhook_routes
from storage.deletions import DeletionStore
from storage.files import write_new
from storage.server import Server

log = logging.getLogger("waystation.service")
ALLOWED_UPDATES = ["message", "callback_query"]


def quiet_libraries() -> None:
    """Libraries that would log tokens (in URLs) or chat-derived data stay at WARNING."""
    for name in ("httpx", "httpcore", "apscheduler", "telegram", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


def webhook_secret(server: Server) -> str:
    """The secret Telegram must echo in its header; made once, kept in secrets/."""
    path = server.home.secrets / "webhook_secret"
    if not path.exists():
        write_new(path, secrets.token_urlsafe(48).encode("ascii") + b"\n")
    return path.read_text(encoding="ascii").strip()


def build_runtime(server: Server) -> Runtime:
    """Form, translations, deletion timers and flood gate for one server."""
    privacy = server.config.privacy
    return Runtime(
        server=server,
        form=load_form(server.home.root / "form.toml"),
        translations=Translations.load(),
        vanisher=Vanisher(DeletionStore(server.db), privacy.delete_after_seconds, time.time),
        flood=FloodGate(privacy.flood_messages, privacy.flood_window_seconds),
    )


async def health(_: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"ok": True})


async def serve(home: Path, environ: Mapping[str, str] = os.environ, extra_routes: list[BaseRoute] | None = None) -> None:
    """Run until SIGINT/SIGTERM: bot (polling or webhook) plus the ASGI server."""
    quiet_libraries()
    with Server.open(home, environ) as server:
        token = load_token(server.home.secrets, environ)
        rt = build_runtime(server)
        application = build_application(rt, token)
        telegram = server.config.telegram
        routes: list[BaseRoute] = [Route("/healthz", health), *(extra_routes or [])]
        secret = webhook_secret(server) if telegram.mode == "webhook" else ""
        if telegram.mode == "webhook":
            routes += webhook_routes(application, secret)
        host, _, port = server.config.staff_api.listen.rpartition(":")
        asgi = uvicorn.Server(uvicorn.Config(Starlette(routes=routes), host=host.strip("[]"), port=int(port),
                                             log_level="warning", access_log=False, lifespan="off"))
        async with application:
            await application.start()
            await on_start(application)
            if telegram.mode == "webhook":
                await application.bot.set_webhook(telegram.webhook_url.rstrip("/") + WEBHOOK_PATH,
                                                  secret_token=secret, allowed_updates=ALLOWED_UPDATES)
            else:
                await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)  # type: ignore[union-attr]
            log.info("bot running (%s); staff API on %s", telegram.mode, server.config.staff_api.listen)
            try:
                await asgi.serve()
            finally:
                if application.updater is not None and application.updater.running:
                    await application.updater.stop()
                await application.stop()
        log.info("bot stopped")


def run(home: Path) -> None:
    """Blocking entry point for the CLI."""
    asyncio.run(serve(home))
