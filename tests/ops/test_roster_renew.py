"""`waystation roster renew` through the real CLI: before, during and after the grace; expired and revoked admins."""

from __future__ import annotations

import json
import time

from crypto.keys import KDF_MINIMUM, Identity, dump_identity, dump_public
from crypto.roster import DAY, Member, Role, Roster, sign_roster
from storage.home import Home
from tests.ops.conftest import TOKEN, OpsHome, ok, refused, waystation, with_passphrase

TOKEN_ENV = {"WAYSTATION_BOT_TOKEN": TOKEN}


def _write_roster(ops_home: OpsHome, issued: int, expires: int, member_expires: int,
                  extra: tuple[Member, ...] = ()) -> None:
    """A roster signed by the admin with these dates, written as roster.json (serial above any seen)."""
    staffed = ops_home.staffed
    members = tuple(Member(identity.public, role, queues, issued, member_expires) for identity, role, queues in (
        (staffed.admin, Role.ADMIN, ()), (staffed.staff["cas-main"], Role.CASEWORKER, ("main",)),
        (staffed.staff["cas-main-2"], Role.CASEWORKER, ("main",)), (staffed.staff["cas-other"], Role.CASEWORKER,
                                                                    ("other",))))
    roster = Roster(serial=50, issued=issued, expires=expires, members=members + extra)
    (ops_home.root / "roster.json").write_bytes(sign_roster(roster, staffed.admin))


def _show(ops_home: OpsHome) -> dict[str, object]:
    return json.loads(ok("roster", "show", "--home", ops_home.root, "--json").out)  # type: ignore[no-any-return]


def _roster_findings(ops_home: OpsHome) -> list[dict[str, str]]:
    report = json.loads(waystation("doctor", "--home", ops_home.root, "--json", "--no-network", env=TOKEN_ENV).out)
    return [f for f in report["findings"] if f["check"] == "roster"]


def test_renew_in_the_grace_period_shows_and_fixes_it(ops_home: OpsHome) -> None:
    now = int(time.time())
    _write_roster(ops_home, now - 190 * DAY, now - 10 * DAY, now + 100 * DAY)
    shown = _show(ops_home)
    assert shown["state"] == "grace" and shown["grace_ends"] == now - 10 * DAY + 30 * DAY
    assert "EXPIRED on" in ok("roster", "show", "--home", ops_home.root).out
    errors = [f for f in _roster_findings(ops_home) if f["level"] == "error"]
    assert any("grace" in f["problem"] and "roster renew" in f["fix"] for f in errors), errors
    out = ok("roster", "renew", "--home", ops_home.root, "--admin", ops_home.key("admin"), env=with_passphrase()).out
    assert "roster renewed until" in out
    shown = _show(ops_home)
    assert shown["state"] == "valid" and shown["expires"] >= now + 180 * DAY - 60  # type: ignore[operator]
    assert not [f for f in _roster_findings(ops_home) if f["level"] == "error"]


def test_an_expired_admin_renews_after_the_grace_with_members(ops_home: OpsHome) -> None:
    now = int(time.time())
    _write_roster(ops_home, now - 400 * DAY, now - 220 * DAY, now - 35 * DAY)
    assert _show(ops_home)["state"] == "expired"
    findings = _roster_findings(ops_home)
    assert any(f["level"] == "error" and "refused" in f["problem"] for f in findings), findings
    plain = refused("roster", "renew", "--home", ops_home.root, "--admin", ops_home.key("admin"),
                    env=with_passphrase())
    assert "--members" in plain.err
    out = ok("roster", "renew", "--home", ops_home.root, "--admin", ops_home.key("admin"), "--members",
             env=with_passphrase()).out
    assert "every member not revoked extended" in out
    shown = _show(ops_home)
    assert shown["state"] == "valid"
    members = {m["name"]: m for m in shown["members"]}  # type: ignore[attr-defined]
    assert all(m["active"] for m in members.values()), members
    assert all(m["expires"] >= now + 365 * DAY - 60 for m in members.values())


def test_renew_names_members_who_expire_before_the_roster(ops_home: OpsHome) -> None:
    out = ok("roster", "renew", "--home", ops_home.root, "--admin", ops_home.key("admin"), env=with_passphrase()).out
    # the staffed home's members expire in 365 days, the renewed roster in 180: nobody is named
    assert "expire before the roster" not in out
    config = ops_home.root / "config.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("valid_days = 180", "valid_days = 400"),
                      encoding="utf-8")
    out = ok("roster", "renew", "--home", ops_home.root, "--admin", ops_home.key("admin"), env=with_passphrase()).out
    assert "members expire before the roster does" in out and "roster renew --members" in out


def test_a_revoked_admin_cannot_renew_even_with_the_key_pinned_again(ops_home: OpsHome) -> None:
    now = int(time.time())
    bo = Identity.generate("Bo Admin")
    (ops_home.keys / "bo.key").write_bytes(dump_identity(bo, b"correct horse battery staple", KDF_MINIMUM))
    (ops_home.keys / "bo.key.pub").write_bytes(dump_public(bo.public))
    ok("roster", "add", "--home", ops_home.root, "--admin", ops_home.key("admin"), "--role", "admin",
       ops_home.keys / "bo.key.pub", env=with_passphrase())
    ok("roster", "revoke", "--home", ops_home.root, "--admin", ops_home.key("admin"), "Bo Admin", env=with_passphrase())
    assert bo.signing_key.verify_key not in Home(ops_home.root).trusted_admins()  # revoke unpinned Bo
    Home(ops_home.root).add_trusted_admin(bo.signing_key.verify_key, "Bo Admin")  # the worst case: pinned again
    before = (ops_home.root / "roster.json").read_bytes()
    ran = refused("roster", "renew", "--home", ops_home.root, "--admin", ops_home.keys / "bo.key", "--members",
                  env=with_passphrase())
    assert "revoked" in ran.err
    assert (ops_home.root / "roster.json").read_bytes() == before
    assert _show(ops_home)["expires"] >= now  # type: ignore[operator]


def test_revoke_works_on_an_expired_roster(ops_home: OpsHome) -> None:
    now = int(time.time())
    _write_roster(ops_home, now - 190 * DAY, now - 10 * DAY, now + 100 * DAY)
    ok("roster", "revoke", "--home", ops_home.root, "--admin", ops_home.key("admin"), "cas-main-2",
       env=with_passphrase())
    shown = _show(ops_home)
    assert shown["state"] == "valid"
    assert {m["name"]: m["active"] for m in shown["members"]}["cas-main-2"] is False  # type: ignore[attr-defined]
