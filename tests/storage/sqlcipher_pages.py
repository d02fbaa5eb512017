"""The attacker's page reader: decrypt a SQLCipher 4 file page by page and locate table rows.

Someone holding db.key can read every page of the file, not only what SQL returns: which page a
row sits on, its overflow pages, where in its page a cell was written. This reads those, for
tests that check that page layout does not give away the order in which cases came in.
(AES-256-CBC comes from `cryptography`, already installed for http-message-signatures; it is
the attacker's tool here, never used by Waystation itself.)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAGE_SIZE = 4096
RESERVED = 80  # SQLCipher 4: 16-byte IV and 64-byte HMAC at the end of each page
USABLE = PAGE_SIZE - RESERVED
SALT = 16
TABLE_LEAF, TABLE_INTERIOR = 13, 5


def decrypt_pages(path: Path, key: bytes) -> dict[int, bytes]:
    """Every page of the main file, decrypted (page 1 with SQLite's header restored), by page number."""
    data = path.read_bytes()
    pages: dict[int, bytes] = {}
    for index in range(len(data) // PAGE_SIZE):
        raw = data[index * PAGE_SIZE:(index + 1) * PAGE_SIZE]
        start = SALT if index == 0 else 0
        decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[USABLE:USABLE + 16])).decryptor()
        plain = decryptor.update(raw[start:USABLE]) + decryptor.finalize()
        pages[index + 1] = (b"SQLite format 3\x00" + plain) if index == 0 else plain
    return pages


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = 0
    for i in range(9):
        byte = data[offset + i]
        if i == 8:
            return (value << 8) | byte, offset + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, offset + i + 1
    raise ValueError("bad varint")


@dataclass(frozen=True)
class RowPlace:
    """Where a table row is: its leaf page, the cell's offset in it, its first overflow page (0: none)."""

    page: int
    offset: int
    overflow: int


def table_rows(pages: dict[int, bytes], root: int) -> dict[int, RowPlace]:
    """Rowid -> place, for every row of the table B-tree at `root`."""
    places: dict[int, RowPlace] = {}
    stack = [root]
    while stack:
        number = stack.pop()
        page = pages[number]
        header = 100 if number == 1 else 0
        kind = page[header]
        cells = struct.unpack(">H", page[header + 3:header + 5])[0]
        pointers = header + (8 if kind == TABLE_LEAF else 12)
        offsets = [struct.unpack(">H", page[pointers + 2 * i:pointers + 2 * i + 2])[0] for i in range(cells)]
        if kind == TABLE_INTERIOR:
            stack.extend(struct.unpack(">I", page[o:o + 4])[0] for o in offsets)
            stack.append(struct.unpack(">I", page[header + 8:header + 12])[0])
            continue
        if kind != TABLE_LEAF:
            raise ValueError(f"page {number} is not a table page")
        for offset in offsets:
            size, at = _varint(page, offset)
            rowid, at = _varint(page, at)
            places[rowid] = RowPlace(number, offset, _first_overflow(page, at, size))
    return places


def _first_overflow(page: bytes, payload_at: int, size: int) -> int:
    """The first overflow page of a table leaf cell (SQLite file format, section 1.6)."""
    max_local = USABLE - 35
    if size <= max_local:
        return 0
    min_local = (USABLE - 12) * 32 // 255 - 23
    local = min_local + (size - min_local) % (USABLE - 4)
    if local > max_local:
        local = min_local
    return int(struct.unpack(">I", page[payload_at + local:payload_at + local + 4])[0])


WAL_HEADER, FRAME_HEADER = 32, 24


def decrypt_wal_frames(path: Path, key: bytes) -> list[bytes]:
    """Every frame of a SQLCipher WAL file, decrypted (a frame is a page as it was written then)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    frames: list[bytes] = []
    at = WAL_HEADER
    while at + FRAME_HEADER + PAGE_SIZE <= len(data):
        raw = data[at + FRAME_HEADER:at + FRAME_HEADER + PAGE_SIZE]
        page_number = struct.unpack(">I", data[at:at + 4])[0]
        start = SALT if page_number == 1 else 0
        decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[USABLE:USABLE + 16])).decryptor()
        frames.append(decryptor.update(raw[start:USABLE]) + decryptor.finalize())
        at += FRAME_HEADER + PAGE_SIZE
    return frames


def integer_encodings(value: int) -> list[bytes]:
    """How a record may hold an integer: its smallest big-endian size (1-4, 6 or 8 bytes), 8 bytes, or as text."""
    sizes = [size for size in (1, 2, 3, 4, 6, 8) if -(1 << (8 * size - 1)) <= value < (1 << (8 * size - 1))]
    binary = {value.to_bytes(sizes[0], "big", signed=True), value.to_bytes(8, "big", signed=True)}
    return sorted(binary, key=len) + [str(value).encode("ascii")]


def pages_holding(pages: list[bytes], value: int) -> int:
    """How many of `pages` hold `value` in any of the encodings SQLite could have used (a TEXT column: digits)."""
    needles = integer_encodings(value)
    return sum(any(needle in page for needle in needles) for page in pages)
