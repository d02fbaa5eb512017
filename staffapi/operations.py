"""What each staff API endpoint does, once the caller is authenticated.

Each operation takes a Call and returns (status, JSON document) or raises an
ApiRefused. Cases in a queue the caller may not see are answered exactly like
cases that do not exist (404). Every change goes through storage, which writes
the audit entry (actor: the member's roster name) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from crypto.encoding import b64
from crypto.envelope import valid_case_id, valid_queue
from crypto.roster import Member, Role
from staff.errors import AssignmentRefused
from staff.team import check_assignee
from staffapi.auth import Caller
from staffapi.bodies import check_note, check_reply, check_tag, envelope_field, json_object
from staffapi.problems import BodyInvalid, CaseHidden, Conflict, Forbidden
from storage.cases import Case, Event, EventKind, Status
from storage.errors import CaseNotFound, ClaimConflict, TransitionRefused
from storage.grants import GrantRefused, check_grant
from storage.outbox import OutboxStore
from storage.server import Server

Document = dict[str, Any]
MAX_PAGE = 100_000
Result = tuple[int, Document]


@dataclass(frozen=True)
class Call:
    """One authenticated request, as an operation sees it."""

    server: Server
    caller: Caller
    path: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


Operation = Callable[[Call], Result]


def case_json(case: Case) -> Document:
    """A case's metadata, and its envelope when it was loaded."""
    doc: Document = {
        "id": case.id, "queue": case.queue, "status": case.status.value, "created_at": case.created_at,
        "updated_at": case.updated_at, "claimed_by": case.claimed_by, "claimed_at": case.claimed_at,
        "closed_at": case.closed_at, "assigned_to": case.assigned_to, "followups": case.followups,
    }
    if case.envelope is not None:
        doc["envelope"] = b64(case.envelope)
        doc["tag_events"] = [event_json(e) for e in case.tag_events]
    return doc


def event_json(event: Event) -> Document:
    """An event: metadata, the envelope of notes, follow-ups and reply copies, and where a reply stands."""
    return {"id": event.id, "kind": event.kind.value, "actor": event.actor, "created_at": event.created_at,
            "envelope": None if event.envelope is None else b64(event.envelope),
            "delivery": None if event.delivery is None else event.delivery.value, "subject": event.subject}


def _caseworker(call: Call) -> Member:
    member = call.caller.member
    if member.role is not Role.CASEWORKER:
        raise Forbidden(f"the role {member.role.value} may not read or change cases")
    return member


def _visible_case(call: Call) -> Case:
    """The case named in the path, if it exists in one of the caller's queues; else 404."""
    member = _caseworker(call)
    case_id = call.path.get("case_id", "")
    if not valid_case_id(case_id):
        raise CaseHidden()
    try:
        case = call.server.cases.fetch(case_id)
    except CaseNotFound as err:
        raise CaseHidden() from err
    if case.queue not in member.queues:
        raise CaseHidden()
    return case


def info(call: Call) -> Result:
    """The bot's public keys, the signed roster as the server holds it, and who the caller is."""
    bot = call.server.bot_identity()
    current = bytes(bot.signing_key.verify_key)
    member = call.caller.member
    return 200, {
        "bot": {"name": bot.name, "sign": b64(current), "box": b64(bytes(bot.box_private.public_key))},
        "previous_bot_signing_keys": [b64(bytes(k)) for k in call.server.trusted_bot_keys() if bytes(k) != current],
        "roster": b64(call.server.home.roster_path.read_bytes()),
        "me": {"name": member.name, "role": member.role.value, "queues": list(member.queues)},
    }


def _flag(value: str | None) -> bool:
    if value in (None, "0", "false"):
        return False
    if value in ("1", "true"):
        return True
    raise BodyInvalid("envelopes must be 0, 1, true or false")


def _statuses(value: str | None) -> list[Status] | None:
    if value is None:
        return None
    try:
        return [Status(s) for s in value.split(",")]
    except ValueError as err:
        raise BodyInvalid("status must be a comma-separated list of new, claimed, closed") from err


def list_cases(call: Call) -> Result:
    """Cases of the caller's queues; volunteers get metadata only."""
    member = call.caller.member
    if member.role is Role.ADMIN:
        raise Forbidden("the role admin may not list cases")
    with_envelopes = _flag(call.query.get("envelopes"))
    statuses = _statuses(call.query.get("status"))
    queue = call.query.get("queue")
    if queue is not None and not valid_queue(queue):
        raise BodyInvalid("queue names are 1..64 of a-z, 0-9, '_', '-'")
    if with_envelopes and member.role is not Role.CASEWORKER:
        raise Forbidden(f"the role {member.role.value} may not fetch envelopes")
    if queue is not None and queue not in member.queues:
        raise Forbidden("that queue is not one of yours")
    queues = member.queues if queue is None else (queue,)
    limit, after = _page(call.query.get("limit"), call.query.get("after"))
    cases = call.server.cases.list(queues=queues, statuses=statuses, with_envelopes=with_envelopes, limit=limit,
                                   after=after) if queues else []
    answer: Document = {"cases": [case_json(c) for c in cases]}
    if limit is not None:  # how many follow this page: the client decides whether to start its workers
        last = (cases[-1].created_at, cases[-1].id) if cases else after
        answer["remaining"] = call.server.cases.count(queues=queues, statuses=statuses, after=last) if cases else 0
    return 200, answer


def _page(limit: str | None, after: str | None) -> tuple[int | None, tuple[int, str] | None]:
    """`limit` (1..100000) and `after` ("<created_at>.<case id>" of the last case of the page before)."""
    count = None
    if limit is not None:
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_PAGE:
            raise BodyInvalid(f"limit must be a whole number from 1 to {MAX_PAGE}")
        count = int(limit)
    if after is None:
        return count, None
    at, _, case_id = after.partition(".")
    if not at.isdigit() or len(at) > 12 or not valid_case_id(case_id):
        raise BodyInvalid("after must be <created_at>.<case id> of the last case already listed")
    return count, (int(at), case_id)


def get_case(call: Call) -> Result:
    """One case with its envelope and its events."""
    case = _visible_case(call)
    return 200, {"case": case_json(case), "events": [event_json(e) for e in call.server.cases.events(case.id)]}


def _after(call: Call, case: Case) -> Result:
    return 200, {"case": case_json(replace(call.server.cases.fetch(case.id), envelope=None))}


def claim(call: Call) -> Result:
    """Claim a new case; of two concurrent claims exactly one wins, the other gets 409."""
    case = _visible_case(call)
    json_object(call.body, (), empty_ok=True)
    try:
        call.server.cases.claim(case.id, call.caller.member.name, call.caller.now)
    except ClaimConflict as err:
        raise Conflict("the case is already claimed or closed") from err
    except CaseNotFound as err:
        raise CaseHidden() from err
    return _after(call, case)


def take_over(call: Call) -> Result:
    """Hand a case claimed by someone else to the caller, a caseworker of its queue (409 if new, closed or theirs)."""
    case = _visible_case(call)
    json_object(call.body, (), empty_ok=True)
    try:
        call.server.cases.take_over(case.id, call.caller.member.name, call.caller.now)
    except TransitionRefused as err:
        raise Conflict(str(err)) from err
    except CaseNotFound as err:
        raise CaseHidden() from err
    return _after(call, case)


def _transition(call: Call, change: Callable[[str, str, int], None]) -> Result:
    case = _visible_case(call)
    json_object(call.body, (), empty_ok=True)
    try:
        change(case.id, call.caller.member.name, call.caller.now)
    except TransitionRefused as err:
        raise Conflict(str(err)) from err
    except CaseNotFound as err:
        raise CaseHidden() from err
    return _after(call, case)


def close(call: Call) -> Result:
    """Close a new or claimed case."""
    return _transition(call, call.server.cases.close)


def reopen(call: Call) -> Result:
    """Reopen a closed case."""
    return _transition(call, call.server.cases.reopen)


def add_note(call: Call) -> Result:
    """Store a note sealed by the caller to the queue's caseworkers."""
    case = _visible_case(call)
    envelope = check_note(call.body, call.caller, case)
    try:
        event_id = call.server.cases.add_event(case.id, EventKind.NOTE, call.caller.member.name, call.caller.now,
                                               envelope)
    except CaseNotFound as err:
        raise CaseHidden() from err
    return 201, {"event_id": event_id}


def add_reply(call: Call) -> Result:
    """Queue a reply (delivery envelope and the person's copy) and keep the caseworkers' copy, atomically."""
    case = _visible_case(call)
    bot_box = call.server.bot_identity().box_private.public_key
    reply = check_reply(call.body, call.caller, case, bot_box)
    try:
        outbox_id = OutboxStore(call.server.db).queue_reply(case.id, call.caller.member.name, reply.to_bot,
                                                             reply.to_person, reply.copy, call.caller.now)
    except TransitionRefused as err:
        raise Conflict(str(err)) from err
    except CaseNotFound as err:
        raise CaseHidden() from err
    return 202, {"outbox_id": outbox_id}


def add_grant(call: Call) -> Result:
    """Store a grant by the caller of this case's content keys to an active caseworker of its queue (422 if not)."""
    case = _visible_case(call)
    grant = envelope_field(json_object(call.body, ("grant",)), "grant")
    member = call.caller.member
    try:
        header = check_grant(grant, case, call.server.cases.events(case.id), call.caller.roster, member,
                             call.caller.now)
        call.server.grants.store(case.id, grant, header, member.name, call.caller.now)
    except GrantRefused as err:
        raise BodyInvalid(str(err), "grant_refused") from err
    except CaseNotFound as err:
        raise CaseHidden() from err
    return 201, {"case_id": case.id}


def case_grants(call: Call) -> Result:
    """The grants of one case addressed to the caller's key (the caller verifies them)."""
    case = _visible_case(call)
    grants = call.server.grants.for_case(case.id, call.caller.member.identity.key_id)
    return 200, {"grants": [b64(g) for g in grants]}


def my_grants(call: Call) -> Result:
    """Every grant addressed to the caller's key, for cases of the caller's queues."""
    member = _caseworker(call)
    stored = call.server.grants.for_recipient(member.identity.key_id, member.queues)
    return 200, {"grants": [{"case_id": g.case_id, "grant": b64(g.body)} for g in stored]}


def assign(call: Call) -> Result:
    """Assign a case to a named active caseworker of its queue (`{"name"}`); 422 for anyone else, 409 if closed."""
    case = _visible_case(call)
    name = json_object(call.body, ("name",)).get("name")
    if not isinstance(name, str) or not name.strip():
        raise BodyInvalid("name must be a roster name")
    try:
        check_assignee(call.caller.roster, case, name.strip(), call.caller.now)
        call.server.cases.assign(case.id, call.caller.member.name, name.strip(), call.caller.now)
    except AssignmentRefused as err:
        raise BodyInvalid(str(err), "assignee_refused") from err
    except TransitionRefused as err:
        raise Conflict(str(err)) from err
    except CaseNotFound as err:
        raise CaseHidden() from err
    return _after(call, case)


def add_tag(call: Call) -> Result:
    """Store a tag or untag event (`{"envelope", "op"}`), sealed like a note: the server never reads it."""
    case = _visible_case(call)
    envelope, kind = check_tag(call.body, call.caller, case)
    try:
        event_id = call.server.cases.add_event(case.id, kind, call.caller.member.name, call.caller.now, envelope)
    except CaseNotFound as err:
        raise CaseHidden() from err
    return 201, {"event_id": event_id}


def members(call: Call) -> Result:
    """Caseworkers sharing a queue with the caller (or `queue`), with the cases of those queues granted to each.

    Names and queues are on the roster the client verifies; what only the server knows is which
    cases hold a grant to whom (unverified: it only decides whether the desk offers a grant).
    """
    member = _caseworker(call)
    queue = call.query.get("queue")
    if queue is not None and (not valid_queue(queue) or queue not in member.queues):
        raise Forbidden("that queue is not one of yours")
    queues = member.queues if queue is None else (queue,)
    found = []
    for person in call.caller.roster.members:
        shared = [q for q in person.queues if q in queues]
        if person.role is not Role.CASEWORKER or not shared:
            continue
        granted = sorted({g.case_id for g in call.server.grants.for_recipient(person.identity.key_id, shared)})
        found.append({"name": person.name, "granted": granted})
    return 200, {"members": found}


def case_times(call: Call) -> Result:
    """Metadata of the caller's cases created since `since` (seconds): for statistics, nothing decrypted."""
    member = _caseworker(call)
    since = call.query.get("since", "")
    if not since.isdigit() or len(since) > 12:
        raise BodyInvalid("since must be a time in whole seconds since the Unix epoch")
    times = call.server.cases.times(queues=member.queues, since=int(since))
    return 200, {"cases": [{"id": t.id, "queue": t.queue, "status": t.status.value, "created_at": t.created_at,
                            "first_claim_at": t.first_claim_at, "first_reply_at": t.first_reply_at} for t in times]}
