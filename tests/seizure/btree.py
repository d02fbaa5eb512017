"""SQLite's b-tree page and record format, read from decrypted page images (sqlite.org/fileformat2.html).

Every cell of every page version is decoded into a record, with the byte span
of each value inside the page, so that the attacker can tell which bytes are
ciphertext (blob values) and which are structure, and can carve rows out of
free pages and stale WAL frames that SQL no longer shows.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

TABLE_LEAF, TABLE_INTERIOR, INDEX_LEAF, INDEX_INTERIOR = 0x0D, 0x05, 0x0A, 0x02
PAGE_KINDS = {TABLE_LEAF: "table-leaf", TABLE_INTERIOR: "table-interior", INDEX_LEAF: "index-leaf",
              INDEX_INTERIOR: "index-interior"}
Value = int | float | str | bytes | None


class RecordInvalid(Exception):
    """The bytes do not form a SQLite record."""


def varint(data: bytes, offset: int) -> tuple[int, int]:
    """A SQLite varint at `offset`: (value, length)."""
    value = 0
    for i in range(8):
        if offset + i >= len(data):
            raise RecordInvalid("varint runs past the end")
        byte = data[offset + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, i + 1
    if offset + 8 >= len(data):
        raise RecordInvalid("varint runs past the end")
    return (value << 8) | data[offset + 8], 9


def encode_varint(value: int) -> bytes:
    """The SQLite varint of a non-negative (or two's-complement 64-bit) integer."""
    value &= (1 << 64) - 1
    if value > 0x00FFFFFFFFFFFFFF:
        out = [value & 0xFF]
        value >>= 8
        for _ in range(8):
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        return bytes(reversed(out))
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


@dataclass(frozen=True)
class Field:
    """One value of a record; `start`/`end` are offsets in the page (local bytes only)."""

    serial: int
    value: Value
    start: int
    end: int


@dataclass(frozen=True)
class Cell:
    """One cell of a b-tree page."""

    offset: int
    rowid: int | None
    payload_size: int
    local: bytes
    local_start: int
    overflow: int
    left_child: int | None


@dataclass
class Page:
    """A parsed b-tree page."""

    kind: int
    cells: list[Cell] = field(default_factory=list)
    freeblocks: list[tuple[int, int]] = field(default_factory=list)
    unallocated: tuple[int, int] = (0, 0)
    right_child: int | None = None


def local_size(payload: int, usable: int, is_table_leaf: bool) -> int:
    """Bytes of a payload kept on the b-tree page; the rest goes to overflow pages."""
    max_local = usable - 35 if is_table_leaf else (usable - 12) * 64 // 255 - 23
    if payload <= max_local:
        return payload
    min_local = (usable - 12) * 32 // 255 - 23
    k = min_local + (payload - min_local) % (usable - 4)
    return k if k <= max_local else min_local


def parse_page(data: bytes, pgno: int, usable: int) -> Page | None:
    """Decode a b-tree page, or None if it is not one (free, overflow, or garbage)."""
    base = 100 if pgno == 1 else 0
    if len(data) < base + 8:
        return None
    kind = data[base]
    if kind not in PAGE_KINDS:
        return None
    first_free, count, content = struct.unpack(">HHH", data[base + 1 : base + 7])
    content = content or 65536
    interior = kind in (TABLE_INTERIOR, INDEX_INTERIOR)
    header = 12 if interior else 8
    pointers = base + header
    if pointers + 2 * count > usable or content > usable or count > usable // 4:
        return None
    page = Page(kind)
    if interior:
        page.right_child = struct.unpack(">I", data[base + 8 : base + 12])[0]
    page.unallocated = (pointers + 2 * count, content)
    for i in range(count):
        offset = struct.unpack(">H", data[pointers + 2 * i : pointers + 2 * i + 2])[0]
        if not pointers + 2 * count <= offset < usable:
            return None
        try:
            page.cells.append(_cell(data, offset, kind, usable))
        except RecordInvalid:
            return None
    seen = 0
    while first_free and seen < 1000 and first_free + 4 <= usable:
        nxt, size = struct.unpack(">HH", data[first_free : first_free + 4])
        page.freeblocks.append((first_free, min(usable, first_free + size)))
        first_free = nxt
        seen += 1
    return page


def _cell(data: bytes, offset: int, kind: int, usable: int) -> Cell:
    pos = offset
    left = None
    if kind in (TABLE_INTERIOR, INDEX_INTERIOR):
        left = struct.unpack(">I", data[pos : pos + 4])[0]
        pos += 4
    if kind == TABLE_INTERIOR:
        key, n = varint(data, pos)
        return Cell(offset, _signed(key), 0, b"", pos + n, 0, left)
    payload, n = varint(data, pos)
    pos += n
    rowid: int | None = None
    if kind == TABLE_LEAF:
        raw, n = varint(data, pos)
        rowid = _signed(raw)
        pos += n
    size = local_size(payload, usable, kind == TABLE_LEAF)
    if pos + size > usable:
        raise RecordInvalid("cell runs past the page")
    overflow = 0
    if size < payload:
        if pos + size + 4 > usable:
            raise RecordInvalid("overflow pointer runs past the page")
        overflow = struct.unpack(">I", data[pos + size : pos + size + 4])[0]
    return Cell(offset, rowid, payload, data[pos : pos + size], pos, overflow, left)


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def full_payload(cell: Cell, page_of: Callable[[int], bytes | None], usable: int) -> bytes:
    """The cell's payload with its overflow chain followed through `page_of` (as far as it goes)."""
    out = bytearray(cell.local)
    nxt, hops = cell.overflow, 0
    while nxt and len(out) < cell.payload_size and hops < 10_000:
        page = page_of(nxt)
        if page is None:
            break
        out += page[4 : min(usable, 4 + cell.payload_size - len(out))]
        nxt = struct.unpack(">I", page[:4])[0]
        hops += 1
    return bytes(out)


def _content_size(serial: int) -> int:
    sizes = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8, 7: 8, 8: 0, 9: 0}
    if serial in sizes:
        return sizes[serial]
    if serial >= 12:
        return (serial - 12) // 2 if serial % 2 == 0 else (serial - 13) // 2
    raise RecordInvalid(f"reserved serial type {serial}")


def decode_record(payload: bytes, base: int = 0) -> list[Field]:
    """The values of a record; `base` is where the payload starts in its page (for spans).

    Values past the end of `payload` (an overflow chain that could not be followed) are None.
    """
    header_size, n = varint(payload, 0)
    if not n <= header_size <= len(payload):
        raise RecordInvalid("record header size out of range")
    serials: list[int] = []
    pos = n
    while pos < header_size:
        serial, n = varint(payload, pos)
        serials.append(serial)
        pos += n
    if pos != header_size:
        raise RecordInvalid("record header overruns")
    fields: list[Field] = []
    body = header_size
    for serial in serials:
        size = _content_size(serial)
        raw = payload[body : body + size]
        truncated = len(raw) < size
        fields.append(Field(serial, None if truncated else _value(serial, raw), base + body, base + body + len(raw)))
        body += size
    return fields


def _value(serial: int, raw: bytes) -> Value:
    if serial == 0:
        return None
    if 1 <= serial <= 6:
        return int.from_bytes(raw, "big", signed=True)
    if serial == 7:
        return float(struct.unpack(">d", raw)[0])
    if serial == 8:
        return 0
    if serial == 9:
        return 1
    if serial % 2 == 0:
        return bytes(raw)
    return raw.decode("utf-8", errors="replace")
