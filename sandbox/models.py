"""The sandbox's in-memory records and their Telegram JSON shapes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, NewType

import nacl.utils

UserId = NewType("UserId", int)
ChatId = NewType("ChatId", int)
MessageId = NewType("MessageId", int)

ChatKind = Literal["private", "group"]

BOT_USERNAME = "waystation_sandbox_bot"
BOT_FIRST_NAME = "Sandbox Bot"


@dataclass(frozen=True)
class Person:
    """A person using the sandbox (a Telegram user account)."""

    id: UserId
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    def to_telegram(self) -> dict[str, object]:
        """Return the Telegram User object."""
        user: dict[str, object] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user


@dataclass(frozen=True)
class BotIdentity:
    """The bot account a token stands for."""

    id: int
    token: str

    @property
    def username(self) -> str:
        """Return the bot's @username (without the @), as getMe gives it."""
        return BOT_USERNAME

    def to_telegram(self) -> dict[str, object]:
        """Return the Telegram User object of the bot."""
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": self.username,
        }

    def to_get_me(self) -> dict[str, object]:
        """Return getMe's result."""
        return {
            **self.to_telegram(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


@dataclass
class StoredMessage:
    """One message as it currently appears in a chat."""

    message_id: MessageId
    date: int
    sender_id: int
    from_bot: bool
    text: str
    entities: list[dict[str, object]] = field(default_factory=list)
    parse_mode: str | None = None
    reply_markup: dict[str, object] | None = None
    edit_date: int | None = None
    protect_content: bool = False
    reply_to_message_id: MessageId | None = None
    #: "photo", "sticker", "document" or "voice" for a media message (then text is empty).
    media: str | None = None
    #: "web_app_data" for the service line a Mini App's sendData leaves (the data itself is not kept).
    service: str | None = None


#: Minimal Bot API objects for media a person can send; the sandbox holds no file content.
MEDIA_OBJECTS: dict[str, object] = {
    "photo": [{"file_id": "sandbox-photo", "file_unique_id": "sp", "width": 320, "height": 240}],
    "sticker": {"file_id": "sandbox-sticker", "file_unique_id": "ss", "type": "regular", "width": 512,
                "height": 512, "is_animated": False, "is_video": False},
    "document": {"file_id": "sandbox-document", "file_unique_id": "sd"},
    "voice": {"file_id": "sandbox-voice", "file_unique_id": "sv", "duration": 3},
}


@dataclass
class CallbackAnswer:
    """What the bot answered to one button press."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    date: int


@dataclass
class Chat:
    """A private chat (id == the person's id) or a group between people and one bot."""

    id: ChatId
    kind: ChatKind
    title: str | None
    member_ids: list[UserId]
    messages: dict[MessageId, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    blocked: bool = False
    version: int = 0
    reply_keyboard: list[list[str]] | None = None
    #: Reply-keyboard buttons that open a Mini App: button text -> web_app URL.
    reply_keyboard_web_apps: dict[str, str] = field(default_factory=dict)
    callback_answers: list[CallbackAnswer] = field(default_factory=list)
    instance: str = field(default_factory=lambda: str(int.from_bytes(nacl.utils.random(8), 'big') >> 1))

    @property
    def is_group(self) -> bool:
        """Tell whether this is a group chat."""
        return self.kind == "group"

    def allocate_message_id(self) -> MessageId:
        """Return the next message id of this chat."""
        message_id = MessageId(self.next_message_id)
        self.next_message_id += 1
        return message_id

    def touch(self) -> None:
        """Mark the chat as changed so pollers re-render."""
        self.version += 1


@dataclass
class CallbackQuery:
    """A button press waiting for (or given) the bot's answer."""

    id: str
    chat_id: ChatId
    message_id: MessageId
    user_id: UserId
    data: str
    date: int
    answered: bool = False


def chat_to_telegram(chat: Chat, people: dict[UserId, Person]) -> dict[str, object]:
    """Return the Telegram Chat object."""
    if chat.kind == "group":
        return {"id": chat.id, "type": "group", "title": chat.title or "Group"}
    person = people.get(UserId(chat.id))
    result: dict[str, object] = {"id": chat.id, "type": "private"}
    if person is not None:
        result["first_name"] = person.first_name
        if person.last_name:
            result["last_name"] = person.last_name
        if person.username:
            result["username"] = person.username
    return result


def message_to_telegram(
    message: StoredMessage,
    chat: Chat,
    people: dict[UserId, Person],
    bot: BotIdentity,
) -> dict[str, object]:
    """Return the full Telegram Message object."""
    if message.from_bot:
        sender = bot.to_telegram()
    else:
        person = people.get(UserId(message.sender_id))
        sender = (
            person.to_telegram()
            if person is not None
            else {"id": message.sender_id, "is_bot": False, "first_name": "Deleted Account"}
        )
    result: dict[str, object] = {
        "message_id": message.message_id,
        "date": message.date,
        "chat": chat_to_telegram(chat, people),
        "from": sender,
    }
    if message.media is not None:
        result[message.media] = MEDIA_OBJECTS[message.media]
    elif message.service is not None:
        pass  # a service message has no text; its update carried the rest once
    else:
        result["text"] = message.text
    if message.entities:
        result["entities"] = message.entities
    if message.reply_markup is not None:
        result["reply_markup"] = message.reply_markup
    if message.edit_date is not None:
        result["edit_date"] = message.edit_date
    if message.protect_content:
        result["has_protected_content"] = True
    if message.reply_to_message_id is not None:
        replied = chat.messages.get(message.reply_to_message_id)
        if replied is not None:
            result["reply_to_message"] = message_to_telegram(
                replace(replied, reply_to_message_id=None),
                chat,
                people,
                bot,
            )
    return result


def message_to_view(message: StoredMessage) -> dict[str, object]:
    """Return the control API's view of a message (no chat, no names)."""
    return {
        "message_id": message.message_id,
        "date": message.date,
        "side": "bot" if message.from_bot else "user",
        "from_id": message.sender_id,
        "text": message.text,
        "entities": message.entities,
        "parse_mode": message.parse_mode,
        "reply_markup": message.reply_markup,
        "edited": message.edit_date is not None,
        "edit_date": message.edit_date,
        "protect_content": message.protect_content,
        "reply_to_message_id": message.reply_to_message_id,
        "media": message.media,
        "service": message.service,
    }
