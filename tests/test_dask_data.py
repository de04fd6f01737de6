"""symopt.chunked on Dask: a loss over Dask arrays and DataFrames evaluated on the
workers of a real two-process LocalCluster gives the local chunked result bit for bit
(same chunk layout) and the in-memory result to 1e-10; each worker loads the problem
once; bad data ends the fit with a status naming the chunk; a worker lost mid-fit does
not stop it."""

import os
import threading
import time

import numpy as np
import pytest

import symopt as so
import symopt.chunked as sc

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
from symopt.chunked.distributed import DaskEvaluator, worker_stats

ROWS = 6000


def _data(seed=2):
    rng = np.random.default_rng(seed)
    x0, x1 = rng.standard_normal(ROWS), rng.standard_normal(ROWS)
    y = (rng.random(ROWS) < 1 / (1 + np.exp(-(0.5 + x0 - 2 * x1)))).astype(np.float64)
    return {"x0": x0, "x1": x1, "y": y}


DATA = _data()
MATRIX = np.column_stack([DATA["x0"], DATA["x1"], DATA["y"]])
#: uneven row chunks with a one-row and an empty chunk
CHUNKS = (1500, 1, 0, 2000, 2499)


@pytest.fixture(scope="module")
def loss():
    return so.DataLoss("softplus(b + w0*x0 + w1*x1) - y*(b + w0*x0 + w1*x1)",
                       data=["x0", "x1", "y"], wrt="b w0 w1", reduce="mean",
                       regularization="0.01*(w0**2 + w1**2)")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


def _splits(chunks):
    return list(np.concatenate([[0], np.cumsum(chunks)]))


def test_without_a_client_the_blocks_are_computed_here(loss):
    # first in the module: no client exists yet
    assert sc.distributed.current_client() is None
    local = sc.minimize(loss, [0, 0, 0], data=sc.ArrayChunks(MATRIX, splits=_splits(CHUNKS)))
    import dask

    with dask.config.set(scheduler="synchronous"):
        res = sc.minimize(loss, [0, 0, 0], data=da.from_array(MATRIX, chunks=(CHUNKS, 3)))
    assert "workers_lost" not in res
    np.testing.assert_array_equal(res.x, local.x)


@pytest.mark.slow
def test_a_dask_array_gives_the_local_result_bit_for_bit(loss, client):
    local = sc.minimize(loss, [0, 0, 0], data=sc.ArrayChunks(MATRIX, splits=_splits(CHUNKS)))
    memory = so.minimize(loss, [0, 0, 0], data=DATA)
    X = da.from_array(MATRIX, chunks=(CHUNKS, 3)).persist()
    before = client.run(worker_stats)
    res = sc.minimize(loss, [0, 0, 0], data=X, client=client)
    after = client.run(worker_stats)
    assert res.success and res.chunks == len(CHUNKS) and res.rows == ROWS
    np.testing.assert_array_equal(res.x, local.x)
    np.testing.assert_allclose(res.x, memory.x, rtol=1e-10)
    assert res.workers_lost == [] and res.workers == 2
    # one task per worker per evaluation, each worker loads the problem once per process
    tasks = sum(after[w]["tasks"] - before.get(w, {}).get("tasks", 0) for w in after)
    evaluations = res.nfev
    assert tasks <= 2 * evaluations
    assert all(s["models_loaded"] == 1 for s in after.values() if s["tasks"])


@pytest.mark.slow
def test_a_dict_of_dask_arrays_and_the_current_client(loss, client):
    local = sc.minimize(loss, [0, 0, 0], data=sc.ArrayChunks(DATA, splits=_splits(CHUNKS)),
                        method="lbfgs")
    columns = {k: da.from_array(v, chunks=(CHUNKS,)) for k, v in DATA.items()}
    res = sc.minimize(loss, [0, 0, 0], data=columns, method="lbfgs")  # default client
    np.testing.assert_array_equal(res.x, local.x)


@pytest.mark.slow
def test_a_dask_dataframe(loss, client):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    frame = dd.from_pandas(pd.DataFrame(DATA), npartitions=4)
    res = sc.minimize(loss, [0, 0, 0], data=frame, client=client)
    memory = so.minimize(loss, [0, 0, 0], data=DATA)
    assert res.rows == ROWS and res.chunks == 4
    np.testing.assert_allclose(res.x, memory.x, rtol=1e-10)


@pytest.mark.slow
def test_bad_data_on_a_worker_ends_the_fit_naming_the_chunk(loss, client):
    bad = MATRIX.copy()
    bad[3600, 1] = np.nan  # chunk 4 (rows 3501..), row 99 of it
    X = da.from_array(bad, chunks=(CHUNKS, 3))
    res = sc.minimize(loss, [0, 0, 0], data=X, client=client, method="lbfgs")
    assert res.status == sc.DATA_ERROR and not res.success
    assert "chunk 4" in res.message and "'x1'" in res.message and "row 99" in res.message
    deadline = time.time() + 10
    while any(client.processing().values()) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(client.processing().values())  # no worker left busy


@pytest.mark.slow
def test_a_worker_lost_mid_fit_is_recomputed_and_reported(loss, monkeypatch):
    local = sc.minimize(loss, [0, 0, 0], data=sc.ArrayChunks(MATRIX, splits=_splits(CHUNKS)),
                        method="lbfgs")
    original = DaskEvaluator.evaluate
    calls = []

    def evaluate(self, kind, x, v=None):
        calls.append(kind)
        if len(calls) == 3:
            victim = self.groups[0][0]

            def die():
                threading.Thread(target=lambda: (time.sleep(0.05), os._exit(1))).start()

            self.client.run(die, workers=[victim])
            time.sleep(0.5)
        return original(self, kind, x, v)

    monkeypatch.setattr(DaskEvaluator, "evaluate", evaluate)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        X = da.from_array(MATRIX, chunks=(CHUNKS, 3)).persist()
        res = sc.minimize(loss, [0, 0, 0], data=X, client=client, method="lbfgs")
    assert res.success, res.message
    assert len(res.workers_lost) == 1 and "left the cluster" in res.message
    np.testing.assert_array_equal(res.x, local.x)
