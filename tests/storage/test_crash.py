"""A crash mid-write: SIGKILL a process during a burst of intakes; nothing acknowledged is lost, nothing is partial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from staff.direct import ReadState, StaffSession
from tests.conftest import StaffedHome

pytestmark = pytest.mark.timeout(90)

# The writer: one real process submitting requests in a tight loop. A case id is
# printed (and flushed) only after `submit` has returned, so every printed id is
# a case the caller was told is safely stored.
WRITER = """
import sys, time
from pathlib import Path
from intake.requests import Request, submit
from storage.server import Server

with Server.open(Path(sys.argv[1]), environ={}) as server:
    number = 0
    while True:
        answers = {"help": f"request {number}", "padding": "x" * (number * 37 % 3000)}
        receipt = submit(server, Request(answers, "en", "cli"), int(time.time()))
        sys.stdout.write(f"{receipt.case_id} {number}\\n")
        sys.stdout.flush()
        number += 1
"""


def _run_and_kill(root: Path, script: Path, acks_before_kill: int) -> dict[str, int]:
    """Start the writer, SIGKILL it after `acks_before_kill` acknowledgements; return every acknowledged id."""
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=repo, env=env)
    watchdog = threading.Timer(60, proc.kill)  # bounds the test if the writer stalls
    watchdog.start()
    acked: dict[str, int] = {}
    try:
        assert proc.stdout is not None
        while len(acked) < acks_before_kill:
            line = proc.stdout.readline()
            if not line:
                break
            case_id, number = line.decode().split()
            acked[case_id] = int(number)
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()  # lines flushed before the kill landed are acknowledgements too
        for text in rest.decode().splitlines(keepends=True):
            if text.endswith("\n"):
                case_id, number = text.split()
                acked[case_id] = int(number)
        proc.wait(timeout=10)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert len(acked) >= acks_before_kill, f"writer stopped early: {stderr}"
    assert proc.returncode == -signal.SIGKILL, f"writer was not killed by SIGKILL: {proc.returncode} {stderr}"
    return acked


@pytest.mark.parametrize("acks_before_kill", [20, 33, 47])
def test_sigkill_mid_burst_loses_no_acknowledged_case_and_leaves_none_partial(
    staffed_home: StaffedHome, tmp_path: Path, acks_before_kill: int
) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)

    acked = _run_and_kill(staffed_home.root, script, acks_before_kill)

    with staffed_home.open() as server:
        assert server.db.conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert server.db.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        stored = {c.id: c for c in server.cases.list(with_envelopes=True)}

        missing = set(acked) - set(stored)
        assert not missing, f"acknowledged cases lost: {sorted(missing)}"
        # At most the one case committed after the last flushed acknowledgement.
        assert len(set(stored) - set(acked)) <= 1

        created = Counter(e.case_id for e in server.cases.audit_log() if e.action == "case.created")
        assert created == Counter(stored.keys()), "each case needs exactly one case.created entry, and no orphans"

        now = int(time.time())
        for reader in ("cas-main", "cas-main-2"):
            session = StaffSession.start(server, staffed_home.staff[reader], now)
            views = {v.case.id: v for v in session.list()}
            assert set(views) == set(stored)
            for case_id, view in views.items():
                assert view.state is ReadState.OK, f"{case_id} does not open for {reader}: {view.problem}"
                assert view.request is not None
                if case_id in acked:
                    assert view.request["answers"]["help"] == f"request {acked[case_id]}"
