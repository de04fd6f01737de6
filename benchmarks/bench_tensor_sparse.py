"""Sparse (CSR) Hessians, sparse-newton and mini-batch training over array data
(symopt.tensor), side by side with the alternatives symopt already has.

1. extended Rosenbrock laid out in halves (pairs x[i], x[i + h]: the Hessian is sparse, not
   banded), n = 2e5 and 1e6, from the standard start to gtol = 1e-8: sparse-newton (the
   modified Cholesky of the band-reordered CSR Hessian) against sparse-newton forced to
   its CG fallback (Jacobi-preconditioned truncated CG, what it ran before) and trust-ncg
   (Hessian-vector products, no matrix) on the same formula, and banded-newton and
   trust-ncg on the interleaved layout (pairs x[2i], x[2i+1]: the same problem, banded).
   Also the CSR Hessian fill (hess_coo + scatter) against one value+gradient pass, and
   the band ordering's one-off cost.  Then extended Powell singular (MGH 22) in quarters
   (x[i], x[q+i], x[2q+i], x[3q+i]: convex blocks, singular at the optimum), the same
   sparse-newton rows and trust-ncg.
2. logistic regression, m = 1e6 rows, d = 20: a whole symopt.tensor.minimize call of
   EPOCHS epochs of mini-batch Adam (batch 256: binding and checking the data, the
   epochs, the loss over all rows at the end) against the same epochs written in NumPy
   (gather a batch with fancy indexing, X_b @ w, X_b.T @ r), and against one full
   value+gradient pass.

Rows are timed interleaved (each repeat times every row once), medians reported; ratios
are symopt / other.  Solvers and kernels are compiled before timing.

Run:  python benchmarks/bench_tensor_sparse.py [--quick] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _timing import interleaved

import symopt.tensor as st
from symopt.tensor import sparse


def sparse_section(n: int, repeat: int) -> None:
    h = n // 2
    halves = st.Problem("sum(100*(x[h:] - x[:h]**2)**2 + (1 - x[:h])**2)", wrt={"x": "2*h"})
    pairs = st.Problem("sum(100*(x[1::2] - x[::2]**2)**2 + (1 - x[::2])**2)", wrt={"x": "n"},
                       even="n")
    x_halves = np.concatenate([np.full(h, -1.2), np.ones(h)])
    x_pairs = np.tile([-1.2, 1.0], h)
    results = {}

    def solve(problem, x0, method, key, factor=None):
        def run():
            saved = sparse.BAND_WORK_FACTOR
            if factor is not None:
                sparse.BAND_WORK_FACTOR = factor
            try:
                res = st.minimize(problem, {"x": x0.copy()}, method, gtol=1e-8)
            finally:
                sparse.BAND_WORK_FACTOR = saved
            assert res.success, res.message
            results[key] = res
        return run

    rows = {"sparse-newton (halves)": solve(halves, x_halves, "sparse-newton", "sparse"),
            "sparse-newton CG (halves)": solve(halves, x_halves, "sparse-newton", "cg", 0.0),
            "trust-ncg (halves)": solve(halves, x_halves, "trust-ncg", "tncg"),
            "banded-newton (pairs)": solve(pairs, x_pairs, "banded-newton", "band"),
            "trust-ncg (pairs)": solve(pairs, x_pairs, "trust-ncg", "tncg pairs")}
    for fn in rows.values():
        fn()  # compile, and the patterns and orderings (once per size)
    t = interleaved(rows, repeat)
    print(f"\n== extended Rosenbrock in halves, n = {n:,} (gtol 1e-8) ==")
    for name, key in zip(rows, ("sparse", "cg", "tncg", "band", "tncg pairs")):
        r = results[key]
        print(f"{name:26s} {t[name]:8.3f} s  nit {r.nit:3d}  nhev {r.nhev:5d}  f {r.fun:.1e}")
    base = t["sparse-newton (halves)"]
    print(f"ratio sparse-newton / sparse-newton CG   {base / t['sparse-newton CG (halves)']:.2f}")
    print(f"ratio sparse-newton / trust-ncg          {base / t['trust-ncg (halves)']:.2f}")
    print(f"ratio sparse-newton / banded-newton      {base / t['banded-newton (pairs)']:.2f}")
    k = st.compile(halves)
    binding = k.bind(None, None, {"x": x_halves})
    pattern = halves.sparse.pattern(binding.dims, n)
    start = time.perf_counter()
    pattern.band_ordering()
    ordering = time.perf_counter() - start
    x = np.full(n, 0.5)
    g = np.empty(n)
    k.hessian_csr(x, binding=binding)
    t = interleaved({"csr": lambda: k.hessian_csr(x, binding=binding),
                     "vg": lambda: k.value_grad_kernel(x, binding.p, binding.table, g)}, repeat)
    print(f"CSR Hessian (hess_coo + scatter + csr_matrix) {t['csr'] * 1e3:.2f} ms, "
          f"value+gradient {t['vg'] * 1e3:.2f} ms, ratio {t['csr'] / t['vg']:.1f}")
    print(f"band ordering (reverse Cuthill-McKee, once per size) {ordering * 1e3:.0f} ms")


def powell_section(n: int, repeat: int) -> None:
    """Extended Powell singular (MGH 22) in quarters: x[i], x[q+i], x[2q+i], x[3q+i] coupled,
    the Hessian singular at the optimum; from the standard start to gtol 1e-8."""
    q = n // 4
    problem = st.Problem("sum((x[:q] + 10*x[q:2*q])**2 + 5*(x[2*q:3*q] - x[3*q:])**2 "
                         "+ (x[q:2*q] - 2*x[2*q:3*q])**4 + 10*(x[:q] - x[3*q:])**4)",
                         wrt={"x": "4*q"})
    x0 = np.repeat([3.0, -1.0, 0.0, 1.0], q)
    results = {}

    def solve(method, key, factor=None):
        def run():
            saved = sparse.BAND_WORK_FACTOR
            if factor is not None:
                sparse.BAND_WORK_FACTOR = factor
            try:
                res = st.minimize(problem, {"x": x0.copy()}, method, gtol=1e-8)
            finally:
                sparse.BAND_WORK_FACTOR = saved
            results[key] = res
        return run

    rows = {"sparse-newton": solve("sparse-newton", "sparse"),
            "sparse-newton CG": solve("sparse-newton", "cg", 0.0),
            "trust-ncg": solve("trust-ncg", "tncg")}
    for fn in rows.values():
        fn()
    t = interleaved(rows, repeat)
    print(f"\n== extended Powell singular in quarters, n = {n:,} (gtol 1e-8) ==")
    for name, key in zip(rows, ("sparse", "cg", "tncg")):
        r = results[key]
        print(f"{name:26s} {t[name]:8.3f} s  nit {r.nit:3d}  nhev {r.nhev:5d}  f {r.fun:.1e}  "
              f"status {r.status}")
    base = t["sparse-newton"]
    print(f"ratio sparse-newton / sparse-newton CG   {base / t['sparse-newton CG']:.2f}")
    print(f"ratio sparse-newton / trust-ncg          {base / t['trust-ncg']:.2f}")


def numpy_adam_epoch(X, y, w, b, lam, batch, lr, rng):
    m = X.shape[0]
    state = numpy_adam_epoch.state
    order = rng.permutation(m)
    for start in range(0, m, batch):
        idx = order[start:start + batch]
        Xb, yb = X[idx], y[idx]
        z = Xb @ w + b
        r = (1 / (1 + np.exp(-z)) - yb) / len(idx)
        gw = Xb.T @ r + lam * w
        gb = r.sum()
        state["t"] += 1
        t = state["t"]
        for key, grad, var in (("w", gw, w), ("b", np.array([gb]), b)):
            mo, ve = state["m" + key], state["v" + key]
            mo *= 0.9
            mo += 0.1 * grad
            ve *= 0.999
            ve += 0.001 * grad * grad
            var -= lr * (mo / (1 - 0.9 ** t)) / (np.sqrt(ve / (1 - 0.999 ** t)) + 1e-8)


EPOCHS = 3


def minibatch_section(m: int, repeat: int) -> None:
    d = 20
    rng = np.random.default_rng(0)
    X = rng.standard_normal((m, d))
    y = (rng.random(m) < 1 / (1 + np.exp(-(X @ rng.standard_normal(d))))).astype(float)
    problem = st.Problem("mean(softplus(X @ w + b) - y*(X @ w + b)) + 0.5*lam*dot(w, w)",
                         data={"X": "m d", "y": "m"}, wrt={"w": "d", "b": ""},
                         params={"lam": ""})
    data, params = {"X": X, "y": y}, {"lam": 1e-4}
    k = st.compile(problem)
    binding = k.bind(data, params, {"w": np.zeros(d), "b": 0.0})
    x = np.zeros(d + 1)
    g = np.empty(d + 1)
    w, b = np.zeros(d), np.zeros(1)
    numpy_adam_epoch.state = {"t": 0, "mw": np.zeros(d), "vw": np.zeros(d), "mb": np.zeros(1),
                              "vb": np.zeros(1)}
    np_rng = np.random.default_rng(0)
    rows = {
        "symopt adam": lambda: st.minimize(problem, {"w": np.zeros(d), "b": 0.0}, "adam",
                                           data=data, params=params, batch_size=256,
                                           epochs=EPOCHS, seed=0, lr=1e-3),
        "numpy adam": lambda: [numpy_adam_epoch(X, y, w, b, 1e-4, 256, 1e-3, np_rng)
                               for _ in range(EPOCHS)],
        "value+gradient pass": lambda: k.value_grad_kernel(x, binding.p, binding.table, g),
    }
    for fn in rows.values():
        fn()
    t = interleaved(rows, repeat)
    print(f"\n== logistic regression mini-batch Adam, m = {m:,}, d = {d}, batch 256, "
          f"{EPOCHS} epochs ==")
    for name, sec in t.items():
        print(f"{name:22s} {sec * 1e3:9.1f} ms")
    print(f"ratio symopt / numpy                        {t['symopt adam'] / t['numpy adam']:.3f}")
    print(f"ratio symopt per epoch / value+gradient pass "
          f"{t['symopt adam'] / EPOCHS / t['value+gradient pass']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("load:", os.getloadavg())
    sizes = (20_000,) if args.quick else (200_000, 1_000_000)
    for n in sizes:
        sparse_section(n, args.repeat)
        powell_section(n, args.repeat)
    minibatch_section(100_000 if args.quick else 1_000_000, args.repeat)
    print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
