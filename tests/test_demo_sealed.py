"""The README's main command, as a person uses it: `waystation demo`, the sealed form in a browser.

The demo is started exactly as the README says (no test configuration), a person opens the
printed chat page in Debian's chromium, presses the form's button, answers in the Mini App panel
and sends; then the caseworker command the demo printed decrypts what they sent.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot.test_sealed_form_browser import answer_all, open_form, reference_of
from tests.sandbox.test_web_chat import CHROMIUM, CHROMIUM_ARGS, require_browser

CANARY_COUNTRY = "Demoland-7f3a"
ANSWERS: dict[str, str | None] = {"help": "leave", "urgency": "now", "country": CANARY_COUNTRY, "region": None,
                                  "contact": "the demo's contact canary", "details": None}


class Demo:
    """`waystation demo` in a subprocess, its output read as it comes."""

    def __init__(self, base: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "waystation", "demo", "--port", "0", "--dir", str(base)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
            start_new_session=True)
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("Read what was sent:"):
                self.ready.set()
        self.ready.set()

    def output(self) -> str:
        return "".join(self.lines)

    def find(self, pattern: str) -> str:
        match = re.search(pattern, self.output(), re.MULTILINE)
        assert match, self.output()
        return match.group(1)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl+C, as the README says
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(10)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    require_browser()
    running = Demo(tmp_path / "demo")
    try:
        assert running.ready.wait(120), running.output()
        yield running
    finally:
        running.stop()


@pytest.mark.timeout(300)
def test_a_person_does_the_whole_intake_in_the_sealed_form_in_the_demo(demo: Demo) -> None:
    from playwright.sync_api import expect, sync_playwright

    chat_url = demo.find(r"^Chat with the bot:\s+(\S+)")
    staff_command = demo.find(r"^Read what was sent: (.+)$")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page: Any = browser.new_page(locale="en-US", viewport={"width": 420, "height": 800})
            page.set_default_timeout(30_000)
            page.goto(chat_url)
            page.get_by_label("Display name").fill("Demo Person")
            page.get_by_label("Language code").fill("en")
            page.get_by_role("button", name="Start").click()
            form = open_form(page, "en")
            answer_all(form, "en", ANSWERS)
            form.locator("#send").click()
            reference_of(form)
            form.locator("#close").click()
            expect(page.locator("#miniapp")).to_be_hidden()
            # The chat shows nothing of the answers: they went from the page to the server, sealed.
            expect(page.locator("#messages")).not_to_contain_text(CANARY_COUNTRY)
        finally:
            browser.close()

    # The command the demo printed, run as printed: the caseworker's key decrypts the request.
    words = shlex.split(staff_command)
    env = dict(os.environ)
    while words and "=" in words[0]:
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    assert words[:1] == ["waystation"]
    listed = subprocess.run([sys.executable, "-m", "waystation", *words[1:]], env=env, capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "Leave the country" in listed.stdout and "new" in listed.stdout, listed.stdout
    case_id = listed.stdout.split()[0]
    show = [w if w != "list" else "show" for w in words[1:]] + [case_id]
    shown = subprocess.run([sys.executable, "-m", "waystation", *show], env=env, capture_output=True,
                           text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert CANARY_COUNTRY in shown.stdout, shown.stdout
    assert demo.stop() == 0, demo.output()
