"""deploy/prometheus-alerts.yml: a valid rule file, every metric it names is one the bot exports, and (with Debian's
promtool) each alert fires on the series that mean trouble and stays quiet on a healthy bot."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.reach import BotApiReach
from tests.conftest import StaffedHome
from tests.deploy.conftest import DEPLOY, REPO
from waystation.health import Health
from waystation.metrics import Counters, render

yaml = pytest.importorskip("yaml")

RULES = DEPLOY / "prometheus-alerts.yml"
UNIT_TESTS = REPO / "tests" / "deploy" / "data" / "prometheus-alerts.test.yml"
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
DURATION = re.compile(r"^(\d+[smhdwy])+$")
METRIC = re.compile(r"\b(waystation_[a-z_]+|up)\b")


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert set(document) == {"groups"}, "a rule file holds only 'groups'"
    rules: list[dict[str, Any]] = []
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names)) and all(names), "group names are required and unique"
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "limit", "rules"} and group["rules"], group["name"]
        rules += group["rules"]
    return rules


def test_every_rule_is_a_well_formed_alert() -> None:
    rules = _rules()
    alerts = [rule.get("alert") for rule in rules]
    assert len(alerts) == len(set(alerts)), "alert names are unique"
    for rule in rules:
        name = rule.get("alert")
        assert isinstance(name, str) and re.fullmatch(r"Waystation[A-Z][A-Za-z]+", name), rule
        assert set(rule) <= RULE_KEYS, f"{name}: unknown keys {set(rule) - RULE_KEYS}"
        assert isinstance(rule["expr"], str) and rule["expr"].strip(), name
        if "for" in rule:
            assert DURATION.match(str(rule["for"])), f"{name}: 'for' must be a duration such as 5m"
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_every_metric_named_is_one_the_bot_exports(staffed_home: StaffedHome) -> None:
    with staffed_home.open() as server:
        page = render(server, Counters(), 0, Health(server, BotApiReach(), 180))
    exported = {line.split()[2] for line in page.splitlines() if line.startswith("# TYPE ")} | {"up"}
    named = {m for rule in _rules() for m in METRIC.findall(rule["expr"])}
    assert named <= exported, f"not exported by waystation/metrics.py: {sorted(named - exported)}"
    # The alerts cover what the issue asks: the bot down, not ready, deletions overdue, errors, sends failing.
    assert {"up", "waystation_part_ready", "waystation_deletions_overdue", "waystation_errors_total",
            "waystation_send_retries_total", "waystation_intakes_refused_total"} <= named


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed here (apt-get install prometheus)")
    return found


def test_promtool_accepts_the_rule_file() -> None:
    done = subprocess.run([_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0 and "SUCCESS: " in done.stdout, done.stdout + done.stderr


def _render(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*\$labels\.([a-z_]+)\s*\}\}", lambda m: labels[m.group(1)], template)


def test_each_alert_fires_on_trouble_and_not_on_a_healthy_bot(tmp_path: Path) -> None:
    promtool = _promtool()
    annotations = {rule["alert"]: rule["annotations"] for rule in _rules()}
    tests = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))
    tested = set()
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            tested.add(check["alertname"])
            for alert in check["exp_alerts"]:
                labels = {k: str(v) for k, v in alert["exp_labels"].items()}
                alert["exp_annotations"] = {k: _render(v, labels) for k, v in annotations[check["alertname"]].items()}
    assert tested == set(annotations), f"alerts without a promtool test: {sorted(set(annotations) - tested)}"
    shutil.copy(RULES, tmp_path / RULES.name)
    (tmp_path / "tests.yml").write_text(yaml.safe_dump({"rule_files": [RULES.name], **tests}), encoding="utf-8")
    done = subprocess.run([promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr
