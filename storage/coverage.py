"""Who can still read what: open cases no active key can read, thin queues, a lone admin.

Metadata only. Each open case's request envelope names, in its signed header, the key ids it
was sealed to; `crypto.envelope.verify` reads them after checking the bot's signature and the
binding to the case, without decrypting anything. They are compared with the key ids of the
active caseworkers of the case's queue: when none is among them, nobody who may open that case
can read it (a lost laptop, a revoked or expired member) and nobody is told unless this says so.
Used by `waystation doctor` and by the bot's daily admin notice (bot/rosterwatch.py).

Only the request itself is judged: notes and follow-ups are sealed to the caseworkers of their
own moment. A stored grant (storage/grants.py) counts as a way in when it verifies as a reader
would check it, still without opening anything: signed by a caseworker of the queue never
revoked (and a member at its time), bound to the case, naming the request envelope's exact
digest, and addressed to an active caseworker of the queue.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from nacl.signing import VerifyKey

from crypto.envelope import Kind, verify
from crypto.errors import EnvelopeRejected, GrantRejected
from crypto.grant import envelope_digest, verify_grant
from crypto.roster import Role, Roster
from storage.cases import CaseId
from storage.db import Connection
from storage.grants import granter_member, trusted_granters

#: Fewer active caseworkers than this in a queue is announced: one lost key would leave its new cases unreadable.
MIN_CASEWORKERS = 2


@dataclass(frozen=True)
class OpenCase:
    """An open (new or claimed) case's metadata and its request envelope."""

    id: CaseId
    queue: str
    status: str
    claimed_by: str | None
    envelope: bytes
    grants: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Unreadable:
    """An open case that no active caseworker of its queue can read, and whom it was sealed to."""

    case_id: CaseId
    queue: str
    sealed_to: tuple[str, ...]  # roster names of the (inactive) members it was sealed to; "?" for a key not on it


@dataclass(frozen=True)
class Coverage:
    """What an admin must know about who can read the open cases."""

    unreadable: tuple[Unreadable, ...]
    unverified: tuple[CaseId, ...]  # envelope does not verify with the bot's keys or is bound elsewhere
    orphaned: tuple[tuple[CaseId, str], ...]  # claimed cases whose owner is no longer an active caseworker
    thin_queues: tuple[tuple[str, tuple[str, ...]], ...]  # queues with fewer than MIN_CASEWORKERS, and who is left
    admins: tuple[str, ...]  # active admins

    def notices(self) -> list[dict[str, object]]:
        """The admin notices this calls for (counts and queue names only; bot/alertviews.py renders them)."""
        found: list[dict[str, object]] = []
        if self.unreadable:
            found.append({"notice": "unreadable", "count": len(self.unreadable)})
        found.extend({"notice": "thin_queue", "queue": queue} for queue, _ in self.thin_queues)
        if len(self.admins) < 2:
            found.append({"notice": "one_admin"})
        return found


def open_cases(conn: Connection) -> list[OpenCase]:
    """Every new or claimed case with its request envelope and its grants (a read of metadata and ciphertext)."""
    grants: dict[str, list[bytes]] = {}
    for case_id, body in conn.execute("SELECT g.case_id, g.body FROM case_grants g JOIN cases c ON c.id = g.case_id"
                                      " WHERE c.status != 'closed'"):
        grants.setdefault(str(case_id), []).append(bytes(body))
    rows = conn.execute("SELECT id, queue, status, claimed_by, envelope FROM cases WHERE status != 'closed'"
                        " ORDER BY queue, id")
    return [OpenCase(CaseId(str(r[0])), str(r[1]), str(r[2]), None if r[3] is None else str(r[3]), bytes(r[4]),
                     tuple(grants.get(str(r[0]), ()))) for r in rows]


def _granted(roster: Roster, case: OpenCase, readers: set[bytes]) -> bool:
    """Whether a grant of the case's request to one of `readers` verifies (nothing is opened)."""
    signers = trusted_granters(roster, case.queue)
    digest = envelope_digest(case.envelope)
    for grant in case.grants:
        try:
            header = verify_grant(grant, trusted_signers=signers, case_id=case.id, queue=case.queue)
            granter_member(roster, header)
        except GrantRejected:
            continue
        if bytes(header.recipient) in readers and digest in header.digests:
            return True
    return False


def assess(roster: Roster, at: int, cases: Iterable[OpenCase], bot_keys: Collection[VerifyKey],
           queues: Sequence[str]) -> Coverage:
    """Judge the open cases against the roster's members active at `at`; `queues`: those requests are routed to."""
    readers: dict[str, set[bytes]] = {}
    names = {bytes(m.identity.key_id): m.name for m in roster.members}
    unreadable: list[Unreadable] = []
    unverified: list[CaseId] = []
    orphaned: list[tuple[CaseId, str]] = []
    seen_queues = dict.fromkeys(queues)
    for case in cases:
        seen_queues.setdefault(case.queue)
        keys = readers.get(case.queue)
        if keys is None:
            keys = readers[case.queue] = {bytes(m.identity.key_id) for m in roster.caseworkers_for(case.queue, at)}
        try:
            header = verify(case.envelope, trusted_signers=bot_keys, case_id=case.id, queue=case.queue,
                            kinds={Kind.REQUEST})
        except EnvelopeRejected:
            unverified.append(case.id)
            continue
        recipients = [bytes(k) for k in header.recipients]
        if not keys.intersection(recipients) and not _granted(roster, case, keys):
            unreadable.append(Unreadable(case.id, case.queue, tuple(names.get(k, "?") for k in recipients)))
        if case.status == "claimed" and case.claimed_by is not None:
            owner = roster.find(case.claimed_by)
            if owner is None or owner.role is not Role.CASEWORKER or not owner.active(at) \
                    or case.queue not in owner.queues:
                orphaned.append((case.id, case.claimed_by))
    thin = []
    for queue in seen_queues:
        left = tuple(m.name for m in roster.caseworkers_for(queue, at))
        if len(left) < MIN_CASEWORKERS:
            thin.append((queue, left))
    admins = tuple(m.name for m in roster.admins(at))
    return Coverage(tuple(unreadable), tuple(unverified), tuple(orphaned), tuple(thin), admins)
