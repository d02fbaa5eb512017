"""Volunteers: people who get content-free alerts in their own Telegram chat, and their invitations.

An admin makes a one-time invitation code on the server; only a keyed hash of
it is stored. The volunteer sends it to the bot, which records their chat as a
volunteer of the invitation's queues. A volunteer row holds a chat id: staff,
never a person who asked for help, and never linked to anything they typed.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import NewType

import nacl.encoding
import nacl.hash
import nacl.utils

from crypto.envelope import valid_queue
from storage.cases import audit
from storage.daytime import QuietHours, TimeOfDayInvalid
from storage.db import Connection, Database
from storage.errors import StorageError

VolunteerId = NewType("VolunteerId", int)
InviteCode = NewType("InviteCode", str)

#: No 0/O, 1/I: codes are read out and typed by hand.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12  # 60 bits
_CODE_PERSON = b"ws-invite-code"
MAX_LABEL = 40
TIERS = (1, 2)


class VolunteerNotFound(StorageError, KeyError):
    """No volunteer with that id."""

    def __str__(self) -> str:
        return "no such volunteer (see 'waystation volunteers list')"


class VolunteerSettingsInvalid(StorageError, ValueError):
    """A tier, queue, label or quiet-hours setting that cannot be used."""


@dataclass(frozen=True)
class Volunteer:
    """One enrolled volunteer chat and how to reach it."""

    id: VolunteerId
    chat_id: int
    label: str
    language: str
    tier: int
    queues: tuple[str, ...]
    admin_notices: bool
    quiet: QuietHours | None
    active: bool
    inactive_reason: str | None
    enrolled_at: int
    invited_by: str

    def in_quiet_hours(self, now: float) -> bool:
        """True while this volunteer asked not to be disturbed."""
        return self.quiet is not None and self.quiet.contains(now)


@dataclass(frozen=True)
class Settings:
    """What an invitation grants, and what `volunteers set` changes."""

    queues: tuple[str, ...]
    tier: int = 1
    label: str = ""
    admin_notices: bool = False
    quiet: QuietHours | None = None

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise VolunteerSettingsInvalid("the tier must be 1 (first alerted) or 2 (reached by escalation)")
        for queue in self.queues:
            if not valid_queue(queue):
                raise VolunteerSettingsInvalid(f"queue {queue!r}: use 1..64 of a-z, 0-9, '_', '-'")
        if len(self.label) > MAX_LABEL or any(not ch.isprintable() for ch in self.label):
            raise VolunteerSettingsInvalid(f"the label must be at most {MAX_LABEL} printable characters")


@dataclass(frozen=True)
class PendingInvite:
    """An invitation not used yet (its code is not stored, only its hash)."""

    queues: tuple[str, ...]
    invited_by: str
    created_at: int
    expires_at: int


def new_invite_code() -> InviteCode:
    """A random code, grouped for reading aloud: XXXX-XXXX-XXXX (60 bits)."""
    raw = nacl.utils.random(CODE_LENGTH)
    chars = "".join(CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in raw)  # 256 % 32 == 0: uniform
    return InviteCode("-".join(chars[i : i + 4] for i in range(0, CODE_LENGTH, 4)))


def normalise_code(text: str) -> str | None:
    """The code's characters, upper case, without dashes or spaces; None if it cannot be a code."""
    chars = "".join(ch for ch in text.upper() if ch not in "- ")
    if len(chars) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in chars):
        return None
    return chars


def hash_code(code: str, pepper: bytes) -> bytes:
    """The keyed hash stored in place of an invitation code."""
    return nacl.hash.blake2b(code.encode("ascii"), key=pepper, person=_CODE_PERSON, digest_size=32,
                             encoder=nacl.encoding.RawEncoder)


_COLUMNS = ("id, chat_id, label, language, tier, admin_notices, quiet_start, quiet_end, timezone, active,"
            " inactive_reason, enrolled_at, invited_by")


def _quiet(start: object, end: object, timezone: object) -> QuietHours | None:
    if start is None or end is None:
        return None
    try:
        return QuietHours(int(start), int(end), str(timezone))  # type: ignore[call-overload]
    except TimeOfDayInvalid:
        return None  # a zone that vanished from the system's tzdata: no quiet hours rather than no alerts


class VolunteerStore:
    """Repository of volunteers and invitations."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- invitations ---------------------------------------------------------------------------

    def create_invite(self, code_hash: bytes, settings: Settings, invited_by: str, now: int, expires_at: int) -> None:
        """Store an invitation (its code's hash only) and audit it."""
        quiet = settings.quiet
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO volunteer_invites (code_hash, queues, label, tier, admin_notices, quiet_start, quiet_end,"
                " timezone, invited_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (code_hash, ",".join(settings.queues), settings.label, settings.tier, int(settings.admin_notices),
                 quiet.start if quiet else None, quiet.end if quiet else None, quiet.timezone if quiet else "UTC",
                 invited_by, now, expires_at),
            )
            audit(conn, actor=invited_by, action="volunteer.invited", case_id=None, now=now)

    def redeem(self, code_hash: bytes, chat_id: int, language: str, now: int) -> Volunteer | None:
        """Use an invitation once: the chat becomes (or is updated as) a volunteer. None if unknown or expired."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "DELETE FROM volunteer_invites WHERE code_hash = ? RETURNING queues, label, tier, admin_notices,"
                " quiet_start, quiet_end, timezone, invited_by, expires_at", (code_hash,)
            ).fetchone()
            conn.execute("DELETE FROM volunteer_invites WHERE expires_at <= ?", (now,))
            if row is None or int(row[8]) <= now:
                return None
            queues = tuple(q for q in str(row[0]).split(",") if q)
            conn.execute(
                "INSERT INTO volunteers (chat_id, label, language, tier, admin_notices, quiet_start, quiet_end,"
                " timezone, active, inactive_reason, enrolled_at, invited_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, NULL, ?, ?)"
                " ON CONFLICT (chat_id) DO UPDATE SET label = excluded.label, language = excluded.language,"
                " tier = excluded.tier, admin_notices = excluded.admin_notices, quiet_start = excluded.quiet_start,"
                " quiet_end = excluded.quiet_end, timezone = excluded.timezone, active = 1, inactive_reason = NULL,"
                " enrolled_at = excluded.enrolled_at, invited_by = excluded.invited_by",
                (chat_id, row[1], language, row[2], row[3], row[4], row[5], row[6], now, row[7]),
            )
            volunteer_id = VolunteerId(int(conn.execute("SELECT id FROM volunteers WHERE chat_id = ?",
                                                        (chat_id,)).fetchone()[0]))
            self._set_queues(conn, volunteer_id, queues)
            audit(conn, actor=f"volunteer:{volunteer_id}", action="volunteer.enrolled", case_id=None, now=now)
        return self.get(volunteer_id)

    def pending_invites(self, now: int) -> builtins.list[PendingInvite]:
        """Invitations still usable."""
        rows = self.db.conn.execute(
            "SELECT queues, invited_by, created_at, expires_at FROM volunteer_invites WHERE expires_at > ?"
            " ORDER BY created_at", (now,))
        return [PendingInvite(tuple(q for q in str(r[0]).split(",") if q), str(r[1]), int(r[2]), int(r[3]))
                for r in rows]

    def drop_invites(self, actor: str, now: int) -> int:
        """Withdraw every unused invitation; returns how many."""
        with self.db.transaction() as conn:
            count = conn.execute("DELETE FROM volunteer_invites").rowcount
            if count:
                audit(conn, actor=actor, action="volunteer.invites_withdrawn", case_id=None, now=now)
        return int(count)

    # -- volunteers ----------------------------------------------------------------------------

    def get(self, volunteer_id: int) -> Volunteer:
        """One volunteer; raises VolunteerNotFound."""
        found = self._select("WHERE id = ?", (volunteer_id,))
        if not found:
            raise VolunteerNotFound(volunteer_id)
        return found[0]

    def by_chat(self, chat_id: int) -> Volunteer | None:
        """The volunteer enrolled from this chat, if any."""
        found = self._select("WHERE chat_id = ?", (chat_id,))
        return found[0] if found else None

    def list(self) -> builtins.list[Volunteer]:
        """Every volunteer, active or not."""
        return self._select("ORDER BY id", ())

    def active_for(self, queues: Collection[str] | None, tiers: Collection[int]) -> builtins.list[Volunteer]:
        """Active volunteers of any of `queues` (None: of every queue) in `tiers`."""
        return [v for v in self._select("WHERE active = 1 ORDER BY id", ())
                if v.tier in tiers and (queues is None or any(q in queues for q in v.queues))]

    def admins(self) -> builtins.list[Volunteer]:
        """Active volunteers who receive admin notices (retention, long-unclaimed cases)."""
        return self._select("WHERE active = 1 AND admin_notices = 1 ORDER BY id", ())

    def update(self, volunteer_id: int, settings: Settings, *, language: str | None = None,
               active: bool | None = None, actor: str, now: int) -> Volunteer:
        """Replace a volunteer's settings (queues, tier, label, notices, quiet hours); optionally (re)activate."""
        quiet = settings.quiet
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE volunteers SET label = ?, tier = ?, admin_notices = ?, quiet_start = ?, quiet_end = ?,"
                " timezone = ?, language = coalesce(?, language) WHERE id = ?",
                (settings.label, settings.tier, int(settings.admin_notices), quiet.start if quiet else None,
                 quiet.end if quiet else None, quiet.timezone if quiet else "UTC", language, volunteer_id),
            )
            if cur.rowcount != 1:
                raise VolunteerNotFound(volunteer_id)
            self._set_queues(conn, VolunteerId(volunteer_id), settings.queues)
            if active is True:
                conn.execute("UPDATE volunteers SET active = 1, inactive_reason = NULL WHERE id = ?", (volunteer_id,))
            elif active is False:
                self._deactivate(conn, volunteer_id, "paused")
            audit(conn, actor=actor, action="volunteer.changed", case_id=None, now=now)
        return self.get(volunteer_id)

    def remove(self, volunteer_id: int, actor: str, now: int) -> None:
        """Forget a volunteer entirely (their chat id and settings)."""
        with self.db.transaction() as conn:
            if conn.execute("DELETE FROM volunteers WHERE id = ?", (volunteer_id,)).rowcount != 1:
                raise VolunteerNotFound(volunteer_id)
            audit(conn, actor=actor, action="volunteer.removed", case_id=None, now=now)

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _deactivate(conn: Connection, volunteer_id: int, reason: str) -> None:
        """Stop sending to a volunteer; what was still owed to them is cancelled."""
        conn.execute("UPDATE volunteers SET active = 0, inactive_reason = ? WHERE id = ?", (reason, volunteer_id))
        conn.execute("UPDATE volunteer_messages SET state = 'cancelled' WHERE volunteer_id = ? AND state = 'pending'",
                     (volunteer_id,))

    @staticmethod
    def _set_queues(conn: Connection, volunteer_id: VolunteerId, queues: Iterable[str]) -> None:
        conn.execute("DELETE FROM volunteer_queues WHERE volunteer_id = ?", (volunteer_id,))
        conn.executemany("INSERT OR IGNORE INTO volunteer_queues (volunteer_id, queue) VALUES (?, ?)",
                         [(volunteer_id, q) for q in queues])

    def _select(self, where: str, params: tuple[object, ...]) -> builtins.list[Volunteer]:
        queues: dict[int, builtins.list[str]] = {}
        for volunteer_id, queue in self.db.conn.execute(
                "SELECT volunteer_id, queue FROM volunteer_queues ORDER BY queue"):
            queues.setdefault(int(volunteer_id), []).append(str(queue))
        rows = self.db.conn.execute(f"SELECT {_COLUMNS} FROM volunteers {where}", params).fetchall()
        return [
            Volunteer(VolunteerId(int(r[0])), int(r[1]), str(r[2]), str(r[3]), int(r[4]),
                      tuple(queues.get(int(r[0]), ())), bool(r[5]), _quiet(r[6], r[7], r[8]), bool(r[9]),
                      None if r[10] is None else str(r[10]), int(r[11]), str(r[12]))
            for r in rows
        ]
