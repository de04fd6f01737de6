"""symopt.dask: blocks of problems on a real two-process LocalCluster give exactly the
single-machine results, and each worker loads the problem's kernels once, not per block."""

import numpy as np
import pytest

import symopt as so

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import symopt.dask as sod  # noqa: E402

T = np.linspace(0.0, 5.0, 20)
K = 600
BLOCK = 100


@pytest.fixture(scope="module")
def model():
    return so.LeastSquares.from_model("a*exp(-t/tau) + c", independent="t", wrt="a tau c")


@pytest.fixture(scope="module")
def stack():
    rng = np.random.default_rng(3)
    truth = np.column_stack([rng.uniform(1, 3, K), rng.uniform(0.5, 2, K), rng.uniform(0, 1, K)])
    y = truth[:, :1] * np.exp(-T / truth[:, 1:2]) + truth[:, 2:] + 0.01 * rng.standard_normal((K, T.size))
    y[17, 4] = np.nan  # one bad problem: reported, not fatal
    return y


@pytest.mark.slow
def test_dask_local_cluster_matches_the_single_machine_run(model, stack):
    local = so.minimize_many(model, x0=[1.0, 1.0, 0.0], data={"t": T, "y": stack}, method="lm")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        y = da.from_array(stack, chunks=(BLOCK, -1))
        lazy = sod.minimize_many(model, x0=[1.0, 1.0, 0.0], data={"t": T, "y": y}, method="lm")
        assert isinstance(lazy.x, da.Array) and lazy.x.shape == (K, 3)
        assert lazy.combined.numblocks[0] == K // BLOCK
        res = lazy.compute()
        stats = client.run(sod.worker_stats)
    np.testing.assert_array_equal(res.x, local.x)
    np.testing.assert_array_equal(res.status, local.status)
    np.testing.assert_array_equal(res.nfev, local.nfev)
    assert res.status[17] == so.solvers.status.INVALID_INPUT
    assert sum(s["blocks"] for s in stats.values()) == K // BLOCK
    # every worker that solved blocks loaded the problem (its kernels) exactly once
    assert all(s["problems_loaded"] == 1 for s in stats.values() if s["blocks"])
    assert max(s["blocks"] for s in stats.values()) >= 2


@pytest.mark.slow
def test_dask_arrays_compute_without_a_cluster(model, stack):
    x0 = np.tile([1.0, 1.0, 0.0], (K, 1))
    lazy = sod.minimize_many(model, x0=da.from_array(x0, chunks=200),
                             data={"t": T, "y": stack}, method="lm")
    fun = lazy.fun.compute(scheduler="synchronous")
    local = so.minimize_many(model, x0=x0, data={"t": T, "y": stack}, method="lm")
    np.testing.assert_array_equal(fun, local.fun)


def test_dask_rejects_ragged_data_and_bad_shapes(model, stack):
    with pytest.raises(so.InputError, match="offsets"):
        sod.minimize_many(model, x0=[1.0, 1.0, 0.0], data={"t": T, "y": stack}, method="lm",
                          offsets=[0, 20])
    with pytest.raises(so.ShapeError, match=r"x0 has shape \(600, 2\)"):
        sod.minimize_many(model, x0=np.ones((K, 2)), data={"t": T, "y": stack}, method="lm")
