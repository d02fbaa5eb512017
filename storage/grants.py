"""Grants: a case's content keys re-sealed by one member to another (crypto/grant.py), stored and checked.

The server can open no grant and forge none (it holds no content key and no staff signing
key). What it checks before storing one, from the signed header alone (`check_grant`): the
signer is the member submitting it, an active caseworker of the case's queue whose key id the
grant names as granter; the recipient is an active caseworker of that queue on the verified
roster (a revoked or expired member gets no new grant); every envelope the grant names is one
of this case's envelopes sealed to caseworkers; its time is the hour it was made. Readers
check again with their own roster (`trusted_granters`, `granter_member`): nobody trusts the
server's word that a grant is sound.

Rows: random ids, coarse times, one per (case, recipient, granter) so a later grant from the
same member to the same recipient replaces the earlier one; deleted with their case. Storing
one writes the audit entry `case.grant` (actor: the granter's roster name) in the same
transaction.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from crypto.errors import GrantRejected
from crypto.grant import (
    TIME_GRANULARITY,
    GrantHeader,
    coarse_hour,
    envelope_digest,
    verify_grant,
)
from crypto.keys import KeyId
from crypto.roster import Member, Roster
from model.grants import CONTENT_KINDS as CONTENT_KINDS
from model.grants import SealedEnvelope as SealedEnvelope
from model.grants import granter_member as granter_member
from model.grants import sealed_envelopes as sealed_envelopes
from model.grants import trusted_granters as trusted_granters
from storage.cases import Case, CaseId, Event, audit
from storage.db import Database, fresh_row_id
from storage.errors import StorageError

#: How far a grant's own (hour-rounded) time may be from the server's clock when it is stored.
MAX_SKEW = 2 * TIME_GRANULARITY


class GrantRefused(StorageError, ValueError):
    """A grant failed a check before storing: it names another case, signer, recipient or envelope."""


def check_grant(grant: bytes, case: Case, events: Iterable[Event], roster: Roster, signer: Member,
                now: int) -> GrantHeader:
    """The grant's header, once it passed every check the server can make; else GrantRefused (see module)."""
    try:
        header = verify_grant(grant, trusted_signers=[signer.identity.verify_key], case_id=case.id,
                              queue=case.queue)
        granter_member(roster, header)
    except GrantRejected as err:
        raise GrantRefused(f"the grant was refused: {err}") from err
    if signer.identity.verify_key not in trusted_granters(roster, case.queue) or not signer.active(now):
        raise GrantRefused("only an active caseworker of the case's queue may grant it")
    if not any(m.identity.key_id == header.recipient for m in roster.caseworkers_for(case.queue, now)):
        raise GrantRefused("the grant's recipient is not an active caseworker of the case's queue")
    if abs(header.at - coarse_hour(now)) > MAX_SKEW:
        raise GrantRefused("the grant is not dated to the hour it was made (check the computer's clock)")
    ours = {envelope_digest(s.envelope) for s in sealed_envelopes(case, events)}
    if not set(header.digests) <= ours:
        raise GrantRefused("the grant names an envelope that is not one of this case's")
    return header


@dataclass(frozen=True)
class StoredGrant:
    """A grant as stored: its case and its bytes (the recipient is inside, signed)."""

    case_id: CaseId
    body: bytes


class GrantStore:
    """Repository of grants over an open Database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def store(self, case_id: str, grant: bytes, header: GrantHeader, actor: str, now: int) -> None:
        """Store a checked grant (replacing the same granter's earlier one to the same recipient) and audit it."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM case_grants WHERE case_id = ? AND recipient = ? AND granter = ?",
                         (case_id, bytes(header.recipient), bytes(header.signer)))
            conn.execute(
                "INSERT INTO case_grants (id, case_id, recipient, granter, created_at, body)"
                " VALUES (?, ?, ?, ?, coarse_time(?), ?)",
                (fresh_row_id(conn, "case_grants", "id"), case_id, bytes(header.recipient), bytes(header.signer),
                 now, grant),
            )
            audit(conn, actor=actor, action="case.grant", case_id=case_id, now=now)

    def for_case(self, case_id: str, recipient: KeyId) -> builtins.list[bytes]:
        """Grants of one case addressed to `recipient` (unverified: the reader verifies)."""
        rows = self.db.conn.execute("SELECT body FROM case_grants WHERE case_id = ? AND recipient = ?",
                                    (case_id, bytes(recipient)))
        return [bytes(r[0]) for r in rows]

    def for_recipient(self, recipient: KeyId, queues: Collection[str]) -> builtins.list[StoredGrant]:
        """Grants addressed to `recipient` for cases in `queues` (unverified)."""
        if not queues:
            return []
        rows = self.db.conn.execute(
            "SELECT g.case_id, g.body FROM case_grants g JOIN cases c ON c.id = g.case_id"
            f" WHERE g.recipient = ? AND c.queue IN ({','.join('?' * len(queues))}) ORDER BY g.case_id",
            (bytes(recipient), *queues))
        return [StoredGrant(CaseId(str(r[0])), bytes(r[1])) for r in rows]
