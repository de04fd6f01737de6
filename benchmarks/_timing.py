"""Timing helpers shared by the benchmarks: rows timed interleaved (every repeat times each
row once, so a change of load on the shared machine weighs on all rows alike), medians.

Import from a benchmark script run as ``python benchmarks/bench_x.py`` (its folder is then
first on ``sys.path``): ``from _timing import interleaved``.
"""

from __future__ import annotations

import os
import statistics
import time

__all__ = ["interleaved", "blocking", "report", "load"]


def interleaved(rows: dict, repeat: int, settle: float = 0.0, warmup: bool = False) -> dict:
    """Median seconds of each callable in ``rows`` over ``repeat`` rounds, every round
    timing each row once, in order.  ``warmup``: call every row once, untimed, first.
    ``settle``: a pause after each row, untimed, so that BLAS threads still spinning after
    a NumPy row (OpenBLAS waits about 0.1 s before it sleeps) do not slow the next row.
    JAX rows must block on their results themselves (see :func:`blocking`)."""
    if warmup:
        for fn in rows.values():
            fn()
    times = {name: [] for name in rows}
    for _ in range(repeat):
        for name, fn in rows.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
            if settle:
                time.sleep(settle)
    return {name: statistics.median(ts) for name, ts in times.items()}


def blocking(fn):
    """A JAX call that returns only when its results are computed (JAX dispatches
    asynchronously)."""
    import jax

    return lambda *args: jax.block_until_ready(fn(*args))


def report(title: str, medians: dict, base: str, unit: float = 1e3, suffix: str = "ms") -> None:
    """Print ``medians`` (seconds) in ``unit``/``suffix``, with ``base``'s time over each
    other row's (< 1: ``base`` faster)."""
    print(f"  {title}")
    for name, t in medians.items():
        ratio = "" if name == base else f"   symopt/this = {medians[base] / t:.2f}"
        print(f"    {name:<34} {t * unit:10.2f} {suffix}{ratio}")


def load() -> str:
    """The 1-, 5- and 15-minute load averages, for the line beside a figure."""
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
