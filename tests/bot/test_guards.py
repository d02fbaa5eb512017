"""What the bot refuses: floods, oversize text, groups, unknown commands; none of it is stored."""

from __future__ import annotations

import threading

from bot import texts
from tests.bot.conftest import BotFactory
from tests.bot.flows import tr
from tests.bot.harness import Sandbox, wait_until


def test_flood_from_one_chat_is_limited_without_slowing_others(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot(flood=5)
    flooder, other = sandbox.person("en"), sandbox.person("en")

    def flood() -> None:
        for number in range(60):
            flooder.say(f"flood {number}")

    thread = threading.Thread(target=flood)
    thread.start()
    other.say("/start")
    other.wait_for_text(tr("en", texts.CONSENT), timeout=5)
    thread.join(30)
    wait_until(lambda: any(tr("en", texts.SLOW_DOWN) in (m["text"] or "") for m in flooder.bot_messages()),
               what="the flooder to be told to slow down")
    replies = flooder.bot_messages()
    assert len(replies) <= 5 + 1  # at most one reply per allowed message, plus one warning
    assert sum(tr("en", texts.SLOW_DOWN) in (m["text"] or "") for m in replies) == 1
    with staffed.open() as server:
        assert server.cases.list() == []


def test_oversize_answer_is_refused_and_not_stored(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    person = sandbox.person("en")
    person.say("/start")
    person.press("c")
    person.press("a:help:leave")
    person.press("a:urgency:now")
    person.wait_for_text("Which country")
    person.say("x" * 61)
    person.wait_for_text(tr("en", texts.ANSWER_TOO_LONG))
    person.say("y" * 4096)
    wait_until(lambda: sum(tr("en", texts.ANSWER_TOO_LONG) in (m["text"] or "") for m in person.bot_messages()) == 2,
               what="the second refusal")
    person.say("\x07\x1b")  # control characters only: nothing left after cleaning
    person.wait_for_text(tr("en", texts.ANSWER_EMPTY))
    with staffed.open() as server:
        assert server.cases.list() == []


def test_typed_text_where_buttons_are_expected(sandbox: Sandbox, run_bot: BotFactory) -> None:
    run_bot()
    person = sandbox.person("en")
    person.say("/start")
    person.press("c")
    person.wait_for_text("What kind of help")
    person.say("leave please")
    person.wait_for_text(tr("en", texts.USE_BUTTONS))


def test_group_messages_are_ignored(sandbox: Sandbox, run_bot: BotFactory) -> None:
    run_bot()
    group = sandbox.group()
    sandbox.post(group, "/start")
    sandbox.post(group, "hello")
    person = sandbox.person("en")  # a private chat afterwards proves the bot was polling meanwhile
    person.say("/start")
    person.wait_for_text(tr("en", texts.CONSENT))
    assert [m for m in sandbox.messages(group) if m["side"] == "bot"] == []


def test_unknown_command_gets_a_short_answer(sandbox: Sandbox, run_bot: BotFactory) -> None:
    run_bot()
    person = sandbox.person("en")
    person.say("/whoami")
    person.wait_for_text(tr("en", texts.UNKNOWN_COMMAND))
    person.say("/start")
    person.press("c")
    person.say("/whoami")
    wait_until(lambda: sum(tr("en", texts.UNKNOWN_COMMAND) in (m["text"] or "") for m in person.bot_messages()) == 2,
               what="the unknown command inside the form")


def test_media_gets_a_short_answer_and_is_deleted(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot(delete_after=5)
    person = sandbox.person("en")
    for kind in ("photo", "sticker", "document", "voice"):
        sandbox.client.post(f"{sandbox.api}/chats/{person.chat_id}/media", json={"kind": kind}).raise_for_status()
    wait_until(lambda: sum(tr("en", texts.ONLY_TEXT) in (m["text"] or "") for m in person.bot_messages()) == 4,
               what="four short answers")
    wait_until(lambda: person.messages() == [], timeout=15, what="media and answers to be deleted")
    with staffed.open() as server:
        assert server.cases.list() == []


def test_media_inside_the_form_does_not_end_it(sandbox: Sandbox, run_bot: BotFactory) -> None:
    run_bot()
    person = sandbox.person("en")
    person.say("/start")
    person.press("c")
    person.wait_for_text("What kind of help")
    sandbox.client.post(f"{sandbox.api}/chats/{person.chat_id}/media", json={"kind": "sticker"}).raise_for_status()
    person.wait_for_text(tr("en", texts.ONLY_TEXT))
    person.press("a:help:leave")
    person.wait_for_text("How urgent")
