"""What a person does in the sandbox: write, press buttons, block, join groups."""

from __future__ import annotations

import nacl.utils

from sandbox.errors import ControlError
from sandbox.events import EventValue
from sandbox.formatting import command_entities
from sandbox.markup import has_callback_button
from sandbox.models import (
    MEDIA_OBJECTS,
    CallbackQuery,
    Chat,
    ChatId,
    MessageId,
    Person,
    StoredMessage,
    UserId,
    chat_to_telegram,
)
from sandbox.settings import MAX_TEXT_LENGTH
from sandbox.state import BotWorld, Sandbox


def person(sandbox: Sandbox, user_id: int) -> Person:
    """Return an existing person or raise 404."""
    found = sandbox.people.get(UserId(user_id))
    if found is None:
        raise ControlError(404, "no such user")
    return found


def existing_chat(sandbox: Sandbox, world: BotWorld, chat_id: int) -> Chat | None:
    """Return the chat, None for a person who has not yet written to this bot, or raise 404."""
    chat = world.chat(chat_id)
    if chat is not None:
        return chat
    if chat_id > 0 and UserId(chat_id) in sandbox.people:
        return None
    raise ControlError(404, "no such chat")


def _open_chat(sandbox: Sandbox, world: BotWorld, chat_id: int) -> Chat:
    """Return the chat, opening a private chat on a person's first action."""
    chat = existing_chat(sandbox, world, chat_id)
    if chat is None:
        chat = world.private_chat(person(sandbox, chat_id))
    return chat


def _sender(sandbox: Sandbox, chat: Chat, from_user_id: int | None) -> Person:
    """Return who acts in the chat: the private chat's person or a group member."""
    if from_user_id is None:
        return person(sandbox, chat.member_ids[0])
    if UserId(from_user_id) not in chat.member_ids:
        raise ControlError(400, "from_user_id is not a member of this chat")
    return person(sandbox, from_user_id)


def _chat_member_update(
    sandbox: Sandbox, world: BotWorld, chat: Chat, actor: Person, old: str, new: str
) -> None:
    """Queue a my_chat_member update telling the bot its status in the chat changed."""
    bot_user = world.identity.to_telegram()
    new_member: dict[str, object] = {"user": bot_user, "status": new}
    if new == "kicked":
        new_member["until_date"] = 0
    world.enqueue(
        "my_chat_member",
        {
            "chat": chat_to_telegram(chat, world.people),
            "from": actor.to_telegram(),
            "date": sandbox.clock.unix(),
            "old_chat_member": {"user": bot_user, "status": old},
            "new_chat_member": new_member,
        },
    )


def send_text(
    sandbox: Sandbox, world: BotWorld, chat_id: int, text: str, from_user_id: int | None
) -> StoredMessage:
    """A person sends text; the bot gets a `message` update (with bot_command entities)."""
    if not text.strip():
        raise ControlError(400, "text must not be empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise ControlError(400, f"text must be at most {MAX_TEXT_LENGTH} characters")
    return _person_sends(sandbox, world, chat_id, from_user_id, text=text, entities=command_entities(text))


def send_media(
    sandbox: Sandbox, world: BotWorld, chat_id: int, kind: str, from_user_id: int | None
) -> StoredMessage:
    """A person sends a photo, sticker, document or voice message (no content is held)."""
    if kind not in MEDIA_OBJECTS:
        raise ControlError(400, f"kind must be one of {', '.join(sorted(MEDIA_OBJECTS))}")
    return _person_sends(sandbox, world, chat_id, from_user_id, text="", media=kind)


def _person_sends(
    sandbox: Sandbox, world: BotWorld, chat_id: int, from_user_id: int | None, *, text: str,
    entities: list[dict[str, object]] | None = None, media: str | None = None,
) -> StoredMessage:
    """Store a person's message in the chat and hand the bot its `message` update."""
    chat = _open_chat(sandbox, world, chat_id)
    sender = _sender(sandbox, chat, from_user_id)
    if chat.blocked:
        raise ControlError(409, "this person has blocked the bot; unblock it first")
    message = StoredMessage(
        message_id=chat.allocate_message_id(),
        date=sandbox.clock.unix(),
        sender_id=sender.id,
        from_bot=False,
        text=text,
        entities=entities or [],
        media=media,
    )
    chat.messages[message.message_id] = message
    chat.touch()
    update_id = world.enqueue("message", world.telegram_message(chat, message))
    extra: dict[str, EventValue] = {"media": media} if media else {}
    sandbox.events.record(
        "user_media" if media else "user_message",
        world.id,
        chat_id=chat.id,
        message_id=message.message_id,
        update_id=update_id,
        **extra,
    )
    return message


def press_button(
    sandbox: Sandbox,
    world: BotWorld,
    chat_id: int,
    message_id: int,
    data: str,
    from_user_id: int | None,
    *,
    forged: bool = False,
) -> tuple[str, int | None]:
    """A person presses an inline button; return the callback query id and update id.

    `forged`: a modified client sends callback data that no button of the message carries
    (Telegram may refuse it; a bot must not rely on that), on any message of the bot's.
    """
    chat = existing_chat(sandbox, world, chat_id)
    message = chat.messages.get(MessageId(message_id)) if chat is not None else None
    if chat is None or message is None:
        raise ControlError(404, "no such message in this chat")
    if not message.from_bot or not (forged or has_callback_button(message.reply_markup, data)):
        raise ControlError(400, "that message has no button with this callback_data")
    sender = _sender(sandbox, chat, from_user_id)
    if chat.blocked:
        raise ControlError(409, "this person has blocked the bot; unblock it first")
    query = CallbackQuery(
        id=str(int.from_bytes(nacl.utils.random(8), 'big') >> 1),
        chat_id=chat.id,
        message_id=message.message_id,
        user_id=sender.id,
        data=data,
        date=sandbox.clock.unix(),
    )
    world.callback_queries[query.id] = query
    update_id = world.enqueue(
        "callback_query",
        {
            "id": query.id,
            "from": sender.to_telegram(),
            "message": world.telegram_message(chat, message),
            "chat_instance": chat.instance,
            "data": data,
        },
    )
    sandbox.events.record(
        "callback_query",
        world.id,
        chat_id=chat.id,
        message_id=message.message_id,
        callback_query_id=query.id,
        update_id=update_id,
    )
    return query.id, update_id


def set_blocked(sandbox: Sandbox, world: BotWorld, chat_id: int, blocked: bool) -> Chat:
    """A person blocks or unblocks the bot; the bot gets a my_chat_member update."""
    chat = _open_chat(sandbox, world, chat_id)
    if chat.is_group:
        raise ControlError(400, "only a private chat can block the bot")
    if chat.blocked != blocked:
        chat.blocked = blocked
        chat.touch()
        actor = person(sandbox, chat.id)
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        _chat_member_update(sandbox, world, chat, actor, old, new)
        sandbox.events.record("blocked" if blocked else "unblocked", world.id, chat_id=chat.id)
    return chat


def create_group(sandbox: Sandbox, world: BotWorld, title: str, member: Person) -> Chat:
    """A person creates a group and adds the bot (which should ignore it)."""
    chat = Chat(
        id=ChatId(sandbox.allocate_group_id()),
        kind="group",
        title=title,
        member_ids=[member.id],
    )
    world.chats[chat.id] = chat
    _chat_member_update(sandbox, world, chat, member, "left", "member")
    sandbox.events.record("group_created", world.id, chat_id=chat.id)
    return chat
