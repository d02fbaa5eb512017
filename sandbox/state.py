"""The sandbox's whole in-memory world: people, bots, their chats and update queues."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass

from nacl.signing import SigningKey

from sandbox.clock import SandboxClock
from sandbox.errors import UNAUTHORIZED, BotApiError, ControlError
from sandbox.events import EventLog
from sandbox.models import (
    BotIdentity,
    CallbackQuery,
    Chat,
    ChatId,
    Person,
    StoredMessage,
    UserId,
    message_to_telegram,
)
from sandbox.notifications import NotificationLog
from sandbox.ratelimit import FloodControl
from sandbox.settings import SandboxSettings

TOKEN_PATTERN = re.compile(r"^(\d{1,20}):[A-Za-z0-9_-]{35}$")

# Update kinds Telegram delivers when allowed_updates is empty or was never set.
DEFAULT_UPDATE_KINDS = frozenset(
    {"message", "edited_message", "callback_query", "my_chat_member", "chat_join_request"}
)
FIRST_USER_ID = 700_000_001
FIRST_GROUP_ID = -4_000_000_001


@dataclass
class AnswerDelay:
    """Hold the answer to the next `remaining` successful calls of `method` (in `chat_id`, if set)."""

    method: str
    seconds: float
    remaining: int
    chat_id: int | None = None

    def to_json(self) -> dict[str, object]:
        """Return the control API's shape."""
        return {"method": self.method, "seconds": self.seconds, "count": self.remaining, "chat_id": self.chat_id}


@dataclass
class WebhookConfig:
    """A bot's webhook as set by setWebhook."""

    url: str
    secret_token: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class WebAppLaunch:
    """A Mini App a person opened: from a button of a message, a reply keyboard or the menu button."""

    id: str
    chat_id: ChatId
    user_id: UserId
    source: str
    #: The reply-keyboard button's text (sendData is only for those launches).
    button_text: str | None = None
    data_sent: bool = False


class BotWorld:
    """Everything one bot token sees: its chats, pending updates and settings."""

    def __init__(
        self,
        identity: BotIdentity,
        people: dict[UserId, Person],
        settings: SandboxSettings,
        clock: SandboxClock,
    ) -> None:
        self.identity = identity
        self.people = people
        self.chats: dict[ChatId, Chat] = {}
        self.updates: deque[tuple[int, dict[str, object]]] = deque()
        self.next_update_id = 1
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATE_KINDS
        self.webhook: WebhookConfig | None = None
        self.webhook_task: asyncio.Task[None] | None = None
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        #: setMyName per language ("" for all languages); none: the name getMe gives.
        self.names: dict[str, str] = {}
        self.callback_queries: dict[str, CallbackQuery] = {}
        #: setChatMenuButton per private chat; a chat not listed shows default_menu_button.
        self.menu_buttons: dict[ChatId, dict[str, object]] = {}
        #: setChatMenuButton without chat_id; None: Telegram's own default (the commands menu).
        self.default_menu_button: dict[str, object] | None = None
        #: Mini Apps opened by people (sandbox/miniapp.py), newest last.
        self.launches: dict[str, WebAppLaunch] = {}
        self.answer_delays: list[AnswerDelay] = []
        self.flood = FloodControl(settings, clock.monotonic())
        self.closed = False
        self._changed = asyncio.Event()
        self._poll_generation = 0

    @property
    def id(self) -> int:
        """Return the bot's user id."""
        return self.identity.id

    def wake(self) -> None:
        """Wake every long poll and webhook sender waiting on this bot."""
        self._changed.set()
        self._changed = asyncio.Event()

    def enqueue(self, kind: str, payload: dict[str, object]) -> int | None:
        """Queue an update unless allowed_updates excludes its kind; return its id."""
        if kind not in self.allowed_updates:
            return None
        update_id = self.next_update_id
        self.next_update_id += 1
        self.updates.append((update_id, {"update_id": update_id, kind: payload}))
        self.wake()
        return update_id

    def confirm(self, offset: int) -> None:
        """Forget updates below offset; a negative offset keeps only the last -offset."""
        if offset > 0:
            while self.updates and self.updates[0][0] < offset:
                self.updates.popleft()
        elif offset < 0:
            while len(self.updates) > -offset:
                self.updates.popleft()

    def drop_pending(self) -> int:
        """Forget every pending update; return how many there were."""
        count = len(self.updates)
        self.updates.clear()
        return count

    async def wait_for_updates(self, timeout: float) -> bool:
        """Wait until updates are pending or timeout passes; False if another poll took over."""
        self._poll_generation += 1
        generation = self._poll_generation
        self.wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                return False
            remaining = deadline - loop.time()
            if self.updates or self.closed or self.webhook is not None or remaining <= 0:
                return True
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass

    async def wait_for_change(self, timeout: float) -> None:
        """Sleep until something is queued or the bot changes, at most timeout seconds."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    def take_answer_delay(self, method: str, chat_id: int | None) -> float | None:
        """Use up one delay set for this call, if any: the seconds to hold its answer."""
        for delay in self.answer_delays:
            if delay.method == method and (delay.chat_id is None or delay.chat_id == chat_id):
                delay.remaining -= 1
                if delay.remaining <= 0:
                    self.answer_delays.remove(delay)
                return delay.seconds
        return None

    def chat(self, chat_id: int) -> Chat | None:
        """Return the chat with this id, if the bot has one."""
        return self.chats.get(ChatId(chat_id))

    def private_chat(self, person: Person) -> Chat:
        """Return (opening on first use) the private chat with a person."""
        chat_id = ChatId(person.id)
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = Chat(id=chat_id, kind="private", title=None, member_ids=[person.id])
            self.chats[chat_id] = chat
        return chat

    def telegram_message(self, chat: Chat, message: StoredMessage) -> dict[str, object]:
        """Return a message as the Bot API shows it."""
        return message_to_telegram(message, chat, self.people, self.identity)

    def close(self) -> None:
        """Stop background work and release waiters (on reset or shutdown)."""
        self.closed = True
        self.updates.clear()
        if self.webhook_task is not None:
            self.webhook_task.cancel()
            self.webhook_task = None
        self.wake()


class Sandbox:
    """The root of the in-memory model; nothing here is ever written to disk."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.clock = SandboxClock()
        self.events = EventLog(self.clock, settings.event_log_size)
        self.people: dict[UserId, Person] = {}
        #: What each person's phone showed when a bot wrote to them (see sandbox/chatlist.py).
        self.notifications = NotificationLog()
        self.bots: dict[int, BotWorld] = {}
        #: Signs initData's third-party `signature` in Telegram's place; lives only in memory.
        self.web_app_key = SigningKey.generate()
        self._next_user_id = FIRST_USER_ID
        self._next_group_id = FIRST_GROUP_ID

    def bot_for_token(self, token: str) -> BotWorld:
        """Return the bot a well-formed token stands for, registering it on first use."""
        match = TOKEN_PATTERN.match(token)
        if match is None:
            raise UNAUTHORIZED
        bot_id = int(match.group(1))
        world = self.bots.get(bot_id)
        if world is None:
            identity = BotIdentity(id=bot_id, token=token)
            world = BotWorld(identity, self.people, self.settings, self.clock)
            self.bots[bot_id] = world
            self.events.record("bot_connected", bot_id)
        elif world.identity.token != token:
            # Same bot id, other secret: behaves like a revoked token.
            raise UNAUTHORIZED
        return world

    def select_bot(self, ref: str | None) -> BotWorld:
        """Return the bot a control call means: by id or token, else the only one connected.

        A well-formed token that has not connected yet registers its bot, so a test can
        prepare chats before the bot starts.
        """
        if ref:
            if TOKEN_PATTERN.match(ref):
                try:
                    return self.bot_for_token(ref)
                except BotApiError as err:
                    raise ControlError(409, "that bot id is in use with another token") from err
            for world in self.bots.values():
                if ref == str(world.id):
                    return world
            raise ControlError(404, "no bot with that id has connected")
        if not self.bots:
            raise ControlError(409, "no bot has connected to this sandbox yet")
        if len(self.bots) > 1:
            raise ControlError(409, "several bots have connected; pass ?bot=<bot id>")
        return next(iter(self.bots.values()))

    def add_person(
        self,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> Person:
        """Create a person with a fresh user id."""
        person = Person(
            id=UserId(self._next_user_id),
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self._next_user_id += 1
        self.people[person.id] = person
        return person

    def allocate_group_id(self) -> ChatId:
        """Return a fresh negative group chat id."""
        chat_id = ChatId(self._next_group_id)
        self._next_group_id -= 1
        return chat_id

    def close(self) -> None:
        """Release every long poll and stop webhook senders (the server is stopping)."""
        for world in self.bots.values():
            world.close()

    def reset(self) -> None:
        """Forget every person, bot, chat, update and event; return the clock to real time."""
        for world in self.bots.values():
            world.close()
        self.bots.clear()
        self.people.clear()
        self.notifications.clear()
        self.events.clear()
        self.clock.reset()
        self._next_user_id = FIRST_USER_ID
        self._next_group_id = FIRST_GROUP_ID
        self.events.record("reset", None)
