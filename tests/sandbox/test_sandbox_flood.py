"""Flood control: 429 with retry_after, per chat and global, recorded in the event log."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import telegram
from telegram.error import RetryAfter

from sandbox import SandboxSettings
from sandbox.testing import Runner, RunningSandbox, StartSandbox


def open_chats(sandbox: RunningSandbox, token: str, count: int) -> list[int]:
    """Connect the bot and return the ids of `count` people who wrote /start."""
    assert httpx.get(f"{sandbox.bot_base_url}{token}/getMe").json()["ok"]
    ids: list[int] = []
    with sandbox.control() as control:
        for number in range(count):
            user = control.post("/users", json={"first_name": f"P{number}"}).json()
            control.post(f"/chats/{user['chat_id']}/messages", json={"text": "/start"})
            ids.append(int(user["chat_id"]))
    return ids


def test_sending_faster_than_the_chat_limit_gets_retry_after(
    start_sandbox: StartSandbox, token: str, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opt in to PTB's future timedelta retry_after, which also silences its deprecation warning.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    sandbox = start_sandbox(
        SandboxSettings(per_chat_per_second=0.5, per_chat_burst=3, global_per_second=0)
    )
    (chat_id,) = open_chats(sandbox, token, 1)

    async def scenario() -> float:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            for number in range(3):
                await bot.send_message(chat_id, f"part {number}")
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(chat_id, "one too many")
            with pytest.raises(RetryAfter):
                await bot.edit_message_text("edited", chat_id=chat_id, message_id=2)
            wait = caught.value.retry_after
            assert isinstance(wait, dt.timedelta)
            return wait.total_seconds()

    retry_after = run(scenario)
    assert retry_after == 2.0
    with sandbox.control() as control:
        limited = control.get("/events", params={"kind": "rate_limited"}).json()["events"]
        visible = control.get(f"/chats/{chat_id}/messages").json()["messages"]
    assert [(e["method"], e["scope"], e["chat_id"]) for e in limited] == [
        ("sendMessage", "chat", chat_id),
        ("editMessageText", "chat", chat_id),
    ]
    assert all(isinstance(e["retry_after"], int) and e["retry_after"] >= 1 for e in limited)
    assert len(visible) == 4


def test_raw_429_has_telegram_shape(start_sandbox: StartSandbox, token: str) -> None:
    sandbox = start_sandbox(SandboxSettings(per_chat_per_second=1, per_chat_burst=1))
    (chat_id,) = open_chats(sandbox, token, 1)
    url = f"{sandbox.bot_base_url}{token}/sendMessage"
    assert httpx.post(url, json={"chat_id": chat_id, "text": "a"}).status_code == 200
    refused = httpx.post(url, json={"chat_id": chat_id, "text": "b"})
    assert refused.status_code == 429
    assert refused.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }


def test_waiting_retry_after_lets_the_send_through(start_sandbox: StartSandbox, token: str) -> None:
    sandbox = start_sandbox(SandboxSettings(per_chat_per_second=1, per_chat_burst=1))
    (chat_id,) = open_chats(sandbox, token, 1)
    url = f"{sandbox.bot_base_url}{token}/sendMessage"
    httpx.post(url, json={"chat_id": chat_id, "text": "a"})
    assert httpx.post(url, json={"chat_id": chat_id, "text": "b"}).status_code == 429
    with sandbox.control() as control:
        control.post("/clock/advance", json={"seconds": 1})
    assert httpx.post(url, json={"chat_id": chat_id, "text": "b"}).status_code == 200


def test_global_limit_spans_chats(start_sandbox: StartSandbox, token: str) -> None:
    sandbox = start_sandbox(SandboxSettings(per_chat_per_second=0, global_per_second=2))
    chats = open_chats(sandbox, token, 3)
    url = f"{sandbox.bot_base_url}{token}/sendMessage"
    # Sent at once: one after the other, a busy machine could take half a second between them,
    # and the bucket (2 a second) would have refilled.
    with ThreadPoolExecutor(len(chats)) as pool:
        codes = list(pool.map(lambda c: httpx.post(url, json={"chat_id": c, "text": "x"}).status_code, chats))
    assert sorted(codes) == [200, 200, 429]
    with sandbox.control() as control:
        limited = control.get("/events", params={"kind": "rate_limited"}).json()["events"]
    assert [e["scope"] for e in limited] == ["global"]


def test_zero_rates_disable_flood_control(start_sandbox: StartSandbox, token: str) -> None:
    sandbox = start_sandbox(SandboxSettings.unlimited())
    (chat_id,) = open_chats(sandbox, token, 1)
    url = f"{sandbox.bot_base_url}{token}/sendMessage"
    codes = {httpx.post(url, json={"chat_id": chat_id, "text": "x"}).status_code for _ in range(40)}
    assert codes == {200}


@pytest.mark.parametrize(
    "changes",
    [
        {"per_chat_per_second": -1},
        {"global_per_second": float("nan")},
        {"per_chat_burst": 0},
        {"long_poll_max_seconds": 0},
    ],
)
def test_settings_reject_bad_values(changes: dict[str, float]) -> None:
    from sandbox import SettingsRejected

    with pytest.raises(SettingsRejected):
        SandboxSettings(**changes)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SandboxSettings(**changes)  # type: ignore[arg-type]
