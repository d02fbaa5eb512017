"""Where the inbox gets its cases: the staff API (remote) or a server home (direct), on one thread.

Both desks verify and decrypt exactly as the CLI does (staff.remote,
staff.direct, staff.casework) and raise StaffError leaves worded for a person.
All calls run on one dedicated thread (DeskThread): a SQLCipher connection may
only be used by the thread that opened it, and the terminal stays responsive
while the network is slow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, Self, TypeVar

from crypto.keys import Identity
from crypto.roster import Role
from staff.casework import CaseDetail, direct_detail, seal_note, seal_reply
from staff.direct import CaseView, ReadState, StaffSession
from staff.errors import CaseUnavailable, ChangeRefused, InputRejected, NotOnRoster
from staff.pins import PinStore
from staff.remote import RemoteStaff
from storage.cases import Case, CaseId, EventKind
from storage.errors import CaseNotFound, ClaimConflict, TransitionRefused
from storage.outbox import OutboxStore
from storage.server import Server

T = TypeVar("T")

#: Seconds before a staff API call is given up (the inbox says so and stays usable).
TIMEOUT = 15.0


class Desk(Protocol):
    """What the inbox needs from either mode. Case ids are full ids."""

    me: str
    where: str
    greeting: str | None

    def refresh(self) -> None: ...
    def list(self) -> list[CaseView]: ...
    def detail(self, case_id: CaseId) -> CaseDetail: ...
    def claim(self, case_id: CaseId) -> None: ...
    def note(self, case_id: CaseId, text: str) -> None: ...
    def reply(self, case_id: CaseId, text: str) -> None: ...
    def close(self, case_id: CaseId) -> None: ...
    def reopen(self, case_id: CaseId) -> None: ...
    def shut(self) -> None: ...


class RemoteDesk:
    """The staff API through staff.remote.RemoteStaff (pins, roster and every envelope checked there)."""

    def __init__(self, client: RemoteStaff) -> None:
        self.client = client
        self.where = client.server
        self.greeting: str | None = None
        session = client.connect()
        if session.newly_pinned:
            self.greeting = (f"first contact with {client.server}: pinned {'; '.join(session.newly_pinned)}. "
                             "Compare these fingerprints with your admin.")
        self.me = self._check_caseworker()

    @classmethod
    def open(cls, server: str, identity: Identity, pins: PinStore) -> RemoteDesk:
        """Connect to a staff server as `identity`."""
        client = RemoteStaff(server, identity, pins, timeout=TIMEOUT)
        try:
            return cls(client)
        except BaseException:
            client.close_connection()
            raise

    def _check_caseworker(self) -> str:
        me = self.client.session.me
        if me.role is not Role.CASEWORKER:
            raise NotOnRoster(f"{me.name} is a {me.role.value}, not a caseworker: the inbox shows case content only")
        return me.name

    def refresh(self) -> None:
        """Fetch /info again: a changed roster (new colleague, revocation) is verified and used from now on."""
        self.client.connect()
        self._check_caseworker()

    def list(self) -> list[CaseView]:
        return self.client.list()

    def detail(self, case_id: CaseId) -> CaseDetail:
        return self.client.fetch(case_id)

    def claim(self, case_id: CaseId) -> None:
        self.client.claim(case_id)

    def note(self, case_id: CaseId, text: str) -> None:
        self.client.note(case_id, text)

    def reply(self, case_id: CaseId, text: str) -> None:
        self.client.reply(case_id, text)

    def close(self, case_id: CaseId) -> None:
        self.client.close(case_id)

    def reopen(self, case_id: CaseId) -> None:
        self.client.reopen(case_id)

    def shut(self) -> None:
        self.client.close_connection()


@contextmanager
def _storage_refusals() -> Iterator[None]:
    """Storage's refusals as the staff client words them (as the API would answer)."""
    try:
        yield
    except CaseNotFound as err:
        raise CaseUnavailable("no such case in your queues") from err
    except (ClaimConflict, TransitionRefused) as err:
        raise ChangeRefused(str(err)) from err


class DirectDesk:
    """A server home on this machine, through staff.direct and storage (same sealing and audit as the CLI)."""

    def __init__(self, server: Server, identity: Identity, clock: Callable[[], float] = time.time) -> None:
        self.server = server
        self.identity = identity
        self.clock = clock
        self.where = str(server.home.root)
        self.greeting: str | None = None
        self.session = StaffSession.start(server, identity, self._now())
        self.me = self.session.member.name

    @classmethod
    def open(cls, home: Path, identity: Identity, clock: Callable[[], float] = time.time) -> DirectDesk:
        """Open a server home and check that `identity` is an active caseworker on its roster."""
        server = Server.open(home)
        try:
            return cls(server, identity, clock)
        except BaseException:
            server.close()
            raise

    def _now(self) -> int:
        return int(self.clock())

    def _case(self, case_id: CaseId) -> Case:
        with _storage_refusals():
            case = self.server.cases.fetch(case_id)
        if case.queue not in self.session.member.queues:
            raise NotOnRoster(f"this key is not on the roster for queue '{case.queue}'")
        return case

    def refresh(self) -> None:
        """Check the roster again (a revoked key stops working at the next refresh)."""
        self.session = StaffSession.start(self.server, self.identity, self._now())

    def list(self) -> list[CaseView]:
        return self.session.list()

    def detail(self, case_id: CaseId) -> CaseDetail:
        return direct_detail(self.session, self._case(case_id), self._now())

    def claim(self, case_id: CaseId) -> None:
        self._case(case_id)
        with _storage_refusals():
            self.server.cases.claim(case_id, self.me, self._now())

    def note(self, case_id: CaseId, text: str) -> None:
        case, now = self._case(case_id), self._now()
        envelope = seal_note(text, case, self.identity, self.server.roster(now), now)
        with _storage_refusals():
            self.server.cases.add_event(case_id, EventKind.NOTE, self.me, now, envelope)

    def reply(self, case_id: CaseId, text: str) -> None:
        case, now = self._case(case_id), self._now()
        view = self.session.read(case, book=self.session.book([case.id]))  # a request granted to me can be answered
        if view.state is not ReadState.OK or view.request is None:
            raise InputRejected(f"the request of {case_id} does not verify, so it cannot be answered")
        bot = self.server.bot_identity().box_private.public_key
        sealed = seal_reply(text, view.request, view.case, self.identity, self.server.roster(now), bot, now)
        with _storage_refusals():
            OutboxStore(self.server.db).queue_reply(case_id, self.me, sealed.to_bot, sealed.to_person, sealed.copy,
                                                    now)

    def close(self, case_id: CaseId) -> None:
        self._case(case_id)
        with _storage_refusals():
            self.server.cases.close(case_id, self.me, self._now())

    def reopen(self, case_id: CaseId) -> None:
        self._case(case_id)
        with _storage_refusals():
            self.server.cases.reopen(case_id, self.me, self._now())

    def shut(self) -> None:
        self.server.close()


class DeskThread:
    """The one thread that opens, uses and closes a desk."""

    def __init__(self, open_desk: Callable[[], Desk]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="waystation-desk")
        try:
            self.desk: Desk = self._pool.submit(open_desk).result()
        except BaseException:
            self._pool.shutdown(wait=True, cancel_futures=True)
            raise

    async def call(self, work: Callable[[Desk], T]) -> T:
        """Run `work(desk)` on the desk's thread; cancelling the await drops it if it has not started."""
        return await asyncio.wrap_future(self._pool.submit(work, self.desk))

    def close(self) -> None:
        """Close the desk (database or HTTP client) on its thread, then the thread."""
        try:
            self._pool.submit(self.desk.shut).result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
