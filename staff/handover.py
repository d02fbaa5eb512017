"""Handover: cases (answers and history as the exporter reads them) sealed to one named colleague, signed.

Never a plaintext export: the file is sealed with crypto.handover to the recipient's encryption
key on the exporter's verified roster, and signed by the exporter. Only that recipient opens it
(`open_export`), and only after checking, on *their* verified roster, that the signer is a
caseworker who was never revoked (a revoked key may be a thief's) and was a member when the file
says it was made, that the file names them as its recipient, and that both of them work on every
queue the file's cases come from (a file cannot carry a case to someone outside its queue).
Nothing opened is written to disk by this module; the CLI prints it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crypto.errors import EnvelopeRejected
from crypto.handover import open_handover, seal_handover
from crypto.keys import Identity
from crypto.roster import Member, Role, Roster
from model.views import ReadState
from staff.casework import CaseDetail
from staff.errors import ExportRefused, HandoverRefused

FORMAT = "waystation-handover"
MAX_CASES = 500


@dataclass(frozen=True)
class HandoverCase:
    """One case as the exporter read it: metadata, the decrypted request, the history."""

    id: str
    queue: str
    status: str
    created_at: int
    claimed_by: str | None
    assigned_to: str | None
    tags: list[str]
    request: dict[str, Any]
    events: list[dict[str, Any]]


@dataclass(frozen=True)
class Handover:
    """An opened handover file: who made it, for whom, when, and its cases."""

    exporter: str
    recipient: str
    at: int
    cases: list[HandoverCase]


def choose_handover_recipient(roster: Roster, name: str, queues: set[str], now: int) -> Member:
    """The member `name` if they are an active caseworker of every queue in `queues`; else ExportRefused."""
    member = roster.find(name)
    if member is None:
        raise ExportRefused(f"nobody called {name!r} is on the roster: check the name")
    if member.role is not Role.CASEWORKER or not member.active(now):
        raise ExportRefused(f"{name} is not an active caseworker: a handover goes to an active caseworker only")
    missing = sorted(queues - set(member.queues))
    if missing:
        raise ExportRefused(f"{name} does not work on queue '{missing[0]}': a handover goes only to a caseworker "
                            "of the cases' queues")
    return member


def _event(view: Any) -> dict[str, Any]:
    e = view.event
    return {"kind": e.kind.value, "actor": e.actor, "at": e.created_at, "signer": view.signer, "text": view.text,
            "state": view.state.value, "problem": view.problem,
            "delivery": None if e.delivery is None else e.delivery.value, "subject": e.subject}


def make_export(details: Sequence[CaseDetail], *, identity: Identity, me: Member, to: str, roster: Roster,
                now: int) -> bytes:
    """Cases I can read, sealed to colleague `to` (an active caseworker of their queues) and signed by me."""
    if not details:
        raise ExportRefused("name at least one case to hand over")
    if len(details) > MAX_CASES:
        raise ExportRefused(f"a handover holds at most {MAX_CASES} cases")
    unreadable = [d.view.case.id for d in details if d.view.state is not ReadState.OK or d.view.request is None]
    if unreadable:
        raise ExportRefused(f"you cannot read case {unreadable[0]} yourself, so you cannot hand it over")
    recipient = choose_handover_recipient(roster, to, {d.view.case.queue for d in details}, now)
    cases = [{"id": d.view.case.id, "queue": d.view.case.queue, "status": d.view.case.status.value,
              "created_at": d.view.case.created_at, "claimed_by": d.view.case.claimed_by,
              "assigned_to": d.view.case.assigned_to, "tags": sorted(d.view.tags), "request": d.view.request,
              "events": [_event(e) for e in d.events]} for d in details]
    payload = {"format": FORMAT, "v": 1, "from": me.name, "to": recipient.name, "at": now, "cases": cases}
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return seal_handover(data, recipient=recipient.identity.box_key, signer=identity.signing_key)


def _case(obj: Any) -> HandoverCase:
    if not isinstance(obj, dict) or not isinstance(obj.get("request"), dict) or not isinstance(obj.get("events"), list):
        raise ValueError("case")
    fields = [obj.get(k) for k in ("id", "queue", "status")]
    if not all(isinstance(f, str) for f in fields) or type(obj.get("created_at")) is not int:
        raise ValueError("case fields")
    tags = obj.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("tags")
    if not all(isinstance(e, dict) for e in obj["events"]):
        raise ValueError("events")
    return HandoverCase(obj["id"], obj["queue"], obj["status"], obj["created_at"], obj.get("claimed_by"),
                        obj.get("assigned_to"), tags, obj["request"], obj["events"])


def open_export(identity: Identity, data: bytes, roster: Roster) -> Handover:
    """Verify a handover against my verified roster and open it with my key; HandoverRefused says why not."""
    signers = [m.identity.verify_key for m in roster.members if m.role is Role.CASEWORKER and m.revoked is None]
    try:
        opened = open_handover(data, recipient=identity.box_private, trusted_signers=signers)
        payload = json.loads(opened.payload.decode("utf-8"))
        if not isinstance(payload, dict) or payload.get("format") != FORMAT or payload.get("v") != 1:
            raise ValueError("format")
        at, cases = payload.get("at"), [_case(c) for c in payload.get("cases") or []]
        if type(at) is not int or not cases:
            raise ValueError("fields")
    except EnvelopeRejected as err:
        raise HandoverRefused(f"this handover was refused: {err}") from err
    except (UnicodeDecodeError, ValueError) as err:
        raise HandoverRefused("this handover verified but its content is not a handover: it was refused") from err
    signer = roster.by_verify_key(opened.signer)
    me = roster.by_verify_key(identity.signing_key.verify_key)
    if signer is None or me is None:  # signer: checked above; me: the caller verified the roster it passes
        raise HandoverRefused("the handover's signer or you are not on the roster")
    if payload.get("from") != signer.name or payload.get("to") != me.name:
        raise HandoverRefused(f"the handover names other people than its signer ({signer.name}) and you")
    if not signer.added - 3600 <= at < signer.expires:
        raise HandoverRefused(f"the handover is dated outside {signer.name}'s membership")
    for case in cases:
        if case.queue not in signer.queues or case.queue not in me.queues:
            raise HandoverRefused(f"the handover carries a case of queue '{case.queue}', which "
                                  f"{'you' if case.queue not in me.queues else signer.name} do not work on")
    return Handover(signer.name, me.name, at, cases)
