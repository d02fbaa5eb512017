"""A caseworker's envelope work: open a request and its events, seal notes and replies.

Whoever carried the bytes (the API or the database), nothing is shown before
its signature and binding verify. Trusted signers, by kind:

- request (1) and follow-up (3): the bot's keys the client trusts (pinned
  current key and pinned earlier keys);
- note (2) and reply copy (4): caseworkers on the verified roster, *including*
  revoked or expired ones, so that what they wrote while active stays
  readable; the view says when a signer is no longer active. The signer's
  roster name must match the author the server names, or the event is shown
  as rejected.

An event that fails is returned as REJECTED with the reason; none is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from nacl.public import PublicKey
from nacl.signing import VerifyKey

from crypto.encoding import unb64
from crypto.envelope import Kind, seal
from crypto.errors import CryptoError, EnvelopeRejected, NotARecipient
from crypto.keys import Identity
from crypto.replykey import TAG_SIZE
from crypto.roster import Role, Roster
from model.cases import Case, Event, EventKind
from model.grants import CONTENT_KINDS
from model.text import clean_text
from model.views import CaseView, ReadState
from staff.errors import InputRejected, ReplyImpossible
from staff.grants import GrantBook, GrantsRefused, open_for_me

NOTE_MAX_CHARS = 20_000
TAG_MAX_CHARS = 40
#: The `op` a tag payload carries for each event kind: bound inside the sealed payload, so a server that
#: relabels an untag as a tag (or a note as either) is caught when the event is read.
TAG_OPS = {EventKind.TAG: "add", EventKind.UNTAG: "remove"}
REPLY_MAX_CHARS = 4_000  # Telegram shows at most 4096 characters in one message
PERSON = "the person (via the bot)"


@dataclass(frozen=True)
class EventView:
    """One event as a caseworker sees it; `text` only when verified and decrypted."""

    event: Event
    state: ReadState
    signer: str | None
    text: str | None
    problem: str | None


@dataclass(frozen=True)
class CaseDetail:
    """A case and its history, verified and decrypted as far as this key may."""

    view: CaseView
    events: list[EventView]


def _json_payload(payload: bytes) -> dict[str, Any]:
    obj = json.loads(payload.decode("utf-8"))
    if not isinstance(obj, dict):
        raise ValueError("payload is not an object")  # noqa: TRY004 - handled with the JSON errors
    return obj


#: What reading a request gives: its state, the request if it opened, and why not if it did not.
Outcome = tuple[ReadState, dict[str, Any] | None, str | None]


def read_request(case: Case, identity: Identity, bot_keys: Collection[VerifyKey],
                 book: GrantBook | None = None) -> CaseView:
    """Verify (bot signature, case and queue binding) and decrypt a case's request (directly or by a grant)."""
    return CaseView(case, *read_outcome(case, identity, bot_keys, book))


def read_outcome(case: Case, identity: Identity, bot_keys: Collection[VerifyKey],
                 book: GrantBook | None = None) -> Outcome:
    """What read_request finds, without the view around it (worker processes send back only this)."""
    if case.envelope is None:
        return ReadState.REJECTED, None, "the server sent the case without its envelope"
    try:
        opened = open_for_me(case.envelope, case=case, kind=Kind.REQUEST, identity=identity, signers=bot_keys,
                             book=book)
        request = _json_payload(opened.payload)
    except NotARecipient as err:
        return ReadState.NOT_FOR_THIS_KEY, None, not_for_me(err)
    except EnvelopeRejected as err:
        return ReadState.REJECTED, None, f"{type(err).__name__}: {err}"
    except ValueError:
        return ReadState.REJECTED, None, "the decrypted request is not a JSON object"
    return ReadState.OK, request, None


def not_for_me(err: NotARecipient) -> str:
    """What to tell a caseworker about a request not sealed to their key (and, if one was refused, the grant)."""
    base = "this request was not encrypted to your key (sealed before you joined the queue?)"
    return f"{base}; a grant for it was refused ({err.reason})" if isinstance(err, GrantsRefused) else base


def staff_signers(roster: Roster) -> list[VerifyKey]:
    """Keys whose notes and reply copies are accepted: every caseworker on the roster, active or not."""
    return [m.identity.verify_key for m in roster.members if m.role is Role.CASEWORKER]


def read_event(case: Case, event: Event, identity: Identity, roster: Roster, bot_keys: Collection[VerifyKey],
               now: int, book: GrantBook | None = None) -> EventView:
    """Verify and decrypt one event of `case` (which the caller has already verified)."""
    kind = CONTENT_KINDS.get(event.kind)
    if kind is None:
        if event.envelope is not None:
            return EventView(event, ReadState.REJECTED, None, None, "a status event must not carry an envelope")
        return EventView(event, ReadState.OK, None, None, None)
    if event.envelope is None:
        return EventView(event, ReadState.REJECTED, None, None, "the content of this event is missing")
    signers = list(bot_keys) if kind is Kind.FOLLOW_UP else staff_signers(roster)
    try:
        opened = open_for_me(event.envelope, case=case, kind=kind, identity=identity, signers=signers, book=book)
        payload = _json_payload(opened.payload)
        text = _payload_text(payload, event.kind)
    except NotARecipient as err:
        return EventView(event, ReadState.NOT_FOR_THIS_KEY, None, None, str(err))
    except EnvelopeRejected as err:
        return EventView(event, ReadState.REJECTED, None, None, f"{type(err).__name__}: {err}")
    except ValueError:
        return EventView(event, ReadState.REJECTED, None, None, "the decrypted content is not what its kind holds")
    if kind is Kind.FOLLOW_UP:
        return EventView(event, ReadState.OK, PERSON, text, None)
    member = roster.by_verify_key(opened.header.signer)
    name = member.name if member is not None else "?"
    if name != event.actor:
        return EventView(event, ReadState.REJECTED, name, None,
                         f"signed by {name}, but the server names someone else as its author")
    problem = None if member is not None and member.active(now) else f"{name} is no longer active on the roster"
    return EventView(event, ReadState.OK, name, text, problem)


def _payload_text(payload: dict[str, Any], kind: EventKind) -> str:
    """The text a note, follow-up or reply carries, or the tag a tag or untag names (its op must match)."""
    op = TAG_OPS.get(kind)
    if op is None:
        text = payload.get("text")
        if payload.get("v") != 1 or not isinstance(text, str) or "tag" in payload:
            raise ValueError("payload fields")
        return text
    tag = payload.get("tag")
    if payload.get("v") != 1 or payload.get("op") != op or not isinstance(tag, str) or not tag or "text" in payload:
        raise ValueError("tag payload fields")
    return tag


def fold_tags(events: Iterable[EventView]) -> frozenset[str]:
    """The tags a case carries now: its readable tag and untag events applied in order (others ignored)."""
    tags: set[str] = set()
    for view in events:
        if view.state is not ReadState.OK or view.text is None:
            continue
        if view.event.kind is EventKind.TAG:
            tags.add(view.text)
        elif view.event.kind is EventKind.UNTAG:
            tags.discard(view.text)
    return frozenset(tags)


def with_tags(view: CaseView, identity: Identity, roster: Roster, bot_keys: Collection[VerifyKey], now: int,
              book: GrantBook | None = None) -> CaseView:
    """A listed case with the tags its sealed tag events carry (each verified before it counts)."""
    if not view.case.tag_events or view.state is not ReadState.OK:
        return view
    events = [read_event(view.case, e, identity, roster, bot_keys, now, book) for e in view.case.tag_events]
    return replace(view, tags=fold_tags(events))


def clean_tag(tag: str) -> str:
    """A tag as it is sealed: one line, trimmed, at most TAG_MAX_CHARS characters (InputRejected otherwise)."""
    clean = " ".join(clean_text(tag).split())
    if not clean:
        raise InputRejected("an empty tag cannot be added or removed")
    if len(clean) > TAG_MAX_CHARS:
        raise InputRejected(f"a tag may be at most {TAG_MAX_CHARS} characters (this one has {len(clean)})")
    return clean


def seal_tag(tag: str, kind: EventKind, case: Case, identity: Identity, roster: Roster, now: int) -> bytes:
    """A tag `{"v":1,"op","tag"}` sealed like a note (kind 2) to the queue's active caseworkers."""
    op = TAG_OPS.get(kind)
    if op is None:
        raise ValueError("seal_tag seals tag and untag events only")
    return _seal({"v": 1, "op": op, "tag": clean_tag(tag)}, Kind.NOTE, case, queue_keys(roster, case.queue, now),
                 identity)


def _text(text: str, limit: int, what: str) -> str:
    clean = clean_text(text)
    if not clean:
        raise InputRejected(f"an empty {what} cannot be sent")
    if len(clean) > limit:
        raise InputRejected(f"a {what} may be at most {limit} characters (this one has {len(clean)})")
    return clean


def _seal(payload: dict[str, Any], kind: Kind, case: Case, recipients: list[PublicKey], identity: Identity) -> bytes:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    try:
        return seal(data, kind=kind, case_id=case.id, queue=case.queue, recipients=recipients,
                    signer=identity.signing_key)
    except (CryptoError, ValueError) as err:
        raise InputRejected(f"this could not be sealed: {err}") from err


def queue_keys(roster: Roster, queue: str, now: int) -> list[PublicKey]:
    """Encryption keys of the queue's active caseworkers on the verified roster."""
    keys = [m.identity.box_key for m in roster.caseworkers_for(queue, now)]
    if not keys:
        raise InputRejected(f"no active caseworker on the roster for queue '{queue}'")
    return keys


def seal_note(text: str, case: Case, identity: Identity, roster: Roster, now: int) -> bytes:
    """A note `{"v":1,"text"}` sealed to the queue's active caseworkers and signed by `identity`."""
    clean = _text(text, NOTE_MAX_CHARS, "note")
    return _seal({"v": 1, "text": clean}, Kind.NOTE, case, queue_keys(roster, case.queue, now), identity)


@dataclass(frozen=True)
class SealedReply:
    """The three envelopes of one reply, as the staff API takes them."""

    to_bot: bytes  # kind DELIVERY to the bot: reply handle, its tag, language (erased after the notice)
    to_person: bytes  # kind REPLY to the person's reply key: the text
    copy: bytes  # kind REPLY to the queue's caseworkers: the text, for the case history


def _request_bytes(request: dict[str, Any], field: str, size: int | None) -> str:
    value = request.get(field)
    if not isinstance(value, str) or not value:
        raise ReplyImpossible("this request did not come through the bot: there is nobody to reply to")
    try:
        unb64(value, size, field, CryptoError)
    except CryptoError as err:
        raise ReplyImpossible(f"this request's {field} is damaged: it cannot be answered") from err
    return value


def seal_reply(text: str, request: dict[str, Any], case: Case, identity: Identity, roster: Roster,
               bot_box: PublicKey, now: int) -> SealedReply:
    """Seal a reply three times: a delivery envelope to the bot, the text to the person, a copy to colleagues.

    The person's copy is sealed to the reply key the bot derived from their reference at intake
    (`reply_key` in the request): only someone who gives that reference can open it. Raises
    ReplyImpossible for a request with no reply handle or no reply key (made before replies were
    sealed to the person).
    """
    clean = _text(text, REPLY_MAX_CHARS, "reply")
    handle = _request_bytes(request, "reply_handle", None)
    if not isinstance(request.get("reply_key"), str) or not isinstance(request.get("reply_tag"), str):
        raise ReplyImpossible("this request was made before replies were sealed to the person's own key: "
                              "it cannot be answered through the bot")
    tag = _request_bytes(request, "reply_tag", TAG_SIZE)
    reply_key = PublicKey(unb64(_request_bytes(request, "reply_key", 32), 32, "reply key", CryptoError))
    language = request.get("language")
    to_bot = _seal({"v": 1, "reply_handle": handle, "reply_tag": tag,
                    "language": language if isinstance(language, str) else "en"},
                   Kind.DELIVERY, case, [bot_box], identity)
    to_person = _seal({"v": 1, "text": clean}, Kind.REPLY, case, [reply_key], identity)
    copy = _seal({"v": 1, "text": clean}, Kind.REPLY, case, queue_keys(roster, case.queue, now), identity)
    return SealedReply(to_bot, to_person, copy)


def age(created: int, now: int) -> str:
    """Minutes, hours or days since `created`, in at most four characters."""
    minutes = max(0, now - created) // 60
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h"
    return f"{minutes // 1440}d"


def when(t: int) -> str:
    """A time as the CLI prints it (UTC)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")
