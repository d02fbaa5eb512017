"""The roster: the signed list of vetted staff, their roles, queues and keys.

A roster file is a JSON wrapper around the exact bytes of its body, an
Ed25519 signature over those bytes and the signer's public key. Verifying
checks the signature against the trusted admin keys the caller pins, that the
signer is an admin of the roster itself who was never revoked on it, and that
the roster is not older than one already seen (revocations cannot be undone by
putting an old file back). None of that depends on the clock.

Two ways to load one, for two purposes:

- `load_roster(..., now=)`: a roster **for use** (sealing requests, authorising
  staff) must also be unexpired at `now`, and so must its signer's membership.
- `load_roster_for_renewal(...)`: a roster an admin is about to edit and
  re-sign, whatever its dates. Expiry is what renewal ends, so it must not stop
  renewal; revocation, pinning and rollback still do: a revoked admin can never
  sign, and an expired one only if their key is still pinned.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

import nacl.exceptions
from nacl.signing import VerifyKey

from crypto.encoding import b64, dump_object, expect, load_object, unb64
from crypto.envelope import valid_queue
from crypto.errors import (
    KeyFileInvalid,
    RosterChangeRefused,
    RosterExpired,
    RosterMalformed,
    RosterRolledBack,
    RosterSignatureInvalid,
)
from crypto.keys import Identity, PublicIdentity, public_from_json, public_to_json

ROSTER_FORMAT = "waystation-roster"
ROSTER_VERSION = 1
DAY = 86_400


class Role(StrEnum):
    """What a staff member may do."""

    ADMIN = "admin"
    CASEWORKER = "caseworker"
    VOLUNTEER = "volunteer"


@dataclass(frozen=True)
class Member:
    """One vetted person on the roster."""

    identity: PublicIdentity
    role: Role
    queues: tuple[str, ...]
    added: int
    expires: int
    revoked: int | None = None

    @property
    def name(self) -> str:
        """The member's name as written on the roster."""
        return self.identity.name

    def active(self, now: int) -> bool:
        """Neither revoked nor expired at time `now`."""
        return self.revoked is None and now < self.expires


@dataclass(frozen=True)
class Roster:
    """A verified roster (or one being prepared for signing)."""

    serial: int
    issued: int
    expires: int
    members: tuple[Member, ...]

    def find(self, name: str) -> Member | None:
        """The member with this name, if any."""
        return next((m for m in self.members if m.name == name), None)

    def by_verify_key(self, key: VerifyKey) -> Member | None:
        """The member whose signing key this is, if any."""
        return next((m for m in self.members if m.identity.verify_key == key), None)

    def caseworkers_for(self, queue: str, now: int) -> tuple[Member, ...]:
        """Active caseworkers of `queue`: the only people new cases are encrypted to."""
        return tuple(
            m for m in self.members if m.role is Role.CASEWORKER and queue in m.queues and m.active(now)
        )

    def admins(self, now: int) -> tuple[Member, ...]:
        """Active admins."""
        return tuple(m for m in self.members if m.role is Role.ADMIN and m.active(now))

    def queues(self) -> tuple[str, ...]:
        """Every queue named by any member, sorted."""
        return tuple(sorted({q for m in self.members for q in m.queues}))

    # -- edits: each returns a new roster with a higher serial, to be signed ----

    def with_member(self, member: Member, now: int, valid_days: int) -> Roster:
        """Add a member; refuses a duplicate name or key."""
        for other in self.members:
            if other.name == member.name:
                raise RosterChangeRefused(f"the roster already has a member called {member.name!r}")
            same_key = (other.identity.verify_key == member.identity.verify_key
                        or other.identity.box_key == member.identity.box_key)
            if same_key:
                raise RosterChangeRefused(f"this key is already on the roster as {other.name!r}")
        _check_member(member)
        return self._next(self.members + (member,), now, valid_days)

    def with_revoked(self, name: str, now: int, valid_days: int) -> Roster:
        """Revoke a member by name; the record stays, marked revoked."""
        member = self.find(name)
        if member is None:
            raise RosterChangeRefused(f"no member called {name!r} on the roster")
        if member.revoked is not None:
            raise RosterChangeRefused(f"{name!r} is already revoked")
        members = tuple(replace(m, revoked=now) if m.name == name else m for m in self.members)
        candidate = self._next(members, now, valid_days)
        if not candidate.admins(now):
            raise RosterChangeRefused("revoking the last active admin would leave nobody able to sign the roster")
        return candidate

    def renewed(self, now: int, valid_days: int, member_days: int | None = None) -> Roster:
        """The same members under a new serial and expiry.

        With `member_days`, every member not revoked (admins included) is also extended to
        `now + member_days` days; nobody's expiry is ever brought forward, and revoked members stay
        revoked.
        """
        members = self.members
        if member_days is not None:
            if member_days < 1:
                raise RosterChangeRefused("members must be extended by at least one day")
            until = now + member_days * DAY
            members = tuple(m if m.revoked is not None or m.expires >= until else replace(m, expires=until)
                            for m in members)
        return self._next(members, now, valid_days)

    def _next(self, members: tuple[Member, ...], now: int, valid_days: int) -> Roster:
        if valid_days < 1:
            raise RosterChangeRefused("a roster must be valid for at least one day")
        return Roster(self.serial + 1, now, now + valid_days * DAY, members)


def new_roster(admin: PublicIdentity, now: int, valid_days: int, member_days: int) -> Roster:
    """A first roster holding only its admin."""
    member = Member(admin, Role.ADMIN, (), now, now + member_days * DAY)
    return Roster(0, now, now, ()).with_member(member, now, valid_days)


def _check_member(member: Member) -> None:
    for queue in member.queues:
        if not valid_queue(queue):
            raise RosterChangeRefused(f"queue {queue!r} must be 1..64 of a-z, 0-9, '_', '-'")
    if member.role is Role.CASEWORKER and not member.queues:
        raise RosterChangeRefused("a caseworker needs at least one queue")
    if member.expires <= member.added:
        raise RosterChangeRefused("a member must expire after being added")


def _member_to_json(member: Member) -> dict[str, object]:
    return {
        **public_to_json(member.identity),
        "role": member.role.value,
        "queues": list(member.queues),
        "added": member.added,
        "expires": member.expires,
        "revoked": member.revoked,
    }


def _member_from_json(obj: object) -> Member:
    if not isinstance(obj, dict):
        raise RosterMalformed("roster member must be an object")
    try:
        identity = public_from_json(obj)
    except KeyFileInvalid as err:
        raise RosterMalformed(f"roster member key: {err}") from err
    role_name = obj.get("role")
    try:
        role = Role(role_name) if isinstance(role_name, str) else None
    except ValueError:
        role = None
    if role is None:
        raise RosterMalformed("roster member has an unknown role")
    queues = obj.get("queues")
    if not isinstance(queues, list) or not all(isinstance(q, str) and valid_queue(q) for q in queues):
        raise RosterMalformed("roster member queues must be a list of queue names")
    revoked = obj.get("revoked")
    if revoked is not None and (not isinstance(revoked, int) or isinstance(revoked, bool)):
        raise RosterMalformed("roster member 'revoked' must be a time or null")
    added = expect(obj, "added", int, "roster member", RosterMalformed)
    expires = expect(obj, "expires", int, "roster member", RosterMalformed)
    return Member(identity, role, tuple(queues), added, expires, revoked)


def sign_roster(roster: Roster, admin: Identity) -> bytes:
    """Serialise and sign a roster with an admin identity that is active on it."""
    member = roster.by_verify_key(admin.signing_key.verify_key)
    if member is None or member.role is not Role.ADMIN or member.revoked is not None:
        raise RosterChangeRefused("only an active admin on the roster may sign it")
    body = dump_object(
        {
            "format": ROSTER_FORMAT,
            "version": ROSTER_VERSION,
            "serial": roster.serial,
            "issued": roster.issued,
            "expires": roster.expires,
            "members": [_member_to_json(m) for m in roster.members],
        }
    )
    wrapper = {
        "format": ROSTER_FORMAT,
        "body": b64(body),
        "signer": b64(bytes(admin.signing_key.verify_key)),
        "signature": b64(admin.signing_key.sign(body).signature),
    }
    return dump_object(wrapper) + b"\n"


@dataclass(frozen=True)
class SignedRoster:
    """A roster whose signature, signer and serial verified, and the member who signed it.

    Its dates are not checked yet: `for_use` does that against a clock.
    """

    roster: Roster
    signer: Member

    @property
    def expires(self) -> int:
        """When the roster stops being usable: its own expiry, or its signer's membership's if sooner."""
        return min(self.roster.expires, self.signer.expires)

    def for_use(self, now: int) -> Roster:
        """The roster, if neither it nor its signer's membership has expired at `now`; else RosterExpired."""
        if now >= self.roster.expires:
            raise RosterExpired("the roster has expired; an admin must renew and re-sign it")
        if now >= self.signer.expires:
            raise RosterExpired(f"the admin who signed the roster ({self.signer.name}) has expired on it; "
                                "an admin must renew it with its members ('roster renew --members')")
        return self.roster


def verify_roster(data: bytes, *, trusted_admins: Collection[VerifyKey], min_serial: int = 0) -> SignedRoster:
    """Verify a roster file in everything the clock does not decide.

    `trusted_admins` are the admin signing keys pinned by the server (the trust anchor); the
    signer must be one of them and an admin on the roster who was never revoked on it; the
    serial must be at least `min_serial`. Raises RosterSignatureInvalid, RosterRolledBack or
    RosterMalformed.
    """
    wrapper = load_object(data, "roster file", RosterMalformed)
    if wrapper.get("format") != ROSTER_FORMAT:
        raise RosterMalformed("not a Waystation roster file")
    body = unb64(wrapper.get("body"), None, "roster body", RosterMalformed)
    signer_raw = unb64(wrapper.get("signer"), 32, "roster signer", RosterMalformed)
    signature = unb64(wrapper.get("signature"), 64, "roster signature", RosterMalformed)
    signer = next((k for k in trusted_admins if bytes(k) == signer_raw), None)
    if signer is None:
        raise RosterSignatureInvalid("roster is signed by a key that is not a trusted admin")
    try:
        signer.verify(body, signature)
    except nacl.exceptions.BadSignatureError as err:
        raise RosterSignatureInvalid("roster signature does not verify: the file was altered") from err
    roster = _parse_body(body)
    member = roster.by_verify_key(signer)
    if member is None or member.role is not Role.ADMIN:
        raise RosterSignatureInvalid("roster signer is not an admin on the roster")
    if member.revoked is not None:
        # A revoked admin signs nothing, whatever the date and whoever still pins the key.
        raise RosterSignatureInvalid("roster signer is revoked on the roster")
    if roster.serial < min_serial:
        raise RosterRolledBack(
            f"roster serial {roster.serial} is below {min_serial}, the lowest still acceptable: "
            "an older roster could undo a revocation"
        )
    return SignedRoster(roster, member)


def load_roster(
    data: bytes,
    *,
    trusted_admins: Collection[VerifyKey],
    now: int,
    min_serial: int = 0,
) -> Roster:
    """Verify and parse a roster file for use at `now` (sealing requests, authorising staff).

    Everything `verify_roster` checks, and that neither the roster nor its signer's membership
    has expired. Raises RosterSignatureInvalid, RosterExpired, RosterRolledBack or
    RosterMalformed.
    """
    return verify_roster(data, trusted_admins=trusted_admins, min_serial=min_serial).for_use(now)


def load_roster_for_renewal(data: bytes, *, trusted_admins: Collection[VerifyKey], min_serial: int = 0) -> Roster:
    """Verify and parse a roster file that an admin will edit and re-sign, whatever its dates.

    Expiry is not checked: it is what renewal ends, so a roster (or the admin who signed it)
    that expired can still be renewed without new keys. The signature, the pinned signer, its
    revocation and the serial are checked exactly as for use, and the new roster is verified
    for use again before it is saved (storage.server.Server.save_roster).
    """
    return verify_roster(data, trusted_admins=trusted_admins, min_serial=min_serial).roster


def _parse_body(body: bytes) -> Roster:
    obj = load_object(body, "roster body", RosterMalformed)
    if obj.get("format") != ROSTER_FORMAT or obj.get("version") != ROSTER_VERSION:
        raise RosterMalformed("roster body has an unknown format or version")
    members_raw = obj.get("members")
    if not isinstance(members_raw, list):
        raise RosterMalformed("roster members must be a list")
    members = tuple(_member_from_json(m) for m in members_raw)
    _check_unique(members)
    return Roster(
        expect(obj, "serial", int, "roster", RosterMalformed),
        expect(obj, "issued", int, "roster", RosterMalformed),
        expect(obj, "expires", int, "roster", RosterMalformed),
        members,
    )


def _check_unique(members: Iterable[Member]) -> None:
    names: set[str] = set()
    keys: set[bytes] = set()
    for m in members:
        if m.name in names:
            raise RosterMalformed("roster names a member twice")
        names.add(m.name)
        for raw in (bytes(m.identity.verify_key), bytes(m.identity.box_key)):
            if raw in keys:
                raise RosterMalformed("roster lists one key twice")
            keys.add(raw)
