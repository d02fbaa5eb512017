"""Entry codes (cover mode): the intake opens only for `/start <code>` with a code an admin minted.

Only a keyed hash of each code is stored (BLAKE2b keyed with the server's reference
pepper, as volunteer invitation codes are), so a seized database cannot give back a
working link. Rows carry random ids and coarse times; a use lowers a counter and
leaves no trace of which chat or case used it.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import NewType

import nacl.encoding
import nacl.hash
import nacl.utils

from crypto.envelope import valid_queue
from storage.cases import audit
from storage.db import Database, fresh_row_id
from storage.errors import StorageError

EntryCode = NewType("EntryCode", str)
EntryId = NewType("EntryId", int)

#: Letters and digits only (a deep-link payload allows [A-Za-z0-9_-]); no 0/O, 1/I.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 16  # 80 bits: guessing one of a few hundred live codes stays hopeless
MAX_USES = 10_000
MAX_VALID_DAYS = 3650
#: Telegram passes at most 64 characters after /start; anything longer is cut before hashing.
MAX_PAYLOAD = 64
_CODE_PERSON = b"ws-entry-code"
DAY = 86_400


class EntrySettingsInvalid(StorageError, ValueError):
    """Uses, validity or queue of a new entry code that cannot be used."""


class EntryNotFound(StorageError, KeyError):
    """No entry code with that id."""

    def __str__(self) -> str:
        return "no such entry code (see 'waystation entry list')"


@dataclass(frozen=True)
class EntryInfo:
    """An entry code as `entry list` shows it (never the code: only its hash is kept)."""

    id: EntryId
    queue: str | None
    uses_left: int
    created_by: str
    created_at: int
    expires_at: int


@dataclass(frozen=True)
class Admission:
    """What a valid code grants: the intake, routed to `queue` when the code names one."""

    queue: str | None


def new_entry_code() -> EntryCode:
    """A random code of CODE_LENGTH characters from CODE_ALPHABET (uniform: 256 % 32 == 0)."""
    raw = nacl.utils.random(CODE_LENGTH)
    return EntryCode("".join(CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in raw))


def hash_entry_code(payload: str, pepper: bytes) -> bytes:
    """The keyed hash stored in place of a code; any payload hashes, so a wrong one costs the same."""
    canonical = payload.strip()[:MAX_PAYLOAD].upper()
    return nacl.hash.blake2b(canonical.encode("utf-8", "replace"), key=pepper, person=_CODE_PERSON,
                             digest_size=32, encoder=nacl.encoding.RawEncoder)


class EntryStore:
    """Repository of entry codes."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, code_hash: bytes, *, queue: str | None, uses: int, valid_days: int, created_by: str,
               now: int) -> EntryId:
        """Store a new code's hash with its uses, validity and queue, and audit it."""
        if not 1 <= uses <= MAX_USES:
            raise EntrySettingsInvalid(f"uses must be 1..{MAX_USES}")
        if not 1 <= valid_days <= MAX_VALID_DAYS:
            raise EntrySettingsInvalid(f"valid days must be 1..{MAX_VALID_DAYS}")
        if queue is not None and not valid_queue(queue):
            raise EntrySettingsInvalid("the queue must be 1..64 of a-z, 0-9, '_', '-'")
        with self.db.transaction() as conn:
            entry_id = fresh_row_id(conn, "entry_codes", "id")
            conn.execute(
                "INSERT INTO entry_codes (id, code_hash, queue, uses_left, created_by, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (entry_id, code_hash, queue, uses, created_by, self.db.coarse(now),
                 self.db.coarse_after(now + valid_days * DAY)),
            )
            audit(conn, actor=created_by, action="entry.created", case_id=None, now=now)
        return EntryId(entry_id)

    def redeem(self, code_hash: bytes, now: int) -> Admission | None:
        """Use a code once; None if it is unknown, used up, expired or revoked.

        Every call runs the same two statements whatever the outcome, so a wrong code is
        answered no faster than a right one. Used-up and expired rows go in the same commit.
        """
        with self.db.transaction() as conn:
            row = conn.execute(
                "UPDATE entry_codes SET uses_left = uses_left - 1"
                " WHERE code_hash = ? AND uses_left > 0 AND expires_at > ? RETURNING queue",
                (code_hash, now),
            ).fetchone()
            conn.execute("DELETE FROM entry_codes WHERE uses_left <= 0 OR expires_at <= ?", (now,))
        return None if row is None else Admission(None if row[0] is None else str(row[0]))

    def list(self, now: int) -> builtins.list[EntryInfo]:
        """Codes still usable, soonest to expire first."""
        rows = self.db.conn.execute(
            "SELECT id, queue, uses_left, created_by, created_at, expires_at FROM entry_codes"
            " WHERE uses_left > 0 AND expires_at > ? ORDER BY expires_at, id", (now,)
        ).fetchall()
        return [EntryInfo(EntryId(int(r[0])), None if r[1] is None else str(r[1]), int(r[2]), str(r[3]),
                          int(r[4]), int(r[5])) for r in rows]

    def revoke(self, entry_id: int, actor: str, now: int) -> None:
        """Withdraw one code at once; raises EntryNotFound for an unknown id."""
        with self.db.transaction() as conn:
            if conn.execute("DELETE FROM entry_codes WHERE id = ?", (entry_id,)).rowcount == 0:
                raise EntryNotFound(entry_id)
            audit(conn, actor=actor, action="entry.revoked", case_id=None, now=now)

    def revoke_all(self, actor: str, now: int) -> int:
        """Withdraw every code; returns how many."""
        with self.db.transaction() as conn:
            count = int(conn.execute("DELETE FROM entry_codes").rowcount)
            if count:
                audit(conn, actor=actor, action="entry.revoked_all", case_id=None, now=now)
        return count
