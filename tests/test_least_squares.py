"""LeastSquares problems: residuals, exact Jacobians, data binding and its errors."""

import numpy as np
import pytest
import sympy

import symopt as so
from symopt import testproblems

DECAY = "a*exp(-t/tau) + c"


@pytest.fixture(scope="module")
def decay():
    return so.LeastSquares.from_model(DECAY, independent="t", wrt="a tau c")


@pytest.fixture(scope="module")
def decay_data():
    t = np.linspace(0.0, 5.0, 20)
    return {"t": t, "y": 3.0 * np.exp(-t / 1.5) + 0.5}


def test_explicit_residuals_have_an_exact_jacobian():
    ls = so.LeastSquares(["10*(y - x**2)", "1 - x"])
    x, y = ls.variables
    assert ls.jacobian == sympy.Matrix([[-20 * x, 10], [-1, 0]])
    assert sympy.expand(ls.expr - ((10 * (y - x**2)) ** 2 + (1 - x) ** 2) / 2) == 0
    k = so.compile(ls)
    np.testing.assert_allclose(k.residuals([0.5, 0.5]), [2.5, 0.5])
    np.testing.assert_allclose(k.jacobian([0.5, 0.5]), [[-10.0, 10.0], [-1.0, 0.0]])


def _complex_step_jacobian(residual_values, x, h=1e-30):
    x = np.asarray(x, dtype=complex)
    cols = []
    for j in range(x.size):
        xp = x.copy()
        xp[j] += 1j * h
        cols.append(np.imag(residual_values(xp)) / h)
    return np.array(cols).T


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rosenbrock", "beale", "box_3d", "bard", "wood", "kowalik_osborne"])
def test_jacobian_kernels_match_complex_step_on_mgh_problems(name):
    tp = testproblems.get(name)
    ls = so.LeastSquares(list(tp.residuals), wrt=tp.variables)
    k = so.compile(ls)
    rng = np.random.default_rng(1)
    x = np.asarray(tp.x0) * (1 + 0.1 * rng.standard_normal(tp.n)) + 0.05
    np.testing.assert_allclose(k.residuals(x), tp.residual_values(x), rtol=1e-13, atol=1e-13)
    values = sympy.lambdify([ls.variables], list(ls.residual_exprs), "numpy")
    J_ref = _complex_step_jacobian(lambda z: np.array(values(z), dtype=complex), x)
    np.testing.assert_allclose(k.jacobian(x), J_ref, rtol=1e-10, atol=1e-12)


def test_model_residuals_loop_over_data_rows(decay, decay_data):
    k = so.compile(decay)
    x = [2.0, 1.0, 0.1]
    t, y = decay_data["t"], decay_data["y"]
    np.testing.assert_allclose(k.residuals(x, data=decay_data), y - (2.0 * np.exp(-t) + 0.1))
    J = k.jacobian(x, data=decay_data)
    np.testing.assert_allclose(J[:, 0], -np.exp(-t))
    np.testing.assert_allclose(J[:, 1], -2.0 * t * np.exp(-t))
    np.testing.assert_allclose(J[:, 2], -1.0)


def test_sigma_weights_the_residuals(decay, decay_data):
    k = so.compile(decay)
    sigma = np.linspace(0.5, 2.0, 20)
    r = k.residuals([2.0, 1.0, 0.1], data=decay_data)
    rw = k.residuals([2.0, 1.0, 0.1], data={**decay_data, "sigma": sigma})
    np.testing.assert_allclose(rw, r / sigma)


def test_one_compilation_serves_data_of_any_length(decay):
    k = so.compile(decay)
    for rows in (3, 50, 1000):
        t = np.linspace(0, 4, rows)
        assert k.residuals([1.0, 1.0, 0.0], data={"t": t, "y": np.exp(-t)}).shape == (rows,)


@pytest.mark.slow
def test_scalar_methods_minimise_the_sum_over_rows(decay, decay_data):
    res = so.minimize(decay, [1.0, 1.0, 0.0], method="newton", data=decay_data)
    assert res.success
    np.testing.assert_allclose(res.x, [3.0, 1.5, 0.5], rtol=1e-8)


@pytest.mark.slow
def test_several_independent_variables():
    model = so.LeastSquares.from_model("a*x1 + b*x2**2 + c", independent="x1 x2")
    assert model.variable_names == ("a", "b", "c")
    rng = np.random.default_rng(0)
    x1, x2 = rng.uniform(-1, 1, (2, 30))
    data = {"x1": x1, "x2": x2, "y": 2 * x1 - 3 * x2**2 + 0.5}
    res = so.minimize(model, [0.0, 0.0, 0.0], data=data)
    np.testing.assert_allclose(res.x, [2.0, -3.0, 0.5], atol=1e-10)


# --- errors -----------------------------------------------------------------------------

def test_model_must_use_its_independent_variable():
    with pytest.raises(so.ProblemError, match="does not use the independent variable 't'"):
        so.LeastSquares.from_model("a*x + b", independent="t")


def test_model_must_not_use_the_dependent_variable():
    with pytest.raises(so.ProblemError, match="dependent"):
        so.LeastSquares.from_model("a*t + y", independent="t")


@pytest.mark.parametrize("data,match", [
    (None, "pass data"),
    ({"t": [1.0, 2.0]}, "missing the column 'y'"),
    ({"t": [1.0, 2.0], "y": [1.0, 2.0], "z": [0.0, 0.0]}, "unknown data column 'z'"),
    ({"t": [1.0, 2.0], "y": [1.0]}, "different lengths"),
    ({"t": [1.0, np.nan], "y": [1.0, 2.0]}, "column 't' is not finite at row 1"),
    ({"t": ["a", "b"], "y": [1.0, 2.0]}, "not numeric"),
    ({"t": [], "y": []}, "empty"),
    ({"t": [1.0, 2.0], "y": [1.0, 2.0], "sigma": [1.0, 0.0]}, "sigma must be > 0"),
    ({"t": [[1.0, 2.0]], "y": [[1.0, 2.0]]}, "1-D"),
])
def test_bad_data_is_a_clear_error(decay, data, match):
    with pytest.raises(so.InputError, match=match):
        so.minimize(decay, [1.0, 1.0, 0.0], data=data)


def test_data_given_to_a_problem_without_data():
    with pytest.raises(so.InputError, match="reads no data"):
        so.minimize("x**2", [1.0], data={"t": [1.0]})


def test_least_squares_needs_residuals():
    with pytest.raises(so.ProblemError, match="at least one residual"):
        so.LeastSquares([])
