"""A caseworker's reply reaches the person discreetly: a neutral notice, the text only on tap."""

from __future__ import annotations

import json
import time

from bot import texts
from crypto.envelope import Kind, seal
from staff.direct import StaffSession
from storage.outbox import OutboxStore
from tests.bot.conftest import BotFactory
from tests.bot.flows import complete_intake, tr
from tests.bot.harness import Sandbox, wait_until
from tests.bot.test_intake import CASES
from tests.conftest import StaffedHome


def queue_reply(staffed: StaffedHome, text: str, signer: str = "cas-main") -> int:
    """Do what the staff client does: read the request, seal a reply to the bot and a copy to colleagues."""
    with staffed.open() as server:
        now = int(time.time())
        case = server.cases.list(with_envelopes=True)[0]
        view = StaffSession.start(server, staffed.staff["cas-main"], now).read(case)
        assert view.request is not None
        caseworker = staffed.staff[signer]
        payload = {"v": 1, "text": text, "reply_handle": view.request["reply_handle"],
                   "language": view.request["language"]}
        to_bot = seal(json.dumps(payload).encode(), kind=Kind.REPLY, case_id=case.id, queue=case.queue,
                      recipients=[server.bot_identity().public], signer=caseworker.signing_key)
        copy = seal(json.dumps({"v": 1, "text": text}).encode(), kind=Kind.REPLY, case_id=case.id,
                    queue=case.queue, recipients=[m.identity for m in server.roster(now).caseworkers_for(case.queue, now)],
                    signer=caseworker.signing_key)
        return OutboxStore(server.db).queue_reply(case.id, caseworker.name, to_bot, copy, now)


def test_reply_is_announced_neutrally_and_shown_only_on_tap(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    person = sandbox.person("ru")
    complete_intake(person, "ru", CASES["ru"])
    item = queue_reply(staffed, "Ответ куратора 7k2")
    notice = person.wait_for_text(tr("ru", texts.NEW_MESSAGE), timeout=20)
    assert "7k2" not in json.dumps(person.messages(), ensure_ascii=False)
    person.press(f"m:{item}")
    person.wait_for_text("Ответ куратора 7k2")
    assert notice["text"] == tr("ru", texts.NEW_MESSAGE)
    with staffed.open() as server:
        wait_until(lambda: OutboxStore(server.db).all() == [], what="the outbox to be emptied")
        assert [e.kind.value for e in server.cases.events(server.cases.list()[0].id)] == ["reply"]
        assert "reply.delivered" in [a.action for a in server.cases.audit_log()]


def test_a_second_tap_finds_the_reply_gone(sandbox: Sandbox, run_bot: BotFactory) -> None:
    """Once delivered, the reply exists nowhere on the server; a stale Show button says so."""
    staffed, _ = run_bot()
    person = sandbox.person("en")
    complete_intake(person, "en", CASES["en"])
    item = queue_reply(staffed, "once only 3j9")
    person.wait_for_text(tr("en", texts.NEW_MESSAGE), timeout=20)
    person.press(f"m:{item}")
    person.wait_for_text("once only 3j9")
    person.press(f"m:{item}")
    person.wait_for_text(tr("en", texts.REPLY_GONE))
    # (Telegram, like the sandbox, refuses callback data that is not on the pressed message; the bot
    # still checks that the chat behind the reply handle is the chat that tapped.)


def test_reply_signed_by_someone_off_the_queue_is_dropped(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    person = sandbox.person("en")
    complete_intake(person, "en", CASES["en"])
    queue_reply(staffed, "forged 5q1", signer="cas-other")
    with staffed.open() as server:
        wait_until(lambda: OutboxStore(server.db).all() == [], timeout=20, what="the forged reply to be dropped")
        assert "reply.dropped.rejected" in [a.action for a in server.cases.audit_log()]
    assert "5q1" not in json.dumps(person.messages())
