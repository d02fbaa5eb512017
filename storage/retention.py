"""Retention: closed cases are purged after `closed_case_days`, never without an earlier warning.

Each daily run first warns: every case closed before the *warning frontier*
(`now - (closed_case_days - warn_days)`) that no earlier run warned about is
counted, and the frontier is remembered with the time of the warning. A later
run purges only up to a frontier that was announced at least `warn_days` ago,
so every purged case was announced to admins that long before, even if runs
were missed. Cases with a note, follow-up or reply in the last
`recent_activity_days` are kept for a later run. After a purge the database is
vacuumed and its WAL truncated, so purged rows are gone from the files too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from storage.cases import CaseId, CaseStore, audit
from storage.config import RetentionConfig
from storage.db import Database, DatabaseError

log = logging.getLogger("waystation.retention")
DAY = 86_400
WARNINGS_KEY = "retention_warnings"  # JSON [[warned_at, frontier], ...], oldest first
VACUUM_PENDING_KEY = "vacuum_pending"  # set while a purge's VACUUM has not succeeded yet


@dataclass(frozen=True)
class RetentionReport:
    """What one run did (counts and ids, never content)."""

    warned: int
    purge_on: int | None     # when the cases just announced will be purged (at the earliest)
    purged: tuple[CaseId, ...]
    kept_for_activity: int
    unclaimed: int
    vacuumed: bool


def _warnings(db: Database) -> list[tuple[int, int]]:
    try:
        raw = json.loads(db.meta(WARNINGS_KEY) or "[]")
        return [(int(at), int(frontier)) for at, frontier in raw]
    except (ValueError, TypeError):
        log.warning("the retention warning history was unreadable; warnings start again")
        return []


def _closed_count(db: Database, before: int, since: int | None) -> int:
    sql = "SELECT count(*) FROM cases WHERE status = 'closed' AND closed_at < ?"
    params: list[object] = [before]
    if since is not None:
        sql += " AND closed_at >= ?"
        params.append(since)
    return int(db.conn.execute(sql, params).fetchone()[0])


def warn(db: Database, config: RetentionConfig, now: int) -> tuple[int, int]:
    """Announce the cases that will be purged in `warn_days`; returns (how many, purge time)."""
    history = _warnings(db)
    frontier = now - (config.closed_case_days - config.warn_days) * DAY
    previous = history[-1][1] if history else None
    if previous is not None and frontier <= previous:
        return 0, now + config.warn_days * DAY
    count = _closed_count(db, frontier, previous)
    history.append((now, frontier))
    with db.transaction() as conn:
        db.set_meta(conn, WARNINGS_KEY, json.dumps(history))
        if count:
            audit(conn, actor="retention", action="retention.warned", case_id=None, now=now)
    return count, now + config.warn_days * DAY


def purge_cutoff(db: Database, config: RetentionConfig, now: int) -> int | None:
    """The closed-before time up to which cases were announced at least `warn_days` ago."""
    announced = [frontier for at, frontier in _warnings(db) if at <= now - config.warn_days * DAY]
    if not announced:
        return None
    return min(max(announced), now - config.closed_case_days * DAY)


def purge(db: Database, config: RetentionConfig, now: int) -> tuple[list[CaseId], int]:
    """Purge announced, quiet, closed cases; returns (purged ids, how many were kept for recent activity)."""
    cutoff = purge_cutoff(db, config, now)
    if cutoff is None:
        return [], 0
    eligible = _closed_count(db, cutoff, None)
    purged = CaseStore(db).purge_closed(closed_before=cutoff, quiet_since=now - config.recent_activity_days * DAY,
                                        now=now)
    _forget_old_warnings(db, config, now)
    return purged, eligible - len(purged)


def _forget_old_warnings(db: Database, config: RetentionConfig, now: int) -> None:
    """Keep the newest warning old enough to purge by, and every newer one."""
    history = _warnings(db)
    old = [entry for entry in history if entry[0] <= now - config.warn_days * DAY]
    kept = old[-1:] + [entry for entry in history if entry[0] > now - config.warn_days * DAY]
    if kept != history:
        with db.transaction() as conn:
            db.set_meta(conn, WARNINGS_KEY, json.dumps(kept))


def unclaimed(db: Database, config: RetentionConfig, now: int) -> int:
    """How many cases have waited longer than `unclaimed_days` without being claimed."""
    return int(db.conn.execute("SELECT count(*) FROM cases WHERE status = 'new' AND created_at < ?",
                               (now - config.unclaimed_days * DAY,)).fetchone()[0])


def vacuum(db: Database, now: int) -> bool:
    """Rebuild the database file and empty the WAL, so that purged pages are not left behind."""
    with db.transaction() as conn:
        db.set_meta(conn, VACUUM_PENDING_KEY, "1")
    try:
        db.conn.execute("VACUUM")
        db.checkpoint()
    except DatabaseError as err:
        # Another process holds a read transaction (busy_timeout passed): try again on the next run.
        log.warning("VACUUM did not run (%s); it will be tried again on the next retention run", type(err).__name__)
        return False
    with db.transaction() as conn:
        conn.execute("DELETE FROM meta WHERE key = ?", (VACUUM_PENDING_KEY,))
        audit(conn, actor="retention", action="db.vacuumed", case_id=None, now=now)
    db.checkpoint()
    return True


def run(db: Database, config: RetentionConfig, now: int) -> RetentionReport:
    """One daily run: warn, purge, count long-unclaimed cases, vacuum after a purge."""
    warned, purge_on = warn(db, config, now)
    purged, kept = purge(db, config, now)
    waiting = unclaimed(db, config, now)
    vacuumed = vacuum(db, now) if purged or db.meta(VACUUM_PENDING_KEY) else False
    log.info("retention: %d announced, %d purged, %d kept for recent activity, %d long unclaimed%s",
             warned, len(purged), kept, waiting, ", database vacuumed" if vacuumed else "")
    return RetentionReport(warned, purge_on if warned else None, tuple(purged), kept, waiting, vacuumed)
