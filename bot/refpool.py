"""A few case references hashed ahead of time, so a person's Send is not kept waiting by Argon2id.

One background thread keeps up to `size` (reference, hash) pairs in memory;
submit takes one, or hashes inline if the pool is empty. Nothing is written
anywhere: an unused pair is simply lost when the process ends.
"""

from __future__ import annotations

import queue
import threading

from crypto.reference import CaseReference
from storage.intake import new_hashed_reference


class ReferencePool:
    """Pre-hashed references, refilled by one daemon thread."""

    def __init__(self, pepper: bytes, size: int = 8) -> None:
        self._pepper = pepper
        self._ready: queue.Queue[tuple[CaseReference, bytes]] = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, name="reference-pool", daemon=True)

    def start(self) -> None:
        """Begin filling the pool."""
        self._thread.start()

    def take(self) -> tuple[CaseReference, bytes] | None:
        """A ready pair, or None when the pool is empty (the caller then hashes inline)."""
        try:
            return self._ready.get_nowait()
        except queue.Empty:
            return None

    def stop(self) -> None:
        """Stop refilling (pairs in memory are dropped with the pool)."""
        self._stop.set()

    def _fill(self) -> None:
        while not self._stop.is_set():
            pair = new_hashed_reference(self._pepper)
            while not self._stop.is_set():
                try:
                    self._ready.put(pair, timeout=0.5)
                    break
                except queue.Full:
                    continue
