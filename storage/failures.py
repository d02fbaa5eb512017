"""Naming a failure for a log line or an error line: its type and code frames, never its message.

An exception's message, and a traceback's source lines and locals, can quote what a person
typed (a KeyError of a dictionary key, a ValueError repeating its input, a SQL value). The
exception's type and the chain of `file:line:function` frames are enough to find the code
path, and hold nothing that came from a person. This module lives in storage because it is
the lowest package that the bot, the staff API and the CLI all import. It reads no source file
(unlike `traceback.format_exception`, which shows source lines).
"""

from __future__ import annotations

import os
import traceback
from functools import lru_cache
from types import TracebackType

MAX_FRAMES = 30
MAX_CHAIN = 3


def type_name(err: BaseException) -> str:
    """`ValueError` for built-ins, `module.Class` for everything else."""
    kind = type(err)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


@lru_cache(maxsize=512)
def relative(filename: str) -> str:
    """A source path from its top-level package down (`bot/app.py`, `telegram/_bot.py`, `asyncio/tasks.py`).

    Found by walking up while the directory is a package, so it does not depend on how the code
    was installed (editable or not) nor on the current directory; never an absolute path.
    """
    path = os.path.abspath(filename)
    parts = [os.path.basename(path)]
    folder = os.path.dirname(path)
    while os.path.isfile(os.path.join(folder, "__init__.py")) and os.path.dirname(folder) != folder:
        parts.append(os.path.basename(folder))
        folder = os.path.dirname(folder)
    return "/".join(reversed(parts))


def frames(tb: TracebackType | None) -> list[str]:
    """`file:line:function` for each frame, outermost first (the last one raised)."""
    found = [
        f"{relative(frame.f_code.co_filename)}:{line}:{frame.f_code.co_qualname}"
        for frame, line in traceback.walk_tb(tb)
    ]
    if len(found) > MAX_FRAMES:
        keep = MAX_FRAMES // 3
        found = [*found[:keep], f"... {len(found) - MAX_FRAMES + 1} frames ...", *found[-(MAX_FRAMES - keep - 1):]]
    return found


def describe_error(err: BaseException) -> str:
    """`Type at a.py:1:f > b.py:2:g`, then what caused it, in the same form; never a message."""
    parts: list[str] = []
    current: BaseException | None = err
    while current is not None and len(parts) < MAX_CHAIN:
        where = " > ".join(frames(current.__traceback__))
        parts.append(f"{type_name(current)} at {where}" if where else type_name(current))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "; caused by ".join(parts)
