"""What must never be found, in every encoding an implementation (or a library under it) might use.

A needle has a label (printed) and a value (never printed). Text needles are
searched as UTF-8, case-folded UTF-8, UTF-16 (both byte orders), JSON-escaped,
percent-encoded, hex and base64 at all three alignments (standard and URL-safe).
Integer needles (chat ids) are searched as decimal text (UTF-8 and UTF-16),
and in binary (big- and little-endian 4- and 8-byte, SQLite varint) only in
bytes that are structure rather than ciphertext, where an accidental match of
a few bytes is practically impossible; record fields and rowids are compared
as integers separately (see attacker.py).
"""

from __future__ import annotations

import base64
import bisect
import json
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.seizure.btree import encode_varint

MIN_PATTERN = 6


@dataclass(frozen=True)
class Needle:
    """Something that must not be found; `kind` is canary, name, username, reference or chat."""

    label: str
    kind: str
    value: str | int | bytes  # bytes: a binary value (a digest, a key id), searched raw, as hex and base64


@dataclass(frozen=True)
class Pattern:
    """One encoding of one needle."""

    needle: Needle
    encoding: str
    data: bytes
    binary: bool = False  # a few bytes of binary: searched only in structure, not in ciphertext


def _b64_cores(data: bytes) -> list[tuple[str, bytes]]:
    """Base64 of `data` at offsets 0, 1, 2 within a larger stream: the characters that depend only on it."""
    cores = []
    for pad in range(3):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            encoded = encode(b"\x00" * pad + data + b"\x00\x00\x00")
            start = -(-pad * 8 // 6)
            end = (pad + len(data)) * 8 // 6
            core = encoded[start:end]
            if len(core) >= MIN_PATTERN:
                cores.append((f"{name}@{pad}", core))
    return cores


def text_patterns(needle: Needle, text: str) -> list[Pattern]:
    """Every encoding of a text."""
    utf8 = text.encode("utf-8")
    forms: list[tuple[str, bytes]] = [
        ("utf-8", utf8),
        ("utf-8 casefolded", text.casefold().encode("utf-8")),
        ("utf-16-le", text.encode("utf-16-le")),
        ("utf-16-be", text.encode("utf-16-be")),
        ("json-escaped", json.dumps(text, ensure_ascii=True)[1:-1].encode("ascii")),
        ("percent-encoded", urllib.parse.quote(text, safe="").encode("ascii")),
        ("hex", utf8.hex().encode("ascii")),
        ("HEX", utf8.hex().upper().encode("ascii")),
        *_b64_cores(utf8),
    ]
    seen: set[bytes] = set()
    patterns = []
    for encoding, data in forms:
        if len(data) >= MIN_PATTERN and data not in seen:
            seen.add(data)
            patterns.append(Pattern(needle, encoding, data))
    return patterns


def int_patterns(needle: Needle, value: int) -> list[Pattern]:
    """Decimal text forms, and binary forms (flagged: searched only outside ciphertext)."""
    patterns = text_patterns(needle, str(value))
    binary = [("int32-be", value.to_bytes(4, "big", signed=True) if -2**31 <= value < 2**31 else b""),
              ("int32-le", value.to_bytes(4, "little", signed=True) if -2**31 <= value < 2**31 else b""),
              ("int64-be", value.to_bytes(8, "big", signed=True)),
              ("int64-le", value.to_bytes(8, "little", signed=True)),
              ("varint", encode_varint(value))]
    patterns += [Pattern(needle, name, data, binary=True) for name, data in binary if len(data) >= 4]
    return patterns


def bytes_patterns(needle: Needle, value: bytes) -> list[Pattern]:
    """A binary value raw (at least 8 random bytes: no chance match), as hex and as base64."""
    forms = [("raw", value), ("hex", value.hex().encode("ascii")), ("HEX", value.hex().upper().encode("ascii")),
             *_b64_cores(value)]
    return [Pattern(needle, encoding, data) for encoding, data in forms if len(data) >= MIN_PATTERN]


def patterns_for(needles: Iterable[Needle]) -> list[Pattern]:
    """Every pattern of every needle."""
    out: list[Pattern] = []
    for needle in needles:
        if isinstance(needle.value, int):
            out += int_patterns(needle, needle.value)
        elif isinstance(needle.value, bytes):
            out += bytes_patterns(needle, needle.value)
        else:
            out += text_patterns(needle, needle.value)
    return out


@dataclass(frozen=True)
class Hit:
    """A pattern found in a region."""

    needle: Needle
    encoding: str
    where: str
    offset: int
    tag: object = None


@dataclass
class Corpus:
    """Byte regions to search, concatenated once so each pattern is searched in one pass.

    A region's `structure` copy has ciphertext (blob values, the page reserve)
    zeroed; binary patterns are searched there only.
    """

    _parts: list[bytes] = field(default_factory=list)
    _structure: list[bytes] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list)
    _names: list[list[tuple[str, object, int]]] = field(default_factory=list)
    _size: int = 0
    _seen: dict[bytes, int] = field(default_factory=dict)

    def add(self, where: str, data: bytes, structure: bytes | None = None, tag: object = None,
            base: int = 0) -> None:
        """Add a region (`tag`: what the caller needs to place a hit; `base`: the region's offset in `where`).

        Identical regions are searched once and reported under every name.
        """
        if structure is not None and len(structure) != len(data):
            raise ValueError("a region's structure copy must be as long as the region")
        key = data if structure is None else data + b"\x00|" + structure
        if key in self._seen:
            self._names[self._seen[key]].append((where, tag, base))
            return
        self._seen[key] = len(self._names)
        self._parts.append(data)
        self._structure.append(structure if structure is not None else data)
        self._starts.append(self._size)
        self._names.append([(where, tag, base)])
        self._size += len(data) + 1

    def search(self, patterns: Iterable[Pattern]) -> list[Hit]:
        """Every occurrence of every pattern, with the region it is in."""
        separator = b"\x00"
        whole = separator.join(self._parts)
        structure = separator.join(self._structure)
        hits: list[Hit] = []
        for pattern in patterns:
            haystack = structure if pattern.binary else whole
            position = haystack.find(pattern.data)
            while position != -1:
                index = bisect.bisect_right(self._starts, position) - 1
                offset = position - self._starts[index]
                if offset + len(pattern.data) <= len(self._parts[index]):
                    for name, tag, base in self._names[index]:
                        hits.append(Hit(pattern.needle, pattern.encoding, name, base + offset, tag))
                position = haystack.find(pattern.data, position + 1)
        return hits

    @property
    def size(self) -> int:
        """Bytes to search (distinct regions only)."""
        return self._size


def changed_spans(old: bytes, new: bytes, margin: int, chunk: int = 64) -> list[tuple[int, int]]:
    """Byte ranges of `new` that differ from `old`, widened by `margin` and merged.

    Searching only these ranges of a page version finds every needle the
    version holds that an earlier, fully covered version did not hold at the
    same offset.
    """
    spans: list[tuple[int, int]] = []
    for start in range(0, max(len(old), len(new)), chunk):
        if old[start : start + chunk] != new[start : start + chunk]:
            low, high = max(0, start - margin), min(len(new), start + chunk + margin)
            if spans and low <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], high))
            else:
                spans.append((low, high))
    return spans
