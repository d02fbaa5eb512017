"""What the disk says about each person chat and each case: the material of the joins.

Chat side: every chat of the chat state file (chats.state, and a temporary
copy a crash left: chat id, message ids, coarse due time, send intents); and,
for homes that kept the chat side in the database, every pending-deletion row
of every page version, replayed in WAL order (when each chat got a new message
and when only its due time moved). Case side: every time in every row that
names the case, its row ids and the physical position of its rows in their
pages, when it first appears in the WAL, what order or size its rows give it
(the volunteer alert's Telegram message id, the request's size, how many
events, audit entries and replies it has), and what happened to it (its
reply states, follow-ups).
"""

from __future__ import annotations

from collections.abc import Sequence

from tests.seizure.btree import Value
from tests.seizure.carve import Row, SqlDump
from tests.seizure.chatside import ChatStateSeen
from tests.seizure.joins import CaseTrace, ChatTrace

EPOCH_RANGE = (1_000_000_000, 4_000_000_000)
CHAT_TABLE = "pending_deletions"
CHAT_INDEX = "pending_deletions_by_due"
VOLUNTEER_TABLE = "volunteers"


def case_of(row: Row) -> str | None:
    """The case id a row names (cases.id, or a case_id column)."""
    if row.tree == "cases" or (row.tree.startswith("sqlite_autoindex_cases") and "id" in row.values):
        value = row.values.get("id")
    else:
        value = row.values.get("case_id")
    return value if isinstance(value, str) and value else None


def _epoch(value: Value) -> bool:
    return isinstance(value, int) and EPOCH_RANGE[0] <= value <= EPOCH_RANGE[1]


def volunteer_chats(rows: list[Row], dump: SqlDump) -> set[int]:
    """Chat ids of volunteers (staff): not persons, never joined."""
    found = {r.values.get("chat_id") for r in rows if r.tree == VOLUNTEER_TABLE}
    found |= {r.get("chat_id") for r in dump.rows.get(VOLUNTEER_TABLE, [])}
    return {v for v in found if isinstance(v, int)}


def chat_traces(rows: list[Row], dump: SqlDump, volunteers: set[int],
                states: Sequence[ChatStateSeen] = ()) -> tuple[dict[int, ChatTrace], set[int]]:
    """Every person chat the chat state or any page version names, and those pending now."""
    chats: dict[int, ChatTrace] = {}
    live: set[int] = set()
    for seen in states:
        if seen.snapshot is None:
            continue
        for entry in seen.snapshot.chats.values():
            if entry.chat_id in volunteers:
                continue
            trace = chats.setdefault(entry.chat_id, ChatTrace(entry.chat_id))
            trace.message_ids |= set(entry.message_ids)
            trace.swept |= set(entry.swept)
            trace.due.add(entry.due_at)
            if seen.live:
                trace.live_due = entry.due_at if trace.live_due is None else max(trace.live_due, entry.due_at)
                live.add(entry.chat_id)
        for intent in seen.snapshot.intents.values():
            if intent.chat_id in volunteers:
                continue
            trace = chats.setdefault(intent.chat_id, ChatTrace(intent.chat_id))
            trace.intents += 1
            trace.due.add(intent.due_at)
            if seen.live:
                live.add(intent.chat_id)
    for row in rows:
        if row.tree not in (CHAT_TABLE, CHAT_INDEX):
            continue
        chat_id, message_id, due = (row.values.get(k) for k in ("chat_id", "message_id", "due_at"))
        if not isinstance(chat_id, int) or chat_id in volunteers:
            continue
        trace = chats.setdefault(chat_id, ChatTrace(chat_id))
        if isinstance(message_id, int):
            trace.message_ids.add(message_id)
        if isinstance(due, int):
            trace.due.add(due)
    _wal_events(rows, chats)
    for sql_row in dump.rows.get(CHAT_TABLE, []):
        chat_id, due = sql_row.get("chat_id"), sql_row.get("due_at")
        if isinstance(chat_id, int) and chat_id not in volunteers and isinstance(due, int):
            trace = chats.setdefault(chat_id, ChatTrace(chat_id))
            trace.live_due = due if trace.live_due is None else max(trace.live_due, due)
            trace.due.add(due)
            live.add(chat_id)
    return chats, live


def _wal_events(rows: list[Row], chats: dict[int, ChatTrace]) -> None:
    """Replay the WAL page by page: when did each chat get a new message, when was only its due time moved."""
    versions: dict[int, list[Row]] = {}
    for row in rows:
        if row.tree == CHAT_TABLE and row.image.order is not None:
            versions.setdefault(row.image.order, []).append(row)
    state: dict[tuple[int, int], tuple[frozenset[int], int]] = {}  # (page, chat) -> (message ids, due)
    for order in sorted(versions):
        page: dict[int, tuple[set[int], set[int]]] = {}
        pgno = versions[order][0].image.pgno
        for row in versions[order]:
            chat_id, message_id, due = (row.values.get(k) for k in ("chat_id", "message_id", "due_at"))
            if isinstance(chat_id, int) and isinstance(message_id, int) and isinstance(due, int):
                ids, dues = page.setdefault(chat_id, (set(), set()))
                ids.add(message_id)
                dues.add(due)
        for chat_id, (ids, dues) in page.items():
            trace = chats.get(chat_id)
            before = state.get((pgno, chat_id))
            state[(pgno, chat_id)] = (frozenset(ids), max(dues))
            if trace is None or before is None:
                continue
            if ids - before[0]:
                trace.messages.append(order)
            elif max(dues) != before[1]:
                trace.reschedules.append(order)


def case_traces(rows: list[Row], dump: SqlDump) -> list[CaseTrace]:
    """Every case SQL or any page version knows, with its times, orders and first WAL appearance."""
    ids = {str(r["id"]) for r in dump.rows.get("cases", []) if r.get("id")}
    ids |= {str(r.values["id"]) for r in rows if r.tree == "cases" and isinstance(r.values.get("id"), str)}
    cases = {case_id: CaseTrace(case_id) for case_id in ids}
    for row in rows:
        owner = case_of(row)
        if owner is None or owner not in cases:
            continue
        trace = cases[owner]
        action = row.values.get("action")
        label_base = f"audit[{action!s}]" if row.tree == "audit" and isinstance(action, str) else row.tree
        for column, value in row.values.items():
            if (column.endswith("_at") or column == "at") and isinstance(value, int) and _epoch(value):
                trace.add_time(f"{label_base}.{column}", value)
        order = row.image.order
        if order is not None:
            trace.first_trace = order if trace.first_trace is None else min(trace.first_trace, order)
            if row.tree == "cases":
                trace.first_frame = order if trace.first_frame is None else min(trace.first_frame, order)
        if not row.live:
            continue
        # Cells are carved from the end of a page towards its start as rows arrive, whatever their
        # keys: within a page, a higher offset is an earlier insert.
        keys = {f"{row.tree} row id": None if row.rowid is None else float(row.rowid),
                f"{row.tree} page, cell offset (insertion order)": float(row.image.pgno * 65536 - row.cell_offset)}
        for key, value in keys.items():
            if value is not None:
                trace.order[key] = min(trace.order.get(key, value), value)
        if row.tree == "cases":
            trace.pages.add(row.image.pgno)
    _what_sql_tells(dump, cases)
    return sorted(cases.values(), key=lambda c: c.case_id)


def _count(trace: CaseTrace, key: str) -> None:
    trace.order[key] = trace.order.get(key, 0.0) + 1.0


def _what_sql_tells(dump: SqlDump, cases: dict[str, CaseTrace]) -> None:
    """Orders, sizes and counts SQL shows for each case, and what happened to it (its facts)."""
    for row in dump.rows.get("cases", []):
        trace = cases.get(str(row.get("id")))
        envelope = row.get("envelope")
        if trace is None:
            continue
        if isinstance(envelope, bytes):
            trace.order["size of the request's envelope"] = float(len(envelope))
        trace.facts.add(f"status {row.get('status')!s}")
    for row in dump.rows.get("volunteer_messages", []):
        trace = cases.get(str(row.get("case_id")))
        message_id = row.get("message_id")
        if trace is not None and isinstance(message_id, int):
            # Telegram numbers a chat's messages in the order they are sent: alerts go out moments
            # after their case came in, so this orders a volunteer's cases by arrival.
            key = f"alert's message id in volunteer {row.get('volunteer_id')!s}'s chat"
            trace.order[key] = min(trace.order.get(key, float(message_id)), float(message_id))
    for row in dump.rows.get("case_events", []):
        trace = cases.get(str(row.get("case_id")))
        if trace is None:
            continue
        _count(trace, "history events")
        if row.get("kind") == "reply":
            _count(trace, "replies")
            trace.facts.add(f"reply {row.get('delivery')!s}")
        elif row.get("kind") in ("follow_up", "note", "ack"):
            trace.facts.add(str(row.get("kind")))
    for row in dump.rows.get("audit", []):
        trace = cases.get(str(row.get("case_id")))
        if trace is not None:
            _count(trace, "audit entries")
            seq = row.get("seq")
            if isinstance(seq, int):
                trace.order["highest audit seq"] = max(trace.order.get("highest audit seq", 0.0), float(seq))
    for row in dump.rows.get("outbox", []):
        trace = cases.get(str(row.get("case_id")))
        if trace is not None:
            _count(trace, "replies waiting in the outbox")
            seq = row.get("seq")
            if isinstance(seq, int):
                trace.order["highest outbox seq"] = max(trace.order.get("highest outbox seq", 0.0), float(seq))
            if row.get("delivery") is not None:
                trace.facts.add("delivery envelope waiting")


def fine_times(rows: list[Row], dump: SqlDump, granularity: int) -> dict[str, int]:
    """"table.column" -> how many values, of live rows and remnants, are times off the granularity's grid."""
    found: dict[str, int] = {}
    places = [(row.tree, row.values) for row in rows]
    places += [(table, row) for table, table_rows in dump.rows.items() for row in table_rows]
    for tree, values in places:
        for column, value in values.items():
            if column != "_rowid_" and isinstance(value, int) and _epoch(value) and value % granularity:
                key = f"{tree}.{column}"
                found[key] = found.get(key, 0) + 1
    return dict(sorted(found.items()))
