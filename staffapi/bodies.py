"""Request bodies of the staff API: strict JSON, canonical base64, envelopes checked without decrypting.

The server cannot read notes or replies; it checks what the envelope header
shows (crypto.envelope.verify): kind, binding to this case and queue, the
caller's signature, and the recipients the contract names. Anything else is
refused (422) and nothing is stored.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from nacl.public import PublicKey

from crypto.encoding import unb64
from crypto.envelope import Kind, verify
from crypto.errors import EnvelopeMalformed, EnvelopeRejected
from crypto.keys import key_id
from staffapi.auth import Caller
from staffapi.problems import BodyInvalid
from storage.cases import Case, EventKind


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise BodyInvalid("a JSON object names a field twice")
    return dict(pairs)


def _no_constants(name: str) -> Any:
    raise BodyInvalid(f"{name} is not JSON")


def json_object(body: bytes, fields: Collection[str], *, empty_ok: bool = False) -> dict[str, Any]:
    """Parse a JSON object that has exactly `fields`; an empty body counts as {} if `empty_ok`."""
    if not body.strip() and empty_ok:
        obj: Any = {}
    else:
        try:
            obj = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            raise BodyInvalid("the body is not UTF-8 JSON") from err
    if not isinstance(obj, dict):
        raise BodyInvalid("the body must be a JSON object")
    if set(obj) != set(fields):
        wanted = ", ".join(sorted(fields)) or "no fields"
        raise BodyInvalid(f"the body must have exactly: {wanted}")
    return obj


def envelope_field(obj: dict[str, Any], name: str) -> bytes:
    """Decode one canonical standard-base64 field."""
    try:
        return unb64(obj[name], None, f"'{name}'", EnvelopeMalformed)
    except EnvelopeMalformed as err:
        raise BodyInvalid(str(err)) from err


def _check(envelope: bytes, caller: Caller, case: Case, kind: Kind, what: str) -> set[bytes]:
    """Signature (the caller), kind and binding (this case and queue); returns the recipients' key ids."""
    try:
        header = verify(envelope, trusted_signers=[caller.verify_key], case_id=case.id, queue=case.queue,
                        kinds={kind})
    except EnvelopeRejected as err:
        raise BodyInvalid(f"the {what} envelope was refused: {type(err).__name__}") from err
    return {bytes(k) for k in header.recipients}


def _exactly(recipients: set[bytes], expected: set[bytes], what: str) -> None:
    if recipients != expected:
        raise BodyInvalid(f"the {what} envelope is not sealed to exactly the expected recipients: "
                          "fetch /api/v1/info for the current roster and seal again", "stale_recipients")


def queue_recipients(caller: Caller, queue: str) -> set[bytes]:
    """Key ids of the queue's active caseworkers on the verified roster."""
    return {bytes(m.identity.key_id) for m in caller.roster.caseworkers_for(queue, caller.now)}


def check_note(body: bytes, caller: Caller, case: Case) -> bytes:
    """The note envelope of a `{"envelope": b64}` body, once it passed every check."""
    envelope = envelope_field(json_object(body, ("envelope",)), "envelope")
    _exactly(_check(envelope, caller, case, Kind.NOTE, "note"), queue_recipients(caller, case.queue), "note")
    return envelope


TAG_OPS = {"add": EventKind.TAG, "remove": EventKind.UNTAG}


def check_tag(body: bytes, caller: Caller, case: Case) -> tuple[bytes, EventKind]:
    """The envelope of a `{"envelope": b64, "op": "add"|"remove"}` body, checked as a note's, and its event kind.

    A tag is sealed exactly like a note (kind 2, to the queue's active caseworkers): the server
    sees that a tag was added or removed, never which. The op is sealed inside too, and readers
    check that it matches the event kind the server records.
    """
    obj = json_object(body, ("envelope", "op"))
    kind = TAG_OPS.get(obj["op"]) if isinstance(obj["op"], str) else None
    if kind is None:
        raise BodyInvalid("op must be add or remove")
    envelope = envelope_field(obj, "envelope")
    _exactly(_check(envelope, caller, case, Kind.NOTE, "tag"), queue_recipients(caller, case.queue), "tag")
    return envelope, kind


@dataclass(frozen=True)
class ReplyBody:
    """The three envelopes of a reply, checked."""

    to_bot: bytes
    to_person: bytes
    copy: bytes


def check_reply(body: bytes, caller: Caller, case: Case, bot_box: PublicKey) -> ReplyBody:
    """The envelopes of a `{"to_bot", "to_person", "copy"}` body, once all three passed every check.

    to_bot: kind DELIVERY to the bot's current key only; to_person: kind REPLY to exactly one key
    that is neither the bot's nor a roster member's (the server cannot know the person's reply
    key: the bot checks it by deriving it from the reference); copy: kind REPLY to the queue's
    active caseworkers. All three signed by the caller and bound to this case and queue.
    """
    obj = json_object(body, ("to_bot", "to_person", "copy"))
    to_bot, to_person, copy = (envelope_field(obj, name) for name in ("to_bot", "to_person", "copy"))
    _exactly(_check(to_bot, caller, case, Kind.DELIVERY, "to_bot"), {bytes(key_id(bot_box))}, "to_bot")
    person = _check(to_person, caller, case, Kind.REPLY, "to_person")
    known = {bytes(key_id(bot_box))} | {bytes(m.identity.key_id) for m in caller.roster.members}
    if len(person) != 1 or person & known:
        raise BodyInvalid("the to_person envelope must be sealed to the person's reply key alone")
    _exactly(_check(copy, caller, case, Kind.REPLY, "copy"), queue_recipients(caller, case.queue), "copy")
    return ReplyBody(to_bot, to_person, copy)
