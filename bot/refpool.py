"""A few case tickets made ahead of time, so a person's Send is not kept waiting by Argon2id.

A ticket (intake.requests.Ticket) is a case id, a reference, its stored hash and the public
reply key derived from both: two Argon2id runs. One background thread keeps up to `size`
tickets in memory (`[intake] ready_references`); submit takes one, or makes one inline if the
pool is empty. The thread runs at a lower scheduling priority, so refilling uses the CPU that
people's requests leave idle. Nothing is written anywhere: an unused ticket is simply lost when
the process ends.
"""

from __future__ import annotations

import os
import queue
import threading

from intake.requests import Ticket, new_ticket

#: How much the refilling thread yields (added to the process's nice value).
FILL_NICENESS = 10


class ReferencePool:
    """Tickets made ahead of time, refilled by one daemon thread."""

    def __init__(self, pepper: bytes, size: int = 8, *, reply_keys: bool = True) -> None:
        # reply_keys=False: tickets without the reply key (one Argon2id run, not two), for the sealed
        # form, whose page derives the reply key itself (docs/envelope.md, "The sealed form").
        self._pepper = pepper
        self._reply_keys = reply_keys
        self._ready: queue.Queue[Ticket] = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, name="reference-pool", daemon=True)

    def start(self) -> None:
        """Begin filling the pool."""
        self._thread.start()

    def take(self) -> Ticket | None:
        """A ready ticket, or None when the pool is empty (the caller then makes one inline)."""
        try:
            return self._ready.get_nowait()
        except queue.Empty:
            return None

    def ready(self) -> int:
        """How many tickets are ready now (for /metrics)."""
        return self._ready.qsize()

    def stop(self) -> None:
        """Stop refilling (tickets in memory are dropped with the pool)."""
        self._stop.set()

    def _fill(self) -> None:
        try:  # On Linux a thread has its own nice value: only this thread yields to the rest.
            me = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + FILL_NICENESS))
        except (AttributeError, OSError):
            pass  # not Linux, or not allowed: refill at the process's priority
        while not self._stop.is_set():
            ticket = new_ticket(self._pepper, reply_key=self._reply_keys)
            while not self._stop.is_set():
                try:
                    self._ready.put(ticket, timeout=0.5)
                    break
                except queue.Full:
                    continue
