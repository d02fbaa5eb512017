"""Statistics a coordinator reports to funders, from case metadata: cases per week, time to first claim and reply.

The server hands out metadata only (queue, status, coarse times: model.cases.CaseTimes); nothing
is decrypted for statistics. Urgency is *not* metadata: the person's answer is inside the sealed
request, and the alert-safe copy the bot keeps for volunteer alerts is sealed to the bot's key
and erased once the alert is acknowledged. So a row's urgency is the answer this desk has already
decrypted for that case (Desk.list), or "unknown" when it has not.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from model.cases import CaseId, CaseTimes
from model.views import CaseView

UNKNOWN = "unknown"
WEEK = 7 * 86_400
MAX_WEEKS = 520


@dataclass(frozen=True)
class WeekRow:
    """How many cases of one queue, status and urgency came in one ISO week ('YYYY-Www', UTC)."""

    week: str
    queue: str
    status: str
    urgency: str
    count: int


@dataclass(frozen=True)
class Stats:
    """Cases per week by queue, status and urgency; seconds to first claim and first reply, one per case."""

    weeks: int
    since: int
    rows: list[WeekRow]
    first_claim_seconds: list[float]
    first_reply_seconds: list[float]

    def csv(self) -> str:
        """The weekly rows as CSV (header week,queue,status,urgency,count), for a spreadsheet."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["week", "queue", "status", "urgency", "count"])
        for row in self.rows:
            writer.writerow([row.week, _cell(row.queue), row.status, _cell(row.urgency), row.count])
        return out.getvalue()

    @property
    def total(self) -> int:
        """Cases counted."""
        return sum(row.count for row in self.rows)


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula; an urgency is an answer a
    # person chose (an option id), so it is quoted rather than trusted.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def iso_week(t: int) -> str:
    """The ISO week of a time, in UTC: 'YYYY-Www'."""
    year, week, _ = datetime.fromtimestamp(t, UTC).isocalendar()
    return f"{year}-W{week:02d}"


def weeks_start(now: int, weeks: int) -> int:
    """Monday 00:00 UTC of the ISO week `weeks - 1` weeks before the current one."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be from 1 to {MAX_WEEKS}")
    today = datetime.fromtimestamp(now, UTC)
    monday = datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=today.weekday())
    return int((monday - timedelta(weeks=weeks - 1)).timestamp())


def percentile(values: list[float], fraction: float) -> float | None:
    """The value below which `fraction` of `values` lie (nearest rank); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered))
    return ordered[min(len(ordered), max(1, rank)) - 1]


def median(values: list[float]) -> float | None:
    """The median, or None for no values."""
    return statistics.median(values) if values else None


def build(times: Iterable[CaseTimes], *, weeks: int, since: int,
          urgency: Mapping[CaseId, str] | None = None) -> Stats:
    """Stats of the cases in `times` (created since `since`); urgency from `urgency` where known."""
    counts: Counter[tuple[str, str, str, str]] = Counter()
    claims: list[float] = []
    replies: list[float] = []
    known = urgency or {}
    for case in times:
        if case.created_at < since:
            continue
        counts[(iso_week(case.created_at), case.queue, case.status.value, known.get(case.id, UNKNOWN))] += 1
        if case.first_claim_at is not None:
            claims.append(float(max(0, case.first_claim_at - case.created_at)))
        if case.first_reply_at is not None:
            replies.append(float(max(0, case.first_reply_at - case.created_at)))
    rows = [WeekRow(w, q, s, u, n) for (w, q, s, u), n in sorted(counts.items())]
    return Stats(weeks, since, rows, claims, replies)


def urgency_of(request: Mapping[str, object] | None) -> str | None:
    """The urgency answer (an option id such as 'now') of a decrypted request, if it has one."""
    if request is None:
        return None
    answers = request.get("answers")
    value = answers.get("urgency") if isinstance(answers, dict) else None
    return value if isinstance(value, str) and value else None


def remember_urgency(known: dict[CaseId, str], views: Iterable[CaseView]) -> None:
    """Keep the urgency answer of each decrypted case (only that option id), for statistics."""
    for view in views:
        value = urgency_of(view.request)
        if value is not None:
            known[view.case.id] = value
