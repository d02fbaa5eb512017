"""Sending what is owed to volunteers: paced per chat, through PTB's rate limiter, retried, never lost silently.

Every alert, reminder, digest and notice is first a row in `volunteer_messages`;
this module sends due rows and writes back what happened, one round at a time.
All calls go through the Application's rate limiter (bot/ratelimit.py: the
bot-wide limit, a pace per chat, and a pause of that chat alone after a 429);
on top of it each volunteer chat is paced to `send_interval_ms` (bot/alerting/pacing.py).
A 429 that outlives the limiter's retries, a network failure or a server error leaves the row
pending for a later attempt; a volunteer who
blocked the bot (403) is marked inactive and nothing more is sent to them; a
message Telegram refuses outright is marked failed in the audit log.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Sequence
from typing import Any

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application, JobQueue
from telegram.warnings import PTBDeprecationWarning

from bot.alerting.alerts import Alerting
from bot.alerting.views import render_alert, render_digest, render_notice, render_outcome
from bot.runtime import BotContext, Runtime
from bot.vanish import seconds
from storage.alerts import MessageKind, Outgoing, Results
from storage.cases import CaseId
from storage.volunteers import Volunteer, VolunteerId

log = logging.getLogger("waystation.bot.sending")
SEND_JOB = "alerts-send"
KICK_JOB = "alerts-send-now"
FETCH = 1000            # rows looked at per round
ROUND_SECONDS = 5.0     # a round sends at most this long's worth of messages to any one chat
MAX_ROUNDS = 200        # rounds per run; the next tick carries on
MAX_ATTEMPTS = 10       # transient failures before a message is given up (and audited)
MAX_BACKOFF = 600


async def run(application: Application[Any, Any, Any, Any, Any, Any], rt: Runtime, alerting: Alerting) -> None:
    """Send rounds until nothing is due or the bot stops (the caller set `busy`)."""
    bot, jobs, sender = application.bot, application.job_queue, alerting.sender
    try:
        for _ in range(MAX_ROUNDS):
            sender.again = False
            if jobs is None or not application.running:
                return  # stopping: what is left stays owed in the database
            rows = alerting.store.due(rt.now(), FETCH)
            if not rows:
                if sender.again:
                    continue
                return
            await _round(bot, rt, alerting, rows)
    finally:
        sender.busy = False
        sender.forget_idle_chats()


async def _round(bot: Bot, rt: Runtime, alerting: Alerting, rows: Sequence[Outgoing]) -> None:
    now = rt.now()
    interval = alerting.sender.interval
    volunteers = {v.id: v for v in alerting.volunteers.list()}
    cap = max(1, int(ROUND_SECONDS / interval)) if interval > 0 else FETCH
    groups: dict[VolunteerId, list[Outgoing]] = {}
    for row in rows:
        batch = groups.setdefault(row.volunteer_id, [])
        if len(batch) < cap:
            batch.append(row)
    results = Results()
    answers: dict[CaseId, dict[str, str]] = {}
    # Sent messages go on the chat's deletion list (with the volunteer delay) as they are sent: bot/tracking.py.
    await asyncio.gather(*(_chat(bot, rt, alerting, volunteers[vid], batch, now, results, answers)
                           for vid, batch in groups.items() if vid in volunteers))
    alerting.store.record(results, rt.now())
    alerting.sender.count(results)


async def _chat(bot: Bot, rt: Runtime, alerting: Alerting, volunteer: Volunteer, rows: Sequence[Outgoing],
                now: int, results: Results, answers: dict[CaseId, dict[str, str]]) -> None:
    """One volunteer's rows, in order, paced; stops at a 403 or a 429."""
    for index, row in enumerate(rows):
        case_answers = _answers(alerting, row, answers)
        if row.outcome is None and volunteer.quiet is not None and volunteer.in_quiet_hours(now) \
                and not alerting.is_urgent(case_answers):
            results.held.append((row.id, volunteer.quiet.ends_after(now)))
            continue
        await alerting.sender.pace(volunteer.chat_id)
        try:
            if row.outcome is not None and row.case_id is not None and row.message_id is not None:
                text = render_outcome(rt.translations, volunteer.language, row.case_id, row.outcome)
                await bot.edit_message_text(text, chat_id=volunteer.chat_id, message_id=row.message_id)
                results.edited.append(row.id)
            else:
                text, markup = _render(rt, volunteer, row, case_answers)
                message = await bot.send_message(volunteer.chat_id, text, reply_markup=markup,
                                                 protect_content=True)
                results.sent.append((row.id, message.message_id))
        except Forbidden:
            log.warning("volunteer %d blocked the bot: marked inactive, nothing more is sent to them", volunteer.id)
            results.blocked.add(volunteer.id)
            return
        except RetryAfter as err:
            # The rate limiter already waited and retried; leave this chat's rows for later.
            wait = _retry_after(err) + 1
            results.later.extend((r.id, wait) for r in rows[index:])
            return
        except BadRequest as err:
            if row.outcome is not None:
                results.edited.append(row.id)  # deleted already, or already shows the final text
            else:
                log.error("a %s to volunteer %d was refused by the Bot API (%s); given up and audited",
                          row.kind.value, volunteer.id, type(err).__name__)
                results.failed.append((row.id, "refused"))
        except TelegramError as err:
            if row.attempts + 1 >= MAX_ATTEMPTS:
                log.error("a %s to volunteer %d failed %d times (%s); given up and audited",
                          row.kind.value, volunteer.id, MAX_ATTEMPTS, type(err).__name__)
                results.failed.append((row.id, "unreachable"))
            else:
                results.retry.append((row.id, min(MAX_BACKOFF, 5 * 2 ** row.attempts)))

def _answers(alerting: Alerting, row: Outgoing, cache: dict[CaseId, dict[str, str]]) -> dict[str, str]:
    if row.case_id is None or row.outcome is not None:
        return {}
    if row.case_id not in cache:
        cache[row.case_id] = alerting.open_answers(row.answers)
    return cache[row.case_id]

def _render(rt: Runtime, volunteer: Volunteer, row: Outgoing,
            answers: dict[str, str]) -> tuple[str, InlineKeyboardMarkup | None]:
    t, language = rt.translations, volunteer.language
    if row.kind is MessageKind.DIGEST:
        return render_digest(t, language, row.payload), None
    if row.kind is MessageKind.NOTICE:
        return render_notice(t, language, row.payload), None
    return render_alert(t, language, rt.form, row.case_id or "", row.queue or "", answers,
                        reminder=row.kind is MessageKind.REMINDER)


def _retry_after(err: RetryAfter) -> int:
    """Whole seconds to wait (PTB warns that the attribute will become a timedelta; `seconds` takes both)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        return seconds(err.retry_after)


async def send_due(context: BotContext) -> None:
    """The sending job: start a run in the background unless one is going on (it then goes round again)."""
    rt = context.runtime
    alerting = rt.alerting
    if alerting is None or context.job_queue is None:
        return
    sender = alerting.sender
    if sender.busy:
        sender.again = True
        return
    sender.busy = True
    context.application.create_task(run(context.application, rt, alerting), name=SEND_JOB)


def kick(jobs: JobQueue[Any]) -> None:
    """Send now rather than at the next tick; a kick already waiting is enough."""
    if not jobs.get_jobs_by_name(KICK_JOB):
        jobs.run_once(send_due, when=0, name=KICK_JOB)
