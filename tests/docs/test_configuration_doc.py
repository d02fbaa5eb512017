"""docs/configuration.md lists every key of storage/config.py with its real default and range, and nothing else."""

from __future__ import annotations

import json
import re
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from storage.config import DEFAULT_CONFIG, Config, RoutingRule, int_range

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
_HEADING = re.compile(r"^## `\[\[?([a-z_]+)\]\]?`\s*$")
_ROW = re.compile(r"^\| `([a-z_]+)` \| ([^|]+) \| ([^|]+) \| (.+) \|$")


def _documented() -> dict[str, dict[str, tuple[str, str, str]]]:
    """Section -> key -> (default, range, meaning) as the tables in the doc say."""
    tables: dict[str, dict[str, tuple[str, str, str]]] = {}
    section: str | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = _HEADING.match(line)
        if heading:
            section = heading.group(1)
            tables[section] = {}
        elif line.startswith("## "):
            section = None
        elif section is not None and (row := _ROW.match(line)):
            key, default, bounds, meaning = (part.strip() for part in row.groups())
            assert key not in tables[section], f"docs/configuration.md lists [{section}] {key} twice"
            tables[section][key] = (default, bounds, meaning)
    return tables


def _sections() -> dict[str, type]:
    """Every section of Config (a dataclass per table) and [[routing]]."""
    found: dict[str, type] = {}
    for f in fields(Config):
        found[f.name] = RoutingRule if f.name == "routing" else f.default_factory  # type: ignore[assignment]
    return found


def _expected_default(value: object) -> str:
    if isinstance(value, bool):
        return f"`{json.dumps(value)}`"
    return f"`{json.dumps(value)}`" if isinstance(value, str) else f"`{value}`"


def _expected_range(key: str) -> str:
    lowest, highest = int_range(key)
    return f"{lowest} or more" if highest == 10**9 else f"{lowest} .. {highest}"


def test_the_file_config_toml_points_to_exists() -> None:
    assert "docs/configuration.md" in DEFAULT_CONFIG and DOC.is_file()


def test_every_section_has_a_table_and_no_other_section_does() -> None:
    documented, code = set(_documented()), set(_sections())
    assert not code - documented, f"docs/configuration.md has no table for {sorted(code - documented)}"
    refused = sorted(documented - code)
    assert not refused, f"docs/configuration.md documents sections config.toml refuses: {refused}"


@pytest.mark.parametrize("section", sorted(_sections()))
def test_every_key_is_documented_and_no_other(section: str) -> None:
    keys = {f.name for f in fields(_sections()[section])}
    documented = set(_documented().get(section, {}))
    missing, unknown = sorted(keys - documented), sorted(documented - keys)
    assert not missing, (f"docs/configuration.md lacks [{section}] {', '.join(missing)}: add a row with its default, "
                         "range and meaning (from storage/config.py)")
    assert not unknown, f"docs/configuration.md lists [{section}] {', '.join(unknown)}, which config.toml refuses"


@pytest.mark.parametrize("section", sorted(set(_sections()) - {"routing"}))
def test_defaults_and_ranges_are_the_code_s(section: str) -> None:
    table = _documented().get(section, {})
    instance = _sections()[section]()
    for key, (default, bounds, meaning) in table.items():
        value = getattr(instance, key)
        assert default == _expected_default(value), f"[{section}] {key}: the doc says {default}, the code {value!r}"
        if isinstance(value, int) and not isinstance(value, bool):
            expected = _expected_range(key)
            assert bounds == expected, f"[{section}] {key}: the doc says {bounds}, the code {expected}"
        assert bounds and meaning, f"[{section}] {key}: say what values it takes and what it means"


def test_routing_rows_say_which_key_is_required() -> None:
    table = _documented()["routing"]
    for f in fields(RoutingRule):
        default, _, _ = table[f.name]
        expected = "(required)" if f.default is MISSING else _expected_default(list(f.default))
        expected = expected.replace("'", '"')
        assert default == expected, f"[[routing]] {f.name}: the doc says {default}, expected {expected}"
