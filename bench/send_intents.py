"""What the chat-side bookkeeping costs per message the bot sends: the intent before, the settle after.

Run from the repository root (project installed):

    python bench/send_intents.py [--messages 500] [--chats 50] [--preload 0] [--dir PATH]

Every message the bot sends costs the reads that give its floor and its chat's delay, one
written intent before the send and one write after (id in, intent out). Both go to the
chat state file (HOME/chats.state, storage/chatstate.py), rewritten whole and atomically
each time: temporary file, fsync, rename, fsync of the directory. `--preload N` first puts N
message ids into the state (spread over the chats), to see what a large state (a burst of
alerts waiting for their deletion hour) costs per write. Prints the mean and p50/p95/p99 of
each step, in ms, and the file's size, on a real home in --dir (default: a temporary
directory; put it on the server's disk to measure that disk).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import nacl.utils

from storage.chatstate import CHAT_STATE_NAME
from storage.db import Database, DatabaseKey
from storage.deletions import DeletionStore, Intent, new_intent_id

DUE = 2_000_000_000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(f"{name:<34} mean {statistics.fmean(ms):6.2f}  p50 {percentile(ms, .5):6.2f}  "
          f"p95 {percentile(ms, .95):6.2f}  p99 {percentile(ms, .99):6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--preload", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        db = Database.open(Path(tmp) / "waystation.db", DatabaseKey(nacl.utils.random(32)), create=True,
                           granularity=600)
        store = DeletionStore(db)
        base = 10 * (args.preload + args.messages) + 10
        for chat in range(args.chats):
            ids = range(1 + chat, args.preload + 1, args.chats)
            if ids:
                store.record(1000 + chat, ids, DUE)
        record: list[float] = []
        intent_costs: list[float] = []
        settle_costs: list[float] = []
        # Interleaved, so that the disk's and the machine's moods fall on all alike.
        for n in range(args.messages):
            chat = 1000 + n % args.chats
            start = time.perf_counter()
            store.record(chat, [base + 2 * n + 1], DUE)
            record.append(time.perf_counter() - start)
            start = time.perf_counter()
            floor = store.floor(chat)
            store.volunteer_chat(chat)
            intent = Intent(new_intent_id(), chat, floor, DUE)
            store.intend(intent)
            middle = time.perf_counter()
            store.settle(chat, DUE, known=[base + 2 * n + 2], intent_ids=[intent.id])
            intent_costs.append(middle - start)
            settle_costs.append(time.perf_counter() - middle)
        size = (Path(tmp) / CHAT_STATE_NAME).stat().st_size
        pending = store.counts(0)[0]
        db.close()
    print(f"{args.messages} messages over {args.chats} chats; {pending} message ids pending at the end, "
          f"chats.state {size} bytes")
    report("an incoming message (one write)", record)
    report("floor, delay and intent", intent_costs)
    report("settle after the send", settle_costs)
    report("total per message sent", [a + b for a, b in zip(intent_costs, settle_costs, strict=True)])


if __name__ == "__main__":
    main()
