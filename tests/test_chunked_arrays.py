"""symopt.chunked with the array formulas of symopt.tensor: chunked evaluations equal the
whole-data kernels, solves reach a NumPy Newton (IRLS) optimum, memory-mapped rows are
read in place, and a loss that is not the declared mean or sum over the rows is refused.
Skipped where symopt.tensor is not installed."""

import numpy as np
import pytest

import symopt as so
import symopt.chunked as sc

st = pytest.importorskip("symopt.tensor")

ROWS, FEATURES = 3000, 4
LAM = 0.05


def _data(seed=7):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((ROWS, FEATURES))
    coef = np.array([1.0, -0.5, 0.25, 2.0])
    y = (rng.random(ROWS) < 1 / (1 + np.exp(-(X @ coef + 0.3)))).astype(np.float64)
    return X, y


X, Y = _data()
DATA = {"X": X, "y": Y}
X0 = {"w": np.zeros(FEATURES), "b": 0.0}


@pytest.fixture(scope="module")
def problems():
    m, d = st.dims("m d")
    Xs, ys = st.data("X", (m, d)), st.data("y", m)
    w, b = st.variable("w", d), st.variable("b")
    z = Xs @ w + b
    rows = st.softplus(z) - ys * z
    return {"mean": st.Problem(st.mean(rows) + LAM * st.sum(w * w)),
            "sum": st.Problem(st.sum(rows) + LAM * st.sum(w * w))}


def _irls(reduce):
    """Penalised logistic regression by a NumPy Newton iteration (the oracle)."""
    A = np.column_stack([X, np.ones(ROWS)])
    scale = 1.0 / ROWS if reduce == "mean" else 1.0
    penalty = np.diag([2 * LAM] * FEATURES + [0.0])
    beta = np.zeros(FEATURES + 1)
    for _ in range(50):
        p = 1 / (1 + np.exp(-A @ beta))
        g = scale * A.T @ (p - Y) + penalty @ beta
        H = scale * (A * (p * (1 - p))[:, None]).T @ A + penalty
        step = np.linalg.solve(H, g)
        beta -= step
        if np.abs(step).max() < 1e-15:
            break
    return beta


SPLITS = {"uneven": [0, 1, 1, 1000, 1001, ROWS], "even": list(range(0, ROWS + 1, 500))}


@pytest.mark.slow
@pytest.mark.parametrize("reduce", ["mean", "sum"])
@pytest.mark.parametrize("splits", SPLITS, ids=list(SPLITS))
def test_chunked_array_kernels_equal_the_whole_data_kernels(problems, reduce, splits):
    problem = problems[reduce]
    k = st.compile(problem)
    binding = k.bind(DATA, None, X0)
    x = binding.x({"w": np.array([0.3, -0.2, 0.1, 0.5]), "b": -0.1})
    v = np.linspace(-1, 1, FEATURES + 1)
    g = np.empty(FEATURES + 1)
    f = k.value_grad_kernel(x, binding.p, binding.table, g)
    hv = np.empty(FEATURES + 1)
    k.hvp_kernel(x, binding.p, binding.table, v, hv)
    model = sc.model_for(problem, rows="m", reduce=reduce)
    source = sc.ArrayChunks(DATA, splits=SPLITS[splits])
    model.start(source.sample(), X0)
    evaluator = sc.Evaluator(model, source)
    out = evaluator.evaluate("value_grad", x)
    assert out[0] == pytest.approx(f, rel=1e-13)
    np.testing.assert_allclose(out[1:], g, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(evaluator.evaluate("hvp", x, v), hv, rtol=1e-12, atol=1e-14)
    H = evaluator.evaluate("value_grad_hess", x)[1 + FEATURES + 1:].reshape(FEATURES + 1, -1)
    np.testing.assert_allclose(H @ v, hv, rtol=1e-11, atol=1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lbfgs", "newton", "newton-cg", "trust-ncg"])
def test_array_formula_solves_reach_the_oracle(problems, method):
    res = sc.minimize(problems["mean"], X0, sc.ArrayChunks(DATA, splits=SPLITS["uneven"]),
                      method, rows="m", reduce="mean")
    assert res.success, res.message
    # symopt.tensor's trust-ncg stops on its ftol test with |g| ~ 3e-8 here
    close = 2e-6 if method == "trust-ncg" else 1e-7
    np.testing.assert_allclose(res.x, _irls("mean"), rtol=close, atol=close / 100)
    memory = st.minimize(problems["mean"], X0, method, data=DATA)
    assert res.status == memory.status
    np.testing.assert_allclose(res.x, memory.x, rtol=1e-10 if res.status == 0 else 1e-7)


@pytest.mark.slow
def test_memory_mapped_rows_are_read_in_place(problems, tmp_path):
    """read="madvise" (and "map") hand the kernels views of the mapping, never copies."""
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", Y)
    mapped = {"X": np.load(tmp_path / "X.npy", mmap_mode="r"),
              "y": np.load(tmp_path / "y.npy", mmap_mode="r")}
    model = sc.model_for(problems["sum"], rows="m", reduce="sum")
    source = sc.ArrayChunks(mapped, chunk_rows=700, read="madvise")
    model.start(source.sample(), X0)
    chunk = next(iter(source))
    prepared = model.prepare(chunk, keep=False)
    assert np.shares_memory(prepared.arrays["X"], mapped["X"])
    res = sc.minimize(problems["sum"], X0, source, "newton", rows="m", reduce="sum")
    np.testing.assert_allclose(res.x, _irls("sum"), rtol=1e-8)


def test_a_loss_that_is_not_the_declared_reduction_is_refused(problems):
    with pytest.raises(so.ProblemError, match="not a sum over the rows m"):
        sc.minimize(problems["mean"], X0, DATA, "lbfgs", rows="m", reduce="sum")
    with pytest.raises(so.InputError, match="rows='m'"):
        sc.minimize(problems["mean"], X0, DATA, "lbfgs")
    with pytest.raises(so.ProblemError, match="not a size of the formula"):
        sc.minimize(problems["mean"], X0, DATA, "lbfgs", rows="n", reduce="mean")
    with pytest.raises(sc.ChunkError, match="lack the array 'y'"):
        sc.minimize(problems["mean"], X0, {"X": X}, "lbfgs", rows="m", reduce="mean")


@pytest.mark.slow
def test_a_fixed_array_without_the_rows_axis(problems):
    m, d = st.dims("m d")
    Xs, ys = st.data("X", (m, d)), st.data("y", m)
    prior = st.data("prior", d)
    w, b = st.variable("w", d), st.variable("b")
    z = Xs @ w + b
    problem = st.Problem(st.mean(st.softplus(z) - ys * z) + LAM * st.sum((w - prior) ** 2))
    res = sc.minimize(problem, X0, sc.ArrayChunks(DATA, n_chunks=3), "newton", rows="m",
                      reduce="mean", fixed={"prior": np.zeros(FEATURES)})
    np.testing.assert_allclose(res.x, _irls("mean"), rtol=1e-8)
