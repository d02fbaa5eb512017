"""Delivering caseworkers' replies: a neutral notice, then the reply to whoever gives the reference.

Each outbox row holds a delivery envelope for the bot (the reply handle, the bot's tag over
handle and case id, the language) and the reply sealed to the person's reply key. A repeating
JobQueue job opens the delivery envelope of each new reply, checks that this bot made the
handle for this very case, sends a translated "You have a new message." with a Show button
(callback data "read:<language>", no row id), and erases the delivery envelope in the
transaction that records the notice. The same job erases replies nobody read in time.

Show asks for the reference (bot.conversation). The person gives it in this chat or any other:
the bot hashes it as for a follow-up, derives the reply key in a worker thread, opens every
waiting reply of that case, sends each one, erases it, and forgets the key. A wrong reference
costs the same two Argon2id runs and gets the same next screen as a right one with no reply.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from nacl.signing import VerifyKey
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo
from telegram.error import BadRequest, Forbidden, TelegramError

from bot import texts
from bot.i18n import pick_language
from bot.runtime import BotContext, Runtime
from bot.screens import READ
from bot.webform.address import form_url
from crypto.envelope import Kind, open_envelope, verify
from crypto.errors import CryptoError, EnvelopeRejected, NotARecipient, ReferenceInvalid
from crypto.reference import hash_reference, normalise_reference
from crypto.replykey import derive_reply_key, open_handle
from storage.cases import Case
from storage.errors import CaseNotFound, HomeInvalid, RosterUnavailable
from storage.outbox import OutboxItem, OutboxStore

log = logging.getLogger("waystation.bot.replies")
JOB_NAME = "deliver-replies"
INTERVAL_SECONDS = 5
WAITING_LOGGED_KEY = "replies-waiting-logged"
MAX_ATTEMPTS = 12
MAX_TEXT = 4096  # Telegram's limit for one message
DAY = 86_400
#: The salt of the reply key derived for a reference that matches no case: same work, nothing opened.
DUMMY_CASE_ID = "0000000000000000"
_WRONG_REFERENCE = "0" * 16


@dataclass(frozen=True)
class Notice:
    """Where a reply's notice goes, learnt from its delivery envelope."""

    chat_id: int
    language: str


class ReplyRejected(Exception):
    """An outbox row cannot be trusted; it is erased and the caseworkers see it as rejected."""


def case_signers(rt: Runtime, case: Case, now: int) -> list[VerifyKey]:
    """Who may write to this case's person: the active caseworkers of its queue on the verified roster.

    During the roster's grace period, those of its last valid moment: a reply queued before the
    roster expired still reaches the person (Server.sealing_roster).
    """
    roster, at = rt.server.sealing_roster(now)
    return [m.identity.verify_key for m in roster.caseworkers_for(case.queue, at)]


def open_delivery(rt: Runtime, item: OutboxItem, now: int) -> Notice:
    """Verify a row's delivery envelope and the reply beside it, and open the reply handle.

    Checks: a caseworker of the case's queue signed the delivery envelope (kind DELIVERY, bound
    to this case and queue); the reply is signed by the same caseworker, bound likewise, and
    sealed to one key; the handle's tag was made by this bot (current or retired key) for this
    case. Raises ReplyRejected on any failure of the row, and RosterUnavailable when no roster can
    judge it (expired past its grace, or not verifying): that is not the reply's fault, so it waits.
    """
    if item.case_id is None or item.delivery is None:
        raise ReplyRejected("row without a case or a delivery envelope")
    try:
        case = rt.server.cases.fetch(item.case_id)
        signers = case_signers(rt, case, now)
        keys = rt.secrets.box_keys()  # current first; retired ones for rows queued before a rotation
        opened = None
        for key in keys:
            try:
                opened = open_envelope(item.delivery, recipient=key, trusted_signers=signers, case_id=case.id,
                                       queue=case.queue, kinds={Kind.DELIVERY})
                break
            except NotARecipient:
                continue
        if opened is None:
            raise ReplyRejected("the delivery envelope is not sealed to this bot")
        header = verify(item.reply, trusted_signers=[opened.header.signer], case_id=case.id, queue=case.queue,
                        kinds={Kind.REPLY})
        if len(header.recipients) != 1:
            raise ReplyRejected("the reply is not sealed to exactly one key")
        payload = json.loads(opened.payload.decode("utf-8"))
        if not isinstance(payload, dict) or payload.get("v") != 1:
            raise ReplyRejected("the delivery payload is malformed")
        handle = base64.b64decode(payload["reply_handle"], validate=True)
        tag = base64.b64decode(payload["reply_tag"], validate=True)
        language = payload["language"]
        if not isinstance(language, str):
            raise ReplyRejected("the delivery payload is malformed")
        return Notice(open_handle(keys, handle, tag, case.id), pick_language(language))
    except (CaseNotFound, HomeInvalid) as err:
        raise ReplyRejected(type(err).__name__) from err
    except CryptoError as err:  # EnvelopeRejected, HandleRejected
        raise ReplyRejected(type(err).__name__) from err
    except (ValueError, KeyError, TypeError, binascii.Error) as err:
        raise ReplyRejected("the delivery payload is malformed") from err


async def deliver_notices(context: BotContext) -> None:
    """The repeating job: erase expired replies, then one neutral notice per new reply.

    No log line here names a case: a notice's time would otherwise tie a case to the chat
    whose messages are deleted a fixed time later. The audit log has the coarse facts.
    """
    rt = context.runtime
    store = OutboxStore(rt.server.db)
    now = rt.now()
    expired = store.expire(now, rt.server.config.replies.expire_after_days * DAY)
    if expired:
        log.info("%d unread replies expired and were erased", expired)
    for item in store.due(now):
        try:
            notice = open_delivery(rt, item, now)
        except RosterUnavailable:
            # Nothing can be checked until an admin renews the roster: the replies wait, none is erased.
            if context.application.bot_data.get(WAITING_LOGGED_KEY) != now // DAY:  # once a day, not every 5 s
                context.application.bot_data[WAITING_LOGGED_KEY] = now // DAY
                log.warning("replies wait: the roster is not usable, so their senders cannot be checked; "
                            "run 'waystation roster renew'")
            return
        except ReplyRejected as err:
            log.warning("a reply was refused and erased (%s); its case history says so", err)
            store.reject(item.id, now)
            continue
        button = notice_button(rt, notice.language)
        try:
            await context.bot.send_message(
                notice.chat_id, rt.translations.gettext(notice.language, texts.NEW_MESSAGE),
                reply_markup=InlineKeyboardMarkup([[button]]), protect_content=True)
        except (Forbidden, BadRequest) as err:
            log.warning("the Bot API refused a reply notice's chat (%s); the reply stays readable by reference",
                        type(err).__name__)
            store.undeliverable(item.id, now)
            continue
        except TelegramError as err:
            if item.attempts + 1 >= MAX_ATTEMPTS:
                log.error("a reply notice failed %d times (%s); the reply stays readable by reference",
                          MAX_ATTEMPTS, type(err).__name__)
                store.undeliverable(item.id, now)
            else:
                store.retry_later(item.id, now, min(3600, 30 * 2**item.attempts))
                rt.count("send_retries")
            continue
        store.notified(item.id, now)  # the notice is on the chat's deletion list already (bot/tracking.py)


def notice_button(rt: Runtime, language: str) -> InlineKeyboardButton:
    """A notice's Show button: it opens the sealed form, where the reply is read, or asks in the chat."""
    label = rt.translations.gettext(language, texts.BUTTON_SHOW)
    intake = rt.server.config.intake
    if intake.sealed() and intake.mode == "sealed_form":
        # The reply is opened in the page, with the reply key derived on the phone (docs/threat-model.md).
        return InlineKeyboardButton(label, web_app=WebAppInfo(form_url(intake.public_url, language)))
    return InlineKeyboardButton(label, callback_data=f"{READ}:{language}")


@dataclass(frozen=True)
class Reading:
    """What a reference opened: its hash (for a follow-up) and each waiting reply, text or None if refused."""

    ref_hash: bytes
    replies: list[tuple[OutboxItem, str | None]]


def _open_replies(digits: str, case: Case | None, items: Sequence[OutboxItem],
                  signers: Sequence[VerifyKey]) -> list[tuple[OutboxItem, str | None]]:
    """Derive the reply key and open each reply (a worker thread: Argon2id). The key is dropped on return."""
    key = derive_reply_key(digits, case.id if case is not None else DUMMY_CASE_ID)
    opened: list[tuple[OutboxItem, str | None]] = []
    if case is None:
        return opened  # the same Argon2id work was done for a reference that matches nothing
    for item in items:
        try:
            payload = json.loads(open_envelope(item.reply, recipient=key, trusted_signers=signers, case_id=case.id,
                                               queue=case.queue, kinds={Kind.REPLY}).payload.decode("utf-8"))
            text = payload.get("text") if isinstance(payload, dict) and payload.get("v") == 1 else None
            opened.append((item, text[:MAX_TEXT] if isinstance(text, str) and text.strip() else None))
        except (EnvelopeRejected, ValueError):
            opened.append((item, None))
    return opened


async def read_by_reference(rt: Runtime, typed: str) -> Reading:
    """Hash what the person typed as a reference and open the replies waiting for that case, if any.

    Right or wrong, the same two Argon2id runs are done (the second with a dummy salt when no
    case matches). Replies are left untouched if the roster cannot be verified now.
    """
    try:
        digits = normalise_reference(typed)
    except ReferenceInvalid:
        digits = _WRONG_REFERENCE  # same work and same answer as a wrong reference: references cannot be probed
    ref_hash = await asyncio.to_thread(hash_reference, digits, rt.secrets.pepper())
    case_id = rt.server.cases.find_by_reference(ref_hash)
    now = rt.now()
    case: Case | None = None
    items: list[OutboxItem] = []
    signers: list[VerifyKey] = []
    if case_id is not None:
        try:
            case = rt.server.cases.fetch(case_id)
            items = OutboxStore(rt.server.db).waiting(case.id)
            signers = case_signers(rt, case, now) if items else []
        except (CaseNotFound, RosterUnavailable) as err:
            log.warning("waiting replies could not be checked now (%s); they stay", type(err).__name__)
            case, items = None, []
    return Reading(ref_hash, await asyncio.to_thread(_open_replies, digits, case, items, signers))


async def send_replies(context: BotContext, rt: Runtime, chat_id: int,
                       reading: Reading) -> int:
    """Send each opened reply to the chat that gave the reference, erasing it once Telegram took it.

    A reply that did not verify or open is erased as rejected. Returns how many were sent.
    """
    store = OutboxStore(rt.server.db)
    sent = 0
    for item, text in reading.replies:
        now = rt.now()
        if text is None:
            log.warning("a reply did not open with its person's key and was erased; its case history says so")
            store.reject(item.id, now)
            continue
        try:
            await context.bot.send_message(chat_id, text, protect_content=True)  # tracked by bot/tracking.py
        except TelegramError as err:
            log.warning("a reply could not be sent now (%s); it waits for the reference again", type(err).__name__)
            break
        store.read(item.id, now)
        sent += 1
    return sent
