"""The sealed form in Debian's Chromium: the sandbox's chat page hosts it as Telegram Web does, the real bot serves it.

A whole intake in English and in Arabic (right to left), a follow-up and a reply read in the page,
the panic wipe, forged and stale launch data, a tampered envelope; and the seizure-style check:
neither the sandbox's record of the chat nor the server's home holds any answer.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from bot import texts
from bot.i18n import Translations
from bot.webform.initdata import sign
from crypto.replykey import reply_public_key
from tests.bot.flows import FORM, tr
from tests.bot.harness import TOKEN, Bot, Sandbox, configure_home, start_bot, start_sandbox, wait_until
from tests.bot.test_replies import queue_reply
from tests.bot.test_sealed_form import sealed_config, staff_view
from tests.conftest import StaffedHome, build_staffed_home
from tests.sandbox.test_web_chat import CHROMIUM, CHROMIUM_ARGS, require_browser
from tests.seizure.attacker import attack
from tests.seizure.needles import Needle

T = Translations.load()
STEP_MS = 20_000
CANARIES = {"country": "Canaryland-5c1e", "contact": "canary-contact-77af", "details": "canary-details-93bd"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = start_sandbox(tmp_path_factory.mktemp("sandbox"), "--per-chat-rate", "0", "--global-rate", "0")
    yield box
    box.process.stop()


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory, sandbox: Sandbox) -> Iterator[tuple[StaffedHome, Bot, Path]]:
    require_browser()
    tmp = tmp_path_factory.mktemp("sealed")
    staffed = build_staffed_home(tmp / "home")
    port = configure_home(staffed.root, sandbox, delete_after=600, after_submit=600)
    sealed_config(staffed.root, port)
    bot = start_bot(staffed.root, port, tmp / "bot.log")
    yield staffed, bot, tmp / "bot.log"
    bot.stop()


@pytest.fixture(scope="module")
def browser(sealed: tuple[StaffedHome, Bot, Path]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def phone(browser: Any, sandbox: Sandbox, language: str, name: str = "Sam") -> Any:
    """A new phone on the sandbox page: the person starts the bot."""
    page = browser.new_page(locale="en-US", viewport={"width": 420, "height": 800})
    page.set_default_timeout(STEP_MS)
    page.goto(f"http://127.0.0.1:{sandbox.port}/")
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Language code").fill(language)
    page.get_by_role("button", name="Start").click()
    return page


def open_form(page: Any, language: str) -> Any:
    """Tap the consent message's web_app button; the form loads in the Mini App panel."""
    from playwright.sync_api import expect

    expect(page.locator("#messages")).to_contain_text(tr(language, texts.CONSENT_SEALED).splitlines()[0])
    page.get_by_role("button", name=T.gettext(language, texts.BUTTON_OPEN_FORM)).first.click()
    expect(page.locator("#miniapp")).to_be_visible()
    form = page.frame_locator("#miniapp-frame")
    expect(form.locator("#start")).to_be_visible()
    return form


def answer_all(form: Any, language: str, answers: dict[str, str | None]) -> None:
    """Walk the questions in the page: choices tapped, text typed and Next, None skipped."""
    from playwright.sync_api import expect

    form.locator("#start").click()
    for question in FORM.questions:
        expect(form.locator("#prompt")).to_have_text(T.gettext(language, question.prompt))
        answer = answers.get(question.id)
        if question.kind == "choice":
            label = T.gettext(language, next(o.label for o in question.options if o.id == answer))
            form.get_by_role("button", name=label, exact=True).click()
        elif answer is None:
            form.locator("#skip").click()
        else:
            form.locator("#answer").fill(answer)
            form.locator("#next").click()
    expect(form.locator("#send")).to_be_visible()


def reference_of(form: Any) -> str:
    from playwright.sync_api import expect

    expect(form.locator("#reference")).to_be_visible()
    digits = "".join(ch for ch in form.locator("#reference").inner_text() if ch.isdigit())
    assert len(digits) == 16
    return digits


def person_id(page: Any) -> int:
    return int(page.evaluate("JSON.parse(sessionStorage.getItem('waystation-sandbox-person')).user_id"))


ANSWERS_EN: dict[str, str | None] = {"help": "leave", "urgency": "now", "country": CANARIES["country"],
                                     "region": None, "contact": CANARIES["contact"], "details": CANARIES["details"]}


def test_a_whole_sealed_intake_in_english_leaves_no_answer_in_the_chat_or_on_the_server(
        browser: Any, sandbox: Sandbox, sealed: tuple[StaffedHome, Bot, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    staffed, bot, log = sealed
    page = phone(browser, sandbox, "en")
    try:
        form = open_form(page, "en")
        expect(form.locator("html")).to_have_attribute("dir", "ltr")
        answer_all(form, "en", ANSWERS_EN)
        # Review and change one answer before sending.
        form.get_by_role("button", name=T.gettext("en", texts.BUTTON_CHANGE).format(question=2)).click()
        form.get_by_role("button", name=T.gettext("en", "Within days"), exact=True).click()
        expect(form.locator("#send")).to_be_visible()
        form.locator("#send").click()
        reference = reference_of(form)
        form.locator("#close").click()
        expect(page.locator("#miniapp")).to_be_hidden()
        chat_id = person_id(page)
    finally:
        page.close()
    request = None
    for case_view in [staff_view(staffed, n).view for n in range(1)]:
        request = case_view.request
    assert request is not None
    assert request["answers"]["country"] == CANARIES["country"] and request["answers"]["urgency"] == "Within days"
    assert request["answers"]["region"] == "" and request["language"] == "en"
    # The page derived the public reply key itself (Argon2id in the browser): the same as Python's.
    with staffed.open() as server:
        case_id = server.cases.list()[0].id
    assert request["reply_key"] == base64.b64encode(bytes(reply_public_key(reference, case_id))).decode()

    # The sandbox's record of the chat: messages, events, its log. No answer, no reference.
    record = json.dumps(sandbox.messages(chat_id)) + json.dumps(sandbox.events()) + sandbox.process.log()
    for secret in [*CANARIES.values(), reference]:
        assert secret not in record
    # The server's home, as a seizure would find it (the db key included): no answer, no reference.
    copy = tmp_path / "seized"
    shutil.copytree(staffed.root, copy)
    needles = [Needle(f"canary-{k}", "canary", v) for k, v in CANARIES.items()]
    needles.append(Needle("reference", "reference", reference))
    report = attack(copy, needles, logs=[log])
    assert not report.findings, report.summary()


def test_a_whole_sealed_intake_in_arabic_is_right_to_left(
        browser: Any, sandbox: Sandbox, sealed: tuple[StaffedHome, Bot, Path]) -> None:
    from playwright.sync_api import expect

    page = phone(browser, sandbox, "ar", name="Amira")
    try:
        form = open_form(page, "ar")
        expect(form.locator("html")).to_have_attribute("dir", "rtl")
        expect(form.locator("html")).to_have_attribute("lang", "ar")
        answer_all(form, "ar", {"help": "legal", "urgency": "weeks", "country": "سوريا", "region": None,
                                "contact": "هذه المحادثة", "details": None})
        form.locator("#send").click()
        reference_of(form)
    finally:
        page.close()


def test_a_follow_up_and_a_reply_are_read_and_written_in_the_page(
        browser: Any, sandbox: Sandbox, sealed: tuple[StaffedHome, Bot, Path]) -> None:
    from playwright.sync_api import expect

    staffed, _, _ = sealed
    page = phone(browser, sandbox, "en", name="Ilya")
    try:
        form = open_form(page, "en")
        answer_all(form, "en", {**ANSWERS_EN, "details": None})
        form.locator("#send").click()
        reference = reference_of(form)
        form.locator("#close").click()
        with staffed.open() as server:
            nth = len(server.cases.list()) - 1
            cases = server.cases.list(with_envelopes=True)
        target = next(i for i, c in enumerate(cases) if staff_view(staffed, i).view.request["answers"]["contact"]
                      == CANARIES["contact"] and staff_view(staffed, i).view.request["answers"]["details"] == "")
        del nth
        queue_reply(staffed, "We read you: reply-canary-61", nth=target)
        # The chat's menu button opens the form again; the reference finds the reply.
        page.locator("#menu-button").click()
        form = page.frame_locator("#miniapp-frame")
        form.locator("#have-reference").click()
        form.locator("#reference-input").fill(reference)
        form.locator("#lookup").click()
        expect(form.locator("blockquote.reply")).to_contain_text("We read you: reply-canary-61", timeout=60_000)
        form.locator("#follow-up").fill("follow-up-canary-88")
        form.locator("#send-follow-up").click()
        expect(form.locator("#follow-up-done")).to_be_visible()
        chat = page.locator("#messages").inner_text()
        assert "canary" not in chat
    finally:
        page.close()
    events = staff_view(staffed, target).events
    assert any(e.text == "follow-up-canary-88" for e in events)


def test_the_panic_wipe_in_the_page_deletes_the_chat(
        browser: Any, sandbox: Sandbox, sealed: tuple[StaffedHome, Bot, Path]) -> None:
    from playwright.sync_api import expect

    page = phone(browser, sandbox, "en", name="Wiped")
    try:
        form = open_form(page, "en")
        form.locator("#start").click()
        form.locator("#wipe").click()
        expect(page.locator("#miniapp")).to_be_hidden(timeout=STEP_MS)
        chat_id = person_id(page)
        wait_until(lambda: not any(m.get("text") == "/start" or tr("en", texts.CONSENT_SEALED) in (m.get("text") or "")
                                   for m in sandbox.messages(chat_id)), 15, what="the chat wiped")
    finally:
        page.close()


def _direct(browser: Any, bot: Bot, init_data: str) -> Any:
    """The page opened straight from the bot's address with a launch fragment the test made."""
    page = browser.new_page(locale="en-US")
    page.set_default_timeout(STEP_MS)
    theme = json.dumps({"bg_color": "#ffffff"})
    page.goto(f"http://127.0.0.1:{bot.port}/form/?lang=en#tgWebAppData={quote(init_data, safe='')}"
              f"&tgWebAppVersion=8.0&tgWebAppPlatform=weba&tgWebAppThemeParams={quote(theme, safe='')}")
    return page


def _launch(user_id: int, auth_date: int, token: str = TOKEN) -> str:
    fields = {"user": json.dumps({"id": user_id, "first_name": "X", "language_code": "en"}),
              "auth_date": str(auth_date), "chat_type": "private", "chat_instance": "1"}
    fields["hash"] = sign(fields, token)
    return urlencode(fields)


@pytest.mark.parametrize("which", ["forged", "stale"])
def test_forged_or_stale_launch_data_gets_nothing_stored(
        browser: Any, sandbox: Sandbox, sealed: tuple[StaffedHome, Bot, Path], which: str) -> None:
    from playwright.sync_api import expect

    staffed, bot, _ = sealed
    person = sandbox.person()
    with staffed.open() as server:
        before = len(server.cases.list())
    init = (_launch(person.chat_id, int(time.time()), token="999999:" + "X" * 35) if which == "forged"
            else _launch(person.chat_id, int(time.time()) - 3 * 3600))
    page = _direct(browser, bot, init)
    try:
        answer_all(page, "en", ANSWERS_EN)
        page.locator("#send").click()
        expect(page.locator("main")).to_contain_text(T.gettext("en", texts.SUBMIT_FAILED))
    finally:
        page.close()
    with staffed.open() as server:
        assert len(server.cases.list()) == before


def test_a_tampered_envelope_is_refused_in_the_page(
        browser: Any, sandbox: Sandbox, sealed: tuple[StaffedHome, Bot, Path]) -> None:
    from playwright.sync_api import expect

    staffed, bot, _ = sealed
    person = sandbox.person()
    with staffed.open() as server:
        before = len(server.cases.list())
    page = _direct(browser, bot, _launch(person.chat_id, int(time.time())))

    def tamper(route: Any) -> None:
        body = json.loads(route.request.post_data)
        envelope = bytearray(base64.b64decode(body["envelope"]))
        envelope[45] ^= 0xFF  # inside the header, after the signer: the bot must not sign it as it is
        body["envelope"] = base64.b64encode(bytes(envelope)).decode()
        route.continue_(post_data=json.dumps(body))

    try:
        page.route("**/form/api/submit", tamper)
        answer_all(page, "en", ANSWERS_EN)
        page.locator("#send").click()
        expect(page.locator("main")).to_contain_text(T.gettext("en", texts.SUBMIT_FAILED))
    finally:
        page.close()
    with staffed.open() as server:
        assert len(server.cases.list()) == before
