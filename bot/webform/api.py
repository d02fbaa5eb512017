"""The sealed form's JSON endpoints: what the page asks of the server, each one a checked step.

Every call carries Telegram's initData; the chat it names is the only chat the call can touch,
and every call counts against that chat's flood limit, like a message in the chat form.

- begin: a case id and reference set aside for the chat, the queues it may go to with their
  caseworkers' keys, and how to reply (the sealed chat handle, its tag, the public reply key).
- submit: the page's sealed request (an envelope without its signature), checked and signed as
  the bot, stored; the reference goes back to the page; volunteers get the alert-safe choices.
- lookup / read / followup: a reference given in the page: its waiting replies (sealed to the
  person's reply key: the page opens them), marking them read, a sealed follow-up.
- wipe: the panic wipe: the chat is deleted as /forget does, the server forgets the chat's drafts.

No answer, reference or chat id is ever logged; log lines give counts and error types.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from telegram.ext import Application

from bot.alerting.alerts import alert_safe_choices
from bot.conversation import withdraw_menu_button
from bot.cover import COVER_KEY, ENTRY, leave_no_trace
from bot.errors import BotError
from bot.form import Form
from bot.guards import Verdict
from bot.i18n import pick_language
from bot.replies import case_signers as reply_signers
from bot.runtime import BotContext, Runtime
from bot.webform.drafts import Draft, Lookup, Shelf
from bot.webform.initdata import InitDataRefused, Launch, verify
from crypto.envelope import Kind, countersign
from crypto.errors import CryptoError, ReferenceInvalid
from crypto.keys import KeyId
from crypto.padding import BUCKETS
from crypto.reference import hash_reference, normalise_reference
from intake.followups import add_sealed_follow_up
from intake.requests import (
    SealedCase,
    new_case_id,
    new_ticket,
    recipients_for,
    reply_handle_tag,
    seal_reply_handle,
    store_sealed,
    submission_hour,
)
from storage.config import RoutingRule
from storage.errors import CaseNotFound, IntakeRefused, RosterUnavailable, StorageError
from storage.outbox import OutboxStore

log = logging.getLogger("waystation.bot.webform")
#: A request body (JSON with the envelope in base64) is refused above this size.
MAX_BODY = 128 * 1024
#: The largest envelope body a page may send: 64 recipients, the largest padding bucket.
MAX_ENVELOPE = 4 + 2 + 32 + 2 * 65 + 1 + 64 * 88 + 24 + 4 + BUCKETS[-1] + 16
CHANNEL = "telegram"
WRONG_REFERENCE = "0" * 16


class CallRefused(BotError):
    """One call of the page is refused: an HTTP status and a short code the page turns into a text."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, what: str, limit: int) -> bytes:
    if not isinstance(value, str) or len(value) > limit * 4 // 3 + 4:
        raise CallRefused(400, f"bad_{what}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as err:
        raise CallRefused(400, f"bad_{what}") from err


def _text(body: Mapping[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or len(value) > limit:
        raise CallRefused(400, f"bad_{key}")
    return value


def allowed_queues(rules: tuple[RoutingRule, ...], default: str, language: str) -> list[str]:
    """Every queue the public rules can pick for a person of `language` (the page picks one by its answers)."""
    queues = [default]
    for rule in rules:
        if (not rule.languages or language.casefold() in rule.languages) and rule.queue not in queues:
            queues.append(rule.queue)
    return queues


@dataclass
class WebForm:
    """The endpoints' shared parts: the bot's Runtime and Application, the token initData is checked with."""

    rt: Runtime
    application: Application  # type: ignore[type-arg]
    token: str
    drafts: Shelf[Draft]
    lookups: Shelf[Lookup]

    # -- plumbing ------------------------------------------------------------------------------

    def context(self, chat_id: int) -> BotContext:
        """A handler context for this chat, as python-telegram-bot gives one to a handler of its updates."""
        return BotContext(self.application, chat_id=chat_id, user_id=chat_id)

    def launch(self, body: Mapping[str, Any]) -> Launch:
        """The verified initData of a call, counted against its chat's flood limit."""
        now = self.rt.now()
        try:
            launch = verify(_text(body, "init_data", 4096), self.token, now)
        except InitDataRefused as err:
            log.warning("a sealed-form call was refused: %s", err)
            raise CallRefused(403, "init_data") from err
        verdict = self.rt.flood.check(launch.chat_id, self.rt.clock())
        if verdict is not Verdict.PASS:
            raise CallRefused(429, "slow_down")
        if self.rt.server.config.cover.enabled and ENTRY not in self.application.user_data.get(launch.chat_id, {}):
            # Cover mode: only a chat admitted by an entry code has an intake to open.
            raise CallRefused(403, "init_data")
        return launch

    def language(self, body: Mapping[str, Any], launch: Launch) -> str:
        """The language the page asks for, else the person's Telegram language."""
        asked = body.get("language")
        return pick_language(asked if isinstance(asked, str) and len(asked) <= 16 else launch.language_code)

    def recipients(self, queue: str, now: int) -> list[dict[str, str]]:
        """The queue's active caseworkers' encryption keys and key ids (IntakeRefused if none)."""
        return [{"kid": _b64(p.key_id), "key": _b64(bytes(p.box_key))}
                for p in recipients_for(self.rt.server, queue, now)]

    def key_ids(self, queue: str, now: int) -> set[KeyId]:
        """The key ids a body for `queue` must be sealed to: exactly its active caseworkers."""
        return {p.key_id for p in recipients_for(self.rt.server, queue, now)}

    def entry_queue(self, chat_id: int) -> str | None:
        """The queue an entry code admitted this chat to (cover mode), if any."""
        admission = self.application.user_data.get(chat_id, {}).get(ENTRY)
        queue = getattr(admission, "queue", None)
        return queue if isinstance(queue, str) else None

    # -- endpoints -----------------------------------------------------------------------------

    async def begin(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Set a case id and reference aside for this chat; say where and how the page seals."""
        launch = self.launch(body)
        rt, server = self.rt, self.rt.server
        now = rt.now()
        language = self.language(body, launch)
        entry = self.entry_queue(launch.chat_id)
        queues = [entry] if entry else allowed_queues(server.config.routing, server.config.queues.default, language)
        keys: dict[str, list[dict[str, str]]] = {}
        for queue in queues:
            try:
                keys[queue] = self.recipients(queue, now)
            except IntakeRefused:
                continue  # a queue nobody can read is not offered; routing to it falls back below
        if server.config.queues.default not in keys and not entry:
            log.warning("the sealed form could not start: the default queue has no active caseworker")
            rt.count("intakes_refused")
            raise CallRefused(503, "unavailable")
        if not keys:
            rt.count("intakes_refused")
            raise CallRefused(503, "unavailable")
        ticket = rt.references.take() if rt.references is not None else None
        if ticket is None:
            # One Argon2id run (the stored hash of the reference); the page derives the reply key.
            ticket = await asyncio.to_thread(new_ticket, rt.secrets.pepper(), reply_key=False)
        bot = server.bot_identity()
        handle = seal_reply_handle(bot, launch.chat_id)
        self.drafts.put(launch.chat_id, Draft(ticket, frozenset(keys), language), rt.clock(), key=ticket.case_id)
        rules = [{"queue": r.queue, "languages": list(r.languages), "countries": list(r.countries),
                  "help": list(r.help)} for r in server.config.routing if r.queue in keys and not entry]
        return {
            "case_id": ticket.case_id,
            "signer": _b64(bytes(bot.signing_key.verify_key)),
            "language": language,
            "channel": CHANNEL,
            "submitted_hour": submission_hour(now),
            "reply_handle": _b64(handle),
            "reply_tag": _b64(reply_handle_tag(bot, handle, ticket.case_id)),
            # The reference, for the page to derive the public reply key from (as a caseworker's reply is
            # opened there too); a ticket made ahead with its reply key gives that instead.
            "reference": ticket.reference,
            "reply_key": _b64(bytes(ticket.reply_key)) if ticket.reply_key is not None else None,
            "queues": keys,
            "default_queue": entry or server.config.queues.default,
            "routing": rules,
        }

    async def submit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Check the page's sealed request, sign it as the bot, store it, alert; the reference goes back."""
        launch = self.launch(body)
        rt, server = self.rt, self.rt.server
        now = rt.now()
        case_id, queue = _text(body, "case_id", 64), _text(body, "queue", 64)
        envelope = _unb64(body.get("envelope"), "envelope", MAX_ENVELOPE)
        if len(envelope) > MAX_ENVELOPE:
            raise CallRefused(413, "too_large")
        draft = self.drafts.get(case_id, launch.chat_id, rt.clock())
        if draft is None:
            raise CallRefused(409, "expired")
        if queue not in draft.queues:
            log.warning("a sealed request named a queue its routing cannot pick; refused")
            raise CallRefused(400, "bad_queue")
        try:
            signed = countersign(envelope, signer=server.bot_identity().signing_key, case_id=case_id, queue=queue,
                                 kinds={Kind.REQUEST}, recipients=self.key_ids(queue, now))
        except CryptoError as err:
            log.warning("a sealed request was refused (%s)", type(err).__name__)
            raise CallRefused(400, "bad_envelope") from err
        except IntakeRefused as err:
            rt.count("intakes_refused")
            raise CallRefused(503, "unavailable") from err
        self.drafts.take(case_id, launch.chat_id, rt.clock())  # used once, whatever happens next
        ticket = draft.ticket
        try:
            receipt = store_sealed(server, SealedCase(ticket.case_id, queue, signed, ticket.ref_hash,
                                                      ticket.reference), now)
        except IntakeRefused as err:
            log.warning("a sealed request could not be stored (%s); the person was asked to try later",
                        type(err).__name__)
            rt.count("intakes_refused")
            raise CallRefused(503, "unavailable") from err
        rt.count("intakes")
        context = self.context(launch.chat_id)
        alert = body.get("alert")
        choices = alert_choices(rt.form, alert if isinstance(alert, dict) else {})
        for listener in rt.case_listeners:
            listener(context, receipt.case_id, receipt.queue, choices)
        # The chat holds only the message with the form's button; it goes soon, as after a chat-form request.
        delay = server.config.privacy.delete_after_submit_seconds
        rt.vanisher.soon(self.application.job_queue, launch.chat_id, delay)  # type: ignore[arg-type]
        return {"reference": receipt.reference, "minutes": max(1, round(delay / 60))}

    async def lookup(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A reference: its case's waiting replies and where a follow-up goes; a wrong one looks the same."""
        launch = self.launch(body)
        rt, server = self.rt, self.rt.server
        now = rt.now()
        try:
            digits = normalise_reference(_text(body, "reference", 64))
        except (ReferenceInvalid, CallRefused):
            digits = WRONG_REFERENCE  # same work and same answer as a wrong reference
        ref_hash = await asyncio.to_thread(hash_reference, digits, rt.secrets.pepper())
        found = server.cases.find_by_reference(ref_hash)
        replies: list[dict[str, Any]] = []
        signers: list[str] = []
        try:
            if found is not None:
                server.record_pepper_check(proven=True)
                case = server.cases.fetch(found)
                case_id, queue = case.id, case.queue
                waiting = OutboxStore(server.db).waiting(case.id)
                replies = [{"id": item.id, "envelope": _b64(item.reply)} for item in waiting]
                signers = [_b64(bytes(key)) for key in reply_signers(rt, case, now)] if waiting else []
            else:
                case_id, queue = new_case_id(), server.config.queues.default
            recipients = self.recipients(queue, now)
        except (CaseNotFound, RosterUnavailable, IntakeRefused) as err:
            log.warning("a reference look-up could not be answered now (%s)", type(err).__name__)
            raise CallRefused(503, "unavailable") from err
        language = self.language(body, launch)
        token = self.lookups.put(launch.chat_id, Lookup(found, queue, language), rt.clock())
        signer = _b64(bytes(server.bot_identity().signing_key.verify_key))
        return {"token": token, "case_id": case_id, "queue": queue, "signer": signer, "recipients": recipients,
                "replies": replies, "reply_signers": signers}

    async def read(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The page opened (or could not open) these replies: erase them as read (or as rejected)."""
        launch = self.launch(body)
        lookup = self.lookups.get(_text(body, "token", 64), launch.chat_id, self.rt.clock())
        if lookup is None:
            raise CallRefused(409, "expired")
        if lookup.case_id is None:
            return {"ok": True}
        store = OutboxStore(self.rt.server.db)
        waiting = {item.id for item in store.waiting(lookup.case_id)}
        now = self.rt.now()
        for key, mark in (("read", store.read), ("rejected", store.reject)):
            ids = body.get(key, [])
            if not isinstance(ids, list) or len(ids) > 100:
                raise CallRefused(400, f"bad_{key}")
            for item_id in ids:
                if isinstance(item_id, int) and item_id in waiting:
                    mark(item_id, now)
                    waiting.discard(item_id)
                    if key == "rejected":
                        log.warning("a reply did not open in its person's page and was erased; "
                                    "its case history says so")
        return {"ok": True}

    async def followup(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A follow-up sealed in the page to the case's caseworkers: checked, signed as the bot, recorded."""
        launch = self.launch(body)
        rt, server = self.rt, self.rt.server
        lookup = self.lookups.take(_text(body, "token", 64), launch.chat_id, rt.clock())
        if lookup is None:
            raise CallRefused(409, "expired")
        envelope = _unb64(body.get("envelope"), "envelope", MAX_ENVELOPE)
        if lookup.case_id is None:
            return {"ok": True}  # a wrong reference: nothing is stored, and the page cannot tell
        now = rt.now()
        try:
            signed = countersign(envelope, signer=server.bot_identity().signing_key, case_id=lookup.case_id,
                                 queue=lookup.queue, kinds={Kind.FOLLOW_UP},
                                 recipients=self.key_ids(lookup.queue, now))
            add_sealed_follow_up(server, lookup.case_id, signed, now)
        except CryptoError as err:
            log.warning("a sealed follow-up was refused (%s)", type(err).__name__)
            raise CallRefused(400, "bad_envelope") from err
        except (IntakeRefused, StorageError) as err:
            log.warning("a sealed follow-up could not be stored (%s)", type(err).__name__)
            raise CallRefused(503, "unavailable") from err
        rt.count("follow_ups")
        return {"ok": True}

    async def wipe(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The panic wipe: every message of the chat goes now, as with /forget; drafts and look-ups too."""
        try:
            launch = verify(_text(body, "init_data", 4096), self.token, self.rt.now())
        except InitDataRefused as err:
            raise CallRefused(403, "init_data") from err
        # Like /forget, a wipe passes the flood gate once per window even for a chat over its limit.
        if self.rt.flood.check(launch.chat_id, self.rt.clock(), erase=True) is not Verdict.PASS:
            raise CallRefused(429, "slow_down")
        chat_id = launch.chat_id
        self.drafts.drop_chat(chat_id)
        self.lookups.drop_chat(chat_id)
        context = self.context(chat_id)
        language = self.language(body, launch)
        await self.rt.vanisher.now(self.application.bot, self.application.job_queue, chat_id)  # type: ignore[arg-type]
        await withdraw_menu_button(self.application.bot, chat_id, True)
        await leave_no_trace(context, self.rt, chat_id, language)
        self.application.drop_chat_data(chat_id)
        if COVER_KEY not in self.application.bot_data:
            self.application.drop_user_data(chat_id)
        return {"ok": True}


def alert_choices(form: Form, alert: Mapping[object, object]) -> dict[str, str]:
    """The alert-safe choice answers the page sent in clear (question id -> option id), checked against the form."""
    given = {k: v for k, v in alert.items() if isinstance(k, str) and isinstance(v, str)}
    return alert_safe_choices(form, given)


Endpoint = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]


def json_endpoint(call: Endpoint) -> Callable[[HttpRequest], Awaitable[Response]]:
    """A POST endpoint taking and giving JSON; a refusal is {"error": code} with its status."""

    async def endpoint(request: HttpRequest) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return _refusal(CallRefused(413, "too_large"))
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise CallRefused(400, "bad_json")
            return _json(await call(body), 200)
        except ValueError:
            return _refusal(CallRefused(400, "bad_json"))
        except CallRefused as err:
            return _refusal(err)

    return endpoint


def _refusal(err: CallRefused) -> Response:
    return _json({"error": err.code}, err.status)


def _json(body: dict[str, Any], status: int) -> Response:
    return JSONResponse(body, status, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
