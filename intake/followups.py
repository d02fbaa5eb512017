"""Follow-ups: a person who kept their reference adds information to their case.

Whether the reference is right or wrong, the caller answers the person the
same way; this module only reports to the caller whether anything was stored.
"""

from __future__ import annotations

import json

from crypto.envelope import Kind, seal
from crypto.errors import CryptoError
from crypto.padding import MAX_PAYLOAD
from intake.requests import check_answers
from storage.cases import CaseId, EventKind
from storage.errors import IntakeRefused, RosterUnavailable
from storage.server import Server

FOLLOW_UP_ACTOR = "person"


def add_follow_up(server: Server, ref_hash: bytes, text: str, language: str, now: int) -> CaseId | None:
    """Seal `text` to the case's queue caseworkers and record it; None if the reference matches nothing."""
    case_id = server.cases.find_by_reference(ref_hash)
    if case_id is None:
        return None
    # A stored hash matched: the pepper is proven right, so a home made before check values may record one.
    server.record_pepper_check(proven=True)
    case = server.cases.fetch(case_id)
    try:
        roster, at = server.sealing_roster(now)  # in the grace period: the caseworkers of its last valid moment
        members = roster.caseworkers_for(case.queue, at)
    except RosterUnavailable as err:
        raise IntakeRefused(str(err)) from err
    if not members:
        raise IntakeRefused(f"no active caseworker on the roster for queue '{case.queue}'")
    clean = check_answers({"text": text})["text"]
    payload = json.dumps({"v": 1, "text": clean, "language": language}, ensure_ascii=False).encode("utf-8")
    if len(payload) > MAX_PAYLOAD:
        raise IntakeRefused("the follow-up is too long")
    try:
        envelope = seal(payload, kind=Kind.FOLLOW_UP, case_id=case.id, queue=case.queue,
                        recipients=[m.identity for m in members], signer=server.bot_identity().signing_key)
    except CryptoError as err:
        raise IntakeRefused(f"the follow-up could not be sealed: {err}") from err
    server.cases.add_event(case.id, EventKind.FOLLOW_UP, FOLLOW_UP_ACTOR, now, envelope)  # stored coarse
    return case.id


def add_sealed_follow_up(server: Server, case_id: str, envelope: bytes, now: int) -> None:
    """Record a follow-up the person's page sealed and the bot countersigned (bot/webform) on its case."""
    # The page found the case by its reference: the pepper is proven right here too.
    server.record_pepper_check(proven=True)
    server.cases.add_event(case_id, EventKind.FOLLOW_UP, FOLLOW_UP_ACTOR, now, envelope)  # stored coarse
