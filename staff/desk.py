"""One Desk: every staff action written once, over the staff API (RemoteDesk) or a server home (DirectDesk).

The CLI (`waystation staff ...`), the terminal inbox (staff.tui) and any later front end call
a Desk and print what it returns; how a case is found, verified, decrypted, sealed and changed
is the desk's work. Both desks verify and decrypt exactly alike (staff.casework) and raise
StaffError leaves worded for a person. DirectDesk lives in staff.direct, the server side of
this package: importing this module loads no server code.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterator, Sequence
from typing import Protocol

from crypto.keys import Identity
from crypto.roster import Role
from model.cases import Case, CaseId, EventKind, Status
from model.views import CaseView
from staff.casework import CaseDetail
from staff.errors import NotOnRoster
from staff.grants import GrantOutcome
from staff.handover import Handover, make_export, open_export
from staff.pins import PinStore
from staff.remote import RemoteStaff
from staff.stats import Stats
from staff.team import Member

#: Seconds before a staff API call is given up: a command, and the inbox (which says so and stays usable).
TIMEOUT = 30.0
INBOX_TIMEOUT = 15.0


class Desk(Protocol):
    """What a front end needs from either mode. A case is named by its id or a unique prefix (6+ characters)."""

    me: str  # my name on the roster
    where: str  # the server address or the server home
    greeting: str | None  # said once on opening: keys pinned on first contact

    def refresh(self) -> None:
        """Verify the roster again; a revoked key stops working here."""

    def list(self, statuses: Collection[Status] | None = None) -> list[CaseView]:
        """The cases of my queues (only these statuses, if given), verified and decrypted."""

    def list_batches(self, statuses: Collection[Status] | None = None) -> Iterator[builtins.list[CaseView]]:
        """The cases list() returns, yielded in batches as they are verified and decrypted (the first one fast)."""

    def detail(self, case_ref: str) -> CaseDetail:
        """One case with its history, verified and decrypted as far as my key may."""

    def claim(self, case_ref: str) -> Case:
        """Claim a new case; the case as it is now."""

    def take_over(self, case_ref: str) -> Case:
        """Take over a case a colleague claimed; the case as it is now."""

    def close(self, case_ref: str) -> Case:
        """Close a case; the case as it is now."""

    def reopen(self, case_ref: str) -> Case:
        """Reopen a closed case; the case as it is now."""

    def note(self, case_ref: str, text: str) -> tuple[CaseId, int]:
        """Seal a note to the queue's caseworkers and store it: the case id and the event id."""

    def reply(self, case_ref: str, text: str) -> tuple[CaseId, int]:
        """Seal a reply for the bot to deliver: the case id and the outbox id."""

    def grant(self, name: str, queue: str | None = None) -> GrantOutcome:
        """Grant colleague `name` the open cases of our shared queues (or `queue`) that I can read."""

    def members(self, queue: str | None = None) -> builtins.list[Member]:
        """Caseworkers on the verified roster sharing my queues (or `queue`), with what they cannot read yet."""

    def assign(self, case_ref: str, name: str) -> Case:
        """Assign a case to a named active caseworker of its queue (recorded in its history); the case now."""

    def tag(self, case_ref: str, tag: str) -> tuple[CaseId, int]:
        """Add a tag, sealed like a note: the case id and the event id."""

    def untag(self, case_ref: str, tag: str) -> tuple[CaseId, int]:
        """Remove a tag (a sealed untag event): the case id and the event id."""

    def stats(self, weeks: int = 12) -> Stats:
        """Cases per ISO week by queue, status and urgency, and times to first claim and reply: metadata only."""

    def export(self, case_refs: Sequence[str], to: str) -> bytes:
        """Cases (answers and history as I read them) sealed to roster member `to`'s key and signed by me."""

    def import_handover(self, data: bytes) -> Handover:
        """Open a handover sealed to me, checked against my verified roster (staff.handover.open_export)."""

    def shut(self) -> None:
        """Close the connection or the database."""


class RemoteDesk:
    """The staff API through staff.remote.RemoteStaff (pins, roster and every envelope checked there)."""

    def __init__(self, client: RemoteStaff, *, caseworker_only: bool = True) -> None:
        self.client = client
        self.caseworker_only = caseworker_only
        self.where = client.server
        self.greeting: str | None = None
        session = client.connect()
        if session.newly_pinned:
            self.greeting = (f"first contact with {client.server}: pinned {'; '.join(session.newly_pinned)}. "
                             "Compare these fingerprints with your admin.")
        self.me = self._check_role()

    @classmethod
    def open(cls, server: str, identity: Identity, pins: PinStore, *, timeout: float = TIMEOUT,
             caseworker_only: bool = True) -> RemoteDesk:
        """Connect to a staff server as `identity` (a volunteer too, unless `caseworker_only`)."""
        client = RemoteStaff(server, identity, pins, timeout=timeout)
        try:
            return cls(client, caseworker_only=caseworker_only)
        except BaseException:
            client.close_connection()
            raise

    def _check_role(self) -> str:
        me = self.client.session.me
        if self.caseworker_only and me.role is not Role.CASEWORKER:
            raise NotOnRoster(f"{me.name} is a {me.role.value}, not a caseworker: the inbox shows case content only")
        return me.name

    def refresh(self) -> None:
        """Fetch /info again: a changed roster (new colleague, revocation) is verified and used from now on."""
        self.client.connect()
        self._check_role()

    def list(self, statuses: Collection[Status] | None = None) -> list[CaseView]:
        return self.client.list(None if statuses is None else [*statuses])

    def list_batches(self, statuses: Collection[Status] | None = None) -> Iterator[builtins.list[CaseView]]:
        return self.client.list_batches(None if statuses is None else [*statuses])

    def detail(self, case_ref: str) -> CaseDetail:
        return self.client.fetch(case_ref)

    def claim(self, case_ref: str) -> Case:
        return self.client.claim(case_ref)

    def take_over(self, case_ref: str) -> Case:
        return self.client.take_over(case_ref)

    def close(self, case_ref: str) -> Case:
        return self.client.close(case_ref)

    def reopen(self, case_ref: str) -> Case:
        return self.client.reopen(case_ref)

    def note(self, case_ref: str, text: str) -> tuple[CaseId, int]:
        return self.client.note(case_ref, text)

    def reply(self, case_ref: str, text: str) -> tuple[CaseId, int]:
        return self.client.reply(case_ref, text)

    def grant(self, name: str, queue: str | None = None) -> GrantOutcome:
        return self.client.grant(name, queue)

    def members(self, queue: str | None = None) -> builtins.list[Member]:
        return self.client.members(queue)

    def assign(self, case_ref: str, name: str) -> Case:
        return self.client.assign(case_ref, name)

    def tag(self, case_ref: str, tag: str) -> tuple[CaseId, int]:
        return self.client.tag(case_ref, tag, EventKind.TAG)

    def untag(self, case_ref: str, tag: str) -> tuple[CaseId, int]:
        return self.client.tag(case_ref, tag, EventKind.UNTAG)

    def stats(self, weeks: int = 12) -> Stats:
        return self.client.stats(weeks)

    def export(self, case_refs: Sequence[str], to: str) -> bytes:
        details = [self.client.fetch(ref) for ref in case_refs]
        session = self.client.session
        return make_export(details, identity=self.client.identity, me=session.me, to=to, roster=session.roster,
                           now=int(self.client.clock()))

    def import_handover(self, data: bytes) -> Handover:
        self.refresh()  # the roster as it is now: a signer revoked since the file was made is refused
        return open_export(self.client.identity, data, self.client.session.roster)

    def shut(self) -> None:
        self.client.close_connection()
