"""Private files: created 0600 inside 0700 directories, replaced atomically."""

from __future__ import annotations

import os
from pathlib import Path


def write_new(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create a file that must not exist yet, with `mode`, and make it durable."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    try:
        view = memoryview(data)
        while view:  # a short write (a disk filling up) must not leave a file cut short
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def replace(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Atomically replace `path` with `data` (write a sibling, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        write_new(tmp, data, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a half-written copy (a full disk) is not left beside the file
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private_dir(path: Path) -> None:
    """Create a directory readable only by its owner."""
    path.mkdir(mode=0o700)
    os.chmod(path, 0o700)
