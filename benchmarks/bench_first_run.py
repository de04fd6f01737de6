"""A fresh install's first ``symopt demo``: seconds to its first table.

Each run copies the checkout's ``symopt`` package to a new temporary folder (no
``__pycache__``, so no Numba cache beside the solver sources, as after ``pip install``)
and gives it an empty ``SYMOPT_CACHE_DIR``; the time is from starting the process to the
demo's table header.  Also printed: the CPU seconds of the whole demo (its process and
the worker processes it waited for), the figure that does not depend on the machine's
load.  Trees are interleaved; medians printed:

    python benchmarks/bench_first_run.py /tmp/old-checkout /work/wt/arch --repeat 3
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(tree: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="symopt-first-run-") as tmp:
        shutil.copytree(Path(tree) / "symopt", Path(tmp) / "symopt",
                        ignore=shutil.ignore_patterns("__pycache__"))
        env = dict(os.environ, SYMOPT_CACHE_DIR=str(Path(tmp) / "cache"), PYTHONPATH=tmp,
                   MPLBACKEND="Agg")
        cpu = _children_cpu()
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "symopt", "demo", "--out",
                                 str(Path(tmp) / "pictures")], env=env, cwd=tmp,
                                stdout=subprocess.PIPE, text=True)
        first_table = None
        for line in proc.stdout:
            if first_table is None and line.lstrip().startswith("method"):
                first_table = time.perf_counter() - start
        proc.wait()
        if first_table is None:
            raise RuntimeError(f"{tree}: the demo printed no table (exit {proc.returncode})")
        return first_table, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {t: [] for t in args.trees}
    cpus: dict[str, list[float]] = {t: [] for t in args.trees}
    loads = []
    for _ in range(args.repeat):
        for tree in args.trees:
            wall, cpu = run(tree)
            times[tree].append(wall)
            cpus[tree].append(cpu)
            loads.append(os.getloadavg()[0])
    print(f"first `symopt demo` on a fresh cache, seconds to the first table (median of "
          f"{args.repeat}); load {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")
    for tree, values in times.items():
        print(f"  {tree:30s} {statistics.median(values):6.1f} s   ({', '.join(f'{v:.1f}' for v in values)})"
              f"   CPU of the whole demo {statistics.median(cpus[tree]):6.1f} s")


if __name__ == "__main__":
    main()
