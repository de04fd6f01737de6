"""symopt.constrained: constraint text, the problem and its derivatives, the kernels,
minimize and minimize_many, statuses and errors.

Oracles: hand-derived solutions and multipliers (the Lagrange conditions solved by
hand), finite differences of the kernels' own values, and the published multipliers of
HS71.  Solving the whole Hock-Schittkowski collection is tests/test_constrained_solvers.py.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
import sympy

from symopt import FormulaError, InputError, ProblemError, ShapeError
from symopt import hock_schittkowski as hs
from symopt.constrained import (
    ConstrainedProblem,
    abi,
    compile_constrained,
    minimize,
    minimize_many,
    parse_constraint,
    parse_constraints,
    solver_options,
    status,
)

# --- constraint text ---------------------------------------------------------------------


@pytest.mark.parametrize("text, expr, lower, upper", [
    ("x + y == 1", "x + y", 1, 1),
    ("x**2 + y**2 <= 2", "x**2 + y**2", -math.inf, 2),
    ("2 >= x**2 + y**2", "x**2 + y**2", -math.inf, 2),
    ("0 <= a*x - y", "a*x - y", 0, math.inf),
    ("1 <= x*y <= 4", "x*y", 1, 4),
    ("4 >= x*y >= 1", "x*y", 1, 4),
    ("x >= y", "x - y", 0, math.inf),
    ("x < 2", "x", -math.inf, 2),
    ("exp(x) > 1/2", "exp(x)", 0.5, math.inf),
    ("2*x == 3*y", "2*x - 3*y", 0, 0),
])
def test_constraint_text_is_normalised_to_bounds_on_one_expression(text, expr, lower, upper):
    c = parse_constraint(text)
    x, y, a = (sympy.Symbol(n, real=True) for n in "xya")
    assert sympy.simplify(c.expr - sympy.sympify(expr, locals={"x": x, "y": y, "a": a})) == 0
    assert (c.lower, c.upper) == (lower, upper)
    assert c.is_equality == (lower == upper)


def test_sympy_relations_are_constraints_over_real_symbols():
    x, y = sympy.symbols("x y")  # not real: symopt makes them real
    eq, le, ge, lt = (parse_constraint(r) for r in (sympy.Eq(x + y, 1), sympy.Le(x**2, 2),
                                                     sympy.Ge(2, x * y), sympy.Lt(x, y)))
    assert (eq.lower, eq.upper) == (1, 1) and (le.lower, le.upper) == (-math.inf, 2)
    assert (ge.lower, ge.upper) == (-math.inf, 2) and (lt.lower, lt.upper) == (-math.inf, 0)
    assert all(s.is_real for s in eq.expr.free_symbols)


def test_double_sided_constraint_with_parameter_bounds_is_two_constraints():
    cs = parse_constraints("a <= x <= b")
    assert [(c.lower, c.upper) for c in cs] == [(0, math.inf), (-math.inf, 0)]
    assert [str(c.expr) for c in cs] == ["-a + x", "-b + x"]
    with pytest.raises(ProblemError, match="two constraints"):
        parse_constraint("a <= x <= b")


@pytest.mark.parametrize("bad, error, match", [
    ("x + y", FormulaError, "has no comparison"),
    ("x = 1", FormulaError, "write '==' for an equality"),
    ("x != 1", FormulaError, "'!=' is not a constraint"),
    ("1 <= x >= 0", FormulaError, "mixes directions"),
    ("0 <= x <= 1 <= y", FormulaError, "chains 3 comparisons"),
    ("x == y == 1", FormulaError, "mixes directions or '=='"),
    ("2 <= x <= 1", ProblemError, "cannot hold"),
    ("1 <= 2", ProblemError, "no variables"),
    ("__import__('os') <= 1", FormulaError, "not allowed"),
    ("x.real <= 1", FormulaError, "attribute access"),
    ("x in y", FormulaError, "'in' is not a constraint"),
    ("(" * 200 + "x" + ")" * 200 + " <= 1", FormulaError, "nests brackets"),
    ("x + " * 30000 + "x <= 1", FormulaError, "characters long"),
    (sympy.Eq(1, 2), ProblemError, "evaluated to False"),
    (sympy.Ne(sympy.Symbol("x"), 1), ProblemError, "'!=' is not a constraint"),
    (3.0, ProblemError, "must be text"),
])
def test_bad_constraints_raise_clear_errors(bad, error, match):
    with pytest.raises(error, match=match):
        parse_constraints([bad])


# --- the problem and its derivatives ----------------------------------------------------


def test_variables_parameters_and_bound_constraints():
    p = ConstrainedProblem("(x - a)**2 + y**2 + z", ["x + y + z == 1", "x >= 0", "2*y - 1 <= 3",
                                                     "x*y <= a"], params="a")
    assert p.variable_names == ("x", "y", "z") and p.parameter_names == ("a",)
    assert p.general_indices == (0, 3) and p.m == 2
    assert p.bound_constraints[1].variable == 0 and p.bound_constraints[1].lower == 0
    assert p.bound_constraints[2].variable == 1 and p.bound_constraints[2].upper == 2
    with pytest.raises(ProblemError, match="neither a variable"):
        ConstrainedProblem("x**2", ["x + w >= 1"], wrt="x")
    with pytest.raises(ProblemError, match="appears neither"):
        ConstrainedProblem("x**2", ["x >= 1"], params="b")
    with pytest.raises(ProblemError, match="no variables"):
        ConstrainedProblem("a", ["a >= 1"], params="a")
    with pytest.raises(ProblemError, match="not a relation"):
        ConstrainedProblem(sympy.Eq(sympy.Symbol("x"), 1))


def test_lagrangian_hessian_and_jacobian_are_the_hand_derived_ones():
    p = ConstrainedProblem("x**2*y + exp(y)", ["x*y**2 <= 3", "x + sin(y) == 1"])
    x, y = p.variables
    l1, l2 = p.multiplier_symbols
    assert p.constraint_jacobian == sympy.Matrix([[y**2, 2 * x * y], [1, sympy.cos(y)]])
    expected = sympy.Matrix([[2 * y, 2 * x], [2 * x, sympy.exp(y)]]) \
        + l1 * sympy.Matrix([[0, 2 * y], [2 * y, 2 * x]]) \
        + l2 * sympy.Matrix([[0, 0], [0, -sympy.sin(y)]])
    assert sympy.simplify(p.lagrangian_hessian - expected) == sympy.zeros(2, 2)
    assert sympy.simplify(p.lagrangian - (x**2 * y + sympy.exp(y) + l1 * x * y**2
                                          + l2 * (x + sympy.sin(y)))) == 0


def test_problem_displays_its_derivatives():
    p = ConstrainedProblem("x**2 + y**2", ["x + y == 1", "x*y <= 2", "x >= 0"])
    text = str(p)
    for part in ("subject to:", "x + y == 1", "(a bound)", "constraint Jacobian:",
                 "Hessian of the Lagrangian"):
        assert part in text
    latex = p._repr_latex_()
    assert "\\nabla^2_x L" in latex and "J_c" in latex and "\\ge 0" in latex


@pytest.mark.slow
@pytest.mark.parametrize("number", [71, 43, 106, 80])
def test_derivative_kernels_match_finite_differences(number):
    problem = hs.get(number)
    p = ConstrainedProblem(problem.objective, problem.constraints, wrt=problem.variables)
    k = compile_constrained(p)
    rng = np.random.default_rng(number)
    x = np.array(problem.xstar_values) * (1 + 0.01 * rng.standard_normal(p.n))
    lam = rng.standard_normal(p.m)
    data = np.empty((0, 0))
    J = k.jacobian(x)
    H = k.lagrangian_hessian(x, lam, obj_factor=0.7)
    g = np.empty(p.n)
    k.value_grad_kernel(x, np.empty(0), data, g)

    def grad_lagrangian(v):
        gv = np.empty(p.n)
        k.value_grad_kernel(v, np.empty(0), data, gv)
        return 0.7 * gv + k.jacobian(v).T @ lam

    for j in range(p.n):
        h = 1e-6 * max(1.0, abs(x[j]))
        e = np.zeros(p.n)
        e[j] = h
        fd_c = (k.constraints(x + e) - k.constraints(x - e)) / (2 * h)
        fd_f = (k.value(x + e) - k.value(x - e)) / (2 * h)
        fd_H = (grad_lagrangian(x + e) - grad_lagrangian(x - e)) / (2 * h)
        scale = 1 + np.abs(J[:, j]).max(initial=0)
        assert np.abs(fd_c - J[:, j]).max(initial=0) <= 1e-5 * scale
        assert abs(fd_f - g[j]) <= 1e-5 * (1 + abs(g[j]))
        assert np.abs(fd_H - H[:, j]).max() <= 1e-4 * (1 + np.abs(H[:, j]).max())
    assert np.array_equal(H, H.T)


# --- minimize: solutions and multipliers derived by hand -------------------------------


@pytest.mark.slow
def test_equality_constrained_quadratic_takes_the_direct_kkt_path_in_one_step():
    # min x^2 + y^2 + z^2, x + y + z = 3, x - y = 1: 2x + l1 + l2 = 0, 2y + l1 - l2 = 0,
    # 2z + l1 = 0 -> x = 3/2, y = 1/2, z = 1, l1 = -2, l2 = -1
    res = minimize("x**2 + y**2 + z**2", [0, 0, 0], constraints=["x + y + z == 3", "x - y == 1"])
    assert res.method == "kkt" and res.success and res.nit == 1
    assert res.x == pytest.approx([1.5, 0.5, 1.0], abs=1e-12)
    assert res.multipliers == pytest.approx([-2.0, -1.0], abs=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ipm", "auglag"])
def test_multiplier_signs_follow_the_documented_convention(method):
    # min (x - 2)^2 + y^2 s.t. x + y <= 1 (upper side active): the projection of (2, 0),
    # (3/2, -1/2); 2(x - 2) + l = 0 -> l = 1 >= 0 (= -d f*/d(bound)); y^2 + x <= 5 inactive
    upper = minimize("(x - 2)**2 + y**2", [0, 1], constraints=["x + y <= 1", "y**2 + x <= 5"],
                     method=method)
    assert upper.success and upper.x == pytest.approx([1.5, -0.5], abs=1e-7)
    assert upper.multipliers == pytest.approx([1.0, 0.0], abs=1e-6)
    # min (x + 2)^2 + y^2 s.t. x + y >= -1 (lower side active): (-3/2, 1/2), l = -1 <= 0
    lower = minimize("(x + 2)**2 + y**2", [0, 1], constraints=["x + y >= -1"], method=method)
    assert lower.success and lower.x == pytest.approx([-1.5, 0.5], abs=1e-7)
    assert lower.multipliers == pytest.approx([-1.0], abs=1e-6)


def test_bounds_and_bound_constraints_report_their_multipliers():
    # min (x + 1)^2 + (y - 3)^2, 2x >= 1 (a bound constraint), y <= 2 (bounds=):
    # x = 1/2: 2(x + 1) + 2 l = 0 -> l = -3/2;  y = 2: 2(y - 3) + z = 0 -> z = 2
    res = minimize("(x + 1)**2 + (y - 3)**2", [3, 0], constraints=["2*x >= 1"],
                   bounds={"y": (None, 2)})
    assert res.success and res.x == pytest.approx([0.5, 2.0], abs=1e-7)
    assert res.multipliers == pytest.approx([-1.5], abs=1e-6)
    assert res.bound_multipliers == pytest.approx([0.0, 2.0], abs=1e-6)
    assert res.constr == pytest.approx([1.0], abs=1e-7)
    assert res.kkt["stationarity"] < 1e-7 and res.constr_violation <= 1e-8


def test_hs71_multipliers_equal_the_published_ones():
    """HS71's multipliers as published with its solution (MATPOWER's and Ipopt's test
    suites quote them): equality 0.1614686, inequality 0.55229366 (here -0.55229366: its
    lower bound x1 x2 x3 x4 >= 25 is active), bound x1 >= 1: 1.08787121."""
    p = hs.get(71)
    for method in ("ipm", "auglag"):
        res = minimize(ConstrainedProblem(p.objective, p.constraints, wrt=p.variables), p.x0,
                       bounds=list(p.bounds), method=method)
        assert res.success
        assert res.multipliers == pytest.approx([-0.55229366, 0.1614686], abs=1e-6)
        assert res.bound_multipliers[0] == pytest.approx(-1.08787121, abs=1e-6)
        assert res.fun == pytest.approx(17.0140173, abs=1e-7)


@pytest.mark.slow
def test_parameters_change_without_recompiling():
    p = ConstrainedProblem("(x - a)**2 + (y - 1)**2", ["x + y <= 1"], params="a")
    solutions = [minimize(p, [0, 0], params={"a": a}).x for a in (1.0, 2.0)]
    # a = 1: x + y = 1 active, x - 1 = y - 1 -> (1/2, 1/2); a = 2 -> (1, 0)
    assert solutions[0] == pytest.approx([0.5, 0.5], abs=1e-7)
    assert solutions[1] == pytest.approx([1.0, 0.0], abs=1e-7)
    assert minimize("(x - a)**2", [0], ["x >= 0"], params={"a": -1.0}).x == pytest.approx([0], abs=1e-7)


def test_history_records_every_iteration():
    res = minimize("(x - 1)**2 + (y - 2)**2", [0, 0], ["x + y == 1", "x >= 0.5"], method="ipm",
                   history=True)
    h = res.history
    assert len(h["f"]) == res.nit + 1 and h["x"].shape == (res.nit + 1, 2)
    assert h["infeasibility"][-1] <= 1e-8 and h["mu"][0] == pytest.approx(1.0)  # mu_init


# --- statuses and errors ---------------------------------------------------------------


def test_infeasible_problem_is_reported_not_raised():
    res = minimize("x**2 + y**2", [0.3, 0.1], ["x**2 + y**2 <= 1", "x + y >= 3"])
    assert not res.success and res.status == status.INFEASIBLE
    assert "infeasible" in res.message


def test_unbounded_problem_is_reported():
    res = minimize("-x - y", [1, 1], ["x - y == 0", "x >= 0"])
    assert not res.success and res.status == status.UNBOUNDED


def test_iteration_limit_is_reported():
    res = minimize("(x - 1)**2 + (y - 2)**2", [0, 0], ["x + y == 1", "x >= 0.5"], method="ipm",
                   max_iter=2)
    assert res.status == status.MAX_ITER and not res.success and res.nit == 2


def test_nan_at_the_start_is_a_status_not_an_exception():
    res = minimize("log(x) + y**2", [-1.0, 1.0], ["x + y**2 == 4", "x*y <= 10"], method="ipm")
    assert res.status == status.NAN_ENCOUNTERED and not res.success


def test_bad_input_raises_input_errors():
    p = ConstrainedProblem("x**2 + y**2", ["x + y >= 1"])
    with pytest.raises(InputError, match="not finite"):
        minimize(p, [np.nan, 0])
    with pytest.raises(ShapeError):
        minimize(p, [0, 0, 0])
    with pytest.raises(InputError, match="unknown variable"):
        minimize(p, {"x": 0, "w": 1})
    with pytest.raises(InputError, match="leave no value"):
        minimize("x**2", [0], ["x >= 2"], bounds=[(None, 1)])
    with pytest.raises(InputError, match="equality-constrained"):
        minimize(p, [0, 0], method="kkt")
    with pytest.raises(InputError, match="unknown constrained method"):
        minimize(p, [0, 0], method="simplex")
    with pytest.raises(InputError, match="tol must be"):
        minimize(p, [0, 0], tol=-1)
    with pytest.raises(InputError, match="unknown option"):
        minimize(p, [0, 0], stepsize=1)
    with pytest.raises(InputError, match="is an option of auglag"):
        minimize(p, [0, 0], method="ipm", rho_init=10)
    with pytest.raises(InputError, match="part of it"):
        minimize(p, [0, 0], constraints=["x <= 3"])


def test_repeated_calls_see_changed_bounds_options_and_bad_starts():
    # the repeated-call shortcut compares the settings with the last call's by value
    p = ConstrainedProblem("(x - 3)**2 + (y - 4)**2", ["x + y <= 4"])
    bounds = [[None, 1.0], [None, None]]
    for _ in range(3):  # the third call takes the shortcut
        res = minimize(p, [0, 0], bounds=bounds)
        assert res.x == pytest.approx([1.0, 3.0], abs=1e-6)
    bounds[0][1] = 0.5  # changed in place: a different problem
    assert minimize(p, [0, 0], bounds=bounds).x == pytest.approx([0.5, 3.5], abs=1e-6)
    assert minimize(p, (0, 0), bounds=[(None, 0.5), (None, None)]).x == pytest.approx(
        [0.5, 3.5], abs=1e-6)
    assert minimize(p, [0, 0]).x == pytest.approx([1.5, 2.5], abs=1e-6)
    assert minimize(p, [0, 0], max_iter=1).status == status.MAX_ITER
    assert minimize(p, np.zeros(2)).x == pytest.approx([1.5, 2.5], abs=1e-6)
    for bad in ([np.nan, 0], (0, np.inf), np.array([0.0, np.nan])):
        with pytest.raises(InputError, match="not finite"):
            minimize(p, bad)
    with pytest.raises(InputError, match="must be numbers"):
        minimize(p, ["a", 0])
    with pytest.raises(ShapeError):
        minimize(p, [[0, 0]])


def test_solver_options_array_has_the_abi_layout():
    opts = solver_options("auglag", tol=1e-9, rho_init=5.0, memory=7)
    assert opts.shape == (abi.N_OPTS,)
    assert opts[abi.OPT_TOL] == 1e-9 and opts[abi.OPT_RHO_INIT] == 5 and opts[abi.OPT_MEMORY] == 7


# --- many problems at once ---------------------------------------------------------------


@pytest.mark.slow
def test_minimize_many_matches_single_solves_and_marks_bad_rows():
    p = ConstrainedProblem("(x - a)**2 + (y - 1)**2", ["x + y <= 1", "x >= 0"], params="a")
    a = np.array([-1.0, 0.5, 1.0, 2.0, np.nan])
    batch = minimize_many(p, [0.0, 0.0], params={"a": a})
    assert batch.status[-1] == status.INVALID_INPUT and not batch.success[-1]
    for i in range(4):
        single = minimize(p, [0.0, 0.0], params=[a[i]])
        assert batch.success[i] and np.allclose(batch.x[i], single.x, atol=1e-12)
        assert np.allclose(batch.multipliers[i], single.multipliers, atol=1e-12)
        assert batch[i].fun == pytest.approx(single.fun, abs=1e-14)
    # hand solution for a = 2: (1, 0), multiplier of x + y <= 1: 2(x - 2) + l = 0 -> 2
    assert batch.x[3] == pytest.approx([1.0, 0.0], abs=1e-7)
    assert batch.multipliers[3] == pytest.approx([2.0, 0.0], abs=1e-6)
    assert "5 problems, 4 solved" in repr(batch)


@pytest.mark.slow  # a second batched compile (about 25 s)
def test_minimize_many_takes_one_start_per_problem():
    res = minimize_many("x**2 + y**2", np.array([[1.0, 1.0], [3.0, -2.0]]), ["x + y == 1"])
    assert res.method == "kkt" and res.success.all()
    assert res.x == pytest.approx(np.full((2, 2), 0.5), abs=1e-12)


# --- embedding in user code -----------------------------------------------------------


@pytest.mark.slow
def test_solver_is_callable_from_user_njit_code():
    from symopt.constrained._binding import _no_value, _no_value_grad, stand_in_address
    from symopt.constrained.interior_point import solve

    p = ConstrainedProblem("(x - a)**2 + (y - 1)**2", ["x + y <= 1"], params="a")
    k = compile_constrained(p)
    kernels = (k.value_kernel, k.value_grad_kernel, k.constraints_kernel,
               k.constraints_jacobian_kernel, k.lagrangian_hessian_kernel)
    stand_in_address("al_value"), stand_in_address("al_value_grad")
    value, value_grad, cons, jac, hess = kernels

    @numba.njit
    def sweep(a_values, opts, limits):
        out = np.empty((a_values.shape[0], 3))
        info = np.zeros(abi.N_INFO, np.int64)
        lam, z, c = np.empty(1), np.empty(2), np.empty(1)
        g, kkt = np.empty(2), np.empty(abi.N_KKT)
        for i in range(a_values.shape[0]):
            x = np.zeros(2)
            solve(value, value_grad, cons, jac, hess, _no_value, _no_value_grad, x,
                  np.array([a_values[i]]), np.empty((0, 0)), limits, opts, info, lam, z, c, g,
                  kkt, np.empty((0, 0)))
            out[i, 0], out[i, 1], out[i, 2] = x[0], x[1], lam[0]
        return out

    limits = np.array([-np.inf, -np.inf, np.inf, np.inf, -np.inf, 1.0])
    out = sweep(np.array([1.0, 2.0]), solver_options("ipm"), limits)
    assert out == pytest.approx(np.array([[0.5, 0.5, 1.0], [1.0, 0.0, 2.0]]), abs=1e-6)


def test_lbfgsb_never_calls_its_hessian_kernel():
    """The augmented Lagrangian gives L-BFGS-B a null Hessian function (a stand-in's
    address would make the solver uncacheable): L-BFGS-B, an order-1 method, must never
    call it.  Here it gets a Hessian kernel that poisons the result if called."""
    from symopt import abi as core_abi
    from symopt.solvers.lbfgs import solve

    @numba.njit(core_abi.value_grad_sig)
    def value_grad(x, p, data, g):
        g[0] = 2 * (x[0] - 3)
        return (x[0] - 3) ** 2

    @numba.njit(core_abi.value_sig)
    def value(x, p, data):
        return (x[0] - 3) ** 2

    @numba.njit(core_abi.value_grad_hess_sig)
    def poisoned(x, p, data, g, H):
        g[:] = math.nan  # a call would make the solve fail with NAN_ENCOUNTERED
        return math.nan

    opts = np.zeros(core_abi.N_OPTS + 2)
    opts[core_abi.OPT_GTOL], opts[core_abi.OPT_MAX_ITER] = 1e-10, 100
    opts[core_abi.OPT_BOUNDS], opts[core_abi.N_OPTS], opts[core_abi.N_OPTS + 1] = 1, 0, 2
    x = np.array([0.5])
    info = np.zeros(core_abi.N_INFO, np.int64)
    solve(value, value_grad, poisoned, x, np.empty(0), np.empty((0, 0)), opts, info,
          np.empty((0, 0)), np.empty(1), np.empty((0, 0)))
    assert info[0] == 0 and x[0] == pytest.approx(2.0)
