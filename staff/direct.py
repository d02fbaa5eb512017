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

from crypto.envelope import Kind, open_envelope
from crypto.errors import EnvelopeRejected, NotARecipient
from crypto.keys import Identity
from crypto.roster import Member, Role
from staff.errors import NotOnRoster
from storage.cases import Case, Event
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

    def read(self, case: Case, signers: list[VerifyKey] | None = None) -> CaseView:
        """Verify and decrypt one case (which must carry its envelope); `signers`: the bot keys, if loaded."""
        if case.queue not in self.member.queues:
            return CaseView(case, ReadState.NOT_FOR_THIS_KEY, None,
                            f"this key is not on the roster for queue '{case.queue}'")
        if case.envelope is None:
            raise ValueError("case was loaded without its envelope")
        if signers is None:
            signers = self.server.trusted_bot_keys()  # outside the try: a damaged key file is not "bad JSON"
        try:
            opened = open_envelope(
                case.envelope,
                recipient=self.identity.box_private,
                trusted_signers=signers,
                case_id=case.id,
                queue=case.queue,
                kinds={Kind.REQUEST},
                recipient_id=self.member.identity.key_id,
            )
            request = json.loads(opened.payload.decode("utf-8"))
            if not isinstance(request, dict):
                raise ValueError("request is not an object")
        except NotARecipient:
            # Not a forgery: sealed before this key joined the queue (or only to a key since lost), as remote mode says.
            return CaseView(case, ReadState.NOT_FOR_THIS_KEY, None,
                            "this request was not encrypted to your key (sealed before you joined the queue?)")
        except EnvelopeRejected as err:
            return CaseView(case, ReadState.REJECTED, None, f"{type(err).__name__}: {err}")
        except ValueError:
            return CaseView(case, ReadState.REJECTED, None, "the decrypted request is not valid JSON")
        return CaseView(case, ReadState.OK, request, None)

    def list(self) -> list[CaseView]:
        """Every case in this caseworker's queues, verified and decrypted."""
        cases = self.server.cases.list(queues=self.member.queues, with_envelopes=True)
        signers = self.server.trusted_bot_keys()  # read the key files once, not once per case
        return [self.read(c, signers) for c in cases]

    def show(self, case_ref: str) -> tuple[CaseView, list[Event]]:
        """One case (by id or unique prefix) and its events."""
        store = self.server.cases
        case = store.fetch(store.resolve(case_ref))
        view = self.read(case)
        if view.state is ReadState.NOT_FOR_THIS_KEY:
            # Direct mode runs on the server, where the database already shows which cases exist.
            raise NotOnRoster(view.problem or "not readable with this key")
        return view, store.events(case.id)
