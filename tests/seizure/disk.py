"""A seized database below SQL: every page of the SQLCipher file and every WAL frame, decrypted, and the -shm index.

SQLCipher 4 with a raw 32-byte key (as Waystation uses it): each page is
AES-256-CBC under the key itself; the page's last `reserve` bytes (80) are a
16-byte IV and a 64-byte HMAC-SHA512 whose key is PBKDF2-HMAC-SHA512(key,
salt XOR 0x3a, 2 iterations); page 1 begins with the 16-byte salt instead of
"SQLite format 3". The WAL header and frame headers and the whole -shm file
are not encrypted at all. Free pages, stale WAL frames (earlier generations
the WAL was rewritten over, or frames past the last commit) are read like any
other: they are what a disk holds, not what SQL shows.

Test code: it may use `cryptography` and `hashlib` (only product code is PyNaCl-only).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SQLITE_MAGIC = b"SQLite format 3\x00"
SALT_SIZE = 16
IV_SIZE = 16
HMAC_SIZE = 64
RESERVE = IV_SIZE + HMAC_SIZE
HMAC_SALT_MASK = 0x3A
FAST_KDF_ITERATIONS = 2
PAGE_SIZES = (4096, 1024, 2048, 8192, 16384, 32768, 65536)
WAL_HEADER = 32
WAL_FRAME_HEADER = 24
WAL_MAGIC = (0x377F0682, 0x377F0683)
SHM_HEADER = 136
SHM_FIRST_PAGES = 4062
SHM_BLOCK = 32768
SHM_BLOCK_PAGES = 4096
STALE_SHIFT = 10_000_000


class DiskUnreadable(Exception):
    """The file does not decrypt as SQLCipher 4 under this key."""


@dataclass(frozen=True)
class PageImage:
    """One decrypted version of one database page and where the disk held it.

    `data` is the logical page (page_size bytes): SQLite's header restored on
    page 1, the reserve (IV and HMAC) left as stored.
    """

    file: str
    pgno: int
    data: bytes
    authentic: bool
    frame: int | None = None  # WAL frame number, 1-based
    state: str = "main"  # main | committed | uncommitted | stale

    @property
    def order(self) -> int | None:
        """When this version was written, comparable across the WAL: stale frames (an earlier generation) first."""
        if self.frame is None:
            return None
        return self.frame - STALE_SHIFT if self.state == "stale" else self.frame

    @property
    def where(self) -> str:
        if self.frame is None:
            return f"{self.file} page {self.pgno}"
        return f"{self.file} frame {self.frame} ({self.state}) of page {self.pgno}"


@dataclass(frozen=True)
class WalFrame:
    """A frame header of the WAL."""

    number: int
    pgno: int
    commit_size: int
    salts: tuple[int, int]
    state: str


@dataclass(frozen=True)
class ShmIndex:
    """What the wal-index (-shm) says: its header, and every frame-to-page entry, stale ones included."""

    max_frame: int
    pages_in_db: int
    salts: tuple[int, int]
    backfilled: int
    frame_pages: tuple[int, ...]  # entry i is the page written by frame i+1 (0: empty slot)

    @property
    def stale_entries(self) -> int:
        """Frame-to-page entries past mxFrame: a history of which pages were written, in order."""
        return sum(1 for p in self.frame_pages[self.max_frame:] if p)


@dataclass
class Disk:
    """Every page version of one database as seized."""

    page_size: int
    reserve: int
    main: list[PageImage] = field(default_factory=list)
    wal: list[PageImage] = field(default_factory=list)
    frames: list[WalFrame] = field(default_factory=list)
    shm: ShmIndex | None = None
    wal_bytes: int = 0

    @property
    def usable(self) -> int:
        return self.page_size - self.reserve

    def images(self) -> list[PageImage]:
        """All page versions: the main file's, then every WAL frame's."""
        return [*self.main, *self.wal]

    def current(self) -> dict[int, PageImage]:
        """The database as SQLite would read it now: main pages overlaid with committed WAL frames."""
        pages = {image.pgno: image for image in self.main}
        for image in self.wal:
            if image.state == "committed":
                pages[image.pgno] = image
        return pages


def _decrypt(key: bytes, page: bytes, pgno: int, page_size: int, salt: bytes, hmac_key: bytes) -> tuple[bytes, bool]:
    start = SALT_SIZE if pgno == 1 else 0
    body = page[start : page_size - RESERVE]
    iv = page[page_size - RESERVE : page_size - RESERVE + IV_SIZE]
    stored_mac = page[page_size - HMAC_SIZE : page_size]
    mac = hmac.new(hmac_key, body + iv + struct.pack("<I", pgno), hashlib.sha512).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(body) + decryptor.finalize()
    head = SQLITE_MAGIC if pgno == 1 else b""
    return head + plain + page[page_size - RESERVE : page_size], hmac.compare_digest(mac, stored_mac)


def _hmac_key(key: bytes, salt: bytes) -> bytes:
    mask = bytes(b ^ HMAC_SALT_MASK for b in salt)
    return hashlib.pbkdf2_hmac("sha512", key, mask, FAST_KDF_ITERATIONS, len(key))


def _page_size(data: bytes, key: bytes) -> int:
    """The page size under which page 1 decrypts to a SQLite header with SQLCipher's reserve."""
    salt = data[:SALT_SIZE]
    for size in PAGE_SIZES:
        if len(data) < size:
            continue
        plain, _ = _decrypt(key, data[:size], 1, size, salt, _hmac_key(key, salt))
        stored = int.from_bytes(plain[16:18], "big")
        if (stored == size or (stored == 1 and size == 65536)) and plain[20] == RESERVE:
            return size
    raise DiskUnreadable("page 1 does not decrypt to a SQLite header under this key")


def _wal_checksum(data: bytes, big_endian: bool, s0: int, s1: int) -> tuple[int, int]:
    fmt = ">" if big_endian else "<"
    words = struct.unpack(f"{fmt}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def _read_wal(disk: Disk, path: Path, key: bytes, salt: bytes, hmac_key: bytes) -> None:
    data = path.read_bytes() if path.exists() else b""
    disk.wal_bytes = len(data)
    if len(data) < WAL_HEADER:
        return
    magic, _, page_size, _, salt1, salt2, c0, c1 = struct.unpack(">8I", data[:WAL_HEADER])
    big_endian = magic == WAL_MAGIC[1]
    if magic not in WAL_MAGIC or page_size != disk.page_size:
        big_endian = True  # a damaged header: read every frame as stale anyway
    valid_chain = magic in WAL_MAGIC and _wal_checksum(data[:24], big_endian, 0, 0) == (c0, c1)
    s0, s1 = (c0, c1)
    frame_size = WAL_FRAME_HEADER + disk.page_size
    pending: list[int] = []  # indexes into disk.wal of frames not yet covered by a commit
    number = 0
    for offset in range(WAL_HEADER, len(data) - frame_size + 1, frame_size):
        number += 1
        header = data[offset : offset + WAL_FRAME_HEADER]
        page = data[offset + WAL_FRAME_HEADER : offset + frame_size]
        pgno, commit_size, f1, f2, k0, k1 = struct.unpack(">6I", header)
        in_generation = valid_chain and (f1, f2) == (salt1, salt2)
        if in_generation:
            s0, s1 = _wal_checksum(header[:8], big_endian, s0, s1)
            s0, s1 = _wal_checksum(page, big_endian, s0, s1)
            valid_chain = (s0, s1) == (k0, k1)
            in_generation = valid_chain
        state = "uncommitted" if in_generation else "stale"
        if pgno == 0:
            continue
        plain, authentic = _decrypt(key, page, pgno, disk.page_size, salt, hmac_key)
        disk.wal.append(PageImage(path.name, pgno, plain, authentic, number, state))
        disk.frames.append(WalFrame(number, pgno, commit_size, (f1, f2), state))
        if in_generation:
            pending.append(len(disk.wal) - 1)
            if commit_size:
                for index in pending:
                    old = disk.wal[index]
                    disk.wal[index] = PageImage(old.file, old.pgno, old.data, old.authentic, old.frame, "committed")
                    frame = disk.frames[index]
                    disk.frames[index] = WalFrame(frame.number, frame.pgno, frame.commit_size, frame.salts, "committed")
                pending.clear()


def read_shm(path: Path) -> ShmIndex | None:
    """Parse the wal-index: header (native byte order, little-endian here) and every aPgno slot."""
    if not path.exists():
        return None
    data = path.read_bytes()
    if len(data) < SHM_HEADER:
        return None
    _, _, _, _, _, _, max_frame, n_page = struct.unpack("<IIIBBHII", data[:24])
    salts = struct.unpack("<II", data[32:40])
    backfilled = struct.unpack("<I", data[96:100])[0]
    pages: list[int] = []
    block = 0
    while block * SHM_BLOCK < len(data):
        start = block * SHM_BLOCK + (SHM_HEADER if block == 0 else 0)
        count = SHM_FIRST_PAGES if block == 0 else SHM_BLOCK_PAGES
        chunk = data[start : start + 4 * count]
        pages.extend(struct.unpack(f"<{len(chunk) // 4}I", chunk[: len(chunk) // 4 * 4]))
        block += 1
    while pages and pages[-1] == 0:
        pages.pop()
    return ShmIndex(max_frame, n_page, (salts[0], salts[1]), backfilled, tuple(pages))


def read_disk(db_path: Path, key: bytes) -> Disk:
    """Decrypt every page of the main file and of its WAL, and parse its -shm."""
    data = db_path.read_bytes()
    if len(data) < 512:
        raise DiskUnreadable(f"{db_path.name} is too short to be a database ({len(data)} bytes)")
    page_size = _page_size(data, key)
    salt = data[:SALT_SIZE]
    hmac_key = _hmac_key(key, salt)
    disk = Disk(page_size, RESERVE)
    for index in range(len(data) // page_size):
        page = data[index * page_size : (index + 1) * page_size]
        plain, authentic = _decrypt(key, page, index + 1, page_size, salt, hmac_key)
        disk.main.append(PageImage(db_path.name, index + 1, plain, authentic))
    _read_wal(disk, db_path.with_name(db_path.name + "-wal"), key, salt, hmac_key)
    disk.shm = read_shm(db_path.with_name(db_path.name + "-shm"))
    return disk
