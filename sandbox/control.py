"""The JSON control API under /sandbox/api/, used by the web page and by tests."""

from __future__ import annotations

import json
import math
import re

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import chatlist, miniapp, persons
from sandbox.botapi import METHODS, sandbox_of
from sandbox.botconfig import localized
from sandbox.errors import ControlError
from sandbox.menubutton import effective_menu_button
from sandbox.messaging import ANSWER_VISIBLE_SECONDS
from sandbox.models import BOT_FIRST_NAME, CallbackAnswer, Chat, UserId, message_to_view
from sandbox.state import AnswerDelay, BotWorld, Sandbox

MAX_BODY_BYTES = 64 * 1024
MAX_NAME = 64
MAX_ADVANCE_SECONDS = 10 * 365 * 86400
MAX_DELAY_SECONDS = 600
MAX_DELAY_COUNT = 100
_USERNAME = re.compile(r"^[A-Za-z0-9_]{5,32}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_PRIVATE_SCOPE = json.dumps({"type": "all_private_chats"}, sort_keys=True)

Body = dict[str, object]


async def _body(request: Request) -> Body:
    """Return the request's JSON object body ({} if empty); POSTs must say application/json."""
    # Requiring JSON makes a cross-site form post fail the browser's CORS preflight.
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ControlError(415, "send a JSON body with Content-Type: application/json")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ControlError(413, "request body too large")
    if not raw.strip():
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError as err:
        raise ControlError(400, "body must be a JSON object") from err
    if not isinstance(decoded, dict):
        raise ControlError(400, "body must be a JSON object")
    return decoded


def _text(body: Body, name: str, limit: int, required: bool = False) -> str | None:
    """Return a string field, checking presence and length."""
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ControlError(400, f"{name} is required")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ControlError(400, f"{name} must be a string of at most {limit} characters")
    return value


def _int(body: Body, name: str, required: bool = False) -> int | None:
    """Return an integer field."""
    value = body.get(name)
    if value is None:
        if required:
            raise ControlError(400, f"{name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError(400, f"{name} must be an integer")
    return value


def _flag(body: Body, name: str) -> bool:
    """Return an optional true/false field (absent: false)."""
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ControlError(400, f"{name} must be true or false")
    return value


def _path_int(request: Request, name: str) -> int:
    """Return an integer path parameter."""
    try:
        return int(str(request.path_params[name]))
    except ValueError as err:
        raise ControlError(404, f"{name} must be an integer") from err


def _world(request: Request) -> tuple[Sandbox, BotWorld]:
    """Return the sandbox and the bot this call addresses (?bot=<id or token>).

    A private chat whose person does not exist is a 404 before any bot is looked for, so
    a page whose person vanished in a reset can tell that apart from "no bot yet".
    """
    sandbox = sandbox_of(request)
    if "chat_id" in request.path_params:
        chat_id = _path_int(request, "chat_id")
        if chat_id > 0 and UserId(chat_id) not in sandbox.people:
            raise ControlError(404, "no such chat")
    return sandbox, sandbox.select_bot(request.query_params.get("bot"))


def _commands(world: BotWorld, language: str | None) -> list[dict[str, str]]:
    """Return the commands a private chat in this language would show."""
    short = (language or "").split("-", 1)[0].lower()
    for key in ((_PRIVATE_SCOPE, short), (_PRIVATE_SCOPE, ""), ("default", short), ("default", "")):
        if key in world.commands:
            return world.commands[key]
    return []


async def list_bots(request: Request) -> JSONResponse:
    """GET /bots: the bots that have connected, localized by ?language_code."""
    sandbox = sandbox_of(request)
    language = request.query_params.get("language_code")
    bots = [
        {
            "id": world.id,
            **world.identity.to_telegram(),
            "webhook_url": world.webhook.url if world.webhook is not None else None,
            "pending_update_count": len(world.updates),
            "commands": _commands(world, language),
            "description": localized(world.descriptions, language),
            "short_description": localized(world.short_descriptions, language),
            "name": localized(world.names, language) or BOT_FIRST_NAME,
        }
        for world in sandbox.bots.values()
    ]
    return JSONResponse({"bots": bots})


async def create_user(request: Request) -> JSONResponse:
    """POST /users: a new person; their private chat id equals their user id."""
    body = await _body(request)
    first_name = _text(body, "first_name", MAX_NAME, required=True) or ""
    if not first_name.strip():
        raise ControlError(400, "first_name is required")
    username = _text(body, "username", 32)
    if username is not None and not _USERNAME.match(username):
        raise ControlError(400, "username must be 5-32 letters, digits or underscores")
    language = _text(body, "language_code", 35)
    if language is not None and not _LANGUAGE.match(language):
        raise ControlError(400, "language_code must look like 'en' or 'fa-IR'")
    created = sandbox_of(request).add_person(
        first_name.strip(), _text(body, "last_name", MAX_NAME), username, language
    )
    return JSONResponse({"user_id": created.id, "chat_id": created.id}, status_code=201)


async def create_group(request: Request) -> JSONResponse:
    """POST /groups: a group chat (negative id) with one member and the bot."""
    body = await _body(request)
    sandbox, world = _world(request)
    member_id = _int(body, "member_user_id")
    if member_id is not None:
        member = persons.person(sandbox, member_id)
    else:
        name = _text(body, "first_name", MAX_NAME) or "Group Member"
        member = sandbox.add_person(name, None, None, _text(body, "language_code", 35))
    title = _text(body, "title", 128) or "Sandbox group"
    chat = persons.create_group(sandbox, world, title, member)
    return JSONResponse({"chat_id": chat.id, "user_id": member.id}, status_code=201)


def _recent_answers(sandbox: Sandbox, chat: Chat) -> list[CallbackAnswer]:
    """Drop callback answers older than a minute and return the rest."""
    now = sandbox.clock.unix()
    chat.callback_answers = [
        answer for answer in chat.callback_answers if now - answer.date < ANSWER_VISIBLE_SECONDS
    ]
    return chat.callback_answers


async def get_messages(request: Request) -> JSONResponse:
    """GET /chats/{chat_id}/messages: what the person's screen shows now."""
    sandbox, world = _world(request)
    chat_id = _path_int(request, "chat_id")
    chat = persons.existing_chat(sandbox, world, chat_id)
    if chat is None:
        return JSONResponse(
            {
                "bot_id": world.id,
                "chat_id": chat_id,
                "type": "private",
                "blocked": False,
                "version": 0,
                "messages": [],
                "callback_answers": [],
                "reply_keyboard": None,
                "reply_keyboard_web_apps": {},
                "menu_button": effective_menu_button(world, chat_id),
            }
        )
    return JSONResponse(
        {
            "bot_id": world.id,
            "chat_id": chat.id,
            "type": chat.kind,
            "blocked": chat.blocked,
            "version": chat.version,
            "messages": [message_to_view(message) for message in chat.messages.values()],
            # Like a phone's toast, an answer is shown for a minute and then forgotten.
            "callback_answers": [
                {
                    "callback_query_id": answer.callback_query_id,
                    "text": answer.text,
                    "show_alert": answer.show_alert,
                    "url": answer.url,
                    "date": answer.date,
                }
                for answer in _recent_answers(sandbox, chat)
            ],
            "reply_keyboard": chat.reply_keyboard,
            "reply_keyboard_web_apps": chat.reply_keyboard_web_apps,
            # What the button beside the input field does: commands menu or a Mini App.
            "menu_button": effective_menu_button(world, chat.id),
        }
    )


async def post_message(request: Request) -> JSONResponse:
    """POST /chats/{chat_id}/messages: the person (or a group member) sends text."""
    body = await _body(request)
    sandbox, world = _world(request)
    text = body.get("text")
    if not isinstance(text, str):
        raise ControlError(400, "text is required")
    message = persons.send_text(
        sandbox, world, _path_int(request, "chat_id"), text, _int(body, "from_user_id")
    )
    return JSONResponse(message_to_view(message), status_code=201)


async def post_media(request: Request) -> JSONResponse:
    """POST /chats/{chat_id}/media: the person sends {"kind": "photo"|"sticker"|"document"|"voice"}."""
    body = await _body(request)
    sandbox, world = _world(request)
    message = persons.send_media(
        sandbox, world, _path_int(request, "chat_id"), _text(body, "kind", 16, required=True) or "",
        _int(body, "from_user_id"),
    )
    return JSONResponse(message_to_view(message), status_code=201)


async def post_callback(request: Request) -> JSONResponse:
    """POST /chats/{chat_id}/callback: the person presses an inline button (or, `forged`, sends any data)."""
    body = await _body(request)
    sandbox, world = _world(request)
    data = _text(body, "data", 64, required=True) or ""
    query_id, update_id = persons.press_button(
        sandbox,
        world,
        _path_int(request, "chat_id"),
        _int(body, "message_id", required=True) or 0,
        data,
        _int(body, "from_user_id"),
        forged=_flag(body, "forged"),
    )
    return JSONResponse({"callback_query_id": query_id, "update_id": update_id}, status_code=201)


async def open_web_app(request: Request) -> JSONResponse:
    """POST /chats/{chat_id}/webapp: the person taps a web_app button or the menu button."""
    body = await _body(request)
    sandbox, world = _world(request)
    chat_id = _path_int(request, "chat_id")
    chat = persons.existing_chat(sandbox, world, chat_id)
    if chat is None:
        raise ControlError(404, "this person has no chat with the bot yet")
    theme = _text(body, "theme", 8) or "light"
    launch = miniapp.open_web_app(
        sandbox, world, chat, persons.person(sandbox, chat.member_ids[0]),
        source=_text(body, "source", 16, required=True) or "",
        message_id=_int(body, "message_id"),
        url=_text(body, "url", 4096),
        text=_text(body, "text", 4096),
        theme=theme,
    )
    return JSONResponse(launch, status_code=201)


async def web_app_data(request: Request) -> JSONResponse:
    """POST /chats/{chat_id}/webapp/{launch_id}/data {data}: Telegram.WebApp.sendData."""
    body = await _body(request)
    sandbox, world = _world(request)
    chat = persons.existing_chat(sandbox, world, _path_int(request, "chat_id"))
    if chat is None:
        raise ControlError(404, "no such chat")
    data = body.get("data")
    if not isinstance(data, str):
        raise ControlError(400, "data must be a string")
    message = miniapp.send_data(sandbox, world, chat, str(request.path_params["launch_id"]), data)
    return JSONResponse(message_to_view(message), status_code=201)


async def web_app_key(request: Request) -> JSONResponse:
    """GET /webapp: how the sandbox signs launch data (its Ed25519 public key, version, platform)."""
    sandbox = sandbox_of(request)
    return JSONResponse({
        "public_key": sandbox.web_app_key.verify_key.encode().hex(),
        "version": miniapp.VERSION,
        "platform": miniapp.PLATFORM,
        "themes": miniapp.THEMES,
    })


async def block(request: Request) -> JSONResponse:
    """POST /chats/{chat_id}/block: the person blocks the bot."""
    await _body(request)
    sandbox, world = _world(request)
    chat = persons.set_blocked(sandbox, world, _path_int(request, "chat_id"), True)
    return JSONResponse({"chat_id": chat.id, "blocked": chat.blocked})


async def unblock(request: Request) -> JSONResponse:
    """POST /chats/{chat_id}/unblock: the person unblocks the bot."""
    await _body(request)
    sandbox, world = _world(request)
    chat = persons.set_blocked(sandbox, world, _path_int(request, "chat_id"), False)
    return JSONResponse({"chat_id": chat.id, "blocked": chat.blocked})


async def list_chats(request: Request) -> JSONResponse:
    """GET /users/{user_id}/chats: the person's chat list (bot's current name, newest message's first line)."""
    sandbox = sandbox_of(request)
    owner = persons.person(sandbox, _path_int(request, "user_id"))
    return JSONResponse({"chats": chatlist.chat_list(sandbox, owner)})


async def list_notifications(request: Request) -> JSONResponse:
    """GET /users/{user_id}/notifications?since=N: the previews the person's phone showed."""
    sandbox = sandbox_of(request)
    owner = persons.person(sandbox, _path_int(request, "user_id"))
    try:
        since = int(request.query_params.get("since", "0"))
    except ValueError as err:
        raise ControlError(400, "since must be an integer") from err
    return JSONResponse(
        {"notifications": [item.to_json() for item in sandbox.notifications.since(owner.id, since)]}
    )


async def open_link(request: Request) -> JSONResponse:
    """POST /users/{user_id}/links {link}: open t.me/<bot>?start=CODE; the client sends /start CODE."""
    body = await _body(request)
    sandbox, world = _world(request)
    owner = persons.person(sandbox, _path_int(request, "user_id"))
    link = _text(body, "link", chatlist.MAX_LINK, required=True) or ""
    code = chatlist.start_parameter(link, world)
    # What Telegram's client does with a start link: the first message is "/start CODE".
    message = persons.send_text(sandbox, world, owner.id, f"/start {code}", None)
    sandbox.events.record("deep_link_opened", world.id, chat_id=owner.id, message_id=message.message_id)
    return JSONResponse({"bot_id": world.id, "chat_id": owner.id, **message_to_view(message)}, status_code=201)


async def list_events(request: Request) -> JSONResponse:
    """GET /events?since=N&kind=K: the event log (ids and counts only)."""
    sandbox = sandbox_of(request)
    try:
        since = int(request.query_params.get("since", "0"))
    except ValueError as err:
        raise ControlError(400, "since must be an integer") from err
    events = sandbox.events.since(since, request.query_params.get("kind") or None)
    return JSONResponse(
        {"events": [event.to_json() for event in events], "last_seq": sandbox.events.last_seq}
    )


def _clock_view(sandbox: Sandbox) -> dict[str, object]:
    """Return the clock's control API shape."""
    return {"now": sandbox.clock.unix(), "offset_seconds": sandbox.clock.offset_seconds}


async def get_clock(request: Request) -> JSONResponse:
    """GET /clock: sandbox time."""
    return JSONResponse(_clock_view(sandbox_of(request)))


async def advance_clock(request: Request) -> JSONResponse:
    """POST /clock/advance {seconds}: move sandbox time forward."""
    body = await _body(request)
    seconds = body.get("seconds")
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not math.isfinite(seconds)
        or not 0 < seconds <= MAX_ADVANCE_SECONDS
    ):
        raise ControlError(400, f"seconds must be a number in (0, {MAX_ADVANCE_SECONDS}]")
    sandbox = sandbox_of(request)
    sandbox.clock.advance(float(seconds))
    sandbox.events.record("clock_advanced", None, seconds=float(seconds))
    return JSONResponse(_clock_view(sandbox))


async def add_delay(request: Request) -> JSONResponse:
    """POST /delays {method, seconds, count?, chat_id?}: the next calls take effect, then wait before answering."""
    body = await _body(request)
    sandbox, world = _world(request)
    known = METHODS.get((_text(body, "method", 64, required=True) or "").lower())
    if known is None:
        raise ControlError(400, "method must be a Bot API method the sandbox knows, e.g. sendMessage")
    seconds = body.get("seconds")
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not math.isfinite(seconds)
        or not 0 < seconds <= MAX_DELAY_SECONDS
    ):
        raise ControlError(400, f"seconds must be a number in (0, {MAX_DELAY_SECONDS}]")
    count = _int(body, "count")
    if count is None:
        count = 1
    if not 1 <= count <= MAX_DELAY_COUNT:
        raise ControlError(400, f"count must be 1..{MAX_DELAY_COUNT}")
    delay = AnswerDelay(known[0], float(seconds), count, _int(body, "chat_id"))
    world.answer_delays.append(delay)
    sandbox.events.record("answer_delay_set", world.id, method=delay.method, seconds=delay.seconds, count=count,
                          chat_id=delay.chat_id)
    return JSONResponse(delay.to_json(), status_code=201)


async def list_delays(request: Request) -> JSONResponse:
    """GET /delays: delays not used up yet."""
    _, world = _world(request)
    return JSONResponse({"delays": [delay.to_json() for delay in world.answer_delays]})


async def reset(request: Request) -> JSONResponse:
    """POST /reset: forget everything and return the clock to real time."""
    await _body(request)
    sandbox_of(request).reset()
    return JSONResponse({"ok": True})


async def control_error(request: Request, exc: Exception) -> JSONResponse:
    """Render a ControlError as {"error": ...}."""
    if not isinstance(exc, ControlError):
        raise exc
    return JSONResponse({"error": exc.message}, status_code=exc.status)


ROUTES = [
    Route("/bots", list_bots, methods=["GET"]),
    Route("/users", create_user, methods=["POST"]),
    Route("/users/{user_id}/chats", list_chats, methods=["GET"]),
    Route("/users/{user_id}/notifications", list_notifications, methods=["GET"]),
    Route("/users/{user_id}/links", open_link, methods=["POST"]),
    Route("/groups", create_group, methods=["POST"]),
    Route("/chats/{chat_id}/messages", get_messages, methods=["GET"]),
    Route("/chats/{chat_id}/messages", post_message, methods=["POST"]),
    Route("/chats/{chat_id}/media", post_media, methods=["POST"]),
    Route("/chats/{chat_id}/callback", post_callback, methods=["POST"]),
    Route("/chats/{chat_id}/webapp", open_web_app, methods=["POST"]),
    Route("/chats/{chat_id}/webapp/{launch_id}/data", web_app_data, methods=["POST"]),
    Route("/webapp", web_app_key, methods=["GET"]),
    Route("/chats/{chat_id}/block", block, methods=["POST"]),
    Route("/chats/{chat_id}/unblock", unblock, methods=["POST"]),
    Route("/events", list_events, methods=["GET"]),
    Route("/clock", get_clock, methods=["GET"]),
    Route("/clock/advance", advance_clock, methods=["POST"]),
    Route("/delays", add_delay, methods=["POST"]),
    Route("/delays", list_delays, methods=["GET"]),
    Route("/reset", reset, methods=["POST"]),
]
