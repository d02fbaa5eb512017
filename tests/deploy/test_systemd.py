"""deploy/*.service: the sandboxing the docs promise, `systemd-analyze verify`, and an exposure score kept low."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY

UNITS = ["waystation.service", "waystation-backup.service", "waystation-doctor.service"]
TIMERS = ["waystation-backup.timer", "waystation-doctor.timer"]
REQUIRED = {
    "ProtectSystem": "strict", "PrivateTmp": "yes", "NoNewPrivileges": "yes", "MemoryDenyWriteExecute": "yes",
    "ProtectHome": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes", "RestrictNamespaces": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
    "SystemCallArchitectures": "native", "CapabilityBoundingSet": "", "UMask": "0077", "User": "waystation",
}
MAX_EXPOSURE = 20  # systemd-analyze's scale is 0..100 (shown as 0.0..10.0); ours are 1.1 and 0.4


def _service(name: str) -> dict[str, list[str]]:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    values: dict[str, list[str]] = {}
    current = ""
    for line in (DEPLOY / name).read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line
        elif current == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize("unit", UNITS)
def test_unit_has_the_sandboxing_options(unit: str) -> None:
    service = _service(unit)
    for key, value in REQUIRED.items():
        assert service.get(key, [None])[-1] == value, f"{unit}: {key}={value} expected"


def test_the_bot_unit_loads_both_credentials_under_the_names_the_code_reads() -> None:
    from bot.token import TOKEN_CREDENTIAL
    from storage.home import DB_KEY_CREDENTIAL

    loaded = {v.split(":", 1)[0] for v in _service("waystation.service")["LoadCredential"]}
    assert loaded == {TOKEN_CREDENTIAL, DB_KEY_CREDENTIAL}
    admin = (DEPLOY / "waystation-admin").read_text()
    assert f"LoadCredential={TOKEN_CREDENTIAL}:" in admin and f"LoadCredential={DB_KEY_CREDENTIAL}:" in admin


def test_the_monitoring_unit_runs_doctor_with_the_services_credentials_and_tells_admins() -> None:
    from bot.token import TOKEN_CREDENTIAL
    from storage.home import DB_KEY_CREDENTIAL

    doctor = _service("waystation-doctor.service")
    assert {v.split(":", 1)[0] for v in doctor["LoadCredential"]} == {TOKEN_CREDENTIAL, DB_KEY_CREDENTIAL}
    command = doctor["ExecStart"][-1].split()
    assert command[1:3] == ["doctor", "--home"] and "--notify-admins" in command and "--json" in command
    assert "--no-network" not in command  # it asks the Bot API whether the token still works
    assert doctor["Type"] == ["oneshot"]


def test_the_bot_unit_does_not_restart_on_a_refusal_only_a_person_can_fix() -> None:
    from waystation.commands_bot import EXIT_CONFIG

    assert _service("waystation.service")["RestartPreventExitStatus"] == [str(EXIT_CONFIG)]


def _units_here(tmp_path: Path) -> list[Path]:
    """The units with ExecStart pointing at this interpreter's waystation, so verify finds an executable."""
    executable = Path(sys.executable).with_name("waystation")
    if not executable.exists():
        pytest.skip("no waystation console script beside the test interpreter")
    copies = []
    for name in [*UNITS, *TIMERS]:
        copy = tmp_path / name
        unit = (DEPLOY / name).read_text()
        copy.write_text(unit.replace("/opt/waystation/current/venv/bin/waystation", str(executable)))
        copies.append(copy)
    return copies


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed here (apt-get install systemd)")
    return found


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = _analyze()
    done = subprocess.run([analyze, "verify", *map(str, _units_here(tmp_path))], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr.strip(), done.stdout + done.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_exposure_stays_low(tmp_path: Path, unit: str) -> None:
    analyze = _analyze()
    copy = next(p for p in _units_here(tmp_path) if p.name == unit)
    done = subprocess.run([analyze, "security", "--offline=yes", f"--threshold={MAX_EXPOSURE}", str(copy)],
                          capture_output=True, text=True, timeout=60, check=False)
    if "Unknown option" in done.stderr or "unrecognized option" in done.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "Overall exposure level" in done.stdout
