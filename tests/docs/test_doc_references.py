"""Every doc the code, the deployment files or the generated config.toml points to exists."""

from __future__ import annotations

import re
from pathlib import Path

from storage.config import DEFAULT_CONFIG

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: Where a reader is sent to a doc: the product's packages, the benchmarks, deployment and scripts.
SOURCES = ("crypto", "model", "storage", "intake", "ops", "bot", "staff", "sandbox", "waystation", "bench",
           "deploy", "scripts")
SUFFIXES = {".py", ".toml", ".js", ".html", ".css", ".sh", ".yaml", ".service", ".timer", ".txt", ""}
#: "docs/name.md", or a bare "name.md" as comments and messages write it.
MENTION = re.compile(r"(?:docs/)?\b([a-z0-9][a-z0-9_-]*\.md)\b")


def _mentions(text: str) -> set[str]:
    return set(MENTION.findall(text))


def _source_texts() -> dict[Path, str]:
    texts: dict[Path, str] = {}
    for name in SOURCES:
        for path in (ROOT / name).rglob("*"):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                texts[path] = path.read_text(encoding="utf-8", errors="replace")
    return texts


def test_the_generated_config_points_only_to_docs_that_exist() -> None:
    named = _mentions(DEFAULT_CONFIG)
    assert "configuration.md" in named
    missing = sorted(n for n in named if not (DOCS / n).is_file())
    assert not missing, f"config.toml as generated points to {missing}, which docs/ lacks"


def test_code_points_only_to_docs_that_exist() -> None:
    missing = {
        f"{path.relative_to(ROOT)}: {name}"
        for path, text in _source_texts().items()
        for name in _mentions(text)
        if not (DOCS / name).is_file() and not (ROOT / name).is_file()
    }
    assert not missing, f"these point to a doc that does not exist: {sorted(missing)}"


def test_the_check_sees_a_missing_doc() -> None:
    assert _mentions("see docs/nowhere.md, then operations.md") == {"nowhere.md", "operations.md"}
    assert not (DOCS / "nowhere.md").is_file()
