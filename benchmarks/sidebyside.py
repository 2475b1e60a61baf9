"""Side-by-side timing, shared by the overhead benchmarks.

The machines are shared and noisy, so a claim compares two ways of doing the same work in one
run: each side runs in turn, the order rotating from repeat to repeat (neither side always gets
the warmer or the quieter moment), and the summary quotes the medians, their ratio, and the
median of each repeat's own ratio (the two sides of a repeat ran close together in time).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable


def timed(fn: Callable, *args, **kwargs) -> float:
    """Wall seconds of one call of `fn`."""
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def alternate(sides: dict[str, Callable[[int], float]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each side, `repeats` times; `sides[name](i)` runs repeat `i` of that side and
    returns its seconds."""
    names, times = list(sides), {name: [] for name in sides}
    for i in range(repeats):
        for name in names[i % len(names):] + names[:i % len(names)]:
            times[name].append(sides[name](i))
    return times


def compare(times: dict[str, list[float]], side: str, reference: str) -> dict:
    """`side` against `reference`: seconds, medians, ratio of medians, median of paired ratios."""
    medians = {name: statistics.median(t) for name, t in times.items()}
    return {"seconds": times, "medians": medians,
            "ratio_of_medians": medians[side] / medians[reference],
            "median_of_paired_ratios": statistics.median(
                a / b for a, b in zip(times[side], times[reference]))}
