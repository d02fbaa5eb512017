"""The desk process's memory: the open Desk (on its own thread), the inbox rows, and locking.

Every Desk call runs on the desk's one thread (staff.tui.desk.DeskThread: SQLCipher's rule in
direct mode, and the event loop stays free while the network is slow), one call at a time.
Locking closes the desk and drops it with the unlocked key and every decrypted row; unlocking
opens a new one from the key file and the passphrase typed in the page.
"""

from __future__ import annotations

import asyncio
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

        After an action only the list is fetched: the staff API counts every request against a budget.
        """
        try:
            if team or not self.loaded:
                await self.call(lambda d: d.refresh())  # the roster again: a new colleague, a revocation
                self.members = await self.call(lambda d: d.members(None))
            views = await self.call(lambda d: d.list(None))
        except StaffError as err:
            self.refresh_problem = str(err)  # worded for a person, never case content
            return
        self.rows = {v.case.id: row_of(v) for v in views}
        self.loaded, self.refresh_problem = True, None

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
