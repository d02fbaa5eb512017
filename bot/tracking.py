"""The Bot every message goes out through: no message the bot sends can escape deletion.

`TrackingBot` is python-telegram-bot's ExtBot with `send_message` wrapped:
before the call a send intent is committed (bot.vanish.Vanisher.intend), after
it the returned message id joins the chat's deletions and the intent goes, in
one transaction. An error that means no message was created drops the intent;
any other outcome (timeout, network error, cancellation, the process dying)
leaves it, and it becomes a sweep of the ids where the message may be.

Every path to Telegram that could create a message other than this one
(sendPhoto, copyMessage, forwardMessage, a raw `do_api_request("sendMessage")`,
...) is refused before anything is sent: the bot only ever sends text through
`send_message`, and a new kind of send must be wired through an intent first.
"""

from __future__ import annotations

import contextvars
from typing import Any

from telegram import Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    RetryAfter,
)
from telegram.ext import ExtBot

from bot.errors import BotError
from bot.vanish import Vanisher

#: Answers that mean Telegram created no message (the request was refused as a whole).
NOTHING_SENT = (BadRequest, Forbidden, RetryAfter, InvalidToken, ChatMigrated, Conflict, EndPointNotFound)
#: Bot API methods that only act on what exists, or send no message, and so need no intent.
_NO_MESSAGE = frozenset({"sendchataction"})
#: Prefixes of Bot API methods that put a message into a chat.
_MESSAGE_PREFIXES = ("send", "copymessage", "forwardmessage", "answerwebappquery", "answerinlinequery")

_tracked: contextvars.ContextVar[bool] = contextvars.ContextVar("waystation_tracked_send", default=False)


class UntrackedSendRefused(BotError, RuntimeError):
    """A Bot API method that would create a message without a send intent was called; nothing was sent."""


def creates_message(endpoint: str) -> bool:
    """True for Bot API methods that put a new message into a chat."""
    name = endpoint.lower()
    return name not in _NO_MESSAGE and name.startswith(_MESSAGE_PREFIXES)


def chat_key(chat_id: int | str) -> int:
    """A numeric chat id (the bot only writes to chats by id; '@channel' names cannot be tracked)."""
    if isinstance(chat_id, int) and not isinstance(chat_id, bool):
        return chat_id
    if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
        return int(chat_id)
    raise UntrackedSendRefused("messages are sent to numeric chat ids only, so that each can be deleted")


class TrackingBot(ExtBot[Any]):
    """ExtBot whose every message is preceded by a committed send intent."""

    def __init__(self, vanisher: Vanisher, token: str, **kwargs: Any) -> None:
        super().__init__(token, **kwargs)
        self._vanisher = vanisher

    async def send_message(self, chat_id: int | str, text: str, *args: Any, **kwargs: Any) -> Message:
        """sendMessage, with an intent committed before and the message id recorded after."""
        intent = await self._vanisher.intend(chat_key(chat_id))
        token = _tracked.set(True)
        try:
            message = await super().send_message(chat_id, text, *args, **kwargs)
        except NOTHING_SENT:
            self._vanisher.refused(intent)
            raise
        except BaseException:
            # TimedOut, NetworkError, a server error, cancellation: the message may exist.
            self._vanisher.unresolved(intent)
            raise
        finally:
            _tracked.reset(token)
        self._vanisher.sent(intent, message.message_id)
        return message

    async def _post(self, endpoint: str, *args: Any, **kwargs: Any) -> Any:
        """Refuse any call that would create a message outside `send_message`."""
        if creates_message(endpoint) and not (endpoint == "sendMessage" and _tracked.get()):
            raise UntrackedSendRefused(f"{endpoint} would create a message without a send intent; "
                                       "send text through send_message")
        return await super()._post(endpoint, *args, **kwargs)
