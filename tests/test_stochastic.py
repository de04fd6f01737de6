"""Mini-batch SGD and Adam (symopt.stochastic), checked against NumPy re-implementations
of the same updates, against Newton's minimum, and for every bad input."""

import numpy as np
import pytest

import symopt as so
from symopt.solvers import status

ROWS = 600


@pytest.fixture(scope="module")
def problem():
    """A logistic loss with labels 0/1 (mean, regularised), compiled once."""
    loss = so.DataLoss("softplus(b + w*x) - y*(b + w*x)", data="x y", wrt="b w",
                       reduce="mean", regularization="0.01*w**2")
    data, _ = so.datasets.logistic(ROWS, 1, seed=7)
    data = {"x": data["x0"], "y": data["y"]}
    return loss, data


def _grad_numpy(theta, x, y, reduce, rows_total):
    z = theta[0] + theta[1] * x
    s = 1 / (1 + np.exp(-z)) - y
    g = np.array([s.sum(), (s * x).sum()])
    g *= (1 / len(x)) if reduce == "mean" else rows_total / len(x)
    return g + np.array([0.0, 0.02 * theta[1]])


@pytest.mark.slow
def test_same_seed_same_result_and_another_seed_differs(problem):
    loss, data = problem
    runs = [so.minimize(loss, [0, 0], data=data, method="adam", batch_size=50, epochs=3, seed=s,
                        step=0.05) for s in (1, 1, 2)]
    assert np.array_equal(runs[0].x, runs[1].x)
    assert not np.array_equal(runs[0].x, runs[2].x)
    assert runs[0].status == status.EPOCHS_DONE and runs[0].success
    assert runs[0].nit == 3 * 12 and runs[0].epochs == 3 and len(runs[0].history["loss"]) == 3


@pytest.mark.slow
@pytest.mark.parametrize("method, momentum", [("sgd", 0.0), ("sgd", 0.9), ("adam", None)])
def test_updates_match_a_numpy_reimplementation(problem, method, momentum):
    loss, data = problem
    batch, epochs, lr, seed = 128, 2, 0.1, 3  # 600 rows: 4 full batches and one of 88
    res = so.minimize(loss, [0.2, -0.1], data=data, method=method, batch_size=batch,
                      epochs=epochs, seed=seed, step=lr, momentum=momentum)
    rng = np.random.default_rng(seed)
    theta = np.array([0.2, -0.1])
    m = np.zeros(2)
    v = np.zeros(2)
    t = 0
    for _ in range(epochs):
        order = rng.permutation(ROWS)
        for start in range(0, ROWS, batch):
            rows = order[start:start + batch]
            g = _grad_numpy(theta, data["x"][rows], data["y"][rows], "mean", ROWS)
            t += 1
            if method == "sgd":
                m = momentum * m + g
                theta = theta - lr * m
            else:
                m = 0.9 * m + 0.1 * g
                v = 0.999 * v + 0.001 * g * g
                theta = theta - lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(res.x, theta, rtol=1e-11, atol=1e-13)
    assert res.nit == t


@pytest.mark.slow
def test_sum_reduction_scales_the_row_part_of_a_batch_gradient_only():
    loss = so.DataLoss("softplus(b + w*x) - y*(b + w*x)", data="x y", wrt="b w",
                       regularization="0.01*w**2")  # reduce="sum"
    data, _ = so.datasets.logistic(100, 1, seed=8)
    x, y = data["x0"], data["y"]
    res = so.minimize(loss, [0.0, 0.0], data={"x": x, "y": y}, method="sgd", batch_size=25,
                      epochs=1, seed=0, step=1e-3)
    order = np.random.default_rng(0).permutation(100)
    theta = np.zeros(2)
    for start in range(0, 100, 25):
        rows = order[start:start + 25]
        theta = theta - 1e-3 * _grad_numpy(theta, x[rows], y[rows], "sum", 100)
    np.testing.assert_allclose(res.x, theta, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("method, step", [("adam", 0.05), ("sgd", 0.5)])
def test_training_reaches_the_newton_minimum(problem, method, step):
    loss, data = problem
    newton = so.minimize(loss, [0, 0], data=data)
    res = so.minimize(loss, [0, 0], data=data, method=method, batch_size=ROWS, epochs=300,
                      step=step, seed=0, verbose=False)
    np.testing.assert_allclose(res.x, newton.x, atol=2e-3)
    assert res.fun == pytest.approx(newton.fun, abs=1e-6)
    np.testing.assert_allclose(res.jac, so.compile(loss).grad(res.x, data=data))


@pytest.mark.slow
def test_validation_split_and_early_stopping_return_the_best_point(problem):
    loss, data = problem
    res = so.minimize(loss, [3.0, -3.0], data=data, method="sgd", batch_size=32, epochs=200,
                      step=0.3, seed=5, validation=0.25, patience=2, verbose=False)
    assert res.status == status.EARLY_STOPPED and res.success
    val = res.history["val_loss"]
    assert res.epochs == len(val) < 200
    assert np.argmin(val) == len(val) - 3  # no improvement in the last `patience` epochs
    # the returned x is the best epoch's: its validation loss is the minimum of the history
    rng = np.random.default_rng(5)
    held = np.sort(rng.permutation(ROWS)[:150])
    k = so.compile(loss)
    assert k.value(res.x, data={"x": data["x"][held], "y": data["y"][held]}) == pytest.approx(val.min(), rel=1e-12)


@pytest.mark.slow
def test_nan_stops_with_the_last_finite_iterate():
    loss = so.DataLoss("(log(w) - y)**2", data="y", wrt="w")
    res = so.minimize(loss, [1.0], data={"y": np.full(10, -3.0)}, method="sgd", batch_size=5,
                      epochs=5, step=100.0, seed=0)
    assert res.status == status.NAN_ENCOUNTERED and not res.success
    assert np.isfinite(res.x).all() and res.x[0] > 0


def test_progress_bar_shows_the_loss(problem, capsys):
    loss, data = problem
    so.minimize(loss, [0, 0], data=data, method="adam", batch_size=100, epochs=3, seed=0,
                verbose=True)
    assert "loss=" in capsys.readouterr().err
    so.minimize(loss, [0, 0], data=data, method="adam", batch_size=100, epochs=3, seed=0,
                verbose=False)
    assert capsys.readouterr().err == ""


def test_progress_without_tqdm_is_one_stderr_line(problem, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    loss, data = problem
    so.minimize(loss, [0, 0], data=data, method="sgd", batch_size=100, epochs=3, seed=0,
                verbose=True)
    err = capsys.readouterr().err
    assert "\rsymopt sgd: epoch 3/3 (100%," in err and " loss=" in err and err.endswith("\n")


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="adam", batch_size=601), "batch_size=601 is larger than the 600 training rows"),
    (dict(method="adam", batch_size=500, validation=0.5), "larger than the 300 training rows"),
    (dict(method="adam", batch_size=0), "batch_size must be a positive integer"),
    (dict(method="sgd", epochs=2.5), "epochs must be a positive integer"),
    (dict(method="sgd", patience=3), "patience .* needs a validation split"),
    (dict(method="sgd", validation=1.5), r"validation must be in \(0.0, 1.0\)"),
    (dict(method="sgd", step=-1.0), r"step must be in \(0.0, inf\)"),
    (dict(method="sgd", momentum=1.0), r"momentum must be in \[0.0, 1.0\)"),
    (dict(method="sgd", beta2=0.9), "beta2 and eps are options of method 'adam'"),
    (dict(method="newton", batch_size=10), "apply to the mini-batch methods"),
    (dict(method="adam", epochs=2, gtol=1e-5), "tol, gtol, ftol"),
    (dict(method="newton", seed=1), "options of mini-batch training"),
    (dict(method="newton", momentum=0.9), "momentum= is an option of momentum, nesterov, adam"),
    (dict(method="adam", epochs=1, memory=5), "memory do not apply to mini-batch training"),
])
def test_bad_options_are_clear_errors(problem, kwargs, match):
    loss, data = problem
    with pytest.raises(so.InputError, match=match):
        so.minimize(loss, [0, 0], data=data, **kwargs)


def test_misspelt_option_names_itself(problem):
    loss, data = problem
    with pytest.raises(TypeError, match="mometum"):
        so.minimize(loss, [0, 0], data=data, method="adam", epochs=1, mometum=0.9)


def test_minibatch_needs_a_loss_over_data():
    with pytest.raises(so.InputError, match="use a symopt.DataLoss"):
        so.minimize("(x - 1)**2", [0.0], method="sgd")
