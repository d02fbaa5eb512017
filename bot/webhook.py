"""Webhook mode: Telegram POSTs updates to us; we check its secret-token header first."""

from __future__ import annotations

import json
import logging

from nacl.bindings import sodium_memcmp
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

log = logging.getLogger("waystation.bot.webhook")
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1 << 20


def webhook_routes(application: Application, secret: str) -> list[Route]:  # type: ignore[type-arg]
    """The one route Telegram calls; anything without the right secret gets 403 and is dropped."""

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if len(given) != len(secret) or not sodium_memcmp(given, secret.encode()):  # constant time
            return JSONResponse({"ok": False}, status_code=403)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"ok": False}, status_code=413)
        try:
            update = Update.de_json(json.loads(body), application.bot)
        except (ValueError, TypeError, KeyError):
            log.warning("webhook body was not a valid update; ignored")
            return JSONResponse({"ok": False}, status_code=400)
        await application.update_queue.put(update)
        return JSONResponse({"ok": True})

    return [Route(WEBHOOK_PATH, receive, methods=["POST"])]
