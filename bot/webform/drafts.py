"""What the server holds, in memory only, between the page's calls: open drafts and reference look-ups.

A draft is a ticket (case id, reference, its hash, the public reply key) given to one chat's page
by /begin and used once by /submit. A look-up is what a reference found, for the follow-up and the
reply reading that come after it. Both end after `ttl` seconds, when used, or with the chat's panic
wipe; nothing here is ever written anywhere (a restart forgets every draft: the page starts again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import nacl.encoding
import nacl.utils

from intake.requests import Ticket

#: At most this many open drafts and look-ups in all (a bound on memory; the oldest go first).
MAX_OPEN = 10_000
T = TypeVar("T")


@dataclass(frozen=True)
class Draft:
    """A case id and reference set aside for one chat's sealed request."""

    ticket: Ticket
    queues: frozenset[str]
    language: str


@dataclass(frozen=True)
class Lookup:
    """A reference given in a chat's page: its case (None when it matched nothing) and that case's queue."""

    case_id: str | None
    queue: str
    language: str


class Shelf(Generic[T]):
    """Items by a random key, each for one chat, gone after their time; one open item per chat."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[int, float, T]] = {}
        self._by_chat: dict[int, str] = {}

    def put(self, chat_id: int, item: T, now: float, key: str | None = None) -> str:
        """Keep `item` for `chat_id` (replacing that chat's previous one); returns its key."""
        self._prune(now)
        self.drop_chat(chat_id)
        while len(self._items) >= MAX_OPEN:
            self._remove(next(iter(self._items)))
        key = key or nacl.encoding.URLSafeBase64Encoder.encode(nacl.utils.random(18)).decode("ascii")
        self._items[key] = (chat_id, now + self.ttl, item)
        self._by_chat[chat_id] = key
        return key

    def get(self, key: str, chat_id: int, now: float) -> T | None:
        """The item under `key` if it is this chat's and still valid."""
        entry = self._items.get(key)
        if entry is None or entry[0] != chat_id or entry[1] < now:
            return None
        return entry[2]

    def take(self, key: str, chat_id: int, now: float) -> T | None:
        """`get`, and the item is gone."""
        item = self.get(key, chat_id, now)
        if item is not None:
            self._remove(key)
        return item

    def drop_chat(self, chat_id: int) -> None:
        """Forget what is held for a chat (its panic wipe, or a new item)."""
        key = self._by_chat.pop(chat_id, None)
        if key is not None:
            self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)

    def _remove(self, key: str) -> None:
        entry = self._items.pop(key, None)
        if entry is not None and self._by_chat.get(entry[0]) == key:
            del self._by_chat[entry[0]]

    def _prune(self, now: float) -> None:
        for key in [k for k, (_, expires, _) in self._items.items() if expires < now]:
            self._remove(key)
