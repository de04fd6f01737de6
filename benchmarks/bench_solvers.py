"""Solver-suite benchmark: symopt's L-BFGS and trust-ncg against scipy's.

Side by side in one run, medians of repeated whole solves, on the extended Rosenbrock
function (MGH 21) from its standard start, for n = 10 and a larger n:

- ``symopt.minimize(method="lbfgs")`` against ``scipy.optimize.minimize(method="L-BFGS-B")``
  given ``sympy.lambdify`` callbacks (what people do today) and given symopt's own
  compiled kernels as callbacks (the same derivatives: the difference is the solver loop);
- ``symopt.minimize(method="trust-ncg")`` / ``"trust-exact"`` against scipy's
  ``trust-ncg`` / ``trust-exact`` with lambdify callbacks for f, gradient and Hessian.

Ratios > 1 mean symopt is faster.  Compile and lambdify times are excluded (measured
once, printed separately).  The straight-line kernels of an n-variable formula (with
its dense n x n Hessian) take minutes to compile beyond n ~ 50, so n = 1000 is measured
with one hand-written Numba kernel given to both sides: symopt's compiled solver bound
to it by address (as ``minimize`` binds generated kernels) against scipy's loop calling
it from Python.  Run: ``python benchmarks/bench_solvers.py [n_formula] [n_hand]``
(defaults 40 and 1000).  Not part of the tests.
"""

from __future__ import annotations

import statistics
import sys
import time
import timeit

import numba
import numpy as np
import scipy.optimize
import sympy

import symopt as so
from symopt import abi
from symopt.compare import format_time

REPEAT = 5


def median_time(fn, number: int) -> float:
    return statistics.median(t / number for t in timeit.repeat(fn, number=number, repeat=REPEAT))


def rosen_formula(n: int) -> str:
    return " + ".join(f"100*(x{i + 2} - x{i + 1}**2)**2 + (1 - x{i + 1})**2" for i in range(0, n, 2))


def bench(n: int) -> list[tuple]:
    names = [f"x{i + 1}" for i in range(n)]
    formula = rosen_formula(n)
    x0 = np.tile([-1.2, 1.0], n // 2)
    t = time.perf_counter()
    problem = so.Problem(formula, wrt=names)
    kernels = so.compile(problem)
    t_compile = time.perf_counter() - t

    t = time.perf_counter()
    symbols = list(problem.variables)
    expr = problem.expr
    grad = [sympy.diff(expr, s) for s in symbols]
    lam_fg = sympy.lambdify([symbols], (expr, grad), "numpy")
    lam_f = sympy.lambdify([symbols], expr, "numpy")
    lam_g = sympy.lambdify([symbols], grad, "numpy")
    hess = sympy.hessian(expr, symbols)
    lam_h = sympy.lambdify([symbols], hess, "numpy")
    t_lambdify = time.perf_counter() - t

    def fg_lambdify(x):
        f, g = lam_fg(x)
        return f, np.asarray(g, dtype=np.float64)

    def fg_kernels(x):
        return kernels.value_and_grad(x)

    scipy_opts = {"maxiter": 5000, "gtol": 1e-10, "ftol": 1e-15}
    number = max(1, 200 // n)
    rows = [(n, "compile symopt kernels (once)", t_compile, None, None, None),
            (n, "lambdify f, g, H (once)", t_lambdify, None, None, None)]

    sym = so.minimize(problem, x0, method="lbfgs")
    ref = scipy.optimize.minimize(fg_lambdify, x0, jac=True, method="L-BFGS-B", options=scipy_opts)
    t_sym = median_time(lambda: so.minimize(problem, x0, method="lbfgs"), number)
    t_ref = median_time(lambda: scipy.optimize.minimize(fg_lambdify, x0, jac=True,
                                                        method="L-BFGS-B", options=scipy_opts), number)
    t_ker = median_time(lambda: scipy.optimize.minimize(fg_kernels, x0, jac=True,
                                                        method="L-BFGS-B", options=scipy_opts), number)
    rows.append((n, "lbfgs vs scipy L-BFGS-B + lambdify", t_sym, t_ref,
                 f"{sym.nit}/{ref.nit}", f"{sym.fun:.1e}/{ref.fun:.1e}"))
    rows.append((n, "lbfgs vs scipy L-BFGS-B + symopt kernels", t_sym, t_ker, "", ""))

    sym = so.minimize(problem, x0, method="trust-ncg")
    hess_fn = lambda x: np.asarray(lam_h(x), dtype=np.float64)  # noqa: E731
    grad_fn = lambda x: np.asarray(lam_g(x), dtype=np.float64)  # noqa: E731
    tr_opts = {"gtol": 1e-10, "maxiter": 5000}
    ref = scipy.optimize.minimize(lam_f, x0, jac=grad_fn, hess=hess_fn, method="trust-ncg",
                                  options=tr_opts)
    t_sym = median_time(lambda: so.minimize(problem, x0, method="trust-ncg"), number)
    t_ref = median_time(lambda: scipy.optimize.minimize(lam_f, x0, jac=grad_fn, hess=hess_fn,
                                                        method="trust-ncg", options=tr_opts), number)
    rows.append((n, "trust-ncg vs scipy trust-ncg + lambdify", t_sym, t_ref,
                 f"{sym.nit}/{ref.nit}", f"{sym.fun:.1e}/{ref.fun:.1e}"))

    sym = so.minimize(problem, x0, method="trust-exact")
    ref = scipy.optimize.minimize(lam_f, x0, jac=grad_fn, hess=hess_fn, method="trust-exact",
                                  options=tr_opts)
    t_sym = median_time(lambda: so.minimize(problem, x0, method="trust-exact"), number)
    t_ref = median_time(lambda: scipy.optimize.minimize(lam_f, x0, jac=grad_fn, hess=hess_fn,
                                                        method="trust-exact", options=tr_opts),
                        number)
    rows.append((n, "trust-exact vs scipy trust-exact + lambdify", t_sym, t_ref,
                 f"{sym.nit}/{ref.nit}", f"{sym.fun:.1e}/{ref.fun:.1e}"))
    return rows


@numba.njit(error_model="numpy")
def _xrosen(x, g, H, order):
    f = 0.0
    for i in range(0, x.shape[0], 2):
        a = x[i + 1] - x[i] * x[i]
        b = 1.0 - x[i]
        f += 100.0 * a * a + b * b
        if order >= 1:
            g[i] = -400.0 * x[i] * a - 2.0 * b
            g[i + 1] = 200.0 * a
        if order >= 2:
            H[i, i] = 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0
            H[i, i + 1] = H[i + 1, i] = -400.0 * x[i]
            H[i + 1, i + 1] = 200.0
    return f


@numba.njit(abi.value_sig, error_model="numpy")
def _hand_value(x, p, data):
    return _xrosen(x, x, data, 0)


@numba.njit(abi.value_grad_sig, error_model="numpy")
def _hand_value_grad(x, p, data, g):
    return _xrosen(x, g, data, 1)


@numba.njit(abi.value_grad_hess_sig, error_model="numpy")
def _hand_value_grad_hess(x, p, data, g, H):
    H[:, :] = 0.0
    return _xrosen(x, g, H, 2)


def bench_hand_kernels(n: int) -> list[tuple]:
    """Large n with one hand-written Numba kernel for both sides: symopt's compiled solver
    (bound by address, as minimize does) against scipy's loop calling the same kernel."""
    from symopt._binding import entry_point, jit_address

    addresses = (jit_address(_hand_value, abi.value_sig),
                 jit_address(_hand_value_grad, abi.value_grad_sig),
                 jit_address(_hand_value_grad_hess, abi.value_grad_hess_sig))
    x0 = np.tile([-1.2, 1.0], n // 2)
    p, data = np.zeros(0), np.zeros((0, 0))
    rows = []
    for method, scipy_method in (("lbfgs", "L-BFGS-B"), ("trust-ncg", "trust-ncg"),
                                 ("trust-exact", "trust-exact")):
        entry = entry_point(method)
        opts = so.solver_options(method)
        info = np.zeros(abi.N_INFO, dtype=np.int64)
        g = np.empty(n)
        H = np.zeros((n, n)) if method != "lbfgs" else np.zeros((0, 0))

        def run_symopt():
            x = x0.copy()
            f = entry(*addresses, x, p, data, opts, info, data, g, H)
            return f, int(info[abi.INFO_NIT])

        def fg(x):
            gx = np.empty(n)
            return _hand_value_grad(x, p, data, gx), gx

        def hess(x):
            Hx = np.empty((n, n))
            _hand_value_grad_hess(x, p, data, np.empty(n), Hx)
            return Hx

        if scipy_method == "L-BFGS-B":
            kwargs = {"jac": True, "options": {"maxiter": 5000, "gtol": 1e-10, "ftol": 1e-15}}
        else:
            kwargs = {"jac": True, "hess": hess, "options": {"gtol": 1e-10, "maxiter": 5000}}

        def run_scipy():
            return scipy.optimize.minimize(fg, x0, method=scipy_method, **kwargs)

        f_sym, nit_sym = run_symopt()
        ref = run_scipy()
        number = 1
        t_sym = median_time(run_symopt, number)
        t_ref = median_time(run_scipy, number)
        rows.append((n, f"{method} vs scipy {scipy_method}, same hand kernel", t_sym, t_ref,
                     f"{nit_sym}/{ref.nit}", f"{f_sym:.1e}/{ref.fun:.1e}"))
    return rows


def main() -> None:
    n_large = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    n_hand = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    print(f"{'n':>5}  {'case':<50}{'symopt':>11}{'scipy':>11}{'ratio':>8}  {'nit':>10}  f")
    for rows in (bench(10), bench(n_large), bench_hand_kernels(n_hand)):
        for n_, case, t_sym, t_ref, nit, f in rows:
            if t_ref is None:
                print(f"{n_:>5}  {case:<50}{format_time(t_sym):>11}")
            else:
                print(f"{n_:>5}  {case:<50}{format_time(t_sym):>11}{format_time(t_ref):>11}"
                      f"{t_ref / t_sym:>7.1f}x  {nit:>10}  {f}")


if __name__ == "__main__":
    main()
