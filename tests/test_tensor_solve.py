"""symopt.tensor.minimize: the compiled solvers on array problems, checked against
published optima (NIST StRD certified values, the Rosenbrock minimiser), closed forms
and scipy."""

import numpy as np
import pytest

import symopt.tensor as st
from symopt import errors as so_errors
from symopt.errors import InputError
from symopt.nist import PROBLEMS

rng = np.random.default_rng(3)

#: NIST models as array formulas over the data vectors x, y and a parameter vector b
NIST = {
    "MGH09": "sum((y - b[0]*(x**2 + x*b[1]) / (x**2 + x*b[2] + b[3]))**2)",
    "Rat42": "sum((y - b[0] / (1 + exp(b[1] - b[2]*x)))**2)",
    "Eckerle4": "sum((y - (b[0]/b[1]) * exp(-0.5*((x - b[2])/b[1])**2))**2)",
    "BoxBOD": "sum((y - b[0]*(1 - exp(-b[1]*x)))**2)",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", NIST)
def test_nist_problems_reach_the_certified_values(name):
    nist = PROBLEMS[name]
    k = len(nist.parameters)
    problem = st.Problem(NIST[name], data={"x": "m", "y": "m"}, wrt={"b": str(k)})
    res = st.minimize(problem, {"b": np.array(nist.start2)}, "trust-exact", data=nist.data)
    assert res.success, res.message
    np.testing.assert_allclose(res.x_dict["b"], nist.certified, rtol=1e-6)
    assert res.fun == pytest.approx(nist.certified_rss, rel=1e-8)


@pytest.mark.slow
def test_least_squares_matches_the_normal_equations():
    X, y = rng.standard_normal((200, 6)), rng.standard_normal(200)
    problem = st.Problem("sum((X @ w - y)**2)/2 + 0.5*sum(w**2)", data={"X": "m d", "y": "m"},
                         wrt={"w": "d"})
    res = st.minimize(problem, {"w": np.zeros(6)}, data={"X": X, "y": y})
    assert res.method == "newton" and res.success
    exact = np.linalg.solve(X.T @ X + np.eye(6), X.T @ y)
    np.testing.assert_allclose(res.x_dict["w"], exact, rtol=1e-10)


@pytest.fixture(scope="module")
def logistic_data():
    m, d = 3000, 8
    X = rng.standard_normal((m, d))
    truth = rng.standard_normal(d)
    y = (rng.random(m) < 1 / (1 + np.exp(-(X @ truth + 0.5)))).astype(float)
    return X, y


@pytest.fixture(scope="module")
def logistic_problem():
    m, d = st.dims("m d")
    X, y = st.data("X", (m, d)), st.data("y", m)
    w, b = st.variable("w", d), st.variable("b")
    z = X @ w + b
    return st.Problem(st.mean(st.softplus(z) - y * z))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["newton", "trust-ncg", "newton-cg", "lbfgs"])
def test_logistic_regression_solves_to_scipys_optimum(method, logistic_problem, logistic_data):
    from scipy.optimize import minimize as scipy_minimize

    X, y = logistic_data
    res = st.minimize(logistic_problem, {"w": np.zeros(8), "b": 0.0}, method,
                      data={"X": X, "y": y}, gtol=1e-10)
    assert res.success, res.message

    def loss(v):
        z = X @ v[:8] + v[8]
        return np.mean(np.logaddexp(0, z) - y * z)

    def grad(v):
        r = (1 / (1 + np.exp(-(X @ v[:8] + v[8]))) - y) / len(y)
        return np.r_[X.T @ r, r.sum()]

    ref = scipy_minimize(loss, np.zeros(9), jac=grad, method="BFGS", options={"gtol": 1e-12})
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-6, atol=1e-8)
    assert set(res.x_dict) == {"w", "b"} and res.x_dict["w"].shape == (8,)
    if method == "newton":
        assert res.nit <= 10


@pytest.mark.slow
@pytest.mark.parametrize("method", ["trust-ncg", "newton-cg"])
def test_extended_rosenbrock_from_the_standard_start(method):
    problem = st.Problem("sum(100*(x[1::2] - x[::2]**2)**2 + (1 - x[::2])**2)", wrt={"x": "n"},
                         even="n")
    x0 = np.tile([-1.2, 1.0], 5000)
    res = st.minimize(problem, {"x": x0}, method, gtol=1e-8)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, 1.0, atol=1e-7)
    assert res.nhev > 0 and res.dims == {"n": 10_000}


def test_default_method_depends_on_size():
    from symopt.tensor.minimize import default_method

    assert default_method(100) == "newton"
    assert default_method(1_000_000) == "trust-ncg"


def test_bad_method_and_options_are_input_errors(logistic_problem, logistic_data):
    X, y = logistic_data
    x0 = {"w": np.zeros(8), "b": 0.0}
    with pytest.raises(InputError, match="unknown method"):
        st.minimize(logistic_problem, x0, "simplex", data={"X": X, "y": y})
    with pytest.raises(InputError, match="radius"):
        st.minimize(logistic_problem, x0, "newton-cg", data={"X": X, "y": y}, radius=2.0)
    with pytest.raises(InputError, match="NaN"):
        st.minimize(logistic_problem, {"w": np.full(8, np.nan), "b": 0.0}, data={"X": X, "y": y})


@pytest.mark.slow
def test_a_loss_that_overflows_ends_with_a_status_not_an_exception():
    problem = st.Problem("sum(exp(x**3))", wrt={"x": "n"})
    res = st.minimize(problem, {"x": np.full(3, 5.0)}, "trust-ncg", max_iter=50)
    assert isinstance(res.status, int) and res.message


@pytest.mark.slow
def test_bounds_keep_array_variables_in_their_box():
    """Nonnegative least squares: L-BFGS-B on an array formula agrees with scipy's nnls."""
    from scipy.optimize import nnls

    A, y = rng.standard_normal((60, 7)), rng.standard_normal(60)
    problem = st.Problem("sum((A @ w - y)**2)", data={"A": "m d", "y": "m"}, wrt={"w": "d"})
    res = st.minimize(problem, {"w": np.ones(7)}, "lbfgs", data={"A": A, "y": y},
                      bounds={"w": (0, None)}, gtol=1e-10)
    assert res.success and (res.x_dict["w"] >= 0).all()
    np.testing.assert_allclose(res.x_dict["w"], nnls(A, y)[0], atol=1e-7)
    with pytest.raises(InputError, match="does not take bounds"):
        st.minimize(problem, {"w": np.ones(7)}, "newton", data={"A": A, "y": y},
                    bounds={"w": (0, None)})


@pytest.mark.slow
def test_banded_newton_is_the_default_for_large_separable_problems():
    problem = st.Problem("sum(100*(x[1::2] - x[::2]**2)**2 + (1 - x[::2])**2)", wrt={"x": "n"},
                         even="n")
    res = st.minimize(problem, {"x": np.tile([-1.2, 1.0], 5000)}, gtol=1e-8)
    assert res.method == "banded-newton" and res.success
    assert res.nit <= 25  # Newton's iterations on 2-D Rosenbrock from (-1.2, 1)
    np.testing.assert_allclose(res.x, 1.0, atol=1e-9)
    assert res.hess_band.shape == (10_000, 2)
    dense_only = st.Problem("sum(x)**2 + sum(x**4)", wrt={"x": "n"})
    with pytest.raises(so_errors.ProblemError, match="constant coefficients"):
        st.minimize(dense_only, {"x": np.ones(600)}, "banded-newton")
    assert st.minimize(dense_only, {"x": np.ones(600)}, gtol=1e-6).method == "trust-ncg"
