"""doctor on a damaged home: it reports an empty, truncated or corrupt database and never writes to it.

Also the reference pepper (checked against the value the database recorded) and a database that
forgot the roster's serial. Every damage is made on a real SQLCipher file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from intake.requests import Request, submit
from storage.home import PEPPER_CHECK_KEY
from storage.server import ROSTER_SERIAL_KEY
from tests.ops.conftest import TOKEN, OpsHome, waystation

TOKEN_ENV = {"WAYSTATION_BOT_TOKEN": TOKEN}
PAGE = 4096


def _files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of the home: bytes and modification time (a write, or a new -wal/-shm, shows)."""
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _report(root: Path) -> dict[str, Any]:
    ran = waystation("doctor", "--home", root, "--json", "--no-network", env=TOKEN_ENV)
    assert "Traceback" not in ran.out + ran.err, str(ran)
    report: dict[str, Any] = json.loads(ran.out)
    return report


def _findings(report: dict[str, Any], check: str) -> list[dict[str, str]]:
    return [f for f in report["findings"] if f["check"] == check]


@pytest.fixture
def busy_home(ops_home: OpsHome) -> OpsHome:
    """The staffed home with cases enough for its database to span many pages."""
    with ops_home.staffed.open() as server:
        for _ in range(20):
            submit(server, Request({"help": "x", "situation": "y" * 900}), int(time.time()))
    assert (ops_home.root / "waystation.db").stat().st_size > 16 * PAGE
    return ops_home


def test_doctor_on_a_healthy_home_changes_no_file(busy_home: OpsHome) -> None:
    before = _files(busy_home.root)
    report = _report(busy_home.root)
    assert report["ok"] is True, report
    assert _files(busy_home.root) == before


def test_doctor_reports_an_empty_database_and_never_writes_a_header(busy_home: OpsHome) -> None:
    db = busy_home.root / "waystation.db"
    db.write_bytes(b"")
    before = _files(busy_home.root)
    for _ in range(2):  # the second run must not pass a database the first one made up
        report = _report(busy_home.root)
        assert report["ok"] is False
        (finding,) = _findings(report, "database")
        assert "empty (0 bytes)" in finding["problem"] and "backup" in finding["fix"]
        assert _files(busy_home.root) == before and db.stat().st_size == 0


@pytest.mark.parametrize("cut", [0.5, 0.25], ids=["half", "quarter"])
def test_doctor_reports_a_truncated_database(busy_home: OpsHome, cut: float) -> None:
    db = busy_home.root / "waystation.db"
    with db.open("r+b") as handle:
        handle.truncate(int(db.stat().st_size * cut) + 123)
    before = _files(busy_home.root)
    (finding,) = _findings(_report(busy_home.root), "database")
    assert finding["level"] == "error" and "truncated" in finding["problem"]
    assert _files(busy_home.root) == before


@pytest.mark.parametrize("page", [2, 9, -2])
def test_doctor_reports_overwritten_bytes_in_any_page(busy_home: OpsHome, page: int) -> None:
    db = busy_home.root / "waystation.db"
    pages = db.stat().st_size // PAGE
    with db.open("r+b") as handle:
        handle.seek((page % pages) * PAGE + 777)
        handle.write(os.urandom(24))
    before = _files(busy_home.root)
    (finding,) = _findings(_report(busy_home.root), "database")
    assert finding["level"] == "error" and "damaged" in finding["problem"] and "backup" in finding["fix"]
    assert _files(busy_home.root) == before


def test_doctor_reports_a_pepper_that_does_not_match_the_database(ops_home: OpsHome) -> None:
    pepper = ops_home.root / "secrets" / "reference_pepper"
    text = pepper.read_text().strip()
    pepper.write_text(text[:-1] + ("0" if text[-1] != "0" else "1") + "\n")  # still 32 hex digits
    report = _report(ops_home.root)
    (finding,) = _findings(report, "pepper")
    assert finding["level"] == "error" and "does not match" in finding["problem"]
    assert text not in json.dumps(report) and text[:-1] not in json.dumps(report)


def test_doctor_warns_while_an_old_home_has_no_pepper_check(ops_home: OpsHome) -> None:
    with ops_home.staffed.open() as server, server.db.transaction() as conn:
        conn.execute("DELETE FROM meta WHERE key = ?", (PEPPER_CHECK_KEY,))
    report = _report(ops_home.root)
    (finding,) = _findings(report, "pepper")
    assert finding["level"] == "warning" and report["ok"] is True


def test_doctor_warns_when_the_database_forgot_the_roster_serial(ops_home: OpsHome) -> None:
    with ops_home.staffed.open() as server, server.db.transaction() as conn:
        conn.execute("DELETE FROM meta WHERE key = ?", (ROSTER_SERIAL_KEY,))
    findings = _findings(_report(ops_home.root), "roster")
    assert any(f["level"] == "warning" and "serial" in f["problem"] for f in findings), findings
