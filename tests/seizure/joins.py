"""Joining chats to cases: by time, by row order, by page order; and how much better than chance a join is.

The attacker knows each person chat only from the chat side (pending
deletions: chat id, message ids, due times, and where in the file and WAL they
were written) and each case only from the case side (its rows' times, row ids,
audit ids, physical position in pages, WAL frames and -shm). Every join
returns one guess per chat it can place; `chance_tail` says how unlikely that
many right guesses would be if the disk held no link at all.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class ChatTrace:
    """What the disk says about one person chat."""

    chat_id: int
    due: set[int] = field(default_factory=set)
    live_due: int | None = None
    message_ids: set[int] = field(default_factory=set)
    #: WAL write order of each time this chat's due time moved without a new message (a submit, a
    #: cancel, a follow-up sent: the bot brings deletion forward), and of each new message.
    reschedules: list[int] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)
    swept: set[int] = field(default_factory=set)  # ids kept only because a send's outcome was unknown
    intents: int = 0  # sends in flight (or interrupted) in this chat

    @property
    def first_reschedule(self) -> int | None:
        return min(self.reschedules) if self.reschedules else None

    @property
    def last_due(self) -> int | None:
        """The due time SQL shows now, or the latest one any page version holds."""
        if self.live_due is not None:
            return self.live_due
        return max(self.due) if self.due else None


@dataclass
class CaseTrace:
    """What the disk says about one case."""

    case_id: str
    times: dict[str, set[int]] = field(default_factory=dict)
    order: dict[str, float] = field(default_factory=dict)
    first_frame: int | None = None  # WAL write order of the first version of its cases row (its insert)
    first_trace: int | None = None  # WAL write order of the first row of any table that names it
    pages: set[int] = field(default_factory=set)  # pages of the cases table that hold it now
    #: What SQL says happened to it: "status claimed", "reply notified", "reply read", "follow_up", ...
    facts: set[str] = field(default_factory=set)

    def add_time(self, label: str, value: int) -> None:
        self.times.setdefault(label, set()).add(value)

    def all_times(self) -> set[int]:
        return set().union(*self.times.values()) if self.times else set()


@dataclass(frozen=True)
class Offsets:
    """Delays the attacker reads from config.toml: chat due time = activity + one of these."""

    delete_after: int
    after_submit: int
    extra: tuple[int, ...] = ()

    def all(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys((0, self.delete_after, self.after_submit, *self.extra)))


@dataclass(frozen=True)
class Join:
    """One join's guesses (chat id -> case id) and how it made them."""

    name: str
    guesses: dict[int, str]
    note: str = ""
    #: The link was read, not inferred (a server key opened it): one right guess is already a leak.
    proof: bool = False


def _assign(costs: dict[tuple[int, str], float], chats: Iterable[int], cases: Iterable[str]) -> dict[int, str]:
    """Greedy one-to-one assignment by ascending cost; ties broken by case id, then chat id."""
    chat_set, case_set = set(chats), set(cases)
    order = sorted(((cost, case, chat) for (chat, case), cost in costs.items()
                    if chat in chat_set and case in case_set and math.isfinite(cost)))
    taken_chats: set[int] = set()
    taken_cases: set[str] = set()
    guesses: dict[int, str] = {}
    for _, case, chat in order:
        if chat in taken_chats or case in taken_cases:
            continue
        guesses[chat] = case
        taken_chats.add(chat)
        taken_cases.add(case)
    return guesses


def submit_like(chats: list[ChatTrace], how_many: int) -> list[ChatTrace]:
    """The chats most likely to have sent a request: those with the most messages (a whole form)."""
    ranked = sorted(chats, key=lambda c: (-len(c.message_ids), c.chat_id))
    return ranked[:how_many] if how_many < len(ranked) else list(chats)


def _dues(chat: ChatTrace, last_only: bool) -> set[int]:
    if last_only:
        return {chat.last_due} if chat.last_due is not None else set()
    return chat.due


def time_join(chats: list[ChatTrace], cases: list[CaseTrace], offsets: Offsets, last_only: bool,
              tolerance: int = 3) -> Join:
    """Chat due times minus the configured delays against every time of every case row.

    `last_only`: only the chat's latest due time (for a chat that just sent its
    request, submit time + delete_after_submit_seconds); otherwise every due
    time any page version holds.
    """
    costs: dict[tuple[int, str], float] = {}
    for chat in chats:
        moments = {d - off for d in _dues(chat, last_only) for off in offsets.all()}
        for case in cases:
            times = case.all_times()
            if moments and times:
                costs[(chat.chat_id, case.case_id)] = float(min(abs(m - t) for m in moments for t in times))
    guesses = _assign(costs, [c.chat_id for c in chats], [c.case_id for c in cases])
    exact = sum(1 for chat, case in guesses.items() if costs[(chat, case)] <= tolerance)
    which = "latest due" if last_only else "every due"
    return Join(f"time: {which} minus configured delays vs every case time", guesses,
                f"{exact} of {len(guesses)} within {tolerance}s")


def offset_join(chats: list[ChatTrace], cases: list[CaseTrace], last_only: bool, tolerance: int = 0) -> Join:
    """A delay the attacker does not know: for each case time field, the offset most chats share."""
    found: list[tuple[int, str, int]] = []
    for label in sorted({label for case in cases for label in case.times}):
        histogram: dict[int, set[tuple[int, str]]] = {}
        for chat in chats:
            for case in cases:
                for t in case.times.get(label, ()):
                    for d in _dues(chat, last_only):
                        histogram.setdefault(d - t, set()).add((chat.chat_id, case.case_id))
        for delta in histogram:
            pairs = set().union(*(histogram.get(delta + e, set()) for e in range(-tolerance, tolerance + 1)))
            per_chat = Counter(chat for chat, _ in pairs)
            found.append((sum(1 for n in per_chat.values() if n == 1), label, delta))  # chats placed unambiguously
    which = "latest due" if last_only else "every due"
    if not found:
        return Join(f"time: learned offset, {which}", {})
    count, label, delta = max(found, key=lambda f: (f[0], f[1], -f[2]))
    costs = {}
    for chat in chats:
        for case in cases:
            values = [abs(d - t - delta) for d in _dues(chat, last_only) for t in case.times.get(label, ())]
            if values:
                costs[(chat.chat_id, case.case_id)] = float(min(values))
    guesses = _assign(costs, [c.chat_id for c in chats], [c.case_id for c in cases])
    return Join(f"time: learned offset, {which}, on {label}", guesses,
                f"offset {delta}s places {count} chats on one case each")


CHAT_ORDERS: dict[str, Callable[[ChatTrace], tuple[float, ...] | None]] = {
    "last due": lambda c: None if c.last_due is None else (c.last_due, c.first_reschedule or 0),
    "first reschedule in the WAL": lambda c: None if c.first_reschedule is None else (c.first_reschedule,),
    # chats.state is sorted by chat id: its order is this one.
    "chat id (the order of chats.state)": lambda c: (c.chat_id,),
    # How much the chat did (how many answers were typed, a reading, a follow-up), against the
    # request's padded size, the case's number of events or audit entries.
    "pending message count": lambda c: (len(c.message_ids),) if c.message_ids else None,
    # Telegram's per-chat message counter: how long the chat has been going, deletions included.
    "highest message id": lambda c: (max(c.message_ids),) if c.message_ids else None,
    "lowest pending message id": lambda c: (min(c.message_ids),) if c.message_ids else None,
}


def _rank_match(chats: list[ChatTrace], cases: list[CaseTrace], backward: bool) -> dict[int, str]:
    """Pair the i-th chat with the i-th case, counting from the start or from the end."""
    if backward:
        chats, cases = chats[::-1], cases[::-1]
    return {chat.chat_id: case.case_id for chat, case in zip(chats, cases, strict=False)}


def order_joins(chats: list[ChatTrace], cases: list[CaseTrace]) -> list[Join]:
    """Rank chats by their chat-side order, cases by each case-side order key, and pair rank to rank.

    Chats that sent no request (a cancel, someone who only looked) shift the
    ranks after them; pairing from the end as well as from the start keeps at
    least the part on the other side of each such chat right.
    """
    joins = []
    keys = sorted({key for case in cases for key in case.order})
    for chat_name, chat_key in CHAT_ORDERS.items():
        for key in keys:
            ordered_cases = sorted((c for c in cases if key in c.order), key=lambda c: (c.order[key], c.case_id))
            candidates = submit_like([c for c in chats if chat_key(c) is not None], len(ordered_cases))
            ordered_chats = sorted(candidates, key=lambda c: (chat_key(c), c.chat_id))
            for backward in (False, True):
                direction = "from the end" if backward else "from the start"
                joins.append(Join(f"order: chats by {chat_name}, cases by {key}, {direction}",
                                  _rank_match(ordered_chats, ordered_cases, backward)))
    return joins


def adjacency_join(chats: list[ChatTrace], cases: list[CaseTrace], any_table: bool) -> Join:
    """WAL adjacency: each case's insert, paired with the chat whose deletion was brought forward soonest after it.

    (The bot stores the case and its alert, then moves that chat's deletion
    forward.) `any_table`: the case's first row in any table (its alert, its
    audit entry) rather than its cases row, for a WAL cut after the case insert.
    Pairs are taken by ascending distance in the WAL, so a chat whose
    reschedule is missing does not shift every pair after it.
    """
    costs: dict[tuple[int, str], float] = {}
    for case in cases:
        start = case.first_trace if any_table else case.first_frame
        if start is None:
            continue
        for chat in chats:
            after = [order - start for order in chat.reschedules if order >= start]
            if after:
                costs[(chat.chat_id, case.case_id)] = float(min(after))
    guesses = _assign(costs, [c.chat_id for c in chats], [c.case_id for c in cases])
    what = "first row of any table" if any_table else "cases row"
    return Join(f"page order: a case's {what} in the WAL, then the nearest chat reschedule", guesses,
                f"{sum(len(c.reschedules) for c in chats)} reschedules")


def shm_join(chats: list[ChatTrace], cases: list[CaseTrace], frame_pages: tuple[int, ...]) -> Join:
    """The -shm's frame-to-page list: the k-th write to a cases page holds the k-th submitted chat's case."""
    by_page: dict[int, list[CaseTrace]] = {}
    for case in cases:
        for page in case.pages:
            by_page.setdefault(page, []).append(case)
    writes: list[int] = []
    for page in frame_pages:
        if page in by_page and (not writes or writes[-1] != page):
            writes.append(page)
    ordered_chats = submit_like([c for c in chats if c.last_due is not None], len(writes))
    ordered_chats.sort(key=lambda c: (c.last_due, c.first_reschedule or 0, c.chat_id))
    guesses: dict[int, str] = {}
    used: set[str] = set()
    for chat, page in zip(ordered_chats, writes, strict=False):
        choice = next((c for c in sorted(by_page[page], key=lambda c: c.case_id) if c.case_id not in used), None)
        if choice is not None:
            guesses[chat.chat_id] = choice.case_id
            used.add(choice.case_id)
    return Join("page order: -shm frame-to-page list", guesses, f"{len(writes)} writes to pages of cases")


def chat_kind(chat: ChatTrace, form_counts: frozenset[int]) -> str:
    """What a chat's pending message ids say it did, as someone who knows the bot and its form reads them.

    Telegram numbers a chat's messages from 1, deleted ones included. `form_counts` are the
    highest ids a chat can have right after a submitted form (/start, the first screen, then a
    typed answer and the bot's next screen per text question answered; buttons edit the screen
    in place). A chat that began within the delete window and ends there sent a request (or
    cancelled at review); one that went on got a notice, read a reply or added a follow-up;
    a chat with fewer used a reference from scratch (or only looked, or is mid-form); one whose
    first pending id is above 1 came back after it had been emptied (a notice, a reading).
    """
    ids = sorted(chat.message_ids)
    if not ids:
        return "send in flight"
    if ids[0] > 1:
        return "came back"
    if ids[-1] in form_counts:
        return "form"
    if form_counts and ids[-1] > min(form_counts):
        return "form, then more"
    return "short"


#: Which case facts each kind of chat points to (storage.cases: events and reply states).
_KIND_FACTS: dict[str, tuple[str, ...]] = {
    "came back": ("reply notified", "reply read"),
    "form, then more": ("reply notified", "reply read", "follow_up"),
    "short": ("reply read", "follow_up"),
    "send in flight": ("delivery envelope waiting",),
}
_QUIET = ("reply notified", "reply read", "follow_up")


def behaviour_join(chats: list[ChatTrace], cases: list[CaseTrace], form_counts: frozenset[int]) -> Join:
    """Match what each chat did (its message ids) with what happened to each case (its events and reply states).

    A chat that went on after its form goes to a case with a reply or a follow-up, a plain form
    to a case with neither, a short chat to a case whose reply was read or that got a follow-up,
    a chat with a send in flight to a case whose delivery envelope waits; ties by case id.
    Within one time bucket this narrows each chat to the cases that had the same kind of
    event: the documented exposure (docs/threat-model.md), not a link.
    """
    costs: dict[tuple[int, str], float] = {}
    kinds: Counter[str] = Counter()
    for chat in chats:
        kind = "send in flight" if chat.intents else chat_kind(chat, form_counts)
        kinds[kind] += 1
        for case in cases:
            if kind == "form":
                fits = not any(f in case.facts for f in _QUIET)
            else:
                fits = any(f in case.facts for f in _KIND_FACTS.get(kind, ()))
            costs[(chat.chat_id, case.case_id)] = 0.0 if fits else 1.0
    guesses = _assign(costs, [c.chat_id for c in chats], [c.case_id for c in cases])
    matched = sum(1 for chat, case in guesses.items() if costs[(chat, case)] == 0.0)
    return Join("behaviour: what a chat's message ids say it did vs what happened to a case", guesses,
                f"chats by kind {dict(sorted(kinds.items()))}; {matched} placed on a case of their kind")


def every_join(chats: list[ChatTrace], cases: list[CaseTrace], offsets: Offsets,
               frame_pages: tuple[int, ...] = (), form_counts: frozenset[int] = frozenset()) -> list[Join]:
    """The attacker's whole repertoire of chat-to-case joins."""
    return [*(time_join(chats, cases, offsets, last) for last in (True, False)),
            *(offset_join(chats, cases, last) for last in (True, False)), *order_joins(chats, cases),
            adjacency_join(chats, cases, False), adjacency_join(chats, cases, True),
            shm_join(chats, cases, frame_pages), behaviour_join(chats, cases, form_counts)]


def distinct_guesses(joins: Iterable[Join]) -> int:
    """How many different guess sets the joins made: the number of tests the bound is divided among.

    Joins that guess exactly the same links (two orders that agree, e.g. every chat due in the
    same bucket sorted by chat id) score exactly the same, so they are one test, not two.
    """
    return len({frozenset(j.guesses.items()) for j in joins if j.guesses})


def chance_tail(correct: int, window_sizes: Iterable[int]) -> float:
    """An upper bound on P(a join with no information gets at least `correct` right).

    Null hypothesis: within each window of the case-side time granularity,
    which chat sent which case is a uniformly random bijection that the disk
    says nothing about (the attacker is granted the windows). For any guess
    function and any set S of t chats, P(all of S guessed right) is at most
    prod_w (k_w - s_w)! / k_w!, where s_w chats of S fall in window w of k_w
    cases. Summing over all S: E[C(X, t)] <= [z^t] prod_w sum_{s<=k_w} z^s / s!,
    and P(X >= t) <= E[C(X, t)] (Markov on the binomial coefficient). With one
    window this is 1/t!, whatever the number of cases.
    """
    if correct <= 0:
        return 1.0
    poly = [1.0]
    for size in window_sizes:
        factor = [1.0 / math.factorial(s) for s in range(size + 1)]
        product = [0.0] * min(len(poly) + len(factor) - 1, correct + 1)
        for i, a in enumerate(poly):
            for j, b in enumerate(factor):
                if i + j < len(product):
                    product[i + j] += a * b
        poly = product
    return min(1.0, poly[correct]) if correct < len(poly) else 0.0


def threshold(window_sizes: list[int], alpha: float) -> int:
    """The fewest right guesses whose chance bound is at most alpha."""
    total = sum(window_sizes)
    for t in range(1, total + 1):
        if chance_tail(t, window_sizes) <= alpha:
            return t
    return total + 1
