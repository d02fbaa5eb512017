"""Child process for the rotation tests: run the real rotation steps up to a point, then die at once.

`os._exit` skips every clean-up, as a crash or a power cut would (minus the page cache). With a
third argument the key file lives there (`rotate-db-key --key-file`), and the home's rotation
marker is written first, as the command does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ops.rekey import (
    _mark_rotation,
    _read_key,
    commit_new_key,
    rekey_database,
    reseal_chat_state,
    stage_new_key,
)
from storage.home import Home


def main(root: Path, stop_after: str, key_file: Path | None = None) -> None:
    home = Home(root)
    path = key_file or home.db_key_path
    old = _read_key(path)
    if key_file is not None:
        _mark_rotation(home, key_file)
    new = stage_new_key(path)
    if stop_after == "stage":
        os._exit(3)
    rekey_database(home.db_path, old, new)
    if stop_after == "rekey":
        os._exit(3)
    reseal_chat_state(home, old, new)
    if stop_after == "reseal":
        os._exit(3)
    commit_new_key(path, new)
    os._exit(3)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]) if len(sys.argv) > 3 else None)
