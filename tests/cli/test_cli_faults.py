"""Faults of the machine, not of the person: a damaged database, a full disk, a missing file.

Every command refuses a database that doctor flags, and never writes to it; every failure is one
`Error:` line that says what to do, never a traceback. The full disk is a real one: a small
tmpfs mounted for the test (the tests run as root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crypto.keys import KDF_MINIMUM, dump_identity, dump_public
from intake.requests import Request, submit
from tests.cli.runner import PASSPHRASE, assert_user_error, ok, run
from tests.conftest import build_staffed_home

pytestmark = pytest.mark.timeout(300)

PAGE = 4096
TOKEN_ENV = {"WAYSTATION_BOT_TOKEN": "424242:" + "T" * 35}


@dataclass(frozen=True)
class Site:
    """A staffed home with one case, and every person's key in files."""

    home: Path
    keys: Path

    def key(self, name: str) -> Path:
        return self.keys / f"{name}.key"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("faults")
    staffed = build_staffed_home(root / "home")
    keys = root / "keys"
    keys.mkdir()
    for name, identity in [("admin", staffed.admin), *staffed.staff.items()]:
        (keys / f"{name}.key").write_bytes(dump_identity(identity, PASSPHRASE.encode(), KDF_MINIMUM))
        (keys / f"{name}.key.pub").write_bytes(dump_public(identity.public))
    with staffed.open() as server:
        for _ in range(20):  # enough cases for the database to span many pages
            submit(server, Request({"help": "x", "situation": "y" * 900}), int(time.time()))
    return Site(staffed.root, keys)


@pytest.fixture
def site(base: Site, tmp_path: Path) -> Site:
    """A private copy of the base home."""
    shutil.copytree(base.home, tmp_path / "home")
    return Site(tmp_path / "home", base.keys)


def _home_state(home: Path) -> dict[str, bytes]:
    """Every file of the home with its bytes (a new -wal or -shm file shows up too)."""
    return {p.relative_to(home).as_posix(): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def _empty(db: Path) -> None:
    db.write_bytes(b"")


def _truncated(db: Path) -> None:
    with db.open("r+b") as handle:
        handle.truncate(db.stat().st_size // 2 + 1000)


def _overwritten(db: Path) -> None:
    _overwrite(db, 12 * PAGE + 300, os.urandom(32))


DAMAGE: dict[str, Callable[[Path], None]] = {"empty": _empty, "truncated": _truncated, "overwritten": _overwritten}


def _commands(site: Site, tmp: Path) -> list[tuple[tuple[str | Path, ...], dict[str, object]]]:
    """Every command that opens the database, with what it needs to get that far."""
    home = site.home
    return [
        (("submit", "--home", home), {"stdin": b'{"help": "x"}'}),
        (("queue", "stats", "--home", home), {}),
        (("staff", "--home", home, "--key", site.key("cas-main"), "list"), {}),
        (("roster", "show", "--home", home), {}),
        (("volunteers", "list", "--home", home), {}),
        (("volunteers", "invite", "--home", home, "--admin", site.key("admin"), "--queue", "main"), {}),
        (("backup", "--home", home, "--out", tmp / "copy.backup"), {}),
        (("rotate-db-key", "--home", home), {}),
        (("bot", "run", "--home", home), {"env": TOKEN_ENV}),
    ]


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_command_refuses_a_database_doctor_flags_and_never_writes_it(site: Site, tmp_path: Path,
                                                                           damage: str) -> None:
    DAMAGE[damage](site.home / "waystation.db")
    before = _home_state(site.home)
    flagged = run("doctor", "--home", site.home, "--no-network", "--json")
    assert flagged.returncode == 1 and '"check": "database"' in flagged.stdout, str(flagged)
    for args, options in _commands(site, tmp_path):
        line = assert_user_error(run(*args, **options))  # type: ignore[arg-type]
        assert "waystation.db" in line and ("restore" in line or "backup" in line), line
        assert _home_state(site.home) == before, f"waystation {' '.join(map(str, args))} changed the home"
    assert not (tmp_path / "copy.backup").exists()


def test_doctor_flags_a_damaged_pepper_and_intake_commands_refuse_it(site: Site) -> None:
    pepper = site.home / "secrets" / "reference_pepper"
    text = pepper.read_text().strip()
    pepper.write_text(("1" if text[0] != "1" else "2") + text[1:] + "\n")
    flagged = run("doctor", "--home", site.home, "--no-network")
    assert flagged.returncode == 1 and "error: [pepper]" in flagged.stdout, str(flagged)
    before = _home_state(site.home)
    for args, options in [(("submit", "--home", site.home), {"stdin": b'{"help": "x"}'}),
                          (("bot", "run", "--home", site.home), {"env": TOKEN_ENV}),
                          (("volunteers", "invite", "--home", site.home, "--admin", site.key("admin"),
                            "--queue", "main"), {})]:
        assert_user_error(run(*args, **options), "reference_pepper", "does not match")  # type: ignore[arg-type]
    assert _home_state(site.home) == before


# -- missing files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "command", "fragments"),
    [
        ("waystation.db", ("queue", "stats"), ("no database at",)),
        ("secrets/reference_pepper", ("submit",), ("reference_pepper", "missing")),
        ("secrets/bot_identity.json", ("submit",), ("bot_identity.json", "missing")),
        ("roster.json", ("submit",), ("roster",)),
        ("config.toml", ("queue", "stats"), ("config.toml",)),
    ],
)
def test_a_missing_file_is_one_error_line(site: Site, missing: str, command: tuple[str, ...],
                                          fragments: tuple[str, ...]) -> None:
    (site.home / missing).unlink()
    assert_user_error(run(*command, "--home", site.home, stdin=b'{"help": "x"}'), *fragments)


def test_a_missing_backup_destination_is_one_error_line_with_a_fix(site: Site, tmp_path: Path) -> None:
    line = assert_user_error(run("backup", "--home", site.home, "--out", tmp_path / "no" / "such" / "x.backup"))
    assert "No such file or directory" in line and "check the path" in line


# -- a full disk (a real one) --------------------------------------------------------------------


@dataclass
class FullDisk:
    """A small tmpfs; `fill(leave)` takes all but `leave` KiB of it, `free()` gives the space back."""

    mount: Path

    def fill(self, leave_kib: int = 0) -> None:
        self.free()
        stats = os.statvfs(self.mount)
        available = stats.f_bavail * stats.f_frsize
        ballast = self.mount / "ballast"
        with ballast.open("wb") as handle:
            try:
                handle.write(b"\0" * max(0, available - leave_kib * 1024))
                handle.flush()
            except OSError:
                pass  # full: that is the point

    def free(self) -> None:
        (self.mount / "ballast").unlink(missing_ok=True)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[FullDisk]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield FullDisk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _cases(home: Path) -> int:
    stats = json.loads(ok("queue", "stats", "--home", home, "--json").stdout)["queues"]
    return sum(int(count) for counts in stats.values() for count in counts.values())


@pytest.mark.parametrize("leave_kib", [0, 48], ids=["no-space", "space-to-open-not-to-commit"])
def test_submit_on_a_full_disk_is_one_error_line_and_stores_nothing(site: Site, full_disk: FullDisk,
                                                                     leave_kib: int) -> None:
    home = full_disk.mount / "home"
    shutil.copytree(site.home, home)
    before = _cases(home)
    full_disk.fill(leave_kib)
    line = assert_user_error(run("submit", "--home", home, stdin=b'{"help": "x"}'))
    assert "df -h" in line and "key" not in line, line  # the disk is named, not blamed on the key
    full_disk.free()
    assert _cases(home) == before
    doctor = run("doctor", "--home", home, "--no-network", "--json")
    assert '"check": "database"' not in doctor.stdout, str(doctor)
    ok("submit", "--home", home, stdin=b'{"help": "x"}')  # with space again, intake works
    assert _cases(home) == before + 1


def test_init_on_a_full_disk_leaves_nothing_behind(full_disk: FullDisk) -> None:
    full_disk.fill(8)
    target = full_disk.mount / "new-home"
    assert_user_error(run("init", target), "could not create the home", "waystation init' again")
    assert not target.exists()
    full_disk.free()
    ok("init", target)


def test_backup_onto_a_full_disk_is_one_error_line_and_leaves_no_partial_file(site: Site,
                                                                               full_disk: FullDisk) -> None:
    full_disk.fill(16)
    before = _home_state(site.home)
    line = assert_user_error(run("backup", "--home", site.home, "--out", full_disk.mount / "copy.backup"))
    assert "full" in line or "No space left" in line, line
    assert "free space" in line, line
    assert sorted(p.name for p in full_disk.mount.iterdir()) == ["ballast"]
    assert _home_state(site.home) == before
