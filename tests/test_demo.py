"""The README's main command: the demo runs the whole path and shows the decrypted case."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_scripted_demo_ends_with_a_decrypted_case(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "waystation", "demo", "--scripted", "--port", "0", "--dir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "a person completed the intake" in result.stdout
    assert "[ok]" in result.stdout
    assert "country: Example Country" in result.stdout
    assert "Traceback" not in result.stderr
