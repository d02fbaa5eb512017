"""Request budgets of the staff API: 429 with Retry-After per key and per address; floods cost no writes.

Budgets here are tiny (8 a minute: 2 at once), so a handful of requests uses one up.
Requests from another address come from 127.0.0.2 (still loopback).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator

import httpx
import pytest

from crypto.keys import Identity
from crypto.roster import sign_roster
from staff.httpsig import sign_request
from staffapi.limits import OVERFLOW, Buckets, Limits
from storage.server import Server
from tests.staff.conftest import Site
from tests.staff.test_api_refusals import assert_refused

PER_MINUTE = 8  # a burst of 2, then one every 7.5 s
OTHER_ADDRESS = "127.0.0.2"


@pytest.fixture
def site_limits() -> Limits:
    return Limits.of(PER_MINUTE, PER_MINUTE)


@pytest.fixture
def other_address(site: Site) -> Iterator[httpx.Client]:
    """A client whose requests come from another address, recorded for the OpenAPI check like the rest."""
    with httpx.Client(transport=httpx.HTTPTransport(local_address=OTHER_ADDRESS), timeout=30,
                      event_hooks={"response": [site.recorder.hook]}) as client:
        yield client


def send(client: httpx.Client, site: Site, who: Identity | None, path: str = "/api/v1/info",
         bad_signature: bool = False) -> httpx.Response:
    request = client.build_request("GET", site.url + path)
    if who is not None:
        sign_request(request, who.signing_key, b"", now=time.time())
    if bad_signature:
        label, _, value = request.headers["signature"].partition("=:")
        raw = bytearray(base64.b64decode(value.rstrip(":")))
        raw[0] ^= 1
        request.headers["signature"] = f"{label}=:{base64.b64encode(bytes(raw)).decode()}:"
    return client.send(request)


def nonces(site: Site) -> int:
    with Server.open(site.root, environ={}) as server:
        return int(server.db.conn.execute("SELECT count(*) FROM request_nonces").fetchone()[0])


def assert_rate_limited(response: httpx.Response) -> None:
    assert_refused(response, 429, "rate_limited")
    assert response.headers["retry-after"] == "8"  # 60 / 8, rounded up


def test_a_key_over_its_budget_gets_429_with_retry_after(site: Site) -> None:
    me, colleague = site.identity("cas-main"), site.identity("cas-main-2")
    with site.recorder.client() as client:
        assert [send(client, site, me).status_code for _ in range(2)] == [200, 200]
        assert_rate_limited(send(client, site, me))
        assert send(client, site, colleague).status_code == 200  # another key has its own budget


def test_an_address_over_its_budget_gets_429_but_staff_from_it_are_served(site: Site,
                                                                           other_address: httpx.Client) -> None:
    with site.recorder.client() as client:
        assert_refused(send(client, site, None), 401, "unsigned")
        assert_refused(send(client, site, Identity.generate("stranger")), 401, "signature_invalid")
        assert_rate_limited(send(client, site, None))
        assert_rate_limited(send(client, site, Identity.generate("stranger")))
        # A proxy gives every caller one address: staff keys do not spend the address's budget.
        assert send(client, site, site.identity("cas-main")).status_code == 200
    assert_refused(send(other_address, site, None), 401, "unsigned")  # another address has its own budget


def test_a_flood_of_bad_signatures_on_a_roster_key_is_cut_short_and_writes_nothing(site: Site) -> None:
    victim = site.identity("cas-main")
    before, stored = site.snapshot(), nonces(site)
    with site.recorder.client() as client:
        answers = [send(client, site, victim, bad_signature=True) for _ in range(60)]
        # The key's budget (2) is all the signature checks the flood got; the rest cost a dictionary look-up.
        assert [r.status_code for r in answers[:2]] == [401, 401]
        for response in answers[2:]:
            assert_rate_limited(response)
        # Failed signatures spent the address's budget too: strangers from there are cut off as well.
        assert_rate_limited(send(client, site, None))
    assert site.snapshot() == before
    assert nonces(site) == stored  # not one database write


def test_a_legit_caller_is_served_while_another_key_and_address_flood(site: Site,
                                                                      other_address: httpx.Client) -> None:
    flooded = site.identity("cas-main-2")
    for _ in range(20):
        send(other_address, site, flooded, bad_signature=True)
        send(other_address, site, Identity.generate("stranger"))
        send(other_address, site, None)
    assert_rate_limited(send(other_address, site, None))
    with site.recorder.client() as client:
        assert send(client, site, site.identity("cas-main")).status_code == 200
        assert_refused(send(client, site, None), 401, "unsigned")  # this address's budget is untouched


def test_revocation_takes_effect_at_once_although_the_roster_is_cached(site: Site) -> None:
    me = site.identity("cas-main")
    with site.recorder.client() as client:
        assert send(client, site, me).status_code == 200  # the server has verified and kept the roster
        now = int(time.time())
        with Server.open(site.root, environ={}) as other:  # as `waystation roster revoke` would, another process
            other.save_roster(sign_roster(other.roster(now).with_revoked("cas-main", now, 30), site.home.admin), now)
        assert_refused(send(client, site, me), 401, "not_active")


def test_a_roster_broken_after_it_was_cached_is_503(site: Site) -> None:
    with site.recorder.client() as client:
        assert send(client, site, site.identity("cas-main")).status_code == 200
        (site.root / "roster.json").write_bytes(b'{"format": "waystation-roster"}')
        assert_refused(send(client, site, site.identity("cas-main-2")), 503, "unavailable")


def test_budgets_are_bounded_in_memory_and_forget_idle_callers() -> None:
    async def scenario() -> None:
        buckets = Buckets(per_minute=600, max_names=3)  # a burst of 150, then 10 a second
        assert all([await buckets.take("a") for _ in range(150)])
        assert not await buckets.take("a")
        assert await buckets.take("b") and await buckets.take("c")
        # The table is full: newcomers share one bucket, so a crowd of new addresses cannot grow it.
        assert all([await buckets.take(f"new {n}") for n in range(150)])
        assert not await buckets.take("another")
        await asyncio.sleep(0.3)  # b and c are full again after 0.1 s; a and the shared bucket after 15 s
        buckets.prune()
        assert set(buckets._buckets) == {"a", OVERFLOW}

    asyncio.run(scenario())
