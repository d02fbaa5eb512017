"""Notification previews: what a person's phone showed when the bot wrote (title and first line)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sandbox.models import ChatId, UserId

MAX_NOTIFICATIONS = 500


@dataclass(frozen=True)
class Notification:
    """One notification as a phone's lock screen shows it."""

    seq: int
    user_id: UserId
    bot_id: int
    chat_id: ChatId
    title: str
    body: str
    date: int

    def to_json(self) -> dict[str, object]:
        """Return the control API's shape."""
        return {
            "seq": self.seq,
            "bot_id": self.bot_id,
            "chat_id": self.chat_id,
            "title": self.title,
            "body": self.body,
            "date": self.date,
        }


class NotificationLog:
    """A bounded, ordered list of notifications for every person; each gets a sequence number."""

    def __init__(self, size: int = MAX_NOTIFICATIONS) -> None:
        self._items: deque[Notification] = deque(maxlen=size)
        self._next_seq = 1

    def add(self, user_id: UserId, bot_id: int, chat_id: ChatId, title: str, body: str, date: int) -> None:
        """Append one notification."""
        self._items.append(Notification(self._next_seq, user_id, bot_id, chat_id, title, body, date))
        self._next_seq += 1

    def since(self, user_id: UserId, seq: int) -> list[Notification]:
        """Return one person's notifications with seq greater than `seq`."""
        return [item for item in self._items if item.user_id == user_id and item.seq > seq]

    def clear(self) -> None:
        """Forget every notification (sequence numbers keep growing, so a page never repeats one)."""
        self._items.clear()
