"""The roster over time: valid, in its grace period, expired; what is about to expire; renewal.

A roster stops being usable for new requests when it expires, or when the admin who signed it
expires on it, whichever comes first (crypto.roster.SignedRoster.expires). Refusing every
request from that moment would turn an overlooked date into a lockout of the people the
service exists for, so for `[roster] grace_days` after it, requests are still sealed to the
caseworkers the roster listed *at the moment it expired* (never anyone added or revoked later:
there is no later roster), while the log, doctor, /metrics and the admins' notices say so.
After the grace, requests are refused. Renewal works before, during and after: it loads the
roster with crypto.roster.load_roster_for_renewal, which checks everything but the dates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from nacl.signing import VerifyKey

from crypto.errors import RosterChangeRefused
from crypto.keys import Identity
from crypto.roster import DAY, Member, Role, Roster, SignedRoster, sign_roster

if TYPE_CHECKING:
    from storage.server import Server

#: Days before an expiry when it is announced (admins' notices; doctor warns from the first).
NOTICE_DAYS: tuple[int, ...] = (14, 7, 1)
WARN_DAYS = max(NOTICE_DAYS)


class Phase(StrEnum):
    """Where the roster stands: usable, past its expiry but in its grace period, or past both."""

    VALID = "valid"
    GRACE = "grace"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Standing:
    """A verified roster, where it stands at `now`, and the dates that decide it."""

    roster: Roster
    signer: Member
    phase: Phase
    expires: int  # when it stops being usable: its own expiry or its signer's, whichever is first
    grace_ends: int  # when requests stop being sealed to its caseworkers of the moment it expired
    now: int

    @property
    def at(self) -> int:
        """The moment whose members count: `now` while valid, the roster's last valid second after."""
        return self.now if self.phase is Phase.VALID else self.expires - 1

    @property
    def seconds_left(self) -> int:
        """Seconds until the roster expires (negative once it has)."""
        return self.expires - self.now

    def sealable(self) -> bool:
        """Whether requests may still be sealed to its caseworkers (valid, or in its grace)."""
        return self.phase is not Phase.EXPIRED


def standing(signed: SignedRoster, now: int, grace_days: int) -> Standing:
    """Where `signed` stands at `now` with `grace_days` of grace."""
    expires = signed.expires
    grace_ends = expires + grace_days * DAY
    phase = Phase.VALID if now < expires else Phase.GRACE if now < grace_ends else Phase.EXPIRED
    return Standing(signed.roster, signed.signer, phase, expires, grace_ends, now)


def date(ts: int) -> str:
    """A day as notices and findings print it (UTC)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def within(seconds: int) -> str:
    """'in N days' (or hours, under a day) for a time ahead, as logs and doctor say it."""
    if seconds < DAY:
        hours = max(1, seconds // 3600)
        return f"in {hours} hour{'s' if hours != 1 else ''}"
    days = seconds // DAY
    return f"in {days} day{'s' if days != 1 else ''}"


def notice_threshold(seconds_left: int, days: Sequence[int] = NOTICE_DAYS) -> int | None:
    """The smallest of `days` that `seconds_left` falls within (None: not yet, or already past)."""
    if seconds_left <= 0:
        return None
    within = [d for d in days if seconds_left <= d * DAY]
    return min(within) if within else None


def expiring_members(roster: Roster, now: int, within: int) -> tuple[Member, ...]:
    """Members active at `now` whose membership ends within `within` seconds, soonest first."""
    return tuple(sorted((m for m in roster.members if m.active(now) and m.expires - now <= within),
                        key=lambda m: (m.expires, m.name)))


def expired_members(roster: Roster, now: int) -> tuple[Member, ...]:
    """Members past their expiry who were never revoked: 'roster renew --members' brings them back."""
    return tuple(m for m in roster.members if m.revoked is None and now >= m.expires)


# -- signing an edit -------------------------------------------------------------------------------


def sign_edit(server: Server, admin: Identity, now: int, change: Callable[[Roster], Roster],
              new_admins: list[tuple[VerifyKey, str]] | None = None) -> Roster:
    """Apply `change` to the current roster (whatever its dates), sign it with `admin` and save it.

    The admin must be on the roster, never revoked, and pinned in trusted_admins; the signed
    result is verified for use at `now` before it replaces roster.json, so an admin whose own
    membership has expired must extend it in the same edit (`roster renew --members`).
    """
    current = server.roster_for_renewal()
    me = current.by_verify_key(admin.signing_key.verify_key)
    if me is None or me.role is not Role.ADMIN:
        raise RosterChangeRefused(f"{admin.name} is not an admin on this roster: only an admin's key may sign it")
    if me.revoked is not None:
        raise RosterChangeRefused(f"{me.name} is revoked on the roster: a revoked admin can never sign it")
    pinned = {bytes(k) for k in server.home.trusted_admins()}
    if bytes(admin.signing_key.verify_key) not in pinned:
        raise RosterChangeRefused(f"{me.name}'s key is not pinned in {server.home.trusted_admins_path}: "
                                  "a roster it signs would not verify here")
    updated = change(current)
    signer = updated.by_verify_key(admin.signing_key.verify_key)
    if signer is not None and signer.revoked is None and not signer.active(now):
        raise RosterChangeRefused(f"{me.name} expired on the roster on {date(signer.expires)}: run "
                                  "'waystation roster renew --members' to extend every member, you included")
    server.save_roster(sign_roster(updated, admin), now, new_admins=new_admins)
    return updated


def renew(server: Server, admin: Identity, now: int, *, members: bool = False) -> Roster:
    """Re-sign the roster for `[roster] valid_days` from `now`; with `members`, extend every unrevoked member too.

    Works before, during and after the grace period; refuses a revoked or unpinned admin and
    never lowers the serial (server.roster_for_renewal refuses a rolled-back file).
    """
    config = server.config.roster
    return sign_edit(server, admin, now,
                     lambda current: current.renewed(now, config.valid_days, config.member_days if members else None))
