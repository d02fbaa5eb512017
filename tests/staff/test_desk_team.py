"""The desk's team features through the real staff API and a real server home: members, assign, tags.

Remote (RemoteDesk over HTTP) and direct (DirectDesk on the home) must agree; every refusal is worded
for a person; a tag's text never reaches the server; a server that relabels sealed events is caught.
"""

from __future__ import annotations

import base64
import json

import pytest

from crypto.envelope import Kind, seal
from model.cases import EventKind, Status
from model.views import ReadState
from staff.errors import AssignmentRefused, ChangeRefused, InputRejected, NotAllowed
from tests.cli.runner import assert_user_error
from tests.staff.conftest import Site, direct, home_bytes, remote
from tests.staff.test_api_refusals import assert_refused
from tests.staff.test_grants import _resign, join, staff, staff_ok

TAG_CANARY = "tag-canary-Tq42"


MODES = [remote, direct]


@pytest.mark.parametrize("mode", MODES)
def test_assign_names_a_colleague_on_the_case_and_in_its_history(site: Site, mode: object) -> None:
    case_id = site.cases["main"]
    with mode(site, "cas-main") as desk:  # type: ignore[operator]
        changed = desk.assign(case_id[:8], "cas-main-2")
        assert changed.assigned_to == "cas-main-2" and changed.status is Status.NEW  # assignment is not a claim
        listed = {v.case.id: v for v in desk.list()}
        assert listed[case_id].assigned_to == "cas-main-2"
        events = desk.detail(case_id).events
    assign = [e for e in events if e.event.kind is EventKind.ASSIGN]
    assert len(assign) == 1 and assign[0].event.actor == "cas-main" and assign[0].event.subject == "cas-main-2"
    with site.open() as server:
        assert [e.action for e in server.cases.audit_log(case_id)][-1] == "case.assign"


@pytest.mark.parametrize("mode", MODES)
def test_assign_is_refused_to_anyone_but_an_active_caseworker_of_the_queue(site: Site, mode: object) -> None:
    case_id = site.cases["main"]
    join(site, "cas-gone")
    _resign(site, lambda roster, t: roster.with_revoked("cas-gone", t, 30))
    with mode(site, "cas-main") as desk:  # type: ignore[operator]
        for name, words in [("nobody", "nobody called 'nobody' is on the roster"),
                            ("vol", "not a caseworker"),
                            ("cas-other", "does not work on queue 'main'"),
                            ("cas-gone", "revoked or expired")]:
            with pytest.raises(AssignmentRefused, match=words):
                desk.assign(case_id, name)
        desk.assign(case_id, "cas-main-2")
        with pytest.raises(ChangeRefused, match="already assigned to cas-main-2"):
            desk.assign(case_id, "cas-main-2")
        desk.close(case_id)
        with pytest.raises(ChangeRefused, match="reopen it first"):
            desk.assign(case_id, "cas-main")
    with site.open() as server:
        assert server.cases.fetch(case_id).assigned_to == "cas-main-2"


def test_the_server_refuses_an_assignment_the_client_did_not_check(site: Site) -> None:
    case_id = site.cases["main"]
    body = assert_refused(site.send("cas-main", "POST", f"/api/v1/cases/{case_id}/assign",
                                    json={"name": "cas-other"}), 422, "assignee_refused")
    assert "queue 'main'" in body["message"]
    assert_refused(site.send("cas-main", "POST", f"/api/v1/cases/{case_id}/assign", json={"name": ""}), 422)
    assert_refused(site.send("cas-main", "POST", f"/api/v1/cases/{case_id}/assign", json={}), 422)
    assert_refused(site.send("cas-other", "POST", f"/api/v1/cases/{case_id}/assign",
                             json={"name": "cas-main"}), 404)  # not the caller's queue: as if it did not exist
    assert_refused(site.send("vol", "POST", f"/api/v1/cases/{case_id}/assign", json={"name": "cas-main"}), 403)
    with site.open() as server:
        assert server.cases.fetch(case_id).assigned_to is None


@pytest.mark.parametrize("mode", MODES)
def test_tags_are_sealed_and_listed_and_removed(site: Site, mode: object) -> None:
    case_id = site.cases["main"]
    with mode(site, "cas-main") as desk:  # type: ignore[operator]
        desk.tag(case_id, f"  {TAG_CANARY}  ")
        desk.tag(case_id, "housing")
        desk.untag(case_id, "housing")
    with mode(site, "cas-main-2") as desk:  # type: ignore[operator]
        views = {v.case.id: v for v in desk.list()}
        assert views[case_id].tags == frozenset({TAG_CANARY})
        assert views[site.cases["main-2"]].tags == frozenset()
        kinds = [(e.event.kind, e.text, e.state) for e in desk.detail(case_id).events]
    assert kinds == [(EventKind.TAG, TAG_CANARY, ReadState.OK), (EventKind.TAG, "housing", ReadState.OK),
                     (EventKind.UNTAG, "housing", ReadState.OK)]
    assert TAG_CANARY.encode() not in home_bytes(site.root)  # the server never held the tag's text


@pytest.mark.parametrize("mode", MODES)
def test_empty_or_long_tags_are_refused(site: Site, mode: object) -> None:
    with mode(site, "cas-main") as desk:  # type: ignore[operator]
        with pytest.raises(InputRejected, match="empty tag"):
            desk.tag(site.cases["main"], " \n ")
        with pytest.raises(InputRejected, match="at most 40 characters"):
            desk.tag(site.cases["main"], "x" * 41)


def test_a_server_that_relabels_sealed_events_is_caught(site: Site) -> None:
    case_id = site.cases["main"]
    with remote(site, "cas-main") as desk:
        desk.tag(case_id, "urgent")
        desk.note(case_id, "a note, not a tag")
    with site.open() as server:  # whoever writes the database turns the tag into an untag, the note into a tag
        server.db.conn.execute("UPDATE case_events SET kind = 'untag' WHERE case_id = ? AND kind = 'tag'", (case_id,))
        server.db.conn.execute("UPDATE case_events SET kind = 'tag' WHERE case_id = ? AND kind = 'note'", (case_id,))
    with remote(site, "cas-main-2") as desk:
        events = desk.detail(case_id).events
        assert [e.state for e in events] == [ReadState.REJECTED, ReadState.REJECTED]
        assert {v.case.id: v for v in desk.list()}[case_id].tags == frozenset()


def test_the_server_refuses_a_tag_that_is_not_sealed_like_a_note(site: Site) -> None:
    case_id = site.cases["main"]
    with site.open() as server:
        case = server.cases.fetch(case_id)
    lone = site.identity("cas-main")
    only_me = seal(b'{"v":1,"op":"add","tag":"x"}', kind=Kind.NOTE, case_id=case.id, queue=case.queue,
                   recipients=[lone.box_private.public_key], signer=lone.signing_key)
    body = {"envelope": base64.b64encode(only_me).decode(), "op": "add"}
    assert_refused(site.send("cas-main", "POST", f"/api/v1/cases/{case_id}/tags", json=body), 422, "stale_recipients")
    assert_refused(site.send("cas-main", "POST", f"/api/v1/cases/{case_id}/tags",
                             json={**body, "op": "toggle"}), 422, "invalid_body")
    assert_refused(site.send("cas-main-2", "POST", f"/api/v1/cases/{case_id}/tags", json=body), 422)  # not my sig


@pytest.mark.parametrize("mode", MODES)
def test_members_count_the_open_cases_a_newcomer_cannot_read_until_a_grant(site: Site, mode: object) -> None:
    join(site, "cas-new")
    with mode(site, "cas-main") as desk:  # type: ignore[operator]
        found = {m.name: m for m in desk.members()}
        assert set(found) == {"cas-main", "cas-main-2", "cas-new"}  # cas-other shares no queue
        assert found["cas-new"].cannot_read == 2 and found["cas-main-2"].cannot_read == 0
        assert found["cas-new"].active and found["cas-new"].queues == frozenset({"main"})
        desk.grant("cas-new")
        assert {m.name: m.cannot_read for m in desk.members("main")}["cas-new"] == 0
        with pytest.raises(NotAllowed):
            desk.members("other")


def test_members_agree_direct_and_remote(site: Site) -> None:
    join(site, "cas-new")
    with remote(site, "cas-main") as desk:
        by_remote = desk.members()
    with direct(site, "cas-main") as desk:
        assert desk.members() == by_remote


def test_a_newcomer_reads_the_tags_after_one_grant(site: Site) -> None:
    case_id = site.cases["main"]
    with remote(site, "cas-main") as desk:
        desk.tag(case_id, TAG_CANARY)
    join(site, "cas-new")
    with remote(site, "cas-main") as desk:
        desk.grant("cas-new")
    with remote(site, "cas-new") as desk:
        assert {v.case.id: v for v in desk.list()}[case_id].tags == frozenset({TAG_CANARY})


def test_the_cli_assigns_tags_and_lists_members(site: Site) -> None:
    case_id = site.cases["main"]
    assert "assigned" in staff_ok(site, "cas-main", "assign", case_id[:8], "cas-main-2").stdout
    assert "tagged" in staff_ok(site, "cas-main", "tag", case_id[:8], "housing").stdout
    listed = {c["id"]: c for c in json.loads(staff_ok(site, "cas-main", "list", "--json").stdout)}
    assert listed[case_id]["assigned_to"] == "cas-main-2" and listed[case_id]["tags"] == ["housing"]
    assert "untagged" in staff_ok(site, "cas-main", "untag", case_id[:8], "housing").stdout
    shown = staff_ok(site, "cas-main", "show", case_id[:8]).stdout
    assert "assign by cas-main to cas-main-2" in shown and "untag by cas-main" in shown
    members = json.loads(staff_ok(site, "cas-main", "members", "--json").stdout)
    assert [m["name"] for m in members] == ["cas-main", "cas-main-2"]
    assert_user_error(staff(site, "cas-main", "assign", case_id[:8], "cas-other"), "does not work on queue 'main'")
