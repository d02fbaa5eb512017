"""What the staff client seals for a reply: a delivery envelope, the person's copy, the caseworkers' copy."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from crypto.envelope import Kind, open_envelope, verify
from crypto.keys import key_id
from crypto.replykey import derive_reply_key
from intake.requests import Request, seal_reply_handle, submit
from staff.casework import seal_reply
from staff.direct import StaffSession
from staff.errors import ReplyImpossible
from storage.cases import Case
from storage.server import Server
from tests.conftest import StaffedHome

pytestmark = pytest.mark.timeout(60)


def _answerable(server: Server, staffed: StaffedHome) -> tuple[Case, dict[str, Any], str]:
    now = int(time.time())
    receipt = submit(server, Request({"help": "x"}, "fa", "telegram", seal_reply_handle(server.bot_identity(), 99)),
                     now)
    view = StaffSession.start(server, staffed.staff["cas-main"], now).read(server.cases.fetch(receipt.case_id))
    assert view.request is not None
    return view.case, view.request, receipt.reference


def test_reply_is_sealed_three_ways(server: Server, staffed_home: StaffedHome) -> None:
    case, request, reference = _answerable(server, staffed_home)
    now = int(time.time())
    me = staffed_home.staff["cas-main"]
    bot = server.bot_identity()
    sealed = seal_reply("  salam  ", request, case, me, server.roster(now), bot.box_private.public_key, now)
    signer = [me.signing_key.verify_key]
    delivery = open_envelope(sealed.to_bot, recipient=bot.box_private, trusted_signers=signer, case_id=case.id,
                             queue=case.queue, kinds={Kind.DELIVERY})
    assert json.loads(delivery.payload) == {"v": 1, "reply_handle": request["reply_handle"],
                                            "reply_tag": request["reply_tag"], "language": "fa"}
    person = open_envelope(sealed.to_person, recipient=derive_reply_key(reference, case.id), trusted_signers=signer,
                           case_id=case.id, queue=case.queue, kinds={Kind.REPLY})
    assert json.loads(person.payload) == {"v": 1, "text": "salam"}
    assert len(person.header.recipients) == 1
    copy = verify(sealed.copy, trusted_signers=signer, case_id=case.id, queue=case.queue, kinds={Kind.REPLY})
    assert set(copy.recipients) == {key_id(staffed_home.staff[n].box_private.public_key)
                                    for n in ("cas-main", "cas-main-2")}


@pytest.mark.parametrize(("change", "message"), [
    ({"reply_key": None, "reply_tag": None}, "made before replies were sealed to the person's own key"),
    ({"reply_key": None}, "made before replies were sealed"),
    ({"reply_handle": None}, "nobody to reply to"),
    ({"reply_key": "not base64!"}, "reply_key is damaged"),
    ({"reply_key": base64.b64encode(b"short").decode()}, "reply_key is damaged"),
    ({"reply_tag": base64.b64encode(b"x" * 17).decode()}, "reply_tag is damaged"),
])
def test_requests_that_cannot_be_answered_say_why(server: Server, staffed_home: StaffedHome, change: dict[str, Any],
                                                  message: str) -> None:
    case, request, _ = _answerable(server, staffed_home)
    now = int(time.time())
    with pytest.raises(ReplyImpossible, match=message):
        seal_reply("hello", {**request, **change}, case, staffed_home.staff["cas-main"], server.roster(now),
                   server.bot_identity().box_private.public_key, now)
