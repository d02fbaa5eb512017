"""Fixtures for operations tests: a staffed home with key files on disk, and the real CLI in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from crypto.keys import KDF_MINIMUM, dump_identity, dump_public
from tests.conftest import StaffedHome, build_staffed_home

PASSPHRASE = "correct horse battery staple"
TOKEN = "123456789:" + "AAF1sandboxTOKENforTESTSonly-0123_x"
REPO = Path(__file__).resolve().parents[2]
_SCRUBBED = ("WAYSTATION_PASSPHRASE", "WAYSTATION_DB_KEY", "WAYSTATION_BOT_TOKEN", "CREDENTIALS_DIRECTORY")


@dataclass(frozen=True)
class Ran:
    """A finished `waystation` child process."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"waystation {' '.join(self.args)} -> {self.code}\n--stdout--\n{self.out}--stderr--\n{self.err}"


def waystation(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 60) -> Ran:
    """Run `python -m waystation ARGS` with a clean environment plus `env`."""
    argv = tuple(str(a) for a in args)
    child_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    child_env.update(env or {})
    done = subprocess.run([sys.executable, "-m", "waystation", *argv], capture_output=True, env=child_env,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=REPO, check=False)
    return Ran(argv, done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


def ok(*args: str | Path, env: dict[str, str] | None = None) -> Ran:
    """Run a command that must succeed without a traceback."""
    ran = waystation(*args, env=env)
    assert ran.code == 0, str(ran)
    assert "Traceback" not in ran.err, str(ran)
    return ran


def refused(*args: str | Path, env: dict[str, str] | None = None) -> Ran:
    """Run a command that must fail with one 'Error:' line and no traceback."""
    ran = waystation(*args, env=env)
    assert ran.code != 0, str(ran)
    assert "Traceback" not in ran.err + ran.out, str(ran)
    assert ran.err.strip().startswith("Error:") and len(ran.err.strip().splitlines()) == 1, str(ran)
    return ran


@dataclass
class OpsHome:
    """A staffed home plus the admin's and caseworkers' key files next to it."""

    staffed: StaffedHome
    keys: Path

    @property
    def root(self) -> Path:
        return self.staffed.root

    def key(self, name: str) -> Path:
        """Private key file of 'admin' or a staff member (passphrase PASSPHRASE)."""
        return self.keys / f"{name}.key"


@pytest.fixture
def ops_home(tmp_path: Path) -> OpsHome:
    """A fresh staffed home under tmp_path/home, key files under tmp_path/keys."""
    staffed = build_staffed_home(tmp_path / "home")
    keys = tmp_path / "keys"
    keys.mkdir()
    for name, identity in {"admin": staffed.admin, **staffed.staff}.items():
        (keys / f"{name}.key").write_bytes(dump_identity(identity, PASSPHRASE.encode(), KDF_MINIMUM))
        (keys / f"{name}.key.pub").write_bytes(dump_public(identity.public))
    return OpsHome(staffed, keys)


def with_passphrase(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Child environment holding the key files' passphrase."""
    return {"WAYSTATION_PASSPHRASE": PASSPHRASE, **(extra or {})}
