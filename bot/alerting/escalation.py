"""Escalation: a case nobody acknowledged or claimed in time re-alerts a wider circle, round by round.

Deadlines live in the database (`case_alerts.next_at`), so they survive a
restart; a repeating JobQueue job compares them with the runtime's clock, and
its first run on start fires every deadline missed while the bot was down.
Each run first stops alerting cases a caseworker claimed or closed (their
alerts are edited to say so), then alerts cases that entered a queue without
the bot (e.g. `waystation submit`), then escalates what is overdue, and last
forgets removed volunteers whose chats hold no message any more.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram.ext import JobQueue

from bot.alerting.sending import kick
from bot.runtime import BotContext
from storage.cases import CaseId
from storage.server import Server

log = logging.getLogger("waystation.bot.escalation")
JOB_NAME = "alerts-deadlines"
SINCE_KEY = "alerts_since"
#: A case stored by the bot is alerted by its listener within milliseconds; one seen without an
#: alert for this long came in some other way (or the bot stopped in between) and is alerted here.
UNALERTED_GRACE_SECONDS = 30


async def check_deadlines(context: BotContext) -> None:
    """The deadline job: stop taken cases, alert stray ones, escalate overdue ones, erase removed volunteers."""
    rt = context.runtime
    alerting = rt.alerting
    jobs = context.job_queue
    if alerting is None or jobs is None:
        return
    now = rt.now()
    changed = len(alerting.store.finish_taken(now))
    changed += _alert_strays(context, jobs, now)
    rounds = alerting.config.rounds
    for case in alerting.store.overdue(now):
        next_round = case.round + 1
        if next_round > rounds:
            alerting.store.stop_escalating(case.case_id)
            continue
        urgent = alerting.is_urgent(alerting.open_answers(case.answers))
        remind_after = alerting.remind_after(urgent) if next_round < rounds else None
        recipients = [v.id for v in alerting.recipients(case.queue, next_round)]
        if alerting.store.escalate(case.case_id, next_round, recipients, remind_after, now):
            log.info("case %s escalated to round %d (%d volunteers)", case.case_id[:6], next_round, len(recipients))
            changed += 1
    if changed:
        kick(jobs)
    erased = alerting.volunteers.erase_removed("bot", now)
    if erased:
        log.info("%d removed volunteers forgotten: their chats hold no message any more", erased)


def _alert_strays(context: BotContext, jobs: JobQueue[Any], now: int) -> int:
    """Alert new cases that have waited without an alert for the grace period."""
    rt = context.runtime
    alerting = rt.alerting
    if alerting is None:
        return 0
    since = rt.server.db.meta(SINCE_KEY)
    if since is None:
        return 0
    strays = alerting.store.unalerted(int(since))
    seen = alerting.unalerted_since
    for case_id in set(seen) - {case_id for case_id, _ in strays}:
        del seen[case_id]
    alerted = 0
    for case_id, queue in strays:
        first = seen.setdefault(CaseId(case_id), now)
        if now - first >= UNALERTED_GRACE_SECONDS:
            del seen[case_id]
            if alerting.case_entered(case_id, queue, {}, now):
                log.info("case %s entered queue %s without the bot; alerted now", case_id[:6], queue)
                alerted += 1
    return alerted


def remember_start(server: Server, now: int) -> None:
    """On the first start, note from when stray cases are alerted (older ones are not: no flood on upgrade)."""
    if server.db.meta(SINCE_KEY) is None:
        with server.db.transaction() as conn:
            server.db.set_meta(conn, SINCE_KEY, str(server.db.coarse(now)))
