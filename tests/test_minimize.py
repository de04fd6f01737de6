"""minimize: the Python entry point; input validation, results, history."""

import numpy as np
import pytest

import symopt as so
from symopt.problem import problem_cache

ROSEN = "(1 - x)**2 + 100*(y - x**2)**2"


@pytest.fixture(scope="module")
def rosen():
    return so.Problem(ROSEN)


@pytest.mark.parametrize("method", ["newton", "bfgs"])
def test_rosenbrock_from_the_standard_start(rosen, method):
    res = so.minimize(rosen, x0={"x": -1.2, "y": 1.0}, method=method)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-7)
    assert res.fun < 1e-14
    assert np.max(np.abs(res.jac)) <= 1e-6
    assert res.x_dict == pytest.approx({"x": 1.0, "y": 1.0})
    assert res.nfev >= res.nit > 0 and res.njev >= res.nit
    assert res.status in (0, 1, 2)
    assert isinstance(res.message, str) and res.message


def test_newton_counts_hessians_and_returns_the_hessian(rosen):
    res = so.minimize(rosen, [-1.2, 1.0], method="newton")
    assert res.nhev >= res.nit
    np.testing.assert_allclose(res.hess, [[802.0, -400.0], [-400.0, 200.0]], rtol=1e-6)


def test_bfgs_returns_an_inverse_hessian_approximation(rosen):
    res = so.minimize(rosen, [-1.2, 1.0], method="bfgs")
    assert res.nhev == 0
    np.testing.assert_allclose(res.hess_inv, np.linalg.inv([[802.0, -400.0], [-400.0, 200.0]]),
                               rtol=0.2, atol=0.05)


@pytest.mark.slow
def test_gradient_descent_with_backtracking_minimises_a_quadratic():
    res = so.minimize("(x - 1)**2 + 2*(y + 3)**2 + x*y/2", [0.0, 0.0], method="gd")
    assert res.success
    A = np.array([[2.0, 0.5], [0.5, 4.0]])
    np.testing.assert_allclose(res.x, np.linalg.solve(A, [2.0, -12.0]), atol=1e-7)


def test_gradient_descent_with_a_fixed_step():
    res = so.minimize("(x - 1)**2 + (y + 3)**2", [0.0, 0.0], method="gd", step=0.25)
    assert res.success
    np.testing.assert_allclose(res.x, [1.0, -3.0], atol=1e-8)


def test_text_formula_is_accepted_directly():
    res = so.minimize("(x - 2)**2", x0=0.0)
    assert res.success and res.x[0] == pytest.approx(2.0)


def test_history_records_f_gradient_norm_and_iterates(rosen):
    res = so.minimize(rosen, [-1.2, 1.0], method="newton", history=True)
    h = res.history
    assert len(h["f"]) == res.nit + 1 == len(h["gnorm"]) == len(h["x"])
    assert h["f"][0] == pytest.approx(24.2)
    np.testing.assert_allclose(h["x"][0], [-1.2, 1.0])
    np.testing.assert_allclose(h["x"][-1], res.x)
    assert h["f"][-1] == pytest.approx(res.fun, abs=1e-20)
    assert np.all(np.diff(h["f"]) <= 0)  # a line-search method never goes uphill


def test_no_history_unless_asked(rosen):
    assert "history" not in so.minimize(rosen, [-1.2, 1.0])


def test_max_iter_reached_is_a_status_not_an_exception(rosen):
    res = so.minimize(rosen, [-1.2, 1.0], method="gd", max_iter=5)
    assert not res.success
    assert res.nit == 5
    assert "iteration" in res.message.lower()


def test_tol_sets_the_gradient_tolerance(rosen):
    loose = so.minimize(rosen, [-1.2, 1.0], method="bfgs", tol=1e-2)
    tight = so.minimize(rosen, [-1.2, 1.0], method="bfgs")
    assert loose.nit < tight.nit


def test_result_is_a_dict_with_attributes(rosen):
    res = so.minimize(rosen, [-1.2, 1.0])
    assert res["x"] is res.x
    assert "message" in repr(res) and "<table>" in res._repr_html_()


def test_nan_from_the_loss_is_reported_not_raised():
    # log(x) is NaN for x < 0: the start is fine, the first full step lands there
    res = so.minimize("x - 10*log(x)", [0.1], method="newton")
    assert res.success and res.x[0] == pytest.approx(10.0)


def test_unbounded_loss_ends_with_a_failure_status():
    for method in ("gd", "newton", "bfgs"):
        res = so.minimize("x**3 + x", [0.0], method=method, max_iter=100)
        assert not res.success, method
    assert not res.success


# --- bad input: each raises a clear InputError -----------------------------------------------

def test_x0_naming_an_unknown_variable(rosen):
    with pytest.raises(so.InputError, match="unknown variable 'z'"):
        so.minimize(rosen, {"x": 1.0, "y": 1.0, "z": 1.0})


def test_x0_missing_a_variable(rosen):
    with pytest.raises(so.InputError, match="missing the variable 'y'"):
        so.minimize(rosen, {"x": 1.0})


def test_x0_of_the_wrong_length(rosen):
    with pytest.raises(so.ShapeError, match=r"expected \(2,\)"):
        so.minimize(rosen, [1.0, 2.0, 3.0])
    with pytest.raises(so.ShapeError):
        so.minimize(rosen, [[1.0, 2.0]])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_x0(rosen, bad):
    with pytest.raises(so.InputError, match="not finite for 'x'"):
        so.minimize(rosen, [bad, 1.0])
    with pytest.raises(so.InputError, match="not finite"):
        so.compile(rosen).value([bad, 1.0])


def test_x0_that_is_not_numbers(rosen):
    with pytest.raises(so.InputError, match="numbers"):
        so.minimize(rosen, ["a", "b"])
    with pytest.raises(so.InputError, match="must be a number"):
        so.minimize(rosen, {"x": "a", "y": 1})


def test_missing_params():
    q = so.Problem("a*x**2 + b*exp(-x)", wrt="x", params="a b")
    with pytest.raises(so.InputError, match="give their values"):
        so.minimize(q, [1.0])
    with pytest.raises(so.InputError, match="missing the parameter 'b'"):
        so.minimize(q, [1.0], params={"a": 1.0})
    with pytest.raises(so.InputError, match="unknown parameter 'c'"):
        so.minimize(q, [1.0], params={"a": 1.0, "b": 1.0, "c": 2.0})
    with pytest.raises(so.InputError, match="not finite"):
        so.minimize(q, [1.0], params={"a": np.nan, "b": 1.0})


def test_params_given_to_a_problem_without_parameters(rosen):
    with pytest.raises(so.InputError, match="no parameters"):
        so.minimize(rosen, [1.0, 1.0], params={"a": 1.0})


def test_unknown_method(rosen):
    with pytest.raises(so.InputError, match="unknown method 'nelder'.*newton"):
        so.minimize(rosen, [1.0, 1.0], method="nelder")


@pytest.mark.parametrize("kwargs", [{"gtol": -1.0}, {"ftol": np.nan}, {"max_iter": -1},
                                    {"max_iter": 2.5}, {"step": 0.0}])
def test_bad_options(rosen, kwargs):
    method = "gd" if "step" in kwargs else "newton"
    with pytest.raises(so.InputError):
        so.minimize(rosen, [1.0, 1.0], method=method, **kwargs)


def test_step_is_only_for_gradient_descent(rosen):
    with pytest.raises(so.InputError, match="step"):
        so.minimize(rosen, [1.0, 1.0], method="newton", step=0.1)


def test_singular_hessian_is_handled_by_the_shift():
    # the Hessian of (x + y - 1)**2 is [[2, 2], [2, 2]]: singular everywhere
    res = so.minimize("(x + y - 1)**2", [0.0, 0.0], method="newton")
    assert res.success, res.message
    assert res.x.sum() == pytest.approx(1.0)
    assert np.linalg.matrix_rank(res.hess) == 1


def test_indefinite_hessian_at_the_start_still_descends():
    # a saddle at the origin; Newton's raw step would go to the saddle
    res = so.minimize("x**4 - x**2 + y**2", [0.1, 0.5], method="newton")
    assert res.success
    assert res.fun == pytest.approx(-0.25)
    assert abs(res.x[0]) == pytest.approx(np.sqrt(0.5))


# --- the default-options path (a plan kept on the problem) --------------------------------------


@pytest.mark.parametrize("method", ["newton", "bfgs", "gd"])
def test_default_solve_equals_the_general_path(rosen, method):
    # the same solve through the general path: an option given at its default value
    fast = so.minimize(rosen, [-1.2, 1.0], method=method)
    general = so.minimize(rosen, [-1.2, 1.0], method=method, history=True)
    assert method in problem_cache(rosen).plans
    np.testing.assert_array_equal(fast.x, general.x)
    np.testing.assert_array_equal(fast.jac, general.jac)
    for key in ("fun", "nit", "nfev", "njev", "nhev", "status", "message", "success", "method"):
        assert fast[key] == general[key], key
    assert set(general) - set(fast) == {"history"}


def test_default_solve_takes_new_params_and_starts_every_call():
    q = so.Problem("a*x**2 + b*exp(-x)", wrt="x", params="a b")
    first = so.minimize(q, [1.0], params={"a": 1.0, "b": 2.0})
    second = so.minimize(q, [3.0], params={"a": 2.0, "b": 1.0})
    # d/dx: 2 a x - b exp(-x) = 0
    for res, (a, b) in ((first, (1.0, 2.0)), (second, (2.0, 1.0))):
        x = res.x[0]
        assert res.success and abs(2 * a * x - b * np.exp(-x)) < 1e-10
    assert list(problem_cache(q).plans) == ["newton"]
    with pytest.raises(so.InputError, match="params"):
        so.minimize(q, [1.0])


def test_default_solve_does_not_alias_the_callers_start(rosen):
    x0 = np.array([-1.2, 1.0])
    res = so.minimize(rosen, x0)
    assert res.x is not x0 and list(x0) == [-1.2, 1.0]
    big_endian = np.array([-1.2, 1.0], dtype=">f8")  # not the entry's type: converted
    np.testing.assert_array_equal(so.minimize(rosen, big_endian).x, res.x)


def test_default_solve_of_explicit_residuals_returns_them():
    ls = so.LeastSquares(["10*(y - x**2)", "1 - x"])
    res = so.minimize(ls, [-1.2, 1.0], method="lm")
    np.testing.assert_allclose(res.x, [1.0, 1.0], rtol=1e-12)
    np.testing.assert_array_equal(res.jac, res.jacobian.T @ res.residuals)
    assert res.residuals.shape == (2,) and res.jacobian.shape == (2, 2)


def test_a_first_order_method_never_compiles_the_hessian_kernel():
    # a constant no other test uses makes the problem (and its kernel module) new
    problem = so.Problem("(1 - x)**2 + 100.0001234*(y - x**2)**2")
    res = so.minimize(problem, [-1.2, 1.0], method="bfgs")
    assert res.success
    module = so.compile(problem).module
    assert module.value_grad_hess.signatures == [] and module.grad.signatures == []
    assert so.minimize(problem, [-1.2, 1.0], method="newton").success
    assert len(module.value_grad_hess.signatures) == 1
