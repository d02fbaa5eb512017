"""What a searched phone shows, in Debian's Chromium: the sandbox page against the real covered bot.

The person opens the bot by deep link (t.me/<bot>?start=CODE) on the sandbox page; the page's
chat list and lock-screen notification previews are what an officer scrolling the phone sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from bot import cover_texts as C
from bot import texts
from tests.bot.flows import tr
from tests.bot.harness import Bot, Sandbox, configure_home, start_bot, start_sandbox, wait_until
from tests.conftest import StaffedHome, build_staffed_home
from tests.cover.test_cover_bot import COVER, mint
from tests.sandbox.test_web_chat import CHROMIUM, CHROMIUM_ARGS, require_browser

BOT_LINK = "https://t.me/waystation_sandbox_bot?start="
STEP_MS = 15_000
DELETE_AFTER = 8
AFTER_SUBMIT = 5
#: Words that point to help on a phone's screen (checked case-insensitively, English intake).
ALARMING = ("help", "asylum", "request", "reference", "consent", "caseworker", "danger")
#: Collects every notification the page shows, as shown, before it fades.
RECORD_NOTIFICATIONS = """
window.__shown = [];
new MutationObserver((changes) => {
  for (const change of changes) {
    for (const node of change.addedNodes) {
      if (node.classList && node.classList.contains("notification")) {
        window.__shown.push(node.textContent);
      }
    }
  }
}).observe(document, { childList: true, subtree: true });
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = start_sandbox(tmp_path_factory.mktemp("sandbox"), "--per-chat-rate", "0", "--global-rate", "0")
    yield box
    box.process.stop()


@pytest.fixture(scope="module")
def covered(tmp_path_factory: pytest.TempPathFactory, sandbox: Sandbox) -> Iterator[tuple[StaffedHome, Bot]]:
    """One covered bot whose chats vanish within seconds."""
    require_browser()
    tmp = tmp_path_factory.mktemp("covered")
    staffed = build_staffed_home(tmp / "home")
    port = configure_home(staffed.root, sandbox, delete_after=DELETE_AFTER, after_submit=AFTER_SUBMIT,
                          granularity=2)
    config = staffed.root / "config.toml"
    config.write_text(config.read_text().replace("enabled = false", "enabled = true"))
    bot = start_bot(staffed.root, port, tmp / "bot.log")
    wait_until(lambda: sandbox.client.get(f"{sandbox.api}/bots", params={"language_code": "en"}).json()
               ["bots"][0]["name"] == cover_name(), 20, what="the cover's name")
    yield staffed, bot
    bot.stop()


@pytest.fixture(scope="module")
def browser(covered: tuple[StaffedHome, Bot]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def cover_name() -> str:
    return COVER.gettext("en", C.TIMEZONE_NAME)


def intake_lines() -> list[str]:
    """Every line of the intake's English texts a covered chat might leak."""
    messages = (texts.CONSENT, texts.FOLLOW_UP_ASK_REFERENCE, texts.UNKNOWN_COMMAND, texts.FORM_EXPIRED,
                texts.ONLY_TEXT)
    return [line.strip() for m in messages for line in tr("en", m).splitlines() if len(line.strip()) > 3]


def assert_harmless(shown: str) -> None:
    """Fail when a text on the phone's screen holds anything from the intake."""
    assert not any(line in shown for line in intake_lines()), shown
    found = [w for w in ALARMING if re.search(rf"\b{w}", shown, re.IGNORECASE)]
    assert not found, f"{found} in {shown!r}"


def open_by_link(browser: Any, sandbox: Sandbox, code: str) -> Any:
    """A new phone: the person opens t.me/<bot>?start=CODE on the sandbox page."""
    page = browser.new_page(locale="en-US", viewport={"width": 720, "height": 640})
    page.set_default_timeout(STEP_MS)
    page.add_init_script(RECORD_NOTIFICATIONS)
    page.goto(f"http://127.0.0.1:{sandbox.port}/")
    page.get_by_label("Display name").fill("Sam")
    page.get_by_label("Language code").fill("en")
    page.get_by_label("Start link (optional)").fill(BOT_LINK + code)
    page.get_by_role("button", name="Start").click()
    return page


def person_id(page: Any) -> int:
    return int(page.evaluate("JSON.parse(sessionStorage.getItem('waystation-sandbox-person')).user_id"))


def test_a_wrong_code_by_deep_link_gets_the_cover_and_the_phone_shows_nothing_of_the_intake(
        browser: Any, sandbox: Sandbox) -> None:
    from playwright.sync_api import expect

    page = open_by_link(browser, sandbox, "WRONGWRONGWRONG2")
    try:
        first_line = COVER.gettext("en", C.TIMEZONE_HELP).splitlines()[0]
        expect(page.locator("#messages .msg.bot").first).to_contain_text(first_line)
        expect(page.locator("#notifications")).to_contain_text(first_line)
        expect(page.locator("#messages .msg.user")).to_have_count(0)  # the /start CODE went at once
        page.get_by_role("button", name="Chats").click()
        entry = page.locator("#chat-list .chat-entry")
        expect(entry.locator(".chat-name")).to_have_text(cover_name())
        expect(entry.locator(".chat-preview")).to_have_text(first_line)
        expect(page.locator("#bot-name")).to_have_text(cover_name())
        shown = page.evaluate("window.__shown")
        assert shown and all(cover_name() in text for text in shown)
        for text in [*shown, entry.inner_text()]:
            assert_harmless(text)
        recorded = sandbox.client.get(f"{sandbox.api}/users/{person_id(page)}/notifications").json()
        for item in recorded["notifications"]:
            assert_harmless(item["title"] + "\n" + item["body"])
    finally:
        page.close()


def test_a_right_code_by_deep_link_reaches_the_form(
        browser: Any, sandbox: Sandbox, covered: tuple[StaffedHome, Bot]) -> None:
    from playwright.sync_api import expect

    page = open_by_link(browser, sandbox, mint(covered[0]))
    try:
        expect(page.locator("#messages")).to_contain_text(tr("en", texts.CONSENT).splitlines()[0])
    finally:
        page.close()


def test_after_cancel_and_the_delete_time_the_chat_list_shows_the_cover_name_and_nothing_else(
        browser: Any, sandbox: Sandbox, covered: tuple[StaffedHome, Bot]) -> None:
    from playwright.sync_api import expect

    page = open_by_link(browser, sandbox, mint(covered[0]))
    try:
        expect(page.locator("#messages")).to_contain_text(tr("en", texts.CONSENT).splitlines()[0])
        page.get_by_role("textbox", name="Message").fill("/cancel")
        page.get_by_role("textbox", name="Message").press("Enter")
        hint = COVER.gettext("en", C.LEAVE_NO_TRACE).splitlines()[0]
        expect(page.locator("#messages")).to_contain_text(hint)
        page.get_by_role("button", name="Chats").click()
        entry = page.locator("#chat-list .chat-entry")
        expect(entry).to_have_count(1)
        # Every message goes within the delete time (rounded up to the granularity), the chat stays.
        expect(entry.locator(".chat-preview")).to_have_text("", timeout=(AFTER_SUBMIT + DELETE_AFTER + 20) * 1000)
        expect(entry.locator(".chat-name")).to_have_text(cover_name())
        [listed] = sandbox.client.get(f"{sandbox.api}/users/{person_id(page)}/chats").json()["chats"]
        assert (listed["name"], listed["preview"]) == (cover_name(), "")
    finally:
        page.close()


def test_every_notification_of_a_cancelled_intake_reads_like_the_cover(
        browser: Any, sandbox: Sandbox, covered: tuple[StaffedHome, Bot]) -> None:
    from playwright.sync_api import expect

    page = open_by_link(browser, sandbox, mint(covered[0]))
    try:
        expect(page.locator("#messages")).to_contain_text(tr("en", texts.CONSENT).splitlines()[0])
        page.get_by_role("textbox", name="Message").fill("/cancel")
        page.get_by_role("textbox", name="Message").press("Enter")
        expect(page.locator("#messages")).to_contain_text(COVER.gettext("en", C.LEAVE_NO_TRACE).splitlines()[0])
        recorded = sandbox.client.get(f"{sandbox.api}/users/{person_id(page)}/notifications").json()
        bodies = [item["body"] for item in recorded["notifications"]]
        # The consent screen's preview is intake text by design once a right code is in; the
        # hint comes after the form is gone, while the chat sits in the list: it must read as the cover.
        assert_harmless(bodies[-1])
    finally:
        page.close()
