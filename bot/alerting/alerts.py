"""The alerting part of one bot: volunteer and alert stores, the escalation policy, sealed answers.

An alert carries a short case reference (the first characters of the staff-side
case id, never the person's reference), the queue, and the form's alert-safe
*choice* answers as translated labels: never anything the person typed. Those
answers are kept, until the case is taken, only sealed to the bot's own key.
Built before the Runtime, which holds it; it imports nothing of the bot's wiring. The
handlers ("I'm on it", a stored case) are in bot/alerting/handlers.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import nacl.exceptions
from nacl.public import SealedBox

from bot.alerting.pacing import Sender
from bot.form import Form, QuestionKind
from storage.alerts import AlertStore
from storage.cases import CaseId
from storage.server import Server
from storage.volunteers import Volunteer, VolunteerStore

log = logging.getLogger("waystation.bot.alerts")
HOUR = 3600


class Alerting:
    """The volunteer side of one running bot: stores, escalation policy, sending state."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.config = server.config.alerts
        self.volunteers = VolunteerStore(server.db)
        self.store = AlertStore(server.db)
        self.sender = Sender(self.config.send_interval_ms / 1000)
        self.urgent_answers = self.config.urgent_answers()
        self.delete_after = self.config.delete_after_hours * HOUR
        #: Cases first seen in a queue without an alert (not through the bot), by case id: when.
        self.unalerted_since: dict[CaseId, int] = {}

    # -- answers: sealed to the bot's own key, like the reply handle --------------------------------

    def seal_answers(self, answers: Mapping[str, str]) -> bytes | None:
        """Alert-safe option ids, sealed so that the database holds no plaintext answer."""
        if not answers:
            return None
        data = json.dumps(dict(answers), sort_keys=True).encode("utf-8")
        return SealedBox(self.server.bot_identity().box_private.public_key).encrypt(data)

    def open_answers(self, sealed: bytes | None) -> dict[str, str]:
        """The option ids back; an unreadable blob means no answers (the alert still goes)."""
        if sealed is None:
            return {}
        try:
            value = json.loads(SealedBox(self.server.bot_identity().box_private).decrypt(sealed))
        except (nacl.exceptions.CryptoError, ValueError):
            log.warning("the alert-safe fields of a case did not open with the bot's key; alerting without them")
            return {}
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    # -- policy ------------------------------------------------------------------------------------

    def is_urgent(self, answers: Mapping[str, str]) -> bool:
        """The most urgent level: reminded sooner, and sent even in quiet hours."""
        return any((question, option) in self.urgent_answers for question, option in answers.items())

    def remind_after(self, urgent: bool) -> int:
        """Seconds until a waiting case is re-alerted."""
        minutes = self.config.urgent_remind_after_minutes if urgent else self.config.remind_after_minutes
        return minutes * 60

    @property
    def everyone(self) -> bool:
        """Reminders reach every active volunteer of every queue (`escalate_to = "all"`)."""
        return self.config.escalate_to == "all"

    def recipients(self, queue: str, round_: int) -> list[Volunteer]:
        """Who a round reaches: tier 1 first (tier 2 if the queue has no tier 1), then the wider circle."""
        return self.volunteers.circle(queue, round_, self.everyone)

    def case_entered(self, case_id: str, queue: str, answers: Mapping[str, str], now: int) -> bool:
        """Start alerting a case: round 0 owed to its queue's volunteers, the first deadline set.

        True if it started (the caller then kicks the sender: bot/alerting/sending.kick).
        """
        remind_after = self.remind_after(self.is_urgent(answers)) if self.config.rounds > 0 else None
        recipients = [v.id for v in self.recipients(queue, 0)]
        return self.store.open_case(case_id, self.seal_answers(answers), recipients, remind_after, now)


def alert_safe_choices(form: Form, choices: Mapping[str, str]) -> dict[str, str]:
    """The alert-safe choice answers among `choices` (question id -> option id), each a real option.

    Typed answers never go in an alert, even if marked alert-safe.
    """
    chosen: dict[str, str] = {}
    for question in form.questions:
        option_id = choices.get(question.id)
        if not question.alert_safe or question.kind is not QuestionKind.CHOICE or option_id is None:
            continue
        if question.option(option_id) is not None:
            chosen[question.id] = option_id
    return chosen
