"""The chat page hosts a Mini App as Telegram Web does: Debian's Chromium, a tiny test Mini App.

The Mini App is served by its own Starlette app on another port (another origin, as the bot's
ASGI server is), validates tgWebAppData on its server with the bot token, and speaks Telegram
Web's iframe protocol with the page.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl

import httpx
import telegram
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MenuButtonWebApp,
    ReplyKeyboardMarkup,
    WebAppInfo,
)

from sandbox.server import bind_socket
from sandbox.testing import Runner, RunningSandbox
from tests.sandbox.test_sandbox_webapp import telegram_hash_ok
from tests.sandbox.test_web_chat import CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT_MS, next_update, require_browser

MINI_APP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test Mini App</title></head>
<body>
<p>Init data: <span id="init">pending</span></p>
<p>Name: <span id="user"></span></p>
<p>Launch: <span id="launch"></span></p>
<p>Theme: <span id="theme-bg"></span></p>
<button type="button" id="show-back">Show back</button>
<button type="button" id="hide-back">Hide back</button>
<button type="button" id="close-app">Close app</button>
<button type="button" id="send-data">Send data</button>
<button type="button" id="show-main">Show main</button>
<button type="button" id="expand">Expand</button>
<ol id="events"></ol>
<script>
"use strict";
const params = new URLSearchParams(location.hash.slice(1));
const post = (eventType, eventData) =>
  window.parent.postMessage(JSON.stringify({ eventType, eventData: eventData || {} }), "*");
const theme = JSON.parse(params.get("tgWebAppThemeParams") || "{}");
document.getElementById("theme-bg").textContent = theme.bg_color || "";
document.getElementById("launch").textContent =
  params.get("tgWebAppVersion") + " " + params.get("tgWebAppPlatform") + " " +
  (new URLSearchParams(params.get("tgWebAppData") || "").has("chat_instance") ? "button" : "menu");
fetch("/validate", { method: "POST", body: params.get("tgWebAppData") || "" })
  .then((response) => response.json())
  .then((answer) => {
    document.getElementById("init").textContent = answer.valid ? "valid" : "invalid";
    document.getElementById("user").textContent = answer.first_name || "";
  });
window.addEventListener("message", (event) => {
  if (event.source !== window.parent) { return; }
  const message = JSON.parse(event.data);
  const item = document.createElement("li");
  const bg = message.eventData && message.eventData.theme_params ? " " + message.eventData.theme_params.bg_color : "";
  item.textContent = message.eventType + bg;
  document.getElementById("events").append(item);
});
document.getElementById("show-back").onclick = () => post("web_app_setup_back_button", { is_visible: true });
document.getElementById("hide-back").onclick = () => post("web_app_setup_back_button", { is_visible: false });
document.getElementById("close-app").onclick = () => post("web_app_close");
document.getElementById("show-main").onclick = () =>
  post("web_app_setup_main_button", { is_visible: true, is_active: true, text: "Send it" });
document.getElementById("expand").onclick = () => post("web_app_expand");
document.getElementById("send-data").onclick = () => post("web_app_data_send", { data: "picked=2" });
post("iframe_ready", { reload_supported: true });
post("web_app_ready");
post("web_app_request_theme");
</script>
</body></html>
"""


def mini_app(token: str) -> Starlette:
    """The test Mini App: its page, and a server-side check of initData with the bot token."""

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(MINI_APP_PAGE, headers={"cache-control": "no-store"})

    async def validate(request: Request) -> JSONResponse:
        init_data = (await request.body()).decode()
        if not telegram_hash_ok(init_data, token):
            return JSONResponse({"valid": False})
        user = json.loads(dict(parse_qsl(init_data))["user"])
        return JSONResponse({"valid": True, "first_name": user["first_name"]})

    return Starlette(routes=[Route("/app", page), Route("/validate", validate, methods=["POST"])])


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread; yield its base URL."""
    sock = bind_socket("127.0.0.1", 0)
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test Mini App server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_person_opens_a_mini_app_from_a_button_and_from_the_menu(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    require_browser()
    from playwright.async_api import async_playwright, expect

    with serving(mini_app(token)) as app_base:
        app_url = f"{app_base}/app"

        async def scenario() -> int:
            async with (
                telegram.Bot(token, base_url=sandbox.bot_base_url) as bot,
                async_playwright() as pw,
            ):
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
                try:
                    page = await browser.new_page(locale="en-US", viewport={"width": 720, "height": 720},
                                                  color_scheme="light")
                    page.set_default_timeout(STEP_TIMEOUT_MS)
                    await page.goto(sandbox.url)
                    await expect(page.locator("#bot-status")).to_contain_text("@waystation_sandbox_bot")
                    await page.get_by_label("Display name").fill("Amira")
                    await page.get_by_role("button", name="Start").click()
                    start = await next_update(bot, None)
                    assert start.message is not None
                    chat_id = start.message.chat.id
                    button = InlineKeyboardButton("Open the form", web_app=WebAppInfo(app_url))
                    markup = InlineKeyboardMarkup([[button]])
                    await bot.send_message(chat_id, "Press to begin", reply_markup=markup)

                    # A tap opens the page in the panel, with launch data its server can validate.
                    await page.get_by_role("button", name="Open the form").click()
                    panel = page.locator("#miniapp")
                    await expect(panel).to_be_visible()
                    frame_element = page.locator("#miniapp-frame")
                    assert await frame_element.get_attribute("sandbox") == "allow-scripts allow-same-origin allow-forms"
                    app = page.frame_locator("#miniapp-frame")
                    await expect(app.locator("#init")).to_have_text("valid")
                    await expect(app.locator("#user")).to_have_text("Amira")
                    await expect(app.locator("#launch")).to_have_text("8.0 weba button")
                    await expect(app.locator("#theme-bg")).to_have_text("#ffffff")
                    # iframe_ready and web_app_request_theme are answered with theme_changed.
                    await expect(app.locator("#events li", has_text="theme_changed #ffffff")).to_have_count(2)

                    # Another window cannot drive the panel: only the Mini App's frame may.
                    await page.evaluate(
                        "window.postMessage(JSON.stringify({eventType: 'web_app_close', eventData: {}}), '*')"
                    )
                    await page.wait_for_timeout(200)
                    await expect(panel).to_be_visible()

                    # The back button appears when the page asks, and its press reaches the page.
                    back = page.locator("#miniapp-back")
                    await expect(back).to_be_hidden()
                    await app.locator("#show-back").click()
                    await expect(back).to_be_visible()
                    await back.click()
                    await expect(app.locator("#events li", has_text="back_button_pressed")).to_have_count(1)
                    await app.locator("#hide-back").click()
                    await expect(back).to_be_hidden()

                    # The person switches to the dark theme: the page hears theme_changed.
                    await page.locator("#miniapp-theme").click()
                    await expect(app.locator("#events li", has_text="theme_changed #212121")).to_have_count(1)

                    # The main button and the viewport, as Telegram's client gives them.
                    await app.locator("#show-main").click()
                    main_button = page.locator("#miniapp-main-button")
                    await expect(main_button).to_have_text("Send it")
                    await main_button.click()
                    await expect(app.locator("#events li", has_text="main_button_pressed")).to_have_count(1)
                    await app.locator("#expand").click()
                    await expect(app.locator("#events li", has_text="viewport_changed")).to_have_count(1)

                    # web_app_close closes the panel and drops the page.
                    await app.locator("#close-app").click()
                    await expect(panel).to_be_hidden()
                    await expect(page.locator("#miniapp-frame")).to_have_count(0)

                    # The menu button, once the bot makes it a web_app, opens the Mini App too.
                    await bot.set_chat_menu_button(chat_id, MenuButtonWebApp("Sealed form", WebAppInfo(app_url)))
                    menu_button = page.locator("#menu-button")
                    await expect(menu_button).to_have_text("Sealed form")
                    await menu_button.click()
                    await expect(panel).to_be_visible()
                    await expect(app.locator("#init")).to_have_text("valid")
                    await expect(app.locator("#launch")).to_have_text("8.0 weba menu")
                    await page.locator("#miniapp-close").click()
                    await expect(panel).to_be_hidden()
                    return chat_id
                finally:
                    await browser.close()

        chat_id = run(scenario, 40.0)

    # What the phone shows of the chat: /start and the button message, nothing from inside the app.
    with sandbox.control() as control:
        messages = control.get(f"/chats/{chat_id}/messages").json()["messages"]
    assert [message["text"] for message in messages] == ["/start", "Press to begin"]


def test_keyboard_mini_app_sends_data_to_the_bot_and_closes(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    require_browser()
    from playwright.async_api import async_playwright, expect

    with serving(mini_app(token)) as app_base:

        async def scenario() -> None:
            async with (
                telegram.Bot(token, base_url=sandbox.bot_base_url) as bot,
                async_playwright() as pw,
            ):
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
                try:
                    page = await browser.new_page(locale="en-US", color_scheme="dark")
                    page.set_default_timeout(STEP_TIMEOUT_MS)
                    await page.goto(sandbox.url)
                    await expect(page.locator("#bot-status")).to_contain_text("@waystation_sandbox_bot")
                    await page.get_by_label("Display name").fill("Dara")
                    await page.get_by_role("button", name="Start").click()
                    start = await next_update(bot, None)
                    assert start.message is not None
                    chat_id = start.message.chat.id
                    keyboard = ReplyKeyboardMarkup([[KeyboardButton("Choose", web_app=WebAppInfo(f"{app_base}/app"))]])
                    await bot.send_message(chat_id, "Pick one", reply_markup=keyboard)
                    # A Mini App on the sandbox's own origin would escape its iframe sandbox: refused.
                    own = InlineKeyboardMarkup([[InlineKeyboardButton("Own", web_app=WebAppInfo(sandbox.url))]])
                    await bot.send_message(chat_id, "Never", reply_markup=own)
                    await page.get_by_role("button", name="Own").click()
                    await expect(page.locator("#toast")).to_contain_text("sandbox's own address")
                    await expect(page.locator("#miniapp")).to_be_hidden()

                    await page.locator("#reply-keyboard").get_by_role("button", name="Choose").click()
                    app = page.frame_locator("#miniapp-frame")
                    await expect(app.locator("#init")).to_have_text("valid")
                    await expect(app.locator("#theme-bg")).to_have_text("#212121")
                    await app.locator("#send-data").click()
                    await expect(page.locator("#miniapp")).to_be_hidden()
                    data = await next_update(bot, start.update_id + 1)
                    assert data.message is not None and data.message.web_app_data is not None
                    assert data.message.web_app_data.data == "picked=2"
                    assert data.message.web_app_data.button_text == "Choose"
                    await expect(page.locator("#messages .msg.service")).to_contain_text("Choose")
                finally:
                    await browser.close()

        run(scenario, 40.0)


def test_the_page_allows_framing_only_https_and_local_http(sandbox: RunningSandbox) -> None:
    policy = httpx.get(sandbox.url).headers["content-security-policy"]
    assert "frame-src https: http://127.0.0.1:* http://localhost:*;" in policy
    assert "frame-ancestors 'none'" in policy
