"""The ticket pool: filled ahead of time to its size, at a lower priority, and counted for /metrics."""

from __future__ import annotations

import os

import nacl.utils

from bot.refpool import FILL_NICENESS, ReferencePool
from crypto.reference import hash_reference
from tests.bot.harness import wait_until


def test_the_pool_fills_to_its_size_and_each_ticket_is_taken_once() -> None:
    pepper = nacl.utils.random(16)
    pool = ReferencePool(pepper, 3, reply_keys=False)
    pool.start()
    try:
        wait_until(lambda: pool.ready() == 3, 60, what="three tickets")
        tickets = [pool.take() for _ in range(3)]
        assert all(t is not None for t in tickets)
        assert len({t.case_id for t in tickets if t}) == 3 and len({t.reference for t in tickets if t}) == 3
        for ticket in tickets:
            assert ticket is not None and ticket.reply_key is None
            assert hash_reference(ticket.reference, pepper) == ticket.ref_hash
        wait_until(lambda: pool.ready() == 3, 60, what="the pool refilled")
    finally:
        pool.stop()


def test_the_refilling_thread_runs_at_a_lower_priority() -> None:
    pool = ReferencePool(nacl.utils.random(16), 1, reply_keys=False)
    before = os.getpriority(os.PRIO_PROCESS, 0)
    pool.start()
    try:
        filler = pool._thread  # this pool's own thread (an earlier test's may still be winding down)
        wait_until(lambda: filler.native_id is not None and pool.ready() == 1, 60, what="one ticket")
        assert filler.native_id is not None
        assert os.getpriority(os.PRIO_PROCESS, filler.native_id) == min(19, before + FILL_NICENESS)
        assert os.getpriority(os.PRIO_PROCESS, 0) == before  # the rest of the process is untouched
    finally:
        pool.stop()
