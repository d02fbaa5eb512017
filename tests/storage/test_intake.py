"""Intake: requests are checked, sealed only to active caseworkers of the queue, and refused cleanly."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from crypto.envelope import Kind, open_envelope, verify
from crypto.errors import NotARecipient
from crypto.keys import Identity, key_id
from crypto.padding import MAX_PAYLOAD
from crypto.reference import (
    REFERENCE_COST,
    REFERENCE_COST_MINIMUM,
    hash_reference,
    normalise_reference,
)
from crypto.replykey import reply_public_key
from crypto.roster import DAY, Member, Role, sign_roster
from intake.requests import (
    MAX_ANSWER_LENGTH,
    MAX_ANSWERS,
    Receipt,
    Request,
    check_answers,
    new_ticket,
    open_reply_handle,
    recipients_for,
    request_from_json,
    seal_reply_handle,
    seal_request,
    store_sealed,
    submit,
)
from staff.direct import StaffSession
from staff.errors import NotOnRoster
from storage.errors import IntakeRefused
from storage.server import Server
from tests.conftest import StaffedHome

pytestmark = pytest.mark.timeout(30)


def _now() -> int:
    return int(time.time())


def _rows(server: Server) -> tuple[int, int]:
    cases = server.db.conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    audit = server.db.conn.execute("SELECT count(*) FROM audit").fetchone()[0]
    return int(cases), int(audit)


def _recipients(server: Server, receipt: Receipt) -> set[bytes]:
    envelope = server.cases.fetch(receipt.case_id).envelope
    assert envelope is not None
    header = verify(envelope, trusted_signers=server.trusted_bot_keys(), case_id=receipt.case_id,
                    queue=receipt.queue, kinds={Kind.REQUEST})
    return set(header.recipients)


def _open(server: Server, receipt: Receipt, reader: Identity) -> dict[str, Any]:
    envelope = server.cases.fetch(receipt.case_id).envelope
    assert envelope is not None
    opened = open_envelope(envelope, recipient=reader.box_private, trusted_signers=server.trusted_bot_keys(),
                           case_id=receipt.case_id, queue=receipt.queue, kinds={Kind.REQUEST})
    result: dict[str, Any] = json.loads(opened.payload)
    return result


def _kid(identity: Identity) -> bytes:
    return key_id(identity.box_private.public_key)


# -- the happy path ------------------------------------------------------------------


def test_submit_seals_to_every_active_caseworker_of_the_queue_only(server: Server, staffed_home: StaffedHome) -> None:
    staff = staffed_home.staff
    receipt = submit(server, Request({"help": "документы", "city": "Грозный"}, "ru", "telegram"), _now())
    assert receipt.queue == "main"
    assert _recipients(server, receipt) == {_kid(staff["cas-main"]), _kid(staff["cas-main-2"])}
    for reader in ("cas-main", "cas-main-2"):
        request = _open(server, receipt, staff[reader])
        assert request["answers"] == {"help": "документы", "city": "Грозный"}
        assert (request["language"], request["channel"], request["v"]) == ("ru", "telegram", 1)
    for outsider in (staff["cas-other"], staff["vol"], staffed_home.admin):
        with pytest.raises(NotARecipient):
            _open(server, receipt, outsider)


def test_submit_stores_a_hash_of_the_reference_not_the_reference(server: Server) -> None:
    now = _now()
    receipt = submit(server, Request({"help": "x"}), now)
    assert len(normalise_reference(receipt.reference)) == 16
    ref_hash = hash_reference(receipt.reference, server.home.pepper(), REFERENCE_COST)
    assert server.cases.find_by_reference(ref_hash) == receipt.case_id
    case = server.cases.fetch(receipt.case_id)
    granularity = server.config.privacy.time_granularity_seconds
    assert case.created_at == now - now % granularity
    assert [a.action for a in server.cases.audit_log(receipt.case_id)] == ["case.created"]


def test_submit_to_another_queue_goes_to_its_caseworker(server: Server, staffed_home: StaffedHome) -> None:
    receipt = submit(server, Request({"help": "x"}), _now(), queue="other")
    assert _recipients(server, receipt) == {_kid(staffed_home.staff["cas-other"])}


# -- refusals that leave nothing behind ----------------------------------------------------


def test_queue_without_caseworker_is_refused_leaving_no_row(server: Server) -> None:
    before = _rows(server)
    with pytest.raises(IntakeRefused, match="no active caseworker"):
        submit(server, Request({"help": "x"}), _now(), queue="nobody")
    assert _rows(server) == before


def test_queue_with_only_a_volunteer_is_refused(server: Server, staffed_home: StaffedHome) -> None:
    now = _now()
    roster = server.roster(now)
    helper = Identity.generate("vol-2")
    roster = roster.with_member(Member(helper.public, Role.VOLUNTEER, ("night",), now, now + DAY), now, 30)
    server.save_roster(sign_roster(roster, staffed_home.admin), now)
    with pytest.raises(IntakeRefused):
        submit(server, Request({"help": "x"}), now, queue="night")
    assert _rows(server)[0] == 0


@pytest.mark.parametrize("queue", ["Main", "main queue", " ", "x" * 65, "../main", "главная"])
def test_invalid_queue_name_is_refused(server: Server, queue: str) -> None:
    before = _rows(server)
    with pytest.raises(IntakeRefused):
        submit(server, Request({"help": "x"}), _now(), queue=queue)
    assert _rows(server) == before


def test_oversize_request_is_refused_leaving_no_row(server: Server) -> None:
    answers = {f"a{i}": "ж" * MAX_ANSWER_LENGTH for i in range(10)}  # each answer allowed, the whole too long
    request = request_from_json({"answers": answers, "language": "ru"})
    before = _rows(server)
    with pytest.raises(IntakeRefused, match="too long"):
        submit(server, request, _now())
    assert _rows(server) == before


def test_request_just_under_the_limit_is_accepted(server: Server, staffed_home: StaffedHome) -> None:
    answers = {f"a{i}": "x" * MAX_ANSWER_LENGTH for i in range(15)}
    assert len(json.dumps(answers)) < MAX_PAYLOAD - 200
    receipt = submit(server, request_from_json(answers), _now())
    assert _open(server, receipt, staffed_home.staff["cas-main"])["answers"] == answers


# -- revoked and expired staff ---------------------------------------------------------------


def test_revoked_caseworker_is_not_a_recipient_of_new_cases(server: Server, staffed_home: StaffedHome) -> None:
    now = _now()
    revoked = staffed_home.staff["cas-main-2"]
    before = submit(server, Request({"help": "before"}), now)
    server.save_roster(sign_roster(server.roster(now).with_revoked("cas-main-2", now, 30), staffed_home.admin), now)
    after = submit(server, Request({"help": "after"}), now)

    assert _kid(revoked) in _recipients(server, before)
    assert _recipients(server, after) == {_kid(staffed_home.staff["cas-main"])}
    with pytest.raises(NotARecipient):
        _open(server, after, revoked)
    assert _open(server, after, staffed_home.staff["cas-main"])["answers"] == {"help": "after"}
    with pytest.raises(NotOnRoster, match="revoked"):
        StaffSession.start(server, revoked, now)


def test_expired_caseworker_is_not_a_recipient_of_new_cases(server: Server, staffed_home: StaffedHome) -> None:
    now = _now()
    temp = Identity.generate("cas-temp")
    roster = server.roster(now).with_member(Member(temp.public, Role.CASEWORKER, ("main",), now, now + DAY), now, 30)
    server.save_roster(sign_roster(roster, staffed_home.admin), now)
    during = submit(server, Request({"help": "during"}), now)
    later = now + 2 * DAY
    after = submit(server, Request({"help": "after"}), later)

    assert _kid(temp) in _recipients(server, during)
    assert _kid(temp) not in _recipients(server, after)
    with pytest.raises(NotARecipient):
        _open(server, after, temp)
    with pytest.raises(NotOnRoster, match="expired"):
        StaffSession.start(server, temp, later)


def test_queue_whose_only_caseworker_is_revoked_refuses_intake(server: Server, staffed_home: StaffedHome) -> None:
    now = _now()
    server.save_roster(sign_roster(server.roster(now).with_revoked("cas-other", now, 30), staffed_home.admin), now)
    with pytest.raises(IntakeRefused, match="no active caseworker"):
        submit(server, Request({"help": "x"}), now, queue="other")
    assert _rows(server)[0] == 0


# -- request checks ------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        [],
        ["help"],
        "help",
        42,
        None,
        {},
        {"answers": {}},
        {"answers": []},
        {"answers": "text"},
        {"answers": {"help": "x"}, "language": "e"},
        {"answers": {"help": "x"}, "language": "x" * 17},
        {"answers": {"help": "x"}, "language": 7},
        {"": "x"},
        {"k" * 65: "x"},
        {"help": 1},
        {"help": None},
        {"help": ["x"]},
        {"help": {"nested": "x"}},
        {"help": "x" * (MAX_ANSWER_LENGTH + 1)},
        {f"a{i}": "x" for i in range(MAX_ANSWERS + 1)},
    ],
)
def test_malformed_request_is_refused(obj: object) -> None:
    with pytest.raises(IntakeRefused):
        request_from_json(obj)


def test_request_forms_are_read_as_documented() -> None:
    wrapped = request_from_json({"answers": {"help": "x"}, "language": "ru"})
    assert (dict(wrapped.answers), wrapped.language) == ({"help": "x"}, "ru")
    flat = request_from_json({"help": "x", "language": "ru"})
    assert (dict(flat.answers), flat.language) == ({"help": "x", "language": "ru"}, "en")


def test_control_characters_are_removed_from_answers() -> None:
    cleaned = check_answers({"help": "  line one\nline\x00 two\x1b[31m\t\r\x7f  "})
    assert cleaned == {"help": "line one\nline two[31m"}


def test_zero_width_joiners_needed_by_persian_text_are_kept() -> None:
    persian = "می\u200cخواهم"  # "I want": the ZWNJ is part of the correct spelling
    assert check_answers({"help": persian}) == {"help": persian}


# -- what a caseworker needs to answer ---------------------------------------------------


def test_request_from_the_bot_carries_a_tagged_handle_and_the_reply_key(server: Server,
                                                                         staffed_home: StaffedHome) -> None:
    bot = server.bot_identity()
    receipt = submit(server, Request({"help": "x"}, "ru", "telegram", seal_reply_handle(bot, 4242)), _now())
    request = _open(server, receipt, staffed_home.staff["cas-main"])
    handle, tag = base64.b64decode(request["reply_handle"]), base64.b64decode(request["reply_tag"])
    assert open_reply_handle([bot.box_private], handle, tag, receipt.case_id) == 4242
    with pytest.raises(IntakeRefused):
        open_reply_handle([bot.box_private], handle, tag, "zzzzzzzzzzzzzzzz")
    assert base64.b64decode(request["reply_key"]) == bytes(reply_public_key(receipt.reference, receipt.case_id))


def test_request_typed_in_elsewhere_has_no_way_to_be_answered(server: Server, staffed_home: StaffedHome) -> None:
    request = _open(server, submit(server, Request({"help": "x"}), _now()), staffed_home.staff["cas-main"])
    assert (request["reply_handle"], request["reply_tag"], request["reply_key"]) == (None, None, None)


def test_a_ready_ticket_gives_the_case_its_id_reference_and_keys(server: Server, staffed_home: StaffedHome) -> None:
    pepper = server.home.pepper()
    ticket = new_ticket(pepper, reply_key=True, cost=REFERENCE_COST_MINIMUM)
    bot = server.bot_identity()
    sealed = seal_request(Request({"help": "x"}, "en", "telegram", seal_reply_handle(bot, 7)), queue="main",
                          recipients=recipients_for(server, "main", _now()), bot=bot, pepper=pepper, now=_now(),
                          ticket=ticket)
    assert (sealed.case_id, sealed.reference, sealed.ref_hash) == (ticket.case_id, ticket.reference, ticket.ref_hash)
    assert ticket.reply_key == reply_public_key(ticket.reference, ticket.case_id, REFERENCE_COST_MINIMUM)
    receipt = store_sealed(server, sealed, _now())
    request = _open(server, receipt, staffed_home.staff["cas-main"])
    assert request["reply_key"] == base64.b64encode(bytes(ticket.reply_key)).decode()
