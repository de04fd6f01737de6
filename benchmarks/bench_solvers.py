"""Solver-suite benchmark: symopt's L-BFGS and trust-ncg against scipy's.

Side by side in one run, medians of repeated whole solves, on the extended Rosenbrock
function (MGH 21) from its standard start, for n = 10 and a larger n:

- ``symopt.minimize(method="lbfgs")`` against ``scipy.optimize.minimize(method="L-BFGS-B")``
  given ``sympy.lambdify`` callbacks (what people do today) and given symopt's own
  compiled kernels as callbacks (the same derivatives: the difference is the solver loop);
- ``symopt.minimize(method="trust-ncg")`` / ``"trust-exact"`` against scipy's
  ``trust-ncg`` / ``trust-exact`` with lambdify callbacks for f, gradient and Hessian.

Ratios > 1 mean symopt is faster.  Compile and lambdify times are excluded (measured
once, printed separately).  Run: ``python benchmarks/bench_solvers.py [n_large]``
(default 200: the dense Hessian kernel of a straight-line n-variable formula grows as
n^2, so symopt's compile time grows quickly with n).  Not part of the tests.
"""

from __future__ import annotations

import statistics
import sys
import time
import timeit

import numpy as np
import scipy.optimize
import sympy

import symopt as so
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


def main() -> None:
    n_large = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(f"{'n':>5}  {'case':<44}{'symopt':>11}{'scipy':>11}{'ratio':>8}  {'nit':>10}  f")
    for n in (10, n_large):
        for n_, case, t_sym, t_ref, nit, f in bench(n):
            if t_ref is None:
                print(f"{n_:>5}  {case:<44}{format_time(t_sym):>11}")
            else:
                print(f"{n_:>5}  {case:<44}{format_time(t_sym):>11}{format_time(t_ref):>11}"
                      f"{t_ref / t_sym:>7.1f}x  {nit:>10}  {f}")


if __name__ == "__main__":
    main()
