"""The grant rules a reader and the server both apply: which envelopes a grant may cover, who may grant.

The server checks a grant with them before storing it (storage.grants.check_grant); every
reader checks it again with their own verified roster (staff.grants): nobody trusts the
server's word that a grant is sound.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nacl.signing import VerifyKey

from crypto.envelope import Kind
from crypto.errors import GrantRejected
from crypto.grant import GrantHeader, coarse_hour
from crypto.roster import Member, Role, Roster
from model.cases import Case, Event, EventKind

#: The envelope kind each event kind that carries content for the caseworkers holds.
CONTENT_KINDS: dict[EventKind, Kind] = {
    EventKind.NOTE: Kind.NOTE, EventKind.FOLLOW_UP: Kind.FOLLOW_UP, EventKind.REPLY: Kind.REPLY,
    # Tags are sealed exactly like notes (kind 2); the payload names the tag and whether it is added
    # or removed, so a server that relabels a note as a tag (or a tag as an untag) is caught on reading.
    EventKind.TAG: Kind.NOTE, EventKind.UNTAG: Kind.NOTE,
}


@dataclass(frozen=True)
class SealedEnvelope:
    """One envelope of a case sealed to the queue's caseworkers, and its kind."""

    envelope: bytes
    kind: Kind


def sealed_envelopes(case: Case, events: Iterable[Event]) -> list[SealedEnvelope]:
    """The request and every note, follow-up and reply copy of a case: what a grant may cover."""
    found = [] if case.envelope is None else [SealedEnvelope(case.envelope, Kind.REQUEST)]
    for event in events:
        kind = CONTENT_KINDS.get(event.kind)
        if kind is not None and event.envelope is not None:
            found.append(SealedEnvelope(event.envelope, kind))
    return found


def trusted_granters(roster: Roster, queue: str) -> list[VerifyKey]:
    """Signing keys whose grants for `queue` are considered: caseworkers of it on the roster, never revoked.

    A revoked member's grants are refused whenever they were made (their key may be in a
    thief's hands, and a grant's time is the signer's own word); an expired member's grants
    made while they were a member stay valid, as their notes do (`granter_member`).
    """
    return [m.identity.verify_key for m in roster.members
            if m.role is Role.CASEWORKER and queue in m.queues and m.revoked is None]


def granter_member(roster: Roster, header: GrantHeader) -> Member:
    """The member who signed a verified grant, if they may have: granter key id theirs, member at its time."""
    member = roster.by_verify_key(header.signer)
    if member is None or member.identity.key_id != header.granter:
        raise GrantRejected("the grant's granter key id is not its signer's")
    if not coarse_hour(member.added) <= header.at < member.expires:
        raise GrantRejected(f"the grant is dated outside {member.name}'s membership")
    return member
