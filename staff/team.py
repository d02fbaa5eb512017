"""Colleagues on the verified roster, as the desk shows them: who shares my queues, who can read what.

Names, queues and whether a member is active come from the roster this client verified, never
from the server. `cannot_read` counts the open cases of a queue we share that I can read and the
colleague cannot yet: the request envelope's signed header names the keys it was sealed to
(crypto.envelope.verify, nothing decrypted), and the server says which cases hold a grant to
them. That count only decides whether the desk offers a grant; a grant itself is checked in full
(staff.grants) by whoever uses it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from nacl.signing import VerifyKey

from crypto.envelope import Kind, verify
from crypto.errors import EnvelopeRejected
from crypto.roster import Member as RosterMember
from crypto.roster import Role, Roster
from model.cases import Case, CaseId, Status
from staff.errors import AssignmentRefused


@dataclass(frozen=True)
class Member:
    """A colleague as the desk lists them."""

    name: str
    queues: frozenset[str]
    active: bool
    cannot_read: int  # open cases of shared queues I can read that they cannot (for the grant offer)
    role: str = Role.CASEWORKER.value


def colleagues(roster: Roster, me: RosterMember, queue: str | None) -> list[RosterMember]:
    """Caseworkers on the roster (me included) who share a queue with me, or who are in `queue` if it is mine."""
    mine = set(me.queues) if queue is None else ({queue} & set(me.queues))
    return [m for m in roster.members if m.role is Role.CASEWORKER and mine & set(m.queues)]


def _readers(case: Case, bot_keys: Collection[VerifyKey]) -> set[bytes]:
    if case.envelope is None:
        return set()
    try:
        header = verify(case.envelope, trusted_signers=bot_keys, case_id=case.id, queue=case.queue,
                        kinds={Kind.REQUEST})
    except EnvelopeRejected:
        return set()
    return {bytes(k) for k in header.recipients}


def members(roster: Roster, me: RosterMember, queue: str | None, cases: Iterable[Case],
            bot_keys: Collection[VerifyKey], granted: Mapping[str, Collection[CaseId]], now: int) -> list[Member]:
    """Colleagues sharing my queues (or `queue`), each with how many open cases I can read and they cannot.

    `cases`: the open cases of my queues, with their request envelopes; `granted`: by member name
    (mine included), the cases the server holds a grant to them for. Nothing is decrypted: who
    can read a request is in its signed header, and a grant is taken at the server's word here
    (it only decides whether a grant is offered; whoever uses one verifies it).
    """
    people = colleagues(roster, me, queue)
    mine = bytes(me.identity.key_id)
    my_grants = set(granted.get(me.name, ()))
    open_cases = [c for c in cases if c.status is not Status.CLOSED and (queue is None or c.queue == queue)]
    readers = {c.id: _readers(c, bot_keys) for c in open_cases}
    readable = [c for c in open_cases if mine in readers[c.id] or c.id in my_grants]
    found: list[Member] = []
    for person in people:
        shared = set(person.queues) & set(me.queues)
        key = bytes(person.identity.key_id)
        theirs = set(granted.get(person.name, ()))
        missing = 0 if person.name == me.name else sum(
            1 for c in readable if c.queue in shared and key not in readers[c.id] and c.id not in theirs)
        found.append(Member(person.name, frozenset(person.queues), person.active(now), missing))
    return sorted(found, key=lambda m: m.name.casefold())


def check_assignee(roster: Roster, case: Case, name: str, now: int) -> RosterMember:
    """The roster member `name` if they are an active caseworker of the case's queue; else AssignmentRefused.

    Whether the case's status allows it (not closed) is storage's check, made in the same transaction.
    """
    member = roster.find(name)
    if member is None:
        raise AssignmentRefused(f"nobody called {name!r} is on the roster: check the name (see `staff members`)")
    if member.role is not Role.CASEWORKER:
        raise AssignmentRefused(f"{name} is a {member.role.value}, not a caseworker: only caseworkers take cases")
    if not member.active(now):
        raise AssignmentRefused(f"{name} is revoked or expired on the roster: assign the case to someone active")
    if case.queue not in member.queues:
        raise AssignmentRefused(f"{name} does not work on queue '{case.queue}': assign it to a caseworker of that "
                                "queue, or ask an admin to add them to it")
    return member
