"""The web chat page in Debian's Chromium, talking to a bot that polls via python-telegram-bot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from sandbox.testing import Runner, RunningSandbox

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/sandbox.png")
STEP_TIMEOUT_MS = 5000
FARSI = "سلام، به کمک نیاز دارم"


def require_browser() -> None:
    """Skip without Chromium or Playwright locally; in CI (CI set) their absence is a failure."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append(
            "the playwright package (pip install playwright; never 'playwright install')"
        )
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


async def next_update(bot: telegram.Bot, offset: int | None) -> Update:
    """Long-poll until one update arrives (each call bounded by get_updates' timeout)."""
    for _ in range(5):
        updates = await bot.get_updates(offset=offset, timeout=2)
        if updates:
            return updates[0]
    raise AssertionError("no update arrived")


def test_person_chats_presses_a_button_and_sees_messages_vanish(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    require_browser()
    from playwright.async_api import async_playwright, expect

    async def scenario() -> None:
        async with (
            telegram.Bot(token, base_url=sandbox.bot_base_url) as bot,
            async_playwright() as pw,
        ):
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                page = await browser.new_page(
                    locale="en-US", viewport={"width": 720, "height": 640}
                )
                page.set_default_timeout(STEP_TIMEOUT_MS)
                await page.goto(sandbox.url)
                await expect(page.locator("#bot-status")).to_contain_text("@waystation_sandbox_bot")
                await expect(page.get_by_role("note")).to_contain_text("not Telegram")
                await expect(page.get_by_label("Language code")).to_have_value("en")

                await page.get_by_label("Display name").fill("Dara")
                await page.get_by_label("Language code").fill("fa")
                await page.get_by_role("button", name="Start").click()
                start = await next_update(bot, None)
                assert start.message is not None and start.message.text == "/start"
                assert start.message.from_user is not None
                assert start.message.from_user.first_name == "Dara"
                assert start.message.from_user.language_code == "fa"
                chat_id = start.message.chat.id

                await page.get_by_role("textbox", name="Message").fill(FARSI)
                await page.get_by_role("textbox", name="Message").press("Enter")
                typed = await next_update(bot, start.update_id + 1)
                assert typed.message is not None and typed.message.text == FARSI

                reply = await bot.send_message(
                    chat_id,
                    "<b>آیا</b> در امان هستید؟",
                    parse_mode="HTML",
                    reply_markup=InlineKeyboardMarkup(
                        [[InlineKeyboardButton("بله", callback_data="safe:yes")]]
                    ),
                )
                bubbles = page.locator("#messages .bubble")
                await expect(bubbles).to_have_count(3)
                farsi_bubble = bubbles.nth(1)
                assert await farsi_bubble.get_attribute("dir") == "auto"
                direction = await farsi_bubble.evaluate("node => getComputedStyle(node).direction")
                assert direction == "rtl"

                await page.get_by_role("button", name="بله").click()
                pressed = await next_update(bot, typed.update_id + 1)
                query = pressed.callback_query
                assert query is not None and query.data == "safe:yes"
                assert query.message is not None and query.message.message_id == reply.message_id
                assert await bot.answer_callback_query(query.id, text="Thank you")
                await expect(page.locator("#toast")).to_have_text("Thank you")
                await page.screenshot(path=str(SCREENSHOT))

                await bot.edit_message_text("Noted.", chat_id=chat_id, message_id=reply.message_id)
                await expect(bubbles.nth(2)).to_contain_text("Noted.")
                await expect(bubbles.nth(2)).to_contain_text("edited")
                await expect(page.get_by_role("button", name="بله")).to_have_count(0)

                all_ids = [start.message.message_id, typed.message.message_id, reply.message_id]
                assert await bot.delete_messages(chat_id, all_ids)
                await expect(page.locator("#messages li")).to_have_count(0)
            finally:
                await browser.close()

    run(scenario, 20.0)
