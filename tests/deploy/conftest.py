"""Helpers for the deployment checks: where the recipes are and how to find the linters."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def tool(name: str, how: str) -> str:
    """The path of a linter: beside the test interpreter (pip-installed), else on PATH; else skip saying how to get it."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed here ({how})")
    return found
