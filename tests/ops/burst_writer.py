"""Child process for the backup test: enqueue cases through intake.requests.submit until told to stop.

Prints each case id after its transaction committed (an acknowledged case), one per line.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from intake.requests import Request, submit
from storage.server import Server


def main(root: Path, stop: Path, limit: int) -> None:
    with Server.open(root, environ={}) as server:
        for number in range(limit):
            if stop.exists():
                break
            receipt = submit(server, Request({"help": "burst", "n": str(number)}), int(time.time()))
            print(receipt.case_id, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
