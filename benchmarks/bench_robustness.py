"""Robustness: how many Moré-Garbow-Hillstrom problems each method solves from the
standard start with default options, symopt next to scipy.

- symopt: every method in ``symopt.minimize.METHODS`` at run time (new methods join
  automatically), on the problem as a ``LeastSquares`` (least-squares methods use the
  residual/Jacobian kernels, the others the loss ``0.5 * sum r**2`` and its exact
  derivatives);
- scipy ``least_squares`` (``lm``, ``trf``) with ``sympy.lambdify`` residuals and
  Jacobian, and scipy ``minimize`` (``BFGS``, ``L-BFGS-B``, ``trust-exact``,
  ``Newton-CG``) with lambdified ``F = sum r**2``, its gradient ``2 J^T r`` and its
  Hessian ``2 (J^T J + sum r_i H_i)`` (what people do today).

"Solved": ``F = sum r**2`` at the returned x (evaluated independently, by
``TestProblem.value``) is within 1e-6 relative of the paper's minimum or of one of
``TestProblem.other_minima`` (or within one unit of the last digit the paper prints,
which truncates most minima to 6 digits), or is below 1e-10 for a zero minimum.  All 35 problems at the
39 sizes of ``symopt.testproblems``.

Run: ``python benchmarks/bench_robustness.py`` (a few minutes: deriving and compiling
the Hessian kernels of the larger problems dominates).  Prints a Markdown table.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import scipy.optimize
import sympy

import symopt as so
from symopt import testproblems
from symopt.minimize import METHODS

SCIPY_LS = ("lm", "trf")
SCIPY_MIN = ("BFGS", "L-BFGS-B", "trust-exact", "Newton-CG")


def printed_unit(value: float) -> float:
    """A unit in the last digit of ``value`` as written (``repr``).  The paper prints
    most minima to 6 significant digits, truncated (Freudenstein-Roth's 48.98425368 is
    printed 48.9842, Kowalik-Osborne's 3.0750560e-4 as 3.07505e-4): a relative 1e-6 test
    against such a number fails the exact minimum."""
    mantissa, _, exponent = repr(abs(float(value))).partition("e")
    digits = mantissa.replace(".", "").lstrip("0")
    decimals = len(mantissa.partition(".")[2]) if "." in mantissa else 0
    if not digits:
        return 0.0
    return 10.0 ** (int(exponent or 0) - decimals)


def solved(tp, x) -> bool:
    try:
        F = tp.value(x)
    except (ValueError, OverflowError, ZeroDivisionError):
        return False
    if not np.isfinite(F):
        return False
    for target in (tp.fmin, *tp.other_minima):
        if target == 0.0:
            if abs(F) <= 1e-10:
                return True
        elif abs(F - target) <= max(1e-6 * abs(target), printed_unit(target)):
            return True
    return False


def scipy_callbacks(ls):
    syms = list(ls.variables)
    exprs = list(ls.residual_exprs)
    r_fn = sympy.lambdify([syms], exprs, "numpy")
    J_fn = sympy.lambdify([syms], ls.jacobian, "numpy")
    H_fn = sympy.lambdify([syms], [sympy.hessian(e, syms) for e in exprs], "numpy")

    def r(x):
        return np.asarray(r_fn(x), dtype=float)

    def J(x):
        return np.asarray(J_fn(x), dtype=float).reshape(len(exprs), len(syms))

    def F(x):
        v = r(x)
        return float(v @ v)

    def grad(x):
        return 2.0 * J(x).T @ r(x)

    def hess(x):
        Jx = J(x)
        Hs = np.asarray(H_fn(x), dtype=float).reshape(len(exprs), len(syms), len(syms))
        return 2.0 * (Jx.T @ Jx + np.tensordot(r(x), Hs, axes=1))

    return r, J, F, grad, hess


def run_symopt(ls, tp, method):
    try:
        res = so.minimize(ls, tp.x0, method=method)
    except so.SymoptError as exc:
        return None, str(exc)
    return solved(tp, res.x), res.message


def run_scipy(tp, callbacks, kind, method):
    r, J, F, grad, hess = callbacks
    x0 = np.asarray(tp.x0, dtype=float)
    try:
        if kind == "ls":
            res = scipy.optimize.least_squares(r, x0, jac=J, method=method)
        else:
            extra = {"hess": hess} if method in ("trust-exact", "Newton-CG") else {}
            res = scipy.optimize.minimize(F, x0, jac=grad, method=method, **extra)
    except Exception as exc:  # noqa: BLE001 - a baseline that raises has not solved it
        return False, f"raised {type(exc).__name__}"
    return solved(tp, res.x), str(res.message)


def main(names=None) -> None:
    names = names or testproblems.names()
    columns = [f"symopt {m}" for m in METHODS] + [f"scipy ls {m}" for m in SCIPY_LS] + \
        [f"scipy {m}" for m in SCIPY_MIN]
    table: dict[str, list] = {}
    t0 = time.perf_counter()
    for name in names:
        tp = testproblems.get(name)
        ls = so.LeastSquares(list(tp.residuals), wrt=tp.variables)
        row = []
        for method in METHODS:
            ok, _ = run_symopt(ls, tp, method)
            row.append(ok)
        callbacks = scipy_callbacks(ls)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            row += [run_scipy(tp, callbacks, "ls", m)[0] for m in SCIPY_LS]
            row += [run_scipy(tp, callbacks, "min", m)[0] for m in SCIPY_MIN]
        table[name] = row
        print(f"  {name:32s} {time.perf_counter() - t0:6.0f} s", file=sys.stderr, flush=True)

    mark = {True: "✓", False: "–", None: "n/a"}
    print(f"| problem | {' | '.join(columns)} |")
    print(f"|---|{'---|' * len(columns)}")
    for name, row in table.items():
        print(f"| {name} | {' | '.join(mark[v] for v in row)} |")
    counts = [sum(1 for row in table.values() if row[j]) for j in range(len(columns))]
    print(f"| **solved (of {len(table)})** | {' | '.join(f'**{c}**' for c in counts)} |")
    k = len(METHODS)
    best_symopt = max(counts[:k])
    best_scipy = max(counts[k:])
    print(f"\nbest symopt method: {best_symopt} of {len(table)}; best scipy method: "
          f"{best_scipy} of {len(table)}; symopt best >= scipy best: {best_symopt >= best_scipy}")


if __name__ == "__main__":
    main(sys.argv[1:] or None)
