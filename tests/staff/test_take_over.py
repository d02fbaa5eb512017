"""`take-over`: a caseworker of the queue hands a colleague's claimed case to themselves; every refusal changes nothing.

Semantics (docs/staff-api.md): only a case claimed by someone else can be taken over (a new case
is claimed, a closed one reopened first, one's own is refused); the caller must be an active
caseworker of the case's queue. It is recorded as a claim event by the new owner and audited as
`case.take_over`.
"""

from __future__ import annotations

import time

import pytest

from crypto.roster import sign_roster
from staff.errors import ChangeRefused
from tests.cli.runner import Result, assert_user_error, ok, run
from tests.staff.conftest import Site
from tests.staff.test_api_refusals import assert_refused


def _path(site: Site, label: str = "main") -> str:
    return f"/api/v1/cases/{site.cases[label]}/take-over"


def _claimed_by_cas_main(site: Site, label: str = "main") -> None:
    assert site.send("cas-main", "POST", f"/api/v1/cases/{site.cases[label]}/claim", json={}).status_code == 200


def test_a_colleague_takes_over_a_claimed_case_recorded_as_event_and_audit(site: Site) -> None:
    case = site.cases["main"]
    _claimed_by_cas_main(site)
    answer = site.send("cas-main-2", "POST", _path(site), json={})
    assert answer.status_code == 200, answer.text
    assert answer.json()["case"]["claimed_by"] == "cas-main-2" and answer.json()["case"]["status"] == "claimed"
    with site.remote("cas-main") as client:  # the remote client takes it back, and reads the history
        assert client.take_over(case).claimed_by == "cas-main"
        events = client.fetch(case).events
    assert [(e.event.kind.value, e.event.actor) for e in events] == [
        ("claim", "cas-main"), ("claim", "cas-main-2"), ("claim", "cas-main")]
    with site.open() as server:
        actions = [(a.actor, a.action) for a in server.cases.audit_log(case)][1:]
    assert actions == [("cas-main", "case.claim"), ("cas-main-2", "case.take_over"), ("cas-main", "case.take_over")]


@pytest.mark.parametrize(("who", "status", "code"), [("vol", 403, "forbidden"), ("admin", 403, "forbidden"),
                                                      ("cas-other", 404, "not_found")])
def test_someone_not_a_caseworker_of_the_queue_cannot_take_over(site: Site, who: str, status: int, code: str) -> None:
    _claimed_by_cas_main(site)
    before = site.snapshot()
    assert_refused(site.send(who, "POST", _path(site), json={}), status, code)
    assert_refused(site.send(who, "POST", "/api/v1/cases/zzzzzzzzzzzzzzzz/take-over", json={}), status, code)
    assert site.snapshot() == before


def test_a_new_closed_or_own_case_cannot_be_taken_over(site: Site) -> None:
    before = site.snapshot()
    refused = assert_refused(site.send("cas-main-2", "POST", _path(site), json={}), 409, "conflict")
    assert "claim it instead" in refused["message"]
    assert site.snapshot() == before
    _claimed_by_cas_main(site)
    before = site.snapshot()
    assert "already yours" in assert_refused(site.send("cas-main", "POST", _path(site)), 409, "conflict")["message"]
    assert site.snapshot() == before
    assert site.send("cas-main", "POST", f"/api/v1/cases/{site.cases['main']}/close", json={}).status_code == 200
    before = site.snapshot()
    refused = assert_refused(site.send("cas-main-2", "POST", _path(site), json={}), 409, "conflict")
    assert "reopen it first" in refused["message"]
    with site.remote("cas-main-2") as client, pytest.raises(ChangeRefused, match="reopen"):
        client.take_over(site.cases["main"])
    assert site.snapshot() == before


def test_a_body_with_fields_is_422_and_a_revoked_caller_401(site: Site) -> None:
    _claimed_by_cas_main(site)
    before = site.snapshot()
    assert_refused(site.send("cas-main-2", "POST", _path(site), json={"to": "cas-main-2"}), 422, "invalid_body")
    now = int(time.time())
    with site.open() as server:
        server.save_roster(sign_roster(server.roster(now).with_revoked("cas-main-2", now, 30), site.home.admin), now)
    assert_refused(site.send("cas-main-2", "POST", _path(site), json={}), 401, "not_active")
    after = site.snapshot()
    assert after[0] == before[0] and after[1] == before[1]  # cases and events unchanged


def test_direct_mode_take_over_and_its_refusals(site: Site) -> None:
    main, other = site.cases["main"], site.cases["other"]

    def direct(who: str, *args: str) -> Result:
        return run("staff", "--home", site.root, "--key", site.key_files[who], *args)

    assert_user_error(direct("cas-main-2", "take-over", main), "not claimed")
    assert "(now claimed)" in ok("staff", "--home", site.root, "--key", site.key_files["cas-main"], "claim",
                                 main).stdout
    took = ok("staff", "--home", site.root, "--key", site.key_files["cas-main-2"], "take-over", main[:8])
    assert f"took over {main} (now claimed)" in took.stdout
    assert_user_error(direct("cas-main-2", "take-over", main), "already yours")
    assert_user_error(direct("cas-other", "take-over", main), "queue 'main'")
    assert_user_error(direct("vol", "take-over", other), "not caseworker")
    with site.open() as server:
        assert server.cases.fetch(main).claimed_by == "cas-main-2"
        assert [(a.actor, a.action) for a in server.cases.audit_log(main)][-1] == ("cas-main-2", "case.take_over")
    assert "take-over" in ok("staff", "--help").stdout
