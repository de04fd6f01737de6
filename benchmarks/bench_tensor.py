"""Array formulas (symopt.tensor) against hand-written NumPy/Numba and JAX, side by side.

Sections (issue 12's targets):

1. set-up: a new formula derives and compiles its value and value+gradient kernels (cold
   kernel cache, solvers already compiled), d = 10 and d = 10,000; then a second size
   (no compilation).  Measured in fresh subprocesses.
2. logistic regression, d = 1,000 features, m = 1e5 rows (X: 800 MB):
   value+gradient against one read-only pass over X (a parallel Numba sum: the memory
   floor), NumPy hand-written (X @ w, then X.T @ r: two passes) and JAX
   jit(value_and_grad); the Hessian against NumPy (X.T * s) @ X and JAX hessian; Newton
   to gtol = 1e-8; peak memory beyond the data (fresh subprocess, ru_maxrss).
3. extended Rosenbrock, n = 1e6: value+gradient (JAX, NumPy), Hessian-vector product
   (JAX forward-over-reverse), and the whole solve from the standard start by banded Newton,
   trust-ncg and newton-cg to gtol = 1e-6 (solvers and kernels compiled beforehand).

Rows are timed interleaved (each repeat times every row once), medians reported; ratios
are symopt / other (< 1: symopt faster).  JAX rows are skipped when JAX is missing.
OMP_WAIT_POLICY=passive is set (see benchmarks/bench_dataloss.py: spinning OpenMP workers
stall parallel regions on a shared machine).

Run:  taskset -c 0,1 python benchmarks/bench_tensor.py [--quick] [--repeat 7] [--sections 1,2,3]
(pinned: the figure that counts is the ratio to the read-only pass of the same run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numba  # noqa: E402
import numpy as np  # noqa: E402
from _timing import blocking, interleaved, load, report  # noqa: E402
from numba import njit, prange  # noqa: E402

try:  # noqa: SIM105
    os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover - optional
    jax = None

import symopt.tensor as st  # noqa: E402
from symopt._runtime import radd as _radd  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- 1. set-up ----------------------------------------------------------------------------------

SETUP_SCRIPT = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    t0 = time.perf_counter()
    import symopt.tensor as st
    t_import = time.perf_counter() - t0
    seed, d, d2 = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, d)); y = (rng.random(2000) < 0.5).astype(float)
    t0 = time.perf_counter(); c0 = time.process_time()
    p = st.Problem(f"mean(softplus(X @ w + b) - y*(X @ w + b)) + {seed}e-12*sum(w**2)",
                   data={"X": "m d", "y": "m"}, wrt={"w": "d", "b": ""})
    k = st.compile(p)
    f, g = k.value_and_grad({"w": np.zeros(d), "b": 0.0}, data={"X": X, "y": y})
    t_vg = time.perf_counter() - t0; c_vg = time.process_time() - c0
    res = st.minimize(p, {"w": np.zeros(d), "b": 0.0}, "lbfgs", data={"X": X, "y": y}, max_iter=3)
    t_solve = time.perf_counter() - t0; c_solve = time.process_time() - c0
    X2 = rng.standard_normal((3000, d2)); y2 = (rng.random(3000) < 0.5).astype(float)
    t0 = time.perf_counter()
    k.value_and_grad({"w": np.zeros(d2), "b": 0.0}, data={"X": X2, "y": y2})
    t_second = time.perf_counter() - t0
    print(json.dumps({"import": t_import, "value_grad": t_vg, "first_solve": t_solve,
                      "second_size": t_second, "cpu_value_grad": c_vg, "cpu_first_solve": c_solve}))
""")


def setup_section() -> None:
    print("1. set-up of a new formula (cold kernel cache, solvers compiled), fresh processes")
    cache = tempfile.mkdtemp(prefix="symopt-bench-cache-")
    env = {**os.environ, "SYMOPT_CACHE_DIR": cache, "PYTHONPATH": ROOT}
    # compile the solver entries once, with another formula
    subprocess.run([sys.executable, "-c", SETUP_SCRIPT, "0", "5", "7"], env=env, check=True,
                   capture_output=True)
    for k, d in enumerate((10, 10_000)):
        out = subprocess.run([sys.executable, "-c", SETUP_SCRIPT, str(k + 1), str(d), str(d // 2 + 3)],
                             env=env, check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  d = {d:>6}: derive + compile + first value_and_grad {r['value_grad']:.2f} s "
              f"(CPU {r['cpu_value_grad']:.2f} s); to a first L-BFGS solve {r['first_solve']:.2f} s "
              f"(CPU {r['cpu_first_solve']:.2f} s); import {r['import']:.2f} s; "
              f"then a second size: {r['second_size'] * 1e3:.1f} ms, no compilation")


# --- 2. logistic regression ----------------------------------------------------------------------


@njit(parallel=True, cache=True, fastmath=True)
def read_once(X):
    """One read-only pass over X (the memory floor of a value+gradient; fastmath lets the
    sum vectorise, so that the loop waits for memory, not for additions)."""
    m = X.shape[0]
    nb = 64
    part = np.zeros(nb)
    for b in prange(nb):
        s = 0.0
        for i in range(b * m // nb, (b + 1) * m // nb):
            for j in range(X.shape[1]):
                s += X[i, j]
        part[b] = s
    return part.sum()


@njit(inline="always")
def _logistic_terms(z, yi, m):
    """A row's loss term and gradient weight (softplus(z) - y z; (sigmoid(z) - y) / m)."""
    e = np.exp(-abs(z))
    s = 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)
    return max(z, 0.0) + np.log1p(e) - yi * z, (s - yi) / m


@njit(parallel=True, cache=True, fastmath=True)
def logistic_hand(X, y, w, b, g):
    """Hand-written fused logistic value+gradient, one row at a time: the dot x_i . w,
    then g += r_i x_i, in 24 parallel blocks of rows (fastmath)."""
    m, d = X.shape
    nb = 24
    parts = np.zeros((nb, d + 2))
    for blk in prange(nb):
        pg = parts[blk]
        for i in range(blk * m // nb, (blk + 1) * m // nb):
            z = b
            for j in range(d):
                z += X[i, j] * w[j]
            f, r = _logistic_terms(z, y[i], m)
            pg[d] += f
            pg[d + 1] += r
            for j in range(d):
                pg[j] += r * X[i, j]
    total = parts.sum(axis=0)
    g[:d] = total[:d]
    g[d] = total[d + 1]
    return total[d] / m


@njit(parallel=True, cache=True, fastmath=True)
def logistic_hand_tiled(X, y, w, b, g):  # noqa: C901 - eight rows written out
    """As :func:`logistic_hand`, eight rows per pass over both inner loops (what symopt's
    row tiling generated before 2026-12-04, written by hand with fastmath): w is read
    once per eight dots, and g loaded and stored once per eight rows."""
    m, d = X.shape
    nb = 24
    parts = np.zeros((nb, d + 2))
    for blk in prange(nb):
        pg = parts[blk]
        lo, hi = blk * m // nb, (blk + 1) * m // nb
        top = lo + (hi - lo) // 8 * 8
        for i in range(lo, top, 8):
            z0 = z1 = z2 = z3 = z4 = z5 = z6 = z7 = b
            for j in range(d):
                wj = w[j]
                z0 += X[i, j] * wj
                z1 += X[i + 1, j] * wj
                z2 += X[i + 2, j] * wj
                z3 += X[i + 3, j] * wj
                z4 += X[i + 4, j] * wj
                z5 += X[i + 5, j] * wj
                z6 += X[i + 6, j] * wj
                z7 += X[i + 7, j] * wj
            f0, r0 = _logistic_terms(z0, y[i], m)
            f1, r1 = _logistic_terms(z1, y[i + 1], m)
            f2, r2 = _logistic_terms(z2, y[i + 2], m)
            f3, r3 = _logistic_terms(z3, y[i + 3], m)
            f4, r4 = _logistic_terms(z4, y[i + 4], m)
            f5, r5 = _logistic_terms(z5, y[i + 5], m)
            f6, r6 = _logistic_terms(z6, y[i + 6], m)
            f7, r7 = _logistic_terms(z7, y[i + 7], m)
            pg[d] += f0 + f1 + f2 + f3 + f4 + f5 + f6 + f7
            pg[d + 1] += r0 + r1 + r2 + r3 + r4 + r5 + r6 + r7
            for j in range(d):
                pg[j] += (r0 * X[i, j] + r1 * X[i + 1, j] + r2 * X[i + 2, j] + r3 * X[i + 3, j]
                          + r4 * X[i + 4, j] + r5 * X[i + 5, j] + r6 * X[i + 6, j]
                          + r7 * X[i + 7, j])
        for i in range(top, hi):
            z = b
            for j in range(d):
                z += X[i, j] * w[j]
            f, r = _logistic_terms(z, y[i], m)
            pg[d] += f
            pg[d + 1] += r
            for j in range(d):
                pg[j] += r * X[i, j]
    total = parts.sum(axis=0)
    g[:d] = total[:d]
    g[d] = total[d + 1]
    return total[d] / m


BEST_TILE = 32  # rows per update pass: two loops of 16 (LLVM unrolls each, not one of 32)


@njit(parallel=True, cache=True)
def logistic_hand_best(X, y, w, b, g):
    """The fastest hand-written kernel found (2026-12-04): rows in tiles of
    :data:`BEST_TILE`; each row's dot and scalar work row after row (one sequential
    stream from memory: the hardware prefetcher follows it), then one pass of
    ``q[j] += r_0 X[i, j] + ... + r_31 X[i+31, j]`` over the tile, re-read from cache
    (``q`` loaded and stored once per tile).  No fast-math but the dot's reassociation,
    as symopt's kernels."""
    m, d = X.shape
    nb = 24
    parts = np.zeros((nb, d + 2))
    for blk in prange(nb):
        pg = parts[blk]
        rr = np.empty(BEST_TILE)
        lo, hi = blk * m // nb, (blk + 1) * m // nb
        fs = 0.0
        rs = 0.0
        for i in range(lo, hi, BEST_TILE):
            n = min(BEST_TILE, hi - i)
            for t in range(n):
                z = b
                for j in range(d):
                    z = _radd(z, X[i + t, j] * w[j])
                f, r = _logistic_terms(z, y[i + t], m)
                fs += f
                rs += r
                rr[t] = r
            if n == BEST_TILE:
                for j in range(d):
                    acc = pg[j]
                    for t in range(BEST_TILE // 2):
                        acc += rr[t] * X[i + t, j]
                    for t in range(BEST_TILE // 2, BEST_TILE):
                        acc += rr[t] * X[i + t, j]
                    pg[j] = acc
            else:
                for t in range(n):
                    for j in range(d):
                        pg[j] += rr[t] * X[i + t, j]
        pg[d] = fs
        pg[d + 1] = rs
    total = parts.sum(axis=0)
    g[:d] = total[:d]
    g[d] = total[d + 1]
    return total[d] / m


MEMORY_SCRIPT = textwrap.dedent("""
    import json, os, sys, threading, time
    import numpy as np
    import symopt.tensor as st
    page = os.sysconf("SC_PAGE_SIZE")

    def resident():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    m, d = int(sys.argv[1]), int(sys.argv[2])
    p = st.Problem("mean(softplus(X @ w + b) - y*(X @ w + b))", data={"X": "m d", "y": "m"},
                   wrt={"w": "d", "b": ""})
    k = st.compile(p)
    rng = np.random.default_rng(0)
    small = {"X": rng.standard_normal((50, d)), "y": np.zeros(50)}
    k.hessian(np.zeros(d + 1), data=small); k.hvp(np.zeros(d + 1), np.ones(d + 1), data=small)
    X = rng.standard_normal((m, d)); y = (rng.random(m) < 0.5).astype(float)
    b = k.bind({"X": X, "y": y})
    x = np.zeros(d + 1)
    base = resident()
    peak = [base]
    running = [True]

    def sample():  # the resident set, every millisecond, while the kernels run
        while running[0]:
            peak[0] = max(peak[0], resident())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample); sampler.start()
    k.value_and_grad(x, binding=b); k.hvp(x, x, binding=b); k.hessian(x, binding=b)
    running[0] = False; sampler.join()
    print(json.dumps({"data": X.nbytes + y.nbytes, "extra": peak[0] - base}))
""")


def logistic_section(m: int, d: int, repeat: int) -> None:
    print(f"2. logistic regression, m = {m:,} rows, d = {d:,} features "
          f"(X: {m * d * 8 / 1e6:.0f} MB)")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((m, d))
    truth = rng.standard_normal(d) / np.sqrt(d)
    y = (rng.random(m) < 1 / (1 + np.exp(-X @ truth))).astype(float)
    problem = st.Problem("mean(softplus(X @ w + b) - y*(X @ w + b))", data={"X": "m d", "y": "m"},
                         wrt={"w": "d", "b": ""})
    k = st.compile(problem)
    binding = k.bind({"X": X, "y": y})
    x = np.r_[0.01 * rng.standard_normal(d), 0.1]
    g = np.empty(d + 1)
    vg = k.value_grad_kernel
    w, b = x[:d], x[d]

    def numpy_vg():
        z = X @ w + b
        s = 1 / (1 + np.exp(-z))
        return float(np.mean(np.logaddexp(0, z) - y * z)), X.T @ (s - y) / m

    wc = np.ascontiguousarray(w)
    gh, gt, gb = np.empty(d + 1), np.empty(d + 1), np.empty(d + 1)
    rows = {"symopt value+grad": lambda: vg(x, binding.p, binding.table, g),
            "one read-only pass over X": lambda: read_once(X),
            "Numba hand-written, row by row": lambda: logistic_hand(X, y, wc, b, gh),
            "Numba hand-written, 8-row tiles": lambda: logistic_hand_tiled(X, y, wc, b, gt),
            f"Numba hand-written, best ({BEST_TILE} rows)": lambda: logistic_hand_best(X, y, wc, b, gb),
            "NumPy hand-written": numpy_vg}
    if jax is not None:
        Xj, yj = jnp.asarray(X), jnp.asarray(y)

        def lossj(v):
            z = Xj @ v[:d] + v[d]
            return jnp.mean(jnp.logaddexp(0.0, z) - yj * z)

        jvg = jax.jit(jax.value_and_grad(lossj))
        xj = jnp.asarray(x)
        rows["JAX jit(value_and_grad)"] = lambda: blocking(jvg)(xj)
    medians = interleaved(rows, repeat, settle=0.3, warmup=True)
    report(f"value + gradient ({load()})", medians, "symopt value+grad")
    floor = medians["one read-only pass over X"]
    print("    as multiples of the read-only pass: "
          + ", ".join(f"{name} {t / floor:.2f}x" for name, t in medians.items()
                      if name != "one read-only pass over X"))
    f, _ = k.value_and_grad(x, binding=binding)
    print(f"    (symopt f - NumPy f = {f - numpy_vg()[0]:.1e}; max |g - hand-written g| = "
          f"{max(np.abs(g - gh).max(), np.abs(g - gt).max(), np.abs(g - gb).max()):.1e})")

    H = np.empty((d + 1, d + 1))
    hk = k.value_grad_hess_kernel
    s = 1 / (1 + np.exp(-(X @ w + b)))
    s = s * (1 - s)
    rows = {"symopt Hessian (value_grad_hess)": lambda: hk(x, binding.p, binding.table, g, H),
            "NumPy (X.T * s) @ X": lambda: (X.T * s) @ X / m}
    hessian_times = interleaved(rows, max(1, repeat // 3), settle=0.3, warmup=True)
    if jax is not None:
        jh = jax.jit(jax.hessian(lossj))
        jax.block_until_ready(jh(xj))
        t = time.perf_counter()
        jax.block_until_ready(jh(xj))
        hessian_times["JAX jit(hessian) (one call)"] = time.perf_counter() - t
    report(f"Hessian ({load()})", hessian_times, "symopt Hessian (value_grad_hess)")
    print(f"    (max |symopt - NumPy| = {np.abs(H[:d, :d] - (X.T * s) @ X / m).max():.1e})")

    small = {"X": X[:50], "y": y[:50]}
    for method in ("newton", "trust-ncg"):  # compile outside the timing
        st.minimize(problem, {"w": np.zeros(d), "b": 0.0}, method, data=small, max_iter=1)
    t = time.perf_counter()
    res = st.minimize(problem, {"w": np.zeros(d), "b": 0.0}, "newton", data={"X": X, "y": y},
                      gtol=1e-8)
    print(f"  Newton to gtol=1e-8: {res.nit} iterations, {time.perf_counter() - t:.1f} s, "
          f"{res.message}")
    t = time.perf_counter()
    res = st.minimize(problem, {"w": np.zeros(d), "b": 0.0}, "trust-ncg", data={"X": X, "y": y},
                      gtol=1e-8)
    print(f"  trust-ncg (HVPs) to gtol=1e-8: {res.nit} iterations, {res.nhev} HVPs, "
          f"{time.perf_counter() - t:.1f} s, {res.message}")
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(m), str(d)], check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  peak resident memory beyond the data during value+grad, HVP and Hessian "
          f"(sampled every ms): {r['extra'] / 1e6:.1f} MB = "
          f"{100 * r['extra'] / r['data']:.1f}% of the data ({r['data'] / 1e6:.0f} MB)")


# --- 3. extended Rosenbrock ----------------------------------------------------------------------


@njit(cache=True)
def rosen_hand(x, g):
    """Hand-written fused value and gradient (serial Numba)."""
    f = 0.0
    for i in range(x.shape[0] // 2):
        a, b = x[2 * i], x[2 * i + 1]
        t = b - a * a
        f += 100.0 * t * t + (1.0 - a) * (1.0 - a)
        g[2 * i] = -400.0 * a * t - 2.0 * (1.0 - a)
        g[2 * i + 1] = 200.0 * t
    return f


def rosenbrock_section(n: int, repeat: int) -> None:
    print(f"3. extended Rosenbrock, n = {n:,}")
    problem = st.Problem("sum(100*(x[1::2] - x[::2]**2)**2 + (1 - x[::2])**2)", wrt={"x": "n"},
                         even="n")
    k = st.compile(problem)
    x0 = np.tile([-1.2, 1.0], n // 2)
    binding = k.bind(x={"x": x0})
    x = x0 + 0.1 * np.random.default_rng(1).standard_normal(n)
    v = np.random.default_rng(2).standard_normal(n)
    g, out = np.empty(n), np.empty(n)
    vg, hv = k.value_grad_kernel, k.hvp_kernel

    def numpy_vg():
        a, b = x[::2], x[1::2]
        t = b - a * a
        grad = np.empty(n)
        grad[::2] = -400 * a * t - 2 * (1 - a)
        grad[1::2] = 200 * t
        return float(np.sum(100 * t * t + (1 - a) ** 2)), grad

    rows = {"symopt value+grad": lambda: vg(x, binding.p, binding.table, g),
            "Numba hand-written (serial)": lambda: rosen_hand(x, g),
            "NumPy hand-written": numpy_vg}
    hrows = {"symopt HVP": lambda: hv(x, binding.p, binding.table, v, out)}
    if jax is not None:
        def rosen(z):
            return jnp.sum(100 * (z[1::2] - z[::2] ** 2) ** 2 + (1 - z[::2]) ** 2)

        jvg = jax.jit(jax.value_and_grad(rosen))
        jhvp = jax.jit(lambda z, u: jax.jvp(jax.grad(rosen), (z,), (u,))[1])
        xj, vj = jnp.asarray(x), jnp.asarray(v)
        rows["JAX jit(value_and_grad)"] = lambda: blocking(jvg)(xj)
        hrows["JAX forward-over-reverse"] = lambda: blocking(jhvp)(xj, vj)
    report(f"value + gradient ({load()})", interleaved(rows, repeat, warmup=True), "symopt value+grad")
    report(f"Hessian-vector product ({load()})", interleaved(hrows, repeat, warmup=True), "symopt HVP")
    for method in ("banded-newton", "trust-ncg", "newton-cg"):
        st.minimize(problem, {"x": x0[:10]}, method, gtol=1e-6)  # compile outside the timing
        t = time.perf_counter()
        res = st.minimize(problem, {"x": x0}, method, gtol=1e-6)
        elapsed = time.perf_counter() - t
        print(f"  {method} from the standard start to gtol=1e-6: {elapsed:.2f} s whole, "
              f"{res.nit} iterations, {res.nfev} evaluations, {res.nhev} HVPs, "
              f"max|x - 1| = {np.abs(res.x - 1).max():.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sections", default="1,2,3")
    args = parser.parse_args()
    sections = {int(s) for s in args.sections.split(",")}
    load = os.getloadavg()[0]
    print(f"symopt.tensor benchmark: {numba.config.NUMBA_NUM_THREADS} threads, "
          f"threading layer {numba.config.THREADING_LAYER}, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY')}, JAX {'%s' % jax.__version__ if jax else 'not installed'}, "
          f"load average {load:.2f}")
    if 1 in sections:
        setup_section()
    if 2 in sections:
        logistic_section(*((5_000, 100) if args.quick else (100_000, 1_000)), args.repeat)
    if 3 in sections:
        rosenbrock_section(10_000 if args.quick else 1_000_000, args.repeat)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
