"""Bounded L-BFGS (L-BFGS-B) next to scipy's L-BFGS-B: iterations and evaluations.

Moré-Garbow-Hillstrom problems (the loss ``F = sum r**2``) with bounds that cut off the
unconstrained minimiser, ``x_1 <= x*_1 - |x*_1|/2`` and ``x_n >= x*_n + |x*_n|/4``
(0.1 away where x* is 0), from the standard start clipped into the box; both solvers
get symopt's compiled kernels, default options for symopt, tight tolerances for scipy
(``ftol = 1e-15``, ``gtol = 1e-10``).  Prints a Markdown table: iterations, function
evaluations, final F of both and their relative difference.  No timings: this compares
how fast each settles the active set, in iterations.

Run: ``python benchmarks/bench_lbfgsb.py`` (about a minute, compiling the kernels).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.optimize

import symopt as so
from symopt import testproblems

PROBLEMS = ["rosenbrock", "beale", "bard", "box_3d", "kowalik_osborne", "helical_valley",
            "powell_singular", "wood", "brown_badly_scaled", "jennrich_sampson",
            "extended_rosenbrock_10", "penalty1_4", "variably_dimensioned_10",
            "trigonometric_10"]


def main() -> None:
    print("| problem | symopt nit | scipy nit | symopt nfev | scipy nfev | symopt F | scipy F "
          "| rel. diff |")
    print("|---|---|---|---|---|---|---|---|")
    totals = np.zeros(4, dtype=int)
    for name in PROBLEMS:
        tp = testproblems.get(name)
        problem = so.Problem(tp.loss, wrt=tp.variables)
        kernels = so.compile(problem)
        xm = np.array(tp.xmin if tp.xmin else so.minimize(problem, tp.x0, method="bfgs").x)
        lower, upper = np.full(tp.n, -np.inf), np.full(tp.n, np.inf)
        upper[0] = xm[0] - 0.5 * abs(xm[0]) - 0.1 * (xm[0] == 0)
        lower[-1] = xm[-1] + 0.25 * abs(xm[-1]) + 0.1 * (xm[-1] == 0)
        x0 = np.clip(np.array(tp.x0, float), lower, upper)
        bounds = list(zip(lower, upper))
        res = so.minimize(problem, x0, method="lbfgs", bounds=bounds)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = scipy.optimize.minimize(
                lambda z: kernels.value_and_grad(z), x0, jac=True, method="L-BFGS-B",
                bounds=bounds,
                options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10_000, "maxfun": 100_000})
        diff = abs(res.fun - ref.fun) / max(abs(ref.fun), 1e-300)
        totals += [res.nit, ref.nit, res.nfev, ref.nfev]
        print(f"| {name} | {res.nit} | {ref.nit} | {res.nfev} | {ref.nfev} | {res.fun:.10g} "
              f"| {ref.fun:.10g} | {diff:.1e} |")
    print(f"| total | {totals[0]} | {totals[1]} | {totals[2]} | {totals[3]} | | | |")


if __name__ == "__main__":
    main()
