"""The chat side as a seizure finds it: HOME/chats.state, and a temporary copy a crash may leave, opened with every key.

Waystation keeps pending deletions and send intents out of the database, in
one sealed snapshot file (storage/chatstate.py; docs/architecture.md). The
attacker holds the database key, so it opens the file (SecretBox under the
key Waystation derives from it) and gets, besides the parsed state, the whole
padded plaintext, padding included, to search; and the file's size and
modification time, which the file system keeps in the clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.errors import FormInvalid
from bot.form import QuestionKind, load_form
from storage.chatstate import (
    CHAT_STATE_NAME,
    ChatSnapshot,
    ChatStateDamaged,
    decode,
    unseal,
)
from tests.seizure.keys import KeyRing

#: The files that hold the chat side: the live one, and the sibling a crash mid-write can leave.
CHAT_STATE_FILES = (CHAT_STATE_NAME, f".{CHAT_STATE_NAME}.tmp")
#: The "table" a finding in an opened chat state is placed in (tests/seizure/verdict.py).
CHAT_STATE_TREE = "chats.state"


@dataclass(frozen=True)
class ChatStateSeen:
    """One chat state file as opened by the attacker."""

    file: str
    key_name: str
    padded: bytes  # the whole plaintext, padding included
    snapshot: ChatSnapshot | None  # None if the plaintext breaks the format (then `error` says how)
    size: int
    mtime: float
    error: str = ""

    @property
    def live(self) -> bool:
        """The file the bot reads (not a temporary copy)."""
        return self.file == CHAT_STATE_NAME


def read_chat_states(home: Path, ring: KeyRing) -> tuple[list[ChatStateSeen], list[str]]:
    """Every chat state file of the home opened with every database key; and notes on what did not open."""
    seen: list[ChatStateSeen] = []
    notes: list[str] = []
    for name in CHAT_STATE_FILES:
        path = home / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        stat = path.stat()
        for key in ring.db_keys:
            try:
                padded = unseal(data, key.material)
            except ChatStateDamaged:
                continue
            try:
                snapshot, error = decode(padded), ""
            except ChatStateDamaged as err:
                snapshot, error = None, str(err)
            seen.append(ChatStateSeen(name, key.name, padded, snapshot, stat.st_size, stat.st_mtime, error))
            break
        else:
            notes.append(f"no server key opens {name} ({len(data)} bytes)")
    return seen, notes


def form_message_counts(home: Path) -> frozenset[int]:
    """The highest message id a chat can have right after a submitted form, from the home's form.

    /start and the first screen, then for each text question answered the typed answer and the
    bot's next screen; a button (a choice, Skip, Send) edits the screen in place.
    """
    try:
        form = load_form(home / "form.toml")
    except FormInvalid:
        return frozenset()
    text = [q for q in form.questions if q.kind is QuestionKind.TEXT]
    required = sum(1 for q in text if not q.optional)
    return frozenset(2 + 2 * typed for typed in range(required, len(text) + 1))
