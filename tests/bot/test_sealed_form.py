"""The sealed form end to end: the real bot and sandbox, the page's calls over real HTTP (tests/bot/sealed_page.py).

Every refusal has its own test: forged, stale or missing initData; a tampered, mis-addressed or
oversize envelope; a queue the routing cannot pick; a replayed submit; a flood.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from nacl.signing import VerifyKey

from bot import texts
from bot.webform.initdata import sign
from crypto.envelope import Kind, open_envelope
from crypto.replykey import derive_reply_key
from staff.direct import StaffSession
from storage.cases import EventKind
from storage.outbox import OutboxStore
from tests.bot.flows import tr
from tests.bot.harness import TOKEN, Bot, Person, Sandbox, configure_home, start_bot, wait_until
from tests.bot.sealed_page import Page, b64, unb64
from tests.bot.test_replies import queue_reply
from tests.conftest import StaffedHome, build_staffed_home

ANSWERS = {"help": "Leave the country", "urgency": "I am in danger now", "country": "Narnia-canary-7d1",
           "region": "", "contact": "evenings, this chat", "details": "sealed-detail-canary-42"}

SealedBot = Callable[..., tuple[StaffedHome, Bot]]


def sealed_config(root: Path, port: int, mode: str = "sealed_form") -> None:
    """Offer the sealed form at the bot's own listener (as `waystation demo` does)."""
    path = root / "config.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('mode = "sealed_form"', f'mode = "{mode}"', 1)
    text = text.replace('public_url = ""', f'public_url = "http://127.0.0.1:{port}"', 1)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def sealed_bot(tmp_path: Path, sandbox: Sandbox) -> Iterator[SealedBot]:
    bots: list[Bot] = []

    def factory(mode: str = "sealed_form", **settings: int) -> tuple[StaffedHome, Bot]:
        staffed = build_staffed_home(tmp_path / f"home{len(bots)}")
        port = configure_home(staffed.root, sandbox, **settings)
        sealed_config(staffed.root, port, mode)
        bot = start_bot(staffed.root, port, tmp_path / f"bot{len(bots)}.log")
        bots.append(bot)
        return staffed, bot

    yield factory
    for bot in bots:
        bot.stop()


def opened(person: Person, bot: Bot, language: str = "en") -> Page:
    person.say("/start")
    person.wait_for_text(tr(language, texts.CONSENT_SEALED))
    return Page.open(person, bot.port, language)


def staff_view(staffed: StaffedHome, nth: int = 0) -> Any:
    with staffed.open() as server:
        case = server.cases.list(with_envelopes=True)[nth]
        return StaffSession.start(server, staffed.staff["cas-main"], int(time.time())).detail(case, int(time.time()))


def test_start_offers_the_sealed_form_and_the_chat_form_as_fallback(sealed_bot: SealedBot, sandbox: Sandbox) -> None:
    _, bot = sealed_bot()
    person = sandbox.person()
    person.say("/start")
    message = person.wait_for_text(tr("en", texts.CONSENT_SEALED))
    buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
    web = [b for b in buttons if "web_app" in b]
    assert len(web) == 1 and web[0]["web_app"]["url"] == f"http://127.0.0.1:{bot.port}/form/?lang=en"
    assert any(b.get("callback_data") == "c" for b in buttons)  # the chat form, for clients without Mini Apps
    menu = wait_until(lambda: sandbox.client.get(f"{sandbox.api}/chats/{person.chat_id}/messages").json()
                      .get("menu_button", {}).get("type") == "web_app", 10, what="the chat's menu button")
    assert menu
    person.press("c")  # the fallback still asks in the chat
    person.wait_for_text(tr("en", "Question {number} of {total}"))


def test_a_sealed_request_opens_in_the_staff_client_unchanged(sealed_bot: SealedBot, sandbox: Sandbox) -> None:
    staffed, bot = sealed_bot()
    person = sandbox.person()
    page = opened(person, bot)
    done = page.submit(ANSWERS, alert={"help": "leave", "urgency": "now", "country": "x"})
    assert len("".join(ch for ch in done["reference"] if ch.isdigit())) == 16
    detail = staff_view(staffed)
    request = detail.view.request
    assert request["answers"] == ANSWERS
    assert request["channel"] == "telegram" and request["language"] == "en"
    assert request["reply_key"] and request["reply_handle"] and request["reply_tag"]
    with staffed.open() as server:
        case = server.cases.list()[0]
        assert case.queue == "main"
        alerts = server.db.conn.execute("SELECT COUNT(*) FROM case_alerts").fetchone()[0]
    assert alerts == 1  # volunteers alerted as for the chat form
    texts_in_chat = " ".join(m.get("text") or "" for m in person.messages())
    assert "canary" not in texts_in_chat and done["reference"] not in texts_in_chat


def test_a_replayed_submit_is_refused(sealed_bot: SealedBot, sandbox: Sandbox) -> None:
    staffed, bot = sealed_bot()
    page = opened(sandbox.person(), bot)
    begun = page.ok("begin")
    body = b64(page.request_body(begun, ANSWERS))
    assert page.call("submit", case_id=begun["case_id"], queue="main", envelope=body).status_code == 200
    again = page.call("submit", case_id=begun["case_id"], queue="main", envelope=body)
    assert again.status_code == 409 and again.json() == {"error": "expired"}
    with staffed.open() as server:
        assert len(server.cases.list()) == 1


@pytest.mark.parametrize("change", ["other_token", "stale", "no_hash", "tampered_user"])
def test_forged_or_stale_init_data_is_refused(sealed_bot: SealedBot, sandbox: Sandbox, change: str) -> None:
    staffed, bot = sealed_bot()
    page = opened(sandbox.person(), bot)
    fields = dict(parse_qsl(page.init_data))
    fields.pop("hash")
    if change == "other_token":
        fields["hash"] = sign(fields, "999999:" + "X" * 35)
    elif change == "stale":
        fields["auth_date"] = str(int(time.time()) - 2 * 3600)
        fields["hash"] = sign(fields, TOKEN)
    elif change == "tampered_user":
        fields["hash"] = sign(fields, TOKEN)
        fields["user"] = fields["user"].replace(str(page.person.chat_id), str(page.person.chat_id + 1))
    page.init_data = urlencode(fields)
    for name in ("begin", "lookup", "wipe"):
        reply = page.call(name, reference="0000 000 000 000 000")
        assert reply.status_code == 403 and reply.json() == {"error": "init_data"}
    with staffed.open() as server:
        assert server.cases.list() == []


def _begun(sealed_bot: SealedBot, sandbox: Sandbox) -> tuple[StaffedHome, Page, dict[str, Any]]:
    staffed, bot = sealed_bot()
    page = opened(sandbox.person(), bot)
    return staffed, page, page.ok("begin")


def test_a_tampered_envelope_is_refused_and_nothing_stored(sealed_bot: SealedBot, sandbox: Sandbox) -> None:
    staffed, page, begun = _begun(sealed_bot, sandbox)
    body = bytearray(page.request_body(begun, ANSWERS))
    body[4] = 2  # version
    reply = page.call("submit", case_id=begun["case_id"], queue="main", envelope=b64(bytes(body)))
    assert reply.status_code == 400 and reply.json() == {"error": "bad_envelope"}
    body = bytearray(page.request_body(begun, ANSWERS))
    body[40] ^= 1  # the case id inside the header: another case than the one set aside
    reply = page.call("submit", case_id=begun["case_id"], queue="main", envelope=b64(bytes(body)))
    assert reply.status_code == 400
    with staffed.open() as server:
        assert server.cases.list() == []


def test_an_envelope_not_sealed_to_exactly_the_queues_caseworkers_is_refused(sealed_bot: SealedBot,
                                                                             sandbox: Sandbox) -> None:
    staffed, page, begun = _begun(sealed_bot, sandbox)
    keys = [r["key"] for r in begun["queues"]["main"]]
    for recipients in (keys[:1], [*keys, b64(bytes(32 * [7]))]):
        body = page.request_body(begun, ANSWERS, recipients=recipients)
        reply = page.call("submit", case_id=begun["case_id"], queue="main", envelope=b64(body))
        assert reply.status_code == 400 and reply.json() == {"error": "bad_envelope"}
    with staffed.open() as server:
        assert server.cases.list() == []


def test_a_queue_the_routing_cannot_pick_is_refused(sealed_bot: SealedBot, sandbox: Sandbox) -> None:
    staffed, page, begun = _begun(sealed_bot, sandbox)
    assert set(begun["queues"]) == {"main"}  # no routing rule: only the default queue
    other = [b64(bytes(staffed.staff["cas-other"].public.box_key))]
    body = page.request_body(begun, ANSWERS, queue="other", recipients=other)
    reply = page.call("submit", case_id=begun["case_id"], queue="other", envelope=b64(body))
    assert reply.status_code == 400 and reply.json() == {"error": "bad_queue"}
    with staffed.open() as server:
        assert server.cases.list() == []


def test_an_oversize_envelope_is_refused(sealed_bot: SealedBot, sandbox: Sandbox) -> None:
    staffed, page, begun = _begun(sealed_bot, sandbox)
    reply = page.call("submit", case_id=begun["case_id"], queue="main", envelope=b64(bytes(200_000)))
    assert reply.status_code == 413
    reply = httpx.post(f"{page.base}/api/submit", content=b"{" + b" " * 200_000 + b"}", timeout=10)
    assert reply.status_code == 413
    with staffed.open() as server:
        assert server.cases.list() == []


def test_follow_up_and_reply_reading_in_the_page(sealed_bot: SealedBot, sandbox: Sandbox) -> None:
    staffed, bot = sealed_bot()
    person = sandbox.person()
    page = opened(person, bot)
    reference = page.submit(ANSWERS)["reference"]
    queue_reply(staffed, "We can help: reply-canary-913")
    # The neutral notice's Show button opens the form (the reply is read there, not in the chat).
    notice = person.wait_for_text(tr("en", texts.NEW_MESSAGE), timeout=30)
    [show] = [b for row in notice["reply_markup"]["inline_keyboard"] for b in row]
    assert show["web_app"]["url"] == f"http://127.0.0.1:{bot.port}/form/?lang=en"
    # The reply waits; the page finds it by the reference and opens it with the reply key derived on the phone.
    found = page.ok("lookup", reference=reference)
    assert len(found["replies"]) == 1
    key = derive_reply_key(reference, found["case_id"])
    payload = open_envelope(unb64(found["replies"][0]["envelope"]), recipient=key,
                            trusted_signers=[VerifyKey(unb64(s)) for s in found["reply_signers"]],
                            case_id=found["case_id"], queue=found["queue"], kinds={Kind.REPLY}).payload
    assert json.loads(payload)["text"] == "We can help: reply-canary-913"
    page.ok("read", token=found["token"], read=[found["replies"][0]["id"]])
    with staffed.open() as server:
        assert OutboxStore(server.db).waiting(found["case_id"]) == []
    page.ok("followup", token=found["token"], envelope=b64(page.follow_up_body(found, "follow-up-canary-77")))
    detail = staff_view(staffed)
    follow_ups = [e for e in detail.events if e.event.kind is EventKind.FOLLOW_UP]
    assert [e.text for e in follow_ups] == ["follow-up-canary-77"]
    chat = " ".join(m.get("text") or "" for m in person.messages())
    assert "canary" not in chat


def test_a_wrong_reference_looks_like_a_right_one_without_replies(sealed_bot: SealedBot, sandbox: Sandbox) -> None:
    staffed, page, _ = _begun(sealed_bot, sandbox)
    found = page.ok("lookup", reference="1234 567 890 123 456")
    assert found["replies"] == [] and found["queue"] == "main" and len(found["case_id"]) == 16
    page.ok("followup", token=found["token"], envelope=b64(page.follow_up_body(found, "lost")))
    with staffed.open() as server:
        assert server.cases.list() == []


def test_the_panic_wipe_from_the_page_deletes_the_chat(sealed_bot: SealedBot, sandbox: Sandbox) -> None:
    _, bot = sealed_bot()
    person = sandbox.person()
    page = opened(person, bot)
    begun = page.ok("begin")
    assert person.bot_messages()
    page.ok("wipe")
    wait_until(lambda: all(m.get("text") != tr("en", texts.CONSENT_SEALED) for m in person.bot_messages())
               and not any(m["side"] == "person" for m in person.messages()), 10, what="the chat wiped")
    wait_until(lambda: sandbox.client.get(f"{sandbox.api}/chats/{person.chat_id}/messages").json()
               .get("menu_button", {}).get("type") != "web_app", 10, what="the menu button withdrawn")
    # The draft went with the wipe: its case id can no longer be used.
    body = page.request_body(begun, ANSWERS)
    assert page.call("submit", case_id=begun["case_id"], queue="main", envelope=b64(body)).status_code == 409


def test_a_flood_of_page_calls_is_slowed_down(sealed_bot: SealedBot, sandbox: Sandbox) -> None:
    _, bot = sealed_bot(flood=5)
    page = opened(sandbox.person(), bot)
    codes = [page.call("lookup", reference="x").status_code for _ in range(8)]
    assert 429 in codes


def test_the_page_is_served_with_a_strict_policy_and_no_caching(sealed_bot: SealedBot, sandbox: Sandbox) -> None:
    _, bot = sealed_bot()
    base = f"http://127.0.0.1:{bot.port}/form"
    for path in ("/", "/static/app.js", "/static/vendor/libsodium-sumo.js", "/api/form?lang=ar"):
        reply = httpx.get(base + path, timeout=10)
        assert reply.status_code == 200
        assert reply.headers["cache-control"] == "no-store"
        csp = reply.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp
        assert "script-src 'self' 'wasm-unsafe-eval'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors https://web.telegram.org" in csp and f"http://127.0.0.1:{sandbox.port}" in csp
    assert httpx.get(base + "/static/../../config.toml", timeout=10).status_code == 404
    assert httpx.get(base + "/static/nothing.js", timeout=10).status_code == 404
    form = httpx.get(base + "/api/form?lang=ar", timeout=10).json()
    assert form["direction"] == "rtl" and form["language"] == "ar"


def test_chat_mode_serves_no_form(tmp_path: Path, sealed_bot: SealedBot, sandbox: Sandbox) -> None:
    _, bot = sealed_bot(mode="chat")
    assert httpx.get(f"http://127.0.0.1:{bot.port}/form/", timeout=10).status_code == 404
    person = sandbox.person()
    person.say("/start")
    message = person.wait_for_text(tr("en", texts.CONSENT))
    assert "web_app" not in json.dumps(message["reply_markup"])


def test_both_mode_offers_the_form_and_the_chat_form_side_by_side(sealed_bot: SealedBot, sandbox: Sandbox) -> None:
    _, bot = sealed_bot(mode="both")
    person = sandbox.person()
    person.say("/start")
    message = person.wait_for_text(tr("en", texts.CONSENT_SEALED))
    buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["web_app"]["url"] for b in buttons if "web_app" in b] == [f"http://127.0.0.1:{bot.port}/form/?lang=en"]
    data = {b.get("callback_data") for b in buttons}
    assert {"c", "f"} <= data  # the chat form's Continue and its follow-up by reference
    assert httpx.get(f"http://127.0.0.1:{bot.port}/form/", timeout=10).status_code == 200
