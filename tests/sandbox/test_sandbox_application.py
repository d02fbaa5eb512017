"""A real python-telegram-bot Application polls the sandbox and answers a person."""

from __future__ import annotations

import asyncio

import httpx
from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

from sandbox.testing import Runner, RunningSandbox

ECHO_WAIT_SECONDS = 8.0


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply with the same text."""
    message = update.effective_message
    if message is not None and message.text is not None:
        await message.reply_text(message.text)


def test_application_echoes_through_the_sandbox(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    async def scenario() -> list[dict[str, object]]:
        application = ApplicationBuilder().token(token).base_url(sandbox.bot_base_url).build()
        application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
        async with application, httpx.AsyncClient(base_url=sandbox.api_url) as control:
            updater = application.updater
            assert updater is not None
            await application.start()
            await updater.start_polling(poll_interval=0, timeout=1, drop_pending_updates=True)
            chat_id = (await control.post("/users", json={"first_name": "Echo"})).json()["chat_id"]
            sent = await control.post(f"/chats/{chat_id}/messages", json={"text": "مرحبا"})
            assert sent.status_code == 201
            messages: list[dict[str, object]] = []
            deadline = asyncio.get_running_loop().time() + ECHO_WAIT_SECONDS
            while len(messages) < 2 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.1)
                messages = (await control.get(f"/chats/{chat_id}/messages")).json()["messages"]
            await updater.stop()
            await application.stop()
            return messages

    messages = run(scenario)
    assert [(m["side"], m["text"]) for m in messages] == [("user", "مرحبا"), ("bot", "مرحبا")]
    with sandbox.control() as control:
        bots = control.get("/bots").json()["bots"]
        errors = control.get("/events", params={"kind": "api_error"}).json()["events"]
        limited = control.get("/events", params={"kind": "rate_limited"}).json()["events"]
    assert bots[0]["pending_update_count"] == 0
    assert limited == []
    assert errors == []
