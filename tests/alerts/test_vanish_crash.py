"""Volunteer chats: deleted on the volunteer timer, whatever they press, and even after a crash mid-send.

The crash test kills the real `waystation bot run` (SIGKILL) while the sandbox
holds the answer to an alert it already shows, restarts it, and then, an hour
later by the clock the bot is given (the alerts harness's injected clock, the
same Application as `bot run`), finds both chats empty.
"""

from __future__ import annotations

import signal
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from bot import texts
from bot.alerting.views import ON_IT
from storage.deletions import DeletionStore
from storage.volunteers import (
    Settings,
    VolunteerStore,
    hash_code,
    new_invite_code,
    normalise_code,
)
from tests.alerts.conftest import WorldFactory
from tests.alerts.harness import (
    ROUTINE,
    FakeClock,
    RunningBot,
    first_line,
    make_home,
    wait_for_count,
)
from tests.bot.flows import complete_intake
from tests.bot.harness import Sandbox, start_bot, wait_until
from tests.bot.test_intake import CASES
from tests.conftest import StaffedHome

HOUR = 3600
SLACK = 120  # seconds of test run between the bot's clock reading and ours


def _far_from_now() -> str:
    """A time of day 12 hours away (UTC), so that no daily job falls inside the hour the clock moves."""
    return datetime.fromtimestamp(time.time() + 12 * HOUR, UTC).strftime("%H:%M")


def _staff_port(root: Path) -> int:
    config = tomllib.loads((root / "config.toml").read_text(encoding="utf-8"))
    return int(config["staff_api"]["listen"].rpartition(":")[2])


def _invite(staffed: StaffedHome) -> str:
    """An invitation code, as `waystation volunteers invite` makes it."""
    code, now = new_invite_code(), int(time.time())
    with staffed.open() as server:
        VolunteerStore(server.db).create_invite(hash_code(normalise_code(code) or "", server.home.pepper()),
                                                Settings(("main",)), "Ada Admin", now, now + HOUR)
    return code


def _dues(root_open: object, chat_id: int) -> dict[int, int]:
    """Message id -> stored due time (every message of a chat shares the chat's)."""
    with root_open() as server:  # type: ignore[operator]
        pending = DeletionStore(server.db).chat(chat_id)
    return {} if pending is None else dict.fromkeys(pending.message_ids, pending.due_at)


def test_an_alert_sent_as_the_bot_dies_is_deleted_on_the_volunteer_timer(tmp_path: Path, sandbox: Sandbox) -> None:
    staffed = make_home(tmp_path / "home", sandbox,
                        alerts={"delete_after_hours": 1, "remind_after_minutes": 600,
                                "urgent_remind_after_minutes": 600,
                                "digest_at": _far_from_now(), "timezone": "UTC"},
                        retention={"run_at": _far_from_now()})
    port = _staff_port(staffed.root)
    bot = start_bot(staffed.root, port, tmp_path / "bot.log")
    try:
        volunteer = sandbox.person("en")
        volunteer.say(f"/volunteer {_invite(staffed)}")
        volunteer.wait_for_text(first_line("en", texts.VOLUNTEER_WELCOME))
        sandbox.delay(volunteer.chat_id)  # the alert is created; its answer is held
        person = sandbox.person("en")
        complete_intake(person, "en", CASES["en"])
        with staffed.open() as server:
            [case] = server.cases.list()
        [alert] = wait_for_count(volunteer, case.id, 1, timeout=20)
        wait_until(lambda: sandbox.delayed(volunteer.chat_id), what="the bot to wait for the alert's id")
        killed_at = int(time.time())
        bot.stop(signal.SIGKILL)
    finally:
        bot.stop()
    lost = int(alert["message_id"])
    assert lost not in _dues(staffed.open, volunteer.chat_id), "the lost id was never learnt"

    restarted = start_bot(staffed.root, port, tmp_path / "restarted.log")
    try:
        # Its row was never marked sent, so the alert goes again: the lost copy must go too.
        wait_for_count(volunteer, case.id, 2, timeout=20)
        shown = {int(m["message_id"]) for m in volunteer.messages()}
        wait_until(lambda: shown <= set(_dues(staffed.open, volunteer.chat_id)), timeout=10,
                   what="every message of the volunteer chat to be scheduled")
        dues = _dues(staffed.open, volunteer.chat_id)
        assert dues[lost] >= killed_at + HOUR - SLACK, "the lost alert keeps the volunteer delay"
        assert min(dues.values()) >= killed_at + HOUR - SLACK
        with staffed.open() as server:
            assert DeletionStore(server.db).intents() == []
        volunteer.press(ON_IT + case.id)  # a press keeps the volunteer timer
        volunteer.wait_for_text(first_line("en", texts.ALERT_TAKEN_BY_YOU))
    finally:
        restarted.stop()

    # An hour later, by the clock the bot is given: the restored timers find both chats overdue
    # (the stored times are rounded up to the granularity: up to that much later than the timers).
    with staffed.open() as server:
        granularity = server.config.privacy.time_granularity_seconds
    clock = FakeClock()
    clock.advance(HOUR + granularity + SLACK)
    later = RunningBot(staffed.root, clock, deletions_on_clock=True).start()
    try:
        wait_until(lambda: volunteer.messages() == [] and person.messages() == [], timeout=30,
                   what="both chats to be empty")
    finally:
        later.stop()
    with staffed.open() as server:
        store = DeletionStore(server.db)
        assert store.all() == [] and store.intents() == []


def test_a_volunteer_chat_stays_on_the_volunteer_timer_whatever_they_press(world: WorldFactory) -> None:
    w = world()
    delay = 24 * HOUR  # [alerts] delete_after_hours, default
    volunteer = w.volunteer("en")

    def still_on_the_volunteer_timer() -> None:
        at_least = int(time.time()) + delay - SLACK
        dues = _dues(w.server, volunteer.chat_id)
        assert dues and min(dues.values()) >= at_least, (min(dues.values(), default=None), at_least)
        rt, application = w.bot.rt, w.bot.application
        assert rt is not None and application is not None and application.job_queue is not None
        [timer] = application.job_queue.get_jobs_by_name(rt.vanisher.job_name(volunteer.chat_id))
        assert timer.next_t is not None and timer.next_t.timestamp() >= at_least

    case_id = w.case(ROUTINE)
    wait_for_count(volunteer, case_id, 1)
    still_on_the_volunteer_timer()
    volunteer.press(ON_IT + case_id)
    volunteer.wait_for_text(first_line("en", texts.ALERT_TAKEN_BY_YOU))
    still_on_the_volunteer_timer()
    volunteer.say("hello")  # starts the intake form in their own chat
    volunteer.wait_for_text(first_line("en", texts.CONSENT))
    still_on_the_volunteer_timer()
    volunteer.press("c")
    volunteer.wait_for_text("What kind of help")
    volunteer.say("/cancel")  # brings an intake chat's deletion forward; not a volunteer's
    volunteer.wait_for_text(first_line("en", texts.CANCELLED))
    still_on_the_volunteer_timer()
    volunteer.say("/nonsense")
    volunteer.wait_for_text(first_line("en", texts.UNKNOWN_COMMAND))
    still_on_the_volunteer_timer()
