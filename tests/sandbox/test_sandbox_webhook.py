"""Webhook mode: updates POSTed with the secret header, retried, and 409 for getUpdates."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import telegram
from telegram.error import Conflict

from sandbox.testing import Runner, RunningSandbox

SECRET = "s3cret_token-for-tests"
WAIT_SECONDS = 8.0


@dataclass
class Receiver:
    """A tiny webhook receiver that records what it got and fails the first `failures` posts."""

    url: str
    received: queue.Queue[tuple[dict[str, str], dict[str, object]]]
    failures: list[int] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Run a loopback HTTP receiver in a thread for the test."""
    received: queue.Queue[tuple[dict[str, str], dict[str, object]]] = queue.Queue()
    failures: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = failures.pop(0) if failures else 200
            if status == 200:
                received.put((dict(self.headers.items()), json.loads(body)))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Stay quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook", received, failures)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def person_writes(sandbox: RunningSandbox, text: str) -> int:
    """Create a person who writes text; return their chat id."""
    with sandbox.control() as control:
        chat_id = int(control.post("/users", json={"first_name": "W"}).json()["chat_id"])
        assert control.post(f"/chats/{chat_id}/messages", json={"text": text}).status_code == 201
    return chat_id


def test_webhook_delivers_with_secret_header_and_blocks_get_updates(
    sandbox: RunningSandbox, token: str, receiver: Receiver, run: Runner
) -> None:
    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            assert await bot.set_webhook(receiver.url, secret_token=SECRET)
            info = await bot.get_webhook_info()
            assert info.url == receiver.url
            with pytest.raises(Conflict, match="(?i)webhook is active"):
                await bot.get_updates()

    run(scenario)
    chat_id = person_writes(sandbox, "hello via webhook")
    headers, update = receiver.received.get(timeout=WAIT_SECONDS)
    assert headers["X-Telegram-Bot-Api-Secret-Token"] == SECRET
    assert headers["Content-Type"].startswith("application/json")
    message = update["message"]
    assert isinstance(message, dict)
    assert message["text"] == "hello via webhook" and message["chat"]["id"] == chat_id
    with sandbox.control() as control:
        deliveries = control.get("/events", params={"kind": "webhook_delivery"}).json()["events"]
    assert [(d["ok"], d["status"]) for d in deliveries] == [(True, 200)]


def test_failed_delivery_is_retried(
    sandbox: RunningSandbox, token: str, receiver: Receiver, run: Runner
) -> None:
    receiver.failures.extend([500, 502])

    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            assert await bot.set_webhook(receiver.url)

    run(scenario)
    person_writes(sandbox, "retry me")
    headers, update = receiver.received.get(timeout=WAIT_SECONDS)
    assert "X-Telegram-Bot-Api-Secret-Token" not in headers
    assert isinstance(update["message"], dict) and update["message"]["text"] == "retry me"
    with sandbox.control() as control:
        deliveries = control.get("/events", params={"kind": "webhook_delivery"}).json()["events"]
    assert [d["status"] for d in deliveries] == [500, 502, 200]

    async def info() -> telegram.WebhookInfo:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            return await bot.get_webhook_info()

    webhook_info = run(info)
    assert isinstance(webhook_info, telegram.WebhookInfo)
    assert webhook_info.last_error_message is not None
    assert webhook_info.pending_update_count == 0


def test_delete_webhook_returns_to_polling(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            # Nothing listens here, so the update stays pending until the webhook goes.
            assert await bot.set_webhook("http://127.0.0.1:9/nothing", secret_token=SECRET)
            person_writes(sandbox, "kept")
            assert await bot.delete_webhook()
            updates = await bot.get_updates(timeout=1)
            assert [u.message.text for u in updates if u.message] == ["kept"]
            assert (await bot.get_webhook_info()).url == ""

    run(scenario)


def test_bad_secret_token_is_refused(sandbox: RunningSandbox, token: str) -> None:
    response = httpx.post(
        f"{sandbox.bot_base_url}{token}/setWebhook",
        json={"url": "http://127.0.0.1:9/hook", "secret_token": "spaces are not allowed"},
    )
    assert response.status_code == 400
    assert (
        response.json()["description"] == "Bad Request: secret token contains unallowed characters"
    )


def test_second_long_poll_terminates_the_first(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    async def scenario() -> None:
        import asyncio

        # Two Bot objects stand for two running copies of the same bot.
        async with (
            telegram.Bot(token, base_url=sandbox.bot_base_url) as bot,
            telegram.Bot(token, base_url=sandbox.bot_base_url) as twin,
        ):
            first = asyncio.create_task(bot.get_updates(timeout=5))
            await asyncio.sleep(0.3)
            assert await twin.get_updates(timeout=0) == ()
            with pytest.raises(Conflict, match="(?i)terminated by other getUpdates"):
                await first

    run(scenario)
