"""Two checkouts side by side: the hot paths of bench_foundation, bench_fit, bench_many
and bench_dataloss, each tree in its own subprocess, interleaved, medians compared.

    python benchmarks/bench_versions.py /work/main /work/wt/arch --rounds 5

Each tree gets its own kernel cache folder, warmed by a first round that is not counted.
Prints, per case, the median time per call in each tree and the ratio new / old (the
second tree over the first).  Under load the figures are noisy: quote the load printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time, timeit
import numpy as np
import symopt as so

def per_call(f, number):
    # the least of 7 repeats: what the code costs when the machine lets it run (timeit's advice)
    f()
    return min(timeit.repeat(f, number=number, repeat=7)) / number

rosen = so.Problem("(1 - x)**2 + 100*(y - x**2)**2")
rosen_ls = so.LeastSquares(["1 - x", "10*(y - x**2)"])
rng = np.random.default_rng(0)
T = np.linspace(0, 4, 200)
Y = 2.5 * np.exp(-1.3 * T) + 0.5 + 0.01 * rng.normal(size=T.size)
model = so.LeastSquares.from_model("a*exp(-b*t) + c", independent="t", wrt="a b c")
K = 1000
Tm = np.linspace(0, 4, 50)
Ym = (1 + rng.random((K, 1))) * np.exp(-np.outer(1 + rng.random(K), Tm)) + 0.5
X0 = np.tile([1.0, 1.0, 0.0], (K, 1))
feats = 10
z = " + ".join(f"w{i}*x{i}" for i in range(feats))
loss = so.DataLoss(f"softplus(b + {z}) - y*(b + {z})", wrt="b " + " ".join(f"w{i}" for i in range(feats)),
                   data=" ".join(f"x{i}" for i in range(feats)) + " y", reduce="mean")
rows = 100_000
D = {f"x{i}": rng.normal(size=rows) for i in range(feats)}
D["y"] = (rng.random(rows) < 0.5).astype(float)
kd = so.compile(loss)
w0 = np.zeros(feats + 1)
cases = {
    "minimize newton (default)": (lambda: so.minimize(rosen, [-1.2, 1.0]), 2000),
    "minimize bfgs gtol=1e-8": (lambda: so.minimize(rosen, [-1.2, 1.0], method="bfgs", gtol=1e-8), 1000),
    "minimize lbfgs memory=5": (lambda: so.minimize(rosen, [-1.2, 1.0], method="lbfgs", memory=5), 1000),
    "minimize lm (LeastSquares)": (lambda: so.minimize(rosen_ls, [-1.2, 1.0], method="lm"), 2000),
    "fit exp model, 200 points": (lambda: so.fit("a*exp(-b*t) + c", p0={"a": 1.0, "b": 1.0, "c": 0.0}, t=T, y=Y), 200),
    "minimize_many lm, 1000 fits": (lambda: so.minimize_many(model, X0, method="lm", data={"t": Tm, "y": Ym}, verbose=False), 5),
    "minimize_many newton, 1000": (lambda: so.minimize_many(rosen, np.tile([-1.2, 1.0], (K, 1)), verbose=False), 10),
    "DataLoss value_grad 1e5 rows": (lambda: kd.value_and_grad(w0, D), 20),
}
print(json.dumps({name: per_call(f, n) for name, (f, n) in cases.items()}))
"""


def run(tree: str, cache: str) -> dict[str, float]:
    env = dict(os.environ, SYMOPT_CACHE_DIR=cache, PYTHONPATH=tree)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=tree,
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{tree}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    trees = [args.old, args.new]
    caches = [tempfile.mkdtemp(prefix="symopt-bench-versions-") for _ in trees]
    for tree, cache in zip(trees, caches):
        run(tree, cache)  # warm the cache: compile everything once
    results: list[list[dict[str, float]]] = [[], []]
    loads = []
    for _ in range(args.rounds):
        for i, tree in enumerate(trees):
            results[i].append(run(tree, caches[i]))
            loads.append(os.getloadavg()[0])
    print(f"per call: median over {args.rounds} interleaved rounds of the least of 7 repeats; load (1 min) "
          f"{min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")
    print(f"{'case':32s} {'old':>12s} {'new':>12s} {'new/old':>8s}")
    for name in results[0][0]:
        old = statistics.median(r[name] for r in results[0])
        new = statistics.median(r[name] for r in results[1])
        print(f"{name:32s} {old * 1e6:10.2f}us {new * 1e6:10.2f}us {new / old:8.3f}")


if __name__ == "__main__":
    main()
