"""Fail closed for the person: with the disk full, Send is answered plainly, nothing is stored, the chat empties.

The server home (database, WAL, SHM) lives on a small tmpfs that the test fills
to the last page: a real full file system, not a mock. The real bot and the
sandbox run as subprocesses. Needs root (or CAP_SYS_ADMIN) to mount; skipped
with the reason otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import cover_texts, texts
from storage.deletions import DeletionStore
from tests.bot.flows import complete_intake, tr
from tests.bot.harness import Sandbox, configure_home, start_bot, wait_until
from tests.bot.test_intake import CASES
from tests.conftest import StaffedHome, build_staffed_home
from tests.fulldisk import fill

pytestmark = pytest.mark.timeout(240)


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
    staffed, port = staffed_on(small_disk, sandbox, after_submit=5)
    bot = start_bot(staffed.root, port, tmp_path / "bot.log")
    try:
        filler = fill(small_disk)
        person = sandbox.person("en")
        person.say("/start")  # neither this id nor the bot's can be written down
        person.wait_for_text(tr("en", texts.CONSENT))
        person.press("c")
        person.wait_for_text("What kind of help")
        person.say("/forget")
        # Only the chat-list hint follows (bot/cover.py); it is deleted after delete_after_submit too,
        # from memory: the disk is still full.
        hint = cover_texts.LEAVE_NO_TRACE[:40]
        wait_until(lambda: [m for m in person.bot_messages() if str(m.get("text", "")).startswith(hint)],
                   timeout=30, what="the chat-list hint after /forget")
        wait_until(lambda: person.messages() == [], timeout=30, what="/forget to empty the chat on a full disk")
        filler.unlink()
    finally:
        bot.stop()
    with staffed.open() as server:
        store = DeletionStore(server.db)
        assert store.all() == [] and store.intents() == []
