"""A case and its events as records: what the server stores and the caseworker's client reads.

Plain values only; storing them is storage.cases's work, reading their envelopes staff's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

CaseId = NewType("CaseId", str)


class Status(StrEnum):
    """Where a case stands."""

    NEW = "new"
    CLAIMED = "claimed"
    CLOSED = "closed"


class EventKind(StrEnum):
    """Things that happen to a case after intake."""

    CLAIM = "claim"
    NOTE = "note"
    FOLLOW_UP = "follow_up"
    REPLY = "reply"
    CLOSE = "close"
    REOPEN = "reopen"
    ACK = "ack"
    ASSIGN = "assign"  # `subject` names the caseworker assigned (metadata, like a claim)
    TAG = "tag"  # a tag sealed like a note: the server never sees its text
    UNTAG = "untag"


class Delivery(StrEnum):
    """Where a reply to the person stands (kept on the caseworkers' copy; docs/architecture.md)."""

    QUEUED = "queued"  # waiting for its notice
    NOTIFIED = "notified"  # the neutral notice went out; waiting for the person's reference
    READ = "read"  # the person gave their reference and Telegram took the reply
    EXPIRED = "expired"  # not read within [replies] expire_after_days: erased
    UNDELIVERABLE = "undeliverable"  # Telegram refused the chat: no notice, still readable by reference
    REJECTED = "rejected"  # the bot refused it (signature, signer, binding or handle): erased


@dataclass(frozen=True)
class Event:
    """One event of a case; `envelope` holds encrypted content for notes and follow-ups."""

    id: int
    case_id: CaseId
    kind: EventKind
    actor: str
    created_at: int
    envelope: bytes | None
    delivery: Delivery | None = None
    subject: str | None = None  # assignments only: the roster name of the caseworker assigned


@dataclass(frozen=True)
class Case:
    """A case row; `envelope` is None when it was not asked for."""

    id: CaseId
    queue: str
    status: Status
    created_at: int
    updated_at: int
    claimed_by: str | None
    claimed_at: int | None
    closed_at: int | None
    envelope: bytes | None
    assigned_to: str | None = None  # the roster name of the caseworker it is assigned to
    followups: int = 0  # follow-ups the person sent (counted in listings; 0 when not counted)
    tag_events: tuple[Event, ...] = ()  # sealed tag and untag events, in order (listings with envelopes only)


@dataclass(frozen=True)
class CaseTimes:
    """A case's metadata for statistics: when it came, and when it was first claimed and first answered.

    Coarse times, as stored (docs/architecture.md): differences are exact to the granularity only.
    """

    id: CaseId
    queue: str
    status: Status
    created_at: int
    first_claim_at: int | None
    first_reply_at: int | None
