"""The real bot in this process, on a clock the test moves, against the real sandbox messenger.

`RunningBot` builds the Application exactly as `waystation bot run` does
(build_runtime, build_application, on_start, polling) in a background thread
with its own event loop; only the runtime's clock is replaced by a FakeClock
(real time plus an offset that tests move forward), so escalation, digest and
retention deadlines can pass without sleeping. Nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import tomli_w
from telegram.ext import Application

from bot import texts
from bot.alerting import digest, retention
from bot.alerting.schedule import JOBS
from bot.alerting.sending import send_due
from bot.app import build_application, on_start
from bot.i18n import Translations
from bot.runtime import BotContext, Runtime
from bot.texts import Plural
from intake.requests import Request, submit
from storage.cases import CaseId
from storage.daytime import QuietHours
from storage.server import Server
from storage.volunteers import (
    Settings,
    VolunteerStore,
    hash_code,
    new_invite_code,
    normalise_code,
)
from tests.bot.harness import TOKEN, Person, Sandbox, configure_home, wait_until
from tests.conftest import StaffedHome, build_staffed_home
from waystation.service import ALLOWED_UPDATES, build_runtime

T = TypeVar("T")
#: Set by the first run of the daily jobs: until then, moving the clock would move their first due time.
SCHEDULED = (digest.NEXT_KEY, retention.NEXT_KEY)
TR = Translations.load()
START_TIMEOUT = 20.0
#: What the default form's submit hands the case listener: the option ids of the choice answers.
ROUTINE = {"help": "legal", "urgency": "days"}
URGENT = {"help": "safe_place", "urgency": "now"}
#: Their English labels: what the person's request holds.
LABELS = {"legal": "Legal help", "days": "Within days", "safe_place": "A safe place now", "now": "I am in danger now"}


def first_line(language: str, message: str | Plural) -> str:
    """A bot text's fixed beginning (up to its first placeholder; a message with a number in its plural form)."""
    return TR.text(language, message, 2).split("{", 1)[0]


class FakeClock:
    """Real time plus an offset that only grows."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.offset += seconds


def set_config(root: Path, **sections: Mapping[str, object]) -> None:
    """Change keys of config.toml, section by section."""
    path = root / "config.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    path.write_text(tomli_w.dumps(config), encoding="utf-8")


#: Fast checks for tests; escalation in minutes that tests skip over with the clock.
TEST_ALERTS = {"check_seconds": 1, "send_interval_ms": 0, "remind_after_minutes": 30,
               "urgent_remind_after_minutes": 5, "rounds": 2}


def make_home(root: Path, sandbox: Sandbox, **sections: Mapping[str, object]) -> StaffedHome:
    """A staffed home pointed at the sandbox, with test settings (and `sections` on top)."""
    staffed = build_staffed_home(root)
    configure_home(staffed.root, sandbox)
    set_config(staffed.root, alerts=TEST_ALERTS)
    if sections:
        set_config(staffed.root, **sections)
    return staffed


@dataclass
class RunningBot:
    """The Waystation Application polling the sandbox from a background thread."""

    home: Path
    clock: FakeClock
    #: Deletion timers on the fake clock too (off by default: moving the clock then empties chats on restart).
    deletions_on_clock: bool = False
    rt: Runtime | None = None
    application: Application | None = None  # type: ignore[type-arg]
    loop: asyncio.AbstractEventLoop | None = None
    error: BaseException | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: asyncio.Event | None = None

    def start(self) -> RunningBot:
        for name in ("httpx", "httpcore", "apscheduler"):  # as the service does: no URLs (tokens) in logs
            logging.getLogger(name).setLevel(logging.WARNING)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="bot", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT) or self.error is not None:
            raise AssertionError(f"the bot did not start: {self.error!r}")
        return self

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            with Server.open(self.home, environ={}) as server:
                rt = build_runtime(server, clock=self.clock)
                if self.deletions_on_clock:
                    rt.vanisher.clock = self.clock
                application = build_application(rt, TOKEN)
                self.rt, self.application = rt, application
                async with application:
                    await application.start()
                    await on_start(application)
                    await application.updater.start_polling(  # type: ignore[union-attr]
                        poll_interval=0, timeout=1, allowed_updates=ALLOWED_UPDATES)
                    while not all(server.db.meta(key) for key in SCHEDULED):  # the first checks have run
                        await asyncio.sleep(0.05)
                    self._ready.set()
                    await self._stop.wait()
                    await application.updater.stop()  # type: ignore[union-attr]
                    await application.stop()
        except BaseException as err:
            self.error = err
            self._ready.set()
            raise

    def call(self, func: Callable[[], T], timeout: float = 30.0) -> T:
        """Run `func` on the bot's event loop thread (where its database connection lives)."""
        if self.loop is None:
            raise AssertionError("the bot is not running")

        async def run() -> T:
            return func()

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return future.result(timeout)

    def notify(self, case_id: str, queue: str, safe: Mapping[str, str]) -> None:
        """What the conversation does after storing a case: call every case listener."""
        def listeners() -> None:
            if self.rt is None or self.application is None:
                raise AssertionError("the bot is not running")
            context = BotContext(self.application)
            for listener in self.rt.case_listeners:
                listener(context, case_id, queue, dict(safe))

        self.call(listeners)

    def tick(self, timeout: float = 30.0) -> None:
        """Run every alert job once, now, on the bot's loop, then wait until nothing due is left unsent.

        The same callbacks the JobQueue runs every check_seconds: a test that moved the clock need
        not wait for the next tick, and "nothing happened" can be asserted without sleeping.
        """
        if self.loop is None or self.application is None or self.rt is None:
            raise AssertionError("the bot is not running")
        application, rt = self.application, self.rt

        async def run() -> None:
            context = BotContext(application)
            for callback in JOBS.values():
                await callback(context)
            if rt.alerting is None:
                return
            while True:
                while rt.alerting.sender.busy:
                    await asyncio.sleep(0.01)
                if not rt.alerting.store.due(rt.now()):
                    return
                await send_due(context)

        asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None and self._thread is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(20)
            if self._thread.is_alive():
                raise AssertionError("the bot did not stop")


@dataclass
class World:
    """One test's staffed home, sandbox, clock and bot."""

    staffed: StaffedHome
    sandbox: Sandbox
    clock: FakeClock
    bot: RunningBot
    started: list[RunningBot] = field(default_factory=list)

    def now(self) -> int:
        return int(self.clock())

    def restart(self) -> RunningBot:
        """Stop the bot (if running) and start a new one on the same home and clock."""
        self.bot.stop()
        self.bot = RunningBot(self.staffed.root, self.clock).start()
        self.started.append(self.bot)
        return self.bot

    def tick(self) -> None:
        """Let the bot run every check once now and send what is due (see RunningBot.tick)."""
        self.bot.tick()

    def invite(self, queues: tuple[str, ...] = ("main",), tier: int = 1, admin_notices: bool = False,
               quiet: QuietHours | None = None, valid_seconds: int = 3600) -> str:
        """An invitation code, as `waystation volunteers invite` makes it (valid by the bot's clock)."""
        code = new_invite_code()
        with self.staffed.open() as server:
            VolunteerStore(server.db).create_invite(
                hash_code(normalise_code(code) or "", server.home.pepper()),
                Settings(queues, tier, "", admin_notices, quiet), "Ada Admin", self.now(), self.now() + valid_seconds)
        return code

    def volunteer(self, language: str = "en", **invite: Any) -> Person:
        """A sandbox person enrolled as a volunteer through the bot."""
        person = self.sandbox.person(language)
        person.say(f"/volunteer {self.invite(**invite)}")
        person.wait_for_text(first_line(language, texts.VOLUNTEER_WELCOME))
        return person

    def case(self, safe: Mapping[str, str] = ROUTINE, queue: str = "main") -> CaseId:
        """A case stored as intake stores it, then announced to the listeners as the conversation does."""
        answers = {"help": LABELS.get(safe.get("help", ""), ""), "urgency": LABELS.get(safe.get("urgency", ""), ""),
                   "country": "Country A",
                   "contact": "this chat"}
        with self.staffed.open() as server:
            receipt = submit(server, Request(answers, "en", "telegram"), self.now(), queue)
        self.bot.notify(receipt.case_id, receipt.queue, safe)
        return receipt.case_id

    def server(self) -> Server:
        return self.staffed.open()


def alerts_for(person: Person, case_id: str) -> list[dict[str, Any]]:
    """Bot messages in a volunteer chat about one case (alerts, reminders and their edited form)."""
    return [m for m in person.bot_messages() if case_id[:6] in (m.get("text") or "")]


def wait_for_count(person: Person, case_id: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Wait until a volunteer has `count` messages about a case."""
    return wait_until(lambda: (found := alerts_for(person, case_id)) and len(found) >= count and found,
                      timeout, what=f"{count} messages about {case_id[:6]}")
