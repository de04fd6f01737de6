"""Time to a first gradient of a 100-feature logistic DataLoss, on a fresh kernel cache.

Runs each checkout given on the command line (default: this one) in its own subprocess
with an empty SYMOPT_CACHE_DIR, interleaved, and prints the median per checkout:

    python benchmarks/bench_first_gradient.py /work/main /work/wt/arch --repeat 3

Measured: building the problem, symbolic derivation, code generation and compiling the
value+gradient kernel (what an L-BFGS solve needs before its first step).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

K = 100

CHILD = f"""
import time
t0 = time.perf_counter()
import numpy as np
import symopt as so
w = " ".join(f"w{{i}}" for i in range({K}))
x = " ".join(f"x{{i}}" for i in range({K}))
z = " + ".join(f"w{{i}}*x{{i}}" for i in range({K}))
loss = so.DataLoss(f"softplus(b + {{z}}) - y*(b + {{z}})", wrt="b " + w, data=x + " y",
                   reduce="mean")
rng = np.random.default_rng(0)
data = {{f"x{{i}}": rng.normal(size=200) for i in range({K})}}
data["y"] = (rng.random(200) < 0.5).astype(float)
t1 = time.perf_counter()
f, g = so.compile(loss).value_and_grad(np.zeros({K} + 1), data)
t2 = time.perf_counter()
print(f"{{t2 - t0:.3f}} {{t2 - t1:.3f}}")
"""


def run(tree: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="symopt-bench-cache-") as cache:
        env = dict(os.environ, SYMOPT_CACHE_DIR=cache, PYTHONPATH=tree)
        out = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True,
                             capture_output=True, text=True, cwd=tree).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", default=[str(Path(__file__).resolve().parents[1])])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[tuple[float, float]]] = {t: [] for t in args.trees}
    for _ in range(args.repeat):
        for tree in args.trees:  # interleaved: load drifts hit every tree alike
            times[tree].append(run(tree))
    print(f"logistic DataLoss, {K} features: seconds to the first value+gradient "
          f"(fresh cache; median of {args.repeat}); load {os.getloadavg()[0]:.1f}")
    for tree, rows in times.items():
        total = statistics.median(r[0] for r in rows)
        kernels = statistics.median(r[1] for r in rows)
        print(f"  {tree:30s} total {total:7.2f} s   derive+generate+compile {kernels:7.2f} s")


if __name__ == "__main__":
    main()
