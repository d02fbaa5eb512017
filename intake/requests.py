"""Intake: turn one request into an encrypted case in the queue.

The request is serialised, encrypted to the queue's active caseworkers on the
verified roster, signed by the bot and stored with a slow hash of the
person's case reference. Nothing readable is written anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import nacl.utils
from nacl.public import PrivateKey, PublicKey

from crypto.envelope import Kind, seal, valid_queue
from crypto.errors import CryptoError, HandleRejected
from crypto.keys import Identity, PublicIdentity
from crypto.padding import MAX_PAYLOAD
from crypto.reference import (
    REFERENCE_COST,
    CaseReference,
    ReferenceCost,
    hash_reference,
    new_reference,
)
from crypto.replykey import handle_tag, open_handle, reply_public_key, seal_handle
from model.text import clean_text
from storage.cases import CaseId
from storage.errors import IntakeRefused, RosterUnavailable, StorageError
from storage.server import Server

REQUEST_VERSION = 1
MAX_ANSWERS = 32
MAX_KEY_LENGTH = 64
MAX_ANSWER_LENGTH = 4000


@dataclass(frozen=True)
class Request:
    """What a person asked for; lives only in memory until sealed."""

    answers: Mapping[str, str]
    language: str = "en"
    channel: str = "cli"
    reply_handle: bytes | None = None


@dataclass(frozen=True)
class Receipt:
    """What intake hands back: the staff-side case id and the person's reference."""

    case_id: CaseId
    queue: str
    reference: CaseReference


def seal_reply_handle(bot: Identity, chat_id: int) -> bytes:
    """The chat id sealed to the bot's own key: only the bot can turn it back into a chat.

    It travels inside the encrypted request, so the database never links a chat to a case.
    """
    return seal_handle(bot.box_private.public_key, chat_id)


def reply_handle_tag(bot: Identity, handle: bytes, case_id: str) -> bytes:
    """The bot's tag that binds a reply handle to its case (the bot refuses a handle without it)."""
    return handle_tag(bot.box_private, handle, case_id)


def open_reply_handle(keys: Sequence[PrivateKey], handle: bytes, tag: bytes, case_id: str) -> int:
    """The chat id inside a reply handle whose tag one of the bot's keys made for `case_id`.

    Tries the bot's current key, then retired ones. Raises IntakeRefused if none did.
    """
    try:
        return open_handle(keys, handle, tag, case_id)
    except HandleRejected as err:
        raise IntakeRefused(f"the reply handle was refused: {err}") from err


def new_case_id() -> CaseId:
    """16 characters of base32 (80 random bits), lower case."""
    return CaseId(base64.b32encode(nacl.utils.random(10)).decode("ascii").lower())


def request_from_json(obj: object, channel: str = "cli") -> Request:
    """Check a JSON request: {"answers": {..}, "language": ".."} or a flat object of answers."""
    if not isinstance(obj, dict):
        raise IntakeRefused("a request must be a JSON object")
    answers = obj.get("answers", obj) if "answers" in obj else obj
    language = obj.get("language", "en") if "answers" in obj else "en"
    if not isinstance(answers, dict) or not answers:
        raise IntakeRefused("a request needs at least one answer")
    if not isinstance(language, str) or not 2 <= len(language) <= 16:
        raise IntakeRefused("language must be a short language code")
    return Request(check_answers(answers), language, channel)






def check_answers(answers: Mapping[object, object]) -> dict[str, str]:
    """Answers are a small map of short keys to text; control characters are removed."""
    if len(answers) > MAX_ANSWERS:
        raise IntakeRefused(f"at most {MAX_ANSWERS} answers")
    clean: dict[str, str] = {}
    for key, value in answers.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise IntakeRefused(f"answer names must be 1..{MAX_KEY_LENGTH} characters")
        if not isinstance(value, str):
            raise IntakeRefused(f"answer '{key}' must be text")
        text = clean_text(value)
        if len(text) > MAX_ANSWER_LENGTH:
            raise IntakeRefused(f"answer '{key}' is longer than {MAX_ANSWER_LENGTH} characters")
        clean[key] = text
    return clean


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def submission_hour(now: int) -> str:
    """The hour a request states it was sent in (UTC, rounded down): all the time its payload carries."""
    return datetime.fromtimestamp(now - now % 3600, UTC).strftime("%Y-%m-%dT%H:00Z")


def request_payload(request: Request, now: int, *, reply_tag: bytes | None = None,
                    reply_key: PublicKey | None = None) -> bytes:
    """The plaintext that gets sealed: answers, language, the hour of submission, and how to reply.

    `reply_handle` (the chat, sealed to the bot), `reply_tag` (the bot's binding of that handle to
    this case) and `reply_key` (the public key derived from the person's reference) are what a
    caseworker's client needs to answer; all three are null for a request that did not come
    through the bot.
    """
    hour = submission_hour(now)
    payload = {
        "v": REQUEST_VERSION,
        "answers": dict(request.answers),
        "language": request.language,
        "channel": request.channel,
        "submitted_hour": hour,
        "reply_handle": _b64(request.reply_handle),
        "reply_tag": _b64(reply_tag),
        "reply_key": None if reply_key is None else _b64(bytes(reply_key)),
    }
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_PAYLOAD:
        raise IntakeRefused("the request is too long")
    return data


@dataclass(frozen=True)
class SealedCase:
    """A request sealed for its queue, ready to be stored."""

    case_id: CaseId
    queue: str
    envelope: bytes
    ref_hash: bytes
    reference: CaseReference


def recipients_for(server: Server, queue: str, now: int) -> list[PublicIdentity]:
    """Encryption keys of the queue's active caseworkers on the verified roster.

    During the roster's grace period, its caseworkers of the moment it expired
    (Server.sealing_roster); after it, IntakeRefused.
    """
    if not valid_queue(queue):
        raise IntakeRefused("queue names are 1..64 of a-z, 0-9, '_', '-'")
    try:
        roster, at = server.sealing_roster(now)
    except RosterUnavailable as err:
        raise IntakeRefused(str(err)) from err
    members = roster.caseworkers_for(queue, at)
    if not members:
        raise IntakeRefused(f"no active caseworker on the roster for queue '{queue}'")
    return [m.identity for m in members]


@dataclass(frozen=True)
class Ticket:
    """What a new case gets before it is sealed: its id, the person's reference, and the slow parts.

    `ref_hash` is the stored hash of the reference; `reply_key` the public reply key derived
    from reference and case id (None when nobody can be answered through the bot). Both cost
    an Argon2id run, which is why a ReferencePool makes tickets ahead of time.
    """

    case_id: CaseId
    reference: CaseReference
    ref_hash: bytes
    reply_key: PublicKey | None


def new_ticket(pepper: bytes, *, reply_key: bool, cost: ReferenceCost = REFERENCE_COST) -> Ticket:
    """Draw a case id and a reference, hash the reference and, if asked, derive the reply key."""
    case_id, reference = new_case_id(), new_reference()
    ref_hash = hash_reference(reference, pepper, cost)
    public = reply_public_key(reference, case_id, cost) if reply_key else None
    return Ticket(case_id, reference, ref_hash, public)


def seal_request(
    request: Request, *, queue: str, recipients: list[PublicIdentity], bot: Identity, pepper: bytes, now: int,
    ticket: Ticket | None = None,
) -> SealedCase:
    """Encrypt a request under a ticket (made here if not given). Pure CPU work: safe in a worker thread.

    A request with a reply handle gets the bot's tag over handle and case id, and the reply key.
    `ticket` may come ready from a ReferencePool, so the slow hashes are off the submit path.
    """
    with_reply = request.reply_handle is not None
    try:
        if ticket is None or (with_reply and ticket.reply_key is None):
            ticket = new_ticket(pepper, reply_key=with_reply)
        tag = None if request.reply_handle is None else reply_handle_tag(bot, request.reply_handle, ticket.case_id)
        envelope = seal(
            request_payload(request, now, reply_tag=tag, reply_key=ticket.reply_key if with_reply else None),
            kind=Kind.REQUEST,
            case_id=ticket.case_id,
            queue=queue,
            recipients=recipients,
            signer=bot.signing_key,
        )
    except (CryptoError, ValueError) as err:
        raise IntakeRefused(f"the request could not be sealed: {err}") from err
    return SealedCase(ticket.case_id, queue, envelope, ticket.ref_hash, ticket.reference)


def store_sealed(server: Server, sealed: SealedCase, now: int) -> Receipt:
    """Enqueue a sealed case in one transaction; on failure nothing remains.

    The store keeps the time coarse and, like every commit, empties the WAL right after it.
    """
    try:
        server.cases.enqueue(case_id=sealed.case_id, queue=sealed.queue, envelope=sealed.envelope,
                             ref_hash=sealed.ref_hash, now=now)
    except StorageError as err:
        raise IntakeRefused(f"the database refused the case: {err}") from err
    return Receipt(sealed.case_id, sealed.queue, sealed.reference)


@dataclass(frozen=True)
class Prepared:
    """A request with everything decided that needs the server: its queue, recipients, keys and time.

    What is left, `seal`, is pure CPU work (Argon2id unless a ticket came ready, encryption): a
    caller with an event loop runs it in a worker thread (`submit_off_loop`).
    """

    request: Request
    queue: str
    recipients: list[PublicIdentity]
    bot: Identity
    pepper: bytes
    now: int
    ticket: Ticket | None

    def seal(self) -> SealedCase:
        """Encrypt the request for its queue (seal_request)."""
        return seal_request(self.request, queue=self.queue, recipients=self.recipients, bot=self.bot,
                            pepper=self.pepper, now=self.now, ticket=self.ticket)


def prepare(server: Server, request: Request, now: int, queue: str | None = None, *,
            ticket: Ticket | None = None, pepper: bytes | None = None) -> Prepared:
    """Route to `queue` (the default queue if None) and find its recipients; raises IntakeRefused.

    `ticket` may come ready from a ReferencePool; `pepper` is the server's (checked) unless given.
    """
    queue = queue or server.config.queues.default
    recipients = recipients_for(server, queue, now)
    return Prepared(request, queue, recipients, server.bot_identity(),
                    server.pepper() if pepper is None else pepper, now, ticket)


def submit(server: Server, request: Request, now: int, queue: str | None = None, *,
           ticket: Ticket | None = None, pepper: bytes | None = None) -> Receipt:
    """Encrypt and enqueue a request; raises IntakeRefused and leaves nothing behind on failure."""
    return store_sealed(server, prepare(server, request, now, queue, ticket=ticket, pepper=pepper).seal(), now)


async def submit_off_loop(server: Server, request: Request, now: int, queue: str | None = None, *,
                          ticket: Ticket | None = None, pepper: bytes | None = None) -> Receipt:
    """`submit`, with the sealing in a worker thread: the bot's event loop keeps serving meanwhile.

    The database is used only from the calling thread (its connection belongs to it).
    """
    sealed = await asyncio.to_thread(prepare(server, request, now, queue, ticket=ticket, pepper=pepper).seal)
    return store_sealed(server, sealed, now)
