"""Bounded ``lbfgs`` is L-BFGS-B: generalized Cauchy point + subspace minimisation.

Oracle: scipy's L-BFGS-B (the Fortran code of Byrd, Lu, Nocedal & Zhu) on the same
kernels, with tight tolerances, on Moré-Garbow-Hillstrom problems whose minimiser is cut
off by bounds (as tests/test_bounds.py sets them for the least-squares methods).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symopt as so
from symopt import testproblems
from symopt.solvers import status

scipy_optimize = pytest.importorskip("scipy.optimize")

#: problems where symopt and scipy reach the same bounded minimum (on trigonometric_10
#: the two reach different local minima, both KKT points, so it is not compared here)
PROBLEMS = ["rosenbrock", "beale", "bard", "box_3d", "kowalik_osborne", "helical_valley",
            "powell_singular", "wood", "brown_badly_scaled", "jennrich_sampson",
            "extended_rosenbrock_10", "variably_dimensioned_10"]


def bounded_case(name):
    """The problem, a start, and bounds ``x_1 <= x*_1 - |x*_1|/2``, ``x_n >= x*_n +
    |x*_n|/4`` (0.1 away where x* is 0) that cut off the unconstrained minimiser."""
    tp = testproblems.get(name)
    problem = so.Problem(tp.loss, wrt=tp.variables)
    xm = np.array(tp.xmin if tp.xmin else so.minimize(problem, tp.x0, method="bfgs").x)
    lower, upper = np.full(tp.n, -np.inf), np.full(tp.n, np.inf)
    upper[0] = xm[0] - 0.5 * abs(xm[0]) - 0.1 * (xm[0] == 0)
    lower[-1] = xm[-1] + 0.25 * abs(xm[-1]) + 0.1 * (xm[-1] == 0)
    x0 = np.clip(np.array(tp.x0, float), lower, upper)
    return problem, x0, lower, upper


@pytest.mark.slow
@pytest.mark.parametrize("name", PROBLEMS)
def test_bounded_lbfgs_matches_scipy_lbfgsb(name):
    problem, x0, lower, upper = bounded_case(name)
    kernels = so.compile(problem)
    res = so.minimize(problem, x0, method="lbfgs", bounds=list(zip(lower, upper)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = scipy_optimize.minimize(
            lambda z: kernels.value_and_grad(z), x0, jac=True, method="L-BFGS-B",
            bounds=list(zip(lower, upper)),
            options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10_000, "maxfun": 100_000})
    assert res.success, res.message
    assert np.all(res.x >= lower) and np.all(res.x <= upper)
    assert res.fun == pytest.approx(ref.fun, rel=1e-9)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-6, atol=1e-6)
    # the bounds bind at the solution, the same ones for both
    on_bound = np.isclose(res.x, lower, rtol=0, atol=1e-12) | np.isclose(res.x, upper, rtol=0,
                                                                          atol=1e-12)
    assert on_bound.any()
    np.testing.assert_array_equal(on_bound, np.isclose(ref.x, lower, rtol=0, atol=1e-8)
                                  | np.isclose(ref.x, upper, rtol=0, atol=1e-8))
    # the Cauchy point settles the active set as L-BFGS-B's does: iterations comparable
    # to scipy's (the projected quasi-Newton method this replaced needed 65 on bard, 92
    # on kowalik_osborne, 21 on rosenbrock against scipy's 6, 44 and 7)
    assert res.nit <= 2 * ref.nit + 2, (res.nit, ref.nit)
    # every trial is evaluated with its gradient: an accepted unit step is one call
    assert res.njev == res.nfev
    if name != "brown_badly_scaled":  # its first steps overshoot by 1e6 and backtrack
        assert res.nfev <= 1.3 * res.nit + 2, (res.nfev, res.nit)


@pytest.mark.slow
def test_cauchy_point_fixes_many_variables_in_one_step():
    # sum (x_i - 3 i)^2 over [0, 1]^10 from 0.5: every variable ends on its upper bound,
    # and the first Cauchy point finds all of them at once
    n = 10
    loss = " + ".join(f"(x{i} - {3 * (i + 1)})**2" for i in range(n))
    res = so.minimize(loss, [0.5] * n, method="lbfgs", bounds=[(0.0, 1.0)] * n)
    assert res.status == status.SUCCESS_GTOL
    np.testing.assert_array_equal(res.x, np.ones(n))
    assert res.nit <= 2
    np.testing.assert_array_equal(res.active_mask, np.ones(n))


def test_fixed_variables_and_free_ones_together():
    # lower == upper fixes a variable; the others reach the unconstrained minimiser
    res = so.minimize("(x - 1)**2 + (y - 2)**2 + (x*y - 3)**2 + (z + 1)**2", [0.0, 0.0, 0.0],
                      method="lbfgs", bounds={"x": (0.5, 0.5)})
    assert res.success, res.message
    assert res.x[0] == 0.5
    # with x = 0.5: minimise (y - 2)^2 + (y/2 - 3)^2 -> y = (2 + 1.5) / 1.25; z = -1
    np.testing.assert_allclose(res.x[1:], [3.5 / 1.25, -1.0], rtol=1e-9)
