"""The staff API end to end, through the real remote client: list, show, claim, note, reply, close, reopen."""

from __future__ import annotations

import base64
import json
import time

import pytest

from crypto.envelope import Kind, open_envelope
from crypto.errors import NotARecipient
from crypto.replykey import derive_reply_key
from intake.followups import add_follow_up
from intake.requests import open_reply_handle
from staff.direct import ReadState
from staff.errors import CaseUnavailable, ChangeRefused
from storage.cases import Delivery, EventKind, Status
from storage.outbox import OutboxStore
from tests.staff.conftest import (
    CHAT_ID,
    REQUEST_CANARY,
    Site,
    home_bytes,
    reference_hash,
)

NOTE_TEXT = "note-canary-7Hk2: met at the station, needs papers"
REPLY_TEXT = "reply-canary-Qw93: we can help, write back tomorrow"


def test_list_shows_my_queues_verified_and_decrypted(site: Site) -> None:
    with site.remote("cas-main") as client:
        views = client.list()
    assert [v.case.id for v in views] == [site.cases["main"], site.cases["main-2"]]
    assert all(v.state is ReadState.OK for v in views)
    assert views[0].request is not None and views[0].request["answers"]["story"] == REQUEST_CANARY
    with site.remote("cas-other") as client:
        assert [v.case.id for v in client.list()] == [site.cases["other"]]


def test_list_filters_by_status(site: Site) -> None:
    with site.remote("cas-main") as client:
        client.claim(site.cases["main"])
        assert [v.case.id for v in client.list([Status.NEW])] == [site.cases["main-2"]]
        assert [v.case.id for v in client.list([Status.CLAIMED])] == [site.cases["main"]]


def test_volunteer_lists_metadata_only(site: Site) -> None:
    with site.remote("vol") as client:
        views = client.list()
    assert [v.case.id for v in views] == [site.cases["main"], site.cases["main-2"]]
    assert all(v.request is None and v.case.envelope is None for v in views)


def test_show_claim_note_reply_close_reopen(site: Site) -> None:
    case_id = site.cases["main"]
    with site.remote("cas-main") as me, site.remote("cas-main-2") as colleague:
        detail = me.fetch(case_id[:8])
        assert detail.view.state is ReadState.OK and detail.events == []
        assert detail.view.request is not None and detail.view.request["language"] == "ru"

        claimed = me.claim(case_id)
        assert (claimed.status, claimed.claimed_by) == (Status.CLAIMED, "cas-main")
        try:
            colleague.claim(case_id)
            raise AssertionError("a second claim must be refused")
        except ChangeRefused as err:
            assert "already claimed" in str(err)

        assert me.note(case_id, NOTE_TEXT)[0] == case_id
        outbox_case, outbox_id = me.reply(case_id, REPLY_TEXT)
        assert outbox_case == case_id
        assert me.close(case_id).status is Status.CLOSED
        assert me.reopen(case_id).status is Status.CLAIMED  # it had an owner

        seen = colleague.fetch(case_id)
    kinds = [e.event.kind for e in seen.events]
    assert kinds == [EventKind.CLAIM, EventKind.NOTE, EventKind.REPLY, EventKind.CLOSE, EventKind.REOPEN]
    assert all(e.state is ReadState.OK for e in seen.events), [e.problem for e in seen.events]
    note, reply = seen.events[1], seen.events[2]
    assert (note.text, note.signer) == (NOTE_TEXT, "cas-main")
    assert (reply.text, reply.signer) == (REPLY_TEXT, "cas-main")

    with site.open() as server:
        audit = [(a.actor, a.action) for a in server.cases.audit_log(case_id)]
        items = OutboxStore(server.db).all()
        roster = server.roster(int(time.time()))
        bot = server.bot_identity()
        case = server.cases.fetch(case_id)
    assert audit == [("intake", "case.created"), ("cas-main", "case.claim"), ("cas-main", "case.note"),
                     ("cas-main", "case.reply"), ("cas-main", "case.close"), ("cas-main", "case.reopen")]
    assert [i.id for i in items] == [outbox_id]
    assert [e.event.delivery for e in seen.events] == [None, None, Delivery.QUEUED, None, None]
    # What the bot will do: verify the caseworker's signature, decrypt the delivery envelope, open the handle.
    signers = [m.identity.verify_key for m in roster.caseworkers_for("main", 0)]
    assert items[0].delivery is not None
    opened = open_envelope(items[0].delivery, recipient=bot.box_private, case_id=case.id, queue=case.queue,
                           kinds={Kind.DELIVERY}, trusted_signers=signers)
    payload = json.loads(opened.payload)
    assert payload["language"] == "ru" and payload["v"] == 1 and "text" not in payload
    handle, tag = base64.b64decode(payload["reply_handle"]), base64.b64decode(payload["reply_tag"])
    assert open_reply_handle([bot.box_private], handle, tag, case.id) == CHAT_ID
    # The reply itself opens only with the key derived from the person's reference: not with the bot's.
    with pytest.raises(NotARecipient):
        open_envelope(items[0].reply, recipient=bot.box_private, case_id=case.id, queue=case.queue,
                      kinds={Kind.REPLY}, trusted_signers=signers)
    person = derive_reply_key(site.references["main"], case.id)
    reply_payload = open_envelope(items[0].reply, recipient=person, case_id=case.id, queue=case.queue,
                                  kinds={Kind.REPLY}, trusted_signers=signers).payload
    assert json.loads(reply_payload) == {"v": 1, "text": REPLY_TEXT}

    everything = home_bytes(site.root)
    for secret in (NOTE_TEXT, REPLY_TEXT, REQUEST_CANARY, str(CHAT_ID)):
        assert secret.encode() not in everything, secret


def test_caseworker_of_another_queue_cannot_see_notes_or_the_case(site: Site) -> None:
    with site.remote("cas-main") as me:
        me.note(site.cases["main"], NOTE_TEXT)
    with site.remote("cas-other") as other:
        for attempt in (other.fetch, other.claim, lambda ref: other.note(ref, "x")):
            try:
                attempt(site.cases["main"])
                raise AssertionError("another queue's case must be invisible")
            except CaseUnavailable as err:
                assert str(err) == "no such case in your queues"


def test_follow_up_from_the_person_reaches_the_case(site: Site) -> None:
    text = "follow-up-canary-Lp40: I moved to another city"
    with site.open() as server:
        assert add_follow_up(server, reference_hash(site, "main"), text, "ru", int(time.time())) == site.cases["main"]
    with site.remote("cas-main-2") as client:
        events = client.fetch(site.cases["main"]).events
    assert [(e.event.kind, e.state, e.text, e.signer) for e in events] == [
        (EventKind.FOLLOW_UP, ReadState.OK, text, "the person (via the bot)")]
    assert text.encode() not in home_bytes(site.root)
