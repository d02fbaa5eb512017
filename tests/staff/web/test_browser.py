"""A caseworker's day in the web desk, in Debian's Chromium, against a real bot and its staff API.

People write to the real bot through the sandbox messenger; `waystation staff desk --no-browser`
runs as a subprocess with its own HOME and TMPDIR (so everything it could leave on disk is in
two folders we scan); Playwright drives Chromium on the URL it prints. The browser's own profile
is Playwright's temporary folder, outside those two: what a browser caches is its business,
and the desk forbids caching (no-store) on every answer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import texts
from crypto.keys import KDF_MINIMUM, dump_identity
from staff.desk import RemoteDesk
from staff.pins import PinStore
from tests.bot.flows import complete_intake, tr
from tests.bot.harness import (
    Bot,
    Process,
    Sandbox,
    configure_home,
    spawn,
    start_bot,
    start_sandbox,
    wait_until,
    waystation,
)
from tests.cli.runner import PASSPHRASE
from tests.conftest import StaffedHome, build_staffed_home
from tests.sandbox.test_web_chat import CHROMIUM, CHROMIUM_ARGS, require_browser

VENDOR = Path(__file__).with_name("vendor")
STEP_MS = 20_000
#: Decrypted text that must never reach a file the desk leaves (Latin and Cyrillic, as people write).
DETAILS = "desk-canary-details-Q7v Меня ищут"
COUNTRY = "desk-canary-country-L2p"
NOTE = "desk-canary-note-W4z"
REPLY = "desk-canary-reply-H9k Мы вам поможем"
LATE = "desk-canary-late-R3m"
CANARIES = [DETAILS, COUNTRY, NOTE, REPLY, LATE, "Меня ищут", "Мы вам поможем"]
SERIOUS = {"serious", "critical"}


def axe_source() -> str:
    """The vendored axe-core, after checking it against its recorded sha384."""
    manifest = json.loads((VENDOR / "axe-core.json").read_text())
    data = (VENDOR / manifest["file"]).read_bytes()
    assert base64.b64encode(hashlib.sha384(data).digest()).decode() == manifest["sha384"], "axe-core was altered"
    return data.decode("utf-8")


@dataclass
class World:
    """The bot, the person, the desk process and the page driving it."""

    tmp: Path
    sandbox: Sandbox
    bot: Bot
    desk: Process
    desk_dirs: list[Path]
    url: str
    page: Any
    person: Any
    reference: str
    staffed: StaffedHome
    port: int

    @property
    def base(self) -> str:
        return self.url.split("/s/", 1)[0]


def start_desk(tmp: Path, port: int, key: Path) -> tuple[Process, list[Path], str]:
    """`waystation staff desk --no-browser` with its own HOME and TMPDIR; the URL it prints."""
    home, temp = tmp / "desk-home", tmp / "desk-tmp"
    home.mkdir()
    temp.mkdir()
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "TMPDIR": str(temp),
           "WAYSTATION_PASSPHRASE": PASSPHRASE, "BROWSER": "false"}
    process = spawn(waystation("staff", "desk", "--server", f"http://127.0.0.1:{port}", "--key", str(key),
                               "--no-browser", "--idle-lock", "30"), tmp / "desk.log", env=env)

    def url() -> str | None:
        if process.popen.poll() is not None:
            raise AssertionError(f"the desk exited: {process.log()}")
        found = re.search(r"http://127\.0\.0\.1:\d+/s/\S+", process.log())
        return found.group(0) if found else None

    return process, [home, temp], wait_until(url, 60, what="the desk's URL")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_browser()
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("desk")
    sandbox = start_sandbox(tmp, "--per-chat-rate", "0", "--global-rate", "0")
    staffed = build_staffed_home(tmp / "home")
    port = configure_home(staffed.root, sandbox, granularity=60)
    bot = start_bot(staffed.root, port, tmp / "bot.log")
    key = tmp / "cas-main.key"
    key.write_bytes(dump_identity(staffed.staff["cas-main"], PASSPHRASE.encode(), KDF_MINIMUM))
    person = sandbox.person("ru")
    reference = complete_intake(person, "ru", {"help": "legal", "urgency": "now", "country": COUNTRY,
                                               "region": None, "contact": "этот чат", "details": DETAILS})
    assert reference is not None
    desk, dirs, url = start_desk(tmp, port, key)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(STEP_MS)
            page.goto(url)
            yield World(tmp, sandbox, bot, desk, dirs, url, page, person, reference, staffed, port)
            browser.close()
    finally:
        desk.stop()
        bot.stop()
        sandbox.process.stop()


def ready(page: Any) -> None:
    """Wait until the page's script runs (keyboard shortcuts work from then on)."""
    page.wait_for_selector("html[data-js=ready]", state="attached")


def scan(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.evaluate(axe_source())  # through the DevTools protocol: the page's CSP forbids inline scripts
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"] if v["impact"] in SERIOUS]


def test_a_missing_or_wrong_secret_is_refused_by_the_real_desk(world: World) -> None:
    assert httpx.get(world.base + "/").status_code == 403
    assert httpx.get(world.base + "/s/not-the-secret").status_code == 404
    assert httpx.get(world.url).status_code == 404  # the page has used it: it works once
    answer = httpx.get(world.base + "/help", headers={"host": "localhost"})
    assert answer.status_code == 403


def test_a_caseworker_day(world: World) -> None:
    page = world.page
    csp_reports: list[str] = []
    page.on("console", lambda m: csp_reports.append(m.text) if "Content Security Policy" in m.text else None)
    page.wait_for_selector("#rows tr[data-case]")
    assert COUNTRY in page.inner_text("#rows")
    ready(page)

    # Search over the decrypted text, from the keyboard.
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("canary-details-q7v")
    page.keyboard.press("Enter")
    page.wait_for_selector("#rows tr[data-case]")
    assert page.locator("#rows tr[data-case]").count() == 1
    page.fill("#q", "nothing-like-this")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=No cases match.")
    page.goto(world.base + "/")
    ready(page)

    # Open the case with j and Enter, claim it with c.
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_selector("#answers-h")
    assert DETAILS in page.inner_text("main")
    ready(page)
    page.keyboard.press("c")
    page.wait_for_selector("#claimed-by:has-text('cas-main')")
    ready(page)

    # Assign it to a colleague of the queue, and tag it.
    page.select_option("#assign-to", "cas-main-2")
    page.click("#assign")
    page.wait_for_selector("#assigned-to:has-text('cas-main-2')")
    page.fill("#tag-text", "needs-lawyer")
    page.click("#add-tag")
    page.wait_for_selector("#tags >> text=needs-lawyer")
    ready(page)

    # A note, from the keyboard.
    page.keyboard.press("n")
    page.keyboard.type(NOTE)
    page.click("text=Add note")
    page.wait_for_selector(f"ol.history >> text={NOTE}")
    ready(page)

    # A reply: the preview shows the bot's own notice in the person's language, then the text.
    page.keyboard.press("r")
    page.keyboard.type(REPLY)
    page.click("#preview-button")
    page.wait_for_selector("#preview")
    assert page.inner_text("#preview-notice") == tr("ru", texts.NEW_MESSAGE)
    assert page.inner_text("#preview-text") == REPLY
    page.click("#send-reply")
    page.wait_for_selector("text=delivery: queued")
    notice = world.person.wait_for_text(tr("ru", texts.NEW_MESSAGE), timeout=30)
    assert notice["text"] == tr("ru", texts.NEW_MESSAGE)  # what the preview promised
    page.reload()
    page.wait_for_selector("text=delivery: notified", timeout=30_000)

    # Close and reopen.
    page.click("#close")
    page.wait_for_selector("#reopen")
    page.click("#reopen")
    page.wait_for_selector("#close")
    assert csp_reports == []


def test_statistics_and_their_csv_download(world: World) -> None:
    page = world.page
    page.goto(world.base + "/")
    page.click("nav >> text=Statistics")
    page.wait_for_selector("svg.chart")
    assert page.locator("svg.chart").count() == 4
    with page.expect_download() as download:
        page.click("#csv")
    path = download.value.path()
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "week,queue,status,urgency,count" and len(lines) >= 2
    assert not any(canary in "\n".join(lines) for canary in CANARIES)


def test_handover_export_and_import_in_the_page(world: World) -> None:
    page = world.page
    page.goto(world.base + "/")
    page.click(f"#rows tr:has-text('{COUNTRY}') a")
    page.click("#hand-over")
    page.wait_for_selector("#export-form")
    assert page.locator("#export-form input[type=checkbox]:checked").count() == 1
    page.select_option("#export-to", "cas-main-2")
    with page.expect_download() as download:
        page.click("#export")
    sealed = Path(download.value.path()).read_bytes()
    assert sealed and not any(canary.encode() in sealed for canary in CANARIES)

    # A colleague hands the case back: their export, sealed to cas-main, opened in this page.
    back = world.tmp / "from-colleague.sealed"
    colleague = RemoteDesk.open(f"http://127.0.0.1:{world.port}", world.staffed.staff["cas-main-2"],
                                PinStore(world.tmp / "colleague-pins.json"))
    try:
        case = next(v.case.id for v in colleague.list() if COUNTRY in str(v.request))
        back.write_bytes(colleague.export([case], "cas-main"))
    finally:
        colleague.shut()
    page.set_input_files("#import-file", str(back))
    page.click("#import")
    page.wait_for_selector("#opened")
    assert DETAILS in page.inner_text("#import-result") and "cas-main-2" in page.inner_text("#import-result")
    assert scan(page) == []


def test_new_cases_appear_without_a_reload(world: World) -> None:
    page = world.page
    page.goto(world.base + "/")
    page.wait_for_selector("#rows tr[data-case]")
    before = page.locator("#rows tr[data-case]").count()
    second = world.sandbox.person("en")
    complete_intake(second, "en", {"help": "medical", "urgency": "days", "country": LATE, "region": None,
                                   "contact": "here", "details": None})
    page.wait_for_selector(f"#rows >> text={LATE}", timeout=60_000)  # the desk lists again every 20 s
    assert page.locator("#rows tr[data-case]").count() == before + 1


@pytest.mark.parametrize("where", ["inbox", "case", "help", "stats"])
def test_no_serious_accessibility_violations(world: World, where: str) -> None:
    page = world.page
    page.goto(world.base + "/")
    if where == "case":
        page.click("#rows tr[data-case] a")
        page.wait_for_selector("#answers-h")
    elif where == "help":
        page.goto(world.base + "/help")
    elif where == "stats":
        page.goto(world.base + "/stats")
        page.wait_for_selector("svg.chart")
    assert scan(page) == []


def test_usable_at_200_percent_zoom_and_in_a_narrow_window(world: World) -> None:
    page = world.page
    try:
        for width in (640, 360):  # 1280 px at 200 %; a phone-narrow window
            page.set_viewport_size({"width": width, "height": 700})
            page.goto(world.base + "/")
            page.wait_for_selector("#rows tr[data-case]")
            assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")
            page.click("#rows tr[data-case] a")
            page.wait_for_selector("#answers-h")
            assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")
            assert page.locator("#close, #reopen").first.is_visible()
            assert page.locator("#reply-text").is_visible()
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_the_interface_in_russian(world: World) -> None:
    page = world.page
    page.goto(world.base + "/")
    page.select_option("#lang-switch", "ru")
    page.click("header form.inline button[type=submit] >> nth=0")
    page.wait_for_selector("h1:has-text('Входящие')")
    assert page.get_attribute("html", "lang") == "ru"
    assert scan(page) == []
    page.select_option("#lang-switch", "en")
    page.click("header form.inline button[type=submit] >> nth=0")
    page.wait_for_selector("h1:has-text('Inbox')")


def test_shortcuts_are_documented_in_the_page(world: World) -> None:
    page = world.page
    page.goto(world.base + "/")
    ready(page)
    page.keyboard.press("?")
    page.wait_for_selector("#shortcuts")
    keys = page.inner_text("#shortcuts")
    assert all(k in keys for k in ("j", "k", "/", "c", "n", "r", "?"))
    ready(page)
    page.keyboard.press("g")
    page.wait_for_selector("#rows")


def test_lock_and_unlock_in_the_page(world: World) -> None:
    page = world.page
    page.goto(world.base + "/")
    page.click("#lock-button")
    page.wait_for_selector("#passphrase")
    assert DETAILS not in page.content() and COUNTRY not in page.content()
    assert scan(page) == []
    page.goto(world.base + "/case/anything")
    page.wait_for_selector("#passphrase")  # every page asks for the passphrase first
    page.fill("#passphrase", "not the passphrase")
    page.click("button:has-text('Unlock')")
    page.wait_for_selector("text=That passphrase does not unlock your key.")
    page.fill("#passphrase", PASSPHRASE)
    page.click("button:has-text('Unlock')")
    page.wait_for_selector(f"#rows >> text={COUNTRY}")


def test_closing_the_page_ends_the_desk_and_it_leaves_no_decrypted_text(world: World) -> None:
    world.page.close()
    wait_until(lambda: world.desk.popen.poll() is not None, 60, what="the desk to end after the page closed")
    assert world.desk.popen.returncode == 0, world.desk.log()
    assert "The desk has ended." in world.desk.log()
    files = [p for d in world.desk_dirs for p in d.rglob("*") if p.is_file()] + [world.desk.log_path]
    assert any(p.name == "pins.json" for p in files)  # the scan sees what the desk does write
    for path in files:
        data = path.read_bytes()
        for canary in CANARIES:
            assert canary.encode("utf-8") not in data, f"{canary!r} in {path}"
    leftovers = [p for p in world.desk_dirs[1].rglob("*")]
    assert leftovers == [], f"the desk left temporary files: {leftovers}"
