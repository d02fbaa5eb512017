"""Progressive listing (Desk.list_batches) and the worker processes that read big lists, through real parts.

The batches together are exactly list(), in order, in both modes; with the thresholds lowered
the rest really goes to spawned worker processes, which report a tampered case as rejected like
this process does, and hold the decryption key but never the caseworker's signing key.
"""

from __future__ import annotations

import time

import pytest

from intake.requests import Request, submit
from model.cases import Status
from model.views import ReadState
from staff import listing
from staff.desk import RemoteDesk
from tests.staff.conftest import Site, direct, remote
from tests.staff.test_api_refusals import assert_refused

EXTRA = 7


def more_cases(site: Site, count: int = EXTRA) -> None:
    """`count` more cases in 'main', one time bucket apart."""
    now = int(time.time())
    with site.open() as server:
        granularity = server.config.privacy.time_granularity_seconds
        for n in range(count):
            submit(server, Request({"help": f"shelter {n}"}, "en", "cli"), now - (20 + n) * granularity,
                   queue="main")


@pytest.fixture(params=["workers", "in-process"])
def small_batches(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> bool:
    """Thresholds lowered so that a handful of cases goes through every path, with workers or without."""
    monkeypatch.setattr(listing, "FIRST_BATCH", 2)
    monkeypatch.setattr(listing, "BATCH", 3)
    monkeypatch.setattr(listing, "PARALLEL_FROM", 1 if request.param == "workers" else 10**6)
    monkeypatch.setattr(listing, "PAGE", 4)  # the rest comes in several pages
    return request.param == "workers"


@pytest.mark.parametrize("mode", [remote, direct])
def test_the_batches_are_the_list_in_order(site: Site, mode: object, small_batches: bool) -> None:
    more_cases(site)
    with mode(site, "cas-main") as desk:  # type: ignore[operator]
        desk.tag(site.cases["main"], "housing")
        batches = list(desk.list_batches())
        whole = desk.list()
        claimed = [v for b in desk.list_batches([Status.CLAIMED]) for v in b]
        reader = desk.client._case_reader if isinstance(desk, RemoteDesk) else desk._reader  # type: ignore[attr-defined]
        if listing.cores() > 1:  # the rest really went to worker processes, or really did not
            assert reader is not None and (reader._pool is not None) == small_batches
    assert [len(b) for b in batches][:1] == [2] and all(batches)
    flat = [v for b in batches for v in b]
    assert [v.case.id for v in flat] == [v.case.id for v in whole] and len(flat) == 2 + EXTRA
    assert flat == whole and {v.state for v in flat} == {ReadState.OK}
    assert {v.case.id: v.tags for v in flat}[site.cases["main"]] == frozenset({"housing"})
    assert claimed == []


@pytest.mark.parametrize("mode", [remote, direct])
def test_a_tampered_case_read_by_a_worker_is_reported_rejected(site: Site, mode: object,
                                                               small_batches: bool) -> None:
    more_cases(site)
    with site.open() as server:
        newest = server.cases.list(queues=["main"], with_envelopes=True)[-1]  # read by a worker, not at first
        victim, envelope = newest.id, bytearray(newest.envelope or b"")
        envelope[len(envelope) // 2] ^= 1
        with server.db.transaction() as conn:
            conn.execute("UPDATE cases SET envelope = ? WHERE id = ?", (bytes(envelope), victim))
    with mode(site, "cas-main") as desk:  # type: ignore[operator]
        views = {v.case.id: v for b in desk.list_batches() for v in b}
    assert views[victim].state is ReadState.REJECTED and views[victim].request is None
    assert sum(v.state is ReadState.OK for v in views.values()) == 1 + EXTRA


def test_a_newcomer_lists_granted_cases_through_the_workers(site: Site, small_batches: bool) -> None:
    from tests.staff.test_grants import join
    more_cases(site)
    join(site, "cas-new")
    with remote(site, "cas-main") as desk:
        desk.grant("cas-new")
    with remote(site, "cas-new") as desk:
        views = [v for b in desk.list_batches() for v in b]
    assert len(views) == 2 + EXTRA and {v.state for v in views} == {ReadState.OK}


def test_a_worker_holds_the_decryption_key_but_not_the_signing_key(site: Site) -> None:
    me = site.identity("cas-main")
    listing._start_worker(me.name, bytes(me.box_private), [])
    try:
        assert listing._worker is not None
        worker = listing._worker[0]
        assert bytes(worker.box_private) == bytes(me.box_private)
        assert bytes(worker.signing_key) != bytes(me.signing_key)
    finally:
        listing._worker = None


def test_the_api_pages_by_keyset(site: Site) -> None:
    more_cases(site)
    with site.open() as server:
        everything = [c.id for c in server.cases.list(queues=["main"])]
    first = site.send("cas-main", "GET", "/api/v1/cases?envelopes=1&limit=3").json()["cases"]
    last = first[-1]
    rest = site.send("cas-main", "GET", f"/api/v1/cases?envelopes=0&after={last['created_at']}.{last['id']}").json()
    assert [c["id"] for c in first + rest["cases"]] == everything
    for bad in ("limit=0", "limit=x", "limit=100001", "after=12", "after=x.abcdef", "after=12.A!"):
        assert_refused(site.send("cas-main", "GET", f"/api/v1/cases?{bad}"), 422, "invalid_body")
