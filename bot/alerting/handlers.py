"""The alert-side handlers: a stored case starts alerting its queue; "I'm on it".

The first volunteer to press "I'm on it" wins atomically in the database; every
other copy of the alert is then edited to say the request has been taken.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from telegram import Message, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import ApplicationHandlerStop

from bot.alerting.alerts import alert_safe_choices
from bot.alerting.sending import kick
from bot.alerting.views import pressed_case, render_outcome, short_ref
from bot.runtime import BotContext
from storage.alerts import AckResult, Outcome
from storage.errors import StorageError

log = logging.getLogger("waystation.bot.alerts")


def on_case_stored(context: BotContext, case_id: str, queue: str, choices: Mapping[str, str]) -> None:
    """The case listener (Runtime.case_listeners): a stored case starts alerting its queue's volunteers.

    `choices` are the form's choice answers as option ids; only the alert-safe ones are kept.
    """
    rt = context.runtime
    if rt.alerting is None or context.job_queue is None:
        return
    try:
        if rt.alerting.case_entered(case_id, queue, alert_safe_choices(rt.form, choices), rt.now()):
            kick(context.job_queue)
    except StorageError as err:
        # The case is safely stored; the deadline check finds cases without alerts and alerts them.
        log.warning("alerting a new case failed (%s); the periodic check will retry", type(err).__name__)


async def on_it(update: Update, context: BotContext) -> None:
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
    rt = context.runtime
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
