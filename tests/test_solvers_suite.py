"""The rest of the scalar solver suite: L-BFGS, trust-ncg, momentum, Nesterov, Adam, and
box bounds for gd, L-BFGS and the fixed-step methods.

Oracles are independent of symopt: the literature minima of Moré, Garbow & Hillstrom
(through :mod:`symopt.testproblems`), minima known in closed form, the documented
update formulas replayed in NumPy, and scipy's L-BFGS-B.  The generic checks every
method must pass (counts, history, max_iter, unbounded losses) run on all methods in
tests/test_solvers.py.

Bounded solves call the compiled entry points directly, with the bounds packed after
the scalar options as :mod:`symopt.abi` lays them out (``minimize(bounds=...)`` is
another module's job).
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from test_mgh import PROBLEMS as MGH_PROBLEMS
from test_mgh import reached_literature_minimum

import symopt as so
from symopt import abi, testproblems
from symopt._binding import entry_point
from symopt.errors import InputError
from symopt.solvers import BOUNDED_METHODS, status

NO_PARAMS = np.zeros(0)
NO_DATA = np.zeros((0, 0))
FIXED_STEP = ("momentum", "nesterov", "adam")


@pytest.fixture(scope="module")
def mgh():
    cache = {}

    def get(name):
        if name not in cache:
            tp = testproblems.get(name)
            cache[name] = (tp, so.Problem(tp.loss, wrt=tp.variables))
        return cache[name]

    return get


def solve_direct(problem, method, x0, lower=None, upper=None, max_iter=None, history=False,
                 **options):
    """Call ``method``'s compiled entry point with ``problem``'s kernels, optionally with
    bounds packed into the options array.  Returns ``(f, x, g, info, hist)``."""
    kernels = so.compile(problem)
    opts = so.solver_options(method, max_iter=max_iter, **options)
    x = np.array(x0, dtype=np.float64)
    n = x.shape[0]
    if lower is not None or upper is not None:
        lower = np.full(n, -np.inf) if lower is None else np.asarray(lower, dtype=np.float64)
        upper = np.full(n, np.inf) if upper is None else np.asarray(upper, dtype=np.float64)
        opts = np.concatenate([opts, lower, upper])
        opts[abi.OPT_BOUNDS] = 1.0
    info = np.zeros(abi.N_INFO, dtype=np.int64)
    rows = int(opts[abi.OPT_MAX_ITER]) + 1 if history else 0
    hist = np.full((rows, 2 + n), np.nan) if history else NO_DATA
    g = np.empty(n)
    H = np.empty((n, n))
    f = entry_point(method)(*kernels.addresses, x, NO_PARAMS, NO_DATA, opts, info, hist, g, H)
    return f, x, g, info, hist[: info[abi.INFO_NHIST]]


# --- L-BFGS and trust-ncg on the MGH collection --------------------------------------------------

#: which of test_mgh's problems each method solves from the standard start with default
#: options (recorded in docs/solvers.md): all of them
QUASI_NEWTON_SOLVES = {"lbfgs": set(MGH_PROBLEMS), "trust-ncg": set(MGH_PROBLEMS),
                       "trust-exact": set(MGH_PROBLEMS)}


@pytest.mark.slow
@pytest.mark.parametrize("name", MGH_PROBLEMS)
@pytest.mark.parametrize("method", ["lbfgs", "trust-ncg", "trust-exact"])
def test_lbfgs_and_trust_ncg_reach_the_literature_minimum(mgh, method, name):
    assert name in QUASI_NEWTON_SOLVES[method]
    tp, problem = mgh(name)
    res = so.minimize(problem, tp.x0, method=method)
    assert res.success, f"{name}/{method}: {res.message}"
    assert reached_literature_minimum(tp, res.fun), f"{name}/{method}: f = {res.fun}"


@pytest.mark.slow
def test_lbfgs_keeps_only_m_pairs_and_needs_no_matrix():
    # extended Rosenbrock with n = 2000 by hand-written kernels: an n x n matrix would be
    # 32 MB; H_out is 0 x 0 and must stay so
    n = 2000
    x = np.tile([-1.2, 1.0], n // 2)
    opts = so.solver_options("lbfgs", memory=5)
    info = np.zeros(abi.N_INFO, dtype=np.int64)
    g = np.empty(n)
    from symopt.solvers import get_solver

    f = get_solver("lbfgs")(_xrosen_value, _xrosen_value_grad, _xrosen_vgh, x, NO_PARAMS, NO_DATA,
                            opts, info, NO_DATA, g, np.empty((0, 0)))
    assert status.is_success(info[abi.INFO_STATUS]), status.name(info[abi.INFO_STATUS])
    assert f < 1e-16
    np.testing.assert_allclose(x, 1.0, atol=1e-8)
    assert info[abi.INFO_NHEV] == 0


@njit(error_model="numpy")
def _xrosen(x, g, order):
    f = 0.0
    for i in range(0, x.shape[0], 2):
        a = x[i + 1] - x[i] * x[i]
        b = 1.0 - x[i]
        f += 100.0 * a * a + b * b
        if order:
            g[i] = -400.0 * x[i] * a - 2.0 * b
            g[i + 1] = 200.0 * a
    return f


@njit(error_model="numpy")
def _xrosen_value(x, p, data):
    return _xrosen(x, x, 0)


@njit(error_model="numpy")
def _xrosen_value_grad(x, p, data, g):
    return _xrosen(x, g, 1)


@njit(error_model="numpy")
def _xrosen_vgh(x, p, data, g, H):
    return _xrosen(x, g, 1)  # never called by L-BFGS


def test_lbfgs_memory_option_changes_the_iterates(mgh):
    tp, problem = mgh("extended_rosenbrock_10")
    runs = {m: so.minimize(problem, tp.x0, method="lbfgs", memory=m) for m in (1, 3, 10)}
    assert all(r.success for r in runs.values())
    assert len({r.nit for r in runs.values()}) == 3  # the memory is really used
    assert runs[10].nit < runs[1].nit
    with pytest.raises(InputError, match="memory"):
        so.minimize(problem, tp.x0, method="lbfgs", memory=0)
    with pytest.raises(InputError, match="lbfgs"):
        so.minimize(problem, tp.x0, method="bfgs", memory=5)


# --- trust-ncg: indefinite Hessians ---------------------------------------------------------------

DOUBLE_WELL = "(x**2 - 1)**2 + y**2"


@pytest.mark.slow
@pytest.mark.parametrize("method", ["trust-ncg", "trust-exact"])
def test_trust_region_leaves_a_saddle_region_where_the_newton_step_heads_for_the_saddle(method):
    # at (1e-3, 1) the Hessian is diag(12x^2 - 4, 2): indefinite.  The Newton step
    # -H^{-1} g leads to x ~ 0, the saddle point (0, 0); the trust region takes the
    # negative curvature and reaches a minimum (+-1, 0), f = 0
    x0 = np.array([1e-3, 1.0])
    g = np.array([4 * x0[0] ** 3 - 4 * x0[0], 2 * x0[1]])
    H = np.diag([12 * x0[0] ** 2 - 4, 2.0])
    assert np.linalg.eigvalsh(H).min() < 0
    newton_point = x0 - np.linalg.solve(H, g)
    assert np.abs(newton_point).max() < 1e-6  # the premise: plain Newton goes to the saddle

    res = so.minimize(DOUBLE_WELL, {"x": 1e-3, "y": 1.0}, method=method, history=True)
    assert res.success, res.message
    np.testing.assert_allclose(np.abs(res.x), [1.0, 0.0], atol=1e-9)
    assert res.fun < 1e-18
    assert np.all(np.diff(res.history["f"]) <= 0)  # accepted steps only decrease f
    np.testing.assert_allclose(res.hess, [[8.0, 0.0], [0.0, 2.0]], rtol=1e-8)  # exact, at x


def test_trust_ncg_first_step_at_negative_curvature_goes_to_the_boundary():
    # at (0.1, 0) g = (4x^3 - 4x, 0) and H_xx < 0: CG's first direction -g has negative
    # curvature, so the step is -g scaled to the radius
    res = so.minimize(DOUBLE_WELL, {"x": 0.1, "y": 0.0}, method="trust-ncg", radius=0.25,
                      history=True, max_iter=1)
    step = res.history["x"][1] - res.history["x"][0]
    np.testing.assert_allclose(step, [0.25, 0.0], rtol=1e-12)


def test_trust_ncg_radius_option_is_validated():
    with pytest.raises(InputError, match="radius"):
        so.minimize(DOUBLE_WELL, [0.5, 0.5], method="trust-ncg", radius=-1.0)
    with pytest.raises(InputError, match="trust-ncg"):
        so.minimize(DOUBLE_WELL, [0.5, 0.5], method="newton", radius=1.0)


# --- momentum, Nesterov, Adam ------------------------------------------------------------------------

#: MGH problems each fixed-step method solves with its default options
FIXED_STEP_SOLVES = {
    "momentum": ["beale", "trigonometric_10", "discrete_boundary_value_10",
                 "linear_full_rank_5_10"],
    "nesterov": ["beale", "trigonometric_10", "discrete_boundary_value_10",
                 "linear_full_rank_5_10"],
    "adam": ["beale", "trigonometric_10", "discrete_boundary_value_10", "linear_full_rank_5_10",
             "broyden_tridiagonal_10"],
}


@pytest.mark.slow
@pytest.mark.parametrize("method, name", [(m, p) for m, ps in FIXED_STEP_SOLVES.items() for p in ps])
def test_fixed_step_methods_reach_the_minimum_of_well_conditioned_problems(mgh, method, name):
    tp, problem = mgh(name)
    res = so.minimize(problem, tp.x0, method=method)
    assert res.status == status.SUCCESS_GTOL, f"{name}/{method}: {res.message}"
    assert reached_literature_minimum(tp, res.fun) or abs(res.fun - tp.fmin) <= 1e-9, \
        f"{name}/{method}: f = {res.fun}"


QUADRATIC = "0.5*(x - 1)**2 + (y + 2)**2 + 0.25*z**2"
QUAD_A = np.diag([1.0, 2.0, 0.5])
QUAD_XMIN = np.array([1.0, -2.0, 0.0])


def _replay(method, steps, mu=0.9, beta2=0.999, eps=1e-8, x0=(0.0, 0.0, 0.0)):
    """The documented update of ``method`` on QUADRATIC, in NumPy, with the learning rate
    ``steps[k]`` at iteration k.  Returns the iterates."""
    x = np.array(x0, dtype=np.float64)
    v = np.zeros(3)
    u = np.zeros(3)
    out = [x.copy()]
    for k, lr in enumerate(steps):
        g = QUAD_A @ (x - QUAD_XMIN)
        if method == "adam":
            v = mu * v + (1 - mu) * g
            u = beta2 * u + (1 - beta2) * g * g
            x = x - lr * (v / (1 - mu ** (k + 1))) / (np.sqrt(u / (1 - beta2 ** (k + 1))) + eps)
        else:
            v = mu * v + g
            x = x - lr * ((g + mu * v) if method == "nesterov" else v)
        out.append(x.copy())
    return np.array(out)


SCHEDULE_STEPS = {
    "constant": lambda k: 0.05,
    "inverse_time": lambda k: 0.05 / (1 + 0.1 * k),
    "exponential": lambda k: 0.05 * 0.9 ** k,
    "cosine": lambda k: 0.05 * 0.5 * (1 + np.cos(np.pi * k / 12)),
}


@pytest.mark.slow
@pytest.mark.parametrize("schedule", list(SCHEDULE_STEPS))
@pytest.mark.parametrize("method", FIXED_STEP)
def test_fixed_step_updates_and_schedules_are_the_documented_formulas(method, schedule):
    decay = {"inverse_time": 0.1, "exponential": 0.9}.get(schedule)
    res = so.minimize(QUADRATIC, [0.0, 0.0, 0.0], method=method, step=0.05, schedule=schedule,
                      decay=decay, max_iter=12, history=True)
    assert res.status == status.MAX_ITER and res.nit == 12
    expected = _replay(method, [SCHEDULE_STEPS[schedule](k) for k in range(12)])
    np.testing.assert_allclose(res.history["x"], expected, rtol=1e-12, atol=1e-14)
    assert res.nfev == res.njev == 13  # no line search: one gradient per iteration


def test_schedules_change_behaviour_as_documented():
    # with a learning rate too large for a curvature of 2 (step * 2 > 2 (1 + mu)), the
    # heavy ball diverges at a constant rate; an exponential decay brings the rate below
    # the stability limit before f overflows, and the solve converges
    constant = so.minimize(QUADRATIC, [0.0, 0.0, 0.0], method="momentum", step=2.5,
                           max_iter=2000)
    assert not constant.success and constant.fun > 1e3
    decayed = so.minimize(QUADRATIC, [0.0, 0.0, 0.0], method="momentum", step=2.5,
                          schedule="exponential", decay=0.99, max_iter=2000)
    assert decayed.status == status.SUCCESS_GTOL, decayed.message
    np.testing.assert_allclose(decayed.x, QUAD_XMIN, atol=1e-5)
    # cosine annealing takes the learning rate to 0 at max_iter: Adam's steps (about the
    # learning rate in size) shrink to nothing by the end
    cosine = so.minimize(QUADRATIC, [0.0, 0.0, 0.0], method="adam", step=0.1, schedule="cosine",
                         max_iter=50, gtol=0.0, history=True)
    steps = np.abs(np.diff(cosine.history["x"], axis=0)).max(axis=1)
    assert cosine.nit == 50 and steps[-1] < 1e-2 * steps[:10].max()


def test_ftol_and_xtol_need_patience_in_fixed_step_methods():
    from symopt.solvers.first_order import PATIENCE

    res = so.minimize(QUADRATIC + " + 10", [0.0, 0.0, 0.0], method="momentum", ftol=1e-3,
                      gtol=0.0, history=True)
    assert res.status == status.SUCCESS_FTOL
    f = res.history["f"]
    changes = np.abs(np.diff(f)) <= 1e-3 * np.maximum(np.abs(f[:-1]), np.abs(f[1:]))
    # the solve stopped at the first iteration that ended PATIENCE passing tests in a row
    runs = np.convolve(changes, np.ones(PATIENCE, dtype=int), mode="valid")
    assert np.argmax(runs == PATIENCE) == len(runs) - 1
    assert not changes[:PATIENCE].all()  # single small changes did not stop it


def test_fixed_step_options_are_validated():
    with pytest.raises(InputError, match="momentum"):
        so.minimize(QUADRATIC, [0, 0, 0], method="momentum", momentum=1.0)
    with pytest.raises(InputError, match="schedule"):
        so.minimize(QUADRATIC, [0, 0, 0], method="adam", schedule="linear")
    with pytest.raises(InputError, match="adam"):
        so.minimize(QUADRATIC, [0, 0, 0], method="momentum", beta2=0.99)
    with pytest.raises(InputError, match="step"):
        so.minimize(QUADRATIC, [0, 0, 0], method="bfgs", step=0.1)
    with pytest.raises(InputError, match="momentum"):
        so.minimize(QUADRATIC, [0, 0, 0], method="adam", momentum=[0.9])
    with pytest.raises(InputError, match="unknown option"):
        so.solver_options("adam", beta1=0.9)


# --- NaN --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, step", [("momentum", 3.0), ("nesterov", 2.0), ("adam", 3.0)])
def test_fixed_step_methods_halve_the_step_when_it_lands_on_nan(method, step):
    # x - log(x) from x = 2 with a large learning rate: some steps overshoot to x < 0,
    # where log is NaN; the step is halved until finite, and the solve still converges
    res = so.minimize("x - log(x)", [2.0], method=method, step=step, history=True)
    assert np.isfinite(res.history["f"]).all()
    assert res.nfev > res.nit + 1  # some trials were rejected (NaN) and retried
    assert res.success and abs(res.x[0] - 1.0) < 1e-5, res.message


@pytest.mark.parametrize("method", ["lbfgs", "trust-ncg", "trust-exact", *FIXED_STEP])
def test_nan_start_and_nan_everywhere_end_with_a_status(method):
    # a NaN start, through the solver directly (minimize refuses it as an input error)
    f, x, g, info, _ = solve_direct(so.Problem("x**2 + y**2"), method, [np.nan, 1.0])
    assert info[abi.INFO_STATUS] == status.NAN_ENCOUNTERED and info[abi.INFO_NIT] == 0
    # a loss that is NaN for x < 0, with its infimum at x = 0 where the gradient is
    # infinite: steps overshoot into NaN and must be backed off, never accepted
    res = so.minimize("sqrt(x) + y**2", [1.0, 1.0], method=method, max_iter=500)
    assert res.status in status.TABLE
    assert np.isfinite(res.fun) and res.x[0] >= 0.0 and res.fun < 1.0


# --- box bounds -------------------------------------------------------------------------------------

ROSENBROCK = "(1 - x)**2 + 100*(y - x**2)**2"
#: steps the fixed-step methods need on Rosenbrock near (0.5, 0.25) (curvature ~ 250)
BOUNDED_OPTIONS = {"gd": {}, "lbfgs": {},
                   "momentum": {"step": 1e-3}, "nesterov": {"step": 1e-3},
                   "adam": {"step": 1e-2, "schedule": "inverse_time", "decay": 1e-3}}


@pytest.mark.parametrize("method", BOUNDED_METHODS)
def test_a_separable_quadratic_in_a_box_is_minimised_at_the_clipped_minimiser(method):
    lower, upper = np.array([-1.0, -1.0, -np.inf]), np.array([0.5, 1.0, np.inf])
    # the fixed-step methods' default gtol; gd's backtracking accepts steps within f's
    # rounding errors (1e3 ulps of f = 1.125 here), so its ||g|| wanders at ~1e-7
    gtol = 1e-6 if method in FIXED_STEP or method == "gd" else 1e-10
    f, x, g, info, _ = solve_direct(so.Problem(QUADRATIC), method, [0.0, 0.0, 3.0], lower=lower,
                                    upper=upper, gtol=gtol)
    assert info[abi.INFO_STATUS] == status.SUCCESS_GTOL, status.name(info[abi.INFO_STATUS])
    np.testing.assert_allclose(x, [0.5, -1.0, 0.0], atol=10 * gtol)
    np.testing.assert_allclose(g[:2], [-0.5, 2.0], rtol=1e-6)  # pushing out of the box


@pytest.mark.parametrize("method", [m for m in BOUNDED_METHODS if m != "gd"])
def test_rosenbrock_with_x_at_most_one_half_reaches_the_constrained_minimum(method):
    # with x <= 0.5 the minimum is on the bound: x = 0.5, y = x^2 = 0.25, f = 0.25, where
    # df/dx = -1 pushes against the bound (KKT)
    f, x, g, info, _ = solve_direct(so.Problem(ROSENBROCK), method, [-1.2, 1.0],
                                    upper=[0.5, np.inf], max_iter=20_000,
                                    **BOUNDED_OPTIONS[method])
    assert status.is_success(info[abi.INFO_STATUS]), status.name(info[abi.INFO_STATUS])
    tolerance = 1e-8 if method in ("gd", "lbfgs") else 1e-5
    np.testing.assert_allclose(x, [0.5, 0.25], atol=tolerance)
    assert f == pytest.approx(0.25, abs=tolerance)
    assert g[0] == pytest.approx(-1.0, rel=1e-4)  # the multiplier of the active bound


@pytest.mark.parametrize("method", BOUNDED_METHODS)
def test_bounded_iterates_never_leave_the_box(method):
    lower, upper = np.array([-0.5, 0.3]), np.array([0.5, 2.0])
    _, x, _, info, hist = solve_direct(so.Problem(ROSENBROCK), method, [-1.2, 1.0], lower=lower,
                                       upper=upper, max_iter=200, history=True,
                                       **BOUNDED_OPTIONS[method])
    xs = hist[:, 2:]
    assert xs.shape[0] >= 2 and np.all(xs >= lower) and np.all(xs <= upper)
    np.testing.assert_array_equal(xs[0], [-0.5, 1.0])  # the start, projected into the box


def test_bounded_lbfgs_matches_scipy_lbfgsb_on_extended_rosenbrock(mgh):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    tp, problem = mgh("extended_rosenbrock_10")
    kernels = so.compile(problem)
    n = 10
    lower = np.tile([-2.0, 1.5], n // 2)  # forces every other variable off 1
    upper = np.full(n, 0.8)
    upper[1::2] = np.inf
    f, x, _, info, _ = solve_direct(problem, "lbfgs", tp.x0, lower=lower, upper=upper)
    assert status.is_success(info[abi.INFO_STATUS]), status.name(info[abi.INFO_STATUS])
    ref = scipy_optimize.minimize(
        lambda z: kernels.value_and_grad(z), np.clip(tp.x0, lower, upper), jac=True,
        method="L-BFGS-B", bounds=list(zip(lower, upper)),
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
    assert f == pytest.approx(ref.fun, rel=1e-8)
    np.testing.assert_allclose(x, ref.x, atol=1e-6)
    assert (np.isclose(x, lower) | np.isclose(x, upper)).sum() >= 1  # active bounds


def test_bounds_on_a_method_without_them_are_refused_as_invalid_input():
    for method in ("newton", "bfgs", "trust-ncg", "trust-exact"):
        _, x, _, info, _ = solve_direct(so.Problem(ROSENBROCK), method, [-1.2, 1.0],
                                        upper=[0.5, np.inf])
        assert info[abi.INFO_STATUS] == status.INVALID_INPUT
        np.testing.assert_array_equal(x, [-1.2, 1.0])
    # lower > upper is refused too
    _, _, _, info, _ = solve_direct(so.Problem(ROSENBROCK), "lbfgs", [0.0, 0.0],
                                    lower=[1.0, 0.0], upper=[0.0, 1.0])
    assert info[abi.INFO_STATUS] == status.INVALID_INPUT


@pytest.mark.parametrize("method", BOUNDED_METHODS)
def test_minimize_bounds_reach_the_new_solvers(method):
    # the user-facing bounds= (symopt.minimize) packs the box the way these solvers read it
    res = so.minimize(QUADRATIC, [0.0, 0.0, 3.0], method=method, gtol=1e-6,
                      bounds={"x": (-1, 0.5), "y": (-1, 1)})
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [0.5, -1.0, 0.0], atol=1e-5)
    assert res.active_mask.tolist() == [1, -1, 0]
