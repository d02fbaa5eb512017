"""Bot API setChatMenuButton / getChatMenuButton: the button beside a private chat's input field."""

from __future__ import annotations

from sandbox.errors import bad_request
from sandbox.markup import web_app_url
from sandbox.models import ChatId
from sandbox.params import Params
from sandbox.state import BotWorld, Sandbox

MAX_MENU_TEXT = 64
DEFAULT: dict[str, object] = {"type": "default"}
COMMANDS: dict[str, object] = {"type": "commands"}


def parse_menu_button(raw: object) -> dict[str, object]:
    """Validate a MenuButton (absent: MenuButtonDefault) with Telegram's error wording."""
    if raw is None:
        return dict(DEFAULT)
    if not isinstance(raw, dict):
        raise bad_request("can't parse menu button: MenuButton must be an Object")
    kind = raw.get("type")
    if kind is None:
        raise bad_request('can\'t parse menu button: Can\'t find field "type"')
    if kind in ("default", "commands"):
        return {"type": kind}
    if kind != "web_app":
        raise bad_request("can't parse menu button: MenuButton has unsupported type")
    text = raw.get("text")
    if "text" not in raw:
        raise bad_request('can\'t parse menu button: Can\'t find field "text"')
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_MENU_TEXT:
        raise bad_request("can't parse menu button: Text must be non-empty")
    if "web_app" not in raw:
        raise bad_request('can\'t parse menu button: Can\'t find field "web_app"')
    return {"type": "web_app", "text": text, "web_app": {"url": web_app_url(raw["web_app"], "menu button")}}


def _private_chat_id(sandbox: Sandbox, world: BotWorld, params: Params) -> ChatId | None:
    """Return the private chat a call names, None for the bot's default, or raise 400."""
    if not params.has("chat_id"):
        return None
    chat_id = params.chat_id()
    chat = world.chat(chat_id)
    if chat is None:
        raise bad_request("chat not found")
    if chat.is_group:
        # A menu button exists only in private chats with the bot.
        raise bad_request("invalid chat_id specified")
    return chat.id


def effective_menu_button(world: BotWorld, chat_id: int) -> dict[str, object]:
    """What the person's client shows in this chat: its own button, else the bot's default."""
    button = world.menu_buttons.get(ChatId(chat_id))
    if button is not None:
        return button
    return world.default_menu_button or dict(COMMANDS)


async def set_chat_menu_button(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """setChatMenuButton: one private chat's menu button, or the default (no chat_id)."""
    button = parse_menu_button(params.json("menu_button"))
    chat_id = _private_chat_id(sandbox, world, params)
    is_default = button["type"] == "default"
    if chat_id is None:
        world.default_menu_button = None if is_default else button
    elif is_default:
        world.menu_buttons.pop(chat_id, None)
    else:
        world.menu_buttons[chat_id] = button
    if chat_id is not None and (chat := world.chat(chat_id)) is not None:
        chat.touch()
    sandbox.events.record("menu_button_set", world.id, chat_id=chat_id, type=str(button["type"]))
    return True


async def get_chat_menu_button(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """getChatMenuButton: a chat's own button ("default" if none was set), or the bot's default."""
    chat_id = _private_chat_id(sandbox, world, params)
    if chat_id is None:
        return world.default_menu_button or dict(COMMANDS)
    return world.menu_buttons.get(chat_id) or dict(DEFAULT)
