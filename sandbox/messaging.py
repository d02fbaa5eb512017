"""Bot API methods that send, edit and delete messages in a chat."""

from __future__ import annotations

from sandbox.chatlist import notify
from sandbox.errors import bad_request, forbidden, too_many_requests
from sandbox.formatting import Entity, parse_html
from sandbox.markup import Markup, parse_inline_markup, parse_markup
from sandbox.models import CallbackAnswer, Chat, MessageId, StoredMessage, UserId
from sandbox.params import Params
from sandbox.settings import DELETE_WINDOW_SECONDS, MAX_TEXT_LENGTH
from sandbox.state import BotWorld, Sandbox

MAX_DELETE_BATCH = 100
MAX_KEPT_ANSWERS = 20
ANSWER_VISIBLE_SECONDS = 60
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


def reachable_chat(sandbox: Sandbox, world: BotWorld, chat_id: int) -> Chat:
    """Return a chat the bot may act in, or raise Telegram's 400/403."""
    chat = world.chat(chat_id)
    if chat is None:
        if UserId(chat_id) in sandbox.people:
            raise forbidden("bot can't initiate conversation with a user")
        raise bad_request("chat not found")
    if chat.blocked:
        raise forbidden("bot was blocked by the user")
    return chat


def _formatted_text(params: Params) -> tuple[str, list[Entity], str | None]:
    """Return text, entities and parse_mode of a send or edit, checking length."""
    raw = params.text("text")
    if raw is None or not raw.strip():
        raise bad_request("message text is empty")
    parse_mode = params.text("parse_mode") or None
    entities: list[Entity] = []
    text = raw
    if parse_mode is not None:
        mode = parse_mode.lower()
        if mode == "html":
            text, entities = parse_html(raw)
        elif mode not in ("markdown", "markdownv2"):
            raise bad_request("unsupported parse_mode")
    elif params.has("entities"):
        given = params.json("entities")
        if not isinstance(given, list) or not all(isinstance(item, dict) for item in given):
            raise bad_request("can't parse entities JSON object")
        entities = [dict(item) for item in given]
    if not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    return text, entities, parse_mode


def _check_web_apps(chat: Chat, markup: Markup) -> None:
    """Refuse Mini App buttons outside private chats, as Telegram does."""
    if chat.is_group and markup.has_web_app:
        raise bad_request("BUTTON_TYPE_INVALID")


def _throttle(sandbox: Sandbox, world: BotWorld, chat: Chat, method: str) -> None:
    """Raise 429 (and log it) if this send would exceed a flood limit."""
    throttled = world.flood.check(chat.id, chat.is_group, sandbox.clock.monotonic())
    if throttled is None:
        return
    sandbox.events.record(
        "rate_limited",
        world.id,
        method=method,
        chat_id=chat.id,
        scope=throttled.scope,
        retry_after=throttled.retry_after,
    )
    raise too_many_requests(throttled.retry_after)


def _reply_target(params: Params, chat: Chat) -> MessageId | None:
    """Return the message being replied to, if any, checking that it exists."""
    target = params.integer("reply_to_message_id")
    allow_missing = bool(params.boolean("allow_sending_without_reply"))
    reply_parameters = params.json("reply_parameters")
    if isinstance(reply_parameters, dict):
        raw_id = reply_parameters.get("message_id")
        target = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
        allow_missing = reply_parameters.get("allow_sending_without_reply") is True
    if target is None:
        return None
    if MessageId(target) in chat.messages:
        return MessageId(target)
    if allow_missing:
        return None
    raise bad_request("message to be replied not found")


async def send_message(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """sendMessage: post a bot message into a chat."""
    chat = reachable_chat(sandbox, world, params.chat_id())
    text, entities, parse_mode = _formatted_text(params)
    markup = parse_markup(params.json("reply_markup"))
    _check_web_apps(chat, markup)
    reply_to = _reply_target(params, chat)
    _throttle(sandbox, world, chat, "sendMessage")
    message = StoredMessage(
        message_id=chat.allocate_message_id(),
        date=sandbox.clock.unix(),
        sender_id=world.id,
        from_bot=True,
        text=text,
        entities=entities,
        parse_mode=parse_mode,
        reply_markup=markup.inline,
        protect_content=bool(params.boolean("protect_content")),
        reply_to_message_id=reply_to,
    )
    chat.messages[message.message_id] = message
    if markup.keyboard is not None:
        chat.reply_keyboard = markup.keyboard
        chat.reply_keyboard_web_apps = markup.keyboard_web_apps
    elif markup.remove_keyboard:
        chat.reply_keyboard = None
        chat.reply_keyboard_web_apps = {}
    chat.touch()
    notify(sandbox, world, chat, message)
    world.flood.record(chat.id, chat.is_group, sandbox.clock.monotonic())
    sandbox.events.record(
        "message_sent",
        world.id,
        chat_id=chat.id,
        message_id=message.message_id,
        has_inline_keyboard=markup.inline is not None,
    )
    return world.telegram_message(chat, message)


def _own_message(world: BotWorld, chat: Chat, params: Params) -> StoredMessage:
    """Return the bot message an edit names, or raise Telegram's 400."""
    if params.has("inline_message_id") and not params.has("chat_id"):
        raise bad_request("inline messages are not supported by the sandbox")
    message_id = params.integer("message_id")
    if message_id is None:
        raise bad_request("message identifier is not specified")
    message = chat.messages.get(MessageId(message_id))
    if message is None:
        raise bad_request("message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")
    return message


async def edit_message_text(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """editMessageText: replace a bot message's text (and keyboard, which is dropped if absent)."""
    chat = reachable_chat(sandbox, world, params.chat_id())
    message = _own_message(world, chat, params)
    text, entities, parse_mode = _formatted_text(params)
    inline = parse_inline_markup(params.json("reply_markup"))
    _check_web_apps(chat, Markup(inline=inline))
    if (text, entities, inline) == (message.text, message.entities, message.reply_markup):
        raise bad_request(NOT_MODIFIED)
    _throttle(sandbox, world, chat, "editMessageText")
    message.text, message.entities, message.parse_mode = text, entities, parse_mode
    message.reply_markup = inline
    message.edit_date = sandbox.clock.unix()
    chat.touch()
    notify(sandbox, world, chat, message)
    world.flood.record(chat.id, chat.is_group, sandbox.clock.monotonic())
    sandbox.events.record(
        "message_edited", world.id, chat_id=chat.id, message_id=message.message_id, part="text"
    )
    return world.telegram_message(chat, message)


async def edit_message_reply_markup(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """editMessageReplyMarkup: replace or remove a bot message's inline keyboard."""
    chat = reachable_chat(sandbox, world, params.chat_id())
    message = _own_message(world, chat, params)
    inline = parse_inline_markup(params.json("reply_markup"))
    _check_web_apps(chat, Markup(inline=inline))
    if inline == message.reply_markup:
        raise bad_request(NOT_MODIFIED)
    _throttle(sandbox, world, chat, "editMessageReplyMarkup")
    message.reply_markup = inline
    message.edit_date = sandbox.clock.unix()
    chat.touch()
    notify(sandbox, world, chat, message)
    world.flood.record(chat.id, chat.is_group, sandbox.clock.monotonic())
    sandbox.events.record(
        "message_edited",
        world.id,
        chat_id=chat.id,
        message_id=message.message_id,
        part="reply_markup",
    )
    return world.telegram_message(chat, message)


def _deletion_refusal(sandbox: Sandbox, chat: Chat, message: StoredMessage) -> str | None:
    """Return why the bot may not delete this message, or None if it may."""
    if sandbox.clock.unix() - message.date >= DELETE_WINDOW_SECONDS:
        return "message can't be deleted for everyone"
    if chat.is_group and not message.from_bot:
        return "message can't be deleted"
    return None


def _record_deletion(
    sandbox: Sandbox, world: BotWorld, chat: Chat, requested: int, deleted: list[int]
) -> None:
    """Log a deletion by ids and counts only."""
    sandbox.events.record(
        "messages_deleted",
        world.id,
        chat_id=chat.id,
        requested=requested,
        deleted=len(deleted),
        message_ids=deleted,
    )


async def delete_message(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """deleteMessage: remove one message from the chat, and from memory."""
    chat = reachable_chat(sandbox, world, params.chat_id())
    message_id = params.integer("message_id")
    if message_id is None:
        raise bad_request("message identifier is not specified")
    message = chat.messages.get(MessageId(message_id))
    if message is None:
        raise bad_request("message to delete not found")
    refusal = _deletion_refusal(sandbox, chat, message)
    if refusal is not None:
        raise bad_request(refusal)
    del chat.messages[message.message_id]
    chat.touch()
    _record_deletion(sandbox, world, chat, 1, [message_id])
    return True


async def delete_messages(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """deleteMessages: remove up to 100 messages; missing or undeletable ones are skipped."""
    chat = reachable_chat(sandbox, world, params.chat_id())
    raw = params.json("message_ids")
    if not isinstance(raw, list) or not raw:
        raise bad_request("message identifiers are not specified")
    if len(raw) > MAX_DELETE_BATCH:
        raise bad_request("too many message identifiers specified")
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in raw):
        raise bad_request('field "message_ids" must be an Array of Integer')
    deleted: list[int] = []
    for message_id in raw:
        message = chat.messages.get(MessageId(message_id))
        if message is None or _deletion_refusal(sandbox, chat, message) is not None:
            continue
        del chat.messages[message.message_id]
        deleted.append(message_id)
    if deleted:
        chat.touch()
    _record_deletion(sandbox, world, chat, len(raw), deleted)
    return True


async def answer_callback_query(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """answerCallbackQuery: acknowledge a button press, once."""
    query_id = params.text("callback_query_id")
    query = world.callback_queries.get(query_id or "")
    if query is None or query.answered:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    query.answered = True
    text = params.text("text") or None
    show_alert = bool(params.boolean("show_alert"))
    chat = world.chat(query.chat_id)
    if chat is not None:
        now = sandbox.clock.unix()
        answer = CallbackAnswer(query.id, text, show_alert, params.text("url"), now)
        recent = [
            kept for kept in chat.callback_answers if now - kept.date < ANSWER_VISIBLE_SECONDS
        ]
        chat.callback_answers = [*recent, answer][-MAX_KEPT_ANSWERS:]
        chat.touch()
    sandbox.events.record(
        "callback_answered",
        world.id,
        callback_query_id=query.id,
        chat_id=query.chat_id,
        has_text=text is not None,
        show_alert=show_alert,
    )
    return True


async def send_chat_action(sandbox: Sandbox, world: BotWorld, params: Params) -> object:
    """sendChatAction: accepted and ignored (the page shows no typing indicator)."""
    reachable_chat(sandbox, world, params.chat_id())
    if params.text("action") not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True
