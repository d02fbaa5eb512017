"""Grants on the caseworker's side: read through the grants addressed to my key, and grant to a colleague.

Reading (`GrantBook`, `open_for_me`): an envelope not sealed to my key is opened with a
content key from a grant only after the grant verified against *my* verified roster: its
signer is a caseworker of the case's queue who was never revoked and was a member at the
grant's time, with the granter key id theirs (model.grants.trusted_granters,
granter_member); it is bound to this case id and queue, addressed to my key, and names this
envelope's exact digest. The envelope itself then passes every envelope check (signer,
binding, AEAD), so a wrong key fails. A refused grant is reported, never used.

Granting (`grant_to`): one code path for remote and direct mode. For every open case of the
queues the granter shares with the recipient, each envelope sealed to caseworkers (request,
notes, follow-ups, reply copies) that the recipient cannot open yet is opened by the granter
(from their own slot, or from a grant they verified) and its content key re-sealed to the
recipient's key on the verified roster: one signed grant per case.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from nacl.signing import VerifyKey

from crypto.envelope import (
    Kind,
    Opened,
    open_envelope,
    open_with_content_key,
    recover_content_key,
    verify,
)
from crypto.errors import EnvelopeRejected, GrantRejected, NotARecipient
from crypto.grant import envelope_digest, make_grant, open_grant, verify_grant
from crypto.keys import Identity
from crypto.roster import Member, Role, Roster
from model.cases import Case, CaseId, Event, Status
from model.grants import granter_member, sealed_envelopes, trusted_granters
from staff.errors import GrantImpossible


class GrantsRefused(NotARecipient):
    """Not sealed to my key, and every grant offered for it failed a check (`reason`: the last failure)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not encrypted to your key, and a grant for it was refused ({reason})")
        self.reason = reason


class GrantBook:
    """The grants addressed to one key, by case; each verified against the reader's roster when used."""

    def __init__(self, identity: Identity, roster: Roster, grants: Mapping[CaseId, list[bytes]]) -> None:
        self.identity = identity
        self.roster = roster
        self.grants = grants

    def content_key(self, case: Case, envelope: bytes) -> bytes:
        """A content key for `envelope` from a grant that passes every check; else NotARecipient, saying why."""
        refused: list[str] = []
        signers = trusted_granters(self.roster, case.queue)
        for grant in self.grants.get(case.id, []):
            try:
                header = verify_grant(grant, trusted_signers=signers, case_id=case.id, queue=case.queue)
                granter_member(self.roster, header)
                return open_grant(grant, envelope, recipient=self.identity.box_private, trusted_signers=signers,
                                  case_id=case.id, queue=case.queue)
            except GrantRejected as err:
                refused.append(f"{type(err).__name__}: {err}")
        if refused:
            raise GrantsRefused(refused[-1])
        raise NotARecipient("not encrypted to your key")


def open_for_me(envelope: bytes, *, case: Case, kind: Kind, identity: Identity, signers: Collection[VerifyKey],
                book: GrantBook | None) -> Opened:
    """Verify and decrypt an envelope of `case` with my key, or else with a verified grant to my key."""
    try:
        return open_envelope(envelope, recipient=identity.box_private, trusted_signers=signers, case_id=case.id,
                             queue=case.queue, kinds={kind}, recipient_id=identity.public.key_id)
    except NotARecipient:
        if book is None:
            raise
        content_key = book.content_key(case, envelope)
    return open_with_content_key(envelope, content_key, trusted_signers=signers, case_id=case.id, queue=case.queue,
                                 kinds={kind})


def _content_key(envelope: bytes, *, case: Case, kind: Kind, identity: Identity, signers: Collection[VerifyKey],
                 book: GrantBook | None) -> bytes:
    try:
        return recover_content_key(envelope, recipient=identity.box_private, trusted_signers=signers,
                                   case_id=case.id, queue=case.queue, kinds={kind},
                                   recipient_id=identity.public.key_id)
    except NotARecipient:
        if book is None:
            raise
        content_key = book.content_key(case, envelope)
    open_with_content_key(envelope, content_key, trusted_signers=signers, case_id=case.id, queue=case.queue,
                          kinds={kind})  # hand on only a key that really opens it
    return content_key


def signers_for(kind: Kind, roster: Roster, bot_keys: Collection[VerifyKey]) -> list[VerifyKey]:
    """Who may have signed an envelope of `kind`: the bot's keys, or any caseworker on the roster."""
    if kind in (Kind.REQUEST, Kind.FOLLOW_UP):
        return list(bot_keys)
    return [m.identity.verify_key for m in roster.members if m.role is Role.CASEWORKER]


def choose_recipient(roster: Roster, me: Member, name: str, queue: str | None, now: int) -> tuple[Member, list[str]]:
    """The member called `name` and the queues to grant them: those we share (or `queue`, if we both have it)."""
    member = roster.find(name)
    if member is None:
        raise GrantImpossible(f"no member called {name!r} on the roster")
    if member.revoked is not None:
        raise GrantImpossible(f"{name} is revoked on the roster: a revoked member gets no new grants")
    if not member.active(now):
        raise GrantImpossible(f"{name} has expired on the roster: an admin must renew them first")
    if member.role is not Role.CASEWORKER:
        raise GrantImpossible(f"{name} is a {member.role.value}, not a caseworker: only caseworkers read cases")
    shared = [q for q in me.queues if q in member.queues]
    if queue is not None:
        if queue not in shared:
            raise GrantImpossible(f"queue '{queue}' is not a queue of both you and {name}")
        shared = [queue]
    if not shared:
        raise GrantImpossible(f"you and {name} share no queue")
    return member, shared


class GrantSource(Protocol):
    """Where cases come from and grants go: the staff API (remote) or the server home (direct)."""

    def open_cases(self, queues: list[str]) -> list[Case]: ...

    def case_and_events(self, case: Case) -> tuple[Case, list[Event]]: ...

    def my_grants(self, case: Case) -> list[bytes]: ...

    def submit_grant(self, case: Case, grant: bytes) -> None: ...


@dataclass
class GrantOutcome:
    """What one `staff grant` did, by case id."""

    granted: list[CaseId] = field(default_factory=list)
    already: list[CaseId] = field(default_factory=list)  # the recipient could already open every envelope
    unreadable: list[CaseId] = field(default_factory=list)  # some envelope I cannot open either: not granted


def case_grant(case: Case, events: Iterable[Event], *, identity: Identity, recipient: Member, roster: Roster,
               bot_keys: Collection[VerifyKey], book: GrantBook | None, now: int) -> bytes | None:
    """One signed grant of what the recipient cannot open yet in this case; None if nothing is missing.

    Raises EnvelopeRejected (from which NotARecipient) when some such envelope does not open for me either.
    """
    keys: dict[bytes, bytes] = {}
    for sealed in sealed_envelopes(case, events):
        signers = signers_for(sealed.kind, roster, bot_keys)
        header = verify(sealed.envelope, trusted_signers=signers, case_id=case.id, queue=case.queue,
                        kinds={sealed.kind})
        if recipient.identity.key_id in header.recipients:
            continue
        keys[envelope_digest(sealed.envelope)] = _content_key(sealed.envelope, case=case, kind=sealed.kind,
                                                              identity=identity, signers=signers, book=book)
    if not keys:
        return None
    return make_grant(keys, case_id=case.id, queue=case.queue, recipient=recipient.identity.box_key,
                      granter=identity.box_private.public_key, signer=identity.signing_key, at=now)


def grant_to(source: GrantSource, *, identity: Identity, recipient: Member, queues: list[str],
             roster: Roster, bot_keys: Collection[VerifyKey], now: int) -> GrantOutcome:
    """Grant `recipient` every open case of `queues` that I can read and they cannot (docs/operations.md)."""
    outcome = GrantOutcome()
    for listed in source.open_cases(queues):
        if listed.status is Status.CLOSED:
            continue
        case, events = source.case_and_events(listed)
        grants = source.my_grants(case)
        book = GrantBook(identity, roster, {case.id: grants}) if grants else None
        try:
            grant = case_grant(case, events, identity=identity, recipient=recipient, roster=roster,
                               bot_keys=bot_keys, book=book, now=now)
        except EnvelopeRejected:
            outcome.unreadable.append(case.id)
            continue
        if grant is None:
            outcome.already.append(case.id)
            continue
        source.submit_grant(case, grant)
        outcome.granted.append(case.id)
    return outcome
