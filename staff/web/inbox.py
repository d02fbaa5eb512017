"""The inbox as the page shows it: rows made from decrypted CaseViews, filtered, searched and sorted in memory.

Nothing here is written anywhere: the rows live as long as the desk is unlocked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from model.cases import Status
from model.views import CaseView, ReadState

#: The default form's urgency answers, most urgent first (others sort after them).
URGENCY_ORDER = {"now": 0, "days": 1, "weeks": 2, "I am in danger now": 0, "Within days": 1, "Within weeks": 2}
AGES = {"1d": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
SORTS = ("newest", "oldest", "urgency", "activity")
SUMMARY_CHARS = 90


@dataclass(frozen=True)
class Row:
    """One case line of the inbox."""

    id: str
    queue: str
    status: str
    created_at: int
    claimed_by: str | None
    assigned_to: str | None
    urgency: str | None
    summary: str
    readable: bool
    problem: str | None
    tags: frozenset[str]
    followups: int
    last_activity: float
    haystack: str  # casefolded decrypted text, for search; memory only


def _answers(view: CaseView) -> dict[str, Any]:
    answers = view.request.get("answers") if view.request is not None else None
    return answers if isinstance(answers, dict) else {}


def row_of(view: CaseView) -> Row:
    """A row for one case."""
    case = view.case
    answers = _answers(view)
    urgency = answers.get("urgency")
    parts = [str(answers[k]) for k in ("help", "country", "details", "story") if isinstance(answers.get(k), str)]
    summary = " · ".join(parts) if parts else ", ".join(str(v) for v in answers.values() if v is not None)
    if len(summary) > SUMMARY_CHARS:
        summary = summary[:SUMMARY_CHARS - 1] + "…"
    haystack = " ".join([case.id, case.queue, *(str(v) for v in answers.values() if v is not None),
                         *view.tags]).casefold()
    return Row(id=case.id, queue=case.queue, status=case.status.value, created_at=case.created_at,
               claimed_by=case.claimed_by, assigned_to=view.assigned_to,
               urgency=urgency if isinstance(urgency, str) else None, summary=summary,
               readable=view.state is ReadState.OK, problem=view.problem, tags=view.tags,
               followups=view.followups, last_activity=view.last_activity, haystack=haystack)


@dataclass
class Filters:
    """What the caseworker asked the inbox for (all optional; unknown values are ignored)."""

    queue: str = ""
    status: str = "open"
    urgency: str = ""
    age: str = ""
    claimed: str = ""
    tag: str = ""
    unread: bool = False
    q: str = ""
    sort: str = "newest"

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        sort = query.get("sort", "newest")
        return cls(queue=query.get("queue", ""), status=query.get("status", "open"),
                   urgency=query.get("urgency", ""), age=query.get("age", ""), claimed=query.get("claimed", ""),
                   tag=query.get("tag", ""), unread=query.get("unread") == "1", q=query.get("q", "")[:200],
                   sort=sort if sort in SORTS else "newest")


@dataclass
class Seen:
    """How many follow-ups of each case this desk has shown (memory only, not the server's business)."""

    followups: dict[str, int] = field(default_factory=dict)

    def unread(self, row: Row) -> int:
        return max(0, row.followups - self.followups.get(row.id, 0))

    def shown(self, case_id: str, followups: int) -> None:
        self.followups[case_id] = max(self.followups.get(case_id, 0), followups)


def _keep(row: Row, f: Filters, me: str, now: int, seen: Seen) -> bool:
    if f.queue and row.queue != f.queue:
        return False
    if f.status == "open" and row.status == Status.CLOSED.value:
        return False
    if f.status in {s.value for s in Status} and row.status != f.status:
        return False
    if f.urgency and row.urgency != f.urgency:
        return False
    if f.age in AGES and now - row.created_at > AGES[f.age]:
        return False
    if f.claimed == "me" and me not in (row.claimed_by, row.assigned_to):
        return False
    if f.claimed == "nobody" and row.claimed_by is not None:
        return False
    if f.claimed not in ("", "me", "nobody") and f.claimed not in (row.claimed_by, row.assigned_to):
        return False
    if f.tag and f.tag not in row.tags:
        return False
    if f.unread and seen.unread(row) == 0:
        return False
    return all(word in row.haystack for word in f.q.casefold().split())


def select(rows: Iterable[Row], f: Filters, me: str, now: int, seen: Seen) -> list[Row]:
    """The rows the filters keep, in the order asked for."""
    kept = [r for r in rows if _keep(r, f, me, now, seen)]
    if f.sort == "oldest":
        kept.sort(key=lambda r: (r.created_at, r.id))
    elif f.sort == "urgency":
        kept.sort(key=lambda r: (URGENCY_ORDER.get(r.urgency or "", 9), -r.created_at, r.id))
    elif f.sort == "activity":
        kept.sort(key=lambda r: (-r.last_activity, r.id))
    else:
        kept.sort(key=lambda r: (-r.created_at, r.id))
    return kept


def choices(rows: Sequence[Row]) -> dict[str, list[str]]:
    """The values the filter menus offer: what the cases have."""
    return {
        "queue": sorted({r.queue for r in rows}),
        "urgency": sorted({r.urgency for r in rows if r.urgency}, key=lambda u: (URGENCY_ORDER.get(u, 9), u)),
        "claimed": sorted({n for r in rows for n in (r.claimed_by, r.assigned_to) if n}),
        "tag": sorted({t for r in rows for t in r.tags}),
    }
