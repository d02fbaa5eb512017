"""Reading a SQLCipher 4 file page by page, decrypted, free pages included: what a disk holds, not what SQL shows.

Layout (SQLCipher 4 defaults, raw 32-byte key as Waystation uses): 4096-byte
pages; each ends with 80 reserved bytes (16-byte IV, 64-byte HMAC); the data
before them is AES-256-CBC under the key; page 1 starts with the 16-byte salt.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PAGE_SIZE = 4096
RESERVED = 80
SALT = 16


def decrypted_pages(path: Path, key: bytes) -> list[bytes]:
    """Every page of the file, decrypted (needs the `cryptography` package, used by tests only)."""
    ciphers = pytest.importorskip("cryptography.hazmat.primitives.ciphers")
    data = path.read_bytes()
    if len(data) % PAGE_SIZE:
        raise AssertionError(f"{path} is not a whole number of {PAGE_SIZE}-byte pages")
    pages = []
    for number in range(len(data) // PAGE_SIZE):
        page = data[number * PAGE_SIZE : (number + 1) * PAGE_SIZE]
        start = SALT if number == 0 else 0
        iv = page[PAGE_SIZE - RESERVED : PAGE_SIZE - RESERVED + 16]
        decryptor = ciphers.Cipher(ciphers.algorithms.AES(key), ciphers.modes.CBC(iv)).decryptor()
        pages.append(decryptor.update(page[start : PAGE_SIZE - RESERVED]) + decryptor.finalize())
    if not pages or pages[0][:2] != PAGE_SIZE.to_bytes(2, "big"):
        raise AssertionError("page 1 did not decrypt to a SQLite header: wrong key or format")
    return pages
