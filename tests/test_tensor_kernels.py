"""symopt.tensor kernels: compiled value, gradient, Hessian-vector product and Hessian
agree with the NumPy reference evaluator, with finite differences and with symopt's
scalar path; one compilation serves every size; data are read in place; results do not
depend on the number of threads."""

import numba
import numpy as np
import pytest

import symopt as so
import symopt.tensor as st
from symopt.errors import InputError, ShapeError
from symopt.tensor.autodiff import directions
from symopt.tensor.reference import evaluate

rng = np.random.default_rng(7)


def logistic_problem():
    return st.Problem("mean(softplus(X @ w + b) - y*(X @ w + b))", data={"X": "m d", "y": "m"},
                      wrt={"w": "d", "b": ""})


def extended_rosenbrock():
    return st.Problem("sum(100*(x[1::2] - x[::2]**2)**2 + (1 - x[::2])**2)", wrt={"x": "n"},
                      even="n")


@pytest.fixture(scope="module")
def logistic():
    problem = logistic_problem()
    return problem, st.compile(problem)


def _flat(parts, problem):
    return np.concatenate([np.ravel(parts[v.name]) for v in problem.variables])


def _check_against_reference(problem, data, x0, dims=None, hessian=True):
    k = st.compile(problem)
    binding = k.bind(data, None, x0, dims)
    x = binding.x(x0)
    env = {leaf: binding.arrays[i] for i, leaf in enumerate(problem.data)}
    parts = binding.split(x)
    env.update({v: parts[v.name] for v in problem.variables})
    f_ref, *g_ref = evaluate([problem.loss] + [problem.gradient_formulas[v] for v in problem.variables],
                             env, binding.dims)
    g_ref = np.concatenate([np.ravel(g) for g in g_ref])
    f, g = k.value_and_grad(x, binding=binding)
    assert f == pytest.approx(f_ref, rel=1e-12, abs=1e-14)
    assert k.value(x, binding=binding) == pytest.approx(f_ref, rel=1e-12, abs=1e-14)
    assert k.value_kernel(x, binding.p, binding.table) == pytest.approx(f_ref, rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(_flat(g, problem), g_ref, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(_flat(k.grad(x, binding=binding), problem), g_ref, rtol=1e-11,
                               atol=1e-13)
    v = rng.standard_normal(x.size)
    dirs = directions(problem.variables)
    venv = {dirs[var]: part for var, part in zip(problem.variables,
                                                 binding.split(v).values())}
    hv_ref = evaluate([problem.hvp_formulas[var] for var in problem.variables], {**env, **venv},
                      binding.dims)
    hv_ref = np.concatenate([np.ravel(h) for h in hv_ref])
    hv = _flat(k.hvp(x, v, binding=binding), problem)
    np.testing.assert_allclose(hv, hv_ref, rtol=1e-11, atol=1e-12)
    if hessian:
        H = k.hessian(x, binding=binding)
        np.testing.assert_allclose(H, H.T, atol=1e-14)
        np.testing.assert_allclose(H @ v, hv, rtol=1e-10, atol=1e-12)


CASES = {
    "logistic": (logistic_problem, lambda: {"X": rng.standard_normal((40, 5)), "y": rng.random(40)},
                 lambda: {"w": rng.standard_normal(5) * 0.3, "b": 0.1}, None, True),
    "ridge with parameter-free penalty": (
        lambda: st.Problem("mean((X @ w + b - y)**2) + 0.3*sum(w**2)", data={"X": "m d", "y": "m"},
                           wrt={"w": "d", "b": ""}),
        lambda: {"X": rng.standard_normal((30, 4)), "y": rng.random(30)},
        lambda: {"w": rng.standard_normal(4), "b": 0.0}, None, True),
    "softmax cross-entropy": (
        lambda: st.Problem("mean(logsumexp(X @ W + c, axis=1) - pick(X @ W + c, lab)) + 1e-2*sum(W**2)",
                           data={"X": "m d", "lab": ("m", int)}, wrt={"W": "d K", "c": "K"}),
        lambda: {"X": rng.standard_normal((25, 3)), "lab": rng.integers(0, 4, 25)},
        lambda: {"W": rng.standard_normal((3, 4)) * 0.3, "c": np.zeros(4)}, {"K": 4}, False),
    "two-layer network": (
        lambda: st.Problem("mean((tanh(X @ W1 + b1) @ w2 + b2 - y)**2)", data={"X": "m d", "y": "m"},
                           wrt={"W1": "d h", "b1": "h", "w2": "h", "b2": ""}),
        lambda: {"X": rng.standard_normal((20, 3)), "y": rng.random(20)},
        lambda: {"W1": rng.standard_normal((3, 4)), "b1": np.zeros(4), "w2": rng.standard_normal(4),
                 "b2": 0.0}, {"h": 4}, False),
    "chained rosenbrock (index sum)": (
        lambda: st.Problem("sum(100*(x[i+1] - x[i]**2)**2 + (1 - x[i])**2, (i, 0, n - 2))",
                           wrt={"x": "n"}),
        lambda: {}, lambda: {"x": rng.standard_normal(9)}, None, True),
    "extended rosenbrock": (extended_rosenbrock, lambda: {}, lambda: {"x": rng.standard_normal(10)},
                            None, True),
    "variance (two passes)": (
        lambda: st.Problem("mean((X @ w - mean(X @ w))**2) + sum(w**4)", data={"X": "m d"},
                           wrt={"w": "d"}),
        lambda: {"X": rng.standard_normal((15, 3))}, lambda: {"w": rng.standard_normal(3)}, None, True),
    "max, logsumexp over rows, transpose": (
        lambda: st.Problem("max(X.T @ y) + sum(w**2) + logsumexp(X @ w)", data={"X": "m d", "y": "m"},
                           wrt={"w": "d"}),
        lambda: {"X": rng.standard_normal((12, 3)), "y": rng.random(12)},
        lambda: {"w": rng.standard_normal(3)}, None, True),
    "single elements and broadcasting": (
        lambda: st.Problem("(x[0] - 1)**2 + (x[n - 1]*x[1] - 2)**2 + sum(x**4) + sum((A - x)**2)",
                           data={"A": "k n"}, wrt={"x": "n"}),
        lambda: {"A": rng.standard_normal((3, 5))}, lambda: {"x": rng.standard_normal(5)}, None, True),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_kernels_agree_with_the_reference_evaluator(name):
    make_problem, make_data, make_x, dims, hessian = CASES[name]
    _check_against_reference(make_problem(), make_data(), make_x(), dims, hessian)


@pytest.mark.slow
def test_logistic_kernels_agree_with_the_reference(logistic):
    problem, _ = logistic
    _check_against_reference(problem, {"X": rng.standard_normal((300, 6)), "y": rng.random(300)},
                             {"w": rng.standard_normal(6), "b": -0.2})


def test_gradient_matches_finite_differences_of_the_compiled_value(logistic):
    problem, k = logistic
    X, y = rng.standard_normal((50, 4)), rng.random(50)
    binding = k.bind({"X": X, "y": y})
    x = rng.standard_normal(5)
    g = _flat(k.grad(x, binding=binding), problem)
    eps = 1e-6
    fd = [(k.value(x + eps * e, binding=binding) - k.value(x - eps * e, binding=binding)) / (2 * eps)
          for e in np.eye(5)]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


# --- the scalar path: same values, gradients and Hessians to 1e-12 ---------------------------------


@pytest.mark.slow
def test_logistic_equals_the_scalar_data_loss_path(logistic):
    problem, k = logistic
    d, m = 3, 20
    X, y = rng.standard_normal((m, d)), (rng.random(m) < 0.5).astype(float)
    w = so.symbols("w0:3")
    x = so.symbols("x0:3")
    z = so.dot(w, x) + so.symbols("b")
    scalar = so.DataLoss(so.softplus(z) - so.symbols("y") * z, data=[*x, "y"], wrt=[*w, "b"],
                         reduce="mean")
    columns = {f"x{j}": X[:, j] for j in range(d)} | {"y": y}
    point = rng.standard_normal(d + 1)
    ks = so.compile(scalar)
    f_s, g_s, H_s = ks.value_grad_hess(point, data=columns)
    binding = k.bind({"X": X, "y": y})
    f, g = k.value_and_grad(point, binding=binding)
    H = k.hessian(point, binding=binding)
    assert f == pytest.approx(f_s, rel=1e-12)
    np.testing.assert_allclose(_flat(g, problem), g_s, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(H, H_s, rtol=1e-12, atol=1e-15)


@pytest.mark.slow
def test_extended_rosenbrock_equals_the_scalar_path():
    problem = extended_rosenbrock()
    k = st.compile(problem)
    n = 6
    text = " + ".join(f"100*(x{2 * j + 1} - x{2 * j}**2)**2 + (1 - x{2 * j})**2" for j in range(n // 2))
    scalar = so.Problem(text, wrt=[f"x{j}" for j in range(n)])
    point = rng.standard_normal(n)
    f_s, g_s, H_s = so.compile(scalar).value_grad_hess(point)
    binding = k.bind(x={"x": point})
    f, g = k.value_and_grad(point, binding=binding)
    assert f == pytest.approx(f_s, rel=1e-12)
    np.testing.assert_allclose(g["x"], g_s, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(k.hessian(point, binding=binding), H_s, rtol=1e-12, atol=1e-12)


# --- one compilation, every size ----------------------------------------------------------------


def _compiled_signatures(kernels) -> int:
    modules = kernels.__dict__.get("_modules", {}).values()
    return sum(len(obj.overloads) for module in modules for obj in vars(module).values()
               if isinstance(obj, numba.core.registry.CPUDispatcher))


def test_a_second_size_compiles_nothing(logistic):
    problem, k = logistic
    for name in ("value", "value_grad", "hvp"):
        k.kernel(name)
    small = k.bind({"X": rng.standard_normal((40, 3)), "y": rng.random(40)})
    k.value_and_grad(np.zeros(4), binding=small)
    k.hvp(np.zeros(4), np.ones(4), binding=small)
    before = _compiled_signatures(k)
    large = k.bind({"X": rng.standard_normal((9000, 17)), "y": rng.random(9000)})
    k.value_and_grad(np.zeros(18), binding=large)
    k.hvp(np.zeros(18), np.ones(18), binding=large)
    assert before > 0 and _compiled_signatures(k) == before


def test_data_are_read_in_place_not_copied(logistic):
    _, k = logistic
    X = rng.standard_normal((10, 2))
    y = rng.random(10)
    binding = k.bind({"X": X, "y": y})
    assert binding.arrays[0] is X and binding.table[1, 0] == float(X.ctypes.data)
    # non-contiguous or integer data are converted once, at binding
    Xt = np.asfortranarray(X)
    assert k.bind({"X": Xt, "y": y}).arrays[0].flags.c_contiguous


def test_results_do_not_depend_on_the_number_of_threads(logistic):
    problem, k = logistic
    X, y = rng.standard_normal((60_000, 4)), rng.random(60_000)
    binding = k.bind({"X": X, "y": y})
    x = rng.standard_normal(5)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = k.value_and_grad(x, binding=binding)
    finally:
        numba.set_num_threads(threads)
    many = k.value_and_grad(x, binding=binding)
    assert one[0] == many[0]
    np.testing.assert_array_equal(_flat(one[1], problem), _flat(many[1], problem))


# --- bad input at solve time ----------------------------------------------------------------------


def test_wrong_data_shapes_name_both_shapes(logistic):
    _, k = logistic
    with pytest.raises(ShapeError, match=r"data 'y' has shape \(9,\) but the formula needs \(m,\) = \(10,\)"):
        k.bind({"X": np.ones((10, 2)), "y": np.ones(9)})
    with pytest.raises(ShapeError, match="declares 2 axes"):
        k.bind({"X": np.ones(10), "y": np.ones(10)})
    with pytest.raises(ShapeError, match=r"x0\['w'\] has shape \(3,\)"):
        k.value({"w": np.ones(3), "b": 0.0}, data={"X": np.ones((10, 2)), "y": np.ones(10)})


def test_bad_values_are_input_errors(logistic):
    _, k = logistic
    X = np.ones((4, 2))
    X[2, 1] = np.nan
    with pytest.raises(InputError, match=r"NaN or Inf \(first at index \(2, 1\)\)"):
        k.bind({"X": X, "y": np.ones(4)})
    with pytest.raises(InputError, match="no array for y"):
        k.bind({"X": np.ones((4, 2))})
    problem = st.Problem("mean(logsumexp(X @ W, axis=1) - pick(X @ W, lab))",
                         data={"X": "m d", "lab": ("m", int)}, wrt={"W": "d K"})
    with pytest.raises(InputError, match="labels must be in 0..2"):
        st.compile(problem).bind({"X": np.ones((3, 2)), "lab": np.array([0, 1, 3])}, dims={"K": 3})


def test_generated_source_is_readable():
    problem = extended_rosenbrock()
    source = st.compile(problem).source
    assert source.startswith("# symopt generated array kernels")
    assert "formula: sum(100*(x[1::2] - x[::2]**2)**2 + (1 - x[::2])**2)" in source
    assert "def value_grad(_x, _p, _data, _g):" in source


# --- the banded Hessian of sums over shifted and strided slices --------------------------------------

BANDED = {
    "extended rosenbrock": (extended_rosenbrock, 1),
    "chained rosenbrock and a quartic": (lambda: st.Problem(
        "sum(100*(x[i+1] - x[i]**2)**2 + (1 - x[i])**2, (i, 0, n - 2)) + 0.5*sum(x**4)",
        wrt={"x": "n"}), 1),
    "second differences with data": (lambda: st.Problem(
        "sum((x[2:] - 2*x[1:n-1] + x[:n-2] - h[1:n-1])**2) + lam*sum(exp(x))",
        data={"h": "n"}, wrt={"x": "n"}, params={"lam": ""}), 2),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", BANDED)
def test_band_hessian_equals_the_dense_hessian(name):
    make, bandwidth = BANDED[name]
    problem = make()
    assert problem.band.bandwidth == bandwidth
    assert problem.hessian_sparsity.startswith(f"banded Hessian, bandwidth {bandwidth}")
    k = st.compile(problem)
    n = 12
    data = {"h": rng.standard_normal(n)} if problem.data else {}
    params = {"lam": 0.3} if problem.parameters else None
    binding = k.bind(data, params, {"x": np.zeros(n)})
    x = rng.standard_normal(n)
    dense = k.hessian(x, binding=binding)
    np.testing.assert_allclose(k.hessian_sparse(x, binding=binding).toarray(), dense,
                               rtol=1e-13, atol=1e-12)
    assert np.count_nonzero(np.triu(dense, bandwidth + 1)) == 0


def test_a_loss_that_is_not_separable_says_why_it_has_no_band():
    problem = st.Problem("sum(x[::2]*x[1::2]) + sum(x)**2", wrt={"x": "n"}, even="n")
    assert problem.hessian_sparsity.startswith("dense")
    with pytest.raises(so.ProblemError, match="not a sum over one axis|constant coefficients"):
        problem.band


# --- row tiling (symopt/tensor/_tiling.py) ------------------------------------------------------


def test_row_tiling_gives_the_untiled_results(logistic, monkeypatch):
    """A tiled row loop (several rows per pass over the inner loops) and the untiled one
    agree; rows that do not fill a tile run untiled."""
    import symopt.tensor._emit as codegen  # the loops' tunables (re-exported by tensor.codegen)

    problem, tiled = logistic
    assert "_tile_hi" in tiled.source_of("value_grad") and "_tile_hi" in tiled.source_of("hvp")
    monkeypatch.setattr(codegen, "TILE_ROWS", 1)
    untiled = st.compile(logistic_problem())
    assert "_tile_hi" not in untiled.source_of("value_grad")
    m = 7 * codegen.TILE_ROWS + 5
    data = {"X": rng.standard_normal((m, 6)), "y": rng.random(m)}
    x, v = rng.standard_normal(7), rng.standard_normal(7)
    f1, g1 = tiled.value_and_grad(x, data=data)
    f0, g0 = untiled.value_and_grad(x, data=data)
    assert f1 == pytest.approx(f0, rel=1e-14)
    np.testing.assert_allclose(_flat(g1, problem), _flat(g0, problem), rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(_flat(tiled.hvp(x, v, data=data), problem),
                               _flat(untiled.hvp(x, v, data=data), problem), rtol=1e-14, atol=1e-16)


def test_row_tiling_leaves_order_dependent_updates_alone():
    from symopt.tensor._tiling import tile_body

    dot = {"kind": "dot", "vars": ["_j1"], "lines": ["        _t2 = 0.0", "        for _j1 in range(d):",
                                                      "            _t2 = _rt.radd(_t2, X[_i, _j1]*w[_j1])"]}
    acc = {"kind": "accumulate", "vars": ["_j4"], "lines": ["        for _j4 in range(d):",
                                                             "            _q3[_j4] += _t2*X[_i, _j4]"]}
    pre, tiled = tile_body([dot, acc], "_i", "        ", 2)
    assert "            _q3[_j4] = _q3[_j4] + (_t2__0*X[_i__0, _j4]) + (_t2__1*X[_i__1, _j4])" in tiled
    scalar = {"kind": "scalar", "lines": ["        _h5 = _rt.exp(_t2 + y[_i])"]}
    acc5 = {"kind": "accumulate", "vars": ["_j4"], "lines": ["        for _j4 in range(d):",
                                                              "            _q3[_j4] += _h5*X[_i, _j4]"]}
    pre, tiled = tile_body([dot, scalar, acc5], "_i", "        ", 2)
    assert pre == ["    _T_h5 = np.empty(2)"]  # the dot and the scalar work: one loop over the rows
    assert "                _t2 = _rt.radd(_t2, X[_i_t, _j1]*w[_j1])" in tiled
    assert "            _h5 = _rt.exp(_t2 + y[_i_t])" in tiled  # once, in a loop over the rows
    assert "        _h5__1 = _T_h5[1]" in tiled
    pre, tiled = tile_body([dot, scalar, acc5], "_i", "        ", 2, jam_dots=True)
    assert pre == ["    _T_h5 = np.empty(2)", "    _T_t2 = np.empty(2)"]
    assert "            _h5 = _rt.exp(_t2 + y[_i_t])" in tiled
    assert tiled.count("        _T_t2[1] = _t2__1") == 1 and "        _h5__1 = _T_h5[1]" in tiled
    scatter = {"kind": "scalar", "lines": ["        _g[2*_i] += _t2"]}
    assert tile_body([dot, acc, scatter], "_i", "        ", 2) is None  # a scatter-add
    assert tile_body([dot], "_i", "        ", 2) is None  # no partial-sum update to share
    fill = {"kind": "fill", "vars": ["_j5"], "lines": ["        for _j5 in range(d):", "            _w[_j5] = 1.0"]}
    assert tile_body([dot, fill, acc], "_i", "        ", 2) is None  # a row buffer
