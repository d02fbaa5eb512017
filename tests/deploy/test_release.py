"""deploy/waystation-release: switching, rolling back and pruning releases, on stand-in release directories.

The builds themselves are exercised for real in test_upgrade.py (slow); here each release is a
directory with an executable `venv/bin/waystation`, which is all the switch looks at.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY

SCRIPT = DEPLOY / "waystation-release"


def release(prefix: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the script against `prefix`."""
    env = {**os.environ, "WAYSTATION_PREFIX": str(prefix), "PYTHON": sys.executable}
    return subprocess.run(["sh", str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def fake_release(prefix: Path, name: str) -> None:
    waystation = prefix / "releases" / name / "venv" / "bin" / "waystation"
    waystation.parent.mkdir(parents=True)
    waystation.write_text(f"#!/bin/sh\necho {name}\n")
    waystation.chmod(0o755)


def current(prefix: Path, link: str = "current") -> str:
    return os.readlink(prefix / link)


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    root = tmp_path / "opt"
    for name in ("20260101T000000Z-0.1.0", "20260201T000000Z-0.2.0", "20260301T000000Z-0.3.0"):
        fake_release(root, name)
    return root


def test_switch_points_current_at_the_release_and_previous_at_the_old_one(prefix: Path) -> None:
    first = release(prefix, "switch", "20260101T000000Z-0.1.0")
    assert first.returncode == 0, first.stderr
    assert current(prefix) == "releases/20260101T000000Z-0.1.0" and not (prefix / "previous").exists()
    second = release(prefix, "switch", "20260201T000000Z-0.2.0")
    assert second.returncode == 0 and "previous: 20260101T000000Z-0.1.0" in second.stdout
    assert current(prefix) == "releases/20260201T000000Z-0.2.0"
    assert current(prefix, "previous") == "releases/20260101T000000Z-0.1.0"
    # What the service runs is the release's own script, reached through the link.
    ran = subprocess.run([str(prefix / "current" / "venv" / "bin" / "waystation")], capture_output=True, text=True,
                         check=True)
    assert ran.stdout.strip() == "20260201T000000Z-0.2.0"
    listed = release(prefix, "list").stdout.splitlines()
    assert listed == ["20260101T000000Z-0.1.0 (previous)", "20260201T000000Z-0.2.0 (current)",
                      "20260301T000000Z-0.3.0"]


def test_rollback_goes_back_and_forth(prefix: Path) -> None:
    release(prefix, "switch", "20260101T000000Z-0.1.0")
    release(prefix, "switch", "20260301T000000Z-0.3.0")
    back = release(prefix, "rollback")
    assert back.returncode == 0, back.stderr
    assert current(prefix) == "releases/20260101T000000Z-0.1.0"
    assert current(prefix, "previous") == "releases/20260301T000000Z-0.3.0"
    assert release(prefix, "rollback").returncode == 0
    assert current(prefix) == "releases/20260301T000000Z-0.3.0"


def test_rollback_without_a_previous_release_is_refused(prefix: Path) -> None:
    release(prefix, "switch", "20260101T000000Z-0.1.0")
    refused = release(prefix, "rollback")
    assert refused.returncode == 1 and "no previous release" in refused.stderr
    assert current(prefix) == "releases/20260101T000000Z-0.1.0"


@pytest.mark.parametrize("name", ["nope", "../../etc", ".hidden", ""])
def test_switch_to_what_is_not_a_release_changes_nothing(prefix: Path, name: str) -> None:
    release(prefix, "switch", "20260101T000000Z-0.1.0")
    refused = release(prefix, "switch", name)
    assert refused.returncode == 1 and "waystation-release:" in refused.stderr
    assert current(prefix) == "releases/20260101T000000Z-0.1.0"


def test_a_release_without_its_waystation_cannot_be_switched_to(prefix: Path) -> None:
    (prefix / "releases" / "20260401T000000Z-broken" / "venv").mkdir(parents=True)
    refused = release(prefix, "switch", "20260401T000000Z-broken")
    assert refused.returncode == 1 and "no release" in refused.stderr
    assert not (prefix / "current").exists()


def test_the_switch_never_leaves_a_moment_without_current(prefix: Path) -> None:
    """Readers (systemd starting the unit, waystation-admin) resolve the link while it is switched back and forth."""
    release(prefix, "switch", "20260101T000000Z-0.1.0")
    waystation = prefix / "current" / "venv" / "bin" / "waystation"
    missing: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if not os.access(waystation, os.X_OK):
                missing.append("current/venv/bin/waystation did not resolve")

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(40):
            assert release(prefix, "switch", "20260201T000000Z-0.2.0").returncode == 0
            assert release(prefix, "rollback").returncode == 0
    finally:
        done.set()
        watcher.join()
    assert not missing, f"{len(missing)} lookups failed"
    assert not list(prefix.glob(".*.new")), "a temporary link was left behind"


def test_prune_keeps_the_newest_and_never_current_or_previous(prefix: Path) -> None:
    fake_release(prefix, "20260401T000000Z-0.4.0")
    fake_release(prefix, "20260501T000000Z-0.5.0")
    release(prefix, "switch", "20260201T000000Z-0.2.0")
    release(prefix, "switch", "20260101T000000Z-0.1.0")  # a rollback to an old release, say
    pruned = release(prefix, "prune", "1")
    assert pruned.returncode == 0, pruned.stderr
    left = sorted(p.name for p in (prefix / "releases").iterdir())
    assert left == ["20260101T000000Z-0.1.0", "20260201T000000Z-0.2.0", "20260501T000000Z-0.5.0"]


def test_a_failed_build_leaves_no_release_behind(tmp_path: Path, prefix: Path) -> None:
    src = tmp_path / "src"
    (src / "deploy").mkdir(parents=True)
    (src / "pyproject.toml").write_text('[project]\nname = "waystation"\nversion = "9.9.9"\n')
    (src / "deploy" / "install-venv.sh").write_text('mkdir -p "$1"; echo "pip could not install" >&2; exit 3\n')
    before = sorted(p.name for p in (prefix / "releases").iterdir())
    failed = release(prefix, "install", src)
    assert failed.returncode != 0 and failed.stdout == ""
    assert sorted(p.name for p in (prefix / "releases").iterdir()) == before


def test_install_refuses_a_source_that_is_not_a_checkout(tmp_path: Path, prefix: Path) -> None:
    refused = release(prefix, "install", tmp_path)
    assert refused.returncode == 1 and "no pyproject.toml" in refused.stderr


def test_units_and_scripts_run_waystation_through_the_stable_link() -> None:
    """A unit naming a release (or the old /opt/waystation/venv) would not follow a switch or a rollback."""
    stale = []
    for path in sorted(DEPLOY.iterdir()):
        if path.suffix in (".service", ".timer") or path.name.startswith("waystation-"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if line.lstrip().startswith("#"):
                    continue  # a comment may show how to try another release by hand
                for venv in re.findall(r"/opt/waystation/[^\s\"'}]*venv", line):
                    if venv != "/opt/waystation/current/venv":
                        stale.append(f"deploy/{path.name}:{number}: {venv}")
    assert not stale, "run waystation as /opt/waystation/current/venv/bin/waystation: " + "; ".join(stale)
    assert "/opt/waystation/current/venv/bin/waystation" in (DEPLOY / "waystation.service").read_text()
