"""symopt.tensor mini-batch SGD/Adam over array data: the row dimension is found from the
data and the loss (or refused with a clear error), a seed repeats exactly, a sum over rows
is scaled to mean the same as a mean, NaN stops with the last finite iterate, and Adam
lands near the optimum that scikit-learn's LogisticRegression finds for the same penalty."""

import numpy as np
import pytest

import symopt.tensor as st
from symopt.errors import InputError
from symopt.tensor.stochastic import row_dimension

rng = np.random.default_rng(5)
M, D = 4000, 4
X = rng.standard_normal((M, D))
W_TRUE = np.array([1.5, -1.0, 0.5, 0.0])
Y = (rng.random(M) < 1 / (1 + np.exp(-(X @ W_TRUE + 0.25)))).astype(float)
LAM = 1e-2


def logistic(reduce="mean"):
    return st.Problem(f"{reduce}(softplus(X @ w + b) - y*(X @ w + b)) + 0.5*lam*dot(w, w)",
                      data={"X": "m d", "y": "m"}, wrt={"w": "d", "b": ""}, params={"lam": ""})


def start():
    return {"w": np.zeros(D), "b": 0.0}


def test_row_dimension_is_found_or_refused():
    m, mean = row_dimension(logistic())
    assert m.name == "m" and mean
    assert not row_dimension(logistic("sum"))[1]
    with pytest.raises(InputError, match="reads no data"):
        st.minimize(st.Problem("sum((x - 1)**2)", wrt={"x": "n"}), {"x": np.zeros(3)}, "adam",
                    batch_size=2)
    transposed = st.Problem("mean(softplus(w @ Xt) - y)", data={"Xt": "d m", "y": "m"},
                            wrt={"w": "d"})
    with pytest.raises(InputError, match="leading axes"):
        st.minimize(transposed, {"w": np.zeros(2)}, data={"Xt": np.ones((2, 5)), "y": np.ones(5)},
                    batch_size=2)
    features = st.Problem("mean(softplus(w @ Xt))", data={"Xt": "d m"}, wrt={"w": "d"})
    with pytest.raises(InputError, match="row size d"):
        st.minimize(features, {"w": np.zeros(2)}, data={"Xt": np.ones((2, 5))}, batch_size=2)
    per_row = st.Problem("mean((X @ w - y - u)**2)", data={"X": "m d", "y": "m"},
                         wrt={"w": "d", "u": "m"})
    with pytest.raises(InputError, match="row size"):
        st.minimize(per_row, {"w": np.zeros(2), "u": np.zeros(5)},
                    data={"X": np.ones((5, 2)), "y": np.ones(5)}, batch_size=2)


def test_bad_options_are_refused():
    data = {"X": X, "y": Y}
    with pytest.raises(InputError, match="mini-batch methods"):
        st.minimize(logistic(), start(), "lbfgs", data=data, params={"lam": LAM}, batch_size=8)
    with pytest.raises(InputError, match="takes no option"):
        st.minimize(logistic(), start(), "adam", data=data, params={"lam": LAM}, batch_size=8,
                    gtol=1e-6)
    with pytest.raises(InputError, match="larger than"):
        st.minimize(logistic(), start(), "adam", data=data, params={"lam": LAM},
                    batch_size=M + 1)
    with pytest.raises(InputError, match="batch_size"):
        st.minimize(logistic(), start(), "adam", data=data, params={"lam": LAM}, batch_size=0)


def test_adam_reaches_the_scikit_learn_optimum_and_repeats_with_a_seed():
    sklearn = pytest.importorskip("sklearn.linear_model")
    data = {"X": X, "y": Y}
    # LogisticRegression minimises C * sum(log-loss) + 0.5 ||w||^2: our mean loss
    # + 0.5 lam ||w||^2 has the same minimiser for C = 1 / (lam * M)
    ref = sklearn.LogisticRegression(C=1 / (LAM * M), tol=1e-12, max_iter=10_000).fit(X, Y)
    kwargs = dict(data=data, params={"lam": LAM}, batch_size=64, epochs=15, seed=3, lr=0.01)
    res = st.minimize(logistic(), start(), "adam", **kwargs)
    assert res.status == 20 and res.success and res.epochs == 15
    assert res.history["loss"].shape == (15,) and res.nit == 15 * int(np.ceil(M / 64))
    np.testing.assert_allclose(res.x_dict["w"], ref.coef_[0], atol=0.03)
    np.testing.assert_allclose(res.x_dict["b"], ref.intercept_[0], atol=0.03)
    again = st.minimize(logistic(), start(), "adam", **kwargs)
    assert np.array_equal(again.x, res.x) and np.array_equal(again.history["loss"],
                                                             res.history["loss"])
    other = st.minimize(logistic(), start(), "adam", **{**kwargs, "seed": 4})
    assert not np.array_equal(other.x, res.x)


def test_a_sum_over_rows_means_the_same_as_a_mean():
    data = {"X": X, "y": Y}
    mean = st.minimize(logistic(), start(), "sgd", data=data, params={"lam": LAM},
                       batch_size=300, epochs=3, seed=1, step=0.5, momentum=0.5)
    total = st.minimize(logistic("sum"), start(), "sgd", data=data, params={"lam": LAM * M},
                        batch_size=300, epochs=3, seed=1, step=0.5 / M, momentum=0.5)
    np.testing.assert_allclose(total.x, mean.x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(total.fun, mean.fun * M, rtol=1e-9)


def test_validation_split_and_nan():
    data = {"X": X, "y": Y}
    res = st.minimize(logistic(), start(), "adam", data=data, params={"lam": LAM},
                      batch_size=100, epochs=6, seed=0, validation=0.2, patience=2)
    assert res.history["val_loss"].shape[0] == res.epochs
    assert res.status in (20, 21)
    blowup = st.Problem("mean(exp(X @ w))", data={"X": "m d"}, wrt={"w": "d"})
    bad = st.minimize(blowup, {"w": np.zeros(D)}, "sgd", data={"X": 50 * X}, batch_size=10,
                      epochs=3, seed=0, step=10.0)
    assert not bad.success and bad.message
    assert np.isfinite(bad.x).all()


def test_batches_reuse_the_compiled_kernel():
    problem = logistic()
    kernels = st.compile(problem)
    data = {"X": X[:500], "y": Y[:500]}
    for batch_size in (7, 64, 500):
        res = st.minimize(problem, start(), "adam", data=data, params={"lam": LAM},
                          batch_size=batch_size, epochs=1, seed=0, verbose=False)
        assert res.success and res.row_dimension == "m"
    assert len(kernels.value_grad_kernel.signatures) == 1


def test_integer_labels_and_matrix_variables_are_batched():
    m, d, c = 2000, 4, 3
    Xc = rng.standard_normal((m, d))
    labels = np.argmax(Xc @ rng.standard_normal((d, c)) + rng.gumbel(size=(m, c)), axis=1)
    problem = st.Problem("mean(logsumexp(X @ W, axis=1) - pick(X @ W, labels)) "
                         "+ 0.5*lam*sum(W*W)", data={"X": "m d", "labels": ("m", int)},
                         wrt={"W": "d c"}, params={"lam": ""})
    kwargs = dict(data={"X": Xc, "labels": labels}, params={"lam": 1e-2}, dims={"c": c, "m": m})
    full = st.minimize(problem, {"W": np.zeros((d, c))}, "lbfgs", **kwargs)
    res = st.minimize(problem, {"W": np.zeros((d, c))}, "adam", batch_size=32, epochs=20,
                      seed=0, lr=0.01, **kwargs)
    assert res.success and res.x_dict["W"].shape == (d, c)
    assert res.fun < full.fun * 1.01
    np.testing.assert_allclose(res.x, full.x, atol=0.1)
