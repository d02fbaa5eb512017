"""The inbox's desk on a thread of its own: every call to a staff.desk.Desk runs there.

A SQLCipher connection may only be used by the thread that opened it (direct mode), and the
terminal stays responsive while the network is slow (remote mode).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Self, TypeVar

from staff.desk import Desk

T = TypeVar("T")


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
