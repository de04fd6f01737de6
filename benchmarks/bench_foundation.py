"""Foundation benchmarks: kernels, whole Newton solves, and compile latency.

Everything is measured side by side in one run and reported as ratios (medians of
repeated timings), on the 2-D Rosenbrock function and the extended Rosenbrock
function with n = 10:

1. per-call gradient and Hessian kernels: symopt against a hand-written Numba kernel
   (both called from a compiled loop, and both called from Python) and against
   ``sympy.lambdify`` with NumPy (called from Python, as people use it);
2. a whole Newton solve through ``symopt.minimize`` against ``scipy.optimize.minimize``
   (trust-exact, Newton-CG, BFGS, L-BFGS-B) given lambdify callbacks, and against a
   hand-written Numba Newton loop called from Python; and where a solve's time goes
   (the compiled solver alone, the call from Python, the Python around it);
3. latency: deriving and compiling a new problem with the solvers already compiled,
   and a fresh process with a warm cache, from start to result.

Run: ``python benchmarks/bench_foundation.py`` (needs scipy).  Not part of the tests.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time
import timeit
import uuid

import numba
import numpy as np
import scipy.optimize
import sympy

import symopt as so
from symopt.compare import format_time

REPEAT = 7


def median_time(fn, number: int) -> float:
    """Median over REPEAT runs of the time per call of ``fn`` (seconds)."""
    return statistics.median(t / number for t in timeit.repeat(fn, number=number, repeat=REPEAT))


# --------------------------------------------------------------------------------------
# problems
# --------------------------------------------------------------------------------------

def rosen_formula(n: int) -> str:
    terms = []
    for i in range(0, n, 2):
        a, b = f"x{i + 1}", f"x{i + 2}"
        terms.append(f"100*({b} - {a}**2)**2 + (1 - {a})**2")
    return " + ".join(terms)


def rosen_x0(n: int) -> np.ndarray:
    return np.tile([-1.2, 1.0], n // 2)


# hand-written Numba kernels for the extended Rosenbrock function (the "limit")
@numba.njit(cache=True)
def hand_value(x):
    f = 0.0
    for i in range(0, x.shape[0], 2):
        a = x[i]
        t = x[i + 1] - a * a
        f += 100.0 * t * t + (1.0 - a) * (1.0 - a)
    return f


@numba.njit(cache=True)
def hand_value_grad(x, g):
    f = 0.0
    for i in range(0, x.shape[0], 2):
        a = x[i]
        t = x[i + 1] - a * a
        f += 100.0 * t * t + (1.0 - a) * (1.0 - a)
        g[i] = -400.0 * a * t - 2.0 * (1.0 - a)
        g[i + 1] = 200.0 * t
    return f


@numba.njit(cache=True)
def hand_value_grad_hess(x, g, H):
    n = x.shape[0]
    for i in range(n):
        for j in range(n):
            H[i, j] = 0.0
    f = 0.0
    for i in range(0, n, 2):
        a = x[i]
        t = x[i + 1] - a * a
        f += 100.0 * t * t + (1.0 - a) * (1.0 - a)
        g[i] = -400.0 * a * t - 2.0 * (1.0 - a)
        g[i + 1] = 200.0 * t
        H[i, i] = 1200.0 * a * a - 400.0 * x[i + 1] + 2.0
        H[i, i + 1] = -400.0 * a
        H[i + 1, i] = -400.0 * a
        H[i + 1, i + 1] = 200.0
    return f


@numba.njit(cache=True)
def hand_newton(x, gtol, max_iter):
    """Newton with Cholesky (shifted when not PD) and Armijo backtracking: the same
    algorithm as symopt's, written by hand for one problem."""
    n = x.shape[0]
    g = np.empty(n)
    H = np.empty((n, n))
    L = np.empty((n, n))
    d = np.empty(n)
    xt = np.empty(n)
    f = hand_value_grad_hess(x, g, H)
    nit = 0
    for it in range(max_iter):
        gmax = 0.0
        for i in range(n):
            gmax = max(gmax, abs(g[i]))
        if gmax <= gtol:
            break
        tau = 0.0
        while True:
            ok = True
            for j in range(n):
                s = H[j, j] + tau
                for k in range(j):
                    s -= L[j, k] * L[j, k]
                if s <= 0.0:
                    ok = False
                    break
                L[j, j] = np.sqrt(s)
                for i in range(j + 1, n):
                    s = H[i, j]
                    for k in range(j):
                        s -= L[i, k] * L[j, k]
                    L[i, j] = s / L[j, j]
            if ok:
                break
            tau = max(2.0 * tau, 1e-3)
        for i in range(n):
            s = -g[i]
            for k in range(i):
                s -= L[i, k] * d[k]
            d[i] = s / L[i, i]
        for i in range(n - 1, -1, -1):
            s = d[i]
            for k in range(i + 1, n):
                s -= L[k, i] * d[k]
            d[i] = s / L[i, i]
        slope = 0.0
        for i in range(n):
            slope += g[i] * d[i]
        alpha = 1.0
        for _ in range(60):
            for i in range(n):
                xt[i] = x[i] + alpha * d[i]
            ft = hand_value(xt)
            if ft <= f + 1e-4 * alpha * slope:
                break
            alpha *= 0.5
        for i in range(n):
            x[i] = xt[i]
        f = hand_value_grad_hess(x, g, H)
        nit = it + 1
    return f, nit


@numba.njit
def loop_symopt_grad(kernel, x, p, data, g, reps):
    s = 0.0
    for r in range(reps):
        x[0] += 1e-12
        s += kernel(x, p, data, g) + g[0]
    return s


@numba.njit
def loop_symopt_hess(kernel, x, p, data, g, H, reps):
    s = 0.0
    for r in range(reps):
        x[0] += 1e-12
        s += kernel(x, p, data, g, H) + H[0, 0]
    return s


@numba.njit
def loop_hand_grad(x, g, reps):
    s = 0.0
    for r in range(reps):
        x[0] += 1e-12
        s += hand_value_grad(x, g) + g[0]
    return s


@numba.njit
def loop_hand_hess(x, g, H, reps):
    s = 0.0
    for r in range(reps):
        x[0] += 1e-12
        s += hand_value_grad_hess(x, g, H) + H[0, 0]
    return s


# --------------------------------------------------------------------------------------
# 1. kernels
# --------------------------------------------------------------------------------------

def bench_kernels(n: int) -> list[tuple]:
    problem = so.Problem(rosen_formula(n))
    k = so.compile(problem)
    x = rosen_x0(n).astype(float)
    p = np.empty(0)
    data = np.empty((0, 0))
    g = np.empty(n)
    H = np.empty((n, n))
    reps = 200_000
    vg, vgh = k.value_grad_kernel, k.value_grad_hess_kernel
    loop_symopt_grad(vg, x, p, data, g, 10)
    loop_symopt_hess(vgh, x, p, data, g, H, 10)
    loop_hand_grad(x, g, 10)
    loop_hand_hess(x, g, H, 10)
    t_s_g = median_time(lambda: loop_symopt_grad(vg, x, p, data, g, reps), 1) / reps
    t_h_g = median_time(lambda: loop_hand_grad(x, g, reps), 1) / reps
    t_s_h = median_time(lambda: loop_symopt_hess(vgh, x, p, data, g, H, reps), 1) / reps
    t_h_h = median_time(lambda: loop_hand_hess(x, g, H, reps), 1) / reps

    # from Python, as a user calls them
    t_py_s_g = median_time(lambda: vg(x, p, data, g), 20000)
    t_py_h_g = median_time(lambda: hand_value_grad(x, g), 20000)
    t_py_s_h = median_time(lambda: vgh(x, p, data, g, H), 20000)
    t_py_h_h = median_time(lambda: hand_value_grad_hess(x, g, H), 20000)

    syms = problem.variables
    lam_g = sympy.lambdify([syms], list(problem.gradient), "numpy")
    lam_h = sympy.lambdify([syms], problem.hessian, "numpy")
    t_lam_g = median_time(lambda: np.asarray(lam_g(x)), 2000)
    t_lam_h = median_time(lambda: lam_h(x), 2000)
    return [
        (f"n={n}", "gradient (compiled loop)", t_s_g, t_h_g, None),
        (f"n={n}", "Hessian  (compiled loop)", t_s_h, t_h_h, None),
        (f"n={n}", "gradient (from Python)", t_py_s_g, t_py_h_g, t_lam_g),
        (f"n={n}", "Hessian  (from Python)", t_py_s_h, t_py_h_h, t_lam_h),
    ]


# --------------------------------------------------------------------------------------
# 2. whole Newton solves
# --------------------------------------------------------------------------------------

def bench_solves(n: int) -> list[tuple]:
    problem = so.Problem(rosen_formula(n))
    x0 = rosen_x0(n)
    res = so.minimize(problem, x0, method="newton")
    assert res.success and np.allclose(res.x, 1.0), res
    t_symopt = median_time(lambda: so.minimize(problem, x0, method="newton"), 2000)

    hand_newton(x0.copy(), 1e-8, 200)
    fh, nit_h = hand_newton(x0.copy(), 1e-8, 200)
    t_hand = median_time(lambda: hand_newton(x0.copy(), 1e-8, 200), 2000)

    syms = problem.variables
    f_l = sympy.lambdify([syms], problem.expr, "numpy")
    g_l = sympy.lambdify([syms], list(problem.gradient), "numpy")
    h_l = sympy.lambdify([syms], problem.hessian, "numpy")
    fun = lambda x: float(f_l(x))  # noqa: E731
    jac = lambda x: np.asarray(g_l(x), dtype=float)  # noqa: E731
    hess = lambda x: np.asarray(h_l(x), dtype=float)  # noqa: E731
    rows = [(f"n={n}", "symopt.minimize newton", t_symopt, res.nit, res.fun),
            (f"n={n}", "hand-written Numba Newton", t_hand, nit_h, fh)]
    for method in ("trust-exact", "Newton-CG", "BFGS", "L-BFGS-B"):
        kwargs = {"jac": jac}
        if method in ("trust-exact", "Newton-CG"):
            kwargs["hess"] = hess
        r = scipy.optimize.minimize(fun, x0, method=method, **kwargs)
        number = 20
        t = median_time(lambda: scipy.optimize.minimize(fun, x0, method=method, **kwargs), number)
        rows.append((f"n={n}", f"scipy {method} + lambdify", t, r.nit, r.fun))
    return rows


@numba.njit
def loop_symopt_newton(entry, a0, a1, a2, x0, p, data, opts, info, hist, g, H, reps):
    """``reps`` symopt Newton solves from ``x0`` inside compiled code: the solver's own
    time, without the call from Python."""
    total = 0.0
    x = np.empty_like(x0)
    for _ in range(reps):
        x[:] = x0
        total += entry(a0, a1, a2, x, p, data, opts, info, hist, g, H)
    return total


@numba.njit
def loop_hand_newton(x0, reps):
    total = 0.0
    x = np.empty_like(x0)
    for _ in range(reps):
        x[:] = x0
        total += hand_newton(x, 1e-8, 200)[0]
    return total


def bench_solve_parts(n: int) -> list[tuple]:
    """Where one ``minimize`` Newton solve's time goes: the compiled solver alone (both
    solvers looped inside compiled code), the call of symopt's compiled entry from
    Python with its eleven arguments, and the rest (Python: arguments, result)."""
    from symopt import abi
    from symopt._binding import direct_entry_call, entry_point
    from symopt.minimize import solver_options

    problem = so.Problem(rosen_formula(n))
    x0 = rosen_x0(n)
    a0, a1, a2 = so.compile(problem).addresses
    entry = entry_point("newton")
    call = direct_entry_call("newton")
    p, data, hist = np.empty(0), np.empty((0, 0)), np.empty((0, 0))
    opts = solver_options("newton")
    info = np.zeros(abi.N_INFO, np.int64)
    g, H = np.empty(n), np.empty((n, n))
    x = x0.copy()
    reps = 2000
    loop_symopt_newton(entry, a0, a1, a2, x0, p, data, opts, info, hist, g, H, 1)
    loop_hand_newton(x0, 1)
    t_solver = median_time(lambda: loop_symopt_newton(
        entry, a0, a1, a2, x0, p, data, opts, info, hist, g, H, reps), 1) / reps
    t_hand = median_time(lambda: loop_hand_newton(x0, reps), 1) / reps

    def entry_call():
        x[:] = x0
        return call(a0, a1, a2, x, p, data, opts, info, hist, g, H)

    t_call = median_time(entry_call, 2000)
    t_whole = median_time(lambda: so.minimize(problem, x0, method="newton"), 2000)
    return [(f"n={n}", "Newton solver alone (compiled loop)", t_solver, t_hand),
            (f"n={n}", "+ the entry's call from Python", t_call, None),
            (f"n={n}", "+ Python: arguments, result", t_whole, None)]


# --------------------------------------------------------------------------------------
# 3. latency
# --------------------------------------------------------------------------------------

def bench_latency() -> list[tuple]:
    rows = []
    for n in (2, 10):
        salt = uuid.uuid4().hex[:6]  # a problem never seen before: nothing cached
        formula = rosen_formula(n) + f" + 0*{n}"  # same loss
        # a new constant makes the source (and its cache key) new
        formula = formula.replace("100*", f"100.0000000{int(salt, 16) % 97 + 1}*", 1)
        start = time.perf_counter()
        problem = so.Problem(formula)
        _ = problem.hessian
        t_derive = time.perf_counter() - start
        so.compile(problem).addresses  # generate, compile and load the kernels
        t_compile = time.perf_counter() - start - t_derive
        so.minimize(problem, rosen_x0(n), method="newton")
        t_total = time.perf_counter() - start
        rows.append((f"n={n}", "new problem: derive", t_derive))
        rows.append((f"n={n}", "new problem: derive + compile kernels", t_derive + t_compile))
        rows.append((f"n={n}", "new problem: ... + first Newton solve", t_total))
        # BFGS never calls the Hessian kernel, so it is never compiled
        formula = formula.replace("100.0000000", "100.0000001", 1)
        start = time.perf_counter()
        so.minimize(so.Problem(formula), rosen_x0(n), method="bfgs")
        rows.append((f"n={n}", "new problem: derive + first BFGS solve", time.perf_counter() - start))
    script = textwrap.dedent(f"""
        import time; t = time.perf_counter()
        import symopt as so
        r = so.minimize({rosen_formula(10)!r}, x0=[-1.2, 1.0] * 5, method="newton")
        assert r.success
        print(time.perf_counter() - t)
    """)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
    rows.append(("n=10", "fresh process, warm cache: start to result", statistics.median(times)))
    return rows


def fmt(seconds: float) -> str:
    return f"{format_time(seconds):>11}"


def main() -> None:
    print(f"symopt {so.__version__}, numba {numba.__version__}, numpy {np.__version__}, "
          f"scipy {scipy.__version__}, sympy {sympy.__version__}, {os.cpu_count()} cores; "
          f"medians of {REPEAT} repeats\n")
    # warm up: solvers and kernels compiled/loaded before anything is timed
    for n in (2, 10):
        so.minimize(so.Problem(rosen_formula(n)), rosen_x0(n), method="newton")

    print("1. Kernels: time per call")
    print(f"{'':6}{'kernel':<28}{'symopt':>12}{'hand Numba':>12}{'lambdify':>12}"
          f"{'symopt/hand':>13}{'lambdify/symopt':>17}")
    for n in (2, 10):
        for size, what, ts, th, tl in bench_kernels(n):
            lam = fmt(tl) if tl else f"{'-':>11}"
            speed = f"{tl / ts:16.1f}x" if tl else f"{'-':>17}"
            print(f"{size:<6}{what:<28}{fmt(ts):>12}{fmt(th):>12}{lam:>12}{ts / th:12.2f}x{speed}")

    print("\n2. Whole Newton solve from the standard start (time per solve)")
    print(f"{'':6}{'solver':<32}{'time':>12}{'nit':>6}{'f':>12}{'vs symopt':>12}")
    for n in (2, 10):
        rows = bench_solves(n)
        t_sym = rows[0][2]
        for size, what, t, nit, f in rows:
            print(f"{size:<6}{what:<32}{fmt(t):>12}{nit:>6}{f:12.1e}{t / t_sym:11.2f}x")
        fastest = min(r[2] for r in rows[2:])
        print(f"{'':6}-> symopt is {fastest / t_sym:.0f}x faster than the fastest scipy method, "
              f"{t_sym / rows[1][2]:.2f}x the hand-written Numba Newton")

    print("\n   Where the time of one solve goes (cumulative; hand = the hand-written loop)")
    print(f"{'':6}{'':<40}{'symopt':>12}{'hand':>12}{'symopt/hand':>13}")
    for n in (2, 10):
        for size, what, t, th in bench_solve_parts(n):
            hand = fmt(th) if th else f"{'':>11}"
            ratio = f"{t / th:12.2f}x" if th else ""
            print(f"{size:<6}{what:<40}{fmt(t):>12}{hand:>12}{ratio}")

    print("\n3. Latency (solvers already compiled)")
    for size, what, t in bench_latency():
        print(f"{size:<6}{what:<48}{fmt(t):>12}")


if __name__ == "__main__":
    main()
