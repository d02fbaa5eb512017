"""Bot API methods that hand out updates: getUpdates and the webhook settings."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sandbox.errors import BotApiError, bad_request
from sandbox.params import Params
from sandbox.state import DEFAULT_UPDATE_KINDS, BotWorld, Sandbox, WebhookConfig
from sandbox.webhook import start_delivery, stop_delivery

MAX_UPDATES_LIMIT = 100
WEBHOOK_ACTIVE = BotApiError(
    409,
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first",
)
TERMINATED = BotApiError(
    409,
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
)
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _apply_allowed_updates(world: BotWorld, params: Params) -> None:
    """Store allowed_updates if given; an empty list means Telegram's default set."""
    if not params.has("allowed_updates"):
        return
    raw = params.json("allowed_updates")
    if raw is None:
        return
    if not isinstance(raw, list) or not all(isinstance(kind, str) for kind in raw):
        raise bad_request("can't parse allowed updates JSON object")
    world.allowed_updates = frozenset(raw) if raw else DEFAULT_UPDATE_KINDS


async def get_updates(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """getUpdates: confirm below offset, then long-poll for up to `timeout` seconds."""
    if world.webhook is not None:
        raise WEBHOOK_ACTIVE
    offset = params.integer("offset")
    limit = min(max(params.integer("limit") or MAX_UPDATES_LIMIT, 1), MAX_UPDATES_LIMIT)
    timeout = min(max(params.number("timeout") or 0.0, 0.0), sandbox.settings.long_poll_max_seconds)
    _apply_allowed_updates(world, params)
    if offset:
        world.confirm(offset)
    if not await world.wait_for_updates(timeout):
        raise TERMINATED
    if world.webhook is not None:
        raise WEBHOOK_ACTIVE
    return [update for _, update in list(world.updates)[:limit]]


async def set_webhook(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """setWebhook: start POSTing updates to a URL (an empty URL removes the webhook)."""
    url = params.text("url") or ""
    if not url:
        return await delete_webhook(sandbox, world, params)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("bad webhook: An HTTP URL must be provided for webhook")
    secret = params.text("secret_token") or None
    if secret is not None and not _SECRET_TOKEN.match(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = params.integer("max_connections") or 40
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    _apply_allowed_updates(world, params)
    if params.boolean("drop_pending_updates"):
        world.drop_pending()
    stop_delivery(world)
    world.webhook = WebhookConfig(url=url, secret_token=secret, max_connections=max_connections)
    start_delivery(sandbox, world)
    sandbox.events.record("webhook_set", world.id, has_secret_token=secret is not None)
    world.wake()
    return True


async def delete_webhook(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """deleteWebhook: go back to getUpdates, optionally dropping pending updates."""
    dropped = world.drop_pending() if params.boolean("drop_pending_updates") else 0
    had_webhook = world.webhook is not None
    stop_delivery(world)
    world.webhook = None
    sandbox.events.record("webhook_deleted", world.id, had_webhook=had_webhook, dropped=dropped)
    return True


async def get_webhook_info(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """getWebhookInfo: the current webhook (url '' when polling)."""
    info: dict[str, object] = {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": len(world.updates),
    }
    webhook = world.webhook
    if webhook is not None:
        info["url"] = webhook.url
        info["max_connections"] = webhook.max_connections
        if webhook.last_error_date is not None:
            info["last_error_date"] = webhook.last_error_date
            info["last_error_message"] = webhook.last_error_message
    if world.allowed_updates != DEFAULT_UPDATE_KINDS:
        info["allowed_updates"] = sorted(world.allowed_updates)
    return info
