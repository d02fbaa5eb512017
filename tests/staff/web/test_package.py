"""A non-editable install carries the desk's templates, script, style sheet and catalogues (pyproject package-data)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
WEB = ROOT / "staff" / "web"


def test_pyproject_declares_every_file_the_desk_reads() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["*"]
    assert any(fnmatch.fnmatch("staff", p) for p in setuptools["packages"]["find"]["include"])
    read = [p for p in WEB.rglob("*") if p.is_file() and p.parent.name in ("templates", "static", "LC_MESSAGES")]
    assert {"base.html", "desk.js", "desk.css", "desk.po"} <= {p.name for p in read}
    missing = [str(p.relative_to(ROOT)) for p in read if not any(fnmatch.fnmatch(p.name, pat) for pat in patterns)]
    assert missing == []
    # The data folders are found as namespace packages (find's default in pyproject), as bot/locale's are.
    assert setuptools["packages"]["find"].get("namespaces", True) is True
