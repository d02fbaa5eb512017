"""Delivering caseworkers' replies: a neutral notice first, the reply itself only on tap.

Replies wait in the outbox encrypted to the bot. A repeating JobQueue job
sends each person a translated "You have a new message." with a Show button;
the reply text is decrypted and sent only when that same chat taps it, then
erased from the outbox. Both messages vanish like every other.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ApplicationHandlerStop, CallbackContext, ContextTypes

from bot import texts
from bot.runtime import Runtime, runtime
from crypto.envelope import Kind, open_envelope
from crypto.errors import EnvelopeRejected
from storage.errors import CaseNotFound, HomeInvalid, IntakeRefused, RosterUnavailable
from storage.intake import open_reply_handle
from storage.outbox import OutboxItem, OutboxStore
from storage.rekey import bot_box_keys

log = logging.getLogger("waystation.bot.replies")
SHOW = "m:"
JOB_NAME = "deliver-replies"
INTERVAL_SECONDS = 5
MAX_ATTEMPTS = 12


@dataclass(frozen=True)
class Reply:
    """A reply opened by the bot: where it goes and what it says."""

    chat_id: int
    text: str
    language: str


class ReplyRejected(Exception):
    """The outbox item cannot be opened or trusted; it is dropped."""


def open_reply(rt: Runtime, item: OutboxItem, now: int) -> Reply:
    """Verify the caseworker's signature and the binding, decrypt, and open the reply handle."""
    if item.case_id is None:
        raise ReplyRejected("reply without a case")
    try:
        case = rt.server.cases.fetch(item.case_id)
        signers = [m.identity.verify_key for m in rt.server.roster(now).caseworkers_for(case.queue, now)]
        keys = bot_box_keys(rt.server.home)  # current first; retired ones for handles sealed before a rotation
        opened = open_envelope(item.envelope, recipient=keys[0], trusted_signers=signers,
                               case_id=case.id, queue=case.queue, kinds={Kind.REPLY})
        payload = json.loads(opened.payload.decode("utf-8"))
        handle = base64.b64decode(payload["reply_handle"], validate=True)
        text, language = payload["text"], payload.get("language", "en")
        if not isinstance(text, str) or not text.strip() or not isinstance(language, str):
            raise ReplyRejected("reply payload is malformed")
        return Reply(open_reply_handle(keys, handle), text[:4000], language)
    except (CaseNotFound, RosterUnavailable, EnvelopeRejected, IntakeRefused, HomeInvalid) as err:
        raise ReplyRejected(type(err).__name__) from err
    except (ValueError, KeyError, TypeError, binascii.Error) as err:
        raise ReplyRejected("reply payload is malformed") from err


async def deliver_notices(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """The repeating job: one neutral notice per waiting reply."""
    rt = runtime(context)
    store = OutboxStore(rt.server.db)
    now = rt.now()
    for item in store.due(now):
        try:
            reply = open_reply(rt, item, now)
        except ReplyRejected as err:
            log.warning("reply %d dropped: it does not verify (%s)", item.id, err)
            store.drop(item.id, now, "rejected")
            continue
        t = rt.translations
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(t.gettext(reply.language, texts.BUTTON_SHOW),
                                                             callback_data=f"{SHOW}{item.id}")]])
        try:
            await context.bot.send_message(reply.chat_id, t.gettext(reply.language, texts.NEW_MESSAGE),
                                           reply_markup=markup, protect_content=True)
        except (Forbidden, BadRequest) as err:
            log.warning("reply %d dropped: the Bot API refused the chat (%s)", item.id, type(err).__name__)
            store.drop(item.id, now, "refused")
            continue
        except TelegramError as err:
            if item.attempts + 1 >= MAX_ATTEMPTS:
                log.error("reply %d dropped after %d attempts (%s)", item.id, MAX_ATTEMPTS, type(err).__name__)
                store.drop(item.id, now, "undeliverable")
            else:
                store.retry_later(item.id, now + min(3600, 30 * 2**item.attempts))
                rt.count("send_retries")
            continue
        store.mark_notified(item.id, now)  # the notice is on the chat's deletion list already (bot/tracking.py)


async def show_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The person tapped Show: send the reply to this chat only, then erase it."""
    query = update.callback_query
    if query is None or not (query.data or "").startswith(SHOW):
        return
    rt = runtime(context)
    store = OutboxStore(rt.server.db)
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    await query.answer()
    now = rt.now()
    item_id = (query.data or "")[len(SHOW):]
    item = store.get(int(item_id)) if item_id.isdigit() else None
    reply = None
    if item is not None:
        try:
            reply = open_reply(rt, item, now)
        except ReplyRejected:
            reply = None
    if item is None or reply is None or reply.chat_id != chat_id:
        # Gone, forged, or another chat's reply: the same answer in every case.
        language = context.chat_data.get("lang", "en") if context.chat_data is not None else "en"
        await context.bot.send_message(chat_id, rt.translations.gettext(language, texts.REPLY_GONE),
                                       protect_content=True)
        raise ApplicationHandlerStop
    await context.bot.send_message(chat_id, reply.text, protect_content=True)
    store.delivered(item.id, now)
    raise ApplicationHandlerStop
