"""The image's install steps, run for real in a fresh virtual environment (no container engine here).

The source tree is assembled from the Containerfile's own COPY lines, so a package the recipe
forgets to copy fails here; then deploy/install-venv.sh, the script the recipe runs, installs
the hash-pinned dependencies and the project wheel, and the installed `waystation` must work.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.deploy.conftest import DEPLOY, REPO


def _assemble_build_context(dest: Path) -> None:
    """Do what the build stage's COPY instructions do (sources relative to the repository root)."""
    text = (DEPLOY / "Containerfile").read_text()
    build = text.split("\nFROM ")[1]  # [0] is the header comment, [1] the build stage
    for line in build.splitlines():
        match = re.match(r"^COPY (?!--from)(.+) (\S+)$", line.strip())
        if not match:
            continue
        sources, target = match.group(1).split(), match.group(2)
        target_dir = dest / target.removeprefix("./")
        for source in sources:
            path = REPO / source
            if path.is_dir():  # a directory's contents go into the target, as Docker does
                shutil.copytree(path, target_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                file_target = target_dir / path.name if target.endswith("/") else target_dir
                file_target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, file_target)


def test_install_steps_of_the_image_work_in_a_fresh_venv(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _assemble_build_context(src)
    assert (src / "waystation" / "cli.py").is_file() and (src / "deploy" / "requirements.txt").is_file()
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAYSTATION_", "VIRTUAL_ENV", "PYTHON"))}
    env["PYTHON"] = sys.executable
    done = subprocess.run(["sh", str(src / "deploy" / "install-venv.sh"), str(venv), str(src)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=540, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    waystation = venv / "bin" / "waystation"
    run_env = {**env, "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
    helped = subprocess.run([str(waystation), "--help"], capture_output=True, text=True, env=run_env, timeout=60, check=False)
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
