"""The opened home's roster: verified on every load, never rolled back, forged or expired."""

from __future__ import annotations

import time

import pytest

from crypto.errors import RosterRejected, RosterRolledBack
from crypto.keys import Identity
from crypto.roster import DAY, Member, Role, Roster, new_roster, sign_roster
from intake.requests import Request, submit
from storage.errors import IntakeRefused, RosterUnavailable
from storage.home import Home
from storage.server import ROSTER_SERIAL_KEY, Server
from tests.conftest import StaffedHome

pytestmark = pytest.mark.timeout(30)

REQUEST = Request({"help": "need a safe place"})


def _now() -> int:
    return int(time.time())


def _case_rows(server: Server) -> int:
    return int(server.db.conn.execute("SELECT count(*) FROM cases").fetchone()[0])


def _revoked(server: Server, staffed: StaffedHome, name: str, now: int) -> bytes:
    return sign_roster(server.roster(now).with_revoked(name, now, 30), staffed.admin)


def test_roster_loads_verified_and_records_its_serial(server: Server) -> None:
    roster = server.roster(_now())
    assert {m.name for m in roster.members} == {"Ada Admin", "cas-main", "cas-main-2", "cas-other", "vol"}
    assert server.db.meta(ROSTER_SERIAL_KEY) == str(roster.serial)


def test_missing_roster_is_unavailable_and_intake_refused(staffed_home: StaffedHome) -> None:
    (staffed_home.root / "roster.json").unlink()
    with staffed_home.open() as server:
        with pytest.raises(RosterUnavailable, match="roster init"):
            server.roster(_now())
        with pytest.raises(IntakeRefused):
            submit(server, REQUEST, _now())
        assert _case_rows(server) == 0


def test_roster_without_a_pinned_admin_is_unavailable(staffed_home: StaffedHome) -> None:
    (staffed_home.root / "trusted_admins").unlink()
    with staffed_home.open() as server, pytest.raises(RosterUnavailable, match="pinned"):
        server.roster(_now())


def test_rolled_back_roster_file_is_refused_on_load(staffed_home: StaffedHome) -> None:
    now = _now()
    roster_path = staffed_home.root / "roster.json"
    old = roster_path.read_bytes()
    with staffed_home.open() as server:
        server.save_roster(_revoked(server, staffed_home, "cas-main-2", now), now)
    roster_path.write_bytes(old)  # someone puts the pre-revocation file back
    with staffed_home.open() as server:  # a new process: the serial seen is kept in the database
        with pytest.raises(RosterUnavailable, match="older"):
            server.roster(now)
        with pytest.raises(IntakeRefused):
            submit(server, REQUEST, now)
        assert _case_rows(server) == 0


def test_saving_an_older_or_equal_serial_is_refused_and_file_kept(server: Server, staffed_home: StaffedHome) -> None:
    now = _now()
    roster_path = staffed_home.root / "roster.json"
    old = roster_path.read_bytes()
    newer = _revoked(server, staffed_home, "cas-main-2", now)
    server.save_roster(newer, now)
    for stale in (old, newer):
        with pytest.raises((RosterUnavailable, RosterRejected)):
            server.save_roster(stale, now)
        assert roster_path.read_bytes() == newer
    assert server.roster(now).find("cas-main-2").revoked is not None  # type: ignore[union-attr]


def test_saving_a_rolled_back_roster_raises_the_storage_error(server: Server, staffed_home: StaffedHome) -> None:
    now = _now()
    old = (staffed_home.root / "roster.json").read_bytes()
    server.save_roster(_revoked(server, staffed_home, "cas-main-2", now), now)
    with pytest.raises(RosterUnavailable):
        server.save_roster(old, now)


def _forged(staffed: StaffedHome, now: int) -> bytes:
    """A roster that looks right but is signed by an admin key the server never pinned."""
    mallory = Identity.generate("Ada Admin")
    roster: Roster = new_roster(mallory.public, now, 30, 365)
    roster = roster.with_member(Member(Identity.generate("cas-main").public, Role.CASEWORKER, ("main",), now,
                                       now + 365 * DAY), now, 30)
    return sign_roster(Roster(roster.serial + 100, roster.issued, roster.expires, roster.members), mallory)


def test_forged_roster_is_refused_on_save_and_file_kept(server: Server, staffed_home: StaffedHome) -> None:
    roster_path = staffed_home.root / "roster.json"
    before = roster_path.read_bytes()
    with pytest.raises((RosterUnavailable, RosterRejected)):
        server.save_roster(_forged(staffed_home, _now()), _now())
    assert roster_path.read_bytes() == before


def test_forged_roster_file_is_refused_on_load_and_intake_refused(staffed_home: StaffedHome) -> None:
    (staffed_home.root / "roster.json").write_bytes(_forged(staffed_home, _now()))
    with staffed_home.open() as server:
        with pytest.raises(RosterUnavailable, match="trusted admin"):
            server.roster(_now())
        with pytest.raises(IntakeRefused):
            submit(server, REQUEST, _now())
        assert _case_rows(server) == 0


def test_roster_altered_after_signing_is_refused(staffed_home: StaffedHome) -> None:
    roster_path = staffed_home.root / "roster.json"
    data = bytearray(roster_path.read_bytes())
    body_at = data.index(b'"body":"') + len(b'"body":"') + 40
    data[body_at] = ord("A") if data[body_at] != ord("A") else ord("B")
    roster_path.write_bytes(bytes(data))
    with staffed_home.open() as server, pytest.raises(RosterUnavailable):
        server.roster(_now())


def test_expired_roster_is_refused_and_intake_refused_after_the_grace(server: Server) -> None:
    later = _now() + 31 * DAY  # the staffed roster is valid for 30 days
    with pytest.raises(RosterUnavailable, match="expired"):
        server.roster(later)
    after = later + 30 * DAY  # [roster] grace_days (tests/storage/test_roster_life.py covers the grace)
    with pytest.raises(IntakeRefused, match="expired"):
        submit(server, REQUEST, after)
    assert _case_rows(server) == 0


# -- the verified roster kept in memory: every change on disk is seen at the next call ----------


def test_an_unchanged_roster_is_verified_once(server: Server) -> None:
    now = _now()
    assert server.roster(now) is server.roster(now + 60)


def test_a_revocation_saved_by_another_process_is_seen_at_once(staffed_home: StaffedHome) -> None:
    now = _now()
    with staffed_home.open() as server, staffed_home.open() as other:
        assert server.roster(now).find("cas-main").active(now)  # type: ignore[union-attr]
        other.save_roster(_revoked(other, staffed_home, "cas-main", now), now)
        assert not server.roster(now).find("cas-main").active(now)  # type: ignore[union-attr]


def test_a_roster_file_replaced_or_damaged_is_read_again(staffed_home: StaffedHome) -> None:
    now = _now()
    path = staffed_home.root / "roster.json"
    data = path.read_bytes()
    with staffed_home.open() as server:
        first = server.roster(now)
        path.write_bytes(data[:-2] + b" \n")  # same size, one byte different: not what was signed
        with pytest.raises(RosterUnavailable):
            server.roster(now)
        with pytest.raises(RosterUnavailable):
            server.roster(now)  # refused again without reading it again, and still refused
        path.write_bytes(data)
        assert server.roster(now) == first


def test_unpinning_the_signing_admin_is_seen_at_once(staffed_home: StaffedHome) -> None:
    now = _now()
    with staffed_home.open() as server:
        server.roster(now)
        Home(staffed_home.root).remove_trusted_admin(staffed_home.admin.signing_key.verify_key)
        with pytest.raises(RosterUnavailable, match="pinned"):
            server.roster(now)


def test_a_higher_stored_serial_is_seen_at_once(staffed_home: StaffedHome) -> None:
    now = _now()
    with staffed_home.open() as server, staffed_home.open() as other:
        serial = server.roster(now).serial
        with other.db.transaction() as conn:
            other.db.set_meta(conn, ROSTER_SERIAL_KEY, str(serial + 1))
        with pytest.raises(RosterUnavailable) as caught:
            server.roster(now)
        assert isinstance(caught.value.__cause__, RosterRolledBack)


def test_the_kept_roster_expires_with_the_roster(server: Server) -> None:
    now = _now()
    roster = server.roster(now)
    with pytest.raises(RosterUnavailable, match="expired"):
        server.roster(roster.expires)
