"""Mini-batch SGD and Adam over chunked data: deterministic by seed, batches that span
chunks, the same stream as in-memory training for one chunk, bad data reported."""

import numpy as np
import pytest

import symopt as so
import symopt.chunked as sc

ROWS = 4000


def _data(seed=3):
    rng = np.random.default_rng(seed)
    x0, x1 = rng.standard_normal(ROWS), rng.standard_normal(ROWS)
    y = (rng.random(ROWS) < 1 / (1 + np.exp(-(0.2 + 1.3 * x0 - 0.8 * x1)))).astype(np.float64)
    return {"x0": x0, "x1": x1, "y": y}


DATA = _data()


@pytest.fixture(scope="module", params=["mean", "sum"])
def loss(request):
    return so.DataLoss("softplus(b + w0*x0 + w1*x1) - y*(b + w0*x0 + w1*x1)",
                       data=["x0", "x1", "y"], wrt="b w0 w1", reduce=request.param,
                       regularization="0.01*(w0**2 + w1**2)")


def _oracle_loss(loss, x):
    """The loss at x, in NumPy."""
    z = x[0] + x[1] * DATA["x0"] + x[2] * DATA["x1"]
    rows = np.logaddexp(0, z) - DATA["y"] * z
    total = rows.mean() if loss.reduce == "mean" else rows.sum()
    return total + 0.01 * (x[1] ** 2 + x[2] ** 2)


@pytest.mark.slow
def test_one_chunk_is_the_in_memory_training_stream(loss):
    step = 0.01
    memory = so.minimize(loss, [0, 0, 0], data=DATA, method="adam", batch_size=50, epochs=3,
                         seed=4, step=step)
    chunked = sc.minimize(loss, [0, 0, 0], data=DATA, method="adam", batch_size=50, epochs=3,
                          seed=4, step=step)
    np.testing.assert_allclose(chunked.x, memory.x, rtol=1e-12)
    assert chunked.epochs == 3 and chunked.nit == memory.nit


@pytest.mark.slow
def test_training_is_deterministic_and_reaches_the_optimum_region(loss):
    step = 0.01  # Adam's steps are about this long whatever the gradient's scale
    source = sc.ArrayChunks(DATA, splits=[0, 1, 1, 999, 2500, ROWS])
    runs = [sc.minimize(loss, [0, 0, 0], data=source, method="adam", batch_size=64, epochs=15,
                        seed=seed, step=step) for seed in (1, 1, 2)]
    np.testing.assert_array_equal(runs[0].x, runs[1].x)
    assert not np.array_equal(runs[0].x, runs[2].x)
    best = so.minimize(loss, [0, 0, 0], data=DATA, method="newton")
    for res in runs:
        assert res.status == so.solvers.status.EPOCHS_DONE and res.success
        assert res.fun == pytest.approx(_oracle_loss(loss, res.x), rel=1e-12)
        assert res.fun <= best.fun * 1.01
    # updates: every batch full but the epoch's last (batches span the chunks)
    assert runs[0].nit == 15 * -(-ROWS // 64)


@pytest.mark.slow
def test_sgd_from_a_factory_of_chunks(loss):
    def chunks():
        for lo in range(0, ROWS, 700):
            yield {k: v[lo:lo + 700] for k, v in DATA.items()}

    step = 0.05 if loss.reduce == "mean" else 1e-5
    res = sc.minimize(loss, [0, 0, 0], data=chunks, method="sgd", batch_size=100, epochs=5,
                      seed=0, step=step, momentum=0.9)
    again = sc.minimize(loss, [0, 0, 0], data=chunks, method="sgd", batch_size=100, epochs=5,
                        seed=0, step=step, momentum=0.9)
    np.testing.assert_array_equal(res.x, again.x)
    assert res.chunks == 6 and res.history["loss"].shape == (5,)
    assert res.fun < _oracle_loss(loss, np.zeros(3))


@pytest.mark.slow
def test_nan_in_a_chunk_file_ends_training_naming_it(loss, tmp_path):
    X = np.column_stack([DATA["x0"], DATA["x1"], DATA["y"]])
    X[2100, 0] = np.nan
    paths = []
    for i, lo in enumerate(range(0, ROWS, 1000)):
        np.save(tmp_path / f"c{i}.npy", X[lo:lo + 1000])
        paths.append(tmp_path / f"c{i}.npy")
    res = sc.minimize(loss, [0, 0, 0], data=paths, method="adam", batch_size=32, epochs=2, seed=0)
    assert res.status == sc.DATA_ERROR and not res.success
    assert "chunk 2 (c2.npy)" in res.message and "'x0'" in res.message


def test_minibatch_options_are_checked(loss):
    with pytest.raises(so.InputError, match="larger than the 4000 rows"):
        sc.minimize(loss, [0, 0, 0], data=DATA, method="adam", batch_size=5000)
    with pytest.raises(so.InputError, match="do not apply to mini-batch"):
        sc.minimize(loss, [0, 0, 0], data=DATA, method="adam", epochs=2, gtol=1e-3)
    with pytest.raises(so.InputError, match="beta2 and eps"):
        sc.minimize(loss, [0, 0, 0], data=DATA, method="sgd", beta2=0.9)
