"""Fail closed for the person: with the disk full, Send is answered plainly, nothing is stored, the chat empties.

The server home (database, WAL, SHM) lives on a small tmpfs that the test fills
to the last page: a real full file system, not a mock. The real bot and the
sandbox run as subprocesses. Needs root (or CAP_SYS_ADMIN) to mount; skipped
with the reason otherwise.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import texts
from storage.deletions import DeletionStore
from tests.bot.flows import complete_intake, tr
from tests.bot.harness import Sandbox, configure_home, start_bot, wait_until
from tests.bot.test_intake import CASES
from tests.conftest import StaffedHome, build_staffed_home

pytestmark = pytest.mark.timeout(240)
DISK_SIZE = "32m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh tmpfs of DISK_SIZE, unmounted after the test."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0700", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for a real full disk (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill(disk: Path) -> Path:
    """Write a file until the file system refuses another byte; returns it (delete it to free the space)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    try:
        for chunk in (1 << 20, 1 << 12, 1):
            while True:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as err:
                    if err.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    probe = disk / "probe"
    with pytest.raises(OSError) as refused, probe.open("wb") as handle:
        handle.write(b"\0" * 4096)
        handle.flush()
        os.fsync(handle.fileno())
    assert refused.value.errno == errno.ENOSPC
    probe.unlink(missing_ok=True)
    return filler


def staffed_on(disk: Path, sandbox: Sandbox, **settings: int) -> tuple[StaffedHome, int]:
    staffed = build_staffed_home(disk / "home")
    return staffed, configure_home(staffed.root, sandbox, **settings)


def test_send_on_a_full_disk_is_answered_stores_nothing_and_the_chat_still_empties(
    small_disk: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    staffed, port = staffed_on(small_disk, sandbox, after_submit=5)
    bot = start_bot(staffed.root, port, tmp_path / "bot.log")
    try:
        person = sandbox.person("en")
        complete_intake(person, "en", CASES["en"], submit=False)  # the review screen lists every answer
        filler = fill(small_disk)
        person.press("r")
        person.wait_for_text(tr("en", texts.SUBMIT_FAILED), timeout=20)
        assert all(tr("en", texts.SUBMITTED) not in (m.get("text") or "") for m in person.bot_messages())
        # Still full: the ids live in memory only, and are deleted on time all the same.
        wait_until(lambda: person.messages() == [], timeout=30, what="the chat to empty on a full disk")
        assert "Traceback" not in bot.process.log()
        filler.unlink()
        with staffed.open() as server:
            assert server.cases.list() == []  # no half case
            assert server.db.conn.execute("SELECT count(*) FROM audit WHERE action = 'case.created'").fetchone()[0] == 0
            store = DeletionStore(server.db)
            # The rows written before the disk filled are erased once it can be written again.
            wait_until(lambda: store.all() == [] and store.intents() == [], timeout=60,
                       what="the rows to be erased after space is freed")
    finally:
        bot.stop()


def test_forget_on_a_full_disk_empties_the_chat(small_disk: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    staffed, port = staffed_on(small_disk, sandbox)
    bot = start_bot(staffed.root, port, tmp_path / "bot.log")
    try:
        filler = fill(small_disk)
        person = sandbox.person("en")
        person.say("/start")  # neither this id nor the bot's can be written down
        person.wait_for_text(tr("en", texts.CONSENT))
        person.press("c")
        person.wait_for_text("What kind of help")
        person.say("/forget")
        wait_until(lambda: person.messages() == [], timeout=15, what="/forget to empty the chat on a full disk")
        filler.unlink()
    finally:
        bot.stop()
    with staffed.open() as server:
        store = DeletionStore(server.db)
        assert store.all() == [] and store.intents() == []
