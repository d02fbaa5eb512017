"""crypto.encoding.unb64: exactly the canonical base64 of some bytes is accepted, nothing else."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.encoding import b64, unb64
from crypto.errors import CryptoError


@given(st.binary(max_size=200))
def test_the_canonical_text_of_any_bytes_decodes_to_them(data: bytes) -> None:
    assert unb64(b64(data), None, "field", CryptoError) == data
    assert unb64(b64(data), len(data), "field", CryptoError) == data


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=1, max_value=3))
def test_non_zero_padding_bits_are_refused(data: bytes, bits: int) -> None:
    text = b64(data)
    if not text.endswith("="):
        return  # every bit of the last character is data: no other spelling exists
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = text.rstrip("=")
    index = alphabet.index(last[-1])
    unused = 4 if text.endswith("==") else 2  # bits of the last character that carry nothing
    other = alphabet[index ^ (bits % (1 << unused) or 1)]
    variant = last[:-1] + other + text[len(last):]
    assert base64.b64decode(variant) == data  # a lenient decoder reads the same bytes
    with pytest.raises(CryptoError, match="not canonical"):
        unb64(variant, None, "field", CryptoError)


@pytest.mark.parametrize("text", ["AAB", "AA==A", "=AAA", "AA\nAA==", " AAAA", "AAAA ", "AA-_", "ÄAAA",
                                  "AAAA====", "A"])
def test_malformed_base64_is_refused(text: str) -> None:
    with pytest.raises(CryptoError, match="base64"):
        unb64(text, None, "field", CryptoError)


@pytest.mark.parametrize("value", [None, 12, b"AAAA", ["AAAA"]])
def test_only_text_is_decoded(value: object) -> None:
    with pytest.raises(CryptoError, match="must be base64 text"):
        unb64(value, None, "field", CryptoError)


def test_a_wrong_size_is_refused() -> None:
    with pytest.raises(CryptoError, match="must be 3 bytes, not 2"):
        unb64(b64(b"ab"), 3, "field", CryptoError)
