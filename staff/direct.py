"""Direct mode: a caseworker on the server machine reads cases with their own key.

Every envelope is verified (bot signature, case and queue binding) before
anything is shown; a case that fails is reported as rejected, never skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nacl.signing import VerifyKey

from crypto.envelope import Kind
from crypto.errors import EnvelopeRejected, NotARecipient
from crypto.keys import Identity
from crypto.roster import Member, Role
from staff.errors import NotOnRoster
from staff.grants import (
    GrantBook,
    GrantOutcome,
    GrantsRefused,
    choose_recipient,
    grant_to,
    open_for_me,
)
from storage.cases import Case, CaseId, Event, Status
from storage.grants import check_grant
from storage.server import Server


class ReadState(StrEnum):
    """Whether a case could be read with this key."""

    OK = "ok"
    REJECTED = "rejected"
    NOT_FOR_THIS_KEY = "not-for-this-key"


@dataclass(frozen=True)
class CaseView:
    """A case as one caseworker sees it."""

    case: Case
    state: ReadState
    request: dict[str, Any] | None
    problem: str | None


@dataclass(frozen=True)
class StaffSession:
    """A verified caseworker working on one server."""

    server: Server
    identity: Identity
    member: Member
    now: int

    @classmethod
    def start(cls, server: Server, identity: Identity, now: int) -> StaffSession:
        """Check that the key belongs to an active caseworker on the verified roster."""
        roster = server.roster(now)
        member = roster.by_verify_key(identity.signing_key.verify_key)
        if member is None or member.identity.box_key != identity.box_private.public_key:
            raise NotOnRoster("this key is not on the roster: it can read nothing")
        if not member.active(now):
            raise NotOnRoster(f"{member.name} is revoked or expired on the roster: this key reads nothing")
        if member.role is not Role.CASEWORKER:
            raise NotOnRoster(f"{member.name} has the role {member.role.value}, not caseworker: this key reads no case")
        return cls(server, identity, member, now)

    def read(self, case: Case, signers: list[VerifyKey] | None = None, book: GrantBook | None = None) -> CaseView:
        """Verify and decrypt one case (which must carry its envelope); `signers`: the bot keys, if loaded.

        A request not sealed to this key is opened through a grant in `book`, if one verifies.
        """
        if case.queue not in self.member.queues:
            return CaseView(case, ReadState.NOT_FOR_THIS_KEY, None,
                            f"this key is not on the roster for queue '{case.queue}'")
        if case.envelope is None:
            raise ValueError("case was loaded without its envelope")
        if signers is None:
            signers = self.server.trusted_bot_keys()  # outside the try: a damaged key file is not "bad JSON"
        try:
            opened = open_for_me(case.envelope, case=case, kind=Kind.REQUEST, identity=self.identity,
                                 signers=signers, book=book)
            request = json.loads(opened.payload.decode("utf-8"))
            if not isinstance(request, dict):
                raise ValueError("request is not an object")
        except GrantsRefused as err:
            return CaseView(case, ReadState.NOT_FOR_THIS_KEY, None,
                            f"this request was not encrypted to your key; a grant for it was refused ({err.reason})")
        except NotARecipient:
            # Not a forgery: sealed before this key joined the queue (or only to a key since lost), as remote mode says.
            return CaseView(case, ReadState.NOT_FOR_THIS_KEY, None,
                            "this request was not encrypted to your key (sealed before you joined the queue?)")
        except EnvelopeRejected as err:
            return CaseView(case, ReadState.REJECTED, None, f"{type(err).__name__}: {err}")
        except ValueError:
            return CaseView(case, ReadState.REJECTED, None, "the decrypted request is not valid JSON")
        return CaseView(case, ReadState.OK, request, None)

    def book(self, case_ids: list[CaseId] | None = None) -> GrantBook:
        """The grants addressed to this key (for `case_ids`, or all of its queues), to verify when used."""
        key = self.member.identity.key_id
        store = self.server.grants
        if case_ids is not None:
            grants = {c: store.for_case(c, key) for c in case_ids}
        else:
            grants = {}
            for stored in store.for_recipient(key, self.member.queues):
                grants.setdefault(stored.case_id, []).append(stored.body)
        return GrantBook(self.identity, self.server.roster(self.now), grants)

    def list(self) -> list[CaseView]:
        """Every case in this caseworker's queues, verified and decrypted (through grants where need be)."""
        cases = self.server.cases.list(queues=self.member.queues, with_envelopes=True)
        signers = self.server.trusted_bot_keys()  # read the key files once, not once per case
        views = [self.read(c, signers) for c in cases]
        if any(v.state is ReadState.NOT_FOR_THIS_KEY for v in views):
            book = self.book()
            views = [self.read(v.case, signers, book) if v.state is ReadState.NOT_FOR_THIS_KEY else v
                     for v in views]
        return views

    def grant(self, name: str, queue: str | None = None) -> GrantOutcome:
        """As RemoteStaff.grant, on this server home: the same grants, checked as the staff API checks them."""
        roster = self.server.roster(self.now)
        recipient, queues = choose_recipient(roster, self.member, name, queue, self.now)
        return grant_to(DirectCases(self), identity=self.identity, recipient=recipient, queues=queues, roster=roster,
                        bot_keys=self.server.trusted_bot_keys(), now=self.now)

    def show(self, case_ref: str) -> tuple[CaseView, list[Event]]:
        """One case (by id or unique prefix) and its events."""
        store = self.server.cases
        case = store.fetch(store.resolve(case_ref))
        view = self.read(case, book=self.book([case.id]))
        if view.state is ReadState.NOT_FOR_THIS_KEY:
            # Direct mode runs on the server, where the database already shows which cases exist.
            raise NotOnRoster(view.problem or "not readable with this key")
        return view, store.events(case.id)


class DirectCases:
    """A server home as a grant source (staff.grants.GrantSource): storage, with the staff API's checks."""

    def __init__(self, session: StaffSession) -> None:
        self.session = session

    def open_cases(self, queues: list[str]) -> list[Case]:
        return self.session.server.cases.list(queues=queues, statuses=(Status.NEW, Status.CLAIMED))

    def case_and_events(self, case: Case) -> tuple[Case, list[Event]]:
        store = self.session.server.cases
        return store.fetch(case.id), store.events(case.id)

    def my_grants(self, case: Case) -> list[bytes]:
        return self.session.server.grants.for_case(case.id, self.session.member.identity.key_id)

    def submit_grant(self, case: Case, grant: bytes) -> None:
        server, now = self.session.server, self.session.now
        header = check_grant(grant, case, server.cases.events(case.id), server.roster(now), self.session.member, now)
        server.grants.store(case.id, grant, header, self.session.member.name, now)
