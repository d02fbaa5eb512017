"""What a seizure of the live home finds of people's chats: only the present, and nothing in the database.

The real `waystation bot run` and the sandbox: a volunteer enrols, one person sends a request
(the volunteer is alerted), one uses /forget halfway, one has only said /start. The home is
copied while the bot runs, as a seizure would take it, and read with every server secret: the
database's pages and WAL frames decrypted with db.key, the chat state opened with it, and every
file searched byte by byte.
"""

from __future__ import annotations

import shutil
import time
import tomllib
from pathlib import Path

import pytest

from bot import cover_texts, texts
from storage.chatstate import CHAT_STATE_NAME, read_chat_state, unseal
from storage.home import Home
from storage.volunteers import (
    Settings,
    VolunteerStore,
    hash_code,
    new_invite_code,
    normalise_code,
)
from tests.alerts.harness import first_line, make_home, wait_for_count
from tests.bot.flows import complete_intake, tr
from tests.bot.harness import Sandbox, start_bot, wait_until
from tests.bot.test_intake import CASES
from tests.conftest import StaffedHome
from tests.storage.sqlcipher_pages import (
    decrypt_pages,
    decrypt_wal_frames,
    pages_holding,
)

pytestmark = pytest.mark.timeout(180)

GRANULARITY = 5
HOUR = 3600


def _invite(staffed: StaffedHome) -> str:
    code, now = new_invite_code(), int(time.time())
    with staffed.open() as server:
        VolunteerStore(server.db).create_invite(hash_code(normalise_code(code) or "", server.home.pepper()),
                                                Settings(("main",)), "Ada Admin", now, now + HOUR)
    return code


def _staff_port(root: Path) -> int:
    config = tomllib.loads((root / "config.toml").read_text(encoding="utf-8"))
    return int(config["staff_api"]["listen"].rpartition(":")[2])


def _seize(root: Path, into: Path) -> Path:
    """A copy of the live home, files as they are on disk at this moment."""
    shutil.copytree(root, into)
    return into


def _database_pages(home: Path) -> list[bytes]:
    key = Home(home).db_key(environ={})
    return list(decrypt_pages(home / "waystation.db", key).values()) + decrypt_wal_frames(
        home / "waystation.db-wal", key)


def _raw_hits(home: Path, chat_id: int) -> list[str]:
    """Files of the home holding the chat id as text or as 8 bytes either way round; the chat state decrypted too."""
    forms = [str(chat_id).encode(), chat_id.to_bytes(8, "big"), chat_id.to_bytes(8, "little")]
    hits = [p.name for p in home.rglob("*") if p.is_file() and any(f in p.read_bytes() for f in forms)]
    state = home / CHAT_STATE_NAME
    if state.exists() and any(f in unseal(state.read_bytes(), Home(home).db_key(environ={})) for f in forms[1:]):
        hits.append(f"{CHAT_STATE_NAME} (decrypted)")
    return hits


def test_a_seized_live_home_holds_no_chat_id_in_the_database_and_only_current_chats_in_the_chat_state(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    staffed = make_home(tmp_path / "home", sandbox,
                        privacy={"delete_after_seconds": 20, "delete_after_submit_seconds": 6,
                                 "time_granularity_seconds": GRANULARITY},
                        alerts={"delete_after_hours": 1})
    port = _staff_port(staffed.root)
    bot = start_bot(staffed.root, port, tmp_path / "bot.log")
    try:
        volunteer = sandbox.person("en")
        volunteer.say(f"/volunteer {_invite(staffed)}")
        volunteer.wait_for_text(first_line("en", texts.VOLUNTEER_WELCOME))

        sender = sandbox.person("en")
        complete_intake(sender, "en", CASES["en"])
        with staffed.open() as server:
            [case] = server.cases.list()
        wait_for_count(volunteer, case.id, 1, timeout=20)

        forgetter = sandbox.person("en")
        complete_intake(forgetter, "en", CASES["en"], submit=False)
        forgetter.say("/forget")
        # /forget empties the chat at once; its last word (how to remove the chat from the list,
        # bot/cover.py) comes after and goes after delete_after_submit_seconds, rounded up.
        hint = cover_texts.LEAVE_NO_TRACE[:40]
        wait_until(lambda: [m for m in forgetter.bot_messages() if str(m.get("text", "")).startswith(hint)],
                   timeout=10, what="the chat-list hint after /forget")
        wait_until(lambda: forgetter.messages() == [], timeout=6 + GRANULARITY + 10, what="the hint to go too")

        idle = sandbox.person("en")
        idle.say("/start")
        idle.wait_for_text(tr("en", texts.CONSENT))
        people = {"sender": sender.chat_id, "forgetter": forgetter.chat_id, "idle": idle.chat_id}

        def forgotten_everywhere() -> bool:
            key = Home(staffed.root).db_key(environ={})
            state = read_chat_state(staffed.root, key)
            return forgetter.chat_id not in state.chats and all(i.chat_id != forgetter.chat_id
                                                              for i in state.intents.values())

        wait_until(forgotten_everywhere, timeout=10, what="the forgotten chat to leave the chat state")
        seized = _seize(staffed.root, tmp_path / "seized-live")
        key = Home(seized).db_key(environ={})
        pages = _database_pages(seized)
        assert pages_holding(pages, volunteer.chat_id) > 0  # the reader works: a volunteer's chat id is there
        for who, chat_id in people.items():
            assert pages_holding(pages, chat_id) == 0, f"the database holds the {who}'s chat id"
        state = read_chat_state(seized, key)
        assert forgetter.chat_id not in state.chats and _raw_hits(seized, forgetter.chat_id) == []
        assert idle.chat_id in state.chats  # the present: a chat whose messages are still to be deleted
        now = int(time.time())
        for entry in state.chats.values():
            assert entry.due_at % GRANULARITY == 0
        assert all(i.due_at % GRANULARITY == 0 for i in state.intents.values())
        assert {i.chat_id for i in state.intents.values()} <= {volunteer.chat_id} | set(people.values())
        assert now - GRANULARITY <= state.chats[idle.chat_id].due_at

        wait_until(lambda: sender.messages() == [] and idle.messages() == [], timeout=60,
                   what="the people's chats to empty")

        def gone_from_the_state() -> bool:
            chats = read_chat_state(staffed.root, Home(staffed.root).db_key(environ={})).chats
            return not set(people.values()) & set(chats)

        wait_until(gone_from_the_state, timeout=10, what="the emptied chats to leave the chat state")
        later = _seize(staffed.root, tmp_path / "seized-later")
        pages = _database_pages(later)
        for who, chat_id in people.items():
            assert pages_holding(pages, chat_id) == 0, f"the database holds the {who}'s chat id"
            assert _raw_hits(later, chat_id) == [], f"the {who}'s chat id is still on disk"
        assert volunteer.chat_id in read_chat_state(later, key).chats  # the volunteer's alert waits its hour
    finally:
        bot.stop()
