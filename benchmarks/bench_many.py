"""10^5 fits of ``a*exp(-b*t) + c`` to 20 points each, side by side in one run.

- ``symopt.minimize_many(model, method="lm")`` on 2 threads (and 1 thread; and with the
  work arrays allocated per problem instead of per block of 64);
- a hand-written Numba Levenberg-Marquardt inside ``numba.prange`` (hand-derived
  Jacobian, 3x3 normal equations solved by Cholesky, stopping when the cost stops
  decreasing (relative 1e-15) or the step is below 1e-15 relative to the parameters: the
  tests symopt's LM applies with its default tolerances); the speed limit;
- a Python loop over ``scipy.optimize.least_squares(method="lm")`` with a
  ``sympy.lambdify`` Jacobian (scipy's default tolerances), timed on a subset and scaled;
- ``symopt.dask.minimize_many`` on a ``LocalCluster`` of 2 worker processes with 1 thread
  each, against the single-process run (cluster start-up excluded, reported separately).

Run: ``python benchmarks/bench_many.py`` (``--quick`` for 10^4 fits).  Medians of
repeated timings, one run.  Prints a table of ratios.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import numba
import numpy as np
import scipy.optimize
import sympy

import symopt as so
from symopt import many

K = 10_000 if "--quick" in sys.argv else 100_000
M = 20
REPEAT = 5
SCIPY_SUBSET = 300
T = np.linspace(0.0, 4.0, M)
X0 = np.array([1.0, 1.0, 0.0])


def problems(k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = np.column_stack([rng.uniform(1, 3, k), rng.uniform(0.5, 2.0, k), rng.uniform(0, 1, k)])
    y = truth[:, :1] * np.exp(-truth[:, 1:2] * T) + truth[:, 2:] + 0.01 * rng.standard_normal((k, M))
    return truth, y


@numba.njit(cache=True, inline="always")
def _cost(p, t, y):
    s = 0.0
    for i in range(t.shape[0]):
        e = y[i] - (p[0] * np.exp(-p[1] * t[i]) + p[2])
        s += e * e
    return 0.5 * s


@numba.njit(cache=True)
def hand_lm(p, t, y, max_iter):
    """LM on (J'J + lam diag(J'J)) d = -J'r; returns (cost, evaluations)."""
    m = t.shape[0]
    A = np.empty((3, 3))
    g = np.empty(3)
    M_ = np.empty((3, 3))
    d = np.empty(3)
    trial = np.empty(3)
    lam = 1e-3
    cost = _cost(p, t, y)
    nfev = 1
    for _ in range(max_iter):
        A[:] = 0.0
        g[:] = 0.0
        for i in range(m):
            e = np.exp(-p[1] * t[i])
            r = y[i] - (p[0] * e + p[2])
            j0, j1, j2 = -e, p[0] * t[i] * e, -1.0
            g[0] += j0 * r
            g[1] += j1 * r
            g[2] += j2 * r
            A[0, 0] += j0 * j0
            A[0, 1] += j0 * j1
            A[0, 2] += j0 * j2
            A[1, 1] += j1 * j1
            A[1, 2] += j1 * j2
            A[2, 2] += j2 * j2
        A[1, 0], A[2, 0], A[2, 1] = A[0, 1], A[0, 2], A[1, 2]
        nfev += 1
        if max(abs(g[0]), abs(g[1]), abs(g[2])) == 0.0:
            return cost, nfev
        while True:
            for a in range(3):
                for b in range(3):
                    M_[a, b] = A[a, b]
                M_[a, a] *= 1.0 + lam
            # Cholesky of the 3x3, then two triangular solves
            l00 = np.sqrt(M_[0, 0])
            l10 = M_[1, 0] / l00
            l20 = M_[2, 0] / l00
            l11 = np.sqrt(M_[1, 1] - l10 * l10)
            l21 = (M_[2, 1] - l20 * l10) / l11
            l22 = np.sqrt(M_[2, 2] - l20 * l20 - l21 * l21)
            z0 = -g[0] / l00
            z1 = (-g[1] - l10 * z0) / l11
            z2 = (-g[2] - l20 * z0 - l21 * z1) / l22
            d[2] = z2 / l22
            d[1] = (z1 - l21 * d[2]) / l11
            d[0] = (z0 - l10 * d[1] - l20 * d[2]) / l00
            for a in range(3):
                trial[a] = p[a] + d[a]
            c = _cost(trial, t, y)
            nfev += 1
            if c < cost:
                decrease = (cost - c) / cost
                p[:] = trial
                cost = c
                lam = max(lam / 10.0, 1e-15)
                break
            lam *= 10.0
            if lam > 1e16:
                return cost, nfev
        if decrease <= 1e-15:
            return cost, nfev
        if max(abs(d[0]), abs(d[1]), abs(d[2])) <= 1e-15 * max(abs(p[0]), abs(p[1]), abs(p[2])):
            return cost, nfev
    return cost, nfev


@numba.njit(parallel=True, cache=True)
def hand_lm_many(P, t, Y, cost, nfev):
    for i in numba.prange(P.shape[0]):
        cost[i], nfev[i] = hand_lm(P[i], t, Y[i], 200)


CPU_SHARE: dict[float, float] = {}  # median wall time -> median CPU time / wall time


def median_time(fn, repeat=REPEAT):
    """Median wall time of ``fn()``; the median share of CPU time this process got during
    it (cores in use: about 2 for two busy threads on an idle machine) goes to CPU_SHARE."""
    times, shares = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        wall = time.perf_counter() - start
        times.append(wall)
        shares.append((time.process_time() - cpu) / wall)
    median = statistics.median(times)
    CPU_SHARE[median] = statistics.median(shares)
    return median


def main() -> None:
    threads = numba.get_num_threads()
    truth, Y = problems(K)
    model = so.LeastSquares.from_model("a*exp(-b*t) + c", independent="t", wrt="a b c")
    data = {"t": T, "y": Y}
    print(f"symopt {so.__version__}, numba {numba.__version__}, "
          f"{K:,} fits of a*exp(-b*t) + c to {M} points, {threads} threads, medians of {REPEAT}\n")

    # warm up: compile / load everything once
    res = so.minimize_many(model, X0, method="lm", data=data, verbose=False)
    P = np.tile(X0, (K, 1))
    cost, nfev = np.empty(K), np.empty(K, np.int64)
    hand_lm_many(P.copy(), T, Y[:10], cost[:10], nfev[:10])

    rows = []
    t_so = median_time(lambda: so.minimize_many(model, X0, method="lm", data=data, verbose=False))
    rows.append((f"symopt minimize_many lm, {threads} threads", t_so))
    t_so1 = median_time(lambda: so.minimize_many(model, X0, method="lm", data=data, verbose=False,
                                                 threads=1))
    rows.append(("symopt minimize_many lm, 1 thread", t_so1))
    saved = many._MAX_BLOCK
    many._MAX_BLOCK = 1
    t_alloc = median_time(lambda: so.minimize_many(model, X0, method="lm", data=data, verbose=False))
    many._MAX_BLOCK = saved
    rows.append(("  same, work arrays allocated per problem", t_alloc))
    invalid = np.tile([np.nan, 1.0, 0.0], (K, 1))  # every problem rejected: the loop alone
    t_loop = median_time(lambda: so.minimize_many(model, invalid, method="lm", data=data,
                                                  verbose=False))
    rows.append(("  batching overhead alone (data gathered, nothing solved)", t_loop))

    def run_hand():
        hand_lm_many(P.copy(), T, Y, cost, nfev)

    t_hand = median_time(run_hand)
    rows.append((f"hand-written Numba LM in prange, {threads} threads", t_hand))
    numba.set_num_threads(1)
    t_hand1 = median_time(run_hand)
    numba.set_num_threads(threads)
    rows.append(("hand-written Numba LM in prange, 1 thread", t_hand1))

    a, b, c, t = sympy.symbols("a b c t")
    expr = a * sympy.exp(-b * t) + c
    f_l = sympy.lambdify([(a, b, c), t], expr, "numpy")
    J_l = sympy.lambdify([(a, b, c), t], [sympy.diff(expr, v) for v in (a, b, c)], "numpy")

    def scipy_subset():
        out = np.empty((SCIPY_SUBSET, 3))
        for i in range(SCIPY_SUBSET):
            y = Y[i]
            out[i] = scipy.optimize.least_squares(
                lambda q: f_l(q, T) - y, X0, method="lm",
                jac=lambda q: np.column_stack([np.broadcast_to(col, T.shape) for col in J_l(q, T)])).x
        return out

    ref = scipy_subset()
    t_subset = median_time(scipy_subset, repeat=3)
    t_scipy = t_subset * K / SCIPY_SUBSET
    CPU_SHARE[t_scipy] = CPU_SHARE[t_subset]
    rows.append((f"scipy least_squares lm + lambdify, Python loop (x{K // SCIPY_SUBSET} of {SCIPY_SUBSET})",
                 t_scipy))

    t_dask, t_start = dask_rows(model, Y)
    if t_dask is not None:
        rows.append(("symopt.dask, LocalCluster 2 processes x 1 thread", t_dask))

    print(f"{'':62}{'time':>9}{'fits/s':>12}{'vs symopt':>11}{'cores used':>12}")
    for name, seconds in rows:
        share = CPU_SHARE.get(seconds, float("nan"))
        print(f"{name:62}{seconds:8.3f}s{K / seconds:12,.0f}{seconds / t_so:10.2f}x{share:12.2f}")
    print("(cores used: this process's CPU time / wall time; Dask's run in the workers)")
    print()
    print(f"symopt vs scipy loop: {t_scipy / t_so:.0f}x faster (target >= 100x)")
    print(f"symopt vs hand-written Numba LM: {t_so / t_hand:.2f}x the time (target <= 1.3x); "
          f"evaluations per fit, median: symopt {np.median(res.nfev):.0f}, hand {np.median(nfev):.0f}")
    print(f"speed-up 1 -> {threads} threads: symopt {t_so1 / t_so:.2f}x, hand {t_hand1 / t_hand:.2f}x")
    print(f"batching overhead (gathering each problem's data, the loop, results): "
          f"{t_loop / t_so:.1%} of the symopt time")
    print(f"per-problem allocation of the work arrays: {t_alloc / t_so:.2f}x the time of per-block")
    if t_dask is not None:
        print(f"dask overhead vs single process: {t_dask / t_so:.2f}x the time "
              f"(cluster start-up, not included: {t_start:.1f} s)")
    agree = np.max(np.abs(res.x[:SCIPY_SUBSET] - ref) / np.abs(ref))
    print(f"converged: {res.success.mean():.4%}; parameters agree with scipy to {agree:.1e} (relative, "
          f"max over the subset)")


def dask_rows(model, Y):
    try:
        import dask.array as da
        import distributed

        import symopt.dask as sod
    except ImportError:
        print("dask[distributed] not installed: no Dask row")
        return None, None
    warnings.filterwarnings("ignore", message="Sending large graph")  # the data, sent once
    start = time.perf_counter()
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        startup = time.perf_counter() - start
        y = client.persist(da.from_array(Y, chunks=(K // 8, -1)))  # data on the workers
        distributed.wait(y)

        def run():
            sod.minimize_many(model, X0, data={"t": T, "y": y}, method="lm", threads=1).compute()

        run()  # workers load the kernels and the entry
        return median_time(run, repeat=3), startup


if __name__ == "__main__":
    main()
