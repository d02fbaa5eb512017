"""The roster over time: grace after expiry for intake only, renewal before, during and after, never by one revoked."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crypto.envelope import Kind, verify
from crypto.errors import RosterChangeRefused
from crypto.keys import Identity, key_id
from crypto.reference import REFERENCE_COST_MINIMUM, hash_reference
from crypto.roster import DAY, Member, Role, Roster, sign_roster
from intake.followups import add_follow_up
from intake.requests import (
    Request,
    new_ticket,
    recipients_for,
    seal_request,
    store_sealed,
)
from ops.backup import roster_admin_keys
from storage.errors import IntakeRefused, RosterUnavailable
from storage.home import Home
from storage.rosterlife import Phase, notice_threshold, renew
from storage.server import Server
from tests.conftest import StaffedHome

pytestmark = pytest.mark.timeout(60)

REQUEST = Request({"help": "need a safe place"})


def _now() -> int:
    return int(time.time())


def _intake(server: Server, now: int, queue: str = "main") -> set[bytes]:
    """A request sealed and stored as the bot does it (cheap reference hash); the key ids it went to."""
    ticket = new_ticket(server.pepper(), reply_key=False, cost=REFERENCE_COST_MINIMUM)
    sealed = seal_request(REQUEST, queue=queue, recipients=recipients_for(server, queue, now),
                          bot=server.bot_identity(), pepper=server.pepper(), now=now, ticket=ticket)
    receipt = store_sealed(server, sealed, now)
    envelope = server.cases.fetch(receipt.case_id).envelope
    assert envelope is not None
    header = verify(envelope, trusted_signers=server.trusted_bot_keys(), case_id=receipt.case_id, queue=queue,
                    kinds={Kind.REQUEST})
    return {bytes(k) for k in header.recipients}


def _ids(staffed: StaffedHome, *names: str) -> set[bytes]:
    return {bytes(key_id(staffed.staff[n].box_private.public_key)) for n in names}


def _edit(server: Server, staffed: StaffedHome, now: int, change: object) -> Roster:
    updated: Roster = change(server.roster_for_renewal())  # type: ignore[operator]
    server.save_roster(sign_roster(updated, staffed.admin), now)
    return updated


def _set_grace(root: Path, days: int) -> None:
    config = root / "config.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("grace_days = 30", f"grace_days = {days}"),
                      encoding="utf-8")


def test_during_the_grace_intake_seals_to_the_caseworkers_of_the_moment_it_expired(
        server: Server, staffed_home: StaffedHome) -> None:
    now = _now()
    short = Identity.generate("cas-short")
    _edit(server, staffed_home, now, lambda r: r.with_member(
        Member(short.public, Role.CASEWORKER, ("main",), now, now + 10 * DAY), now, 30))
    expires = server.roster(now).expires
    later = expires + 3 * DAY
    with pytest.raises(RosterUnavailable, match="expired"):
        server.roster(later)  # staff and replies need a valid roster
    standing = server.roster_standing(later)
    assert standing.phase is Phase.GRACE and standing.expires == expires
    assert standing.grace_ends == expires + 30 * DAY and standing.at == expires - 1
    # cas-short had expired before the roster did: not a recipient; the others still are
    assert _intake(server, later) == _ids(staffed_home, "cas-main", "cas-main-2")
    assert _intake(server, later, "other") == _ids(staffed_home, "cas-other")


def test_a_follow_up_during_the_grace_is_sealed_and_stored(server: Server, staffed_home: StaffedHome) -> None:
    now = _now()
    ticket = new_ticket(server.pepper(), reply_key=False, cost=REFERENCE_COST_MINIMUM)
    store_sealed(server, seal_request(REQUEST, queue="main", recipients=recipients_for(server, "main", now),
                                      bot=server.bot_identity(), pepper=server.pepper(), now=now, ticket=ticket), now)
    later = server.roster(now).expires + DAY
    assert add_follow_up(server, ticket.ref_hash, "more", "en", later) == ticket.case_id


def test_after_the_grace_intake_is_refused_saying_what_to_run(server: Server) -> None:
    now = _now()
    standing = server.roster_standing(now)
    assert standing.phase is Phase.VALID and standing.at == now
    after = standing.grace_ends
    assert server.roster_standing(after).phase is Phase.EXPIRED
    with pytest.raises(IntakeRefused, match="grace period ended on .*roster renew"):
        recipients_for(server, "main", after)
    assert server.roster_standing(after - 1).phase is Phase.GRACE


def test_no_grace_when_grace_days_is_zero(staffed_home: StaffedHome) -> None:
    _set_grace(staffed_home.root, 0)
    with staffed_home.open() as server:
        expires = server.roster(_now()).expires
        recipients_for(server, "main", expires - 1)
        with pytest.raises(IntakeRefused, match="roster renew"):
            recipients_for(server, "main", expires)


def test_renewal_after_the_grace_needs_no_new_key(server: Server, staffed_home: StaffedHome) -> None:
    later = server.roster(_now()).expires + 100 * DAY
    with pytest.raises(IntakeRefused):
        recipients_for(server, "main", later)
    renewed = renew(server, staffed_home.admin, later)
    assert renewed.expires == later + 180 * DAY
    assert server.roster_standing(later).phase is Phase.VALID
    assert _intake(server, later) == _ids(staffed_home, "cas-main", "cas-main-2")


def test_renewal_during_the_grace_and_before_expiry(server: Server, staffed_home: StaffedHome) -> None:
    now = _now()
    serial = server.roster(now).serial
    renew(server, staffed_home.admin, now + DAY)  # before
    in_grace = server.roster(now).expires + 5 * DAY + 3 * DAY
    renewed = renew(server, staffed_home.admin, in_grace, members=False)
    assert renewed.serial == serial + 2 and server.roster(in_grace) == renewed


def test_an_expired_admin_renews_with_members_and_everyone_unrevoked_is_extended(
        server: Server, staffed_home: StaffedHome) -> None:
    now = _now()
    _edit(server, staffed_home, now, lambda r: r.with_revoked("cas-other", now, 30))
    later = now + 400 * DAY  # admin and every member expired at day 365
    with pytest.raises(IntakeRefused):
        recipients_for(server, "main", later)
    with pytest.raises(RosterChangeRefused, match="--members"):
        renew(server, staffed_home.admin, later)
    renewed = renew(server, staffed_home.admin, later, members=True)
    members = {m.name: m for m in renewed.members}
    for name in ("Ada Admin", "cas-main", "cas-main-2", "vol"):
        assert members[name].expires == later + 365 * DAY and members[name].active(later)
    assert members["cas-other"].revoked == now and not members["cas-other"].active(later)
    assert _intake(server, later) == _ids(staffed_home, "cas-main", "cas-main-2")
    with pytest.raises(IntakeRefused, match="no active caseworker"):
        recipients_for(server, "other", later)


def test_a_revoked_admin_can_never_renew_even_if_still_pinned(server: Server, staffed_home: StaffedHome) -> None:
    now = _now()
    bo = Identity.generate("Bo Admin")
    _edit(server, staffed_home, now, lambda r: r.with_member(
        Member(bo.public, Role.ADMIN, (), now, now + 365 * DAY), now, 30))
    Home(staffed_home.root).add_trusted_admin(bo.signing_key.verify_key, bo.name)
    _edit(server, staffed_home, now, lambda r: r.with_revoked("Bo Admin", now, 30))
    before = (staffed_home.root / "roster.json").read_bytes()
    for when in (now, now + 45 * DAY, now + 400 * DAY):
        with pytest.raises(RosterChangeRefused, match="revoked"):
            renew(server, bo, when, members=True)
    assert (staffed_home.root / "roster.json").read_bytes() == before


def test_an_unpinned_admin_cannot_renew(server: Server, staffed_home: StaffedHome) -> None:
    Home(staffed_home.root).remove_trusted_admin(staffed_home.admin.signing_key.verify_key)
    Home(staffed_home.root).add_trusted_admin(Identity.generate("other").signing_key.verify_key, "other")
    with pytest.raises(RosterUnavailable):  # the roster itself no longer verifies here
        renew(server, staffed_home.admin, _now())


def test_renewal_refuses_a_rolled_back_roster(server: Server, staffed_home: StaffedHome) -> None:
    now = _now()
    path = staffed_home.root / "roster.json"
    old = path.read_bytes()
    _edit(server, staffed_home, now, lambda r: r.with_revoked("cas-main", now, 30))
    path.write_bytes(old)  # the pre-revocation file put back, then an expiry: renewal must not bless it
    with pytest.raises(RosterUnavailable, match="below"):
        renew(server, staffed_home.admin, now + 100 * DAY)


def test_backups_stay_encrypted_to_the_admins_after_the_roster_expired(server: Server,
                                                                        staffed_home: StaffedHome) -> None:
    admin_box = staffed_home.admin.box_private.public_key
    expires = server.roster(_now()).expires
    for when in (_now(), expires + DAY, expires + 100 * DAY):
        assert roster_admin_keys(Home(staffed_home.root), when) == [admin_box]


@pytest.mark.parametrize(("left", "expected"), [(20 * DAY, None), (14 * DAY, 14), (8 * DAY, 14), (7 * DAY, 7),
                                                (2 * DAY, 7), (DAY, 1), (1, 1), (0, None), (-5, None)])
def test_notice_thresholds(left: int, expected: int | None) -> None:
    assert notice_threshold(left) == expected


def test_a_follow_up_after_the_grace_is_refused(server: Server, staffed_home: StaffedHome) -> None:
    now = _now()
    pepper = server.pepper()
    ticket = new_ticket(pepper, reply_key=False, cost=REFERENCE_COST_MINIMUM)
    store_sealed(server, seal_request(REQUEST, queue="main", recipients=recipients_for(server, "main", now),
                                      bot=server.bot_identity(), pepper=pepper, now=now, ticket=ticket), now)
    assert hash_reference(ticket.reference, pepper, REFERENCE_COST_MINIMUM) == ticket.ref_hash
    with pytest.raises(IntakeRefused, match="roster renew"):
        add_follow_up(server, ticket.ref_hash, "more", "en", server.roster_standing(now).grace_ends)
