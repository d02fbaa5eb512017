"""Content-free alerts to volunteers when a case enters their queue, and "I'm on it".

An alert carries a short case reference (the first characters of the staff-side
case id, never the person's reference), the queue, and the form's alert-safe
*choice* answers as translated labels: never anything the person typed. Those
answers are kept, until the case is taken, only sealed to the bot's own key.
The first volunteer to press "I'm on it" wins atomically in the database; every
other copy of the alert is then edited to say the request has been taken.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import nacl.exceptions
from nacl.public import SealedBox
from telegram import Message, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import ApplicationHandlerStop, CallbackContext, ContextTypes, JobQueue

from bot.alerting.views import pressed_case, render_outcome, short_ref
from bot.form import Form, QuestionKind
from bot.runtime import runtime
from bot.alerting.sending import Sender, kick
from storage.alerts import AckResult, AlertStore, Outcome
from storage.cases import CaseId
from storage.errors import StorageError
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

    def case_entered(self, jobs: JobQueue, case_id: str, queue: str, answers: Mapping[str, str],
                     now: int) -> bool:
        """Start alerting a case: round 0 owed to its queue's volunteers, the first deadline set."""
        remind_after = self.remind_after(self.is_urgent(answers)) if self.config.rounds > 0 else None
        recipients = [v.id for v in self.recipients(queue, 0)]
        started = self.store.open_case(case_id, self.seal_answers(answers), recipients, remind_after, now)
        if started:
            kick(jobs)
        return started


def alert_safe_choices(form: Form, safe: Mapping[str, str]) -> dict[str, str]:
    """Option ids of the alert-safe choice answers. Typed answers never go in an alert, even if marked."""
    chosen: dict[str, str] = {}
    for question in form.questions:
        if not question.alert_safe or question.kind is not QuestionKind.CHOICE:
            continue
        option = next((o for o in question.options if o.label == safe.get(question.id)), None)
        if option is not None:
            chosen[question.id] = option.id
    return chosen


def on_case_stored(context: CallbackContext, case_id: str, queue: str, safe: Mapping[str, str]) -> None:
    """The case listener (Runtime.case_listeners): a stored case starts alerting its queue's volunteers."""
    rt = runtime(context)
    if rt.alerting is None or context.job_queue is None:
        return
    try:
        rt.alerting.case_entered(context.job_queue, case_id, queue, alert_safe_choices(rt.form, safe), rt.now())
    except StorageError as err:
        # The case is safely stored; the deadline check finds cases without alerts and alerts them.
        log.warning("alerting a new case failed (%s); the periodic check will retry", type(err).__name__)


async def on_it(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "I'm on it": exactly one volunteer wins; the pressed alert is edited at once, the others soon after.

    Callback data is chosen by the client, not by us: a press counts only from an active
    volunteer alerted about the case or in its circle (`AlertStore.acknowledge`). Every other
    press (another queue's volunteer, a removed or paused one, a person, malformed or unknown
    data) gets the same neutral answer as a stale button and changes nothing.
    """
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        raise ApplicationHandlerStop
    rt = runtime(context)
    await query.answer()
    alerting = rt.alerting
    volunteer = alerting.volunteers.by_chat(chat.id) if alerting is not None else None
    if alerting is None or volunteer is None:
        raise ApplicationHandlerStop
    jobs = context.job_queue  # the press itself was tracked with the volunteer delay (Vanisher.delay_for)
    case_id = pressed_case(query.data)
    if case_id is None or not volunteer.active:
        raise ApplicationHandlerStop
    result = alerting.store.acknowledge(case_id, volunteer.id, rt.now(), everyone=alerting.everyone)
    if result is AckResult.REFUSED:
        log.warning("volunteer %d pressed 'I'm on it' for case %s without being alerted about it; ignored",
                    volunteer.id, short_ref(case_id))
    if result in (AckResult.REFUSED, AckResult.GONE):
        raise ApplicationHandlerStop
    if result is AckResult.WON:
        log.info("case %s acknowledged by volunteer %d", short_ref(case_id), volunteer.id)
    outcome = Outcome.MINE if result is AckResult.WON else Outcome.TAKEN
    message = query.message
    # Only a copy of this case's alert is edited, never another message the data was sent from.
    if isinstance(message, Message) and alerting.store.is_copy(case_id, volunteer.id, message.message_id):
        try:
            await query.edit_message_text(render_outcome(rt.translations, volunteer.language, case_id, outcome))
            alerting.store.mark_edited(case_id, volunteer.id, message.message_id)
        except BadRequest:
            alerting.store.mark_edited(case_id, volunteer.id, message.message_id)  # gone or already says so
        except Forbidden:
            pass  # blocked meanwhile: the sender notices on its next attempt
    if jobs is not None:
        kick(jobs)  # the other volunteers' copies (and this one's other copies) are edited by the sender
    raise ApplicationHandlerStop
