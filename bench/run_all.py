"""Run every benchmark and print a compact summary.

Run from the repository root (project installed):

    python bench/run_all.py [--quick] [--dir DIR]

--quick spends about a third of the usual time (for a smoke check, not for figures).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import enqueue
import envelope
from timing import machine


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, for a smoke check")
    parser.add_argument("--dir", default=None, help="where enqueue puts its temporary databases")
    args = parser.parse_args(argv)
    scale = 1 / 3 if args.quick else 1.0

    env = envelope.measure(seconds=5.0 * scale)
    print(envelope.report(env), end="\n\n")
    enq = enqueue.measure(seconds=6.0 * scale, directory=args.dir)
    print(enqueue.report(enq), end="\n\n")

    t = env.timings
    seal_target, ratio_target = f"<= {envelope.OVERHEAD_TARGET:.0%}", f">= {enqueue.RATIO_TARGET}"
    open_target = f"<= {envelope.OPEN_OVERHEAD_TARGET:.0%}"
    rows = [
        ("envelope seal", t[envelope.SEAL], "raw", t[envelope.RAW_SEAL],
         f"overhead {env.seal_overhead:+.1%}", seal_target, env.seal_met),
        ("envelope open", t[envelope.OPEN], "raw", t[envelope.RAW_OPEN],
         f"overhead {env.open_overhead:+.1%}", open_target, env.open_met),
        ("durable enqueue", enq.timings[enqueue.WAYSTATION], "bare+ckpt", enq.timings[enqueue.BARE_CHECKPOINT],
         f"ratio {enq.ratio:.2f}", ratio_target, enq.met),
    ]
    print(f"Summary ({machine()})")
    for warning in {w for w in (env.warning, enq.warning) if w}:
        print(f"  {warning}")
    for name, ours, base_name, base, figure, target, met in rows:
        print(
            f"  {name:<16} {ours.ops_per_second:>7,.0f}/s  {base_name} {base.ops_per_second:>7,.0f}/s  "
            f"{figure:<17} target {target:<6} {'met' if met else 'NOT MET'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
