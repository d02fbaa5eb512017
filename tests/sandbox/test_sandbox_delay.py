"""Delayed answers: the call takes effect at once, its answer is held (for crash tests of the bot)."""

from __future__ import annotations

import httpx
import pytest
import telegram
from telegram.error import TimedOut

from sandbox.testing import Runner, RunningSandbox
from tests.sandbox.test_sandbox_botapi import events, new_person, say, visible_ids


def connect(sandbox: RunningSandbox, token: str) -> None:
    """Let a bot connect by calling getMe."""
    assert httpx.get(f"{sandbox.bot_base_url}{token}/getMe").json()["ok"] is True


def test_a_delayed_send_shows_the_message_while_its_answer_waits(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    connect(sandbox, token)
    with sandbox.control() as control:
        chat_id = new_person(control)
        say(control, chat_id, "/start")
        set_delay = control.post("/delays", json={"method": "sendmessage", "seconds": 30})
        assert set_delay.status_code == 201
        assert set_delay.json() == {"method": "sendMessage", "seconds": 30.0, "count": 1, "chat_id": None}

    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            # The client gives up long before the answer comes: it never learns the message id.
            with pytest.raises(TimedOut):
                await bot.send_message(chat_id, "held", read_timeout=0.5)
            with sandbox.control() as control:
                listing = control.get(f"/chats/{chat_id}/messages").json()["messages"]
                assert [m["text"] for m in listing if m["side"] == "bot"] == ["held"]
                assert control.get("/delays").json() == {"delays": []}  # used up
            quick = await bot.send_message(chat_id, "answered", read_timeout=5)
            assert quick.message_id == 3

    run(scenario, timeout=20)
    with sandbox.control() as control:
        delayed = events(control, "answer_delayed")
        assert [(e["method"], e["chat_id"], e["seconds"]) for e in delayed] == [("sendMessage", chat_id, 30.0)]
        assert visible_ids(control, chat_id) == [1, 2, 3]


def test_a_delay_for_one_chat_leaves_other_chats_alone(sandbox: RunningSandbox, token: str, run: Runner) -> None:
    connect(sandbox, token)
    with sandbox.control() as control:
        first, second = new_person(control, "One"), new_person(control, "Two")
        for chat_id in (first, second):
            say(control, chat_id, "/start")
        assert control.post("/delays", json={"method": "sendMessage", "seconds": 30, "chat_id": first,
                                             "count": 2}).status_code == 201

    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            assert (await bot.send_message(second, "not held", read_timeout=5)).message_id == 2
            with pytest.raises(TimedOut):
                await bot.send_message(first, "held", read_timeout=0.5)
            with sandbox.control() as control:
                assert control.get("/delays").json()["delays"] == [
                    {"method": "sendMessage", "seconds": 30.0, "count": 1, "chat_id": first}]

    run(scenario, timeout=20)


def test_a_refused_call_is_answered_at_once_and_keeps_the_delay(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    connect(sandbox, token)
    with sandbox.control() as control:
        chat_id = new_person(control)
        say(control, chat_id, "/start")
        control.post("/delays", json={"method": "sendMessage", "seconds": 30})

    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            with pytest.raises(telegram.error.BadRequest):
                await bot.send_message(chat_id, " ", read_timeout=5)  # refused: nothing created, nothing held

    run(scenario, timeout=20)
    with sandbox.control() as control:
        assert len(control.get("/delays").json()["delays"]) == 1


@pytest.mark.parametrize("body", [
    {"method": "sendTelepathy", "seconds": 1},
    {"seconds": 1},
    {"method": "sendMessage"},
    {"method": "sendMessage", "seconds": 0},
    {"method": "sendMessage", "seconds": -1},
    {"method": "sendMessage", "seconds": 601},
    {"method": "sendMessage", "seconds": True},
    {"method": "sendMessage", "seconds": "5"},
    {"method": "sendMessage", "seconds": 1, "count": 0},
    {"method": "sendMessage", "seconds": 1, "count": 101},
    {"method": "sendMessage", "seconds": 1, "chat_id": "700000001"},
])
def test_delays_refuse_bad_input(sandbox: RunningSandbox, token: str, body: dict[str, object]) -> None:
    connect(sandbox, token)
    with sandbox.control() as control:
        answer = control.post("/delays", json=body)
        assert answer.status_code == 400, answer.text
        assert control.get("/delays").json() == {"delays": []}


def test_reset_forgets_delays(sandbox: RunningSandbox, token: str) -> None:
    connect(sandbox, token)
    with sandbox.control() as control:
        control.post("/delays", json={"method": "sendMessage", "seconds": 5})
        control.post("/reset", json={})
        connect(sandbox, token)
        assert control.get("/delays").json() == {"delays": []}
