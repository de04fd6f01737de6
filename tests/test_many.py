"""minimize_many: many problems in one parallel call, checked against the true parameters
of synthetic data, scipy, and closed-form stationarity conditions; shapes, NaN
isolation, ragged data, statuses, progress output, pickling and the example."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize

import symopt as so
from symopt import many
from symopt.solvers import status

ROOT = Path(__file__).resolve().parent.parent
T = np.linspace(0.0, 5.0, 20)
TRUE = np.array([[1.0, 1.0, 0.5], [2.0, 0.5, 0.1], [3.0, 2.0, -0.3], [0.5, 3.0, 1.0],
                 [4.0, 0.8, 0.0], [1.5, 1.5, 2.0]])
X0 = [1.0, 1.0, 0.0]


def decay(params, t=T):
    params = np.atleast_2d(params)
    return params[:, :1] * np.exp(-t / params[:, 1:2]) + params[:, 2:]


@pytest.fixture(scope="module")
def model():
    return so.LeastSquares.from_model("a*exp(-t/tau) + c", independent="t", wrt="a tau c")


@pytest.fixture(scope="module")
def noisy():
    rng = np.random.default_rng(7)
    return decay(TRUE) + 0.02 * rng.standard_normal((len(TRUE), T.size))


@pytest.fixture(scope="module")
def quadratic():
    return so.Problem("a*x**2 + b*exp(-x)", wrt="x", params="a b")


# --- correctness ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lm", "gn"])
def test_noise_free_fits_recover_the_true_parameters(model, method):
    res = so.minimize_many(model, x0=X0, data={"t": T, "y": decay(TRUE)}, method=method)
    assert res.x.shape == TRUE.shape
    for name in ("fun", "nit", "nfev", "njev", "status", "success"):
        assert getattr(res, name).shape == (len(TRUE),)
    assert res.success.all(), res
    np.testing.assert_allclose(res.x, TRUE, rtol=1e-7, atol=1e-8)
    assert (res.fun < 1e-20).all()
    assert (res.nit > 0).all() and (res.njev > 0).all()


@pytest.mark.slow
def test_noisy_fits_match_scipy_least_squares(model, noisy):
    res = so.minimize_many(model, x0=X0, data={"t": T, "y": noisy}, method="lm")
    for i, y in enumerate(noisy):
        ref = scipy.optimize.least_squares(
            lambda q: y - decay(q)[0], X0, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)
        np.testing.assert_allclose(res.x[i], ref.x, rtol=1e-6, atol=1e-9)
        assert res.fun[i] == pytest.approx(ref.cost, rel=1e-9)


@pytest.mark.slow
def test_per_problem_starts_and_shared_data(model):
    # one dataset, a different start per problem: all reach the same minimiser
    starts = np.array([[1.0, 1.0, 0.0], [3.0, 2.0, 1.0], [0.5, 0.5, -1.0]])
    res = so.minimize_many(model, x0=starts, data={"t": T, "y": decay(TRUE[2])[0]}, method="lm")
    np.testing.assert_allclose(res.x, np.tile(TRUE[2], (3, 1)), rtol=1e-7)


def test_batch_equals_one_solve_per_problem(model, noisy):
    res = so.minimize_many(model, x0=X0, data={"t": T, "y": noisy}, method="lm")
    for i in (0, 3):
        one = so.minimize(model, X0, method="lm", data={"t": T, "y": noisy[i]})
        np.testing.assert_allclose(res.x[i], one.x, rtol=1e-13)
        assert (res.nit[i], res.nfev[i], res.status[i]) == (one.nit, one.nfev, one.status)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["newton", "bfgs", "gd"])
def test_scalar_methods_with_per_problem_parameters(quadratic, method):
    # minimum of a x^2 + b exp(-x): 2 a x = b exp(-x), x = W(b / 2a), the Lambert W function
    params = np.array([[1.0, 2.0], [2.0, 1.0], [0.5, 3.0], [1.0, 0.1]])
    res = so.minimize_many(quadratic, x0=[1.0], params=params, method=method)
    assert res.success.all(), res
    from scipy.special import lambertw

    expected = lambertw(params[:, 1] / (2 * params[:, 0])).real
    np.testing.assert_allclose(res.x[:, 0], expected, rtol=1e-7)


@pytest.mark.slow
def test_scalar_method_on_per_problem_data(model):
    # Newton on the model's scalar loss reads each problem's own data row
    res = so.minimize_many(model, x0=X0, data={"t": T, "y": decay(TRUE[:3])}, method="newton")
    assert res.success.all(), res
    np.testing.assert_allclose(res.x, TRUE[:3], rtol=1e-7, atol=1e-9)
    assert (res.nhev > 0).all()


@pytest.mark.slow
def test_params_and_starts_by_name(quadratic):
    res = so.minimize_many(quadratic, x0={"x": [1.0, 0.0, 2.0]},
                           params={"a": 1.0, "b": np.array([2.0, 2.0, 2.0])}, method="newton")
    assert res.x.shape == (3, 1)
    np.testing.assert_allclose(res.x_dict["x"], 0.5671432904097838, rtol=1e-10)


def test_ragged_data_through_offsets(model):
    lengths = [5, 20, 9, 40]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    t = np.concatenate([np.linspace(0.0, 4.0, m) for m in lengths])
    y = np.concatenate([decay(TRUE[i], np.linspace(0.0, 4.0, m))[0] for i, m in enumerate(lengths)])
    res = so.minimize_many(model, x0=X0, data={"t": t, "y": y}, offsets=offsets, method="lm")
    assert res.success.all(), res
    np.testing.assert_allclose(res.x, TRUE[:4], rtol=1e-6, atol=1e-8)


def test_per_problem_sigma_weights_the_fit(model, noisy):
    sigma = np.ones_like(noisy)
    sigma[1, :10] = 1e-3  # problem 1: the first ten points dominate
    res = so.minimize_many(model, x0=X0, data={"t": T, "y": noisy, "sigma": sigma}, method="lm")
    y = noisy[1]
    ref = scipy.optimize.least_squares(lambda q: (y - decay(q)[0]) / sigma[1], X0, method="lm",
                                       xtol=1e-15, ftol=1e-15, gtol=1e-15)
    np.testing.assert_allclose(res.x[1], ref.x, rtol=1e-6)


def test_explicit_residuals_batched():
    rosenbrock = so.LeastSquares(["10*(y - x**2)", "1 - x"])
    res = so.minimize_many(rosenbrock, x0=[[-1.2, 1.0], [2.0, -3.0], [0.0, 0.0]], method="lm")
    np.testing.assert_allclose(res.x, np.ones((3, 2)), rtol=1e-10)


def test_one_thread_and_two_give_the_same_results(model, noisy):
    data = {"t": T, "y": np.tile(noisy, (40, 1))}
    one = so.minimize_many(model, x0=X0, data=data, method="lm", threads=1, chunk_size=50)
    two = so.minimize_many(model, x0=X0, data=data, method="lm")
    np.testing.assert_array_equal(one.x, two.x)
    np.testing.assert_array_equal(one.nfev, two.nfev)


# --- failures stay in their own problem --------------------------------------------------


def test_nan_in_one_problem_leaves_the_others_untouched(model, noisy):
    clean = so.minimize_many(model, x0=X0, data={"t": T, "y": noisy}, method="lm")
    y = noisy.copy()
    y[2, 7] = np.nan
    x0 = np.tile(X0, (len(y), 1))
    x0[4, 1] = np.inf
    sigma = np.ones_like(y)
    sigma[5, 0] = 0.0
    res = so.minimize_many(model, x0=x0, data={"t": T, "y": y, "sigma": sigma}, method="lm")
    bad = [2, 4, 5]
    assert res.status[bad].tolist() == [status.INVALID_INPUT] * 3
    assert not res.success[bad].any() and np.isnan(res.fun[bad]).all()
    assert "NaN or Inf" in res.message(2)
    good = [0, 1, 3]
    np.testing.assert_array_equal(res.x[good], clean.x[good])
    np.testing.assert_array_equal(res.status[good], clean.status[good])


@pytest.mark.slow
def test_a_problem_whose_solve_fails_reports_its_own_status(quadratic):
    # b = -1: a x^2 - exp(-x) is unbounded below; the others converge as usual
    res = so.minimize_many(quadratic, x0=[0.0], params=[[1.0, 2.0], [1.0, -1.0], [2.0, 1.0]],
                           method="newton")
    assert res.success.tolist() == [True, False, True]
    assert res.status[1] != status.INVALID_INPUT


def test_empty_batch_returns_an_empty_result(model):
    res = so.minimize_many(model, x0=np.empty((0, 3)), data={"t": T, "y": np.empty((0, 20))},
                           method="lm")
    assert len(res) == 0 and res.x.shape == (0, 3) and res.fun.shape == (0,)
    assert "0 problems" in repr(res)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    ({"x0": np.ones((4, 2))}, r"x0 has shape \(4, 2\); expected \(3,\).*\(k, 3\)"),
    ({"data": {"t": T, "y": np.ones((6, 19))}}, r"different numbers of rows m"),
    ({"data": {"t": T, "y": np.ones((5, 20))}, "x0": np.ones((6, 3))},
     r"different numbers of problems: x0: 6, data\['y'\]: 5"),
    ({"data": {"t": T, "y": np.ones(20)}}, r"number of problems is unknown"),
    ({"data": {"t": T, "y": np.ones((2, 20))}, "offsets": [0, 20, 40]},
     r"with offsets, data column 't' must be flat"),
    ({"data": {"t": np.ones(10), "y": np.ones(10)}, "offsets": [0, 6, 5, 10]},
     r"never decrease"),
    ({"data": {"t": T, "y": np.ones((2, 20)), "z": T}}, r"unknown data column"),
    ({"data": {"y": np.ones((2, 20))}}, r"missing the column"),
    ({"data": {"t": T, "y": np.ones((2, 2, 20))}}, r"data column 'y' has shape \(2, 2, 20\)"),
])
def test_bad_shapes_raise_clear_errors(model, kwargs, match):
    args = {"x0": X0, "data": {"t": T, "y": np.ones((2, 20))}, "method": "lm", **kwargs}
    with pytest.raises(so.InputError, match=match):
        so.minimize_many(model, **args)


def test_unknown_option_is_an_input_error(quadratic):
    with pytest.raises(so.InputError, match="unknown option"):
        so.minimize_many(quadratic, x0=[[1.0]], params=[1.0, 1.0], method="newton", gtool=1e-3)


@pytest.mark.slow
def test_options_reach_every_solve(quadratic):
    params = np.array([[1.0, 2.0], [2.0, 1.0]])
    res = so.minimize_many(quadratic, x0=[3.0], params=params, method="gd", max_iter=2)
    assert res.nit.tolist() == [2, 2] and (res.status == status.MAX_ITER).all()


def test_least_squares_method_on_a_scalar_problem_is_an_error(quadratic):
    with pytest.raises(so.ProblemError, match="LeastSquares"):
        so.minimize_many(quadratic, x0=[[1.0]], params=[1.0, 1.0], method="lm")
    with pytest.raises(so.InputError, match="unknown method"):
        so.minimize_many(quadratic, x0=[[1.0]], params=[1.0, 1.0], method="simplex")


@pytest.mark.slow
def test_every_method_runs_batched():
    # any method of minimize's table, including ones added later, gets a batched entry
    from symopt._binding import batch_entry_point

    assert all(batch_entry_point(method) is not None for method in so.METHODS)


# --- the result object, progress --------------------------------------------------------------


def test_batch_result_summary(model, noisy):
    y = noisy.copy()
    y[0, 0] = np.nan
    res = so.minimize_many(model, x0=X0, data={"t": T, "y": y}, method="lm")
    text = repr(res)
    assert f"{len(y)} problems" in text and "INVALID_INPUT" in text
    assert sum(res.status_counts.values()) == len(y)
    assert res.status_counts["INVALID_INPUT"] == 1
    assert set(res.messages) == set(np.unique(res.status).tolist())
    assert "<table>" in res._repr_html_()
    one = res[1]
    assert one.x_dict["tau"] == res.x_dict["tau"][1] and one.success == res.success[1]


@pytest.mark.slow
def test_progress_is_shown_for_long_batches_only(model, noisy, monkeypatch, capsys):
    data = {"t": T, "y": np.tile(noisy, (20, 1))}
    so.minimize_many(model, x0=X0, data=data, method="lm", chunk_size=10)
    assert capsys.readouterr().err == ""  # a short batch: silent
    monkeypatch.setattr(many, "PROGRESS_AFTER", 0.0)
    so.minimize_many(model, x0=X0, data=data, method="lm", chunk_size=10, verbose=False)
    assert capsys.readouterr().err == ""
    so.minimize_many(model, x0=X0, data=data, method="lm", chunk_size=10)
    assert "120" in capsys.readouterr().err


def test_progress_without_tqdm_is_one_stderr_line(model, noisy, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    monkeypatch.setattr(many, "PROGRESS_AFTER", 0.0)
    data = {"t": T, "y": np.tile(noisy, (20, 1))}
    so.minimize_many(model, x0=X0, data=data, method="lm", chunk_size=10)
    err = capsys.readouterr().err
    assert "\rminimize_many (lm): problem 120/120 (100%," in err and err.endswith("\n")


def test_problems_pickle_after_compiling(model, noisy):
    so.minimize_many(model, x0=X0, data={"t": T, "y": noisy}, method="lm")  # compiled
    copy = pickle.loads(pickle.dumps(model))
    assert copy.variable_names == model.variable_names and copy.expr == model.expr
    res = so.minimize_many(copy, x0=X0, data={"t": T, "y": noisy[:2]}, method="lm")
    assert res.success.all()


def test_docstring_examples_run():
    import doctest

    assert doctest.testmod(many, optionflags=doctest.ELLIPSIS).failed == 0


def test_batched_doc_examples_run():
    import re

    text = (ROOT / "docs" / "batched.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace: dict = {}
    for block in blocks:
        if "dask" not in block:  # the Dask block needs a big array; tests/test_dask.py runs it
            exec(compile(block, "docs/batched.md", "exec"), namespace)  # noqa: S102
    assert namespace["res"].success.all() and namespace["res"].x.shape == (3, 3)


# --- the example --------------------------------------------------------------------------


@pytest.mark.slow
def test_decay_map_example_runs_small(tmp_path):
    env = {**os.environ, "SYMOPT_EXAMPLE_SMALL": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "decay_map.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "median relative error of tau" in proc.stdout
    error = float(proc.stdout.split("median relative error of tau:")[1].split()[0])
    assert error < 0.05
