"""The sealed form's routes in the bot's ASGI app: the page under /form/, its JSON calls under /form/api/."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route
from telegram.ext import Application

from bot.runtime import Runtime
from bot.webform.address import PREFIX
from bot.webform.api import WebForm, json_endpoint
from bot.webform.drafts import Shelf
from bot.webform.page import TELEGRAM_FRAMERS, Files, FormData, local_origin

#: How long a draft or a reference look-up stays open in memory (a form takes minutes, not hours).
DRAFT_SECONDS = 3600


def webform_routes(rt: Runtime, application: Application, token: str) -> list[BaseRoute]:  # type: ignore[type-arg]
    """Every route of the sealed form, for Starlette."""
    sandbox = local_origin(rt.server.config.telegram.api_base_url)
    framers = TELEGRAM_FRAMERS + ((sandbox,) if sandbox else ())
    files = Files(framers)
    form = WebForm(rt, application, token, Shelf(DRAFT_SECONDS), Shelf(DRAFT_SECONDS))
    data = FormData(rt.form, rt.translations, files.headers)
    api = [Route(f"{PREFIX}/api/{name}", json_endpoint(getattr(form, name)), methods=["POST"])
           for name in ("begin", "submit", "lookup", "read", "followup", "wipe")]
    return [
        Route(f"{PREFIX}/", files.index, methods=["GET"]),
        Route(f"{PREFIX}/static/{{name:path}}", files.static, methods=["GET"]),
        Route(f"{PREFIX}/api/form", data.endpoint, methods=["GET"]),
        *api,
    ]
