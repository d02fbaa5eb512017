"""TrackingBot: an intent is committed before every message, the id recorded after; no other way to send.

The real TrackingBot talks real HTTP to the in-process sandbox; the intents and
pending deletions are in the real chat state file beside a real SQLCipher file,
read back through a second opening as another process (or a restarted bot) would
see them.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import nacl.utils
import pytest
import telegram
from telegram.error import BadRequest, Forbidden, TimedOut

from bot.tracking import TrackingBot, UntrackedSendRefused, creates_message
from bot.vanish import DELETE_WINDOW_SECONDS, SWEEP, Vanisher
from sandbox import SandboxSettings
from sandbox.testing import RunningSandbox, run_bounded, running_sandbox
from storage.db import Database, DatabaseKey
from storage.deletions import DeletionStore, Intent, new_intent_id

TOKEN = "555000111:" + "TrackingBotTESTtokenONLY-0123456789"[:35]
ROOT = Path(__file__).resolve().parents[2]
INTAKE, VOLUNTEER = 600, 3600


@pytest.fixture
def box() -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxSettings.unlimited()) as running:
        yield running


@pytest.fixture
def db_file(tmp_path: Path) -> Iterator[tuple[Path, DatabaseKey]]:
    key = DatabaseKey(nacl.utils.random(32))
    path = tmp_path / "waystation.db"
    Database.open(path, key, create=True).close()
    yield path, key


def person(box: RunningSandbox, first_words: int = 1) -> int:
    """A person who has written `first_words` messages to the bot; returns their chat id."""
    with box.control() as control:
        control.get("/bots", params={"bot": TOKEN})
        chat_id = int(control.post("/users", json={"first_name": "P"}).json()["chat_id"])
        for _ in range(first_words):
            assert control.post(f"/chats/{chat_id}/messages", params={"bot": TOKEN},
                                json={"text": "hello"}).status_code == 201
    return chat_id


def visible(box: RunningSandbox, chat_id: int) -> list[int]:
    with box.control() as control:
        listing = control.get(f"/chats/{chat_id}/messages", params={"bot": TOKEN}).json()
    return [int(m["message_id"]) for m in listing["messages"]]


def delay(box: RunningSandbox, chat_id: int, seconds: float = 30) -> None:
    with box.control() as control:
        assert control.post("/delays", params={"bot": TOKEN}, json={
            "method": "sendMessage", "seconds": seconds, "chat_id": chat_id}).status_code == 201


def rows(path: Path, key: DatabaseKey) -> tuple[list[tuple[int, int, int]], list[tuple[int, int | None]]]:
    """(pending (chat, message, swept), intents (chat, floor)) as a second opening of the home sees them."""
    with Database.open(path, key) as other:
        snapshot = DeletionStore(other).state.current()
        pending = [(c, m, int(m in entry.swept)) for c, entry in sorted(snapshot.chats.items())
                   for m in entry.message_ids]
        intents = [(i.chat_id, i.floor) for i in DeletionStore(other).intents()]
    return pending, intents


def bot_for(box: RunningSandbox, path: Path, key: DatabaseKey) -> tuple[TrackingBot, Database]:
    db = Database.open(path, key)
    vanisher = Vanisher(DeletionStore(db), INTAKE, time.time, volunteer_delete_after=VOLUNTEER)
    return TrackingBot(vanisher, TOKEN, base_url=box.bot_base_url), db


def test_every_send_is_preceded_by_a_committed_intent(box: RunningSandbox, db_file: tuple[Path, DatabaseKey]) -> None:
    path, key = db_file
    chat_id = person(box)
    delay(box, chat_id, 3)
    bot, db = bot_for(box, path, key)
    DeletionStore(db).record(chat_id, [1], int(time.time()) + INTAKE)  # the person's message, as track() keeps it

    async def scenario() -> None:
        async with bot:
            sending = asyncio.create_task(bot.send_message(chat_id, "hello back"))
            while visible(box, chat_id) != [1, 2]:  # the message exists; Telegram has not answered yet
                await asyncio.sleep(0.05)
            during = rows(path, key)
            assert during == ([(chat_id, 1, 0)], [(chat_id, 1)]), during
            message = await sending
            assert message.message_id == 2

    run_bounded(scenario, timeout=20)
    assert rows(path, key) == ([(chat_id, 1, 0), (chat_id, 2, 0)], [])
    db.close()


def test_a_refused_send_leaves_no_intent(box: RunningSandbox, db_file: tuple[Path, DatabaseKey]) -> None:
    path, key = db_file
    chat_id = person(box)
    with box.control() as control:
        never_wrote = int(control.post("/users", json={"first_name": "Q"}).json()["chat_id"])
    bot, db = bot_for(box, path, key)

    async def scenario() -> None:
        async with bot:
            with pytest.raises(BadRequest):
                await bot.send_message(chat_id, "   ")
            with pytest.raises(Forbidden):
                await bot.send_message(never_wrote, "hello")

    run_bounded(scenario)
    assert rows(path, key) == ([], [])
    db.close()


def test_a_send_without_an_answer_sweeps_the_ids_after_the_floor(
    box: RunningSandbox, db_file: tuple[Path, DatabaseKey]
) -> None:
    path, key = db_file
    chat_id = person(box, first_words=3)
    delay(box, chat_id)
    bot, db = bot_for(box, path, key)
    DeletionStore(db).record(chat_id, [1, 2], int(time.time()) + INTAKE)  # message 3 not seen yet: inside the gap

    async def scenario() -> None:
        async with bot:
            with pytest.raises(TimedOut):
                await bot.send_message(chat_id, "lost", read_timeout=0.5)

    run_bounded(scenario, timeout=20)
    assert visible(box, chat_id) == [1, 2, 3, 4]  # 4 exists; nobody learnt its id
    pending, intents = rows(path, key)
    assert intents == []
    assert [(m, s) for _, m, s in pending] == [(1, 0), (2, 0)] + [(m, 1) for m in range(3, 3 + SWEEP)]
    # Swept ids never become a floor: the next lost send is looked for after 2 again, not after 12.
    assert DeletionStore(db).floor(chat_id) == 2
    db.close()


def test_without_a_floor_the_next_message_sweeps_below_itself(
    box: RunningSandbox, db_file: tuple[Path, DatabaseKey]
) -> None:
    path, key = db_file
    chat_id = person(box)
    delay(box, chat_id)
    bot, db = bot_for(box, path, key)  # nothing known of this chat: the floor is unknown

    async def scenario() -> None:
        async with bot:
            with pytest.raises(TimedOut):
                await bot.send_message(chat_id, "lost", read_timeout=0.5)
            assert rows(path, key) == ([], [(chat_id, None)])  # the intent stays until a ceiling is seen
            again = await bot.send_message(chat_id, "sent again")
            assert again.message_id == 3

    run_bounded(scenario, timeout=20)
    pending, intents = rows(path, key)
    assert intents == []
    assert [(m, s) for _, m, s in pending] == [(1, 1), (2, 1), (3, 0)]
    db.close()


def test_a_volunteer_chat_gets_the_volunteer_delay(box: RunningSandbox, db_file: tuple[Path, DatabaseKey]) -> None:
    path, key = db_file
    volunteer, other = person(box), person(box)
    with Database.open(path, key) as setup, setup.transaction() as conn:
        conn.execute("INSERT INTO volunteers (chat_id, active, enrolled_at, invited_by) VALUES (?, 0, 0, 'test')",
                     (volunteer,))  # inactive (blocked, or removed): still a volunteer's chat
    bot, db = bot_for(box, path, key)

    async def scenario() -> None:
        async with bot:
            await bot.send_message(volunteer, "alert")
            await bot.send_message(other, "hello")

    before = int(time.time())
    run_bounded(scenario)
    after = int(time.time())
    dues = {p.chat_id: p.due_at for p in DeletionStore(db).all()}  # exact: this database has granularity 1
    assert before + VOLUNTEER <= dues[volunteer] <= after + VOLUNTEER
    assert before + INTAKE <= dues[other] <= after + INTAKE
    db.close()


@pytest.mark.parametrize("call", [
    lambda bot, chat: bot.send_photo(chat, b"\x89PNG"),
    lambda bot, chat: bot.send_document(chat, b"%PDF"),
    lambda bot, chat: bot.copy_message(chat, chat, 1),
    lambda bot, chat: bot.forward_message(chat, chat, 1),
    lambda bot, chat: bot.send_media_group(chat, [telegram.InputMediaPhoto(b"\x89PNG")] * 2),
    lambda bot, chat: bot.do_api_request("sendMessage", api_kwargs={"chat_id": chat, "text": "raw"}),
    lambda bot, chat: bot.do_api_request("SENDMESSAGE", api_kwargs={"chat_id": chat, "text": "raw"}),
    lambda bot, chat: bot.send_message("@somebody", "by name"),
])
def test_every_other_way_to_create_a_message_is_refused_before_sending(
    box: RunningSandbox, db_file: tuple[Path, DatabaseKey], call: object
) -> None:
    path, key = db_file
    chat_id = person(box)
    bot, db = bot_for(box, path, key)

    async def scenario() -> None:
        async with bot:
            with pytest.raises(UntrackedSendRefused):
                await call(bot, chat_id)  # type: ignore[operator]

    run_bounded(scenario)
    assert visible(box, chat_id) == [1]
    with box.control() as control:
        methods = [e.get("method") for e in control.get("/events").json()["events"] if e["kind"] == "api_error"]
    assert methods == []  # refused before any HTTP request
    assert rows(path, key) == ([], [])
    db.close()


def _endpoint(method: str) -> str:
    head, *rest = method.split("_")
    return head + "".join(part.title() for part in rest)


def test_every_bot_api_method_that_creates_a_message_needs_an_intent() -> None:
    creating = [name for name in dir(telegram.Bot) if re.match(r"(send|copy|forward)_", name)
                and not name.startswith(("send_chat_action",))]
    assert "send_photo" in creating and "copy_messages" in creating
    for name in creating:
        assert creates_message(_endpoint(name)), name
    for harmless in ("sendChatAction", "deleteMessages", "editMessageText", "getUpdates", "answerCallbackQuery"):
        assert not creates_message(harmless), harmless


def test_the_code_sends_messages_only_through_send_message() -> None:
    """A new kind of send (photo, copy, forward, ...) must be wired through an intent first."""
    others = sorted(name for name in dir(telegram.Bot) if re.match(r"(send|copy|forward)_", name)
                    and name not in ("send_message", "send_chat_action"))
    pattern = re.compile(r"\.(" + "|".join(map(re.escape, [*others, "do_api_request"])) + r")\(")
    found = []
    for package in ("bot", "staff", "storage", "waystation"):
        for path in (ROOT / package).rglob("*.py"):
            if "sandbox" in path.parts:
                continue  # the sandbox is the Bot API's side, not a client
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def test_intents_left_by_a_crash_become_sweeps_on_the_next_start(
    box: RunningSandbox, db_file: tuple[Path, DatabaseKey]
) -> None:
    path, key = db_file
    known, unknown = person(box, first_words=2), person(box)
    now = int(time.time())
    with Database.open(path, key) as crashed:  # what a run killed mid-send leaves behind
        store = DeletionStore(crashed)
        store.record(known, [1, 2], now + INTAKE)
        store.intend(Intent(new_intent_id(), known, 2, now + INTAKE))
        store.intend(Intent(new_intent_id(), unknown, None, now + INTAKE))
        store.intend(Intent(new_intent_id(), unknown, 7, now - DELETE_WINDOW_SECONDS - 60))  # past helping
    bot, db = bot_for(box, path, key)
    bot._vanisher.restore(None)  # type: ignore[arg-type]  # no timers in this test: only what is written
    pending, intents = rows(path, key)
    assert [(c, m, s) for c, m, s in pending if c == known] == [(known, 1, 0), (known, 2, 0)] + [
        (known, m, 1) for m in range(3, 3 + SWEEP)]
    assert intents == [(unknown, None)]  # no floor: it waits for the next id seen in that chat

    async def scenario() -> None:
        async with bot:
            assert (await bot.send_message(unknown, "again")).message_id == 2

    run_bounded(scenario)
    pending, intents = rows(path, key)
    assert intents == []
    assert [(m, s) for c, m, s in pending if c == unknown] == [(1, 1), (2, 0)]
    db.close()
