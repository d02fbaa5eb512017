"""Mini App support: web_app buttons, the menu button, and the signed launch data (issue 11)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
import nacl.exceptions
import pytest
import telegram
from nacl.signing import VerifyKey
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MenuButtonCommands,
    MenuButtonDefault,
    MenuButtonWebApp,
    ReplyKeyboardMarkup,
    WebAppInfo,
)

from sandbox.testing import Runner, RunningSandbox

APP = "https://forms.example.org/sealed"
LOCAL_APP = "http://127.0.0.1:8799/sealed"


@pytest.fixture(autouse=True)
def connected(sandbox: RunningSandbox, token: str) -> None:
    """Let the bot connect first, so the control API can find it."""
    assert httpx.get(f"{sandbox.bot_base_url}{token}/getMe").json()["ok"] is True


def started_person(sandbox: RunningSandbox, name: str = "Amira", language: str = "ar") -> int:
    """Create a person who has sent /start; return their chat id."""
    with sandbox.control() as control:
        created = control.post("/users", json={"first_name": name, "language_code": language})
        chat_id = int(created.json()["chat_id"])
        assert control.post(f"/chats/{chat_id}/messages", json={"text": "/start"}).status_code == 201
    return chat_id


def call(sandbox: RunningSandbox, token: str, method: str, **params: object) -> httpx.Response:
    """Call a Bot API method with a JSON body."""
    return httpx.post(f"{sandbox.bot_base_url}{token}/{method}", json=params)


def send_with_markup(sandbox: RunningSandbox, token: str, chat_id: int, markup: object) -> httpx.Response:
    """sendMessage with a raw reply_markup."""
    return call(sandbox, token, "sendMessage", chat_id=chat_id, text="Open the form", reply_markup=markup)


def web_app_button(url: object) -> dict[str, object]:
    """One-button inline keyboard opening a Mini App."""
    return {"inline_keyboard": [[{"text": "Open", "web_app": {"url": url}}]]}


def open_app(sandbox: RunningSandbox, chat_id: int, **body: object) -> httpx.Response:
    """The person taps a Mini App button (control API)."""
    with sandbox.control() as control:
        return control.post(f"/chats/{chat_id}/webapp", json=body)


# -- an independent implementation of Telegram's check, from its documentation ---------------------

def telegram_hash_ok(init_data: str, bot_token: str) -> bool:
    """Validate initData as core.telegram.org/bots/webapps says, written here with stdlib only."""
    pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    fields = dict(pairs)
    if len(fields) != len(pairs) or "hash" not in fields:
        return False
    received = fields.pop("hash")
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    expected = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)


def signature_ok(init_data: str, bot_id: int, public_key_hex: str) -> bool:
    """Validate the Ed25519 third-party signature (core.telegram.org/bots/webapps)."""
    fields = dict(parse_qsl(init_data, keep_blank_values=True))
    signature = fields.pop("signature")
    fields.pop("hash")
    check = f"{bot_id}:WebAppData\n" + "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    try:
        VerifyKey(bytes.fromhex(public_key_hex)).verify(check.encode(), raw)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


# -- web_app buttons -------------------------------------------------------------------------------

def test_inline_web_app_button_is_sent_and_shown(sandbox: RunningSandbox, token: str, run: Runner) -> None:
    chat_id = started_person(sandbox)

    async def scenario() -> telegram.Message:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("Open the form", web_app=WebAppInfo(APP))]])
            return await bot.send_message(chat_id, "Press to begin", reply_markup=markup)

    sent = run(scenario)
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][0].web_app == WebAppInfo(APP)
    with sandbox.control() as control:
        view = control.get(f"/chats/{chat_id}/messages").json()
    assert view["messages"][-1]["reply_markup"] == {
        "inline_keyboard": [[{"text": "Open the form", "web_app": {"url": APP}}]]
    }


@pytest.mark.parametrize("url", [LOCAL_APP, "http://localhost:9000/app", "https://127.0.0.1:8443/x"])
def test_local_http_and_any_https_web_app_url_is_accepted(sandbox: RunningSandbox, token: str, url: str) -> None:
    chat_id = started_person(sandbox)
    answer = send_with_markup(sandbox, token, chat_id, web_app_button(url))
    assert answer.json()["ok"] is True, answer.text


@pytest.mark.parametrize("url", ["http://example.org/app", "http://10.0.0.2/app", "ftp://example.org/app",
                                 "javascript:alert(1)", "https://user:pw@example.org/"])
def test_web_app_url_outside_https_and_the_local_allowance_is_refused(
    sandbox: RunningSandbox, token: str, url: str
) -> None:
    chat_id = started_person(sandbox)
    answer = send_with_markup(sandbox, token, chat_id, web_app_button(url))
    assert answer.status_code == 400
    description = answer.json()["description"]
    assert description.startswith(f"Bad Request: inline keyboard button Web App URL '{url}' is invalid: ")
    if url.startswith("http://"):
        assert description.endswith("Only HTTPS links are allowed")
    with sandbox.control() as control:
        assert len(control.get(f"/chats/{chat_id}/messages").json()["messages"]) == 1  # only /start


@pytest.mark.parametrize(("web_app", "description"), [
    ("https://x.org", 'Bad Request: can\'t parse inline keyboard button: Field "web_app" must be of type Object'),
    ({}, 'Bad Request: can\'t parse inline keyboard button: Field "url" must be of type String'),
    ({"url": 5}, 'Bad Request: can\'t parse inline keyboard button: Field "url" must be of type String'),
    ({"url": ""}, "Bad Request: inline keyboard button Web App URL '' is invalid: Wrong HTTP URL"),
])
def test_malformed_web_app_info_is_refused(
    sandbox: RunningSandbox, token: str, web_app: object, description: str
) -> None:
    chat_id = started_person(sandbox)
    markup = {"inline_keyboard": [[{"text": "Open", "web_app": web_app}]]}
    answer = send_with_markup(sandbox, token, chat_id, markup)
    assert (answer.status_code, answer.json()["description"]) == (400, description)


def test_web_app_buttons_are_refused_in_groups(sandbox: RunningSandbox, token: str) -> None:
    with sandbox.control() as control:
        group = control.post("/groups", json={"title": "Family"}).json()["chat_id"]
    inline = send_with_markup(sandbox, token, group, web_app_button(APP))
    keyboard = send_with_markup(sandbox, token, group, {"keyboard": [[{"text": "Form", "web_app": {"url": APP}}]]})
    for answer in (inline, keyboard):
        assert (answer.status_code, answer.json()["description"]) == (400, "Bad Request: BUTTON_TYPE_INVALID")


def test_editing_in_a_web_app_button_is_checked_too(sandbox: RunningSandbox, token: str) -> None:
    chat_id = started_person(sandbox)
    sent = call(sandbox, token, "sendMessage", chat_id=chat_id, text="Hello").json()["result"]
    bad = call(sandbox, token, "editMessageReplyMarkup", chat_id=chat_id, message_id=sent["message_id"],
               reply_markup=web_app_button("http://example.org/"))
    assert bad.status_code == 400 and "Only HTTPS links are allowed" in bad.json()["description"]
    good = call(sandbox, token, "editMessageReplyMarkup", chat_id=chat_id, message_id=sent["message_id"],
                reply_markup=web_app_button(APP))
    assert good.json()["ok"] is True


def test_reply_keyboard_web_app_button(sandbox: RunningSandbox, token: str, run: Runner) -> None:
    chat_id = started_person(sandbox)

    async def scenario() -> None:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            markup = ReplyKeyboardMarkup([[KeyboardButton("Form", web_app=WebAppInfo(LOCAL_APP)), "Help"]])
            await bot.send_message(chat_id, "Choose", reply_markup=markup)

    run(scenario)
    with sandbox.control() as control:
        view = control.get(f"/chats/{chat_id}/messages").json()
    assert view["reply_keyboard"] == [["Form", "Help"]]
    assert view["reply_keyboard_web_apps"] == {"Form": LOCAL_APP}
    bad = send_with_markup(sandbox, token, chat_id, {"keyboard": [[{"text": "F", "web_app": {"url": "http://x.org"}}]]})
    assert bad.json()["description"] == (
        "Bad Request: keyboard button Web App URL 'http://x.org' is invalid: Only HTTPS links are allowed"
    )


# -- the menu button -------------------------------------------------------------------------------

def test_menu_button_default_per_chat_and_fallback(sandbox: RunningSandbox, token: str, run: Runner) -> None:
    chat_id = started_person(sandbox)
    other = started_person(sandbox, "Dara", "fa")

    async def scenario() -> list[object]:
        async with telegram.Bot(token, base_url=sandbox.bot_base_url) as bot:
            seen: list[object] = [await bot.get_chat_menu_button(), await bot.get_chat_menu_button(chat_id)]
            assert await bot.set_chat_menu_button(menu_button=MenuButtonWebApp("Form", WebAppInfo(APP)))
            seen.append(await bot.get_chat_menu_button())
            assert await bot.set_chat_menu_button(chat_id, MenuButtonWebApp("Sealed", WebAppInfo(LOCAL_APP)))
            seen += [await bot.get_chat_menu_button(chat_id), await bot.get_chat_menu_button(other)]
            assert await bot.set_chat_menu_button(chat_id, MenuButtonDefault())
            seen.append(await bot.get_chat_menu_button(chat_id))
            assert await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
            seen.append(await bot.get_chat_menu_button())
            return seen

    seen = run(scenario)
    assert seen == [
        MenuButtonCommands(), MenuButtonDefault(),
        MenuButtonWebApp("Form", WebAppInfo(APP)),
        MenuButtonWebApp("Sealed", WebAppInfo(LOCAL_APP)), MenuButtonDefault(),
        MenuButtonDefault(),
        MenuButtonCommands(),
    ]


def test_chat_view_shows_the_menu_button_the_person_sees(sandbox: RunningSandbox, token: str) -> None:
    chat_id = started_person(sandbox)
    with sandbox.control() as control:
        assert control.get(f"/chats/{chat_id}/messages").json()["menu_button"] == {"type": "commands"}
        button = {"type": "web_app", "text": "Form", "web_app": {"url": APP}}
        assert call(sandbox, token, "setChatMenuButton", menu_button=button).json()["ok"] is True
        assert control.get(f"/chats/{chat_id}/messages").json()["menu_button"] == button
        mine = {"type": "web_app", "text": "Mine", "web_app": {"url": LOCAL_APP}}
        assert call(sandbox, token, "setChatMenuButton", chat_id=chat_id, menu_button=mine).json()["ok"]
        assert control.get(f"/chats/{chat_id}/messages").json()["menu_button"] == mine


@pytest.mark.parametrize(("button", "description"), [
    ([1], "Bad Request: can't parse menu button: MenuButton must be an Object"),
    ({}, 'Bad Request: can\'t parse menu button: Can\'t find field "type"'),
    ({"type": "hologram"}, "Bad Request: can't parse menu button: MenuButton has unsupported type"),
    ({"type": "web_app", "web_app": {"url": APP}}, 'Bad Request: can\'t parse menu button: Can\'t find field "text"'),
    ({"type": "web_app", "text": " ", "web_app": {"url": APP}},
     "Bad Request: can't parse menu button: Text must be non-empty"),
    ({"type": "web_app", "text": "Form"}, 'Bad Request: can\'t parse menu button: Can\'t find field "web_app"'),
    ({"type": "web_app", "text": "Form", "web_app": {"url": "http://example.org/"}},
     "Bad Request: menu button Web App URL 'http://example.org/' is invalid: Only HTTPS links are allowed"),
])
def test_bad_menu_buttons_are_refused(sandbox: RunningSandbox, token: str, button: object, description: str) -> None:
    answer = call(sandbox, token, "setChatMenuButton", menu_button=button)
    assert (answer.status_code, answer.json()["description"]) == (400, description)
    assert call(sandbox, token, "getChatMenuButton").json()["result"] == {"type": "commands"}


def test_menu_button_needs_a_known_private_chat(sandbox: RunningSandbox, token: str) -> None:
    with sandbox.control() as control:
        group = control.post("/groups", json={}).json()["chat_id"]
    unknown = call(sandbox, token, "setChatMenuButton", chat_id=42, menu_button={"type": "commands"})
    in_group = call(sandbox, token, "getChatMenuButton", chat_id=group)
    assert unknown.json()["description"] == "Bad Request: chat not found"
    assert in_group.json()["description"] == "Bad Request: invalid chat_id specified"


# -- launching: initData ---------------------------------------------------------------------------

def test_inline_launch_carries_init_data_telegram_would_sign(sandbox: RunningSandbox, token: str) -> None:
    chat_id = started_person(sandbox, "Amira", "ar")
    sent = send_with_markup(sandbox, token, chat_id, web_app_button(LOCAL_APP)).json()["result"]
    with sandbox.control() as control:
        now = control.get("/clock").json()["now"]
        key = control.get("/webapp").json()["public_key"]
    launch = open_app(sandbox, chat_id, source="inline", message_id=sent["message_id"], url=LOCAL_APP)
    assert launch.status_code == 201, launch.text
    body = launch.json()
    init_data = body["init_data"]
    assert telegram_hash_ok(init_data, token)
    assert signature_ok(init_data, 123456789, key)
    fields = dict(parse_qsl(init_data))
    assert set(fields) == {"query_id", "user", "chat_instance", "chat_type", "auth_date", "signature", "hash"}
    assert json.loads(fields["user"]) == {
        "id": chat_id, "first_name": "Amira", "language_code": "ar", "allows_write_to_pm": True,
    }
    assert fields["chat_type"] == "private"
    assert abs(int(fields["auth_date"]) - now) <= 2
    assert len(fields["query_id"]) == 24
    # The hash holds for the bot's token only.
    assert not telegram_hash_ok(init_data, "987654321:" + "BBF1sandboxTOKENforTESTSonly-0123_y")
    assert not telegram_hash_ok(init_data.replace("Amira", "Amirb"), token)


def test_launch_url_fragment_matches_telegram_web(sandbox: RunningSandbox, token: str) -> None:
    chat_id = started_person(sandbox)
    sent = send_with_markup(sandbox, token, chat_id, web_app_button(LOCAL_APP + "?lang=ar#old")).json()["result"]
    launch = open_app(sandbox, chat_id, source="inline", message_id=sent["message_id"],
                      url=LOCAL_APP + "?lang=ar#old", theme="dark").json()
    parts = urlsplit(launch["url"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}?{parts.query}" == LOCAL_APP + "?lang=ar"
    params = dict(pair.split("=", 1) for pair in parts.fragment.split("&"))
    assert list(params) == ["tgWebAppData", "tgWebAppVersion", "tgWebAppPlatform", "tgWebAppThemeParams"]
    assert unquote(params["tgWebAppData"]) == launch["init_data"]
    assert (params["tgWebAppVersion"], params["tgWebAppPlatform"]) == ("8.0", "weba")
    theme = json.loads(unquote(params["tgWebAppThemeParams"]))
    assert theme == launch["theme_params"] and theme["bg_color"] == "#212121"
    assert {"bg_color", "text_color", "hint_color", "link_color", "button_color", "button_text_color",
            "secondary_bg_color"} <= set(theme)


def test_auth_date_follows_the_sandbox_clock(sandbox: RunningSandbox, token: str) -> None:
    chat_id = started_person(sandbox)
    call(sandbox, token, "setChatMenuButton", menu_button={"type": "web_app", "text": "F", "web_app": {"url": APP}})
    before = dict(parse_qsl(open_app(sandbox, chat_id, source="menu").json()["init_data"]))
    with sandbox.control() as control:
        control.post("/clock/advance", json={"seconds": 2 * 86400})
    after = dict(parse_qsl(open_app(sandbox, chat_id, source="menu").json()["init_data"]))
    assert int(after["auth_date"]) - int(before["auth_date"]) >= 2 * 86400
    assert before["query_id"] != after["query_id"]


def test_menu_and_keyboard_launches_carry_the_fields_telegram_gives_them(
    sandbox: RunningSandbox, token: str
) -> None:
    chat_id = started_person(sandbox)
    call(sandbox, token, "setChatMenuButton", chat_id=chat_id,
         menu_button={"type": "web_app", "text": "F", "web_app": {"url": APP}})
    send_with_markup(sandbox, token, chat_id, {"keyboard": [[{"text": "Form", "web_app": {"url": LOCAL_APP}}]]})
    menu = open_app(sandbox, chat_id, source="menu").json()
    keyboard = open_app(sandbox, chat_id, source="keyboard", text="Form").json()
    assert menu["web_app_url"] == APP and keyboard["web_app_url"] == LOCAL_APP
    assert set(dict(parse_qsl(menu["init_data"]))) == {"query_id", "user", "auth_date", "signature", "hash"}
    assert set(dict(parse_qsl(keyboard["init_data"]))) == {"user", "auth_date", "signature", "hash"}
    assert telegram_hash_ok(menu["init_data"], token) and telegram_hash_ok(keyboard["init_data"], token)
    assert (menu["can_send_data"], keyboard["can_send_data"]) == (False, True)


@pytest.mark.parametrize(("body", "status"), [
    ({"source": "menu"}, 400),                                  # menu button is the commands menu
    ({"source": "inline", "message_id": 99, "url": APP}, 404),  # no such message
    ({"source": "inline", "message_id": 2, "url": "https://elsewhere.example/"}, 400),
    ({"source": "keyboard", "text": "Nope"}, 400),
    ({"source": "telepathy"}, 400),
    ({"source": "inline", "message_id": 2, "url": APP, "theme": "neon"}, 400),
])
def test_a_launch_must_match_a_button_the_person_sees(
    sandbox: RunningSandbox, token: str, body: dict[str, object], status: int
) -> None:
    chat_id = started_person(sandbox)
    assert send_with_markup(sandbox, token, chat_id, web_app_button(APP)).json()["result"]["message_id"] == 2
    assert open_app(sandbox, chat_id, **body).status_code == status


def test_opening_adds_nothing_to_the_chat_and_logs_no_launch_data(sandbox: RunningSandbox, token: str) -> None:
    chat_id = started_person(sandbox)
    send_with_markup(sandbox, token, chat_id, web_app_button(APP))
    with sandbox.control() as control:
        before = control.get(f"/chats/{chat_id}/messages").json()
        launch = open_app(sandbox, chat_id, source="inline", message_id=2, url=APP).json()
        after = control.get(f"/chats/{chat_id}/messages").json()
        events = control.get("/events").json()["events"]
    assert after["messages"] == before["messages"] and after["version"] == before["version"]
    opened = [event for event in events if event["kind"] == "web_app_opened"]
    assert opened == [{**opened[0], "chat_id": chat_id, "source": "inline", "message_id": 2}]
    logged = json.dumps(events)
    fields = dict(parse_qsl(launch["init_data"]))
    for secret in (fields["hash"], fields["query_id"], fields["signature"], "Amira"):
        assert secret not in logged
    # Opening a Mini App from a button sends the bot no update (the page talks to its server).
    updates = httpx.get(f"{sandbox.bot_base_url}{token}/getUpdates").json()["result"]
    assert [list(update) for update in updates] == [["update_id", "message"]]  # only /start


# -- sendData ----------------------------------------------------------------------------------------

def test_send_data_reaches_the_bot_once_and_the_chat_shows_only_a_service_line(
    sandbox: RunningSandbox, token: str
) -> None:
    chat_id = started_person(sandbox)
    send_with_markup(sandbox, token, chat_id, {"keyboard": [[{"text": "Form", "web_app": {"url": LOCAL_APP}}]]})
    launch = open_app(sandbox, chat_id, source="keyboard", text="Form").json()
    with sandbox.control() as control:
        sent = control.post(f"/chats/{chat_id}/webapp/{launch['launch_id']}/data", json={"data": "choice=2"})
        again = control.post(f"/chats/{chat_id}/webapp/{launch['launch_id']}/data", json={"data": "x"})
        view = control.get(f"/chats/{chat_id}/messages").json()
    assert sent.status_code == 201 and again.status_code == 409
    shown = view["messages"][-1]
    assert shown["service"] == "web_app_data" and shown["side"] == "user"
    assert "choice=2" not in json.dumps(view)
    updates = httpx.get(f"{sandbox.bot_base_url}{token}/getUpdates").json()["result"]
    message = updates[-1]["message"]
    assert message["web_app_data"] == {"data": "choice=2", "button_text": "Form"}
    assert "text" not in message and message["from"]["id"] == chat_id


def test_send_data_only_from_a_keyboard_launch_and_within_4096_bytes(sandbox: RunningSandbox, token: str) -> None:
    chat_id = started_person(sandbox)
    send_with_markup(sandbox, token, chat_id, web_app_button(APP))
    send_with_markup(sandbox, token, chat_id, {"keyboard": [[{"text": "Form", "web_app": {"url": LOCAL_APP}}]]})
    inline = open_app(sandbox, chat_id, source="inline", message_id=2, url=APP).json()
    keyboard = open_app(sandbox, chat_id, source="keyboard", text="Form").json()
    with sandbox.control() as control:
        def send(launch_id: str, data: str) -> int:
            return control.post(f"/chats/{chat_id}/webapp/{launch_id}/data", json={"data": data}).status_code

        assert send(inline["launch_id"], "x") == 400
        assert send("no-such-launch", "x") == 404
        assert send(keyboard["launch_id"], "") == 400
        assert send(keyboard["launch_id"], "é" * 2049) == 400
        assert send(keyboard["launch_id"], "é" * 2048) == 201


def test_no_launch_while_blocked_or_from_a_group(sandbox: RunningSandbox, token: str) -> None:
    chat_id = started_person(sandbox)
    send_with_markup(sandbox, token, chat_id, web_app_button(APP))
    with sandbox.control() as control:
        group = control.post("/groups", json={}).json()["chat_id"]
        assert control.post(f"/chats/{chat_id}/block", json={}).status_code == 200
    assert open_app(sandbox, chat_id, source="inline", message_id=2, url=APP).status_code == 409
    assert open_app(sandbox, group, source="menu").status_code == 400
