"""The image's install steps, run for real in a fresh virtual environment (no container engine here).

The source tree is assembled from the Containerfile's own COPY lines, so a package the recipe
forgets to copy fails here; then deploy/install-venv.sh, the script the recipe runs, installs
the hash-pinned dependencies and the project wheel, and the installed `waystation` must work.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.deploy.conftest import assemble_build_context


def test_install_steps_of_the_image_work_in_a_fresh_venv(tmp_path: Path) -> None:
    src = tmp_path / "src"
    assemble_build_context(src)
    assert (src / "waystation" / "cli.py").is_file() and (src / "deploy" / "requirements.txt").is_file()
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAYSTATION_", "VIRTUAL_ENV", "PYTHON"))}
    env["PYTHON"] = sys.executable
    done = subprocess.run(["sh", str(src / "deploy" / "install-venv.sh"), str(venv), str(src)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=540, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    waystation = venv / "bin" / "waystation"
    run_env = {**env, "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
    helped = subprocess.run([str(waystation), "--help"], capture_output=True, text=True, env=run_env, timeout=60,
                            check=False)
    assert helped.returncode == 0 and "doctor" in helped.stdout and "backup" in helped.stdout
    home = tmp_path / "home"
    init = subprocess.run([str(waystation), "init", str(home)], capture_output=True, text=True, env=run_env,
                          cwd=tmp_path, timeout=60, check=False)
    assert init.returncode == 0, init.stderr
    assert (home / "waystation.db").is_file() and (home / "secrets" / "db.key").stat().st_mode & 0o777 == 0o600
    # A new home has no roster and no token yet: doctor says so, line by line, and fails.
    doctor = subprocess.run([str(waystation), "doctor", "--home", str(home), "--no-network"], capture_output=True,
                            text=True, env=run_env, cwd=tmp_path, timeout=60, check=False)
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr
    assert "error: [roster] there is no roster" in doctor.stdout
    # The installed files are the wheel's, not this checkout's.
    located = subprocess.run([str(venv / "bin" / "python"), "-c", "import storage; print(storage.__file__)"],
                             capture_output=True, text=True, env=run_env, cwd=tmp_path, timeout=60, check=False)
    assert str(venv) in located.stdout


def test_install_refuses_an_existing_venv(tmp_path: Path) -> None:
    """A reused venv would keep modules the new version deleted: the script wants a new directory."""
    from tests.deploy.conftest import DEPLOY

    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "kept.txt").write_text("from an earlier install")
    done = subprocess.run(["sh", str(DEPLOY / "install-venv.sh"), str(venv), str(DEPLOY.parent)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1 and "already exists" in done.stderr, done.stderr
    assert sorted(p.name for p in venv.iterdir()) == ["kept.txt"]


def test_install_builds_from_exactly_the_sources_the_wheel_is_made_of() -> None:
    """The clean copy install-venv.sh builds from holds every package pyproject.toml ships, and nothing else."""
    import re
    import tomllib

    from tests.deploy.conftest import DEPLOY

    script = (DEPLOY / "install-venv.sh").read_text()
    copied = re.search(r"tar [^\n]*-cf - ([^)]+)\)", script)
    assert copied is not None, "install-venv.sh no longer copies the sources with tar: update this test"
    names = copied.group(1).split()
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    assert sorted(names) == sorted(["pyproject.toml", project["project"]["readme"], *packages])


def test_the_image_copies_and_lets_through_every_package_the_wheel_is_made_of() -> None:
    """deploy/Containerfile's COPY lines and its build-context allow-list name exactly pyproject's packages."""
    import re
    import tomllib

    from tests.deploy.conftest import DEPLOY

    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    packages = sorted(p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"])
    containerfile = (DEPLOY / "Containerfile").read_text()
    copied = sorted(re.findall(r"^COPY (\w+) \./\1$", containerfile, flags=re.M))
    assert copied == packages, "deploy/Containerfile must COPY every package pyproject.toml ships"
    allowed = sorted(line[1:].rstrip("/") for line in (DEPLOY / "Containerfile.dockerignore").read_text().splitlines()
                     if line.startswith("!") and line.endswith("/"))
    assert allowed == packages, "deploy/Containerfile.dockerignore must let every package into the build context"
