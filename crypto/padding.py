"""Length hiding: payloads are padded to a small set of bucket sizes before encryption."""

from __future__ import annotations

from crypto.errors import DecryptionFailed, PayloadTooLarge

#: Padded plaintext sizes (a 4-byte length prefix, the payload, then zeros).
BUCKETS: tuple[int, ...] = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
LENGTH_PREFIX = 4
MAX_PAYLOAD = BUCKETS[-1] - LENGTH_PREFIX
_ZEROS = memoryview(bytes(BUCKETS[-1]))


def pad(payload: bytes) -> bytes:
    """Prefix the payload with its length and zero-pad it to the smallest bucket that fits."""
    needed = len(payload) + LENGTH_PREFIX
    for size in BUCKETS:
        if needed <= size:
            return len(payload).to_bytes(LENGTH_PREFIX, "big") + payload + bytes(size - needed)
    raise PayloadTooLarge(f"payload of {len(payload)} bytes exceeds the limit of {MAX_PAYLOAD}")


def unpad(padded: bytes) -> bytes:
    """Undo `pad`, rejecting sizes that are not buckets and non-zero padding."""
    if len(padded) not in BUCKETS:
        raise DecryptionFailed("padded payload is not a bucket size")
    length = int.from_bytes(padded[:LENGTH_PREFIX], "big")
    end = LENGTH_PREFIX + length
    # endswith(zeros) compares with memcmp (count(0, end) looked at the padding a byte at a time),
    # against a view of one shared run of zeros, so that no buffer is made for the comparison.
    if end > len(padded) or not padded.endswith(_ZEROS[: len(padded) - end]):
        raise DecryptionFailed("payload padding is malformed")
    return padded[LENGTH_PREFIX:end]
