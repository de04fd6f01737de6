"""Box bounds (``bounds=``) for minimize and fit: validation, packing into the options
array, and the bounded least-squares solvers against scipy's ``least_squares(method="trf")``
with bounds (tolerances tightened to 1e-15) as the independent reference."""

import math
import warnings

import numpy as np
import pytest
import scipy.optimize
import sympy

import symopt as so
from symopt import abi, testproblems
from symopt.minimize import BOUNDED_METHODS

ROSENBROCK = so.LeastSquares(["1 - x", "10*(y - x**2)"], wrt=["x", "y"])


# --- validation and packing -----------------------------------------------------------------


@pytest.mark.parametrize("bounds, match", [
    ({"z": (0, 1)}, "'z', which is not a variable; the variables are x, y"),
    ({"x": (2, 1)}, "lower bound 2.0 is above upper bound 1.0"),
    ({"x": (math.nan, 1)}, "NaN"),
    ({"x": (0, "a")}, "must be a number or None"),
    ({"x": 3.0}, "must be a pair"),
    ([(0, 1)], "1 pairs but the problem has 2 variables"),
    ("x", "must be a mapping"),
    ({"x": (math.inf, None)}, "no finite value"),
])
def test_bad_bounds_are_clear_input_errors(bounds, match):
    with pytest.raises(so.InputError, match=match):
        so.minimize(ROSENBROCK, [0.0, 0.0], method="lm", bounds=bounds)


def test_methods_without_bounds_say_which_methods_take_them():
    with pytest.raises(so.InputError, match="does not take bounds; the methods that do are "
                                            "adam, gd, gn, lbfgs, lm"):
        so.minimize(ROSENBROCK, [0.0, 0.0], method="newton", bounds={"x": (0, 1)})


def test_bounds_are_packed_after_the_scalar_options():
    opts = so.solver_options("lm", bounds={"y": (-1, None)}, variable_names=["x", "y"])
    assert opts.shape == (abi.N_OPTS + 4,) and opts[abi.OPT_BOUNDS] == 1.0
    np.testing.assert_array_equal(opts[abi.N_OPTS:], [-np.inf, -1.0, np.inf, np.inf])
    assert so.solver_options("lm")[abi.OPT_BOUNDS] == 0.0
    assert BOUNDED_METHODS >= {"lm", "gn"}


def _ls_solve(method, opts):
    """The compiled least-squares solver of ``method`` on ROSENBROCK from (-1.2, 1):
    ``(cost, info, x)``."""
    from symopt._binding import entry_point

    kernels = so.compile(ROSENBROCK)
    x = np.array([-1.2, 1.0])
    info = np.full(abi.N_INFO, -1, dtype=np.int64)
    cost = entry_point(method)(*kernels.residual_addresses, x, np.zeros(0), np.zeros((0, 0)),
                               opts, info, np.zeros((0, 0)), np.zeros(2), np.zeros((2, 2)))
    return cost, info, x


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lm", "gn"])
@pytest.mark.parametrize("case", ["too short", "lower above upper", "NaN bound"])
def test_unusable_bounds_are_invalid_input_not_an_unbounded_solve(method, case):
    # as for the scalar solvers: OPT_BOUNDS set means bounds must follow the N_OPTS
    # options, NaN-free and ordered; anything else is INVALID_INPUT, nothing evaluated
    opts = so.solver_options(method, bounds={"x": (-1, 0.5)}, variable_names=["x", "y"])
    if case == "too short":
        opts = opts[:abi.N_OPTS + 3]  # OPT_BOUNDS still 1, the last upper bound cut off
    elif case == "lower above upper":
        opts[abi.N_OPTS + 1] = 5.0  # y in [5, inf] is fine; make it [5, 4]
        opts[abi.N_OPTS + 3] = 4.0
    else:
        opts[abi.N_OPTS] = math.nan
    cost, info, x = _ls_solve(method, opts)
    assert math.isnan(cost)
    assert info[abi.INFO_STATUS] == so.solvers.status.INVALID_INPUT
    assert info[abi.INFO_NFEV] == 0 and info[abi.INFO_NIT] == 0
    np.testing.assert_array_equal(x, [-1.2, 1.0])  # untouched: not clipped, not solved


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lm", "gn"])
def test_bounds_set_in_the_options_array_are_applied(method):
    # the same options with usable bounds: a bounded solve (x stays <= 0.5)
    opts = so.solver_options(method, bounds={"x": (-1, 0.5)}, variable_names=["x", "y"])
    cost, info, x = _ls_solve(method, opts)
    assert so.solvers.status.is_success(info[abi.INFO_STATUS])
    assert x == pytest.approx([0.5, 0.25], rel=1e-12)
    assert cost == pytest.approx(0.5 * 0.25, rel=1e-12)  # r = (1 - x, 10 (y - x^2))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lm", "gn"])
def test_x0_outside_the_box_is_clipped_and_every_iterate_stays_inside(method):
    res = so.minimize(ROSENBROCK, {"x": -1.2, "y": 1.0}, method=method, history=True,
                      bounds={"x": (-1, 0.5), "y": (0.0, 0.2)})
    assert res.success, res.message
    xs = res.history["x"]
    np.testing.assert_array_equal(xs[0], [-1.0, 0.2])  # the start, clipped
    assert np.all(xs[:, 0] >= -1) and np.all(xs[:, 0] <= 0.5)
    assert np.all(xs[:, 1] >= 0) and np.all(xs[:, 1] <= 0.2)


# --- the bounded solvers against scipy's trf ------------------------------------------------

#: MGH problems with bounds that cut off the unconstrained minimiser: x_1 <= x*_1 - |x*_1|/2
#: and x_n >= x*_n + |x*_n|/4 (0.1 away where x* is 0), from the standard start (clipped)
MGH = ["rosenbrock", "beale", "bard", "box_3d", "kowalik_osborne", "osborne1", "helical_valley",
       "powell_singular", "wood", "gaussian", "meyer", "brown_badly_scaled", "jennrich_sampson"]
_cases: dict = {}


def _mgh_case(name):
    if name not in _cases:
        tp = testproblems.get(name)
        ls = so.LeastSquares(list(tp.residuals), wrt=tp.variables)
        xm = np.array(tp.xmin if tp.xmin else so.minimize(ls, tp.x0, method="lm").x)
        lo = np.full(tp.n, -np.inf)
        hi = np.full(tp.n, np.inf)
        hi[0] = xm[0] - 0.5 * abs(xm[0]) - 0.1 * (xm[0] == 0)
        lo[-1] = xm[-1] + 0.25 * abs(xm[-1]) + 0.1 * (xm[-1] == 0)
        x0 = np.clip(np.array(tp.x0, float), lo, hi)
        r = sympy.lambdify([ls.variables], list(ls.residual_exprs), "numpy")
        J = sympy.lambdify([ls.variables], ls.jacobian, "numpy")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = scipy.optimize.least_squares(
                lambda x: np.asarray(r(x), float), x0, jac=lambda x: np.asarray(J(x), float),
                method="trf", bounds=(lo, hi), xtol=1e-15, ftol=1e-15, gtol=1e-15,
                max_nfev=100000)
        _cases[name] = (ls, x0, lo, hi, ref)
    return _cases[name]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lm", "gn"])
@pytest.mark.parametrize("name", MGH)
def test_active_bounds_reach_scipy_trf_solution(name, method):
    ls, x0, lo, hi, ref = _mgh_case(name)
    res = so.minimize(ls, x0, method=method, bounds=list(zip(lo, hi)))
    assert res.success, res.message
    assert np.all(res.x >= lo) and np.all(res.x <= hi)
    assert res.fun == pytest.approx(ref.cost, rel=1e-9)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-6, atol=1e-6)
    # a bound binds at every one of these solutions, and the bounds symopt reports as
    # active are active for scipy too
    assert np.any(ref.active_mask != 0) and np.any(res.active_mask != 0)
    pressed = res.active_mask != 0
    np.testing.assert_array_equal(res.active_mask[pressed], ref.active_mask[pressed])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lm", "gn"])
def test_inactive_bounds_give_the_unbounded_answer(method):
    tp = testproblems.get("bard")
    ls = so.LeastSquares(list(tp.residuals), wrt=tp.variables)
    free = so.minimize(ls, tp.x0, method=method)
    boxed = so.minimize(ls, tp.x0, method=method, bounds=[(-10, 10)] * 3)
    if method == "lm":  # no step clipped, nothing active: lmder's iterates, bit for bit
        np.testing.assert_array_equal(boxed.x, free.x)
    else:  # GN's bounded Armijo test is measured along the projected path
        np.testing.assert_allclose(boxed.x, free.x, rtol=1e-12)
    assert boxed.nit == free.nit
    np.testing.assert_array_equal(boxed.active_mask, [0, 0, 0])


@pytest.mark.parametrize("method", ["lm", "gn"])
def test_start_on_a_bound(method):
    # at x = 0.5 (its upper bound) the gradient pushes x outward: it stays there, y solves
    res = so.minimize(ROSENBROCK, {"x": 0.5, "y": 3.0}, method=method, bounds={"x": (None, 0.5)})
    assert res.success and res.x == pytest.approx([0.5, 0.25], rel=1e-12)
    np.testing.assert_array_equal(res.active_mask, [1, 0])
    # on its lower bound with the gradient pointing inside: x leaves the bound
    res = so.minimize(ROSENBROCK, {"x": 0.0, "y": 0.0}, method=method, bounds={"x": (0, 2)})
    assert res.success and res.x == pytest.approx([1.0, 1.0], rel=1e-10)
    np.testing.assert_array_equal(res.active_mask, [0, 0])


def test_equal_bounds_fix_a_variable():
    res = so.minimize(ROSENBROCK, [0.0, 0.0], method="lm", bounds={"x": (0.3, 0.3)})
    assert res.success and res.x == pytest.approx([0.3, 0.09], rel=1e-12)


# --- fit with bounds ------------------------------------------------------------------------

MISRA_X = np.array([77.6, 114.9, 141.1, 190.8, 239.9, 289.0, 332.8, 378.4, 434.8, 477.3, 536.8,
                    593.1, 689.1, 760.0])
MISRA_Y = np.array([10.07, 14.73, 17.94, 23.93, 29.61, 35.18, 40.02, 44.82, 50.76, 55.05,
                    61.01, 66.40, 75.47, 81.78])


@pytest.mark.slow
def test_fit_with_an_active_bound_matches_trf_and_reports_nan_stderr():
    with pytest.warns(so.FitWarning, match="b2 ended on a bound"):
        f = so.fit("b1*(1 - exp(-b2*x))", {"b1": 500, "b2": 1e-4}, x=MISRA_X, y=MISRA_Y,
                   bounds={"b2": (None, 5e-4)})
    assert f.success, f.message
    model = lambda x, b1, b2: b1 * (1 - np.exp(-b2 * x))  # noqa: E731
    ref = scipy.optimize.least_squares(lambda b: model(MISRA_X, *b) - MISRA_Y, [500, 1e-4],
                                       bounds=([-np.inf, -np.inf], [np.inf, 5e-4]),
                                       method="trf", x_scale="jac", xtol=1e-15, ftol=1e-15,
                                       gtol=1e-15)
    np.testing.assert_allclose(f.x, ref.x, rtol=1e-8)
    assert f.x[1] == 5e-4
    np.testing.assert_array_equal(f.active_mask, [0, 1])
    # b2 held at its bound: b1's standard error is that of the one-parameter fit
    popt, pcov = scipy.optimize.curve_fit(lambda x, b1: model(x, b1, 5e-4), MISRA_X, MISRA_Y,
                                          p0=[200.0])
    n, p = len(MISRA_X), 2
    # curve_fit scales by chi2 / (n - 1); symopt's dof counts both fitted parameters
    expected = np.sqrt(pcov[0, 0] * (n - 1) / (n - p))
    assert f.stderr[0] == pytest.approx(expected, rel=1e-8)
    assert math.isnan(f.stderr[1]) and np.isnan(f.covariance[1]).all()


@pytest.mark.slow
def test_fit_with_inactive_bounds_keeps_the_unbounded_statistics():
    free = so.fit("b1*(1 - exp(-b2*x))", {"b1": 500, "b2": 1e-4}, x=MISRA_X, y=MISRA_Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", so.FitWarning)
        boxed = so.fit("b1*(1 - exp(-b2*x))", {"b1": 500, "b2": 1e-4}, x=MISRA_X, y=MISRA_Y,
                       bounds={"b1": (0, 1000), "b2": (0, 1)})
    # LM's first step overshoots b1 = 1000 and is projected, so the path differs: the same
    # solution to the solve's accuracy
    np.testing.assert_allclose(boxed.x, free.x, rtol=1e-8)
    np.testing.assert_allclose(boxed.stderr, free.stderr, rtol=1e-6)
    np.testing.assert_array_equal(boxed.active_mask, [0, 0])


# --- LM's initial step bound ----------------------------------------------------------------

LINEAR = so.LeastSquares(["x - 10"], wrt=["x"])


def test_factor_bounds_the_first_lm_step():
    # D = |J| = 1, so the first step is at most factor * |x0|
    default = so.minimize(LINEAR, [1.0], method="lm", history=True)
    assert default.history["x"][1, 0] == pytest.approx(10.0)
    # with a smaller factor the first step stops on the trust-region boundary: exactly
    # factor * |x0| from x0 (MINPACK's delta), not at the minimiser 10
    for factor in (0.1, 0.5):
        small = so.minimize(LINEAR, [1.0], method="lm", factor=factor, history=True)
        assert small.history["x"][1, 0] == pytest.approx(1.0 + factor, rel=1e-12)
        assert small.success and small.x[0] == pytest.approx(10.0)


@pytest.mark.parametrize("method, factor, match", [
    ("gn", 1.0, "method 'gn' takes no factor"), ("lm", 0.0, "factor must be > 0"),
    ("lm", -1.0, "factor must be finite and >= 0")])
def test_bad_factor(method, factor, match):
    with pytest.raises(so.InputError, match=match):
        so.minimize(LINEAR, [1.0], method=method, factor=factor)
