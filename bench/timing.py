"""Shared timing for the bench scripts: run contenders alternately in rounds, keep medians.

Contenders that are compared run in the same process, in the same rounds, in
alternating order (A B C, then C B A, ...), so that drift in clock speed, cache
or disk state falls on both sides alike. Each figure is the median over rounds.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: Runs `n` operations and returns the seconds spent on them (setup excluded).
Batch = Callable[[int], float]


@dataclass(frozen=True)
class Contender:
    """One thing being timed."""

    name: str
    batch: Batch


@dataclass(frozen=True)
class Timing:
    """Seconds per operation of one contender, one value per round."""

    name: str
    ops_per_batch: int
    per_round: tuple[float, ...]

    @property
    def median(self) -> float:
        """Median seconds per operation."""
        return statistics.median(self.per_round)

    @property
    def ops_per_second(self) -> float:
        """Operations per second at the median."""
        return 1.0 / self.median

    @property
    def spread(self) -> float:
        """Interquartile range over rounds / median: how stable the figure is."""
        low, _, high = statistics.quantiles(self.per_round, n=4)
        return (high - low) / self.median


def loop(operation: Callable[[], object]) -> Batch:
    """A batch that calls `operation` n times with the garbage collector off (as timeit does)."""

    def batch(n: int) -> float:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(n):
                operation()
            return time.perf_counter() - start
        finally:
            if was_enabled:
                gc.enable()

    return batch


def calibrate(batch: Batch, seconds: float) -> int:
    """How many operations fill about `seconds`; the trial runs double as warm-up.

    Trials double in size until one takes 50 ms; the fastest rate seen wins, so
    that one stall (an fsync hiccup, a descheduled VM) does not shrink every batch.
    """
    n = 1
    per_op = float("inf")
    while True:
        elapsed = batch(n)
        per_op = min(per_op, max(elapsed, 1e-9) / n)
        if elapsed >= 0.05 or n >= 1_000_000:
            return max(1, round(seconds / per_op))
        n *= 2


def alternate(contenders: Sequence[Contender], *, rounds: int, seconds: float) -> dict[str, Timing]:
    """Time every contender once per round, order reversed every other round.

    `seconds` is the whole budget; each contender gets an equal share per round.
    """
    share = seconds / (rounds * len(contenders))
    sizes = {c.name: calibrate(c.batch, share) for c in contenders}
    results: dict[str, list[float]] = {c.name: [] for c in contenders}
    for number in range(rounds):
        order = contenders if number % 2 == 0 else list(reversed(contenders))
        for contender in order:
            n = sizes[contender.name]
            results[contender.name].append(contender.batch(n) / n)
    return {name: Timing(name, sizes[name], tuple(values)) for name, values in results.items()}


def paired_ratios(slow: Timing, fast: Timing) -> list[float]:
    """slow/fast for each round, both taken within that round."""
    return [s / f for s, f in zip(slow.per_round, fast.per_round, strict=True)]


def paired_median(slow: Timing, fast: Timing) -> float:
    """Median over rounds of slow/fast: drift between rounds cancels out of each ratio."""
    return statistics.median(paired_ratios(slow, fast))


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """First and third quartile."""
    low, _, high = statistics.quantiles(values, n=4)
    return low, high


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine() -> str:
    """One line about where the figures come from."""
    return f"{_cores()} cores usable (as nproc), {platform.machine()}, Python {platform.python_version()}"


def busy_warning() -> str | None:
    """A warning when other work is competing for the CPUs (call before measuring)."""
    load = os.getloadavg()[0]
    if load < _cores() / 2:
        return None
    return (f"WARNING: load average {load:.1f} on {_cores()} cores before the run: "
            "other work competes with the benchmark; figures are unreliable")
