"""How a person receives a caseworker's reply: the one part of the scenario that follows the reply design.

The seizure scenario only calls the methods of `ReplyDriver`; when the reply
flow changes, write a new driver and return it from `current_driver()`.

Today (`ReferenceReplies`, issue 9): a reply is sealed to a key derived from
the person's reference. The bot sends a neutral "You have a new message" with
a Show button (callback data "read:<language>"), and erases the delivery
envelope as the notice goes out. The person reads by giving their reference:
after Show in the chat that got the notice, or from the first screen's
"I have a reference" in any chat. Unread replies are erased after
`[replies] expire_after_days` (at least one day): to make a reply expire
within the scenario, `settle()` makes its outbox row old through a second
connection to the live database (what an operator's tool could do, and what
tests/bot/test_replies.py does), then waits until the bot's own repeating
job has erased it and marked it expired in the case history. No product code
is changed for the test: the bot runs on the real clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from bot import texts
from bot.screens import FOLLOW_UP, READ
from storage.cases import Delivery, EventKind
from storage.outbox import OutboxStore
from storage.server import Server
from tests.bot.flows import tr
from tests.bot.harness import Person, wait_until

DAY = 86_400
#: The shortest expiry the configuration accepts; the scenario ages rows past it.
EXPIRE_AFTER_DAYS = 1
STEP_TIMEOUT = 40.0


class ReplyDriver(Protocol):
    """What the scenario needs from the reply flow."""

    name: str

    def settings(self) -> Mapping[str, Mapping[str, object]]:
        """config.toml keys (by section) this flow needs in the scenario."""

    def await_notice(self, person: Person, language: str) -> None:
        """Wait until the neutral notice of a new reply has reached the person's chat."""

    def read(self, person: Person, language: str, reference: str, expected: str, *, from_notice: bool) -> None:
        """The person reads their reply; wait until `expected` (a fragment of the reply) shows.

        `from_notice`: through the notice's Show button in this chat; otherwise from the first
        screen, in whatever chat `person` is (another chat than the one that submitted).
        """

    def settle(self, home: Path, expired: Sequence[str]) -> None:
        """Wait until the unread replies of these cases have expired (erased, and marked so)."""


class ReferenceReplies:
    """The flow of issue 9: a notice with Show, then the reference, in this chat or any other."""

    name = "reference"

    def settings(self) -> Mapping[str, Mapping[str, object]]:
        return {"replies": {"expire_after_days": EXPIRE_AFTER_DAYS}}

    def await_notice(self, person: Person, language: str) -> None:
        notice = tr(language, texts.NEW_MESSAGE)
        button = f"{READ}:{language}"
        wait_until(lambda: any(notice in (m.get("text") or "") and (person.buttons(m) and
                                                                    person.buttons(m)[0][1] == button)
                               for m in person.bot_messages()), STEP_TIMEOUT, 0.2, what="the new-message notice")

    def read(self, person: Person, language: str, reference: str, expected: str, *, from_notice: bool) -> None:
        if from_notice:
            person.press(f"{READ}:{language}", timeout=STEP_TIMEOUT)
        else:
            person.say("/start")
            person.wait_for_text(tr(language, texts.CONSENT), timeout=STEP_TIMEOUT)
            person.press(FOLLOW_UP, timeout=STEP_TIMEOUT)
        person.wait_for_text(tr(language, texts.FOLLOW_UP_ASK_REFERENCE), timeout=STEP_TIMEOUT)
        person.say(reference)
        person.wait_for_text(expected, timeout=STEP_TIMEOUT)
        # The bot then offers to add information; the person leaves it (the chat is deleted anyway).
        person.wait_for_text(tr(language, texts.FOLLOW_UP_ASK_TEXT), timeout=STEP_TIMEOUT)

    def settle(self, home: Path, expired: Sequence[str]) -> None:
        if not expired:
            return
        old = (EXPIRE_AFTER_DAYS + 1) * DAY  # a multiple of any granularity that divides a day
        with Server.open(home, environ={}) as server:
            with server.db.transaction() as conn:
                marks = ",".join("?" * len(expired))
                changed = conn.execute(f"UPDATE outbox SET created_at = created_at - ? WHERE case_id IN ({marks})",
                                       (old, *expired)).rowcount
        if changed != len(expired):
            raise AssertionError(f"{changed} outbox rows aged for {len(expired)} unread replies")

        def done() -> bool:
            with Server.open(home, environ={}) as server:
                waiting = {item.case_id for item in OutboxStore(server.db).all()}
                states = [e.delivery for case_id in expired for e in server.cases.events(case_id)
                          if e.kind is EventKind.REPLY]
            return not waiting & set(expired) and states == [Delivery.EXPIRED] * len(expired)

        wait_until(done, STEP_TIMEOUT, 1.0, what="the aged replies to expire")


def current_driver() -> ReplyDriver:
    """The reply flow the scenario drives."""
    return ReferenceReplies()
