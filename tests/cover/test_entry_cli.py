"""`waystation entry new/list/revoke` through the real console script: admins only, a QR code, no code kept."""

from __future__ import annotations

import json
import time
from pathlib import Path

from crypto.keys import KDF_MINIMUM, dump_identity
from storage.entry import EntryStore, hash_entry_code
from tests.cli.runner import PASSPHRASE, assert_user_error, ok, run
from tests.conftest import StaffedHome


def _key(staffed: StaffedHome, name: str, path: Path) -> Path:
    identity = staffed.admin if name == "admin" else staffed.staff[name]
    path.write_bytes(dump_identity(identity, PASSPHRASE.encode(), KDF_MINIMUM))
    return path


def _set_username(staffed: StaffedHome) -> None:
    config = staffed.root / "config.toml"
    config.write_text(config.read_text().replace('bot_username = ""', 'bot_username = "WorldClockBot"'))


def test_an_admin_mints_lists_and_revokes_a_code(staffed_home: StaffedHome, tmp_path: Path) -> None:
    home, admin = str(staffed_home.root), _key(staffed_home, "admin", tmp_path / "admin.key")
    _set_username(staffed_home)
    minted = json.loads(ok("entry", "new", "--home", home, "--admin", admin, "--uses", "3", "--valid-days", "7",
                           "--queue", "other", "--json").stdout)
    assert minted["link"] == f"https://t.me/WorldClockBot?start={minted['code']}"
    assert (minted["uses"], minted["queue"]) == (3, "other")
    [listed] = json.loads(ok("entry", "list", "--home", home, "--json").stdout)
    assert (listed["id"], listed["uses_left"], listed["queue"], listed["created_by"]) == (minted["id"], 3, "other",
                                                                                          "Ada Admin")
    assert minted["code"] not in json.dumps(listed)
    with staffed_home.open() as server:
        assert minted["code"].encode() not in b"".join(
            bytes(r[0]) for r in server.db.conn.execute("SELECT code_hash FROM entry_codes"))
    ok("entry", "revoke", "--home", home, str(minted["id"]))
    assert json.loads(ok("entry", "list", "--home", home, "--json").stdout) == []
    with staffed_home.open() as server:
        assert EntryStore(server.db).redeem(hash_entry_code(minted["code"], server.pepper()), int(time.time())) is None


def test_the_link_is_printed_with_a_qr_code(staffed_home: StaffedHome, tmp_path: Path) -> None:
    home, admin = str(staffed_home.root), _key(staffed_home, "admin", tmp_path / "admin.key")
    _set_username(staffed_home)
    text = ok("entry", "new", "--home", home, "--admin", admin).stdout
    assert "https://t.me/WorldClockBot?start=" in text
    assert sum(line.count("█") + line.count("▀") + line.count("▄") for line in text.splitlines()) > 100
    assert "[cover] enabled is false" in text  # the admin is told the intake is still open to anyone


def test_without_a_username_the_code_comes_without_a_link(staffed_home: StaffedHome, tmp_path: Path) -> None:
    home, admin = str(staffed_home.root), _key(staffed_home, "admin", tmp_path / "admin.key")
    minted = json.loads(ok("entry", "new", "--home", home, "--admin", admin, "--json").stdout)
    assert minted["link"] is None and len(minted["code"]) == 16
    assert "bot_username" in ok("entry", "new", "--home", home, "--admin", admin).stdout


def test_only_an_active_admin_mints_and_mistakes_get_one_line(staffed_home: StaffedHome, tmp_path: Path) -> None:
    home = str(staffed_home.root)
    caseworker = _key(staffed_home, "cas-main", tmp_path / "cas.key")
    admin = _key(staffed_home, "admin", tmp_path / "admin.key")
    assert_user_error(run("entry", "new", "--home", home, "--admin", caseworker), "not an active admin")
    assert json.loads(ok("entry", "list", "--home", home, "--json").stdout) == []
    assert_user_error(run("entry", "new", "--home", home, "--admin", admin, "--queue", "Bad Queue"), "queue")
    assert run("entry", "new", "--home", home, "--admin", admin, "--uses", "0").returncode == 2
    assert run("entry", "revoke", "--home", home).returncode == 2
    assert_user_error(run("entry", "revoke", "--home", home, "42"), "no such entry code")
    ok("entry", "new", "--home", home, "--admin", admin, "--uses", "2")
    ok("entry", "new", "--home", home, "--admin", admin)
    assert "2 entry codes revoked" in ok("entry", "revoke", "--home", home, "--all").stdout
