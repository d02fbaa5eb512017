"""Every message of an intake chat disappears: on time, at once on /forget, and across restarts."""

from __future__ import annotations

import signal
import time

from bot import cover_texts, texts
from bot.cover import load_cover_translations
from bot.cover_texts import LEAVE_NO_TRACE
from storage.deletions import DeletionStore
from tests.bot.conftest import BotFactory
from tests.bot.flows import complete_intake, tr
from tests.bot.harness import Sandbox, start_bot, wait_until
from tests.bot.test_intake import CASES

T_COVER = load_cover_translations()


def test_chat_is_empty_after_the_delete_time(sandbox: Sandbox, run_bot: BotFactory) -> None:
    run_bot(delete_after=5)
    person = sandbox.person("en")
    person.say("/start")
    person.wait_for_text(tr("en", texts.CONSENT))
    person.press("c")
    person.wait_for_text("What kind of help")
    assert len(person.messages()) >= 2
    wait_until(lambda: person.messages() == [], timeout=15, what="the chat to empty")


def test_chat_is_emptied_soon_after_submit_and_nothing_is_left_pending(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot(after_submit=5)
    person = sandbox.person("en")
    complete_intake(person, "en", CASES["en"])
    wait_until(lambda: person.messages() == [], timeout=15, what="the chat to empty after submit")
    with staffed.open() as server:
        wait_until(lambda: DeletionStore(server.db).all() == [], timeout=5, what="pending rows to be erased")


def test_forget_empties_the_chat_at_once(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot(after_submit=5)
    person = sandbox.person("en")
    complete_intake(person, "en", CASES["en"], submit=False)
    person.say("/forget")
    hint = cover_texts.LEAVE_NO_TRACE[:40]

    def only_the_hint() -> bool:
        messages = person.messages()
        return len(messages) == 1 and str(messages[0].get("text", "")).startswith(hint)

    # Everything goes at once; then the bot's last word, how to remove the chat from the list.
    wait_until(only_the_hint, timeout=10, what="/forget to leave nothing but the chat-list hint")
    hint_id = person.messages()[0]["message_id"]
    with staffed.open() as server:
        assert server.cases.list() == []
        store = DeletionStore(server.db)

        def hint_alone_pending() -> bool:
            pending = store.chat(person.chat_id)
            return pending is not None and pending.message_ids == (hint_id,)

        wait_until(hint_alone_pending, timeout=5, what="only the hint's id to be pending")
        wait_until(lambda: person.messages() == [], timeout=5 + 5 + 10, what="the hint to go too")
        wait_until(lambda: store.chat(person.chat_id) is None, timeout=5, what="pending rows to be erased")


def test_delete_now_button_empties_the_chat(sandbox: Sandbox, run_bot: BotFactory) -> None:
    run_bot(after_submit=5)
    person = sandbox.person("en")
    person.say("/start")
    person.press("x")
    # Everything goes at once; only the chat-list hint follows (bot/cover.py), and it goes soon too.
    hint = T_COVER.gettext("en", LEAVE_NO_TRACE)
    wait_until(lambda: [m.get("text") for m in person.messages()] == [hint], timeout=5,
               what="the button to empty the chat but for the hint")
    wait_until(lambda: person.messages() == [], timeout=20, what="the hint deleted after delete_after_submit")


def test_restart_after_submit_still_deletes(sandbox: Sandbox, run_bot: BotFactory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    staffed, bot = run_bot(after_submit=6, granularity=5)
    person = sandbox.person("en")
    complete_intake(person, "en", CASES["en"])
    submitted = time.monotonic()
    # The reference reaches the phone a moment before the bot hears Telegram's answer and moves the
    # chat's due time forward. A crash inside that moment is covered by the send intent (the chat is
    # swept on the ordinary delay, tested below in test_a_message_sent_as_the_bot_dies_is_still_deleted);
    # here the crash comes just after.
    with staffed.open() as server:
        store = DeletionStore(server.db)
        soon = time.time() + 6 + 5 + 1

        def moved_forward() -> bool:
            pending = store.chat(person.chat_id)
            return pending is not None and pending.due_at <= soon

        wait_until(moved_forward, timeout=10, what="the after-submit due time to be stored")
    bot.stop(signal.SIGKILL)  # a crash: no chance to clean up
    assert person.messages() != []
    restarted = start_bot(staffed.root, bot.port, tmp_path / "restarted.log")
    try:
        wait_until(lambda: person.messages() == [], timeout=20, what="the restarted bot to delete")
    finally:
        restarted.stop()
    # The stored due time was rounded up to the 5-second granularity: at most that late.
    assert time.monotonic() - submitted < 6 + 5 + 8


def test_overdue_deletions_run_at_once_after_a_long_outage(sandbox: Sandbox, run_bot: BotFactory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    staffed, bot = run_bot(delete_after=5, granularity=2)
    person = sandbox.person("en")
    person.say("/start")
    person.wait_for_text(tr("en", texts.CONSENT))
    bot.stop(signal.SIGKILL)
    time.sleep(8)  # the outage outlasts the delete time (rounded up to the granularity): missed while down
    assert person.messages() != []
    restarted = start_bot(staffed.root, bot.port, tmp_path / "restarted.log")
    try:
        wait_until(lambda: person.messages() == [], timeout=10, what="overdue deletion on start")
    finally:
        restarted.stop()


def test_restart_mid_form_asks_to_start_again(sandbox: Sandbox, run_bot: BotFactory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    staffed, bot = run_bot()
    person = sandbox.person("en")
    person.say("/start")
    person.press("c")
    person.wait_for_text("What kind of help")
    bot.stop(signal.SIGKILL)
    restarted = start_bot(staffed.root, bot.port, tmp_path / "restarted.log")
    try:
        person.press("a:help:leave")
        person.wait_for_text(tr("en", texts.FORM_EXPIRED))
        person.press("n")
        person.wait_for_text(tr("en", texts.CONSENT))
    finally:
        restarted.stop()
    with staffed.open() as server:
        assert server.cases.list() == []


def test_a_message_sent_as_the_bot_dies_is_still_deleted(sandbox: Sandbox, run_bot: BotFactory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    staffed, bot = run_bot(delete_after=8, granularity=5)
    person = sandbox.person("en")
    sandbox.delay(person.chat_id)  # Telegram creates the message, its answer does not come back
    person.say("/start")
    person.wait_for_text(tr("en", texts.CONSENT))  # on the person's screen...
    wait_until(lambda: sandbox.delayed(person.chat_id), what="the bot to wait for the message id")
    bot.stop(signal.SIGKILL)  # ...and the bot dies before it learns the id
    shown = [m["message_id"] for m in person.bot_messages()]
    with staffed.open() as server:
        store = DeletionStore(server.db)
        pending = store.chat(person.chat_id)
        assert pending is not None and not set(shown) & set(pending.message_ids), "the lost id was never learnt"
        assert [i.chat_id for i in store.intents()] == [person.chat_id]
    restarted = start_bot(staffed.root, bot.port, tmp_path / "restarted.log")
    try:
        wait_until(lambda: person.messages() == [], timeout=30, what="the lost message to be deleted")
        with staffed.open() as server:
            store = DeletionStore(server.db)
            wait_until(lambda: store.all() == [] and store.intents() == [], timeout=10,
                       what="pending rows and intents to be erased")
    finally:
        restarted.stop()
