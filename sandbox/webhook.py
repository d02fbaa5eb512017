"""Webhook delivery: POST each pending update, in order, until the receiver says 2xx."""

from __future__ import annotations

import asyncio
import logging

import httpx

from sandbox.state import BotWorld, Sandbox, WebhookConfig

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BACKOFF_SECONDS = 10.0
IDLE_WAIT_SECONDS = 5.0

logger = logging.getLogger(__name__)


def start_delivery(sandbox: Sandbox, world: BotWorld) -> None:
    """Start the background sender for the bot's current webhook."""
    config = world.webhook
    if config is None:
        return
    world.webhook_task = asyncio.get_running_loop().create_task(
        _deliver(sandbox, world, config), name=f"sandbox-webhook-{world.id}"
    )


def stop_delivery(world: BotWorld) -> None:
    """Cancel the background sender, if one runs."""
    if world.webhook_task is not None:
        world.webhook_task.cancel()
        world.webhook_task = None


async def _post_one(
    client: httpx.AsyncClient, config: WebhookConfig, update: dict[str, object]
) -> tuple[int | None, str | None]:
    """POST one update; return the HTTP status and an error text (None on success)."""
    headers = {}
    if config.secret_token is not None:
        headers[SECRET_HEADER] = config.secret_token
    try:
        response = await client.post(config.url, json=update, headers=headers)
    except httpx.HTTPError as err:
        return None, f"Connection failed ({type(err).__name__})"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"Wrong response from the webhook: {response.status_code}"


async def _deliver(sandbox: Sandbox, world: BotWorld, config: WebhookConfig) -> None:
    """Send pending updates while this webhook stays set, backing off after failures."""
    settings = sandbox.settings
    backoff = settings.webhook_retry_seconds
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds) as client:
        while world.webhook is config and not world.closed:
            if not world.updates:
                await world.wait_for_change(IDLE_WAIT_SECONDS)
                continue
            update_id, update = world.updates[0]
            status, error = await _post_one(client, config, update)
            sandbox.events.record(
                "webhook_delivery", world.id, update_id=update_id, status=status, ok=error is None
            )
            if error is None:
                if world.updates and world.updates[0][0] == update_id:
                    world.updates.popleft()
                backoff = settings.webhook_retry_seconds
                continue
            config.last_error_date = sandbox.clock.unix()
            config.last_error_message = error
            logger.info("webhook delivery failed; retrying in %.1f s", backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
