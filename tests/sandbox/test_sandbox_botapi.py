"""The Bot API side, driven by python-telegram-bot's real Bot over real HTTP."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, InvalidToken

from sandbox.testing import Runner, RunningSandbox


@pytest.fixture(autouse=True)
def connected(sandbox: RunningSandbox, token: str) -> None:
    """Let the bot connect first, as a running bot would, so the control API can find it."""
    assert httpx.get(f"{sandbox.bot_base_url}{token}/getMe").json()["ok"] is True


def new_person(control: httpx.Client, name: str = "Amira", language: str = "ar") -> int:
    """Create a person and return their user id (== private chat id)."""
    response = control.post("/users", json={"first_name": name, "language_code": language})
    assert response.status_code == 201
    body = response.json()
    assert body["user_id"] == body["chat_id"]
    return int(body["user_id"])


def say(control: httpx.Client, chat_id: int, text: str) -> dict[str, object]:
    """Send text as the person and return the control API's message view."""
    response = control.post(f"/chats/{chat_id}/messages", json={"text": text})
    assert response.status_code == 201, response.text
    return dict(response.json())


def visible_ids(control: httpx.Client, chat_id: int) -> list[int]:
    """Return the message ids the person's screen shows."""
    response = control.get(f"/chats/{chat_id}/messages")
    assert response.status_code == 200
    return [int(m["message_id"]) for m in response.json()["messages"]]


def events(control: httpx.Client, kind: str) -> list[dict[str, object]]:
    """Return the logged events of one kind."""
    return list(control.get("/events", params={"kind": kind}).json()["events"])


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    """Return a one-row inline keyboard of (text, callback_data) buttons."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in pairs]])


def test_get_me_returns_the_sandbox_bot(sandbox: RunningSandbox, token: str, run: Runner) -> None:
    async def scenario() -> telegram.User:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            return await bot.get_me()

    me = run(scenario)
    assert isinstance(me, telegram.User)
    assert me.id == 123456789
    assert me.username == "waystation_sandbox_bot"
    assert me.first_name == "Sandbox Bot"
    assert me.is_bot


def test_malformed_token_gets_401(sandbox: RunningSandbox, run: Runner) -> None:
    response = httpx.get(f"{sandbox.bot_base_url}123:short/getMe")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}

    async def scenario() -> None:
        async with telegram.Bot("123:not-a-real-token", base_url=sandbox.bot_base_url) as bot:
            await bot.get_me()

    with pytest.raises(InvalidToken):
        run(scenario)


def test_unknown_method_gets_404_and_names_ignore_case(sandbox: RunningSandbox, token: str) -> None:
    missing = httpx.post(f"{sandbox.bot_base_url}{token}/sendTelepathy")
    assert missing.status_code == 404
    assert missing.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    lower = httpx.get(f"{sandbox.bot_base_url}{token}/getme")
    assert lower.json()["ok"] is True
    assert lower.json()["result"]["id"] == 123456789


def test_parameters_arrive_as_query_json_form_and_multipart(
    sandbox: RunningSandbox, token: str
) -> None:
    with sandbox.control() as control:
        chat_id = new_person(control)
        say(control, chat_id, "/start")
    base = f"{sandbox.bot_base_url}{token}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}]]}
    by_query = httpx.get(base, params={"chat_id": chat_id, "text": "query"})
    by_json = httpx.post(base, json={"chat_id": chat_id, "text": "json", "reply_markup": markup})
    by_form = httpx.post(
        base, data={"chat_id": str(chat_id), "text": "123", "reply_markup": json.dumps(markup)}
    )
    by_multipart = httpx.post(
        base,
        files={"chat_id": (None, str(chat_id)), "text": (None, "multipart ✓ سلام")},
    )
    results = [r.json() for r in (by_query, by_json, by_form, by_multipart)]
    assert all(r["ok"] for r in results), results
    assert [r["result"]["text"] for r in results] == ["query", "json", "123", "multipart ✓ سلام"]
    assert results[1]["result"]["reply_markup"] == markup
    assert results[2]["result"]["reply_markup"] == markup


def test_user_message_arrives_and_offset_confirms_it(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    with sandbox.control() as control:
        chat_id = new_person(control, "Dara", "fa")
        say(control, chat_id, "/start payload")
        say(control, chat_id, "سلام، کمک لازم دارم")

    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            first = await bot.get_updates(timeout=1)
            assert len(first) == 2
            start, text = first[0].message, first[1].message
            assert start is not None and text is not None
            assert start.text == "/start payload"
            assert start.chat.type == "private" and start.chat.id == chat_id
            assert start.from_user is not None and start.from_user.language_code == "fa"
            assert [(e.type, e.offset, e.length) for e in start.entities] == [("bot_command", 0, 6)]
            assert text.text == "سلام، کمک لازم دارم"
            again = await bot.get_updates(timeout=0)
            assert [u.update_id for u in again] == [u.update_id for u in first]
            confirmed = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
            assert confirmed == ()
            started = time.monotonic()
            empty = await bot.get_updates(offset=first[-1].update_id + 1, timeout=1)
            assert empty == ()
            assert time.monotonic() - started >= 0.9

    run(scenario)


def test_long_poll_returns_as_soon_as_a_message_arrives(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    with sandbox.control() as control:
        chat_id = new_person(control)

    async def scenario() -> None:
        async with (
            telegram.Bot(token, base_url=sandbox.bot_base_url) as bot,
            httpx.AsyncClient(base_url=sandbox.api_url) as control,
        ):
            import asyncio

            poll = asyncio.create_task(bot.get_updates(timeout=10))
            await asyncio.sleep(0.3)
            response = await control.post(f"/chats/{chat_id}/messages", json={"text": "hi"})
            assert response.status_code == 201
            started = time.monotonic()
            updates = await poll
            assert time.monotonic() - started < 3
            assert len(updates) == 1 and updates[0].message is not None
            assert updates[0].message.text == "hi"

    run(scenario)


def test_button_press_round_trip(sandbox: RunningSandbox, token: str, run: Runner) -> None:
    with sandbox.control() as control:
        chat_id = new_person(control)
        say(control, chat_id, "/start")

    async def scenario() -> None:
        async with (
            telegram.Bot(token, base_url=sandbox.bot_base_url) as bot,
            httpx.AsyncClient(base_url=sandbox.api_url) as control,
        ):
            updates = await bot.get_updates(timeout=1)
            sent = await bot.send_message(
                chat_id, "Do you need a lawyer?", reply_markup=keyboard(("Yes", "y"), ("No", "n"))
            )
            assert isinstance(sent, telegram.Message)
            assert sent.reply_markup is not None
            press = await control.post(
                f"/chats/{chat_id}/callback", json={"message_id": sent.message_id, "data": "n"}
            )
            assert press.status_code == 201
            query_id = press.json()["callback_query_id"]
            updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
            query = updates[0].callback_query
            assert query is not None
            assert query.id == query_id and query.data == "n"
            assert query.message is not None and query.message.message_id == sent.message_id
            assert await bot.answer_callback_query(query.id, text="Noted")
            with pytest.raises(BadRequest, match="(?i)query is too old"):
                await bot.answer_callback_query(query.id)
            listing = (await control.get(f"/chats/{chat_id}/messages")).json()
            assert [a["text"] for a in listing["callback_answers"]] == ["Noted"]
            wrong = await control.post(
                f"/chats/{chat_id}/callback", json={"message_id": sent.message_id, "data": "x"}
            )
            assert wrong.status_code == 400
            forged = await control.post(f"/chats/{chat_id}/callback",
                                        json={"message_id": sent.message_id, "data": "x", "forged": True})
            assert forged.status_code == 201  # a modified client can send any data: the bot must cope
            updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
            assert updates[0].callback_query is not None and updates[0].callback_query.data == "x"
            assert (await control.post(f"/chats/{chat_id}/callback", json={
                "message_id": sent.message_id, "data": "x", "forged": "yes"})).status_code == 400

    run(scenario)
    with sandbox.control() as control:
        answered = events(control, "callback_answered")
    assert len(answered) == 1 and answered[0]["has_text"] is True


def test_a_forged_press_sends_data_no_button_carries(sandbox: RunningSandbox, token: str, run: Runner) -> None:
    with sandbox.control() as control:
        chat_id = new_person(control)
        say(control, chat_id, "/start")

    async def scenario() -> None:
        async with (
            telegram.Bot(token, base_url=sandbox.bot_base_url) as bot,
            httpx.AsyncClient(base_url=sandbox.api_url) as control,
        ):
            updates = await bot.get_updates(timeout=1)
            sent = await bot.send_message(chat_id, "Welcome")  # no keyboard at all
            plain = await control.post(f"/chats/{chat_id}/callback",
                                       json={"message_id": sent.message_id, "data": "k:abc"})
            assert plain.status_code == 400
            bad_flag = await control.post(f"/chats/{chat_id}/callback",
                                          json={"message_id": sent.message_id, "data": "k:abc", "forged": "yes"})
            assert bad_flag.status_code == 400
            forged = await control.post(f"/chats/{chat_id}/callback",
                                        json={"message_id": sent.message_id, "data": "k:abc", "forged": True})
            assert forged.status_code == 201, forged.text
            updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
            query = updates[0].callback_query
            assert query is not None and query.data == "k:abc"
            assert query.message is not None and query.message.message_id == sent.message_id
            person_message = (await control.post(f"/chats/{chat_id}/messages", json={"text": "hello"})).json()
            on_theirs = await control.post(f"/chats/{chat_id}/callback",
                                           json={"message_id": person_message["message_id"], "data": "k:abc",
                                                 "forged": True})
            assert on_theirs.status_code == 400  # a callback always comes from one of the bot's messages

    run(scenario)


def test_edits_change_text_and_keyboard(sandbox: RunningSandbox, token: str, run: Runner) -> None:
    with sandbox.control() as control:
        chat_id = new_person(control)
        say(control, chat_id, "/start")

    async def scenario() -> None:
        async with (
            telegram.Bot(token, base_url=sandbox.bot_base_url) as bot,
            httpx.AsyncClient(base_url=sandbox.api_url) as control,
        ):
            sent = await bot.send_message(chat_id, "Step 1", reply_markup=keyboard(("Next", "2")))
            edited = await bot.edit_message_text(
                "Step 2",
                chat_id=chat_id,
                message_id=sent.message_id,
                reply_markup=keyboard(("Done", "d")),
            )
            assert isinstance(edited, telegram.Message)
            assert edited.text == "Step 2" and edited.edit_date is not None
            with pytest.raises(BadRequest, match="(?i)message is not modified"):
                await bot.edit_message_text(
                    "Step 2",
                    chat_id=chat_id,
                    message_id=sent.message_id,
                    reply_markup=keyboard(("Done", "d")),
                )
            stripped = await bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=sent.message_id
            )
            assert isinstance(stripped, telegram.Message) and stripped.reply_markup is None
            with pytest.raises(BadRequest, match="(?i)message to edit not found"):
                await bot.edit_message_text("x", chat_id=chat_id, message_id=999)
            with pytest.raises(BadRequest, match="(?i)message can't be edited"):
                await bot.edit_message_text("x", chat_id=chat_id, message_id=1)
            view = (await control.get(f"/chats/{chat_id}/messages")).json()["messages"][-1]
            assert (
                view["text"] == "Step 2" and view["edited"] is True and view["reply_markup"] is None
            )

    run(scenario)


def test_html_parse_mode_becomes_plain_text_and_entities(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    with sandbox.control() as control:
        chat_id = new_person(control)
        say(control, chat_id, "/start")

    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            sent = await bot.send_message(
                chat_id, "<b>Safe</b> &amp; <i>secret</i>", parse_mode="HTML"
            )
            assert sent.text == "Safe & secret"
            assert [(e.type, e.offset, e.length) for e in sent.entities] == [
                ("bold", 0, 4),
                ("italic", 7, 6),
            ]
            with pytest.raises(BadRequest, match="(?i)can't parse entities"):
                await bot.send_message(chat_id, "<blink>x</blink>", parse_mode="HTML")

    run(scenario)


def test_deletions_remove_messages_from_the_chat(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    with sandbox.control() as control:
        chat_id = new_person(control)
        mine = say(control, chat_id, "my address is ...")

    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            a = await bot.send_message(chat_id, "a")
            b = await bot.send_message(chat_id, "b")
            c = await bot.send_message(chat_id, "c")
            assert await bot.delete_message(chat_id, int(str(mine["message_id"])))
            assert await bot.delete_messages(chat_id, [a.message_id, b.message_id, 4242])
            with pytest.raises(BadRequest, match="(?i)message to delete not found"):
                await bot.delete_message(chat_id, a.message_id)
            with sandbox.control() as control:
                assert visible_ids(control, chat_id) == [c.message_id]

    run(scenario)
    with sandbox.control() as control:
        deleted = events(control, "messages_deleted")
    assert [(e["requested"], e["deleted"]) for e in deleted] == [(1, 1), (3, 2)]


def test_delete_messages_refuses_empty_and_oversized_batches(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    with sandbox.control() as control:
        chat_id = new_person(control)
        say(control, chat_id, "/start")

    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            with pytest.raises(BadRequest, match="(?i)too many message identifiers"):
                await bot.delete_messages(chat_id, list(range(1, 102)))
            with pytest.raises(BadRequest, match="(?i)message identifiers are not specified"):
                await bot.delete_messages(chat_id, [])

    run(scenario)


def test_messages_older_than_48_hours_cannot_be_deleted(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    with sandbox.control() as control:
        chat_id = new_person(control)
        say(control, chat_id, "/start")

    async def scenario() -> None:
        async with (
            telegram.Bot(token, base_url=sandbox.bot_base_url) as bot,
            httpx.AsyncClient(base_url=sandbox.api_url) as control,
        ):
            young = await bot.send_message(chat_id, "young")
            old = await bot.send_message(chat_id, "old")
            advanced = await control.post("/clock/advance", json={"seconds": 47 * 3600})
            assert advanced.status_code == 200
            assert await bot.delete_message(chat_id, young.message_id)
            await control.post("/clock/advance", json={"seconds": 3600})
            with pytest.raises(BadRequest, match="(?i)message can't be deleted for everyone"):
                await bot.delete_message(chat_id, old.message_id)
            assert await bot.delete_messages(chat_id, [old.message_id])
            listing = (await control.get(f"/chats/{chat_id}/messages")).json()
            assert [m["message_id"] for m in listing["messages"]] == [1, old.message_id]

    run(scenario)


def test_text_rules_empty_and_too_long(sandbox: RunningSandbox, token: str, run: Runner) -> None:
    with sandbox.control() as control:
        chat_id = new_person(control)
        say(control, chat_id, "/start")

    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            longest = await bot.send_message(chat_id, "x" * 4096)
            assert len(longest.text or "") == 4096
            with pytest.raises(BadRequest, match="(?i)message is too long"):
                await bot.send_message(chat_id, "x" * 4097)
            with pytest.raises(BadRequest, match="(?i)message text is empty"):
                await bot.send_message(chat_id, "   ")

    run(scenario)


def test_unknown_chat_and_never_started_person(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    with sandbox.control() as control:
        stranger = new_person(control)

    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            with pytest.raises(BadRequest, match="(?i)chat not found"):
                await bot.send_message(55555, "hello")
            with pytest.raises(Forbidden, match="(?i)bot can't initiate conversation"):
                await bot.send_message(stranger, "hello")

    run(scenario)


def test_blocked_bot_gets_403_and_a_chat_member_update(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    with sandbox.control() as control:
        chat_id = new_person(control)
        say(control, chat_id, "/start")
        assert control.post(f"/chats/{chat_id}/block", json={}).json() == {
            "chat_id": chat_id,
            "blocked": True,
        }
        refused = control.post(f"/chats/{chat_id}/messages", json={"text": "still there?"})
        assert refused.status_code == 409

    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
                await bot.send_message(chat_id, "are you safe?")
            updates = await bot.get_updates(timeout=0)
            member = updates[-1].my_chat_member
            assert member is not None and member.new_chat_member.status == "kicked"
            with sandbox.control() as control:
                control.post(f"/chats/{chat_id}/unblock", json={})
            assert await bot.send_message(chat_id, "welcome back")

    run(scenario)


def test_group_chat_reaches_the_bot_with_a_negative_id(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            with sandbox.control() as control:
                created = control.post("/groups", json={"title": "Family"})
                assert created.status_code == 201
                group_id = int(created.json()["chat_id"])
                member_id = int(created.json()["user_id"])
                assert group_id < 0 and member_id > 0
                say(control, group_id, "/start@waystation_sandbox_bot")
            updates = await bot.get_updates(timeout=1)
            joined, message = updates[0].my_chat_member, updates[1].message
            assert joined is not None and joined.chat.type == "group"
            assert message is not None and message.chat.id == group_id
            assert message.chat.type == "group" and message.chat.title == "Family"
            assert message.from_user is not None and message.from_user.id == member_id
            with pytest.raises(BadRequest, match="(?i)message can't be deleted"):
                await bot.delete_message(group_id, message.message_id)

    run(scenario)


def test_commands_and_descriptions_are_stored(
    sandbox: RunningSandbox, token: str, run: Runner
) -> None:
    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            assert await bot.set_my_commands([("start", "Begin"), ("help", "Help")])
            assert await bot.set_my_commands([("start", "ابدأ")], language_code="ar")
            assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
            assert [c.description for c in await bot.get_my_commands(language_code="ar")] == [
                "ابدأ"
            ]
            assert await bot.set_my_description("Ask for help safely.")
            assert await bot.set_my_short_description("Help intake")
            assert (await bot.get_my_description()).description == "Ask for help safely."
            assert await bot.delete_my_commands()
            assert await bot.get_my_commands() == ()
            assert await bot.log_out() and await bot.close()

    run(scenario)
    with sandbox.control() as control:
        bots = control.get("/bots", params={"language_code": "ar"}).json()["bots"]
    assert bots[0]["commands"] == [{"command": "start", "description": "ابدأ"}]
    assert bots[0]["description"] == "Ask for help safely."
