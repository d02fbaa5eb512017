"""`waystation backup` and `restore`: consistent under writes, encrypted, verified before anything is replaced."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from crypto.keys import load_identity
from crypto.roster import Role
from intake.requests import Request, submit
from ops.backup import BackupRejected, database_in_use, read_backup
from staff.direct import ReadState, StaffSession
from storage.db import connect
from storage.home import Home
from storage.server import Server
from tests.ops.conftest import (
    PASSPHRASE,
    REPO,
    TOKEN,
    OpsHome,
    ok,
    refused,
    with_passphrase,
)


def _submit(ops_home: OpsHome, count: int) -> list[str]:
    with ops_home.staffed.open() as server:
        return [submit(server, Request({"help": "x", "n": str(i)}), int(time.time())).case_id for i in range(count)]


def _backup(ops_home: OpsHome, out: Path, *extra: str | Path) -> Path:
    ok("backup", "--home", ops_home.root, "--out", out, *extra)
    return out


def _readable_ids(root: Path, ops_home: OpsHome) -> set[str]:
    with Server.open(root, environ={}) as server:
        views = StaffSession.start(server, ops_home.staffed.staff["cas-main"], int(time.time())).list()
    assert all(v.state is ReadState.OK for v in views), [v.problem for v in views]
    return {v.case.id for v in views}


def test_backup_round_trip_restores_a_home_that_doctor_passes(ops_home: OpsHome, tmp_path: Path) -> None:
    ids = set(_submit(ops_home, 3))
    archive = _backup(ops_home, tmp_path / "one.backup")
    assert archive.stat().st_mode & 0o777 == 0o600
    restored = tmp_path / "restored"
    ran = ok("restore", "--home", restored, "--key", ops_home.key("admin"), archive, env=with_passphrase())
    assert "3 cases" in ran.out and "bot token" in ran.out
    ran = ok("doctor", "--home", restored, "--no-network", env={"WAYSTATION_BOT_TOKEN": TOKEN})
    assert "checks passed" in ran.out or "doctor: 0 errors" in ran.out
    assert _readable_ids(restored, ops_home) == ids
    assert not (restored / "secrets" / "bot_token").exists()


def test_backup_into_a_directory_picks_a_dated_name(ops_home: OpsHome, tmp_path: Path) -> None:
    (tmp_path / "backups").mkdir()
    ran = ok("backup", "--home", ops_home.root, "--out", tmp_path / "backups")
    made = list((tmp_path / "backups").iterdir())
    assert len(made) == 1 and made[0].name.startswith("waystation-") and str(made[0].name) in ran.out


def test_backup_during_a_write_burst_holds_every_acknowledged_case(ops_home: OpsHome, tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, str(REPO / "tests" / "ops" / "burst_writer.py"),
                               str(ops_home.root), str(stop), "400"],
                              stdout=subprocess.PIPE, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": ""})
    acked: list[tuple[float, str]] = []

    def collect() -> None:
        assert writer.stdout is not None
        for line in writer.stdout:
            acked.append((time.monotonic(), line.strip()))

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while len(acked) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(acked) >= 5, "the writer did not start"
        started = time.monotonic()
        before = {case_id for _, case_id in list(acked)}
        archive = _backup(ops_home, tmp_path / "burst.backup")
        finished = time.monotonic()
        time.sleep(0.3)
    finally:
        stop.touch()
        writer.wait(timeout=30)
        reader.join(timeout=5)
    assert writer.returncode == 0
    during = [case_id for at, case_id in acked if started <= at <= finished]
    assert during, "no case was acknowledged while the backup ran: not a burst"
    everything = {case_id for _, case_id in acked}
    restored = tmp_path / "restored"
    ok("restore", "--home", restored, "--key", ops_home.key("admin"), archive, env=with_passphrase())
    conn = connect(restored / "waystation.db", Home(restored).db_key(environ={}))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    in_backup = _readable_ids(restored, ops_home)
    assert before <= in_backup, f"{len(before - in_backup)} acknowledged cases are missing"
    assert in_backup <= everything


def test_restore_refuses_an_existing_home_without_force(ops_home: OpsHome, tmp_path: Path) -> None:
    _submit(ops_home, 1)
    archive = _backup(ops_home, tmp_path / "one.backup")
    before = (ops_home.root / "waystation.db").read_bytes()
    ran = refused("restore", "--home", ops_home.root, "--key", ops_home.key("admin"), archive, env=with_passphrase())
    assert "--force" in ran.err
    assert (ops_home.root / "waystation.db").read_bytes() == before
    ran = ok("restore", "--home", ops_home.root, "--key", ops_home.key("admin"), "--force", archive,
             env=with_passphrase())
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("home.before-restore-")]
    assert len(aside) == 1 and (aside[0] / "waystation.db").read_bytes() == before
    assert str(aside[0].name) in ran.out


def test_restore_refuses_a_live_home_even_with_force(ops_home: OpsHome, tmp_path: Path) -> None:
    archive = _backup(ops_home, tmp_path / "one.backup")
    with ops_home.staffed.open():
        assert database_in_use(ops_home.root / "waystation.db")
        ran = refused("restore", "--home", ops_home.root, "--key", ops_home.key("admin"), "--force", archive,
                      env=with_passphrase())
    assert "in use" in ran.err
    assert not database_in_use(ops_home.root / "waystation.db")


def test_database_in_use_sees_another_process(ops_home: OpsHome) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys, time; from storage.server import Server; "
         "s = Server.open(__import__('pathlib').Path(sys.argv[1]), environ={}); print('open', flush=True); "
         "sys.stdin.readline()"), str(ops_home.root)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        assert database_in_use(ops_home.root / "waystation.db")
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    assert not database_in_use(ops_home.root / "waystation.db")


@pytest.mark.parametrize("damage", ["flip-header", "flip-middle", "flip-last", "truncate", "append"])
def test_restore_rejects_a_damaged_backup_and_touches_nothing(ops_home: OpsHome, tmp_path: Path, damage: str) -> None:
    _submit(ops_home, 2)
    archive = _backup(ops_home, tmp_path / "one.backup")
    data = bytearray(archive.read_bytes())
    if damage == "truncate":
        data = data[: len(data) - 100]
    elif damage == "append":
        data += b"\0" * 32
    else:
        position = {"flip-header": 12, "flip-middle": len(data) // 2, "flip-last": len(data) - 1}[damage]
        data[position] ^= 0x01
    archive.write_bytes(bytes(data))
    target = tmp_path / "restored"
    refused("restore", "--home", target, "--key", ops_home.key("admin"), archive, env=with_passphrase())
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".restored")] == []


def test_restore_rejects_a_wrong_passphrase_and_a_key_it_was_not_made_for(ops_home: OpsHome, tmp_path: Path) -> None:
    archive = _backup(ops_home, tmp_path / "one.backup")
    target = tmp_path / "restored"
    ran = refused("restore", "--home", target, "--key", ops_home.key("admin"), archive,
                  env={"WAYSTATION_PASSPHRASE": "not " + PASSPHRASE})
    assert "wrong passphrase" in ran.err
    ran = refused("restore", "--home", target, "--key", ops_home.key("cas-main"), archive, env=with_passphrase())
    assert "cannot open the backup" in ran.err
    assert not target.exists()


def test_backup_to_an_extra_key_opens_with_that_key(ops_home: OpsHome, tmp_path: Path) -> None:
    archive = _backup(ops_home, tmp_path / "one.backup", "--to", ops_home.key("vol").with_suffix(".key.pub"))
    ok("restore", "--home", tmp_path / "restored", "--key", ops_home.key("vol"), archive, env=with_passphrase())


def test_backup_holds_what_a_restore_needs_and_never_the_bot_token(ops_home: OpsHome, tmp_path: Path) -> None:
    (ops_home.root / "secrets" / "bot_token").write_text(TOKEN + "\n")
    (ops_home.root / "secrets" / "bot_token").chmod(0o600)
    archive = _backup(ops_home, tmp_path / "one.backup")
    assert TOKEN.encode() not in archive.read_bytes()
    admin = load_identity(ops_home.key("admin").read_bytes(), PASSPHRASE.encode())
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    manifest = read_backup(archive, admin.box_private, unpacked)
    names = set(manifest["files"])  # type: ignore[arg-type]
    assert {"waystation.db", "secrets/db.key", "secrets/reference_pepper", "secrets/bot_identity.json",
            "config.toml", "roster.json", "trusted_admins"} <= names
    assert "secrets/bot_token" not in names and not (unpacked / "secrets" / "bot_token").exists()
    with pytest.raises(BackupRejected):
        read_backup(archive, ops_home.staffed.staff["cas-main"].box_private, tmp_path)


def test_restore_over_a_home_keeps_its_newer_roster(ops_home: OpsHome, tmp_path: Path) -> None:
    archive = _backup(ops_home, tmp_path / "one.backup")
    ok("roster", "revoke", "--home", ops_home.root, "--admin", ops_home.key("admin"), "cas-main-2",
       env=with_passphrase())
    ran = ok("restore", "--home", ops_home.root, "--key", ops_home.key("admin"), "--force", archive,
             env=with_passphrase())
    assert "kept the newer roster" in ran.out
    with Server.open(ops_home.root, environ={}) as server:
        member = server.roster(int(time.time())).find("cas-main-2")
    assert member is not None and member.role is Role.CASEWORKER and member.revoked is not None
