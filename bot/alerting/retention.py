"""The daily retention run: warn admins, purge closed cases, flag long-unclaimed ones, vacuum.

Admins are the volunteers enrolled with `--admin-notices`; they get
content-free notices ("N closed requests will be deleted on DATE", "N requests
have been waiting more than D days"). What is purged and when is decided in
storage.retention; this job only runs it at `[retention] run_at` (UTC) by the
runtime's clock, and turns its report into notices.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.alerting.digest import Daily
from bot.alerting.sending import kick
from bot.runtime import BotContext
from storage import retention
from storage.alerts import MessageKind

log = logging.getLogger("waystation.bot.retention")
JOB_NAME = "retention"
NEXT_KEY = "retention_next_at"


async def run_retention(context: BotContext) -> None:
    """The retention job: once a day, run retention and tell the admins what it found."""
    rt = context.runtime
    config = rt.server.config.retention
    daily = Daily(rt.server.db, NEXT_KEY, config.run_at, "UTC")
    now = rt.now()
    if not daily.due(now):
        return
    report = retention.run(rt.server.db, config, now)
    alerting = rt.alerting
    if alerting is not None:
        admins = [v.id for v in alerting.volunteers.admins()]
        if report.warned and report.purge_on is not None:
            date = datetime.fromtimestamp(report.purge_on, UTC).strftime("%Y-%m-%d")
            alerting.store.owe(admins, MessageKind.NOTICE,
                               {"notice": "purge", "count": report.warned, "date": date}, now)
        if report.unclaimed:
            alerting.store.owe(admins, MessageKind.NOTICE,
                               {"notice": "unclaimed", "count": report.unclaimed, "days": config.unclaimed_days}, now)
        if (report.warned or report.unclaimed) and not admins:
            log.warning("retention has notices for admins but no volunteer receives them "
                        "(enrol one with 'waystation volunteers invite --admin-notices')")
        if context.job_queue is not None:
            kick(context.job_queue)
    daily.done(now)
