"""The flood gate's counting: nothing a chat does resets it; one warning and one erase per window; bounded memory."""

from __future__ import annotations

import datetime as dt

from telegram import CallbackQuery, Chat, Message, Update, User

from bot.guards import FloodGate, Verdict, wants_erase
from bot.screens import FORGET, RESTART

CHAT = 4242


def flood(gate: FloodGate, count: int, start: float = 0.0, step: float = 0.01, erase: bool = False,
          chat: int = CHAT) -> list[Verdict]:
    return [gate.check(chat, start + n * step, erase=erase) for n in range(count)]


def test_a_chat_over_the_limit_is_warned_once_then_ignored() -> None:
    verdicts = flood(FloodGate(limit=5, window=60), 100)
    assert verdicts[:5] == [Verdict.PASS] * 5
    assert verdicts[5] is Verdict.WARN
    assert set(verdicts[6:]) == {Verdict.IGNORE}


def test_forget_between_messages_does_not_reset_the_gate() -> None:
    gate = FloodGate(limit=5, window=60)
    verdicts = [gate.check(CHAT, n * 0.01, erase=n % 2 == 1) for n in range(1000)]  # text, /forget, text, ...
    passed = verdicts.count(Verdict.PASS)
    assert passed == 5 + 1  # the limit, plus one erase in the window
    assert verdicts.count(Verdict.WARN) == 1


def test_erasing_when_flooded_passes_once_per_window() -> None:
    gate = FloodGate(limit=2, window=10)
    flood(gate, 10)
    assert gate.check(CHAT, 1.0, erase=True) is Verdict.PASS
    assert gate.check(CHAT, 2.0, erase=True) is Verdict.IGNORE
    assert gate.check(CHAT, 11.5, erase=True) is Verdict.PASS  # still flooding, but a window later


def test_a_chat_that_keeps_flooding_stays_shut_until_quiet_for_a_window() -> None:
    gate = FloodGate(limit=3, window=10)
    assert Verdict.PASS not in flood(gate, 200, start=0, step=0.5)[3:]  # 100 s of flooding, never let through
    assert gate.check(CHAT, 99.5 + 10.1) is Verdict.PASS


def test_other_chats_are_not_affected() -> None:
    gate = FloodGate(limit=3, window=10)
    flood(gate, 50)
    assert flood(gate, 3, chat=7) == [Verdict.PASS] * 3


def test_memory_is_bounded_and_quiet_chats_are_forgotten() -> None:
    gate = FloodGate(limit=20, window=60)
    flood(gate, 10_000)
    assert len(gate._seen[CHAT]) == 21  # the last limit + 1 times, however long the flood
    for chat in range(1, 1001):
        gate.check(chat, 100.0)
    assert gate.tracked_chats() == 1001
    gate.check(CHAT, 230.0)  # two windows later: everyone else was quiet
    assert gate.tracked_chats() == 1


def _update(text: str | None = None, data: str | None = None) -> Update:
    user = User(1, "P", False)
    chat = Chat(CHAT, Chat.PRIVATE)
    message = Message(7, dt.datetime.now(dt.UTC), chat, from_user=user, text=text)
    if data is not None:
        return Update(2, callback_query=CallbackQuery("q", user, "ci", message=message, data=data))
    return Update(1, message=message)


def test_which_updates_erase() -> None:
    assert wants_erase(_update("/forget")) and wants_erase(_update("/forget@waystation_bot"))
    assert wants_erase(_update(data=FORGET))
    assert not wants_erase(_update("/start")) and not wants_erase(_update("forget"))
    assert not wants_erase(_update("/forgetful")) and not wants_erase(_update(data=RESTART))


def test_held_message_ids_are_released_once_and_survive_pruning() -> None:
    gate = FloodGate(limit=1, window=10)
    gate.check(CHAT, 0.0)
    gate.hold(CHAT, [5, 6])
    gate.hold(7, [1])
    gate.hold(CHAT, [])
    gate.check(99, 100.0)  # long after: a prune runs, but held ids are never dropped with their chat
    assert gate.release(CHAT) == [5, 6]
    assert gate.release(CHAT) == []
    assert gate.release_all() == {7: [1]}
    assert gate.release_all() == {}
