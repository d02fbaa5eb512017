"""What the inbox shows, as Rich Text: table cells and the case with its history.

Every string that came from the server or out of an envelope is cleaned of
control characters (a terminal would obey them) and put into Text objects,
never into markup, so brackets in a note are shown, not interpreted. Colour is
never the only signal: urgency and verification failures are also spelled out.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from model.cases import Delivery, EventKind
from model.text import clean_text
from model.views import CaseView, ReadState
from staff.casework import EventView, age, when
from staff.remote import safe_text

COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("id", "case", 16), ("queue", "queue", 10), ("urgency", "urgency", 9), ("age", "age", 4),
    ("status", "status", 7), ("claimed", "claimed by", 14),
)

#: The answer to the default form's "urgency" question (its English label, or the option id) -> shown as, style.
URGENCY: dict[str, tuple[str, str]] = {
    "I am in danger now": ("NOW", "bold red"), "now": ("NOW", "bold red"),
    "Within days": ("days", "yellow"), "days": ("days", "yellow"),
    "Within weeks": ("weeks", ""), "weeks": ("weeks", ""),
}

EVENT_LABELS: dict[EventKind, str] = {
    EventKind.CLAIM: "claimed", EventKind.NOTE: "note", EventKind.FOLLOW_UP: "follow-up from the person",
    EventKind.REPLY: "reply to the person", EventKind.CLOSE: "closed", EventKind.REOPEN: "reopened",
    EventKind.ACK: "acknowledged", EventKind.ASSIGN: "assigned", EventKind.TAG: "tag added",
    EventKind.UNTAG: "tag removed",
}


#: Where a reply stands, in words (docs/staff-api.md).
DELIVERY_LABELS: dict[Delivery, str] = {
    Delivery.QUEUED: "queued", Delivery.NOTIFIED: "notified, not read yet", Delivery.READ: "read",
    Delivery.EXPIRED: "expired unread", Delivery.UNDELIVERABLE: "no notice possible, readable by reference",
    Delivery.REJECTED: "REJECTED by the bot",
}


def _answers(view: CaseView) -> dict[str, object] | None:
    if view.state is not ReadState.OK or view.request is None:
        return None
    answers = view.request.get("answers")
    return answers if isinstance(answers, dict) else None


def urgency(view: CaseView) -> Text:
    """The urgency cell: NOW in red, days in yellow, weeks plain; or why there is nothing to read."""
    if view.state is ReadState.REJECTED:
        return Text("REJECTED", style="bold reverse red")
    if view.state is ReadState.NOT_FOR_THIS_KEY:
        return Text("not yours", style="dim")
    answers = _answers(view)
    if answers is None:
        return Text("REJECTED", style="bold reverse red")
    value = answers.get("urgency")
    if not isinstance(value, str):
        return Text("-")
    shown, style = URGENCY.get(value, (safe_text(value, 9), ""))
    return Text(shown, style=style)


def row(view: CaseView, now: int) -> tuple[Text, ...]:
    """One table row, in the order of COLUMNS."""
    c = view.case
    return (Text(c.id), Text(safe_text(c.queue, 10)), urgency(view), Text(age(c.created_at, now)),
            Text(c.status.value, style="bold" if c.status.value == "new" else ""),
            Text(safe_text(c.claimed_by or "-", 14)))


def _lines(text: str, indent: str) -> Text:
    """Decrypted text, control characters removed, each line indented."""
    out = Text()
    for line in clean_text(text).splitlines() or [""]:
        out.append(f"{indent}{line}\n")
    return out


def _request(view: CaseView) -> Text:
    out = Text()
    if view.state is ReadState.NOT_FOR_THIS_KEY:
        out.append(f"Not readable with your key: {safe_text(view.problem or '')}\n", style="bold")
        return out
    answers = _answers(view)
    if view.request is None or answers is None:
        problem = view.problem or "the answers are not a map"
        out.append(f"NOT VERIFIED: {safe_text(problem)}\n", style="bold red")
        out.append("Nothing of this request is shown: it may have been altered.\n")
        return out
    request = view.request
    if not request.get("reply_handle"):
        reply = "cannot be answered (not from the bot)"
    elif not request.get("reply_key"):
        reply = "cannot be answered (made before replies were sealed to the person's key)"
    else:
        reply = "can be answered"
    out.append(f"Verified request, {safe_text(request.get('channel'), 20)}, language "
               f"{safe_text(request.get('language'), 16)}, submitted {safe_text(request.get('submitted_hour'), 20)}, "
               f"{reply}\n", style="dim")
    for name, value in answers.items():
        out.append(f"{safe_text(name, 64)}:", style="bold")
        text = str(value)
        if "\n" in text.strip():
            out.append("\n")
            out.append_text(_lines(text, "    "))
        else:
            out.append(f" {clean_text(text)}\n")
    return out


def _event(view: EventView) -> Text:
    e = view.event
    head = f"{when(e.created_at)} {EVENT_LABELS.get(e.kind, e.kind.value)} by {safe_text(view.signer or e.actor, 64)}"
    if e.subject is not None:
        head += f" to {safe_text(e.subject, 64)}"
    if e.delivery is not None:
        head += f" ({DELIVERY_LABELS[e.delivery]})"
    out = Text()
    if view.state is ReadState.REJECTED:
        out.append(f"{head}: NOT VERIFIED: {safe_text(view.problem or '')}\n", style="bold red")
    elif view.state is ReadState.NOT_FOR_THIS_KEY:
        out.append(f"{head}: (encrypted, {safe_text(view.problem or '')})\n", style="dim")
    elif view.text is None:
        out.append(f"{head}\n")
    else:
        out.append(head, style="bold")
        if view.problem:
            out.append(f" [{safe_text(view.problem)}]", style="yellow")
        out.append(":\n")
        out.append_text(_lines(view.text, "    "))
    return out


def case_text(view: CaseView, events: Sequence[EventView] | None, *, loading_failed: bool = False) -> Text:
    """The case panel: metadata, the verified request, and the history (None while it loads)."""
    c = view.case
    out = Text()
    out.append(f"Case {c.id}", style="bold")
    out.append(f"  queue {safe_text(c.queue, 64)}  status {c.status.value}  "
               f"claimed by {safe_text(c.claimed_by or '-', 64)}\n")
    out.append_text(_request(view))
    out.append("\nHistory\n", style="bold underline")
    if events is None:
        out.append("could not be loaded: press F5 to retry\n" if loading_failed else "loading...\n", style="dim")
    elif not events:
        out.append("nothing yet\n", style="dim")
    for event in events or []:
        out.append_text(_event(event))
    return out
