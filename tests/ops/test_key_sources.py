"""Every command that opens the database says where its key came from; a key that does not open it says which
source was tried; doctor warns of a db.key beside a credential; an interrupted `rotate-db-key --key-file` is
settled by running it again, which is what doctor says (never "restore a backup", which loses cases).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nacl.utils

from storage.home import Home
from tests.ops.conftest import (
    REPO,
    TOKEN,
    OpsHome,
    ok,
    refused,
    waystation,
    with_passphrase,
)

TOKEN_ENV = {"WAYSTATION_BOT_TOKEN": TOKEN}


def _credential(tmp_path: Path, key_hex: str) -> dict[str, str]:
    """A systemd credentials directory holding `key_hex` as the database key, as the unit provides it."""
    creds = tmp_path / "credentials"
    creds.mkdir(mode=0o700, exist_ok=True)
    (creds / "waystation-db-key").write_text(key_hex + "\n")
    (creds / "waystation-db-key").chmod(0o400)
    return {"CREDENTIALS_DIRECTORY": str(creds)}


def _move_key_to_credential(ops_home: OpsHome, tmp_path: Path) -> dict[str, str]:
    key = ops_home.root / "secrets" / "db.key"
    env = _credential(tmp_path, key.read_text().strip())
    key.unlink()
    return env


def _doctor_json(root: Path, env: dict[str, str]) -> dict[str, object]:
    ran = waystation("doctor", "--home", root, "--json", "--no-network", env={**TOKEN_ENV, **env})
    assert "Traceback" not in ran.err, str(ran)
    return json.loads(ran.out)  # type: ignore[no-any-return]


def _findings(report: dict[str, object], check: str) -> list[dict[str, str]]:
    return [f for f in report["findings"] if f["check"] == check]  # type: ignore[union-attr,index,attr-defined]


def test_each_command_names_the_key_source_it_used_and_never_the_key(ops_home: OpsHome, tmp_path: Path) -> None:
    key_hex = (ops_home.root / "secrets" / "db.key").read_text().strip()
    ran = ok("doctor", "--home", ops_home.root, "--no-network", env=TOKEN_ENV)
    assert f"database key: from {ops_home.root / 'secrets' / 'db.key'}" in ran.out
    ran = ok("backup", "--home", ops_home.root, "--out", tmp_path / "a.backup")
    assert f"database key: from {ops_home.root / 'secrets' / 'db.key'}" in ran.out
    ran = ok("doctor", "--home", ops_home.root, "--no-network", env={**TOKEN_ENV, "WAYSTATION_DB_KEY": key_hex})
    assert "database key: from the environment variable WAYSTATION_DB_KEY" in ran.out
    env = _move_key_to_credential(ops_home, tmp_path)
    report = _doctor_json(ops_home.root, env)
    assert report["db_key_source"] == (f"the systemd credential 'waystation-db-key' "
                                       f"({tmp_path / 'credentials' / 'waystation-db-key'})"), report
    ran = ok("backup", "--home", ops_home.root, "--out", tmp_path / "b.backup", env=env)
    assert "database key: from the systemd credential 'waystation-db-key'" in ran.out
    restored = tmp_path / "restored"
    ran = ok("restore", "--home", restored, "--key", ops_home.key("admin"), tmp_path / "b.backup",
             env=with_passphrase())
    assert f"database key: {restored / 'secrets' / 'db.key'} (from the backup)" in ran.out
    (ops_home.root / "secrets" / "db.key").write_text(key_hex + "\n")
    ran = ok("rotate-db-key", "--home", ops_home.root)
    assert f"database key: from {ops_home.root / 'secrets' / 'db.key'}" in ran.out
    for text in (ran.out, ran.err):
        assert key_hex not in text


def test_a_credential_that_shadows_a_restored_key_is_named_everywhere(ops_home: OpsHome, tmp_path: Path) -> None:
    """The trap: a systemd credential silently came before the db.key a restore put back."""
    archive = tmp_path / "home.backup"
    ok("backup", "--home", ops_home.root, "--out", archive)
    stale = _credential(tmp_path, nacl.utils.random(32).hex())  # the credential of another (older) database
    restored = tmp_path / "restored"
    ran = waystation("restore", "--home", restored, "--key", ops_home.key("admin"), archive,
                     env=with_passphrase(stale))
    assert ran.code == 0, str(ran)
    assert "Warning: the systemd credential 'waystation-db-key'" in ran.err and "another key" in ran.err, str(ran)
    # A command that opens the database: one line naming the source it tried, and the key it shadowed.
    line = refused("queue", "stats", "--home", restored, env=stale).err
    assert "the database key from the systemd credential 'waystation-db-key'" in line, line
    assert f"{restored / 'secrets' / 'db.key'} is also there but was not used" in line, line
    # doctor: the restored key opens it, the credential does not; the fix is to install it.
    report = _doctor_json(restored, stale)
    [database] = _findings(report, "database")
    assert f"the key in {restored / 'secrets' / 'db.key'} does" in database["problem"], database
    assert "/etc/credstore/waystation-db-key" in database["fix"] and "backup" not in database["fix"], database


def test_doctor_warns_of_a_db_key_left_beside_a_credential(ops_home: OpsHome, tmp_path: Path) -> None:
    key = ops_home.root / "secrets" / "db.key"
    same = _credential(tmp_path, key.read_text().strip())
    report = _doctor_json(ops_home.root, same)
    [warning] = _findings(report, "db-key")
    assert warning["level"] == "warning" and "supplies the same key" in warning["problem"], warning
    assert f"shred -u {key}" in warning["fix"], warning
    key.write_text(nacl.utils.random(32).hex() + "\n")  # stale: the credential holds the key that works
    report = _doctor_json(ops_home.root, same)
    [warning] = _findings(report, "db-key")
    assert "another key" in warning["problem"] and not _findings(report, "database"), report
    key.unlink()
    assert not _findings(_doctor_json(ops_home.root, same), "db-key")


def _crash_with_key_file(root: Path, key_file: Path, stop_after: str) -> None:
    done = subprocess.run([sys.executable, str(REPO / "tests" / "ops" / "crash_rekey.py"), str(root), stop_after,
                           str(key_file)], cwd=REPO, env={"PYTHONPATH": str(REPO)}, capture_output=True, timeout=60,
                          check=False)
    assert done.returncode == 3, done.stderr.decode()


def test_after_an_interrupted_rotation_with_a_key_file_doctor_says_run_it_again(ops_home: OpsHome,
                                                                               tmp_path: Path) -> None:
    env = _move_key_to_credential(ops_home, tmp_path)
    key_file = tmp_path / "credentials" / "waystation-db-key"  # the credential's source, rotated in place
    key_file.chmod(0o600)
    _crash_with_key_file(ops_home.root, key_file, "rekey")  # the database is under the new key, the file is not
    report = _doctor_json(ops_home.root, env)
    problems = [f for f in report["findings"] if f["level"] == "error"]  # type: ignore[union-attr,index]
    assert problems, report
    rerun = f"'waystation rotate-db-key --home {ops_home.root} --key-file {key_file}' again"
    for finding in problems:
        assert rerun in finding["fix"], finding  # type: ignore[index]
        assert "restore the newest backup" not in finding["fix"] and "restore from a backup" not in finding["fix"]
    assert any("rotation was interrupted" in f["problem"] for f in problems)  # type: ignore[index]
    # Every command that opens the database says the same.
    line = refused("queue", "stats", "--home", ops_home.root, env=env).err
    assert "rotation was interrupted" in line and f"--key-file {key_file}" in line, line
    # Running it with another key file is refused; with the same one it settles, and doctor passes.
    ran = refused("rotate-db-key", "--home", ops_home.root, "--key-file", tmp_path / "other-key")
    assert f"--key-file {key_file}" in ran.err, str(ran)
    ran = ok("rotate-db-key", "--home", ops_home.root, "--key-file", key_file)
    assert "finished an interrupted rotation" in ran.out, str(ran)
    assert not (ops_home.root / "db-key-rotation").exists()
    report = _doctor_json(ops_home.root, env)
    assert report["errors"] == 0, report


def test_a_rotation_with_a_key_file_leaves_no_marker_and_a_crash_before_the_rekey_changes_nothing(
        ops_home: OpsHome, tmp_path: Path) -> None:
    env = _move_key_to_credential(ops_home, tmp_path)
    key_file = tmp_path / "credentials" / "waystation-db-key"
    key_file.chmod(0o600)
    _crash_with_key_file(ops_home.root, key_file, "stage")
    assert (ops_home.root / "db-key-rotation").read_text().strip() == str(key_file)
    assert _doctor_json(ops_home.root, env)["errors"] == 1  # the interrupted rotation, nothing else
    ran = ok("rotate-db-key", "--home", ops_home.root, "--key-file", key_file)
    assert "had not changed the database" in ran.out, str(ran)
    ok("rotate-db-key", "--home", ops_home.root, "--key-file", key_file)
    assert not (ops_home.root / "db-key-rotation").exists()
    assert _doctor_json(ops_home.root, env)["errors"] == 0
    assert Home(ops_home.root).file_key() is None  # no key was ever written into the home
