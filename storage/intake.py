"""Intake: turn one request into an encrypted case in the queue.

The request is serialised, encrypted to the queue's active caseworkers on the
verified roster, signed by the bot and stored with a slow hash of the
person's case reference. Nothing readable is written anywhere.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import nacl.exceptions
import nacl.utils
from nacl.public import PrivateKey, SealedBox

from crypto.envelope import Kind, seal, valid_queue
from crypto.errors import CryptoError
from crypto.keys import Identity, PublicIdentity
from crypto.padding import MAX_PAYLOAD
from crypto.reference import CaseReference, hash_reference, new_reference
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
    return SealedBox(bot.box_private.public_key).encrypt(str(chat_id).encode("ascii"))


def open_reply_handle(keys: Sequence[PrivateKey], handle: bytes) -> int:
    """The chat id inside a reply handle, trying the bot's current key, then retired ones.

    Raises IntakeRefused if no key opens it.
    """
    for key in keys:
        try:
            return int(SealedBox(key).decrypt(handle).decode("ascii"))
        except (nacl.exceptions.CryptoError, ValueError, UnicodeDecodeError):
            continue
    raise IntakeRefused("the reply handle does not open with this bot's keys")


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


_BIDI_OVERRIDES = frozenset(chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def clean_text(value: str) -> str:
    """Text without control characters (newlines kept), bidi overrides, or surrounding space.

    Zero-width joiners and non-joiners stay: Persian spelling and emoji need them.
    """
    return "".join(
        ch for ch in value
        if ch == "\n" or (unicodedata.category(ch) not in ("Cc", "Cs") and ch not in _BIDI_OVERRIDES)
    ).strip()


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


def request_payload(request: Request, now: int) -> bytes:
    """The plaintext that gets sealed: answers, language, the hour of submission, reply handle."""
    hour = datetime.fromtimestamp(now - now % 3600, UTC).strftime("%Y-%m-%dT%H:00Z")
    payload = {
        "v": REQUEST_VERSION,
        "answers": dict(request.answers),
        "language": request.language,
        "channel": request.channel,
        "submitted_hour": hour,
        "reply_handle": None if request.reply_handle is None else base64.b64encode(request.reply_handle).decode(),
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
    """Encryption keys of the queue's active caseworkers on the verified roster."""
    if not valid_queue(queue):
        raise IntakeRefused("queue names are 1..64 of a-z, 0-9, '_', '-'")
    try:
        roster = server.roster(now)
    except RosterUnavailable as err:
        raise IntakeRefused(str(err)) from err
    members = roster.caseworkers_for(queue, now)
    if not members:
        raise IntakeRefused(f"no active caseworker on the roster for queue '{queue}'")
    return [m.identity for m in members]


def new_hashed_reference(pepper: bytes) -> tuple[CaseReference, bytes]:
    """A fresh reference and its slow hash (the expensive part of intake: Argon2id)."""
    reference = new_reference()
    return reference, hash_reference(reference, pepper)


def seal_request(
    request: Request, *, queue: str, recipients: list[PublicIdentity], bot: Identity, pepper: bytes, now: int,
    hashed_reference: tuple[CaseReference, bytes] | None = None,
) -> SealedCase:
    """Encrypt a request and hash its new reference. Pure CPU work: safe to run in a worker thread.

    `hashed_reference` may come ready from a ReferencePool, so the slow hash is off the submit path.
    """
    case_id = new_case_id()
    try:
        reference, ref_hash = hashed_reference or new_hashed_reference(pepper)
        envelope = seal(
            request_payload(request, now),
            kind=Kind.REQUEST,
            case_id=case_id,
            queue=queue,
            recipients=recipients,
            signer=bot.signing_key,
        )
    except CryptoError as err:
        raise IntakeRefused(f"the request could not be sealed: {err}") from err
    return SealedCase(case_id, queue, envelope, ref_hash, reference)


def store_sealed(server: Server, sealed: SealedCase, now: int) -> Receipt:
    """Enqueue a sealed case in one transaction; on failure nothing remains."""
    granularity = server.config.privacy.time_granularity_seconds
    try:
        server.cases.enqueue(case_id=sealed.case_id, queue=sealed.queue, envelope=sealed.envelope,
                             ref_hash=sealed.ref_hash, now=now - now % granularity)
    except StorageError as err:
        raise IntakeRefused(f"the database refused the case: {err}") from err
    return Receipt(sealed.case_id, sealed.queue, sealed.reference)


def submit(server: Server, request: Request, now: int, queue: str | None = None) -> Receipt:
    """Encrypt and enqueue a request; raises IntakeRefused and leaves nothing behind on failure."""
    queue = queue or server.config.queues.default
    recipients = recipients_for(server, queue, now)
    sealed = seal_request(request, queue=queue, recipients=recipients, bot=server.bot_identity(),
                          pepper=server.pepper(), now=now)
    return store_sealed(server, sealed, now)
