"""Escalation: deadlines on the injected clock, a wider circle, faster when urgent, quiet hours, restarts.

Most tests call `tick()` after moving the clock (the job callbacks, run at once); the first test
and the restart test wait for the JobQueue's own repeating job instead.
"""

from __future__ import annotations

import time

from bot import texts
from bot.alerting.schedule import JOBS, schedule_alert_jobs
from bot.alerting.views import ON_IT
from storage.config import PrivacyConfig
from storage.daytime import QuietHours, minute_of_day, zone
from tests.alerts.conftest import WorldFactory
from tests.alerts.harness import (
    ROUTINE,
    TR,
    URGENT,
    alerts_for,
    first_line,
    wait_for_count,
)
from tests.bot.harness import wait_until

MINUTE = 60
#: Deadlines count from the end of the time bucket they were set in: never early, up to this late.
LATE = PrivacyConfig().time_granularity_seconds


def _is_final(message: dict[str, object]) -> bool:
    return message["reply_markup"] is None


def test_waiting_case_reaches_tier_2_after_the_deadline_and_stops_when_acknowledged(world: WorldFactory) -> None:
    w = world()
    first, second = w.volunteer(), w.volunteer(tier=2)
    case_id = w.case()
    wait_for_count(first, case_id, 1)
    w.clock.advance(29 * MINUTE)
    w.tick()
    assert len(alerts_for(first, case_id)) == 1
    assert alerts_for(second, case_id) == []
    w.clock.advance(2 * MINUTE + LATE)  # no tick: the JobQueue's repeating check notices within check_seconds
    reminder = wait_for_count(first, case_id, 2)[-1]
    [wider] = wait_for_count(second, case_id, 1)
    for message in (reminder, wider):
        assert message["text"].startswith(TR.gettext("en", texts.ALERT_REMINDER).format(short_ref=case_id[:6],
                                                                                         queue="main"))
    second.press(ON_IT + case_id)
    wait_until(lambda: all(_is_final(m) for p in (first, second) for m in alerts_for(p, case_id)), 10,
               what="every copy to be edited")
    assert [m["text"] for m in alerts_for(second, case_id)] == [
        TR.gettext("en", texts.ALERT_TAKEN_BY_YOU).format(short_ref=case_id[:6])]
    assert {m["text"] for m in alerts_for(first, case_id)} == {
        TR.gettext("en", texts.ALERT_TAKEN).format(short_ref=case_id[:6])}
    w.clock.advance(3 * 60 * MINUTE)
    w.tick()
    assert (len(alerts_for(first, case_id)), len(alerts_for(second, case_id))) == (2, 1)


def test_a_claim_or_a_close_stops_reminders_and_updates_the_alerts(world: WorldFactory) -> None:
    w = world()
    volunteer = w.volunteer()
    claimed, closed = w.case(), w.case()
    wait_for_count(volunteer, claimed, 1)
    wait_for_count(volunteer, closed, 1)
    with w.server() as server:  # a caseworker, through the staff API or CLI: another process, same database
        server.cases.claim(claimed, "cas-main", w.now())
        server.cases.close(closed, "cas-main", w.now())
    w.clock.advance(5 * 60 * MINUTE)
    w.tick()
    for case_id in (claimed, closed):
        assert [m["text"] for m in alerts_for(volunteer, case_id)] == [
            TR.gettext("en", texts.ALERT_TAKEN).format(short_ref=case_id[:6])]


def test_urgent_cases_escalate_sooner_for_a_limited_number_of_rounds(world: WorldFactory) -> None:
    w = world(alerts={"remind_after_minutes": 60})  # urgent: 5 minutes, routine: 60, two rounds
    volunteer = w.volunteer()
    urgent, routine = w.case(URGENT), w.case(ROUTINE)
    w.tick()
    for round_ in (1, 2, 3):
        w.clock.advance(6 * MINUTE + LATE)
        w.tick()
        assert len(alerts_for(volunteer, urgent)) == 1 + min(round_, 2)  # the alert, then two reminders at most
    assert len(alerts_for(volunteer, routine)) == 1  # 48 minutes: not yet due


def test_quiet_hours_hold_routine_alerts_but_not_urgent_ones(world: WorldFactory) -> None:
    w = world()
    tz = "Asia/Kathmandu"  # UTC+05:45: the window is the volunteer's own local time
    here = minute_of_day(w.clock(), zone(tz))
    quiet = QuietHours((here - 60) % 1440, (here + 60) % 1440, tz)
    sleeper, awake = w.volunteer(quiet=quiet), w.volunteer()
    routine, urgent = w.case(ROUTINE), w.case(URGENT)
    w.tick()
    assert len(alerts_for(awake, routine)) == len(alerts_for(awake, urgent)) == 1
    [alert] = alerts_for(sleeper, urgent)
    assert alert["text"].startswith(first_line("en", texts.ALERT))
    assert alerts_for(sleeper, routine) == []
    awake.press(ON_IT + urgent)  # take the urgent case so that only the routine one moves on
    wait_until(lambda: _is_final(alerts_for(sleeper, urgent)[0]), what="the urgent alert to be taken")
    w.clock.advance(61 * MINUTE)
    w.tick()
    messages = alerts_for(sleeper, routine)
    assert messages and messages[0]["text"].startswith(
        TR.gettext("en", texts.ALERT).format(short_ref=routine[:6], queue="main"))


def test_a_deadline_missed_while_the_bot_was_down_fires_at_once_on_start(world: WorldFactory) -> None:
    w = world()
    volunteer = w.volunteer()
    case_id = w.case()
    wait_for_count(volunteer, case_id, 1)
    w.bot.stop()
    w.clock.advance(3 * 60 * MINUTE)  # the outage outlasts the 30-minute deadline
    w.restart()
    started = time.monotonic()
    reminder = wait_for_count(volunteer, case_id, 2, timeout=5)[-1]  # the first check runs on start
    assert time.monotonic() - started < 5
    assert reminder["text"].startswith(first_line("en", texts.ALERT_REMINDER))
    w.tick()
    assert len(alerts_for(volunteer, case_id)) == 2  # one missed deadline, one reminder


def test_jobs_have_fixed_names_without_chat_ids_and_rescheduling_does_not_duplicate(world: WorldFactory) -> None:
    w = world()
    volunteer = w.volunteer()
    application, rt = w.bot.application, w.bot.rt
    assert application is not None and application.job_queue is not None and rt is not None
    jobs = application.job_queue

    def names() -> list[str]:
        return sorted(job.name or "" for job in jobs.jobs() if job.name != "alerts-send-now")

    before = w.bot.call(names)
    assert set(JOBS) <= set(before)
    w.bot.call(lambda: schedule_alert_jobs(jobs, rt))
    w.bot.call(lambda: schedule_alert_jobs(jobs, rt))
    after = w.bot.call(names)
    assert after == before
    assert all(before.count(name) == 1 for name in JOBS)
    assert not any(str(volunteer.chat_id) in name for name in after)
