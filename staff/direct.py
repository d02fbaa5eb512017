"""Direct mode: a caseworker on the server machine reads and works on cases with their own key.

The server side of the staff package: it opens the server home (storage, SQLCipher), so the
caseworker's client modules never import it (tests/test_crypto_policy.py). Every envelope is
verified (bot signature, case and queue binding) before anything is shown; a case that fails
is reported as rejected, never skipped. DirectDesk is staff.desk.Desk on a server home: the
same sealing as the remote client, and the same audit entries as the staff API.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from nacl.signing import VerifyKey

from crypto.envelope import Kind
from crypto.errors import EnvelopeRejected, NotARecipient
from crypto.keys import Identity
from crypto.roster import Member, Role
from model.cases import Case, CaseId, Event, EventKind, Status
from model.views import CaseView as CaseView
from model.views import ReadState as ReadState
from staff import team
from staff.casework import CaseDetail, fold_tags, read_event, seal_note, seal_reply, seal_tag, with_tags
from staff.errors import CaseUnavailable, ChangeRefused, InputRejected, NotAllowed, NotOnRoster, ServerHomeFailed
from staff.grants import (
    GrantBook,
    GrantOutcome,
    GrantsRefused,
    choose_recipient,
    grant_to,
    open_for_me,
)
from staff.handover import Handover, make_export, open_export
from staff.listing import CaseReader
from staff.stats import Stats, remember_urgency, weeks_start
from staff.stats import build as build_stats
from storage.errors import CaseNotFound, ClaimConflict, StorageError, TransitionRefused
from storage.grants import check_grant
from storage.outbox import OutboxStore
from storage.server import Server


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
        return [view for batch in self.list_batches() for view in batch]

    def list_batches(self, statuses: Collection[Status] | None = None,
                     reader: CaseReader | None = None) -> Iterator[builtins.list[CaseView]]:
        """The cases list() returns, in batches as they are read (by `reader`'s workers when many)."""
        cases = self.server.cases.list(queues=self.member.queues, statuses=statuses, with_envelopes=True)
        signers = self.server.trusted_bot_keys()  # read the key files once, not once per case
        if reader is None or reader.bot_keys != signers:
            reader = CaseReader(self.identity, signers, workers=1)
        book: GrantBook | None = None
        roster = self.server.roster(self.now)
        for views in reader.batches(cases):
            if book is None and any(v.state is ReadState.NOT_FOR_THIS_KEY or v.case.tag_events for v in views):
                book = self.book()
            if book is not None:
                views = [self.read(v.case, signers, book) if v.state is ReadState.NOT_FOR_THIS_KEY else v
                         for v in views]
            yield [with_tags(v, self.identity, roster, signers, self.now, book) if v.case.tag_events else v
                   for v in views]

    def grant(self, name: str, queue: str | None = None) -> GrantOutcome:
        """As RemoteStaff.grant, on this server home: the same grants, checked as the staff API checks them."""
        roster = self.server.roster(self.now)
        recipient, queues = choose_recipient(roster, self.member, name, queue, self.now)
        return grant_to(DirectCases(self), identity=self.identity, recipient=recipient, queues=queues, roster=roster,
                        bot_keys=self.server.trusted_bot_keys(), now=self.now)

    def show(self, case_ref: str) -> tuple[CaseView, builtins.list[Event]]:
        """One case (by id or unique prefix) and its events."""
        store = self.server.cases
        case = store.fetch(store.resolve(case_ref))
        view = self.read(case, book=self.book([case.id]))
        if view.state is ReadState.NOT_FOR_THIS_KEY:
            # Direct mode runs on the server, where the database already shows which cases exist.
            raise NotOnRoster(view.problem or "not readable with this key")
        return view, store.events(case.id)

    def detail(self, case: Case, now: int) -> CaseDetail:
        """A case of this server home with its history, read exactly as the remote client reads it."""
        book = self.book([case.id])
        view = self.read(case, book=book)
        roster, bot_keys = self.server.roster(now), self.server.trusted_bot_keys()
        events = [read_event(view.case, event, self.identity, roster, bot_keys, now, book)
                  for event in self.server.cases.events(case.id)]
        return CaseDetail(replace(view, tags=fold_tags(events)), events)


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


@contextmanager
def _storage_refusals() -> Iterator[None]:
    """Storage's refusals as staff errors, in the same words (the CLI prints them as it always did)."""
    try:
        yield
    except CaseNotFound as err:
        raise CaseUnavailable(str(err)) from err
    except (ClaimConflict, TransitionRefused) as err:
        raise ChangeRefused(str(err)) from err
    except StorageError as err:
        raise ServerHomeFailed(str(err)) from err


class DirectDesk:
    """staff.desk.Desk on a server home on this machine: storage, with the staff API's sealing and audit."""

    def __init__(self, server: Server, identity: Identity, clock: Callable[[], float] = time.time) -> None:
        self.server = server
        self.identity = identity
        self.clock = clock
        self.where = str(server.home.root)
        self.greeting: str | None = None
        self._reader: CaseReader | None = None
        #: The urgency answer of each case this desk has decrypted (for statistics; nothing else is kept).
        self.urgency: dict[CaseId, str] = {}
        with _storage_refusals():
            self.session = StaffSession.start(server, identity, self._now())
        self.me = self.session.member.name

    @classmethod
    def open(cls, home: Path, identity: Identity, clock: Callable[[], float] = time.time) -> DirectDesk:
        """Open a server home and check that `identity` is an active caseworker on its roster."""
        with _storage_refusals():
            server = Server.open(home)
        try:
            return cls(server, identity, clock)
        except BaseException:
            server.close()
            raise

    def _now(self) -> int:
        return int(self.clock())

    def _case(self, case_ref: str) -> Case:
        """The case named by its id or a unique prefix, if it is in one of my queues."""
        store = self.server.cases
        with _storage_refusals():
            case = store.fetch(store.resolve(case_ref))
        if case.queue not in self.session.member.queues:
            raise NotOnRoster(f"this key is not on the roster for queue '{case.queue}'")
        return case

    def refresh(self) -> None:
        """Check the roster again (a revoked key stops working at the next refresh)."""
        with _storage_refusals():
            self.session = StaffSession.start(self.server, self.identity, self._now())

    def list(self, statuses: Collection[Status] | None = None) -> list[CaseView]:
        return [view for batch in self.list_batches(statuses) for view in batch]

    def list_batches(self, statuses: Collection[Status] | None = None) -> Iterator[builtins.list[CaseView]]:
        with _storage_refusals():
            signers = self.server.trusted_bot_keys()
            if self._reader is None or self._reader.bot_keys != signers:
                if self._reader is not None:
                    self._reader.close()
                self._reader = CaseReader(self.identity, signers)
            for batch in self.session.list_batches(statuses, self._reader):
                remember_urgency(self.urgency, batch)
                yield batch

    def detail(self, case_ref: str) -> CaseDetail:
        case = self._case(case_ref)
        with _storage_refusals():
            return self.session.detail(case, self._now())

    def _change(self, case_ref: str, change: Callable[[CaseId, str, int], object]) -> Case:
        case = self._case(case_ref)
        with _storage_refusals():
            change(case.id, self.me, self._now())
            return self.server.cases.fetch(case.id)

    def claim(self, case_ref: str) -> Case:
        return self._change(case_ref, self.server.cases.claim)

    def take_over(self, case_ref: str) -> Case:
        return self._change(case_ref, self.server.cases.take_over)

    def close(self, case_ref: str) -> Case:
        return self._change(case_ref, self.server.cases.close)

    def reopen(self, case_ref: str) -> Case:
        return self._change(case_ref, self.server.cases.reopen)

    def note(self, case_ref: str, text: str) -> tuple[CaseId, int]:
        case, now = self._case(case_ref), self._now()
        with _storage_refusals():
            envelope = seal_note(text, case, self.identity, self.server.roster(now), now)
            return case.id, self.server.cases.add_event(case.id, EventKind.NOTE, self.me, now, envelope)

    def reply(self, case_ref: str, text: str) -> tuple[CaseId, int]:
        case, now = self._case(case_ref), self._now()
        with _storage_refusals():
            view = self.session.read(case, book=self.session.book([case.id]))  # a request granted to me can be answered
            if view.state is not ReadState.OK or view.request is None:
                raise InputRejected(f"the request of {case.id} does not verify, so it cannot be answered")
            bot = self.server.bot_identity().box_private.public_key
            sealed = seal_reply(text, view.request, case, self.identity, self.server.roster(now), bot, now)
            return case.id, OutboxStore(self.server.db).queue_reply(case.id, self.me, sealed.to_bot,
                                                                    sealed.to_person, sealed.copy, now)

    def grant(self, name: str, queue: str | None = None) -> GrantOutcome:
        with _storage_refusals():
            return self.session.grant(name, queue)

    def assign(self, case_ref: str, name: str) -> Case:
        case, now = self._case(case_ref), self._now()
        with _storage_refusals():
            member = team.check_assignee(self.server.roster(now), case, name.strip(), now)
            self.server.cases.assign(case.id, self.me, member.name, now)
            return self.server.cases.fetch(case.id)

    def _tag(self, case_ref: str, tag: str, kind: EventKind) -> tuple[CaseId, int]:
        case, now = self._case(case_ref), self._now()
        with _storage_refusals():
            envelope = seal_tag(tag, kind, case, self.identity, self.server.roster(now), now)
            return case.id, self.server.cases.add_event(case.id, kind, self.me, now, envelope)

    def tag(self, case_ref: str, tag: str) -> tuple[CaseId, int]:
        return self._tag(case_ref, tag, EventKind.TAG)

    def untag(self, case_ref: str, tag: str) -> tuple[CaseId, int]:
        return self._tag(case_ref, tag, EventKind.UNTAG)

    def members(self, queue: str | None = None) -> builtins.list[team.Member]:
        me = self.session.member
        if queue is not None and queue not in me.queues:
            raise NotAllowed(f"queue '{queue}' is not one of yours")
        now = self._now()
        with _storage_refusals():
            roster = self.server.roster(now)
            cases = self.server.cases.list(queues=me.queues, statuses=(Status.NEW, Status.CLAIMED),
                                           with_envelopes=True)
            queues = me.queues if queue is None else (queue,)
            granted: dict[str, builtins.list[CaseId]] = {}
            for person in team.colleagues(roster, me, queue):
                shared = [q for q in person.queues if q in queues]
                granted[person.name] = [g.case_id for g in
                                        self.server.grants.for_recipient(person.identity.key_id, shared)]
            return team.members(roster, me, queue, cases, self.server.trusted_bot_keys(), granted, now)

    def stats(self, weeks: int = 12) -> Stats:
        now = self._now()
        try:
            since = weeks_start(now, weeks)
        except ValueError as err:
            raise InputRejected(str(err)) from err
        with _storage_refusals():
            times = self.server.cases.times(queues=self.session.member.queues, since=since)
        return build_stats(times, weeks=weeks, since=since, urgency=self.urgency)

    def export(self, case_refs: Sequence[str], to: str) -> bytes:
        details = [self.detail(ref) for ref in case_refs]
        now = self._now()
        with _storage_refusals():
            roster = self.server.roster(now)
        return make_export(details, identity=self.identity, me=self.session.member, to=to, roster=roster, now=now)

    def import_handover(self, data: bytes) -> Handover:
        with _storage_refusals():
            roster = self.server.roster(self._now())
        return open_export(self.identity, data, roster)

    def shut(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self.server.close()
