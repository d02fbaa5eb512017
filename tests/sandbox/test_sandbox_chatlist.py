"""The chat list, notification previews and deep links of the control API."""

from __future__ import annotations

import httpx
import pytest

from sandbox.testing import RunningSandbox

BOT = "waystation_sandbox_bot"


def call(sandbox: RunningSandbox, token: str, method: str, **params: object) -> object:
    """One Bot API call by the bot; return its result."""
    reply = httpx.post(f"{sandbox.bot_base_url}{token}/{method}", json=params).json()
    assert reply["ok"] is True, reply
    return reply["result"]


def person(control: httpx.Client, language: str = "en") -> int:
    return int(control.post("/users", json={"first_name": "Pat", "language_code": language}).json()["user_id"])


@pytest.mark.parametrize("link", [f"https://t.me/{BOT}?start=Code_1-x", f"t.me/{BOT.upper()}?start=Code_1-x",
                                  "?start=Code_1-x", f"http://telegram.me/{BOT}/?start=Code_1-x"])
def test_a_deep_link_sends_start_with_its_code_as_the_first_message(
        sandbox: RunningSandbox, token: str, link: str) -> None:
    call(sandbox, token, "getMe")
    with sandbox.control() as control:
        user_id = person(control)
        opened = control.post(f"/users/{user_id}/links", json={"link": link})
        assert opened.status_code == 201, opened.text
        assert opened.json()["text"] == "/start Code_1-x"
        updates = call(sandbox, token, "getUpdates")
        assert isinstance(updates, list)
        [update] = updates
        message = update["message"]
        assert message["text"] == "/start Code_1-x" and message["chat"]["id"] == user_id
        assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]


@pytest.mark.parametrize("link", [
    "https://t.me/some_other_bot?start=CODE",   # another bot: not ours to open
    f"https://example.org/{BOT}?start=CODE",      # not a Telegram link
    f"https://t.me/{BOT}",                        # no start parameter
    f"https://t.me/{BOT}?start=",                 # empty
    f"https://t.me/{BOT}?start=has%20space",      # outside Telegram's alphabet
    f"https://t.me/{BOT}?start=" + "a" * 65,      # too long
    f"https://t.me/{BOT}?start=a&start=b",        # ambiguous
    "?start=" + "a" * 600,                        # oversize input
])
def test_a_bad_or_foreign_link_is_refused_and_sends_nothing(
        sandbox: RunningSandbox, token: str, link: str) -> None:
    call(sandbox, token, "getMe")
    with sandbox.control() as control:
        user_id = person(control)
        refused = control.post(f"/users/{user_id}/links", json={"link": link})
        assert refused.status_code == 400 and refused.json()["error"]
        assert call(sandbox, token, "getUpdates") == []
        assert control.get(f"/users/{user_id}/chats").json() == {"chats": []}


def test_a_link_for_a_missing_person_is_404(sandbox: RunningSandbox, token: str) -> None:
    call(sandbox, token, "getMe")
    with sandbox.control() as control:
        assert control.post("/users/42/links", json={"link": "?start=x"}).status_code == 404
        assert control.get("/users/42/chats").status_code == 404
        assert control.get("/users/42/notifications").status_code == 404


def test_the_chat_list_shows_the_current_name_in_the_person_s_language_and_the_newest_first_line(
        sandbox: RunningSandbox, token: str) -> None:
    call(sandbox, token, "getMe")
    with sandbox.control() as control:
        russian, english = person(control, "ru"), person(control, "en-GB")
        assert control.get(f"/users/{russian}/chats").json() == {"chats": []}
        for chat_id in (russian, english):
            control.post(f"/chats/{chat_id}/messages", json={"text": "/start"}).raise_for_status()
        [entry] = control.get(f"/users/{russian}/chats").json()["chats"]
        assert (entry["name"], entry["preview"], entry["username"]) == ("Sandbox Bot", "/start", BOT)

        call(sandbox, token, "setMyName", name="Clock")
        call(sandbox, token, "setMyName", name="Часы", language_code="ru")
        sent = call(sandbox, token, "sendMessage", chat_id=russian, text="\n  Первая строка\nвторая",
                    protect_content=True)
        call(sandbox, token, "sendMessage", chat_id=english, text="Hello")
        [entry] = control.get(f"/users/{russian}/chats").json()["chats"]
        assert (entry["name"], entry["preview"]) == ("Часы", "Первая строка")
        [entry] = control.get(f"/users/{english}/chats").json()["chats"]
        assert (entry["name"], entry["preview"]) == ("Clock", "Hello")

        start_id = 1
        call(sandbox, token, "deleteMessages", chat_id=russian,
             message_ids=[start_id, sent["message_id"]])  # type: ignore[index]
        [entry] = control.get(f"/users/{russian}/chats").json()["chats"]
        assert (entry["name"], entry["preview"], entry["date"]) == ("Часы", "", None)


def test_every_bot_message_raises_a_notification_with_the_name_and_first_line_even_when_protected(
        sandbox: RunningSandbox, token: str) -> None:
    call(sandbox, token, "getMe")
    with sandbox.control() as control:
        first, other = person(control, "fa"), person(control)
        for chat_id in (first, other):  # a bot cannot write first
            control.post(f"/chats/{chat_id}/messages", json={"text": "/start"}).raise_for_status()
        call(sandbox, token, "sendMessage", chat_id=first, text="one\ntwo", protect_content=True)
        call(sandbox, token, "setMyName", name="Tz", language_code="fa")
        call(sandbox, token, "sendMessage", chat_id=first, text="three")
        call(sandbox, token, "sendMessage", chat_id=other, text="not yours")
        shown = control.get(f"/users/{first}/notifications").json()["notifications"]
        assert [(n["title"], n["body"]) for n in shown] == [("Sandbox Bot", "one"), ("Tz", "three")]
        later = control.get(f"/users/{first}/notifications", params={"since": shown[0]["seq"]}).json()
        assert [n["body"] for n in later["notifications"]] == ["three"]
        assert control.get(f"/users/{first}/notifications", params={"since": "x"}).status_code == 400
        control.post("/reset", json={}).raise_for_status()
        assert control.get(f"/users/{first}/notifications").status_code == 404


def test_the_event_log_of_a_deep_link_holds_no_code(sandbox: RunningSandbox, token: str) -> None:
    call(sandbox, token, "getMe")
    with sandbox.control() as control:
        user_id = person(control)
        control.post(f"/users/{user_id}/links", json={"link": "?start=SECRETCODE1"}).raise_for_status()
        events = control.get("/events").json()["events"]
        assert any(e["kind"] == "deep_link_opened" for e in events)
        assert "SECRETCODE1" not in str(events)
