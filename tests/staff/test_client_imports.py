"""The caseworker's client loads no server code: not sqlcipher3, not storage, not the staff API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Every module of staff/ a caseworker's laptop runs (staff.direct is direct mode: the server side).
CLIENT_MODULES = ["staff.remote", "staff.casework", "staff.grants", "staff.desk", "staff.pins", "staff.httpsig",
                  "staff.errors", "staff.tui", "staff.tui.app", "staff.tui.desk", "staff.tui.views",
                  "staff.tui.dialogs", "model.cases", "model.views", "model.grants", "model.text", "model.files"]
SERVER_PACKAGES = ("storage", "intake", "ops", "bot", "staffapi", "sandbox", "waystation")


def loaded_after_importing(modules: list[str]) -> list[str]:
    """The names in sys.modules after a fresh interpreter imports `modules`."""
    code = ("import importlib, json, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "print(json.dumps(sorted(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                            timeout=120)
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def server_modules(loaded: list[str]) -> list[str]:
    return [m for m in loaded if m == "sqlcipher3" or m.startswith("sqlcipher3.") or m == "staff.direct"
            or m.split(".")[0] in SERVER_PACKAGES]


def test_the_staff_client_loads_neither_sqlcipher_nor_a_server_module() -> None:
    loaded = loaded_after_importing(CLIENT_MODULES)
    assert set(CLIENT_MODULES) <= set(loaded)
    assert server_modules(loaded) == []


@pytest.mark.parametrize("module", ["staff.direct", "staffapi"])
def test_the_check_sees_server_code_when_it_is_loaded(module: str) -> None:
    # The attacker's side of the test above: direct mode and the staff API do load the database.
    loaded = loaded_after_importing([module])
    assert "sqlcipher3" in loaded and "storage.db" in loaded
