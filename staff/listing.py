"""Reading many cases: in batches as they are verified and decrypted, on every core for big lists.

The first batch is small and read in this process at once, so a screen can show it while the
rest is read; a big rest is verified and decrypted by a pool of worker processes, one per core,
each batch handed back in list order. A worker does exactly what staff.casework.read_request
does here (bot signature, binding to case id and queue, then decryption); grants and tags,
which need the roster and the server, stay in this process.

Security: a worker receives the caseworker's *decryption* key once, as an argument of its
initializer, through the pipe that starts it (never a file, never the environment), and keeps it
in memory only; it gets no signing key (it signs nothing), so a worker can never act as the
caseworker. Workers are started with "spawn" (a fresh interpreter, not a fork of a process that
may hold other secrets and threads) and end when the reader is closed or this process exits.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

from crypto.keys import Identity
from model.cases import Case
from model.views import CaseView
from staff.casework import Outcome, read_outcome, read_request

#: Cases in the first batch: read at once in this process (a first screen).
FIRST_BATCH = 100
#: Cases per later batch (one task for a worker).
BATCH = 500
#: Lists with at least this many cases after the first batch are read in worker processes.
PARALLEL_FROM = 1_000
#: Cases per page fetched after the first (remote): the workers read one page while the next comes.
PAGE = 2_000

_worker: tuple[Identity, list[VerifyKey]] | None = None


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _start_worker(name: str, box_secret: bytes, bot_keys: list[bytes]) -> None:
    """A worker's initializer: keep the decryption key (and a signing key nobody knows: workers sign nothing)."""
    global _worker
    _worker = (Identity(name, SigningKey.generate(), PrivateKey(box_secret)), [VerifyKey(k) for k in bot_keys])
    # What is loaded now lives as long as the worker: the cycle collector need not walk it again
    # each time the batches' many short-lived objects set it off.
    gc.freeze()


def _ready() -> bool:
    return _worker is not None


def _read_in_worker(cases: list[Case]) -> list[Outcome]:
    """Verify and decrypt one batch in a worker; only what was found goes back (the cases are already here)."""
    if _worker is None:
        raise RuntimeError("the worker was not started with a key")
    identity, bot_keys = _worker
    return [read_outcome(case, identity, bot_keys) for case in cases]


class Pending:
    """One batch handed to a worker: its cases, and the future of what reading them finds."""

    __slots__ = ("cases", "future")

    def __init__(self, cases: list[Case], future: Future[list[Outcome]]) -> None:
        self.cases = cases
        self.future = future

    def done(self) -> bool:
        """Whether the worker has finished this batch (result() will not wait)."""
        return self.future.done()

    def result(self) -> list[CaseView]:
        """The batch's views, in order (waits for the worker; its exceptions are raised here)."""
        return [CaseView(case, *outcome) for case, outcome in zip(self.cases, self.future.result(), strict=True)]

    def cancel(self) -> None:
        """Drop the batch if no worker has started it."""
        self.future.cancel()


class CaseReader:
    """Verifies and decrypts listed cases with one caseworker's key: here for few, in worker processes for many.

    A worker gets the cases (envelopes included) and sends back only each case's read state,
    request and problem: the views are put together here, around the cases this process
    already holds, so no case crosses the pipe twice.
    """

    def __init__(self, identity: Identity, bot_keys: Sequence[VerifyKey], *, workers: int | None = None) -> None:
        self.identity = identity
        self.bot_keys = list(bot_keys)
        self.workers = cores() if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None

    def read(self, cases: Sequence[Case]) -> list[CaseView]:
        """Read a few cases in this process."""
        return [read_request(case, self.identity, self.bot_keys) for case in cases]

    def parallel(self, count: int) -> bool:
        """Whether `count` cases (after the first batch) are worth the worker processes."""
        return count >= PARALLEL_FROM and self.workers > 1

    def submit(self, cases: Sequence[Case]) -> list[Pending]:
        """Hand `cases` to the workers in batches of at most BATCH (fewer cases: one batch per worker), in order."""
        pool = self._start()
        size = max(1, min(BATCH, -(-len(cases) // self.workers)))  # a small page still goes to every worker
        batches = [list(cases[i : i + size]) for i in range(0, len(cases), size)]
        return [Pending(batch, pool.submit(_read_in_worker, batch)) for batch in batches]

    def warm_up(self) -> None:
        """Start the worker processes now (while something else is waited for), if there is more than one core."""
        if self.workers > 1:
            pool = self._start()
            for _ in range(self.workers):
                pool.submit(_ready)  # each task starts a process, up to `workers`

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            args = (self.identity.name, bytes(self.identity.box_private), [bytes(k) for k in self.bot_keys])
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker, initargs=args)
        return self._pool

    def batches(self, cases: Sequence[Case], *, first: int | None = None) -> Iterator[list[CaseView]]:
        """Read `cases` batch by batch, in order.

        The first `first` (FIRST_BATCH) are read here at once; a rest of PARALLEL_FROM or more goes to
        the workers.
        """
        first = FIRST_BATCH if first is None else first
        head, rest = cases[:first], cases[first:]
        pending = self.submit(rest) if self.parallel(len(rest)) else []
        try:
            if head:
                yield self.read(head)
            if pending:
                for batch in pending:
                    yield batch.result()
            else:
                for i in range(0, len(rest), BATCH):
                    yield self.read(rest[i : i + BATCH])
        finally:
            for batch in pending:
                batch.cancel()

    def close(self) -> None:
        """Stop the worker processes (they forget the key as they exit)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
