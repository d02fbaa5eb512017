"""Isolation under flood: a chat that floods, /forget between messages, and draws 429s never stalls another chat.

The sandbox here is stricter per chat than the bot's own pace (one message
every 8 s after a burst of 3, where the bot assumes one a second), so the
flooding chat does draw 429s with a long retry_after, as the outside attack
did on Telegram (issue 9). The genuine person's answers must keep coming while
the flooding chat is paused.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot import texts
from tests.bot.conftest import BotFactory
from tests.bot.flows import tr
from tests.bot.harness import Sandbox, start_sandbox, wait_until

FLOOD_MESSAGES = 1000


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """Telegram-like limits, but 0.125 messages/s per chat: stricter than the bot's pace, so floods draw 429s."""
    box = start_sandbox(tmp_path_factory.mktemp("sandbox"), "--per-chat-rate", "0.125", "--per-chat-burst", "3")
    yield box
    box.process.stop()


def first_429(sandbox: Sandbox, chat_id: int) -> dict[str, Any] | None:
    return next((e for e in sandbox.events("rate_limited") if e["chat_id"] == chat_id), None)


def answers(sandbox: Sandbox, chat_id: int) -> list[dict[str, Any]]:
    """The bot's sent and edited messages in a chat, from the event log (sandbox clock)."""
    return [e for e in sandbox.events() if e["kind"] in ("message_sent", "message_edited") and e["chat_id"] == chat_id]


def test_a_flooding_chat_that_draws_429s_never_pauses_another(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    flooder, person = sandbox.person("en"), sandbox.person("en")
    posted: list[int] = []

    def flood() -> None:
        with httpx.Client(timeout=10) as client:
            for number in range(FLOOD_MESSAGES // 2):
                for text in (f"flood {number}", "/forget"):
                    client.post(f"{sandbox.api}/chats/{flooder.chat_id}/messages", json={"text": text})
                    posted.append(1)

    thread = threading.Thread(target=flood)
    thread.start()
    try:
        limited = wait_until(lambda: first_429(sandbox, flooder.chat_id), 30, what="the flooding chat to draw a 429")
        paused_until = float(limited["time"]) + float(limited["retry_after"])

        person.say("/start")
        person.wait_for_text(tr("en", texts.CONSENT), timeout=20)
        first_answer = answers(sandbox, person.chat_id)[0]
        # Answered while the flooding chat was still paused: the 429 did not pause the whole bot.
        assert float(first_answer["time"]) < paused_until

        person.press("c", timeout=20)
        person.wait_for_text("What kind of help", timeout=20)
        person.press("a:help:leave", timeout=20)
        person.wait_for_text("How urgent", timeout=20)
        person.press("a:urgency:now", timeout=20)  # past the sandbox's burst: paced or paused, then answered
        person.wait_for_text("Which country", timeout=30)
    finally:
        thread.join(120)
    assert len(posted) == FLOOD_MESSAGES
    replies = flooder.bot_messages()
    assert sum(tr("en", texts.SLOW_DOWN) in (m["text"] or "") for m in replies) <= 2  # one per window at most
    assert len(replies) < 40  # the flood got a few answers, not one per message
    with staffed.open() as server:
        assert server.cases.list() == []


def test_messages_a_flooded_chat_sends_are_still_deleted(sandbox: Sandbox, run_bot: BotFactory) -> None:
    run_bot(flood=3, delete_after=5)
    flooder = sandbox.person("en")
    for number in range(40):
        flooder.say(f"flood {number}")
    wait_until(lambda: any(tr("en", texts.SLOW_DOWN) in (m["text"] or "") for m in flooder.bot_messages()),
               timeout=20, what="the flooding chat to be told to slow down")
    # The ignored messages went on the deletion list in batches, and go with everything else.
    wait_until(lambda: flooder.messages() == [], timeout=40, what="every message of the flooding chat to be deleted")
