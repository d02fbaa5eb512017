"""Volunteers: people who get content-free alerts in their own Telegram chat, and their invitations.

An admin makes a one-time invitation code on the server; only a keyed hash of
it is stored. The volunteer sends it to the bot, which records their chat as a
volunteer of the invitation's queues. A volunteer row holds a chat id: staff,
never a person who asked for help, and never linked to anything they typed.
"""

from __future__ import annotations

import builtins
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

import nacl.encoding
import nacl.hash
import nacl.utils

from crypto.envelope import valid_queue
from storage.cases import audit
from storage.daytime import QuietHours, TimeOfDayInvalid
from storage.db import Connection, Database
from storage.deletions import DeletionStore
from storage.errors import StorageError

VolunteerId = NewType("VolunteerId", int)
InviteCode = NewType("InviteCode", str)

#: No 0/O, 1/I: codes are read out and typed by hand.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12  # 60 bits
_CODE_PERSON = b"ws-invite-code"
#: Cyrillic and Greek capitals drawn like a letter of CODE_ALPHABET (after upper-casing).
_LOOK_ALIKES = str.maketrans("АВЕКМНРСТХУΑΒΕΚΜΝΡΤΧΥΖ", "ABEKMHPCTXYABEKMNPTXYZ")
MAX_LABEL = 40
TIERS = (1, 2)
#: Why a volunteer is inactive (`volunteers.inactive_reason`).
PAUSED = "paused"      # `volunteers set --inactive`
BLOCKED = "blocked"    # they blocked the bot (403)
REMOVED = "removed"    # `volunteers remove`: kept only until their chat's messages are deleted


class VolunteerNotFound(StorageError, KeyError):
    """No volunteer with that id."""

    def __str__(self) -> str:
        return "no such volunteer (see 'waystation volunteers list')"


class VolunteerRemoved(StorageError, KeyError):
    """The volunteer was removed: nothing about them can be changed any more."""

    def __str__(self) -> str:
        return ("that volunteer was removed; they are forgotten once their chat's messages are deleted "
                "(a new invitation enrols them again)")


class VolunteerSettingsInvalid(StorageError, ValueError):
    """A tier, queue, label or quiet-hours setting that cannot be used."""


class Removal(StrEnum):
    """What `VolunteerStore.remove` did."""

    ERASED = "erased"        # nothing of theirs left in their chat: the row is gone at once
    CLEARING = "clearing"    # kept (chat id, language, sent alerts) until their chat's messages are deleted
    ALREADY = "already"      # removed earlier and still clearing


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

    @property
    def removed(self) -> bool:
        """Removed by an admin: never alerted again, kept only until their chat's messages are deleted."""
        return self.inactive_reason == REMOVED

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
    """The code's characters, upper case, without separators; None if it cannot be a code.

    A code is read aloud and typed on phones, so any spacing or punctuation a person (or a
    keyboard's autocorrect) puts between its groups is dropped: spaces of every kind, dashes
    of every kind, dots, slashes, underscores. Full-width forms and Cyrillic or Greek capitals
    that look like the code's Latin letters (typed on a Russian or Ukrainian layout) count as those.
    """
    folded = unicodedata.normalize("NFKC", text).upper().translate(_LOOK_ALIKES)
    chars = "".join(ch for ch in folded if not _separator(ch))
    if len(chars) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in chars):
        return None
    return chars


def _separator(ch: str) -> bool:
    """Whitespace, punctuation and invisible format characters (e.g. a zero-width space)."""
    return ch.isspace() or unicodedata.category(ch)[0] in "PZ" or unicodedata.category(ch) == "Cf"


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
                " timezone, active, inactive_reason, enrolled_at, invited_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, NULL, ?, ?)"
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

    def circle(self, queue: str, round_: int, everyone: bool) -> builtins.list[Volunteer]:
        """Who round `round_` of a case in `queue` reaches, and so who may acknowledge it.

        Round 0: the queue's tier 1 (its tier 2 if it has no active tier 1). Later rounds: tiers 1
        and 2 of the queue, or with `everyone` (`escalate_to = "all"`) every active volunteer.
        """
        if round_ == 0:
            return self.active_for([queue], (1,)) or self.active_for([queue], (1, 2))
        return self.active_for(None if everyone else [queue], (1, 2))

    def admins(self) -> builtins.list[Volunteer]:
        """Active volunteers who receive admin notices (retention, long-unclaimed cases)."""
        return self._select("WHERE active = 1 AND admin_notices = 1 ORDER BY id", ())

    def update(self, volunteer_id: int, settings: Settings, *, language: str | None = None,
               active: bool | None = None, actor: str, now: int) -> Volunteer:
        """Replace a volunteer's settings (queues, tier, label, notices, quiet hours); optionally (re)activate."""
        quiet = settings.quiet
        with self.db.transaction() as conn:
            self._refuse_removed(conn, volunteer_id)
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
                self._deactivate(conn, volunteer_id, PAUSED)
            audit(conn, actor=actor, action="volunteer.changed", case_id=None, now=now)
        return self.get(volunteer_id)

    def remove(self, volunteer_id: int, actor: str, now: int) -> Removal:
        """Stop alerting a volunteer at once and forget their settings; erase them once their chat is clear.

        Copies of alerts still in their chat must lose their button and be edited when the case
        is taken, and their chat must stay on the volunteer deletion timer: so the row keeps
        only the chat id and language (queues, label, quiet hours and notices go now) until
        every message of their chat is deleted (`erase_removed`). Nothing is sent to them
        again, and a press of theirs changes nothing. Raises VolunteerNotFound.
        """
        with self.db.transaction() as conn:
            row = conn.execute("SELECT inactive_reason FROM volunteers WHERE id = ?", (volunteer_id,)).fetchone()
            if row is None:
                raise VolunteerNotFound(volunteer_id)
            if row[0] == REMOVED:
                return Removal.ERASED if self._erase_cleared(conn, actor, now, volunteer_id) else Removal.ALREADY
            self._deactivate(conn, volunteer_id, REMOVED)
            conn.execute("UPDATE volunteers SET label = '', admin_notices = 0, quiet_start = NULL, quiet_end = NULL,"
                         " timezone = 'UTC' WHERE id = ?", (volunteer_id,))
            conn.execute("DELETE FROM volunteer_queues WHERE volunteer_id = ?", (volunteer_id,))
            audit(conn, actor=actor, action="volunteer.removed", case_id=None, now=now)
            return Removal.ERASED if self._erase_cleared(conn, actor, now, volunteer_id) else Removal.CLEARING

    def erase_removed(self, actor: str, now: int) -> int:
        """Forget removed volunteers whose chats hold no message any more (the bot's periodic check)."""
        if self.db.conn.execute("SELECT 1 FROM volunteers WHERE inactive_reason = ? LIMIT 1", (REMOVED,)).fetchone() \
                is None:
            return 0  # the usual case: no write transaction every few seconds
        with self.db.transaction() as conn:
            return self._erase_cleared(conn, actor, now, None)

    # -- helpers -------------------------------------------------------------------------------

    def _erase_cleared(self, conn: Connection, actor: str, now: int, volunteer_id: int | None) -> int:
        """Delete removed volunteers (one, or all) with nothing left to delete in their chat; audited."""
        rows = conn.execute("SELECT id, chat_id FROM volunteers WHERE inactive_reason = ?"
                            + (" AND id = ?" if volunteer_id is not None else ""),
                            (REMOVED,) if volunteer_id is None else (REMOVED, volunteer_id)).fetchall()
        # A message still on the deletion list may still show an alert that needs its final text.
        deletions = DeletionStore(self.db)
        cleared = [int(r[0]) for r in rows if deletions.chat(int(r[1])) is None]
        for cleared_id in cleared:
            conn.execute("DELETE FROM volunteers WHERE id = ?", (cleared_id,))  # their messages' rows go with it
            audit(conn, actor=actor, action="volunteer.erased", case_id=None, now=now)
        return len(cleared)

    @staticmethod
    def _refuse_removed(conn: Connection, volunteer_id: int) -> None:
        row = conn.execute("SELECT inactive_reason FROM volunteers WHERE id = ?", (volunteer_id,)).fetchone()
        if row is not None and row[0] == REMOVED:
            raise VolunteerRemoved(volunteer_id)

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
