"""Bot API methods about the bot itself: getMe, commands, descriptions, close, logOut."""

from __future__ import annotations

import json
import re

from sandbox.errors import bad_request
from sandbox.models import BOT_FIRST_NAME
from sandbox.params import Params
from sandbox.state import BotWorld, Sandbox

MAX_COMMANDS = 100
MAX_DESCRIPTION = 512
MAX_SHORT_DESCRIPTION = 120
MAX_NAME = 64
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)


async def get_me(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """getMe: the bot's own User object."""
    return world.identity.to_get_me()


async def close(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """close: accepted; the sandbox has nothing to hand over."""
    return True


async def log_out(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """logOut: accepted; the bot stays usable in the sandbox."""
    return True


def _commands_key(params: Params) -> tuple[str, str]:
    """Return the (scope, language) a commands call addresses."""
    scope = params.json("scope")
    if scope is None:
        scope_key = "default"
    elif isinstance(scope, dict) and scope.get("type") in _SCOPES:
        scope_key = json.dumps(scope, sort_keys=True) if scope["type"] != "default" else "default"
    else:
        raise bad_request("can't parse BotCommandScope JSON object")
    return scope_key, _language(params)


def _language(params: Params) -> str:
    """Return the language_code of a call ('' for all languages)."""
    language = params.text("language_code") or ""
    if language and not _LANGUAGE.match(language):
        raise bad_request("LANGUAGE_CODE_INVALID")
    return language


async def set_my_commands(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """setMyCommands: store the command list for a scope and language."""
    raw = params.json("commands")
    if not isinstance(raw, list) or len(raw) > MAX_COMMANDS:
        raise bad_request("can't parse commands JSON object")
    commands: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand JSON object")
        command, description = item.get("command"), item.get("description")
        if not isinstance(command, str) or not _COMMAND.match(command.lstrip("/")):
            raise bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
            raise bad_request("command description must be non-empty")
        commands.append({"command": command.lstrip("/"), "description": description})
    key = _commands_key(params)
    if commands:
        world.commands[key] = commands
    else:
        world.commands.pop(key, None)
    sandbox.events.record("commands_set", world.id, count=len(commands))
    return True


async def get_my_commands(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """getMyCommands: the command list for a scope and language."""
    return list(world.commands.get(_commands_key(params), []))


async def delete_my_commands(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """deleteMyCommands: forget the command list for a scope and language."""
    world.commands.pop(_commands_key(params), None)
    return True


async def set_my_name(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """setMyName: the bot's name shown in chat lists and profiles, per language."""
    _store_text(world.names, _language(params), params.text("name"), MAX_NAME)
    sandbox.events.record("name_set", world.id, language=_language(params))
    return True


async def get_my_name(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """getMyName: the stored name for a language (the default name when none is set)."""
    language = _language(params)
    return {"name": world.names.get(language) or world.names.get("", "") or BOT_FIRST_NAME}


async def set_my_description(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """setMyDescription: the text an empty chat shows before Start."""
    _store_text(world.descriptions, _language(params), params.text("description"), MAX_DESCRIPTION)
    return True


async def get_my_description(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """getMyDescription: the stored description for a language."""
    return {"description": world.descriptions.get(_language(params), "")}


async def set_my_short_description(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """setMyShortDescription: the bot's short profile text."""
    _store_text(
        world.short_descriptions,
        _language(params),
        params.text("short_description"),
        MAX_SHORT_DESCRIPTION,
    )
    return True


async def get_my_short_description(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """getMyShortDescription: the stored short description for a language."""
    return {"short_description": world.short_descriptions.get(_language(params), "")}


def _store_text(store: dict[str, str], language: str, text: str | None, limit: int) -> None:
    """Set or (when empty) clear one language's text."""
    if not text:
        store.pop(language, None)
        return
    if len(text) > limit:
        raise bad_request("description is too long")
    store[language] = text


def localized(store: dict[str, str], language: str | None) -> str:
    """Return the text for a person's language, falling back to the default."""
    if language:
        short = language.split("-", 1)[0].lower()
        if short in store:
            return store[short]
    return store.get("", "")
