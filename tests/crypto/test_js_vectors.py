"""The page's envelope code (bot/webform/static/seal.js) checks the same vectors as the Python tests, under node."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_javascript_envelope_code_passes_the_shared_vectors() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (run-tests installs Debian's nodejs as root)")
    result = subprocess.run([node, "--test", str(ROOT / "tests" / "js")], capture_output=True, text=True,
                            timeout=300, check=False)
    summary = [line for line in result.stdout.splitlines() if line.startswith(("# pass", "# fail", "not ok"))]
    assert result.returncode == 0, "\n".join(summary) or result.stderr[-2000:]
    assert "# fail 0" in result.stdout
