"""Text as Waystation stores and shows it: what a person typed or a caseworker wrote, cleaned the same way."""

from __future__ import annotations

import unicodedata

_BIDI_OVERRIDES = frozenset(chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def clean_text(value: str) -> str:
    """Text without control characters (newlines kept), bidi overrides, or surrounding space.

    Zero-width joiners and non-joiners stay: Persian spelling and emoji need them.
    """
    return "".join(
        ch for ch in value
        if ch == "\n" or (unicodedata.category(ch) not in ("Cc", "Cs") and ch not in _BIDI_OVERRIDES)
    ).strip()


