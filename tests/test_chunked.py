"""symopt.chunked on one machine: chunk sources, schema checks, chunked evaluation and
solves.

Oracles: the in-memory kernels over all rows at once (chunked sums must equal them to
rounding), finite differences of the chunked loss, NumPy's least squares for a linear
model and a NumPy Newton iteration (IRLS) for logistic regression.
"""

import math

import numpy as np
import pytest

import symopt as so
import symopt.chunked as sc
from symopt.chunked.evaluate import Evaluator, TreeSum, tree_nodes, tree_root
from symopt.chunked.sources import MATRIX

ROWS = 5000


def _logistic_data(rows=ROWS, seed=1):
    rng = np.random.default_rng(seed)
    x0, x1 = rng.standard_normal(rows), rng.standard_normal(rows)
    z = 0.3 + 1.5 * x0 - 1.2 * x1
    y = (rng.random(rows) < 1 / (1 + np.exp(-z))).astype(np.float64)
    return {"x0": x0, "x1": x1, "y": y}


DATA = _logistic_data()
ROW_LOSS = "softplus(b + w0*x0 + w1*x1) - y*(b + w0*x0 + w1*x1)"
REG = "0.01*(w0**2 + w1**2)"


@pytest.fixture(scope="module")
def mean_loss():
    return so.DataLoss(ROW_LOSS, data=["x0", "x1", "y"], wrt="b w0 w1", reduce="mean",
                       regularization=REG)


@pytest.fixture(scope="module")
def sum_loss():
    return so.DataLoss(ROW_LOSS, data=["x0", "x1", "y"], wrt="b w0 w1", reduce="sum",
                       regularization=REG)


def _matrix(data):
    return np.column_stack([data["x0"], data["x1"], data["y"]])


# --- sources -------------------------------------------------------------------------------

def test_arrays_split_into_chunks_in_row_order():
    source = sc.ArrayChunks(DATA, chunk_rows=1200)
    assert source.chunk_rows == (1200, 1200, 1200, 1200, 200)
    assert source.resident and source.rows == ROWS
    glued = np.concatenate([c.arrays["y"] for c in source])
    np.testing.assert_array_equal(glued, DATA["y"])
    even = sc.ArrayChunks(DATA, n_chunks=3)
    assert even.chunk_rows == (1666, 1667, 1667)
    uneven = sc.ArrayChunks(DATA, splits=[0, 1, 1, 4000, ROWS])
    assert uneven.chunk_rows == (1, 0, 3999, 1000)
    assert set(sc.ArrayChunks(_matrix(DATA)).fields) == {MATRIX}


def test_bad_splits_are_errors():
    with pytest.raises(so.InputError, match="rise from 0"):
        sc.ArrayChunks(DATA, splits=[0, 10, 5, ROWS])
    with pytest.raises(so.InputError, match="not both"):
        sc.ArrayChunks(DATA, chunk_rows=10, n_chunks=2)
    with pytest.raises(so.InputError, match="positive integer"):
        sc.ArrayChunks(DATA, chunk_rows=0)


def test_a_memory_map_keeps_a_bounded_window_of_chunks_and_zigzags(tmp_path, monkeypatch):
    from symopt.chunked import in_memory

    np.save(tmp_path / "X.npy", _matrix(DATA))
    dropped = []
    monkeypatch.setattr(in_memory, "_madvise_dontneed", lambda address, length: dropped.append(length))
    source = sc.ArrayChunks(np.load(tmp_path / "X.npy", mmap_mode="r"), chunk_rows=500, keep=0.25,
                            read="madvise")
    first = []
    for chunk in source.passes():
        first.append(chunk.index)
        chunk.done()
    second = [chunk.index for chunk in source.passes()]
    assert first == list(range(10)) and second == list(range(9, -1, -1))
    # 10 chunks of 12 kB, a quarter kept: 2 resident, the 8 older ones dropped
    assert len(dropped) == 8 and source._resident_bytes <= source.keep_bytes
    source.release()
    assert len(dropped) == 10 and source._resident_bytes == 0


@pytest.mark.parametrize("read", ["prefetch", "madvise", "pread", "map"])
def test_a_memory_map_reads_the_same_rows_every_way(tmp_path, read):
    X = _matrix(DATA)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    source = sc.ArrayChunks(mapped[100:], chunk_rows=700, read=read)
    assert not source.resident and source.read == read
    for _ in range(2):  # a pass, then another (the second madvise pass runs backwards)
        got = {}
        for chunk in source.passes():
            got[chunk.index] = np.array(chunk.arrays[MATRIX])
            chunk.done()
        np.testing.assert_array_equal(np.concatenate([got[i] for i in sorted(got)]), X[100:])
    np.testing.assert_array_equal(source.chunk(3).arrays[MATRIX], X[100 + 2100:100 + 2800])


def test_a_prefetching_pass_left_early_stops_its_reader(tmp_path):
    import threading

    np.save(tmp_path / "X.npy", _matrix(DATA))
    source = sc.ArrayChunks(np.load(tmp_path / "X.npy", mmap_mode="r"), chunk_rows=100)
    passes = source.passes()
    for chunk in passes:
        if chunk.index == 3:
            break  # as the evaluator does when a chunk's loss is not finite
    passes.close()
    assert not any(t.name == "symopt-prefetch" for t in threading.enumerate())


def test_a_path_to_an_npy_file_is_memory_mapped_and_read_through_the_mapping(tmp_path):
    np.save(tmp_path / "X.npy", _matrix(DATA))
    source = sc.as_source(str(tmp_path / "X.npy"))
    assert isinstance(source, sc.ArrayChunks) and not source.resident
    assert source.read == "madvise" and source.chunk_rows == (ROWS,)  # 120 kB: one chunk
    prefetched = sc.ArrayChunks(np.load(tmp_path / "X.npy", mmap_mode="r"), read="prefetch")
    assert prefetched.read == "prefetch" and prefetched.chunk_rows == (ROWS,)
    assert sc.as_source(tmp_path / "X.npy", chunk_rows=1000).n_chunks == 5


def test_chunk_files_give_their_schema_and_rows_from_the_headers(tmp_path):
    X = _matrix(DATA)
    paths = []
    for i, (lo, hi) in enumerate([(0, 2000), (2000, 2001), (2001, ROWS)]):
        np.save(tmp_path / f"part{i}.npy", X[lo:hi])
        paths.append(tmp_path / f"part{i}.npy")
    source = sc.as_source(paths)
    assert isinstance(source, sc.FileChunks)
    assert source.chunk_rows == (2000, 1, 2999) and set(source.fields) == {MATRIX}
    np.savez(tmp_path / "named.npz", **{k: v[:10] for k, v in DATA.items()})
    named = sc.FileChunks([tmp_path / "named.npz"])
    assert set(named.fields) == {"x0", "x1", "y"} and named.chunk_rows == (10,)
    np.testing.assert_array_equal(next(iter(named)).arrays["y"], DATA["y"][:10])


def test_chunk_files_that_disagree_are_named(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((5, 3)))
    np.save(tmp_path / "b.npy", np.zeros((5, 4)))
    with pytest.raises(sc.ChunkError, match="chunk 1 .*b.npy.*rows of shape \\(4,\\)") as info:
        sc.FileChunks([tmp_path / "a.npy", tmp_path / "b.npy"])
    assert info.value.chunk == 1
    np.savez(tmp_path / "c.npz", x0=np.zeros(3), y=np.zeros(3))
    np.savez(tmp_path / "d.npz", x0=np.zeros(3), z=np.zeros(3))
    with pytest.raises(sc.ChunkError, match="chunk 1 .*lacks 'y'.*unexpected 'z'"):
        sc.FileChunks([tmp_path / "c.npz", tmp_path / "d.npz"])
    with pytest.raises(sc.ChunkError, match="no such file"):
        sc.FileChunks([tmp_path / "missing.npy"])


def test_a_factory_is_called_once_per_pass_and_its_rows_counted():
    calls = []

    def chunks():
        calls.append(1)
        for lo in range(0, ROWS, 1500):
            yield {k: v[lo:lo + 1500] for k, v in DATA.items()}

    source = sc.as_source(chunks)
    assert isinstance(source, sc.FactoryChunks) and source.chunk_rows is None
    rows = [c.rows for c in source]
    source.note_rows(rows)
    assert source.chunk_rows == (1500, 1500, 1500, 500) and len(calls) == 1


@pytest.mark.slow
def test_a_factory_of_dataframes():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(DATA)
    source = sc.FactoryChunks(lambda: (frame.iloc[lo:lo + 2000] for lo in range(0, ROWS, 2000)))
    chunk = source.first()
    assert set(chunk.arrays) == {"x0", "x1", "y"} and chunk.rows == 2000


def test_parquet_row_groups_are_chunks(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    pq.write_table(pa.table(DATA), tmp_path / "d.parquet", row_group_size=1500)
    source = sc.as_source(tmp_path / "d.parquet")
    assert isinstance(source, sc.ParquetChunks)
    assert source.chunk_rows == (1500, 1500, 1500, 500)
    np.testing.assert_array_equal(np.concatenate([c.arrays["x1"] for c in source]), DATA["x1"])


# --- schema, checked before a solve -------------------------------------------------------

def test_a_missing_column_is_named_before_anything_is_computed(mean_loss):
    data = {"x0": DATA["x0"], "y": DATA["y"]}
    with pytest.raises(sc.ChunkError, match="lack the column 'x1'") as info:
        sc.minimize(mean_loss, [0, 0, 0], data=data)
    assert info.value.column == "x1"


def test_a_wrong_dtype_and_a_wrong_width_are_named(mean_loss):
    data = dict(DATA, x1=np.array(["a"] * ROWS))
    with pytest.raises(sc.ChunkError, match="column 'x1' has dtype <U1"):
        sc.minimize(mean_loss, [0, 0, 0], data=data)
    with pytest.raises(sc.ChunkError, match="have 2 columns, but this problem reads 3"):
        sc.minimize(mean_loss, [0, 0, 0], data=_matrix(DATA)[:, :2])


@pytest.mark.slow
def test_mismatched_lengths_in_a_chunk_are_named(mean_loss):
    def chunks():
        yield {k: v[:100] for k, v in DATA.items()}
        yield {"x0": DATA["x0"][:10], "x1": DATA["x1"][:9], "y": DATA["y"][:10]}

    res = sc.minimize(mean_loss, [0, 0, 0], data=chunks, method="lbfgs")
    assert res.status == sc.DATA_ERROR and not res.success
    assert "chunk 1" in res.message and "different lengths" in res.message


def test_nan_in_memory_is_found_before_the_solve(mean_loss):
    data = {k: v.copy() for k, v in DATA.items()}
    data["x1"][3210] = np.nan
    with pytest.raises(sc.ChunkError, match="chunk 3 .*'x1'.*row 210 of the chunk .*row 3210") as info:
        sc.minimize(mean_loss, [0, 0, 0], data=data, chunk_rows=1000)
    assert (info.value.chunk, info.value.column, info.value.row) == (3, "x1", 210)


@pytest.mark.slow
def test_nan_in_a_file_ends_the_solve_with_a_status_naming_the_chunk(mean_loss, tmp_path):
    X = _matrix(DATA)
    X[4321, 2] = np.inf
    paths = []
    for i, lo in enumerate(range(0, ROWS, 1000)):
        np.save(tmp_path / f"p{i}.npy", X[lo:lo + 1000])
        paths.append(tmp_path / f"p{i}.npy")
    res = sc.minimize(mean_loss, [0, 0, 0], data=paths, method="lbfgs")
    assert res.status == sc.DATA_ERROR and not res.success and math.isnan(res.fun)
    assert "chunk 4 (p4.npy)" in res.message and "'y'" in res.message and "row 321" in res.message


def test_an_empty_dataset_is_an_error(mean_loss):
    with pytest.raises(so.InputError, match="empty"):
        sc.minimize(mean_loss, [0, 0, 0], data={k: v[:0] for k, v in DATA.items()})


# --- the fixed summation tree -----------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 13, 64, 100])
def test_the_tree_is_the_same_summed_in_one_place_or_in_parts(n):
    rng = np.random.default_rng(n)
    parts = [rng.standard_normal(4) * 10.0 ** rng.integers(-8, 8) for _ in range(n)]
    tree = TreeSum()
    for i, p in enumerate(parts):
        tree.add(i, p.copy())
    whole = tree.result(n)
    backwards = TreeSum()  # any order: the grouping is fixed by the indices
    for i in rng.permutation(n):
        backwards.add(int(i), parts[i].copy())
    np.testing.assert_array_equal(backwards.result(n), whole)
    # the chunks split among three "workers" at random, each summing what it can
    owner = rng.integers(0, 3, n)
    nodes = {}
    for w in range(3):
        nodes.update(tree_nodes({i: parts[i].copy() for i in range(n) if owner[i] == w}, n))
    np.testing.assert_array_equal(tree_root(nodes, n), whole)
    np.testing.assert_array_equal(tree_root(tree_nodes({i: p.copy() for i, p in enumerate(parts)}, n), n),
                                  whole)
    np.testing.assert_allclose(whole, np.sum(parts, axis=0), rtol=1e-12, atol=1e-300)


# --- chunked evaluation equals the whole-data kernels ---------------------------------------------

LAYOUTS = {
    "one chunk": {},
    "uneven": {"splits": [0, 17, 1700, 1701, 4000, ROWS]},
    "a one-row chunk": {"splits": [0, 1, ROWS]},
    "an empty chunk": {"splits": [0, 2500, 2500, ROWS]},
    "many": {"chunk_rows": 333},
}


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS, ids=list(LAYOUTS))
@pytest.mark.parametrize("which", ["mean", "sum"])
def test_chunked_value_gradient_and_hessian_equal_the_whole_data_kernels(layout, which, mean_loss,
                                                                         sum_loss):
    loss = mean_loss if which == "mean" else sum_loss
    x = np.array([0.2, -0.7, 1.1])
    f, g, H = so.compile(loss).value_grad_hess(x, data=DATA)
    evaluator = Evaluator(sc.model_for(loss), sc.ArrayChunks(DATA, **LAYOUTS[layout]))
    out = evaluator.evaluate("value_grad_hess", x)
    assert out[0] == pytest.approx(f, rel=1e-13)
    np.testing.assert_allclose(out[1:4], g, rtol=1e-12)
    np.testing.assert_allclose(out[4:].reshape(3, 3), H, rtol=1e-12)
    # the kernels of each kind share subexpressions differently: equal up to rounding
    assert evaluator.evaluate("value", x)[0] == pytest.approx(out[0], rel=1e-14)
    np.testing.assert_allclose(evaluator.evaluate("value_grad", x), out[:4], rtol=1e-13)


@pytest.mark.slow
def test_the_chunked_gradient_matches_finite_differences_of_the_chunked_loss(mean_loss):
    evaluator = Evaluator(sc.model_for(mean_loss), sc.ArrayChunks(DATA, chunk_rows=777))
    x = np.array([-0.4, 0.9, 0.3])
    g = evaluator.evaluate("value_grad", x)[1:]
    h = 1e-6
    fd = [(evaluator.evaluate("value", x + h * e)[0] - evaluator.evaluate("value", x - h * e)[0]) / (2 * h)
          for e in np.eye(3)]
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)


@pytest.mark.slow
def test_the_sum_is_deterministic_and_fixed_by_the_layout(mean_loss):
    x = np.array([0.1, 0.2, 0.3])
    a = Evaluator(sc.model_for(mean_loss), sc.ArrayChunks(DATA, chunk_rows=600)).evaluate("value_grad", x)
    b = Evaluator(sc.model_for(mean_loss), sc.ArrayChunks(DATA, chunk_rows=600)).evaluate("value_grad", x)
    np.testing.assert_array_equal(a, b)


# --- solves ----------------------------------------------------------------------------------------

def _irls(data, lam):
    """Logistic regression with an L2 penalty lam*(w0^2 + w1^2) on the mean loss, by a
    NumPy Newton iteration: the independent oracle."""
    A = np.column_stack([np.ones(ROWS), data["x0"], data["x1"]])
    y = data["y"]
    beta = np.zeros(3)
    penalty = np.diag([0.0, 2 * lam, 2 * lam])
    for _ in range(50):
        p = 1 / (1 + np.exp(-A @ beta))
        g = A.T @ (p - y) / ROWS + penalty @ beta
        H = (A * (p * (1 - p))[:, None]).T @ A / ROWS + penalty
        step = np.linalg.solve(H, g)
        beta -= step
        if np.abs(step).max() < 1e-15:
            break
    return beta


@pytest.mark.slow
@pytest.mark.parametrize("method", ["newton", "lbfgs", "trust-ncg", "bfgs"])
def test_chunked_solves_reach_the_independent_optimum_and_the_in_memory_coefficients(method, mean_loss):
    oracle = _irls(DATA, 0.01)
    memory = so.minimize(mean_loss, [0, 0, 0], data=DATA, method=method)
    chunked = sc.minimize(mean_loss, [0, 0, 0], data=sc.ArrayChunks(DATA, **LAYOUTS["uneven"]),
                          method=method)
    assert chunked.success, chunked.message
    np.testing.assert_allclose(chunked.x, oracle, rtol=1e-7)
    # BFGS stops on its ftol test about 1e-8 from the optimum, at an iterate that rounding
    # decides; the others converge to gtol
    np.testing.assert_allclose(chunked.x, memory.x, rtol=1e-7 if method == "bfgs" else 1e-10)
    assert chunked.chunks == 5 and chunked.rows == ROWS and chunked.passes >= chunked.nit


@pytest.mark.slow
def test_a_linear_model_from_files_reaches_numpys_least_squares(tmp_path):
    rng = np.random.default_rng(5)
    t = rng.uniform(0, 3, ROWS)
    y = 1.5 - 0.5 * t + 0.1 * rng.standard_normal(ROWS)
    loss = so.DataLoss("(y - a - b*t)**2", data="t y", wrt="a b")
    paths = []
    for i, lo in enumerate(range(0, ROWS, 1300)):
        np.savez(tmp_path / f"c{i}.npz", t=t[lo:lo + 1300], y=y[lo:lo + 1300])
        paths.append(tmp_path / f"c{i}.npz")
    res = sc.minimize(loss, [0, 0], data=paths, method="newton")
    expected = np.linalg.lstsq(np.column_stack([np.ones(ROWS), t]), y, rcond=None)[0]
    assert res.success and res.chunks == 4
    np.testing.assert_allclose(res.x, expected, rtol=1e-10)


@pytest.mark.slow
def test_a_memory_mapped_solve_equals_the_in_memory_one(mean_loss, tmp_path):
    np.save(tmp_path / "X.npy", _matrix(DATA))
    memory = so.minimize(mean_loss, [0, 0, 0], data=_matrix(DATA), method="newton")
    for read in ("prefetch", "madvise", "pread"):
        source = sc.ArrayChunks(np.load(tmp_path / "X.npy", mmap_mode="r"), chunk_rows=999, read=read)
        res = sc.minimize(mean_loss, [0, 0, 0], data=source, method="newton")
        np.testing.assert_allclose(res.x, memory.x, rtol=1e-10)


@pytest.mark.slow
def test_a_factory_solve_with_reduce_sum(sum_loss):
    def chunks():
        for lo in range(0, ROWS, 1234):
            yield {k: v[lo:lo + 1234] for k, v in DATA.items()}

    memory = so.minimize(sum_loss, [0, 0, 0], data=DATA, method="lbfgs")
    res = sc.minimize(sum_loss, [0, 0, 0], data=chunks, method="lbfgs")
    assert res.success and res.chunks == 5
    np.testing.assert_allclose(res.x, memory.x, rtol=1e-10)


@pytest.mark.slow
def test_a_factory_that_changes_between_passes_ends_the_solve(mean_loss):
    passes = []

    def chunks():
        passes.append(1)
        size = 1000 if len(passes) < 3 else 999
        for lo in range(0, ROWS, size):
            yield {k: v[lo:lo + size] for k, v in DATA.items()}

    res = sc.minimize(mean_loss, [0, 0, 0], data=chunks, method="lbfgs")
    assert res.status == sc.DATA_ERROR and "changed between passes" in res.message


def test_options_and_history_pass_through(mean_loss):
    res = sc.minimize(mean_loss, [0, 0, 0], data=DATA, method="lbfgs", n_chunks=3, gtol=1e-3,
                      history=True, bounds={"w0": (0, 1)})
    assert res.history["f"].shape[0] == res.nit + 1
    assert 0 <= res.x[1] <= 1 and res.x_dict.keys() == {"b", "w0", "w1"}
    with pytest.raises(so.InputError, match="does not run on chunked data"):
        sc.minimize(mean_loss, [0, 0, 0], data=DATA, method="lm")
    with pytest.raises(so.InputError, match="seed= shuffles"):
        sc.minimize(mean_loss, [0, 0, 0], data=DATA, seed=1)


def test_a_non_finite_start_is_named(mean_loss):
    with pytest.raises(so.InputError, match="x0"):
        sc.minimize(mean_loss, [0, np.nan, 0], data=DATA, method="lbfgs")


def test_a_progress_bar_over_the_chunks_of_a_pass(mean_loss, capsys):
    sc.minimize(mean_loss, [0, 0, 0], data=DATA, method="lbfgs", n_chunks=4, max_iter=1,
                verbose=True)
    assert "symopt value+grad" in capsys.readouterr().err
    sc.minimize(mean_loss, [0, 0, 0], data=DATA, method="lbfgs", n_chunks=4, max_iter=1)
    assert "symopt" not in capsys.readouterr().err  # short passes: no bar by default
