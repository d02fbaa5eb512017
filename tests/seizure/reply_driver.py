"""How a person receives a caseworker's reply: the one part of the scenario that follows the reply design.

The seizure scenario only calls the methods of `ReplyDriver`; when the reply
flow changes, write a new driver and return it from `current_driver()`.

Today (`ShowButtonReplies`): the bot sends a neutral "You have a new message"
with a Show button; tapping it shows the reply. A reply is *read* when the
person taps Show, *unread* when they never do (the notice vanishes with the
chat). Replies do not expire yet, so an *expired* reply is, today, an unread
one that the scenario marks as expired.

When the new flow lands (issue 9: replies sealed to a key derived from the
person's reference; the person reads them by giving their reference, in this
chat or any other; unread replies expire after a configured time), adapt
like this:

- `settings()` returns the config keys that make expiry short, e.g.
  `{"privacy": {"reply_expire_seconds": 20}}` (whatever the key is called);
- `read()` walks the new conversation: e.g. `/start`, the button to read
  replies, then the reference, then waits for the reply text (`actor.reference`
  holds the person's 16 digits; `person` may be a different chat than the one
  that submitted);
- `settle()` waits until every reply in `expired` is past its expiry (the
  scenario calls it before the snapshot taken after every delete window).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from bot import texts
from tests.bot.flows import tr
from tests.bot.harness import Person, wait_until

SHOW = "m:"


class ReplyDriver(Protocol):
    """What the scenario needs from the reply flow."""

    name: str

    def settings(self) -> Mapping[str, Mapping[str, object]]:
        """config.toml keys (by section) this flow needs in the scenario."""

    def await_notice(self, person: Person, language: str) -> None:
        """Wait until the neutral notice of a new reply has reached the person's chat."""

    def read(self, person: Person, language: str, reference: str, expected: str) -> None:
        """The person reads their reply; wait until `expected` (a fragment of the reply) shows."""

    def settle(self, expired: Sequence[Person]) -> None:
        """Wait until the replies of these persons have expired (unread)."""


class ShowButtonReplies:
    """Today's flow: a notice with a Show button in the chat that sent the request."""

    name = "show-button"

    def settings(self) -> Mapping[str, Mapping[str, object]]:
        return {}

    def await_notice(self, person: Person, language: str) -> None:
        notice = tr(language, texts.NEW_MESSAGE)
        wait_until(lambda: any(notice in (m.get("text") or "") and _show_data(person, m)
                               for m in person.bot_messages()), 30, 0.2, what="the new-message notice")

    def read(self, person: Person, language: str, reference: str, expected: str) -> None:
        notice = tr(language, texts.NEW_MESSAGE)
        message = wait_until(lambda: next((m for m in reversed(person.bot_messages())
                                           if notice in (m.get("text") or "") and _show_data(person, m)), None),
                             30, 0.2, what="the new-message notice")
        person.press(_show_data(person, message) or "")
        wait_until(lambda: any(expected in (m.get("text") or "") for m in person.bot_messages()), 20, 0.2,
                   what="the reply text")

    def settle(self, expired: Sequence[Person]) -> None:
        return None  # no expiry yet: these replies simply stay unread


def _show_data(person: Person, message: dict[str, object]) -> str | None:
    return next((data for _, data in person.buttons(message) if data.startswith(SHOW)), None)


def current_driver() -> ReplyDriver:
    """The reply flow the scenario drives."""
    return ShowButtonReplies()
