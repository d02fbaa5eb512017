"""The bot's rate limiter against the real sandbox: a 429 pauses only its chat; pacing; bounded waits and memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter, BaseRateLimiter, ExtBot

from bot.ratelimit import ChatPacedRateLimiter, chat_key, is_paced
from sandbox import SandboxSettings
from sandbox.testing import RunningSandbox, run_bounded, running_sandbox

TOKEN = "555000111:" + "RateLimiterTESTtokenONLY-0123456789"  # built here, never a real token


@pytest.fixture(autouse=True)
def timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB's future timedelta retry_after, which also silences its deprecation warning."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def open_chats(sandbox: RunningSandbox, count: int) -> list[int]:
    """Connect the bot and return the ids of `count` people who wrote /start."""
    assert httpx.get(f"{sandbox.bot_base_url}{TOKEN}/getMe").json()["ok"]
    ids: list[int] = []
    with sandbox.control() as control:
        for number in range(count):
            user = control.post("/users", json={"first_name": f"P{number}"}).json()
            control.post(f"/chats/{user['chat_id']}/messages", json={"text": "/start"})
            ids.append(int(user["chat_id"]))
    return ids


def events(sandbox: RunningSandbox, kind: str) -> list[dict[str, Any]]:
    with sandbox.control() as control:
        return list(control.get("/events", params={"kind": kind}).json()["events"])


def bot_with(sandbox: RunningSandbox, limiter: BaseRateLimiter[Any]) -> ExtBot[Any]:
    return ExtBot(TOKEN, base_url=sandbox.bot_base_url, rate_limiter=limiter)


def flooded_chat_and_another(limiter_factory: Callable[[], BaseRateLimiter[Any]]) -> tuple[float, float, float]:
    """Chat A draws a 429 (retry after 5 s); chat B is sent to meanwhile.

    Returns (time of A's 429, its retry_after, time B's message was sent), on the sandbox clock.
    """
    with running_sandbox(SandboxSettings(per_chat_per_second=0.2, per_chat_burst=1, global_per_second=0)) as box:
        a, b = open_chats(box, 2)

        async def scenario() -> None:
            async with bot_with(box, limiter_factory()) as bot:
                await bot.send_message(a, "one")
                second = asyncio.create_task(bot.send_message(a, "two"))  # refused: A's bucket is empty
                while not events(box, "rate_limited"):
                    await asyncio.sleep(0.02)
                await bot.send_message(b, "meanwhile")
                await second  # retried after the pause, and then it goes through

        run_bounded(scenario, timeout=30)
        (limited,) = events(box, "rate_limited")
        sent_b = [e for e in events(box, "message_sent") if e["chat_id"] == b]
        sent_a = [e for e in events(box, "message_sent") if e["chat_id"] == a]
        assert limited["chat_id"] == a and len(sent_a) == 2 and len(sent_b) == 1
        return float(limited["time"]), float(limited["retry_after"]), float(sent_b[0]["time"])


def test_a_429_pauses_only_its_chat() -> None:
    limited_at, retry_after, b_sent_at = flooded_chat_and_another(lambda: ChatPacedRateLimiter(30))
    assert b_sent_at < limited_at + retry_after  # B was answered while A was still paused


def test_ptb_aio_limiter_pauses_every_chat_which_is_why_it_is_not_used() -> None:
    limited_at, retry_after, b_sent_at = flooded_chat_and_another(
        lambda: AIORateLimiter(overall_max_rate=30, max_retries=3))
    assert b_sent_at >= limited_at + retry_after  # the attack that stalled everyone (issue 9)


def test_a_long_pause_gives_up_at_once_instead_of_queueing() -> None:
    with running_sandbox(SandboxSettings(per_chat_per_second=0.1, per_chat_burst=1, global_per_second=0)) as box:
        (chat,) = open_chats(box, 1)
        limiter = ChatPacedRateLimiter(30, max_wait=2, max_retries=3)

        async def scenario() -> tuple[int, float]:
            async with bot_with(box, limiter) as bot:
                await bot.send_message(chat, "one")
                with pytest.raises(RetryAfter):
                    await bot.send_message(chat, "two")  # 429, retry after 10 s > max_wait: given up
                with pytest.raises(RetryAfter):
                    await bot.send_message(chat, "three")  # still paused: refused without asking Telegram
                return len(events(box, "rate_limited")), limiter.paused_for(chat)

        refusals, paused = run_bounded(scenario, timeout=10)
        assert refusals == 1  # the chat was not hammered while paused
        assert paused > 2


def test_retries_after_429_are_bounded() -> None:
    with running_sandbox(SandboxSettings(per_chat_per_second=0.5, per_chat_burst=1, global_per_second=0)) as box:
        (chat,) = open_chats(box, 1)
        # A pacer looser than the sandbox (10 a second) so that every attempt meets a 429.
        limiter = ChatPacedRateLimiter(30, chat_per_second=10, chat_burst=10, max_retries=1, max_wait=5)

        async def scenario() -> None:
            async with bot_with(box, limiter) as bot:
                await bot.send_message(chat, "one")
                sends = [asyncio.create_task(bot.send_message(chat, f"more {n}")) for n in range(3)]
                results = await asyncio.gather(*sends, return_exceptions=True)
                assert any(isinstance(r, RetryAfter) for r in results)

        run_bounded(scenario, timeout=30)
        # Three calls, at most two attempts each that reach the Bot API.
        assert len(events(box, "rate_limited")) <= 3 * 2


def test_pacing_keeps_chats_and_the_bot_under_telegram_limits() -> None:
    with running_sandbox(SandboxSettings(per_chat_per_second=1, per_chat_burst=4, global_per_second=10)) as box:
        chats = open_chats(box, 10)
        limiter = ChatPacedRateLimiter(8)  # a token to spare on each side, for network jitter

        async def scenario() -> None:
            async with bot_with(box, limiter) as bot:
                one_chat = [bot.send_message(chats[0], f"part {n}") for n in range(6)]
                many_chats = [bot.send_message(chat, "hello") for chat in chats[1:] for _ in range(2)]
                await asyncio.gather(*one_chat, *many_chats)

        run_bounded(scenario, timeout=30)
        assert events(box, "rate_limited") == []
        assert len(events(box, "message_sent")) == 6 + 9 * 2


def test_deleting_is_not_paced_behind_sending() -> None:
    with running_sandbox(SandboxSettings(per_chat_per_second=1, per_chat_burst=1, global_per_second=0)) as box:
        (chat,) = open_chats(box, 1)
        limiter = ChatPacedRateLimiter(30, chat_per_second=0.1, chat_burst=1)

        async def scenario() -> bool:
            async with bot_with(box, limiter) as bot:
                first = await bot.send_message(chat, "one")
                waiting = asyncio.create_task(bot.send_message(chat, "two"))  # paced: 10 s away
                await asyncio.sleep(0.2)
                deleted = await bot.delete_messages(chat, [first.message_id, 1])
                done = waiting.done()
                waiting.cancel()
                return deleted and not done

        assert run_bounded(scenario, timeout=10)
        assert [e["deleted"] for e in events(box, "messages_deleted")] == [2]


def test_idle_chats_are_forgotten() -> None:
    with running_sandbox(SandboxSettings.unlimited()) as box:
        chats = open_chats(box, 5)
        limiter = ChatPacedRateLimiter(30, prune_every=0.5)

        async def scenario() -> tuple[int, int]:
            async with bot_with(box, limiter) as bot:
                for chat in chats:
                    await bot.send_message(chat, "hello")
                busy = limiter.tracked_chats
                await asyncio.sleep(3.5)  # a chat's pacer drains at one message a second
                await bot.send_message(chats[0], "again")
                return busy, limiter.tracked_chats

        assert run_bounded(scenario, timeout=10) == (5, 1)


def test_which_requests_are_paced_and_for_which_chat() -> None:
    assert is_paced("sendMessage") and is_paced("editMessageText") and is_paced("copyMessage")
    assert not is_paced("deleteMessages") and not is_paced("answerCallbackQuery") and not is_paced("sendChatAction")
    assert chat_key({"chat_id": 5}) == 5 and chat_key({"chat_id": "-100"}) == -100
    assert chat_key({"chat_id": "@channel"}) == "@channel" and chat_key({"text": "x"}) is None


@pytest.mark.parametrize("bad", [{"overall_per_second": -1}, {"overall_per_second": float("nan")},
                                 {"chat_burst": 0}, {"max_retries": -1}, {"max_wait": float("inf")}])
def test_bad_settings_are_refused(bad: dict[str, Any]) -> None:
    settings: dict[str, Any] = {"overall_per_second": 30, **bad}
    with pytest.raises(ValueError):
        ChatPacedRateLimiter(**settings)
