"""Replies through the real bot and sandbox: a neutral notice, then the text only for the reference.

The caseworker's side is done as the staff client does it (staff.casework.seal_reply) on a
second connection to the bot's live database; the person's side through the sandbox.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nacl.public import PrivateKey
from telegram import CallbackQuery, Chat, Message, Update, User
from telegram.ext import CallbackQueryHandler

from bot import texts
from bot.conversation import build_conversation, expired_button, read_button
from crypto.envelope import Kind, open_envelope, seal
from crypto.errors import CryptoError
from crypto.keys import Identity
from crypto.replykey import TAG_SIZE, seal_handle
from crypto.roster import Roster, sign_roster
from staff.casework import seal_reply
from staff.direct import StaffSession
from storage.cases import Case, Delivery, EventKind
from storage.keyring import bot_box_keys
from storage.outbox import OutboxStore
from storage.server import Server
from tests.alerts.pages import decrypted_pages
from tests.bot.conftest import BotFactory
from tests.bot.flows import complete_intake, tr
from tests.bot.harness import Person, Sandbox, wait_until
from tests.bot.test_intake import CASES
from tests.conftest import StaffedHome

DAY = 86_400


def _case(server: Server, nth: int = 0) -> Case:
    return server.cases.list(with_envelopes=True)[nth]


def _request(server: Server, staffed: StaffedHome, case: Case) -> dict[str, Any]:
    view = StaffSession.start(server, staffed.staff["cas-main"], int(time.time())).read(case)
    assert view.request is not None
    return view.request


def queue_reply(staffed: StaffedHome, text: str, nth: int = 0, signer: str = "cas-main",
                change: dict[str, bytes] | None = None) -> int:
    """Do what the staff client does: read the request, seal the reply three ways, put it in the outbox."""
    with staffed.open() as server:
        now = int(time.time())
        case = _case(server, nth)
        sealed = seal_reply(text, _request(server, staffed, case), case, staffed.staff[signer], server.roster(now),
                            server.bot_identity().box_private.public_key, now)
        parts = {"to_bot": sealed.to_bot, "to_person": sealed.to_person, "copy": sealed.copy, **(change or {})}
        return OutboxStore(server.db).queue_reply(case.id, signer, parts["to_bot"], parts["to_person"], parts["copy"],
                                                  now)


def _states(staffed: StaffedHome, nth: int = 0) -> list[Delivery | None]:
    with staffed.open() as server:
        return [e.delivery for e in server.cases.events(_case(server, nth).id) if e.kind is EventKind.REPLY]


def _wait_state(staffed: StaffedHome, state: Delivery, nth: int = 0) -> None:
    wait_until(lambda: _states(staffed, nth)[-1:] == [state], timeout=20, what=f"the reply to be {state.value}")


def _read(person: Person, language: str, reference: str, start: bool = False) -> None:
    """Give the reference: from the notice's Show button, or from the consent screen."""
    if start:
        person.say("/start")
        person.press("f")
    else:
        person.press(f"read:{language}")
    person.wait_for_text(tr(language, texts.FOLLOW_UP_ASK_REFERENCE))
    person.say(reference)
    person.wait_for_text(tr(language, texts.FOLLOW_UP_ASK_TEXT), timeout=20)


def _texts(person: Person) -> list[str]:
    return [m.get("text") or "" for m in person.bot_messages()]


def test_reply_is_announced_neutrally_and_read_only_with_the_reference(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    person = sandbox.person("ru")
    reference = complete_intake(person, "ru", CASES["ru"])
    assert reference is not None
    queue_reply(staffed, "Ответ куратора 7k2")
    notice = person.wait_for_text(tr("ru", texts.NEW_MESSAGE), timeout=20)
    assert notice["text"] == tr("ru", texts.NEW_MESSAGE)
    assert person.buttons(notice) == [(tr("ru", texts.BUTTON_SHOW), "read:ru")]  # no row id in the button
    _wait_state(staffed, Delivery.NOTIFIED)
    with staffed.open() as server:
        [item] = OutboxStore(server.db).all()
        assert item.delivery is None  # the bot's envelope went with the notice
    assert "7k2" not in json.dumps(person.messages(), ensure_ascii=False)

    _read(person, "ru", reference)
    texts_seen = _texts(person)
    assert any("Ответ куратора 7k2" == t for t in texts_seen)
    assert texts_seen.index("Ответ куратора 7k2") < len(texts_seen) - 1  # then the offer to add information
    with staffed.open() as server:
        assert OutboxStore(server.db).all() == []
        actions = [a.action for a in server.cases.audit_log()]
        assert actions.index("reply.notified") < actions.index("reply.read")
    assert _states(staffed) == [Delivery.READ]


def test_reply_is_read_from_another_chat_and_a_second_reading_finds_nothing(sandbox: Sandbox,
                                                                           run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    first = sandbox.person("en")
    reference = complete_intake(first, "en", CASES["en"])
    assert reference is not None
    queue_reply(staffed, "first answer 3j9")
    queue_reply(staffed, "second answer 3k0")
    first.wait_for_text(tr("en", texts.NEW_MESSAGE), timeout=20)
    elsewhere = sandbox.person("en")  # a new phone, or another account
    _read(elsewhere, "en", reference, start=True)
    seen = _texts(elsewhere)
    assert seen.index("first answer 3j9") < seen.index("second answer 3k0")  # in the order written
    assert "3j9" not in json.dumps(first.messages())
    assert _states(staffed) == [Delivery.READ, Delivery.READ]
    again = sandbox.person("en")
    _read(again, "en", reference, start=True)
    assert not any("answer" in t for t in _texts(again))


def test_wrong_reference_reads_nothing_and_looks_like_a_right_one_without_replies(sandbox: Sandbox,
                                                                                  run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    reference = complete_intake(sandbox.person("en"), "en", CASES["en"])
    assert reference is not None
    queue_reply(staffed, "for the right person 8v2")
    _wait_state(staffed, Delivery.NOTIFIED)
    wrong, nonsense = sandbox.person("en"), sandbox.person("en")
    _read(wrong, "en", "1111 222 333 444 555", start=True)
    _read(nonsense, "en", "not a reference", start=True)
    assert _states(staffed) == [Delivery.NOTIFIED]  # still waiting for the person
    right = sandbox.person("en")
    _read(right, "en", reference, start=True)
    no_reply = sandbox.person("en")
    _read(no_reply, "en", reference, start=True)  # right reference, nothing waiting any more
    assert _texts(wrong) == _texts(nonsense) == _texts(no_reply)
    assert "for the right person 8v2" in _texts(right)


def test_reply_signed_by_someone_off_the_queue_is_refused(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    person = sandbox.person("en")
    complete_intake(person, "en", CASES["en"])
    queue_reply(staffed, "forged 5q1", signer="cas-other")
    _wait_state(staffed, Delivery.REJECTED)
    with staffed.open() as server:
        assert OutboxStore(server.db).all() == []
        assert "reply.rejected" in [a.action for a in server.cases.audit_log()]
    assert "5q1" not in json.dumps(person.messages()) and tr("en", texts.NEW_MESSAGE) not in _texts(person)


def _delivery(staffed: StaffedHome, nth: int, handle: bytes, tag: bytes, signer: str = "cas-main") -> bytes:
    """A delivery envelope a caseworker seals by hand, bound to case `nth`, with any handle and tag."""
    with staffed.open() as server:
        case = _case(server, nth)
        bot = server.bot_identity().box_private.public_key
    payload = {"v": 1, "reply_handle": base64.b64encode(handle).decode(), "reply_tag": base64.b64encode(tag).decode(),
               "language": "en"}
    return seal(json.dumps(payload).encode(), kind=Kind.DELIVERY, case_id=case.id, queue=case.queue,
                recipients=[bot], signer=staffed.staff[signer].signing_key)


def test_a_caseworker_cannot_make_the_bot_write_to_any_other_chat(sandbox: Sandbox, run_bot: BotFactory) -> None:
    """Forged handles, and a real handle moved to another case, get no notice anywhere."""
    staffed, _ = run_bot()
    one, two = sandbox.person("en"), sandbox.person("en")
    complete_intake(one, "en", CASES["en"])
    complete_intake(two, "en", CASES["en"])
    bystander = sandbox.person("en")
    bystander.say("/start")  # a chat that only said hello
    bystander.wait_for_text(tr("en", texts.CONSENT))
    with staffed.open() as server:
        bot = server.bot_identity()
        request_one = _request(server, staffed, _case(server, 0))
    forged = seal_handle(bot.box_private.public_key, bystander.chat_id)  # anyone can seal to the bot's key
    handle_one = base64.b64decode(request_one["reply_handle"])
    tag_one = base64.b64decode(request_one["reply_tag"])
    attempts = [
        (1, forged, bytes(TAG_SIZE)),  # a chat id of their choosing, without the bot's tag
        (1, forged, tag_one),  # ... with another handle's real tag
        (1, handle_one, tag_one),  # case one's real handle and tag, moved into a reply to case two
    ]
    for nth, handle, tag in attempts:
        queue_reply(staffed, "unwanted 6u1", nth=nth, change={"to_bot": _delivery(staffed, nth, handle, tag)})
    wait_until(lambda: _states(staffed, 1) == [Delivery.REJECTED] * 3, timeout=20, what="three refusals")
    for person in (one, two, bystander):
        assert tr("en", texts.NEW_MESSAGE) not in _texts(person)
        assert "6u1" not in json.dumps(person.messages())
    with staffed.open() as server:
        assert OutboxStore(server.db).all() == []


def test_unread_reply_expires_and_the_caseworkers_see_it(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    person = sandbox.person("en")
    reference = complete_intake(person, "en", CASES["en"])
    assert reference is not None
    queue_reply(staffed, "never read 2x7")
    _wait_state(staffed, Delivery.NOTIFIED)
    with staffed.open() as server:  # 31 days pass (the default is 30)
        with server.db.transaction() as conn:
            conn.execute("UPDATE outbox SET created_at = created_at - ?", (31 * DAY,))
    _wait_state(staffed, Delivery.EXPIRED)
    with staffed.open() as server:
        assert OutboxStore(server.db).all() == []
        assert "reply.expired" in [a.action for a in server.cases.audit_log()]
    later = sandbox.person("en")
    _read(later, "en", reference, start=True)
    assert "never read 2x7" not in _texts(later)


def test_a_blocked_chat_gets_no_notice_but_the_reply_stays_readable(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    person = sandbox.person("en")
    reference = complete_intake(person, "en", CASES["en"])
    assert reference is not None
    sandbox.client.post(f"{sandbox.api}/chats/{person.chat_id}/block", json={}).raise_for_status()
    queue_reply(staffed, "still for you 4b4")
    _wait_state(staffed, Delivery.UNDELIVERABLE)
    with staffed.open() as server:
        [item] = OutboxStore(server.db).all()
        assert item.delivery is None
    elsewhere = sandbox.person("en")
    _read(elsewhere, "en", reference, start=True)
    assert "still for you 4b4" in _texts(elsewhere)
    assert _states(staffed) == [Delivery.READ]


def _copy_home(staffed: StaffedHome, where: Path) -> Path:
    """What a seizure takes: every file of the live home (database, WAL, SHM, secrets)."""
    shutil.copytree(staffed.root, where)
    return where


def test_after_the_notice_no_server_secret_opens_the_reply(sandbox: Sandbox, run_bot: BotFactory,
                                                          tmp_path: Path) -> None:
    """A copy of the home taken after the notice: db key, bot keys and pepper open no reply, find no text."""
    staffed, _ = run_bot()
    person = sandbox.person("en")
    complete_intake(person, "en", CASES["en"])
    canary = "seized-canary-9q3"
    queue_reply(staffed, canary)
    _wait_state(staffed, Delivery.NOTIFIED)
    seized = _copy_home(staffed, tmp_path / "seized")
    with Server.open(seized, environ={}) as server:
        keys = bot_box_keys(server.home)  # every X25519 key the server holds (current and retired bot keys)
        pepper = server.home.pepper()
        keys.append(PrivateKey(pepper + pepper))  # the pepper tried as a key too
        blobs = [b for row in server.db.conn.execute("SELECT delivery, envelope FROM outbox") for b in row if b]
        blobs += [b for (b,) in server.db.conn.execute("SELECT envelope FROM case_events") if b]
        roster = server.roster(int(time.time()))
        signers = [m.identity.verify_key for m in roster.members]
        case = _case(server)
        db_key = server.home.db_key({})
    assert blobs, "the outbox row is there (unread)"
    opened = 0
    for blob in blobs:
        for key in keys:
            try:
                open_envelope(blob, recipient=key, trusted_signers=signers, case_id=case.id, queue=case.queue,
                              kinds=set(Kind))
                opened += 1
            except CryptoError:
                continue
    assert opened == 0
    pages = b"".join(decrypted_pages(seized / "waystation.db", db_key))
    files = b"".join(p.read_bytes() for p in seized.rglob("*") if p.is_file())
    assert canary.encode() not in pages and canary.encode() not in files


def test_callback_data_that_is_not_a_button_of_ours_takes_the_stale_button_path() -> None:
    """Huge or malformed data (the old 'm:<id>' raised OverflowError) matches no reply handler at all."""
    conversation = build_conversation(600)
    user = User(1, "x", False)
    chat = Chat(1, "private")
    message = Message(5, datetime.now(UTC), chat, from_user=user)

    def update(data: str) -> Update:
        return Update(1, callback_query=CallbackQuery("q", user, "ci", message=message, data=data))

    def reads(data: str) -> bool:
        return any(isinstance(h, CallbackQueryHandler) and h.callback is read_button and h.check_update(update(data))
                   for h in conversation.entry_points)

    for data in ("read", "read:ru", "read:fa"):
        assert reads(data), data
    for data in ("m:" + "9" * 60, "m:1", "read:", "read:ru:1", "read:RU", "read:" + "a" * 40, "readx", "\x00read"):
        assert not reads(data), data
        assert CallbackQueryHandler(expired_button).check_update(update(data))  # what a stale button gets


def test_delivery_envelope_without_valid_fields_is_refused(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    person = sandbox.person("en")
    complete_intake(person, "en", CASES["en"])
    with staffed.open() as server:
        case = _case(server)
        bot = server.bot_identity().box_private.public_key
    me: Identity = staffed.staff["cas-main"]
    broken = [
        b"not json",
        json.dumps({"v": 2, "reply_handle": "AA==", "reply_tag": "AA==", "language": "en"}).encode(),
        json.dumps({"v": 1, "reply_handle": "***", "reply_tag": "AA==", "language": "en"}).encode(),
        json.dumps({"v": 1, "language": 5}).encode(),
    ]
    for payload in broken:
        envelope = seal(payload, kind=Kind.DELIVERY, case_id=case.id, queue=case.queue, recipients=[bot],
                        signer=me.signing_key)
        queue_reply(staffed, "broken 1z1", change={"to_bot": envelope})
    wait_until(lambda: _states(staffed) == [Delivery.REJECTED] * len(broken), timeout=20, what="the refusals")
    assert tr("en", texts.NEW_MESSAGE) not in _texts(person)



def test_replies_wait_while_the_roster_is_unusable_and_go_out_once_it_is_renewed(sandbox: Sandbox,
                                                                                 run_bot: BotFactory) -> None:
    """Past its grace period nobody's signature can be checked: the reply waits, it is not erased as forged."""
    staffed, bot = run_bot()
    person = sandbox.person("en")
    complete_intake(person, "en", CASES["en"])
    now = int(time.time())
    with staffed.open() as server:
        roster = server.roster(now)
        case = _case(server)
        sealed = seal_reply("after renewal 7w3", _request(server, staffed, case), case, staffed.staff["cas-main"],
                            roster, server.bot_identity().box_private.public_key, now)
    path = staffed.root / "roster.json"
    expired = Roster(roster.serial + 1, now - 300 * DAY, now - 100 * DAY, roster.members)  # 30 days of grace: over
    path.write_bytes(sign_roster(expired, staffed.admin))
    with staffed.open() as server:
        OutboxStore(server.db).queue_reply(case.id, "cas-main", sealed.to_bot, sealed.to_person, sealed.copy, now)
    wait_until(lambda: "replies wait: the roster is not usable" in bot.process.log(), 20, what="the bot to wait")
    assert _states(staffed) == [Delivery.QUEUED]
    assert tr("en", texts.NEW_MESSAGE) not in _texts(person)
    path.write_bytes(sign_roster(Roster(roster.serial + 2, now, now + 30 * DAY, roster.members), staffed.admin))
    _wait_state(staffed, Delivery.NOTIFIED)
