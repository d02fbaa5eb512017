"""Benchmarks run on a plain install: no bench script imports pytest, hypothesis or tests/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py"))
FORBIDDEN = ("pytest", "hypothesis", "tests", "_pytest")

# Run in a fresh interpreter: a finder refuses the test-only packages outright (so an import of
# them fails loudly even where they are installed), then the script is loaded as a module
# (not as __main__, so that nothing is measured) with bench/ first on the path, as when run.
PROBE = """
import importlib.abc, runpy, sys
FORBIDDEN = {forbidden!r}

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            raise ImportError(f"a benchmark imported {{name}}, which only the tests may use")
        return None

sys.meta_path.insert(0, Refuse())
sys.path.insert(0, {bench!r})
runpy.run_path({script!r}, run_name="bench_probe")
loaded = sorted(n for n in sys.modules if n.split(".")[0] in FORBIDDEN)
if loaded:
    raise SystemExit(f"loaded {{loaded}}")
"""


def test_there_are_bench_scripts() -> None:
    assert {"envelope.py", "enqueue.py", "intake_load.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_imports_without_test_dependencies(script: str, tmp_path: Path) -> None:
    code = PROBE.format(forbidden=FORBIDDEN, bench=str(BENCH), script=str(BENCH / script))
    # -I: isolated mode, so neither the working directory nor PYTHONPATH puts tests/ in reach;
    # the project itself comes from the environment's installed (editable) copy.
    ran = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stderr[-2000:]


def test_the_probe_catches_a_bench_that_imports_the_tests(tmp_path: Path) -> None:
    bad = tmp_path / "bad_bench.py"
    bad.write_text("from tests.conftest import build_staffed_home\n")
    code = PROBE.format(forbidden=FORBIDDEN, bench=str(BENCH), script=str(bad))
    ran = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode != 0 and "only the tests may use" in ran.stderr
