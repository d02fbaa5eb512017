"""What a phone shows outside a chat: the chat list, notification previews, deep links."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from sandbox.botconfig import localized
from sandbox.errors import ControlError
from sandbox.models import BOT_FIRST_NAME, Chat, Person, StoredMessage
from sandbox.state import BotWorld, Sandbox

MAX_LINK = 512
#: Telegram's rule for a deep-link start parameter.
_START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LINK_HOSTS = frozenset({"t.me", "telegram.me", "www.t.me", "telegram.dog"})
_MEDIA_PREVIEW = {"photo": "Photo", "sticker": "Sticker", "document": "File", "voice": "Voice message"}


def bot_name(world: BotWorld, person: Person) -> str:
    """The bot's current name as this person's client shows it (setMyName, else the account's name)."""
    return localized(world.names, person.language_code) or BOT_FIRST_NAME


def first_line(message: StoredMessage | None) -> str:
    """What a chat list or notification shows of a message: its first non-empty line ("" for none)."""
    if message is None:
        return ""
    if message.media is not None:
        return _MEDIA_PREVIEW.get(message.media, "Media")
    return next((line.strip() for line in message.text.splitlines() if line.strip()), "")


def newest(chat: Chat) -> StoredMessage | None:
    """The chat's newest message still shown, if any."""
    return chat.messages[max(chat.messages)] if chat.messages else None


def notify(sandbox: Sandbox, world: BotWorld, chat: Chat, message: StoredMessage) -> None:
    """Record the notification a bot message raises on the person's phone (private chats only)."""
    person = sandbox.people.get(chat.member_ids[0]) if not chat.is_group else None
    if person is None:
        return
    # protect_content does not hide a notification: the preview shows the text regardless.
    sandbox.notifications.add(person.id, world.id, chat.id, bot_name(world, person), first_line(message),
                              message.date)


def chat_list(sandbox: Sandbox, person: Person) -> list[dict[str, object]]:
    """One entry per bot this person has a chat with, newest activity first."""
    entries: list[dict[str, object]] = []
    for world in sandbox.bots.values():
        chat = world.chat(person.id)
        if chat is None:
            continue
        last = newest(chat)
        entries.append({
            "bot_id": world.id,
            "chat_id": chat.id,
            "username": world.identity.username,
            "name": bot_name(world, person),
            "preview": first_line(last),
            "date": last.date if last is not None else None,
            "blocked": chat.blocked,
        })
    entries.sort(key=lambda entry: -(entry["date"] or 0))  # type: ignore[operator]
    return entries


def start_parameter(link: str, world: BotWorld) -> str:
    """Return the start parameter of a deep link to this bot, or raise 400 saying what is wrong.

    Accepts `https://t.me/<username>?start=CODE` (also without the scheme) and a bare
    `?start=CODE`, which means this bot.
    """
    if len(link) > MAX_LINK:
        raise ControlError(400, f"link must be at most {MAX_LINK} characters")
    text = link.strip()
    if text.startswith("?"):
        query = text[1:]
    else:
        parts = urlsplit(text if "://" in text else "https://" + text)
        if parts.scheme not in ("http", "https", "tg") or parts.hostname not in _LINK_HOSTS:
            raise ControlError(400, "link must look like https://t.me/<bot username>?start=CODE")
        username = parts.path.strip("/")
        # Telegram usernames are case-insensitive; a link to another bot opens another chat.
        if username.lower() != world.identity.username.lower():
            raise ControlError(400, "that link is not for this sandbox's bot")
        query = parts.query
    values = parse_qs(query, keep_blank_values=True).get("start", [])
    if len(values) != 1 or not _START_PARAMETER.match(values[0]):
        raise ControlError(400, "start must be 1-64 letters, digits, _ or -")
    return values[0]
