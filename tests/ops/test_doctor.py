"""`waystation doctor`: a healthy home passes; each seeded fault is one line saying what to do."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import nacl.utils
import pytest

from crypto.keys import Identity
from crypto.roster import DAY, Member, Role, Roster, sign_roster
from sandbox import SandboxSettings
from sandbox.testing import RunningSandbox, running_sandbox
from storage.cases import CaseId
from storage.deletions import DeletionStore
from tests.ops.conftest import TOKEN, OpsHome, waystation

TOKEN_ENV = {"WAYSTATION_BOT_TOKEN": TOKEN}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    """A real local Bot API (the sandbox) for getMe."""
    with running_sandbox(SandboxSettings.unlimited()) as running:
        yield running


def _set_api(root: Path, url: str) -> None:
    config = root / "config.toml"
    text = config.read_text(encoding="utf-8").replace('api_base_url = "https://api.telegram.org/bot"',
                                                       f'api_base_url = "{url}"')
    config.write_text(text, encoding="utf-8")


def _doctor(root: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[int, list[str], str]:
    ran = waystation("doctor", "--home", root, *extra, env=env)
    assert "Traceback" not in ran.err + ran.out, str(ran)
    return ran.code, [line for line in ran.out.splitlines() if line.startswith(("error:", "warning:"))], ran.out


@pytest.fixture
def well_staffed(ops_home: OpsHome) -> OpsHome:
    """The staffed home with a second admin: no finding about a lone admin key."""
    now = int(time.time())
    with ops_home.staffed.open() as server:
        bea = Identity.generate("Bea Admin")
        roster = server.roster(now).with_member(Member(bea.public, Role.ADMIN, (), now, now + 365 * DAY), now, 30)
        server.save_roster(sign_roster(roster, ops_home.staffed.admin), now)
    return ops_home


def _findings(root: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    ran = waystation("doctor", "--home", root, "--json", "--no-network", env=env)
    return json.loads(ran.out)  # type: ignore[no-any-return]


def test_doctor_passes_a_healthy_home(well_staffed: OpsHome, sandbox: RunningSandbox) -> None:
    ops_home = well_staffed
    _set_api(ops_home.root, sandbox.bot_base_url)
    code, lines, out = _doctor(ops_home.root, env=TOKEN_ENV)
    assert code == 0 and lines == [], out
    assert "checks passed" in out
    report = _findings(ops_home.root, env=TOKEN_ENV)
    assert report["ok"] is True and report["errors"] == 0
    assert {"modes", "config", "database", "roster", "clock", "deletions", "bot-token"} <= set(report["checked"])  # type: ignore[arg-type]


def test_doctor_flags_modes_open_to_others(ops_home: OpsHome) -> None:
    os.chmod(ops_home.root, 0o755)
    os.chmod(ops_home.root / "secrets" / "db.key", 0o644)
    code, lines, out = _doctor(ops_home.root, "--no-network", env=TOKEN_ENV)
    assert code == 1, out
    assert any("the home is open to other users (mode 0755)" in line and "chmod 700" in line for line in lines), out
    assert any(line.startswith("error:") and "secrets/db.key" in line and "chmod 600" in line for line in lines), out


def test_doctor_flags_expired_roster(ops_home: OpsHome) -> None:
    now = int(time.time())
    staffed = ops_home.staffed
    members = (Member(staffed.admin.public, Role.ADMIN, (), now - 10 * DAY, now + 300 * DAY),
               Member(staffed.staff["cas-main"].public, Role.CASEWORKER, ("main",), now - 10 * DAY, now + 300 * DAY))
    expired = Roster(serial=50, issued=now - 3 * DAY, expires=now - DAY, members=members)
    (ops_home.root / "roster.json").write_bytes(sign_roster(expired, staffed.admin))
    code, lines, out = _doctor(ops_home.root, "--no-network", env=TOKEN_ENV)
    assert code == 1, out
    assert any(line.startswith("error: [roster]") and "expired" in line and "roster renew" in line
               for line in lines), out


def test_doctor_warns_of_a_member_expiring_within_two_weeks(well_staffed: OpsHome) -> None:
    ops_home = well_staffed
    now = int(time.time())
    with ops_home.staffed.open() as server:
        current = server.roster(now)
        members = tuple(Member(m.identity, m.role, m.queues, m.added, now + 13 * DAY) if m.name == "cas-main-2" else m
                        for m in current.members)
        renewed = Roster(current.serial + 1, now, now + 30 * DAY, members)
        server.save_roster(sign_roster(renewed, ops_home.staffed.admin), now)
    code, lines, out = _doctor(ops_home.root, "--no-network", env=TOKEN_ENV)
    assert code == 0, out
    assert len(lines) == 1 and lines[0].startswith("warning: [roster]"), out
    assert "'cas-main-2' expires on" in lines[0] and "roster renew" in lines[0] and "--members" in lines[0]


@pytest.mark.parametrize(("days", "warned"), [(2, True), (13, True), (15, False)])
def test_doctor_warns_two_weeks_before_the_roster_expires(ops_home: OpsHome, days: int, warned: bool) -> None:
    now = int(time.time())
    with ops_home.staffed.open() as server:
        current = server.roster(now)
        short = Roster(current.serial + 1, now, now + days * DAY, current.members)
        server.save_roster(sign_roster(short, ops_home.staffed.admin), now)
    code, lines, out = _doctor(ops_home.root, "--no-network", env=TOKEN_ENV)
    assert code == 0, out
    found = [line for line in lines if line.startswith("warning: [roster] the roster expires on")]
    assert bool(found) is warned, out
    assert not found or "roster renew" in found[0]


def test_doctor_warns_when_the_signing_admin_expires_before_the_roster(ops_home: OpsHome) -> None:
    now = int(time.time())
    with ops_home.staffed.open() as server:
        current = server.roster(now)
        members = tuple(Member(m.identity, m.role, m.queues, m.added, now + 5 * DAY) if m.role is Role.ADMIN else m
                        for m in current.members)
        server.save_roster(sign_roster(Roster(current.serial + 1, now, now + 100 * DAY, members),
                                       ops_home.staffed.admin), now)
    code, lines, out = _doctor(ops_home.root, "--no-network", env=TOKEN_ENV)
    assert code == 0, out
    assert any("the roster expires on" in line and "the admin who signed it" in line and "--members" in line
               for line in lines), out


def test_doctor_warns_of_a_lone_admin_and_a_queue_with_one_caseworker(ops_home: OpsHome) -> None:
    config = ops_home.root / "config.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[[routing]]\nqueue = "other"\nlanguages = ["uk"]\n',
                      encoding="utf-8")
    code, lines, out = _doctor(ops_home.root, "--no-network", env=TOKEN_ENV)
    assert code == 0, out
    assert any(line.startswith("warning: [coverage] the roster has fewer than two active admins (Ada Admin)")
               and "--role admin" in line for line in lines), out
    assert any(line.startswith("warning: [coverage] queue 'other' has fewer than two active caseworkers "
                               "(only cas-other)") for line in lines), out
    assert not any("queue 'main'" in line for line in lines), out


def test_doctor_flags_a_wrong_database_key_without_printing_either_key(ops_home: OpsHome) -> None:
    key_path = ops_home.root / "secrets" / "db.key"
    right = key_path.read_text().strip()
    wrong = nacl.utils.random(32).hex()
    key_path.write_text(wrong + "\n")
    code, lines, out = _doctor(ops_home.root, "--no-network", env=TOKEN_ENV)
    assert code == 1, out
    assert any(line.startswith("error: [database]") and "does not open" in line for line in lines), out
    assert right not in out and wrong not in out


def test_doctor_flags_a_corrupt_config(ops_home: OpsHome) -> None:
    (ops_home.root / "config.toml").write_text("[privacy\ndelete_after_seconds = ", encoding="utf-8")
    code, lines, out = _doctor(ops_home.root, "--no-network", env=TOKEN_ENV)
    assert code == 1, out
    assert any(line.startswith("error: [config]") and "not valid TOML" in line for line in lines), out


def test_doctor_flags_a_config_value_out_of_range(ops_home: OpsHome) -> None:
    (ops_home.root / "config.toml").write_text("[privacy]\ndelete_after_seconds = 999999\n", encoding="utf-8")
    code, lines, out = _doctor(ops_home.root, "--no-network", env=TOKEN_ENV)
    assert code == 1 and any("privacy.delete_after_seconds" in line for line in lines), out


def test_doctor_flags_a_missing_token_but_only_warns_of_an_unreachable_api(well_staffed: OpsHome) -> None:
    ops_home = well_staffed
    _set_api(ops_home.root, "http://127.0.0.1:9/bot")  # the discard port: nothing answers
    code, lines, out = _doctor(ops_home.root)
    assert code == 1, out
    assert any(line.startswith("error: [bot-token] no bot token") for line in lines), out
    code, lines, out = _doctor(ops_home.root, env=TOKEN_ENV)
    assert code == 0, out
    assert len(lines) == 1 and lines[0].startswith("warning: [bot-api]") and "could not be reached" in lines[0]
    assert TOKEN not in out and TOKEN.split(":")[1] not in out


def test_doctor_flags_a_queue_nobody_works_on(ops_home: OpsHome) -> None:
    config = ops_home.root / "config.toml"
    config.write_text(config.read_text().replace('default = "main"', 'default = "nobody-here"'))
    code, lines, out = _doctor(ops_home.root, "--no-network", env=TOKEN_ENV)
    assert code == 1, out
    assert any("queue 'nobody-here' has no active caseworker" in line and "--queue nobody-here" in line
               for line in lines), out


def test_doctor_flags_a_clock_behind_the_database(ops_home: OpsHome) -> None:
    with ops_home.staffed.open() as server, server.db.transaction() as conn:
        conn.execute("INSERT INTO audit (at, actor, action, case_id) VALUES (?, 'test', 'test', NULL)",
                     (int(time.time()) + 2 * DAY,))
    code, lines, out = _doctor(ops_home.root, "--no-network", env=TOKEN_ENV)
    assert code == 1, out
    assert any(line.startswith("error: [clock]") and "behind the newest record" in line for line in lines), out


def test_doctor_warns_of_overdue_deletions(ops_home: OpsHome) -> None:
    with ops_home.staffed.open() as server:
        DeletionStore(server.db).record(4242424242, [1, 2, 3], int(time.time()) - 3600)
    code, lines, out = _doctor(ops_home.root, "--no-network", env=TOKEN_ENV)
    assert code == 0, out
    assert any(line.startswith("warning: [deletions] 3 messages") for line in lines), out
    assert "4242424242" not in out


def test_doctor_flags_a_missing_home(tmp_path: Path) -> None:
    code, lines, out = _doctor(tmp_path / "nowhere", "--no-network")
    assert code == 1 and lines and lines[0].startswith("error: [home]"), out


def test_doctor_warns_of_an_open_case_whose_request_does_not_verify(well_staffed: OpsHome) -> None:
    with well_staffed.staffed.open() as server:
        server.cases.enqueue(case_id=CaseId("forged0000000000"), queue="main", envelope=b"WSEV not really",
                             ref_hash=None, now=int(time.time()))
    code, lines, out = _doctor(well_staffed.root, "--no-network", env=TOKEN_ENV)
    assert code == 0, out
    assert any(line.startswith("warning: [coverage] 1 open cases have a request that does not verify")
               and "forged" in line for line in lines), out
    assert not any("cannot be read" in line for line in lines), out
