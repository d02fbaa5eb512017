"""The desk process's memory: the open Desk (on its own thread), the inbox rows, and locking.

Every Desk call runs on the desk's one thread (staff.tui.desk.DeskThread: SQLCipher's rule in
direct mode, and the event loop stays free while the network is slow), one call at a time.
Locking closes the desk and drops it with the unlocked key and every decrypted row; unlocking
opens a new one from the key file and the passphrase typed in the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from crypto.errors import CryptoError
from staff.desk import Desk
from staff.errors import StaffError
from staff.team import Member
from staff.tui.desk import DeskThread
from staff.web.inbox import Row, Seen, row_of

T = TypeVar("T")
#: Wrong passphrases typed in the page before the desk ends (Argon2id makes each try slow as well).
MAX_UNLOCK_TRIES = 5

#: From a passphrase to a way to open the desk; raises crypto's PassphraseRejected for a wrong one.
Unlocker = Callable[[bytes], Callable[[], Desk]]


class DeskLocked(Exception):
    """The desk is locked: the page asks for the passphrase."""


@dataclass
class DeskState:
    """One caseworker's desk in this process."""

    unlocker: Unlocker
    thread: DeskThread | None = None
    me: str = ""
    where: str = ""
    rows: dict[str, Row] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)
    seen: Seen = field(default_factory=Seen)
    loaded: bool = False
    refresh_problem: str | None = None
    failed_unlocks: int = 0
    first_batch: threading.Event = field(default_factory=threading.Event)  # set from the desk's thread
    loading: asyncio.Task[None] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def adopt(self, thread: DeskThread) -> None:
        """Use an opened desk."""
        self.thread = thread
        self.me, self.where = thread.desk.me, thread.desk.where

    @property
    def locked(self) -> bool:
        return self.thread is None

    async def call(self, work: Callable[[Desk], T]) -> T:
        """Run `work(desk)` on the desk's thread, one call at a time."""
        async with self._lock:
            if self.thread is None:
                raise DeskLocked
            return await self.thread.call(work)

    async def reload(self, *, team: bool = False) -> None:
        """List the cases again (new cases and follow-ups appear); with `team`, the roster and colleagues too.

        The first listing after unlocking shows each batch as it is verified and decrypted
        (Desk.list_batches), so the inbox has its first cases long before a big list is done.
        After an action only the list is fetched: the staff API counts every request against a budget.
        """
        first = not self.loaded
        fresh: dict[str, Row] = {}

        def listing(desk: Desk) -> None:
            for batch in desk.list_batches(None):
                fresh.update((v.case.id, row_of(v)) for v in batch)
                if first:
                    self.rows = dict(fresh)  # one assignment: the event loop sees the old or the new dict
                    self.first_batch.set()

        try:
            if team or first:
                await self.call(lambda d: d.refresh())  # the roster again: a new colleague, a revocation
            await self.call(listing)
            if team or first:
                self.members = await self.call(lambda d: d.members(None))
        except StaffError as err:
            self.refresh_problem = str(err)  # worded for a person, never case content
            return
        finally:
            self.first_batch.set()
        self.rows = fresh
        self.loaded, self.refresh_problem = True, None

    async def first_screen(self) -> None:
        """Start the first listing if none runs, and return once its first batch is in (or it ended)."""
        if self.loaded:
            return
        if self.loading is None or self.loading.done():
            self.first_batch.clear()
            self.loading = asyncio.create_task(self._first_listing())
        while not self.first_batch.is_set() and not self.loading.done():
            await asyncio.sleep(0.02)

    async def _first_listing(self) -> None:
        with contextlib.suppress(DeskLocked):
            await self.reload()

    async def lock(self) -> None:
        """Close the desk and drop the key and every decrypted row (Python frees them; nothing was on disk)."""
        async with self._lock:
            thread, self.thread = self.thread, None
            self.rows, self.members, self.seen, self.loaded = {}, [], Seen(), False
            if thread is not None:
                await asyncio.to_thread(thread.close)

    async def unlock(self, passphrase: bytes) -> bool:
        """Open the desk again with the passphrase typed in the page; False if it does not unlock the key."""
        async with self._lock:
            if self.thread is not None:
                return True
            try:
                opener = await asyncio.to_thread(self.unlocker, passphrase)
            except CryptoError:
                self.failed_unlocks += 1
                return False
            self.adopt(await asyncio.to_thread(DeskThread, opener))
            self.failed_unlocks = 0
        return True

    def row(self, case_id: str) -> Row | None:
        return self.rows.get(case_id)
