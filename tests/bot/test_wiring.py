"""The bot's wiring: no import circle, a Runtime that cannot change, secrets read once and again on change."""

from __future__ import annotations

import ast
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import nacl.utils
import pytest

from bot.keycache import BotSecrets
from crypto.keys import Identity, dump_identity
from storage.errors import HomeInvalid
from storage.home import init_home
from storage.keyring import bot_box_keys
from storage.server import Server
from waystation.service import build_runtime

WIRING = ["bot.runtime", "bot.app", "bot.conversation", "bot.alerting.sending", "bot.alerting.handlers"]


def test_the_alerting_core_loads_none_of_the_wiring() -> None:
    """bot.alerting.alerts is built before the Runtime: importing it loads neither the Runtime nor the sender."""
    code = ("import sys, bot.alerting.alerts; "
            f"print(','.join(m for m in {WIRING!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    assert loaded == ""


def test_the_runtime_cannot_be_changed_once_built(tmp_path: Path) -> None:
    init_home(tmp_path / "home")
    with Server.open(tmp_path / "home", environ={}) as server:
        rt = build_runtime(server, clock=lambda: 1000.0)
        with pytest.raises(dataclasses.FrozenInstanceError):
            rt.clock = lambda: 0.0  # type: ignore[misc]
        assert rt.now() == 1000


def _replace(path: Path, data: bytes) -> None:
    """As an admin or a restore writes a secret: a new file put in place."""
    new = path.with_suffix(".new")
    new.write_bytes(data)
    os.chmod(new, 0o600)
    os.replace(new, path)


def test_the_pepper_is_read_once_and_again_when_its_file_changes(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    secrets = BotSecrets(home)
    first = secrets.pepper()
    assert [secrets.pepper() for _ in range(50)] == [first] * 50
    assert secrets._pepper.loads == 1
    other = nacl.utils.random(len(first))
    _replace(home.pepper_path, other.hex().encode("ascii") + b"\n")
    assert secrets.pepper() == other
    assert secrets._pepper.loads == 2


def test_the_bot_keys_are_read_once_and_again_when_the_identity_changes(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    secrets = BotSecrets(home)
    before = [bytes(k) for k in secrets.box_keys()]
    for _ in range(50):
        secrets.box_keys()
    assert secrets._box_keys.loads == 1
    _replace(home.bot_identity_path, dump_identity(Identity.generate("bot"), None))
    after = [bytes(k) for k in secrets.box_keys()]
    assert after != before and after == [bytes(k) for k in bot_box_keys(home)]
    assert secrets._box_keys.loads == 2


def test_a_missing_identity_is_refused_each_time_not_remembered(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    secrets = BotSecrets(home)
    keys = secrets.box_keys()
    home.bot_identity_path.unlink()
    with pytest.raises(HomeInvalid, match="bot_identity"):
        secrets.box_keys()
    _replace(home.bot_identity_path, dump_identity(Identity.generate("bot"), None))
    assert [bytes(k) for k in secrets.box_keys()] != [bytes(k) for k in keys]


def _bot_imports() -> dict[str, set[str]]:
    """Module -> the bot modules it imports (anywhere in it, TYPE_CHECKING blocks included)."""
    root = Path(__file__).resolve().parents[2]
    files = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (root / "bot").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bot":
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in files)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.split(".")[0] == "bot")
        graph[name] = {m for m in found if m in files and m != name and files[m].name != "__init__.py"}
    return graph


def test_no_bot_module_imports_itself_through_others() -> None:
    graph = _bot_imports()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        for dep in sorted(graph[name]):
            assert dep not in path, f"import circle: {' -> '.join([*path[path.index(dep):], dep])}"
            if dep not in done:
                visit(dep, [*path, dep])
        done.add(name)

    for module in sorted(graph):
        visit(module, [module])
