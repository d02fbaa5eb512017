"""Every volunteer-side timer, as named JobQueue jobs (deletion timers are in bot/vanish.py).

Names are fixed and carry no chat id or case id; scheduling again replaces a
job of the same name, so calling `schedule_alert_jobs` twice changes nothing.
Each job is a repeating check that compares deadlines kept in the database with
the runtime's clock: nothing is lost on a restart, a deadline missed while the
bot was down fires on the first check (started at once), and tests move time
by moving the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import JobQueue

from bot.alerting import digest, escalation, retention, rosterwatch, sending
from bot.runtime import BotContext, Runtime

JobCallback = Callable[[BotContext], Coroutine[Any, Any, None]]

#: name -> what it does; all run every `[alerts] check_seconds`.
JOBS: dict[str, JobCallback] = {
    sending.SEND_JOB: sending.send_due,            # send and edit what is owed to volunteers
    escalation.JOB_NAME: escalation.check_deadlines,  # stop taken cases, escalate overdue ones
    digest.JOB_NAME: digest.send_digests,          # the daily digest, when due
    retention.JOB_NAME: retention.run_retention,   # the daily retention run, when due
    rosterwatch.JOB_NAME: rosterwatch.watch_roster,  # the roster's dates and case coverage: log, admin notices
}


def schedule_alert_jobs(jobs: JobQueue[BotContext], rt: Runtime) -> None:
    """(Re)create the repeating jobs, each starting at once."""
    if rt.alerting is None:
        return
    escalation.remember_start(rt.server, rt.now())
    interval = rt.server.config.alerts.check_seconds
    for name, callback in JOBS.items():
        for job in jobs.get_jobs_by_name(name):
            job.schedule_removal()
        jobs.run_repeating(callback, interval=interval, first=0, name=name)
