"""Every callback and every edit is answered; a failed update is logged where it failed, never what was said.

Forged callback data is sent through the sandbox as a modified client can (Telegram does not
check callback data against the message's buttons). Failed edits and sends come from a faulty
gateway between the real bot and the sandbox (tests/bot/gateway.py).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import texts
from tests.bot.conftest import BotFactory
from tests.bot.flows import FORM, T, complete_intake, tr
from tests.bot.gateway import Fault, Gateway
from tests.bot.harness import (
    Bot,
    Person,
    Sandbox,
    configure_home,
    start_bot,
    wait_until,
)
from tests.conftest import StaffedHome, build_staffed_home

pytestmark = pytest.mark.timeout(180)

CONSENT_FORGERIES = ["zzz", "a:", "a:help:leave", "s:", "s:help", "e:help", "r", "q", "l:", "c:", "x:y"]
QUESTION_FORGERIES = ["a:", "a:help", "a:help:", "a:help:nope", "a:urgency:now", "a::", "a:" + "h" * 60,
                      "s:", "s:help", "s:urgency", "e:help", "r", "q", "c", "zzz", "\u202e\u0000"]
REVIEW_FORGERIES = ["e:", "e:nope", "e:" + "z" * 60, "r:", "rr", "q:x", "a:help:leave", "s:details", "c", "zzz"]
CANARY = "CanaryQx7Zeta"


def forge(person: Person, data: str, message: dict[str, Any] | None = None) -> str:
    """Send callback `data` no button carries, on the newest bot message; returns the query id."""
    target = message or person.bot_messages()[-1]
    reply = person.sandbox.client.post(f"{person.sandbox.api}/chats/{person.chat_id}/callback",
                                       json={"message_id": target["message_id"], "data": data, "forged": True})
    reply.raise_for_status()
    return str(reply.json()["callback_query_id"])


def _answered(sandbox: Sandbox) -> set[str]:
    return {str(e["callback_query_id"]) for e in sandbox.events("callback_answered")}


def _changes(sandbox: Sandbox, chat_id: int, since: int) -> list[dict[str, Any]]:
    """Messages sent to or edited in the chat after event `since`."""
    return [e for e in sandbox.events() if e["seq"] > since and e.get("chat_id") == chat_id
            and e["kind"] in ("message_sent", "message_edited")]


def _last_seq(sandbox: Sandbox) -> int:
    return max((int(e["seq"]) for e in sandbox.events()), default=0)


def _forge_all_and_wait(person: Person, forgeries: list[str]) -> None:
    """Forge each, then wait until every one is answered (one chat's updates run in order)."""
    ids = [forge(person, data) for data in forgeries]
    wait_until(lambda: set(ids) <= _answered(person.sandbox), 20, what="an answer to every forged button")


def _bot_log(bot: Bot) -> str:
    return bot.process.log()


def test_forged_data_on_the_consent_screen_is_answered_and_changes_nothing(sandbox: Sandbox,
                                                                           run_bot: BotFactory) -> None:
    _, bot = run_bot()
    person = sandbox.person("en")
    person.say("/start")
    person.wait_for_text(tr("en", texts.CONSENT))
    since = _last_seq(sandbox)
    _forge_all_and_wait(person, CONSENT_FORGERIES)
    assert _changes(sandbox, person.chat_id, since) == []
    person.press("c")  # the screen still works
    person.wait_for_text(T.gettext("en", FORM.questions[0].prompt))
    assert "update handling failed" not in _bot_log(bot)


def test_forged_data_on_a_question_is_answered_and_records_nothing(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, bot = run_bot()
    person = sandbox.person("en")
    person.say("/start")
    person.wait_for_text(tr("en", texts.CONSENT))
    person.press("c")
    person.wait_for_text(T.gettext("en", FORM.questions[0].prompt))
    since = _last_seq(sandbox)
    _forge_all_and_wait(person, QUESTION_FORGERIES)
    assert _changes(sandbox, person.chat_id, since) == []
    assert "update handling failed" not in _bot_log(bot)
    # Still on the first question, with no answer recorded: the real buttons carry on from here.
    person.press("a:help:legal")
    person.wait_for_text(T.gettext("en", FORM.questions[1].prompt))


def test_forged_data_on_the_review_is_answered_and_the_request_is_what_was_answered(
        sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, bot = run_bot()
    person = sandbox.person("en")
    answers: dict[str, str | None] = {"help": "leave", "urgency": "now", "country": "Country A", "region": None,
                                      "contact": "here", "details": None}
    complete_intake(person, "en", answers, submit=False)
    since = _last_seq(sandbox)
    _forge_all_and_wait(person, REVIEW_FORGERIES)
    assert _changes(sandbox, person.chat_id, since) == []
    with staffed.open() as server:
        assert server.cases.list() == []
    person.press("r")
    person.wait_for_text(tr("en", texts.SUBMITTED), timeout=20)
    with staffed.open() as server:
        assert len(server.cases.list()) == 1
    assert "update handling failed" not in _bot_log(bot)


def test_forged_data_with_no_form_open_gets_the_same_answer_as_a_stale_button(sandbox: Sandbox,
                                                                               run_bot: BotFactory) -> None:
    run_bot()
    person = sandbox.person("en")
    person.say("/start")
    consent = person.wait_for_text(tr("en", texts.CONSENT))
    person.say("/cancel")
    person.wait_for_text(tr("en", texts.CANCELLED))

    def expired_after(press: Any) -> dict[str, Any]:
        count = len([m for m in person.bot_messages() if tr("en", texts.FORM_EXPIRED) in (m["text"] or "")])
        query = press()
        wait_until(lambda: query in _answered(sandbox), 10, what="the answer")
        wait_until(lambda: len([m for m in person.bot_messages()
                                if tr("en", texts.FORM_EXPIRED) in (m["text"] or "")]) > count, 10)
        return person.bot_messages()[-1]

    def stale() -> str:
        reply = sandbox.client.post(f"{sandbox.api}/chats/{person.chat_id}/callback",
                                    json={"message_id": consent["message_id"], "data": "c"})
        return str(reply.json()["callback_query_id"])

    real = expired_after(stale)
    for data in ("zzz", "a:", "e:nope", "s:"):
        forged = expired_after(lambda: forge(person, data, consent))  # noqa: B023 - called at once
        assert (forged["text"], forged["reply_markup"]) == (real["text"], real["reply_markup"])


def test_forged_reply_and_alert_data_is_still_answered(sandbox: Sandbox, run_bot: BotFactory) -> None:
    """`m:` and `k:` belong to other handlers; whatever they do, the person is answered and the form goes on."""
    run_bot()
    person = sandbox.person("en")
    person.say("/start")
    person.wait_for_text(tr("en", texts.CONSENT))
    person.press("c")
    person.wait_for_text(T.gettext("en", FORM.questions[0].prompt))
    _forge_all_and_wait(person, ["m:", "m:" + "9" * 40, "m:-1", "k:", "k:" + "z" * 60, "k:../x"])
    person.press("a:help:legal")
    person.wait_for_text(T.gettext("en", FORM.questions[1].prompt))


# -- failed edits and sends, through a faulty gateway ------------------------------------------


@pytest.fixture
def gateway(sandbox: Sandbox) -> Iterator[Gateway]:
    gw = Gateway(f"http://127.0.0.1:{sandbox.port}").start()
    yield gw
    gw.stop()


@pytest.fixture
def gateway_bot(tmp_path: Path, sandbox: Sandbox, gateway: Gateway) -> Iterator[Any]:
    """start(log_format) runs a bot whose Bot API is the gateway."""
    bots: list[Bot] = []

    def start(log_format: str = "text") -> tuple[StaffedHome, Bot]:
        staffed = build_staffed_home(tmp_path / f"home{len(bots)}")
        port = configure_home(staffed.root, sandbox)
        config = staffed.root / "config.toml"
        text = config.read_text().replace(sandbox.bot_base_url, gateway.bot_base_url)
        config.write_text(text.replace('format = "text"', f'format = "{log_format}"'))
        bot = start_bot(staffed.root, port, tmp_path / f"bot{len(bots)}.log")
        bots.append(bot)
        return staffed, bot

    yield start
    for bot in bots:
        bot.stop()


def test_a_failed_edit_falls_back_to_a_new_message(sandbox: Sandbox, gateway: Gateway, gateway_bot: Any) -> None:
    _, bot = gateway_bot()
    person = sandbox.person("en")
    person.say("/start")
    consent = person.wait_for_text(tr("en", texts.CONSENT))
    gateway.faults.append(Fault("editmessagetext", 502))  # a proxy on the way fails: not a BadRequest
    person.press("c")
    question = person.wait_for_text(T.gettext("en", FORM.questions[0].prompt))
    assert question["message_id"] != consent["message_id"]  # a fresh message, not a dead screen
    assert "editmessagetext" in gateway.failed
    assert "update handling failed" not in _bot_log(bot)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_failed_update_is_logged_with_its_code_frames_and_none_of_the_persons_text(
        sandbox: Sandbox, gateway: Gateway, gateway_bot: Any, log_format: str) -> None:
    _, bot = gateway_bot(log_format)
    # Both the edit and the fresh message of the review screen fail with an error that quotes it.
    needle = CANARY.encode()
    gateway.faults += [Fault("editmessagetext", 400, needle, echo=True), Fault("sendmessage", 400, needle, echo=True)]
    person = sandbox.person("en")
    answers: dict[str, str | None] = {"help": "leave", "urgency": "now", "country": CANARY, "region": None,
                                      "contact": "here", "details": None}
    person.say("/start")
    person.wait_for_text(tr("en", texts.CONSENT))
    person.press("c")
    for question in FORM.questions:
        person.wait_for_text(T.gettext("en", question.prompt))
        answer = answers[question.id]
        if question.kind == "choice":
            person.press(f"a:{question.id}:{answer}")
        elif answer is None:
            person.press(f"s:{question.id}")
        else:
            person.say(answer)
    wait_until(lambda: "update handling failed" in _bot_log(bot), 20, what="the failed update in the log")
    log = _bot_log(bot)
    assert CANARY not in log and "can't parse entities" not in log
    if log_format == "json":
        records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        (line,) = [r["message"] for r in records if "update handling failed" in r["message"]]
    else:
        (line,) = [row for row in log.splitlines() if "update handling failed" in row]
    assert "update handling failed: telegram.error.BadRequest at " in line
    frames = line.split(" at ", 1)[1].split(" (no message content", 1)[0].split(" > ")
    assert all(len(frame.split(":")) >= 3 and not frame.startswith("/") for frame in frames), frames
    assert any(frame.startswith("bot/conversation.py:") and frame.endswith(":show") for frame in frames), frames
    assert any(frame.startswith("telegram/") for frame in frames), frames
    assert {"editmessagetext", "sendmessage"} <= set(gateway.failed)


def test_the_staff_listener_logs_through_the_same_json_handler(sandbox: Sandbox, gateway_bot: Any) -> None:
    """uvicorn's own log handler would print its lines (and tracebacks) outside ours: it must not have one."""
    _, bot = gateway_bot("json")
    port = int(next(line.split(":")[-1].strip('"\n ') for line in (bot.home / "config.toml").read_text().splitlines()
                    if line.startswith("listen")))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")  # a TLS hello to a plain-HTTP port
        raw.recv(1024)
    wait_until(lambda: "Invalid HTTP request" in _bot_log(bot), 10, what="uvicorn's warning")
    lines = [line for line in _bot_log(bot).splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line, uvicorn's included, is one JSON object
    assert any(r["logger"].startswith("uvicorn") for r in records), records
