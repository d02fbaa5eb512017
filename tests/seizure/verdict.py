"""What counts as a leak in an attacker's report, worded so a failing test says exactly where and what kind.

Messages name the snapshot, the needle's label (never its value), the place
(file, page or frame, table, live row or remnant) and how it was found.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from tests.seizure.attacker import Finding, Report
from tests.seizure.chatside import CHAT_STATE_TREE
from tests.seizure.joins import chance_tail, threshold

#: Where a person's chat id may be: the chat state file (chats.state, or the temporary copy of it a
#: write in progress has), and the tables that held the chat side before it left the database.
CHAT_TABLES = (CHAT_STATE_TREE, "pending_deletions", "pending_deletions_by_due")
#: Total probability, over every join of every snapshot, that a disk holding no link fails the test.
ALPHA = 1e-6
MAX_LINES = 40


@dataclass(frozen=True)
class Pending:
    """What the test knows about a copy of the home, beyond the disk.

    `on_screen`: person chats that had a message in them (on the sandbox) just before or just
    after the copy, or whose messages were deleted in the seconds before it (the bot erases a
    chat from the chat state right after Telegram confirms the deletion). `notices_in_flight`:
    chats whose reply notice the bot was sending during the copy, while its delivery envelope
    still existed (the documented exposure: docs/threat-model.md, "Replies").
    """

    on_screen: frozenset[int] = frozenset()
    notices_in_flight: frozenset[int] = frozenset()


def chat_allowed(finding: Finding, chat_id: int | None, report: Report, pending: Pending | None = None) -> bool:
    """A person's chat id may be on disk only in the chat state, and only while that chat has messages to delete.

    The one documented exception: a delivery envelope still waiting for its notice holds the
    reply handle, which the bot key opens.
    """
    if chat_id is None:
        return False
    if pending is not None and chat_id in pending.notices_in_flight and ", opened:" in finding.where:
        return finding.tree == "outbox"  # the delivery envelope (a SQL value, or carved from its overflow page)
    live = pending.on_screen if pending is not None else report.live_chats
    return chat_id in live and finding.tree in CHAT_TABLES and ", opened:" not in finding.where


def _grouped(snapshot: str, findings: list[Finding]) -> list[str]:
    """One line per needle: how many places, and the most telling one (a live place, else an opened blob)."""
    by_label: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        by_label.setdefault((f.kind, f.label), []).append(f)
    lines = []
    for (_, _), places in sorted(by_label.items()):
        places.sort(key=lambda f: (not f.live, ", opened:" not in f.where, f.where))
        more = f" (+{len(places) - 1} more places)" if len(places) > 1 else ""
        lines.append(f"[{snapshot}] {places[0].line()}{more}")
    return lines


def content_leaks(snapshot: str, report: Report) -> list[str]:
    """What people typed, what caseworkers wrote, names, usernames, references: never, anywhere."""
    return _grouped(snapshot, [f for f in report.findings if f.kind != "chat"])


def chat_leaks(snapshot: str, report: Report, chats: Mapping[str, int], pending: Pending | None = None) -> list[str]:
    """Person chat ids outside the chat state of chats with messages to delete (remnants, tables, blobs, logs)."""
    return _grouped(snapshot, [f for f in report.findings
                               if f.kind == "chat" and not chat_allowed(f, chats.get(f.label), report, pending)])


#: Case facts (tests/seizure/traces.py) that say a chat did something after its request: the kinds
#: of event a chat's message ids betray while they wait for deletion (the documented exposure).
EVENT_FACTS = ("reply queued", "reply notified", "reply read", "reply expired", "reply undeliverable",
               "follow_up", "delivery envelope waiting")


def event_cells(report: Report, truth: Mapping[int, str], buckets: Mapping[str, int]) -> list[int]:
    """Sizes of the groups of sent cases that share a time bucket and the kinds of event they had.

    What the design admits a seizure can tell apart (docs/threat-model.md): a chat's bucket and,
    while its messages wait, what it did. A join that uses exactly that gets right, by chance,
    what a random guess within these groups gets; `chance_tail` over them bounds it.
    """
    cases = {c.case_id: c for c in report.cases}
    cells: Counter[tuple[int, tuple[str, ...]]] = Counter()
    for case_id in truth.values():
        case = cases.get(case_id)
        if case is not None:
            cells[(buckets.get(case_id, 0), tuple(sorted(f for f in case.facts if f in EVENT_FACTS)))] += 1
    return sorted(cells.values(), reverse=True)


def join_leaks(snapshot: str, report: Report, truth: Mapping[int, str], windows: list[int],
               comparisons: int, pending: Pending | None = None, cells: list[int] | None = None,
               other_links: Mapping[int, str] | None = None) -> list[str]:
    """Joins that place more chats on their own case than chance allows (bound: joins.chance_tail).

    Every join is held to the time buckets (`windows`); the behaviour join, which reads what
    each chat did, to the smaller groups of `cells` (bucket and kind of event): more than
    chance within them is more than the documented exposure. A join that read links off the
    disk with a server key (`proof`) fails on one right link, of a submitter's chat or of
    `other_links` (chats that only used a reference), except the documented one: a reply
    whose notice was being sent during the copy.
    """
    every_link = {**(other_links or {}), **truth}
    alpha = ALPHA / max(1, comparisons)
    present = {c.case_id for c in report.cases}
    sent = sum(1 for case in truth.values() if case in present)
    in_flight = pending.notices_in_flight if pending is not None else frozenset()
    problems = []
    for join in report.joins:
        right = sum(1 for chat, case in join.guesses.items() if truth.get(chat) == case)
        if join.proof:
            right = sum(1 for chat, case in join.guesses.items()
                        if every_link.get(chat) == case and chat not in in_flight)
        if join.proof and right:
            problems.append(f"[{snapshot}] join '{join.name}' read {right} chats' own case off the disk "
                            f"({len(join.guesses)} links in all) {join.note}")
            continue
        groups = cells if cells is not None and join.name.startswith("behaviour") else windows
        bound = chance_tail(right, groups)
        if bound <= alpha:
            within = "bucket and kind of event" if groups is cells else "time bucket"
            problems.append(f"[{snapshot}] join '{join.name}' put {right} of {sent} chats on their own case "
                            f"(P <= {bound:.1e} by chance within each {within}, limit {alpha:.1e}; needs "
                            f"{threshold(groups, alpha)}) {join.note}")
    return problems


#: Columns allowed to hold a time off the granularity's grid. Deadlines are the end of a bucket
#: plus a fixed, public delay (Database.deadline); a volunteer's enrolment is staff, not a person.
FINE_TIME_ALLOWED = ("volunteers.enrolled_at",)
DEADLINE_COLUMNS = ("next_at", "next_attempt_at")


def fine_time_leaks(snapshot: str, report: Report) -> list[str]:
    """Case-side columns that hold times finer than the granularity (a time that could be matched)."""
    problems = []
    for where, count in report.fine_times.items():
        column = where.rsplit(".", 1)[-1]
        if where in FINE_TIME_ALLOWED or column in DEADLINE_COLUMNS:
            continue
        problems.append(f"[{snapshot}] {count} values of {where} are finer than the {report.granularity} s "
                        "granularity")
    return problems


def join_scores(report: Report, truth: Mapping[int, str]) -> list[tuple[str, int, int]]:
    """(join, right guesses, guesses) for the record."""
    return [(j.name, sum(1 for c, k in j.guesses.items() if truth.get(c) == k), len(j.guesses)) for j in report.joins]


def tally(snapshot: str, report: Report, chats: Mapping[str, int], pending: Pending | None = None) -> list[str]:
    """Counts of findings by kind, table and live/remnant: the short story of a snapshot."""
    counts: Counter[tuple[str, str, str]] = Counter()
    labels: dict[tuple[str, str, str], set[str]] = {}
    for f in report.findings:
        if f.kind == "chat" and chat_allowed(f, chats.get(f.label), report, pending):
            continue
        where = "opened with a server key" if ", opened:" in f.where else (
            "WAL" if "-wal frame" in f.where else "main file" if "waystation.db page" in f.where else
            f.where.split()[0])
        key = (f.kind, f"{f.tree or '-'} / {where}", "live" if f.live else "remnant")
        counts[key] += 1
        labels.setdefault(key, set()).add(f.label)
    return [f"[{snapshot}] {kind}: {len(labels[(kind, place, state)])} needles in {n} places, {place} ({state})"
            for (kind, place, state), n in sorted(counts.items())]


def clip(lines: list[str], limit: int = MAX_LINES) -> str:
    """At most `limit` lines, then how many more."""
    shown = lines[:limit]
    if len(lines) > limit:
        shown.append(f"... and {len(lines) - limit} more")
    return "\n".join(shown)
