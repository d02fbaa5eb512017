"""The bot's log as a seizure finds it (a journal keeps it on the same disk): exact times, and what each line names.

Waystation's log lines never name a person or a chat, but they carry the exact time they were
written, and some name a case (by its short code) or follow a case within a second (a volunteer
alert is sent as soon as the case is stored). The attacker turns them into exact case times:
lines naming a case directly, and "volunteer messages: N sent" lines paired, in order, with the
alerts ordered by their Telegram message ids in the volunteer's chat (volunteer_messages).
Both text ("2026-01-01 12:00:00,123 INFO ...", local time) and JSON lines ({"time": "...Z"}) are read.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from tests.seizure.carve import SqlDump
from tests.seizure.joins import CaseTrace

TEXT_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")
CASE = re.compile(r"\bcase ([a-z0-9]{6,16})\b")
SENT = re.compile(r"volunteer messages: (\d+) sent")


@dataclass(frozen=True)
class LogLine:
    """One line of a log and when it was written (seconds since the epoch)."""

    at: float
    text: str


def read_log(path: Path) -> list[LogLine]:
    """Every line of a text or JSON log that carries a time."""
    lines: list[LogLine] = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        found = TEXT_LINE.match(raw)
        if found:
            stamp = time.mktime(time.strptime(found.group(1), "%Y-%m-%d %H:%M:%S"))
            lines.append(LogLine(stamp + int(found.group(2)) / 1000, raw[found.end():]))
            continue
        try:
            obj = json.loads(raw)
            stamp = calendar.timegm(time.strptime(str(obj["time"])[:19], "%Y-%m-%dT%H:%M:%S"))
            lines.append(LogLine(float(stamp), str(obj.get("message", ""))))
        except (ValueError, KeyError, TypeError):
            continue
    return lines


def alert_order(dump: SqlDump) -> list[str]:
    """Case ids of the alerts in the order Telegram numbered them, if all went to one volunteer's chat."""
    rows = [r for r in dump.rows.get("volunteer_messages", [])
            if isinstance(r.get("message_id"), int) and isinstance(r.get("case_id"), str)]
    if len({r.get("volunteer_id") for r in rows}) != 1:
        return []  # messages ids of several chats cannot be merged into one order
    rows.sort(key=lambda r: int(r["message_id"]))  # type: ignore[arg-type]
    return [str(r["case_id"]) for r in rows]


def time_cases_from_logs(logs: list[Path], cases: list[CaseTrace], dump: SqlDump) -> int:
    """Add to each case the exact times the logs give it; returns how many cases got one."""
    lines = [line for path in logs if path.exists() for line in read_log(path)]
    by_id = {case.case_id: case for case in cases}
    timed: set[str] = set()
    for line in lines:
        for found in CASE.finditer(line.text):
            owners = [c for c in cases if c.case_id.startswith(found.group(1))]
            if len(owners) == 1:
                owners[0].add_time("log: a line naming the case", int(line.at))
                timed.add(owners[0].case_id)
    sends = [line.at for line in sorted(lines, key=lambda x: x.at)
             for found in SENT.finditer(line.text) for _ in range(int(found.group(1)))]
    for case_id, at in zip(alert_order(dump), sends, strict=False):
        if case_id in by_id:
            by_id[case_id].add_time("log: its alert sent (alerts in message id order)", int(at))
            timed.add(case_id)
    return len(timed)
