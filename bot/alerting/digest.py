"""The daily digest: per queue, to its volunteers, counts only.

How many cases came in, were claimed and were closed in the last 24 hours, and
how long the oldest unclaimed one has waited. The time of day comes from
`[alerts] digest_at` in `[alerts] timezone`; a repeating JobQueue job compares
the next due time (kept in the database) with the runtime's clock, so a digest
missed while the bot was down goes out on start, once.
"""

from __future__ import annotations

import logging

from bot.alerting.sending import kick
from bot.runtime import BotContext
from storage.alerts import MessageKind
from storage.daytime import next_time_of_day, parse_time_of_day, zone
from storage.db import Database

log = logging.getLogger("waystation.bot.digest")
JOB_NAME = "alerts-digest"
NEXT_KEY = "digest_next_at"
DAY = 86_400
KEEP_SENT_DAYS = 7


class Daily:
    """Something done once a day at a local time of day, its next due time kept in the meta table."""

    def __init__(self, db: Database, key: str, at: str, timezone: str) -> None:
        self.db = db
        self.key = key
        self.minute = parse_time_of_day(at)
        self.zone = zone(timezone)

    def due(self, now: int) -> bool:
        """True once the due time has passed; the first call only sets it."""
        stored = self.db.meta(self.key)
        if stored is None:
            self.done(now)
            return False
        return now >= int(stored)

    def done(self, now: int) -> None:
        """Set the next due time (after the work, so a crash repeats rather than skips it)."""
        with self.db.transaction() as conn:
            self.db.set_meta(conn, self.key, str(next_time_of_day(now, self.minute, self.zone)))


async def send_digests(context: BotContext) -> None:
    """The digest job: when due, one summary per queue to each of its active volunteers."""
    rt = context.runtime
    alerting = rt.alerting
    if alerting is None or context.job_queue is None:
        return
    daily = Daily(rt.server.db, NEXT_KEY, alerting.config.digest_at, alerting.config.timezone)
    now = rt.now()
    if not daily.due(now):
        return
    volunteers = alerting.volunteers.active_for(None, (1, 2))
    queues = sorted({q for v in volunteers for q in v.queues})
    for queue in queues:
        counts = alerting.store.digest_counts(queue, now - DAY)
        payload: dict[str, object] = {
            "queue": queue, "new": counts.new, "claimed": counts.claimed, "closed": counts.closed,
            "oldest_age": None if counts.oldest_unclaimed_at is None else max(0, now - counts.oldest_unclaimed_at),
        }
        alerting.store.owe([v.id for v in volunteers if queue in v.queues], MessageKind.DIGEST, payload, now)
    alerting.store.prune(now - KEEP_SENT_DAYS * DAY)
    daily.done(now)
    log.info("daily digest queued for %d queues", len(queues))
    kick(context.job_queue)
