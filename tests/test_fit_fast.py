"""fit()'s one-call path (method "lm", no bounds): the same answers as the general path
(minimize, then the statistics), and its Jacobi SVD against numpy's pseudo-inverse."""

import warnings

import numpy as np
import pytest

import symopt as so
from symopt.errors import InputError
from symopt.fit import covariance_from_jacobian

MODEL = "a*exp(-b*t) + c"
T = np.linspace(0.0, 4.0, 20)
Y = 2.5 * np.exp(-1.3 * T) + 0.4 + 0.01 * np.random.default_rng(0).standard_normal(20)
SIGMA = np.linspace(0.01, 0.03, 20)
P0 = {"a": 1.0, "b": 1.0, "c": 0.0}


def _oracle(J):
    """(J^T J)^-1 = pinv(J) pinv(J)^T, by LAPACK's SVD through numpy."""
    pinv = np.linalg.pinv(J)
    return pinv @ pinv.T


@pytest.mark.parametrize("scales", [(1.0, 1.0, 1.0), (1e-6, 1.0, 1e6), (1e-100, 1e-96, 1e-98)])
def test_jacobi_covariance_matches_numpy_pinv(scales):
    rng = np.random.default_rng(1)
    J = rng.standard_normal((20, 3)) * np.array(scales)
    inv, full_rank = covariance_from_jacobian(J)
    assert full_rank
    # relative to each entry's scale s_i s_j (the matrix is badly scaled on purpose)
    scale = 1.0 / np.outer(scales, scales)
    np.testing.assert_allclose(inv / scale, _oracle(J) / scale, rtol=1e-10, atol=1e-12)


def test_jacobi_covariance_reports_rank_deficiency():
    rng = np.random.default_rng(2)
    J = rng.standard_normal((20, 3))
    J[:, 2] = J[:, 0] - 3.0 * J[:, 1]  # dependent columns
    inv, full_rank = covariance_from_jacobian(J)
    assert not full_rank and np.isinf(inv).all()
    J[5, 1] = np.nan
    assert not covariance_from_jacobian(J)[1]


@pytest.mark.parametrize("extra", [{}, {"sigma": SIGMA}, {"sigma": SIGMA, "absolute_sigma": True}])
def test_one_call_path_equals_the_general_path(extra):
    fast = so.fit(MODEL, p0=P0, t=T, y=Y, **extra)
    # an alias of "lm" takes the general path: minimize, then the statistics
    general = so.fit(MODEL, p0=P0, t=T, y=Y, method="levenberg-marquardt", **extra)
    assert set(fast) == set(general)
    for key in ("x", "residuals", "jacobian"):
        np.testing.assert_array_equal(fast[key], general[key])
    for key in ("fun", "nit", "nfev", "njev", "nhev", "status", "message", "success", "dof",
                "ndata", "nvarys", "model", "warnings", "method"):
        assert fast[key] == general[key], key
    np.testing.assert_allclose(fast.covariance, general.covariance, rtol=1e-12)
    np.testing.assert_allclose(fast.stderr, general.stderr, rtol=1e-12)
    assert fast.chisqr == pytest.approx(general.chisqr, rel=1e-13)
    assert fast.redchi == pytest.approx(general.redchi, rel=1e-13)
    # the gradient J^T r vanishes at the solution up to rounding in both
    bound = 1e-13 * np.abs(fast.jacobian).sum() * np.abs(fast.residuals).sum()
    np.testing.assert_allclose(fast.jac, general.jac, rtol=0, atol=bound)
    assert fast.x_dict == general.x_dict


@pytest.mark.slow
def test_one_call_path_hands_bad_input_to_the_general_path():
    y = Y.copy()
    y[4] = np.nan
    with pytest.raises(InputError, match="'y' is not finite at row 4"):
        so.fit(MODEL, p0=P0, t=T, y=y)
    with pytest.raises(InputError, match="sigma must be > 0"):
        so.fit(MODEL, p0=P0, t=T, y=Y, sigma=np.zeros(20))
    with pytest.raises(InputError, match="'sigma' is not finite"):
        so.fit(MODEL, p0=P0, t=T, y=Y, sigma=np.full(20, np.inf))
    with pytest.raises(InputError, match="not finite"):
        so.fit(MODEL, p0={"a": np.nan, "b": 1.0, "c": 0.0}, t=T, y=Y)
    # a rank-deficient Jacobian at the solution: the warning of the general path
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = so.fit("a*exp(-b*t) + c*exp(-b*t)", p0=P0, t=T, y=Y)
    assert np.isinf(f.stderr).all()
    assert any("rank deficient" in str(w.message) for w in caught)


@pytest.mark.slow
def test_one_call_path_with_two_columns_weights_params_and_a_given_model():
    # the data array is stacked in the model's column order whichever order the columns
    # are given in; sigma becomes the weights 1/sigma inside the compiled call
    rng = np.random.default_rng(3)
    x1, x2 = rng.uniform(0, 2, (2, 50))
    y = 1.5 * np.exp(-0.7 * x1) * np.cos(2.0 * x2) + 0.01 * rng.standard_normal(50)
    sigma = np.linspace(0.1, 0.2, 50)
    model = "a*exp(-b*x1)*cos(w*x2)"
    given = so.LeastSquares.from_model(model, independent=["x2", "x1"], wrt="a b", params="w")
    args = dict(params={"w": 2.0}, x1=x1, x2=x2, y=y, sigma=sigma)
    general = so.fit(model, p0={"b": 1.0, "a": 1.0}, method="levenberg-marquardt", **args)
    fast = so.fit(model, p0={"b": 1.0, "a": 1.0}, **args)
    assert fast.x_dict == general.x_dict and fast.nfev == general.nfev
    np.testing.assert_array_equal(fast.residuals, general.residuals)
    np.testing.assert_allclose(fast.stderr, general.stderr, rtol=1e-12)
    # the given model orders its variables (a, b) and columns (x2, x1) its own way
    other = so.fit(given, p0={"b": 1.0, "a": 1.0}, **args)
    assert list(other.x_dict) == ["a", "b"]
    np.testing.assert_allclose(other.x, general.x[::-1], rtol=1e-12)
    np.testing.assert_allclose(other.stderr, general.stderr[::-1], rtol=1e-10)
    np.testing.assert_allclose(other.residuals, general.residuals, rtol=0,
                               atol=1e-12 * np.abs(general.residuals).max())
