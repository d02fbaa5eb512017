"""The roster's dates and who can read the open cases, said loudly: in the log and to the admins.

A repeating JobQueue job (every `[alerts] check_seconds`, the first run at start) compares the
roster's standing (storage.rosterlife) with the runtime's clock and:

- logs it at start and once a day: information while it is valid, a warning from 14 days before
  it expires and during its grace period, an error once requests are refused;
- owes the admins (volunteers enrolled with `--admin-notices`) a notice when the roster will
  expire in 14, 7 and 1 days, and likewise when members will (each threshold once per expiry
  date: the dates are in the meta table, so a restart repeats nothing and a renewal starts
  over); each day of its grace period and each day after it; each day it does not verify;
- once a day, judges who can read the open cases (storage.coverage): open cases no active
  caseworker can read, queues with fewer than two active caseworkers, fewer than two active
  admins; each is announced when it appears or changes, and again after a week while it lasts.

Notices carry counts, dates and queue names only (bot/alerting/views.render_notice).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from bot.alerting.sending import kick
from bot.runtime import BotContext, Runtime
from crypto.roster import DAY
from storage.alerts import MessageKind
from storage.coverage import assess, open_cases
from storage.errors import RosterUnavailable
from storage.rosterlife import (
    WARN_DAYS,
    Phase,
    Standing,
    date,
    expiring_members,
    notice_threshold,
    within,
)

log = logging.getLogger("waystation.bot.roster")
JOB_NAME = "roster-watch"
ROSTER_KEY = "roster_notice"  # "<expires>:<stage>" of the last roster notice owed
MEMBERS_KEY = "member_notice"  # "<first member expiry>:<threshold>" of the last members notice owed
COVERAGE_KEY = "coverage_notice"  # {"<notice>:<queue>": [payload, when owed]} of the coverage notices in force
REPEAT_AFTER = 7 * DAY
STATE_KEY = "roster-watch"

Payload = dict[str, object]


@dataclass
class WatchState:
    """What this run of the bot already did today (in memory: a restart logs and checks again)."""

    logged_day: int | None = None
    coverage_day: int | None = None


def roster_notice(current: Standing | None, now: int) -> tuple[str, Payload] | None:
    """The roster notice due at `now` and its key (once per key), or None."""
    day = now // DAY
    if current is None:
        return f"invalid:{day}", {"notice": "roster_invalid"}
    if current.phase is Phase.GRACE:
        return (f"{current.expires}:grace:{day}",
                {"notice": "roster_grace", "date": date(current.expires), "until": date(current.grace_ends)})
    if current.phase is Phase.EXPIRED:
        return f"{current.expires}:expired:{day}", {"notice": "roster_expired", "date": date(current.grace_ends)}
    threshold = notice_threshold(current.seconds_left)
    if threshold is None:
        return None
    return (f"{current.expires}:{threshold}",
            {"notice": "roster_expiring", "date": date(current.expires), "days": threshold})


def members_notice(current: Standing, now: int) -> tuple[str, Payload] | None:
    """The notice about members soon to expire (counted from the first of them), or None."""
    upcoming = expiring_members(current.roster, now, WARN_DAYS * DAY)
    if not upcoming:
        return None
    first = upcoming[0].expires
    threshold = notice_threshold(first - now)
    if threshold is None:
        return None
    count = sum(1 for m in upcoming if m.expires - now <= threshold * DAY)
    return f"{first}:{threshold}", {"notice": "members_expiring", "count": count, "date": date(first)}


def _log(current: Standing | None, problem: str | None, now: int) -> None:
    if current is None:
        log.error("the roster does not verify (%s): every request is refused; run 'waystation doctor'", problem)
        return
    if current.phase is Phase.EXPIRED:
        log.error("the roster expired on %s and its grace period ended on %s: every request is refused; run "
                  "'waystation roster renew' now", date(current.expires), date(current.grace_ends))
    elif current.phase is Phase.GRACE:
        log.warning("the roster expired on %s: staff are refused, and until %s requests are still encrypted to its "
                    "caseworkers of that day, then refused; run 'waystation roster renew' now",
                    date(current.expires), date(current.grace_ends))
    elif current.seconds_left < WARN_DAYS * DAY:
        log.warning("the roster expires on %s, %s: run 'waystation roster renew'", date(current.expires),
                    within(current.seconds_left))
    else:
        log.info("roster valid until %s", date(current.expires))
    upcoming = expiring_members(current.roster, now, WARN_DAYS * DAY)
    if upcoming:
        log.warning("%d roster members expire within %d days, the first on %s: run 'waystation roster renew "
                    "--members'", len(upcoming), WARN_DAYS, date(upcoming[0].expires))


def _coverage_notices(rt: Runtime, current: Standing, now: int, announce: bool) -> list[Payload]:
    """Coverage notices due now: those that are new or changed, or were last owed a week ago (logged either way)."""
    config = rt.server.config
    queues = list(dict.fromkeys([config.queues.default, *(rule.queue for rule in config.routing)]))
    found = assess(current.roster, current.at, open_cases(rt.server.db.conn), rt.server.trusted_bot_keys(), queues)
    if found.unreadable:
        log.warning("%d open cases cannot be read by any active caseworker of their queue: run 'waystation doctor'",
                    len(found.unreadable))
    if found.unverified:
        log.warning("%d open cases have a request that does not verify with the bot's keys: run 'waystation doctor'",
                    len(found.unverified))
    if not announce:
        return []
    stored = json.loads(rt.server.db.meta(COVERAGE_KEY) or "{}")
    kept: dict[str, list[object]] = {}
    due: list[Payload] = []
    for payload in found.notices():
        key = f"{payload['notice']}:{payload.get('queue', '')}"
        last = stored.get(key)
        if isinstance(last, list) and len(last) == 2 and last[0] == payload and isinstance(last[1], int) \
                and now - last[1] < REPEAT_AFTER:
            kept[key] = last
        else:
            kept[key] = [payload, now]
            due.append(payload)
    if kept != stored:
        with rt.server.db.transaction() as conn:
            rt.server.db.set_meta(conn, COVERAGE_KEY, json.dumps(kept, sort_keys=True))
    return due


def _once(rt: Runtime, key: str, found: tuple[str, Payload] | None, announce: bool) -> list[Payload]:
    """The payload if its notice key differs from the one last owed under `key` (then remembered).

    Nothing is remembered while nobody receives notices (`announce` false): an admin enrolled later
    still hears of a date that is near.
    """
    if found is None or not announce or rt.server.db.meta(key) == found[0]:
        return []
    with rt.server.db.transaction() as conn:
        rt.server.db.set_meta(conn, key, found[0])
    return [found[1]]


async def watch_roster(context: BotContext) -> None:
    """The job: log the roster's standing daily, owe the notices that are due."""
    rt = context.runtime
    state = context.application.bot_data.setdefault(STATE_KEY, WatchState())
    now = rt.now()
    day = now // DAY
    problem: str | None = None
    try:
        current: Standing | None = rt.server.roster_standing(now)
    except RosterUnavailable as err:
        current, problem = None, str(err)
    alerting = rt.alerting
    admins = [v.id for v in alerting.volunteers.admins()] if alerting is not None else []
    if state.logged_day != day:
        state.logged_day = day
        _log(current, problem, now)
        if not admins:
            log.warning("no volunteer receives admin notices, so nobody is told when the roster needs renewing "
                        "(enrol one with 'waystation volunteers invite --admin-notices')")
    notices = _once(rt, ROSTER_KEY, roster_notice(current, now), bool(admins))
    if current is not None:
        notices += _once(rt, MEMBERS_KEY, members_notice(current, now), bool(admins))
        if current.sealable() and state.coverage_day != day:
            state.coverage_day = day
            notices += _coverage_notices(rt, current, now, bool(admins))
    if not notices or alerting is None:
        return
    for payload in notices:
        alerting.store.owe(admins, MessageKind.NOTICE, payload, now)
    if context.job_queue is not None:
        kick(context.job_queue)
