"""The chat side on disk: one sealed snapshot file, HOME/chats.state, that holds only the present.

Pending deletions and send intents name people's chats (chat ids, message ids, due times). They
are kept out of the SQLCipher database on purpose: SQLite writes each new cell of a page below
the previous ones and leaves earlier versions of pages in freed space, so rows of the chat side
there would keep the order in which chats wrote, and a seizure could rank them against the order
of cases. This file holds the whole current chat-side state and nothing else:

- canonical: chats in increasing chat id, each chat's message ids increasing, intents by chat id
  then (random) intent id: nothing in it follows the order in which things happened;
- coarse: every time in it is a multiple of `[privacy] time_granularity_seconds`, rounded *up*
  (storage.deletions does it), so a chat is deleted at most one granularity late after a crash;
- padded to a power of two of at least 4 KiB, so its size tells counts only roughly;
- sealed with SecretBox (XSalsa20-Poly1305) under a key derived from the database key by keyed
  BLAKE2b with its own personalisation (`state_key`): where the database key is kept off the disk
  (a systemd credential) the file reveals nothing but its size;
- replaced whole on every change (a sibling temporary file, fsync, rename over the old file,
  fsync of the directory): no earlier version is left as a file, and a crash leaves the old
  version or the new one, never half.

Only the bot writes it; other processes only read it (`ChatState` re-reads a file replaced by
another process). It is never put into backups. `read_chat_state` opens it given a home and the
database key: what a seizure with every server secret sees.

File format, version 1 (integers big-endian; i64 signed, u32/u64 unsigned):

    magic      8 bytes   b"WSCHATST"
    version    1 byte    1
    nonce      24 bytes  SecretBox nonce (random for every write)
    box        the rest  SecretBox ciphertext (16-byte MAC first) of the padded plaintext

    padded     u32 body length, the body, then zero bytes up to a power of two >= 4096
    body       version (1 byte, equal to the header's), then
               u32 chat count, then for each chat, chat ids strictly increasing:
                   i64 chat id, i64 due time, u32 n >= 1,
                   n x i64 message ids (>= 1, strictly increasing),
                   n x u8 flags (1: swept, an id that may hold a message nobody learnt of; else 0)
               u32 intent count, then for each intent, (chat id, intent id) strictly increasing:
                   u64 intent id (1 .. 2**62 - 1), i64 chat id, i64 floor (0: unknown, else >= 1),
                   i64 due time

A reader MUST reject a file with another magic or version, a box that does not authenticate, a
padded length that is not a bucket, a body length past the end, non-zero padding, entries out of
order or duplicated, values out of range, and bytes left after the body.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from pathlib import Path

import nacl.exceptions
import nacl.hash
import nacl.secret
from nacl.encoding import RawEncoder

from storage.errors import StorageError
from storage.files import replace

#: The file's name in the home, beside waystation.db.
CHAT_STATE_NAME = "chats.state"
MAGIC = b"WSCHATST"
VERSION = 1
#: BLAKE2b personalisation of the file key (16 bytes, BLAKE2b's maximum): no other key derived
#: from the database key can equal it.
PERSON = b"waystation-chats"
MIN_PADDED = 4096
#: A file above this is refused unread (about 28 million message ids: never a real state).
MAX_PADDED = 1 << 28
HEADER_SIZE = len(MAGIC) + 1
NONCE_SIZE = nacl.secret.SecretBox.NONCE_SIZE
KEY_SIZE = 32
MAX_INTENT_ID = (1 << 62) - 1

_U32 = struct.Struct(">I")
_CHAT_HEAD = struct.Struct(">qqI")
_INTENT = struct.Struct(">Qqqq")
_I64 = range(-(1 << 63), 1 << 63)


class ChatStateDamaged(StorageError, RuntimeError):
    """chats.state does not open with the database key, or breaks its format; it was not changed."""


class ChatStateWriteFailed(StorageError, OSError):
    """chats.state could not be replaced (disk full, read-only, failing); the previous version stays."""


@dataclass(frozen=True)
class Intent:
    """A send whose outcome is not recorded yet.

    `floor` is the highest message id known in the chat before the send (None if
    none was known); message ids in a private chat only grow, so the message, if
    it was created, has an id above it. `due_at` is when it would have been deleted.
    """

    id: int
    chat_id: int
    floor: int | None
    due_at: int


@dataclass(frozen=True)
class ChatEntry:
    """One chat's pending deletions: its message ids (increasing), which of them were only swept, one due time."""

    chat_id: int
    due_at: int
    message_ids: tuple[int, ...]
    swept: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # Checked once, when the entry is made: a write then only checks what changed.
        ids = self.message_ids
        if self.chat_id not in _I64 or self.due_at not in _I64 or not ids:
            raise ValueError("a chat entry needs a chat id, a due time and at least one message id")
        if ids[0] < 1 or ids[-1] not in _I64 or any(a >= b for a, b in pairwise(ids)):
            raise ValueError("a chat's message ids must be positive and increasing")
        if not self.swept <= set(ids):
            raise ValueError("swept ids must be among the chat's ids")

    @cached_property
    def encoded(self) -> bytes:
        """The chat's bytes in the body (kept: an unchanged chat is not encoded again on the next write)."""
        n = len(self.message_ids)
        flags = bytes(1 if m in self.swept else 0 for m in self.message_ids)
        return _CHAT_HEAD.pack(self.chat_id, self.due_at, n) + struct.pack(f">{n}q", *self.message_ids) + flags


@dataclass(frozen=True)
class ChatSnapshot:
    """The whole chat side at one moment: chats by chat id, intents by intent id."""

    chats: Mapping[int, ChatEntry] = field(default_factory=dict)
    intents: Mapping[int, Intent] = field(default_factory=dict)


EMPTY = ChatSnapshot()


# -- the plaintext ----------------------------------------------------------------------------


def padded_size(length: int) -> int:
    """The bucket a plaintext of `length` bytes is padded to: a power of two, at least MIN_PADDED."""
    size = MIN_PADDED
    while size < length:
        size *= 2
    return size


def encode(snapshot: ChatSnapshot) -> bytes:
    """The padded plaintext of a snapshot, canonical: the same state always gives the same bytes."""
    parts = [bytes([VERSION]), _U32.pack(len(snapshot.chats))]
    parts += [snapshot.chats[chat_id].encoded for chat_id in sorted(snapshot.chats)]
    intents = sorted(snapshot.intents.values(), key=lambda i: (i.chat_id, i.id))
    parts.append(_U32.pack(len(intents)))
    parts += [_INTENT.pack(i.id, i.chat_id, i.floor or 0, i.due_at) for i in intents]
    body = b"".join(parts)
    size = padded_size(_U32.size + len(body))
    return _U32.pack(len(body)) + body + bytes(size - _U32.size - len(body))


def decode(padded: bytes) -> ChatSnapshot:
    """Parse a padded plaintext, checking every rule of the format; raises ChatStateDamaged."""
    if len(padded) != padded_size(len(padded)) or len(padded) > MAX_PADDED:
        raise _broken("its padded length is not a bucket")
    length = _U32.unpack_from(padded)[0]
    end = _U32.size + length
    if end > len(padded):
        raise _broken("its body runs past its end")
    if padded.count(0, end) != len(padded) - end:
        raise _broken("its padding is not zero")
    reader = _Reader(padded, _U32.size, end)
    if reader.take(1)[0] != VERSION:
        raise _broken("its body has another version")
    chats: dict[int, ChatEntry] = {}
    previous: int | None = None
    for _ in range(reader.u32()):
        chat_id, due_at, n = _CHAT_HEAD.unpack(reader.take(_CHAT_HEAD.size))
        if previous is not None and chat_id <= previous:
            raise _broken("its chats are out of order")
        previous = chat_id
        ids = struct.unpack(f">{n}q", reader.take(8 * n))
        flags = reader.take(n)
        if n == 0 or ids[0] < 1 or any(a >= b for a, b in pairwise(ids)):
            raise _broken("a chat's message ids are missing or out of order")
        if any(f > 1 for f in flags):
            raise _broken("a message flag is out of range")
        try:
            chats[chat_id] = ChatEntry(chat_id, due_at, ids, frozenset(m for m, f in zip(ids, flags, strict=True) if f))
        except ValueError as err:
            raise _broken(str(err)) from err
    intents: dict[int, Intent] = {}
    last: tuple[int, int] | None = None
    for _ in range(reader.u32()):
        intent_id, chat_id, floor, due_at = _INTENT.unpack(reader.take(_INTENT.size))
        if not 1 <= intent_id <= MAX_INTENT_ID or floor < 0:
            raise _broken("an intent is out of range")
        if last is not None and (chat_id, intent_id) <= last:
            raise _broken("its intents are out of order")
        last = (chat_id, intent_id)
        if intent_id in intents:
            raise _broken("an intent id is repeated")
        intents[intent_id] = Intent(intent_id, chat_id, floor or None, due_at)
    if reader.at != end:
        raise _broken("bytes are left after its body")
    return ChatSnapshot(chats, intents)


class _Reader:
    def __init__(self, data: bytes, at: int, end: int) -> None:
        self.data, self.at, self.end = data, at, end

    def take(self, size: int) -> bytes:
        if self.at + size > self.end:
            raise _broken("its body ends too soon")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def u32(self) -> int:
        return int(_U32.unpack(self.take(_U32.size))[0])


def _broken(why: str) -> ChatStateDamaged:
    return ChatStateDamaged(f"{CHAT_STATE_NAME} is damaged: {why}")


def check_snapshot(snapshot: ChatSnapshot) -> None:
    """Refuse (ValueError) a snapshot the format cannot hold; the stores never build one."""
    # Each ChatEntry checked itself when it was made (__post_init__).
    if any(chat_id != entry.chat_id for chat_id, entry in snapshot.chats.items()):
        raise ValueError("a chat entry is filed under another chat id")
    for intent_id, intent in snapshot.intents.items():
        if intent_id != intent.id or not 1 <= intent.id <= MAX_INTENT_ID or intent.chat_id not in _I64:
            raise ValueError("an intent is malformed")
        if (intent.floor is not None and not 1 <= intent.floor < (1 << 63)) or intent.due_at not in _I64:
            raise ValueError("an intent's floor or due time is out of range")


# -- sealing ----------------------------------------------------------------------------------


def state_key(db_key: bytes) -> bytes:
    """The file's key: keyed BLAKE2b of nothing under the database key, personalised PERSON."""
    if len(db_key) != KEY_SIZE:
        raise ValueError(f"the database key must be {KEY_SIZE} bytes")
    return nacl.hash.blake2b(b"", digest_size=KEY_SIZE, key=db_key, person=PERSON, encoder=RawEncoder)


def seal(padded: bytes, db_key: bytes) -> bytes:
    """The file's bytes for a padded plaintext (a fresh random nonce)."""
    return MAGIC + bytes([VERSION]) + bytes(nacl.secret.SecretBox(state_key(db_key)).encrypt(padded))


def unseal(data: bytes, db_key: bytes) -> bytes:
    """The padded plaintext of the file's bytes; raises ChatStateDamaged."""
    return _unseal(data, nacl.secret.SecretBox(state_key(db_key)))


def _unseal(data: bytes, box: nacl.secret.SecretBox) -> bytes:
    if len(data) < HEADER_SIZE or data[: len(MAGIC)] != MAGIC:
        raise _broken("it is not a chat state file")
    if data[len(MAGIC)] != VERSION:
        raise _broken(f"its version {data[len(MAGIC)]} is not known to this Waystation")
    try:
        return bytes(box.decrypt(data[HEADER_SIZE:]))
    except nacl.exceptions.CryptoError as err:
        raise ChatStateDamaged(f"{CHAT_STATE_NAME} does not open with the database key (damaged, or sealed "
                               "under another key)") from err


class ChatStateFile:
    """HOME/chats.state: read and replaced whole, sealed under a key derived from the database key."""

    def __init__(self, path: Path, db_key: bytes) -> None:
        self.path = path
        self._box = nacl.secret.SecretBox(state_key(db_key))  # a key of the wrong size is refused now

    @classmethod
    def beside(cls, db_path: Path, db_key: bytes) -> ChatStateFile:
        """The chat state of the home that holds `db_path`."""
        return cls(db_path.with_name(CHAT_STATE_NAME), db_key)

    def exists(self) -> bool:
        """Whether the file is there (a home where the bot never wrote, or just restored, has none)."""
        return self.path.exists()

    def remove_leftover(self) -> bool:
        """Remove the temporary copy a crash mid-write can leave beside the file; True if there was one.

        Only for the one writer (the bot) at its start: any other process could remove a copy
        the bot is writing at that moment.
        """
        leftover = self.path.with_name(f".{self.path.name}.tmp")
        if not leftover.exists():
            return False
        leftover.unlink(missing_ok=True)
        return True

    def tag(self) -> bytes | None:
        """What changes with every write (the random nonce), read without opening the box; None if absent."""
        try:
            with self.path.open("rb") as handle:
                return handle.read(HEADER_SIZE + NONCE_SIZE)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise ChatStateDamaged(f"{self.path} cannot be read ({err.strerror})") from err

    def read(self) -> ChatSnapshot:
        """The state in the file (empty if there is none); raises ChatStateDamaged."""
        return self.read_tagged()[0]

    def read_tagged(self) -> tuple[ChatSnapshot, bytes | None]:
        """The state in the file and its tag."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return EMPTY, None
        except OSError as err:
            raise ChatStateDamaged(f"{self.path} cannot be read ({err.strerror})") from err
        if len(data) > HEADER_SIZE + NONCE_SIZE + nacl.secret.SecretBox.MACBYTES + MAX_PADDED:
            raise _broken("it is implausibly large")
        return decode(_unseal(data, self._box)), data[: HEADER_SIZE + NONCE_SIZE]

    def write(self, snapshot: ChatSnapshot) -> bytes:
        """Replace the file with `snapshot` atomically; returns the new tag. Raises ChatStateWriteFailed."""
        check_snapshot(snapshot)
        data = MAGIC + bytes([VERSION]) + bytes(self._box.encrypt(encode(snapshot)))
        try:
            replace(self.path, data)
        except OSError as err:
            raise ChatStateWriteFailed(f"{self.path} could not be written ({err.strerror or type(err).__name__}): "
                                       "free space on the disk (df -h); until then the bot keeps what it must "
                                       "delete in memory") from err
        return data[: HEADER_SIZE + NONCE_SIZE]


class ChatState:
    """The chat side of one opened home, as last read or written.

    A process that has written the file is its one writer (the bot) and trusts its own copy;
    until then the file is re-read whenever another process has replaced it (the tag changed).
    """

    def __init__(self, file: ChatStateFile) -> None:
        self.file = file
        self._snapshot = EMPTY
        self._tag: bytes | None = None
        self._loaded = False
        self._writer = False

    def current(self) -> ChatSnapshot:
        """The current state; raises ChatStateDamaged if the file does not open."""
        if not self._writer and (not self._loaded or self.file.tag() != self._tag):
            self._snapshot, self._tag = self.file.read_tagged()
            self._loaded = True
        return self._snapshot

    def commit(self, snapshot: ChatSnapshot) -> None:
        """Write `snapshot` as the whole state; on failure the state stays what it was."""
        self._tag = self.file.write(snapshot)
        self._snapshot = snapshot
        self._writer = True


def read_chat_state(home_root: Path, db_key: bytes) -> ChatSnapshot:
    """Open a home's chat state with its database key: everything a seizure with every server secret sees."""
    return ChatStateFile(home_root / CHAT_STATE_NAME, db_key).read()

