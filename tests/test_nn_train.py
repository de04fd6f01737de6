"""symopt.nn training: optimizers, determinism, validation and early stopping, NaN
handling, real data (scikit-learn's digits and breast cancer)."""

import numpy as np
import pytest

from symopt import ShapeError, nn
from symopt.solvers import status

rng = np.random.default_rng(7)


def _blobs(n=300, d=4, k=3, seed=0):
    r = np.random.default_rng(seed)
    centers = r.standard_normal((k, d)) * 3
    y = r.integers(0, k, n)
    return centers[y] + r.standard_normal((n, d)), y


@pytest.mark.parametrize("method", ["sgd", "momentum", "nesterov", "adam"])
def test_every_optimizer_learns_separable_blobs(method):
    X, y = _blobs()
    net = nn.mlp([4, 8, 3])
    res = net.fit(X, y, method=method, epochs=15, batch_size=32, lr=0.05 if method == "adam" else None)
    assert res.success and res.status == status.EPOCHS_DONE and res.epochs == 15
    assert res.history["loss"][-1] < 0.5 * res.history["loss"][0]
    assert net.accuracy(res.weights, X, y) > 0.95
    assert res.nit == 15 * int(np.ceil(300 / 32))


def test_training_is_deterministic_for_a_seed():
    X, y = _blobs()
    net = nn.mlp([4, 5, 3], activation="relu")
    a = net.fit(X, y, epochs=3, seed=3, batch_size=16)
    b = net.fit(X, y, epochs=3, seed=3, batch_size=16)
    c = net.fit(X, y, epochs=3, seed=4, batch_size=16)
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert not np.array_equal(a.weights["W1"], c.weights["W1"])


def test_schedules_scale_the_learning_rate():
    X, y = _blobs(n=64)
    net = nn.mlp([4, 3])
    res = net.fit(X, y, method="sgd", lr=0.1, epochs=4, schedule="step",
                  schedule_options={"step_size": 2, "gamma": 0.5})
    assert res.history["lr"] == [0.1, 0.1, 0.05, 0.05]
    res = net.fit(X, y, method="sgd", lr=0.1, epochs=2, schedule=lambda e: 1 / (1 + e))
    assert res.history["lr"] == [0.1, 0.05]
    res = net.fit(X, y, method="adam", lr=0.1, epochs=2, schedule="cosine")
    assert res.history["lr"] == pytest.approx([0.1, 0.05])


def test_validation_history_and_early_stopping_restore_the_best_weights():
    X, y = _blobs(n=200)
    y = y.copy()
    y[:60] = rng.integers(0, 3, 60)        # label noise: the validation loss turns up
    net = nn.mlp([4, 16, 3])
    res = net.fit(X, y, method="adam", lr=0.05, epochs=200, batch_size=16, validation_split=0.3,
                  patience=3)
    assert res.status == status.EARLY_STOPPED and res.success
    assert len(res.history["val_loss"]) == len(res.history["val_accuracy"]) == res.epochs < 200
    best = int(np.argmin(res.history["val_loss"])) + 1
    assert res.best_epoch == best and res.epochs == best + 3
    order = np.random.default_rng(0).permutation(200)
    val = order[:60]
    assert net.value(res.weights, X[val], y[val]) == pytest.approx(min(res.history["val_loss"]))


def test_nan_ends_the_run_with_a_status_and_the_last_finite_weights():
    X = rng.standard_normal((50, 3)) * 10
    Y = rng.standard_normal((50, 1))
    net = nn.mlp([3, 1], loss="mse")
    res = net.fit(X, Y, method="sgd", lr=10.0, epochs=50, batch_size=10)
    assert res.status == status.NAN_ENCOUNTERED and not res.success
    assert "NaN or Inf" in res.message
    assert all(np.all(np.isfinite(v)) for v in res.weights.values())
    assert np.isfinite(res.fun) and res.nit < 50 * 5      # fun: their batch loss


def test_bad_label_shapes_are_shape_errors():
    net = nn.mlp([4, 3, 2])
    with pytest.raises(ShapeError, match=r"\(10, 2\).*\(10, 4\)"):
        net.fit(np.ones((10, 4)), np.zeros((10, 2), int))
    with pytest.raises(ShapeError, match="integer class labels"):
        net.fit(np.ones((10, 4)), np.full(10, 0.5))


# --- real data -------------------------------------------------------------------------------


@pytest.mark.slow
def test_digits_mlp_reaches_95_percent_held_out():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    X = X / 16.0
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:1400], order[1400:]
    net = nn.mlp([64, 32, 10], activation="tanh")
    res = net.fit(X[train], y[train], method="adam", lr=0.01, epochs=30, batch_size=64,
                  validation_split=0.1, patience=5)
    assert res.success
    assert net.accuracy(res.weights, X[test], y[test]) >= 0.95


@pytest.mark.slow
def test_logistic_regression_on_breast_cancer_matches_scikit_learn():
    datasets = pytest.importorskip("sklearn.datasets")
    linear_model = pytest.importorskip("sklearn.linear_model")
    X, y = datasets.load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    lam = 0.1                                            # L2 strength per row: C = 1/(lam*m)
    net = nn.mlp([30, 1], loss="bce", l2=lam)
    ref = linear_model.LogisticRegression(C=1 / (lam * len(X)), tol=1e-12, max_iter=10_000).fit(X, y)
    # Full-batch L-BFGS on the compiled kernels: the penalty covers W only, as scikit-learn's
    res = net.fit(X, y.astype(float), method="lbfgs", gtol=1e-10, max_iter=2000)
    assert res.success, res.message
    np.testing.assert_allclose(res.weights["W1"][:, 0], ref.coef_[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.weights["b1"], ref.intercept_, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["adam", "nesterov", "momentum", "sgd"])
def test_updates_follow_the_textbook_rules(method):
    """Three full-batch steps against the update rules written out in NumPy."""
    X, y = _blobs(n=40)
    net = nn.mlp([4, 3, 3])
    w = net.init(5)
    res = net.fit(X, y, method=method, lr=0.05, epochs=3, batch_size=40, shuffle=False, weights=w)
    ref = {k: a.copy() for k, a in w.items()}
    m = {k: 0.0 for k in w}
    v = {k: 0.0 for k in w}
    for t in range(1, 4):
        _, g = net.value_and_grad(ref, X, y)
        for k in ref:
            if method == "adam":
                m[k] = 0.9 * m[k] + 0.1 * g[k]
                v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
                ref[k] = ref[k] - 0.05 * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
            elif method == "sgd":
                ref[k] = ref[k] - 0.05 * g[k]
            else:
                m[k] = 0.9 * m[k] + g[k]
                ref[k] = ref[k] - 0.05 * (g[k] + 0.9 * m[k] if method == "nesterov" else m[k])
    for k in ref:
        np.testing.assert_allclose(res.weights[k], ref[k], rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_full_batch_lbfgs_and_newton_cg_reach_the_same_minimum():
    X = rng.standard_normal((200, 4))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) > 0).astype(int)
    net = nn.mlp([4, 3, 2], loss="softmax", l2=0.01)
    found = []
    for method in ("lbfgs", "newton-cg"):
        res = net.fit(X, y, method=method, max_iter=300, weights=net.init(0))
        assert res.success, res.message
        _, g = net.value_and_grad(res.weights, X, y)
        assert max(np.abs(v).max() for v in g.values()) < 1e-6
        found.append(res.fun)
    assert found[0] == pytest.approx(found[1], rel=1e-9)


def test_validation_data_regression_and_binary_outputs():
    X = rng.standard_normal((120, 3))
    Y = np.sin(X[:, :1]) + 0.5 * X[:, 1:2]
    net = nn.mlp([3, 8, 1], loss="mse")
    res = net.fit(X[:100], Y[:100], epochs=40, lr=0.02, batch_size=20, validation_data=(X[100:], Y[100:]))
    assert "val_accuracy" not in res.history and len(res.history["val_loss"]) == 40
    assert res.history["val_loss"][-1] < 0.5 * res.history["val_loss"][0]
    assert net.predict(res.weights, X).shape == (120, 1)
    labels = (X[:, 0] > 0).astype(float)
    binary = nn.mlp([3, 1], loss="bce")
    res = binary.fit(X, labels, epochs=30, lr=0.1, batch_size=30)
    p = binary.predict(res.weights, X)
    assert p.shape == (120, 1) and np.all((p > 0) & (p < 1))
    assert binary.accuracy(res.weights, X, labels[:, None]) > 0.9


def test_progress_bar_shows_validation_figures(capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tqdm", None)        # the plain stderr line
    X, y = _blobs(n=80)
    nn.mlp([4, 3]).fit(X, y, epochs=2, validation_split=0.25, progress=True)
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "val_loss=" in err and "val_acc=" in err


def test_shuffled_mini_batches_follow_a_hand_written_loop():
    """Two epochs of Adam over shuffled batches (the last one short) against a loop that
    draws the same permutations and steps with ``net.value_and_grad``: the gathered
    batches, the flat weight buffers and the fused step's reused buffers leave no trace."""
    X, y = _blobs(n=37)
    net = nn.mlp([4, 5, 3], l2=0.01)
    w = net.init(3)
    res = net.fit(X, y, method="adam", lr=0.02, epochs=2, batch_size=8, seed=11, weights=w)
    ref = {k: a.copy() for k, a in w.items()}
    m = {k: 0.0 for k in w}
    v = {k: 0.0 for k in w}
    rng_ref = np.random.default_rng(11)
    t = 0
    for _ in range(2):
        order = rng_ref.permutation(len(X))
        for start in range(0, len(X), 8):
            idx = order[start:start + 8]
            _, g = net.value_and_grad(ref, X[idx], y[idx])
            t += 1
            for k in ref:
                m[k] = 0.9 * m[k] + 0.1 * g[k]
                v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
                ref[k] = ref[k] - 0.02 * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    assert res.nit == t == 10
    for k in ref:
        np.testing.assert_allclose(res.weights[k], ref[k], rtol=1e-12, atol=1e-14)
