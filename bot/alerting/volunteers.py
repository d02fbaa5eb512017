"""Enrolment: `/volunteer CODE` turns the sending chat into a volunteer of the invitation's queues.

A wrong, used or expired code gets exactly what any unknown command gets, so
codes cannot be probed and the command reveals nothing to someone who tries
it. The command is not in the bot's menu.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot import texts
from bot.conversation import LANG, unknown_command
from bot.i18n import pick_language
from bot.runtime import STRANGER_ANSWER, BotContext
from storage.volunteers import Volunteer, hash_code, normalise_code

log = logging.getLogger("waystation.bot.volunteers")
COMMAND = "volunteer"
#: A code is three groups; a person may split it further (pairs of characters, say), never into more than this.
MAX_CODE_PARTS = 12


def _language(update: Update, context: BotContext) -> str:
    chosen = context.chat_data.get(LANG) if context.chat_data is not None else None
    if isinstance(chosen, str):
        return chosen
    user = update.effective_user
    return pick_language(user.language_code if user else None)


async def volunteer_command(update: Update, context: BotContext) -> None:
    """Redeem an invitation code; confirm with the queues, or answer as to any unknown command."""
    rt = context.runtime
    chat = update.effective_chat
    args = context.args or []
    volunteer: Volunteer | None = None
    # "/volunteer K7QM 4XRT 9WPA": a code typed with spaces arrives as several arguments.
    code = normalise_code("".join(args)) if 1 <= len(args) <= MAX_CODE_PARTS else None
    if rt.alerting is not None and chat is not None and code is not None:
        volunteer = rt.alerting.volunteers.redeem(hash_code(code, rt.secrets.pepper()), chat.id,
                                                  _language(update, context), rt.now())
    if rt.alerting is None or chat is None or volunteer is None or context.job_queue is None:
        stranger = context.application.bot_data.get(STRANGER_ANSWER)
        await (stranger(update, context) if stranger is not None else unknown_command(update, context))
        raise ApplicationHandlerStop
    text = rt.translations.gettext(volunteer.language, texts.VOLUNTEER_WELCOME).format(
        queues=", ".join(volunteer.queues) or "-")
    # From now on this chat keeps its messages for [alerts] delete_after_hours (Vanisher.delay_for).
    await context.bot.send_message(chat.id, text, protect_content=True)
    log.info("volunteer %d enrolled for %d queues", volunteer.id, len(volunteer.queues))
    raise ApplicationHandlerStop
