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

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

from crypto.keys import Identity
from model.cases import Case
from model.views import CaseView
from staff.casework import read_request
from staff.wire import case_from_json

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


def _ready() -> bool:
    return _worker is not None


def _read_in_worker(items: list[Any], from_json: bool) -> list[CaseView]:
    """Verify and decrypt one batch in a worker; `items` are the API's JSON cases or Case records."""
    if _worker is None:
        raise RuntimeError("the worker was not started with a key")
    identity, bot_keys = _worker
    cases = [case_from_json(item) for item in items] if from_json else items
    return [read_request(case, identity, bot_keys) for case in cases]


class CaseReader:
    """Verifies and decrypts listed cases with one caseworker's key: here for few, in worker processes for many."""

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

    def submit(self, items: Sequence[Any], *, from_json: bool) -> list[Future[list[CaseView]]]:
        """Hand `items` to the workers in batches of BATCH; each future is one batch, in order."""
        pool = self._start()
        return [pool.submit(_read_in_worker, list(items[i : i + BATCH]), from_json)
                for i in range(0, len(items), BATCH)]

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

    def batches(self, items: Sequence[Any], *, from_json: bool,
                first: int | None = None) -> Iterator[list[CaseView]]:
        """Read `items` (JSON cases if `from_json`, else Case records) batch by batch, in order.

        The first `first` (FIRST_BATCH) are read here at once; a rest of PARALLEL_FROM or more goes to
        the workers.
        """
        first = FIRST_BATCH if first is None else first
        convert: Callable[[Any], Case] = case_from_json if from_json else _same
        head, rest = items[:first], [items[i : i + BATCH] for i in range(first, len(items), BATCH)]
        futures: list[Future[list[CaseView]]] = []
        if len(items) - len(head) >= PARALLEL_FROM and self.workers > 1:
            pool = self._start()
            futures = [pool.submit(_read_in_worker, list(part), from_json) for part in rest]
        try:
            if head:
                yield self.read([convert(item) for item in head])
            if futures:
                for future in futures:
                    yield future.result()
            else:
                for part in rest:
                    yield self.read([convert(item) for item in part])
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        """Stop the worker processes (they forget the key as they exit)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _same(item: Case) -> Case:
    return item
