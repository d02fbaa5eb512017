"""The bot's secrets as read from the home: loaded once, loaded again only when their files change.

The bot used to read secrets/bot_identity.json and secrets/previous_bot_keys for every reply
notice it delivered (every few seconds) and secrets/reference_pepper on every submit. Now each
is read once and kept while its files' stat stamps (inode, size, mtime, ctime) are unchanged,
as storage.server keeps the verified roster: a rotation or a restore, which always writes new
files, is seen at the next use. Nothing here is written anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from nacl.public import PrivateKey

from storage.home import Home
from storage.keyring import bot_box_keys, previous_bot_keys_path

T = TypeVar("T")
#: A file's (inode, size, mtime, ctime), or None while it does not exist.
FileStamp = tuple[int, int, int, int] | None


def file_stamp(path: Path) -> FileStamp:
    """What identifies a file's content on disk without reading it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Stamped(Generic[T]):
    """A value loaded from files, kept while none of them changed."""

    def __init__(self, paths: Sequence[Path], load: Callable[[], T]) -> None:
        self._paths = tuple(paths)
        self._load = load
        self._stamp: tuple[FileStamp, ...] | None = None
        self._value: T | None = None
        self.loads = 0  # how often the files were read (bench/ and tests look at it)

    def get(self) -> T:
        """The value, read again only if a file changed since the last read."""
        stamp = tuple(file_stamp(p) for p in self._paths)  # before reading: a change after it shows next time
        if self._value is None or stamp != self._stamp:
            self._value = self._load()
            self._stamp = stamp
            self.loads += 1
        return self._value


class BotSecrets:
    """The bot's X25519 keys (current, then retired) and the reference pepper, each read when it changed."""

    def __init__(self, home: Home) -> None:
        self._box_keys = Stamped([home.bot_identity_path, previous_bot_keys_path(home)], lambda: bot_box_keys(home))
        self._pepper = Stamped([home.pepper_path], home.pepper)

    def box_keys(self) -> list[PrivateKey]:
        """Every key a reply handle may be sealed to: the current bot's first, then retired ones."""
        return self._box_keys.get()

    def pepper(self) -> bytes:
        """The reference pepper (checked against the database once, when the service starts)."""
        return self._pepper.get()
