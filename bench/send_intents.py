"""What the send intent costs: bookkeeping per message the bot sends, before and after intents.

Run from the repository root (project installed):

    python bench/send_intents.py [--messages 500] [--chats 50] [--dir PATH]

Before intents, a sent message cost one transaction (its id into pending_deletions).
Now it costs the reads that give its floor and its chat's delay, one committed
intent before the send and one transaction after (id in, intent out): two fsyncs
instead of one (synchronous = FULL). Prints the mean and p50/p95/p99 of each, in ms,
on a real SQLCipher file in --dir (default: a temporary directory; put it on the
server's disk to measure that disk).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import nacl.utils

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
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        db = Database.open(Path(tmp) / "bench.db", DatabaseKey(nacl.utils.random(32)), create=True)
        store = DeletionStore(db)
        before: list[float] = []
        intent_costs: list[float] = []
        settle_costs: list[float] = []
        # Interleaved, so that the disk's and the machine's moods fall on both alike.
        for n in range(args.messages):
            chat = 1000 + n % args.chats
            start = time.perf_counter()
            store.record(chat, [2 * n + 1], DUE)
            before.append(time.perf_counter() - start)
            start = time.perf_counter()
            floor = store.floor(chat)
            store.volunteer_chat(chat)
            intent = Intent(new_intent_id(), chat, floor, DUE)
            store.intend(intent)
            middle = time.perf_counter()
            store.settle(chat, DUE, known=[2 * n + 2], intent_ids=[intent.id])
            intent_costs.append(middle - start)
            settle_costs.append(time.perf_counter() - middle)
        db.close()
    print(f"{args.messages} messages over {args.chats} chats, SQLCipher with synchronous = FULL")
    report("before: record after the send", before)
    report("now: floor, delay and intent", intent_costs)
    report("now: settle after the send", settle_costs)
    report("now: total per message", [a + b for a, b in zip(intent_costs, settle_costs, strict=True)])


if __name__ == "__main__":
    main()
