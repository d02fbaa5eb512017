"""Length hiding: pad to a bucket, and refuse anything unpad was not given by pad."""

from __future__ import annotations

import pytest

from crypto.errors import DecryptionFailed
from crypto.padding import BUCKETS, LENGTH_PREFIX, MAX_PAYLOAD, pad, unpad


@pytest.mark.parametrize("size", [0, 1, 508, 509, 2044, 2045, MAX_PAYLOAD])
def test_pad_then_unpad_gives_the_payload_back(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    padded = pad(payload)
    assert len(padded) in BUCKETS
    assert unpad(padded) == payload


def test_a_payload_ending_in_zeros_keeps_them() -> None:
    assert unpad(pad(b"abc\x00\x00")) == b"abc\x00\x00"


@pytest.mark.parametrize("where", [0, 1, 100])
def test_unpad_rejects_a_non_zero_byte_in_the_padding(where: int) -> None:
    padded = bytearray(pad(b"payload"))
    padded[LENGTH_PREFIX + len(b"payload") + where] = 1
    with pytest.raises(DecryptionFailed, match="padding is malformed"):
        unpad(bytes(padded))


def test_unpad_rejects_the_last_byte_set() -> None:
    padded = bytearray(pad(b"payload"))
    padded[-1] = 0x80
    with pytest.raises(DecryptionFailed, match="padding is malformed"):
        unpad(bytes(padded))


def test_unpad_rejects_a_length_beyond_the_bucket() -> None:
    padded = (BUCKETS[0]).to_bytes(LENGTH_PREFIX, "big") + bytes(BUCKETS[0] - LENGTH_PREFIX)
    with pytest.raises(DecryptionFailed, match="padding is malformed"):
        unpad(padded)


def test_unpad_rejects_a_size_that_is_not_a_bucket() -> None:
    with pytest.raises(DecryptionFailed, match="not a bucket size"):
        unpad(pad(b"x") + b"\x00")
