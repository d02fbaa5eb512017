"""Helpers for the deployment checks: where the recipes are and how to find the linters."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def tool(name: str, how: str) -> str:
    """The path of a linter: beside the test interpreter (pip-installed), else on PATH; else skip, saying how."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed here ({how})")
    return found


def assemble_build_context(dest: Path) -> None:
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
