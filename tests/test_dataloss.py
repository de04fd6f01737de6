"""DataLoss: a loss written for one data row, summed over rows by compiled kernels.

Checked independently: values and gradients against NumPy evaluated over the whole
columns, Hessians against finite differences of the gradient, the logistic-regression
minimum against scipy.optimize on a NumPy-written loss; plus every bad input.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

import symopt as so
from symopt.codegen import BLOCK_ROWS, MAX_BLOCKS

ROOT = Path(__file__).resolve().parents[1]


def _logistic_data(rows, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 2))
    z = 0.5 - 1.0 * X[:, 0] + 2.0 * X[:, 1]
    y = np.where(rng.random(rows) < 1 / (1 + np.exp(-z)), 1.0, -1.0)
    return X, y


def _numpy_loss(w, X, y):
    z = -y * (w[0] + X @ w[1:])
    f = np.mean(np.logaddexp(0.0, z)) + 1e-3 * (w[1] ** 2 + w[2] ** 2)
    s = 1 / (1 + np.exp(-z))
    g = np.array([np.mean(-y * s), np.mean(-y * s * X[:, 0]), np.mean(-y * s * X[:, 1])])
    g[1:] += 2e-3 * w[1:]
    return f, g


@pytest.fixture(scope="module")
def logistic():
    """The issue's logistic loss (mean, with regularization), compiled once."""
    w = so.symbols("w0:3")
    loss = so.DataLoss("softplus(-y*(w0 + w1*x1 + w2*x2))", data=["x1", "x2", "y"], wrt=w,
                       reduce="mean", regularization="1e-3*(w1**2 + w2**2)")
    so.compile(loss).addresses  # compile the kernels once for the module
    return loss


# --- kernels --------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("rows", [1, 7, BLOCK_ROWS - 1, 3 * BLOCK_ROWS + 5,
                                  MAX_BLOCKS * BLOCK_ROWS + 12345])
def test_value_and_gradient_match_numpy_over_columns(logistic, rows):
    # serial (one block) and parallel (several blocks, and the block count capped)
    X, y = _logistic_data(rows)
    w = np.array([0.3, -0.7, 1.1])
    f, g = so.compile(logistic).value_and_grad(w, data={"x1": X[:, 0], "x2": X[:, 1], "y": y})
    f_ref, g_ref = _numpy_loss(w, X, y)
    assert f == pytest.approx(f_ref, rel=1e-12)
    np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-14)


@pytest.mark.slow
def test_results_are_deterministic_and_independent_of_thread_count(logistic):
    import numba

    X, y = _logistic_data(20 * BLOCK_ROWS)
    data = np.column_stack([X, y])
    k = so.compile(logistic)
    w = np.array([0.3, -0.7, 1.1])
    first = k.value_grad_hess(w, data=data)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = k.value_grad_hess(w, data=data)
    finally:
        numba.set_num_threads(threads)
    again = k.value_grad_hess(w, data=data)
    for a, b, c in zip(first, single, again):
        assert np.array_equal(a, b) and np.array_equal(a, c)  # bit for bit


@pytest.mark.slow
def test_hessian_matches_finite_differences_of_the_gradient(logistic):
    X, y = _logistic_data(3 * BLOCK_ROWS)
    data = {"x1": X[:, 0], "x2": X[:, 1], "y": y}
    k = so.compile(logistic)
    w = np.array([0.3, -0.7, 1.1])
    _, _, H = k.value_grad_hess(w, data=data)
    h = 1e-6
    fd = np.array([(_numpy_loss(w + h * e, X, y)[1] - _numpy_loss(w - h * e, X, y)[1]) / (2 * h)
                   for e in np.eye(3)])
    np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-9)
    assert np.array_equal(H, H.T)


@pytest.mark.slow
def test_sum_reduction_and_parameters_are_bound_at_call_time():
    loss = so.DataLoss("a*(y - w*t)**2", data="t y", wrt="w", params="a",
                       regularization="a*w**2")
    t = np.linspace(0, 1, 2 * BLOCK_ROWS)
    y = 3 * t
    k = so.compile(loss)
    for a in (1.0, 2.5):
        f, g = k.value_and_grad([2.0], params={"a": a}, data={"t": t, "y": y})
        assert f == pytest.approx(a * np.sum((y - 2 * t) ** 2) + a * 4.0, rel=1e-12)
        assert g[0] == pytest.approx(a * np.sum(-2 * t * (y - 2 * t)) + 4 * a, rel=1e-12)


def test_generated_kernels_run_row_blocks_in_prange(logistic):
    source = Path(so.compile(logistic).source_path).read_text()
    assert "numba.prange(_nb)" in source and "parallel=True" in source
    assert "def _value_grad_hess_rows(_x, _p, _data, _start, _stop, _out)" in source


def test_row_loops_call_no_libm_and_accumulate_reassociably(logistic):
    # the two conditions for LLVM to vectorise the row loop (docs/data.md): no opaque libm
    # call per row, and accumulators whose additions may be reordered (_rt.radd)
    source = Path(so.compile(logistic).source_path).read_text()
    for name in ("value", "grad", "value_grad", "value_grad_hess"):
        block = source.split(f"def _{name}_rows(")[1].split("\n\n\n")[0]
        loop = block.split("for _i in range(_start, _stop):")[1]
        assert "math." not in loop
        assert "_rt.exp(-abs(" in loop  # the one exp that softplus and sigmoid share
        assert "_s0 = _rt.radd(_s0, " in loop and "+=" not in loop


@pytest.mark.slow
def test_row_loop_is_vectorised_by_llvm():
    # the optimised IR of the block function holds SIMD arithmetic on doubles (any width:
    # <2 x double> with SSE2, <4 x double> AVX2, <8 x double> AVX-512)
    import sys

    b, w, y, t = so.symbols("b w y t")
    loss = so.DataLoss(so.softplus(b + w * t) - y * (b + w * t), data=[t, y], wrt=[b, w])
    kernels = so.compile(loss)
    kernels.value_and_grad([0.1, 0.2], data={"t": np.ones(10), "y": np.ones(10)})
    block = getattr(sys.modules[kernels.value_grad_kernel.py_func.__module__], "_value_grad_rows")
    ir = "".join(block.inspect_llvm().values())
    if "Inspection disabled" in ir or not ir.strip():
        pytest.skip("kernel loaded from Numba's cache: no IR to inspect")
    assert re.search(r"fadd reassoc <\d+ x double>", ir)


@pytest.mark.slow
def test_exp_in_a_row_loop_matches_numpy_up_to_overflow():
    # Poisson loss: the row loop's exp is symopt's branch-free one; NumPy is the oracle,
    # including rows whose exp overflows to inf
    loss = so.DataLoss("exp(w*t) - y*w*t", data="t y", wrt="w")
    t = np.linspace(-3, 3, 3 * BLOCK_ROWS + 7)
    y = np.round(np.exp(0.7 * t))
    k = so.compile(loss)
    for w in (0.7, -1.3, 2.0):
        f, g = k.value_and_grad([w], data={"t": t, "y": y})
        assert f == pytest.approx(np.sum(np.exp(w * t) - y * w * t), rel=1e-13)
        assert g[0] == pytest.approx(np.sum(t * np.exp(w * t) - y * t), rel=1e-12)
    f, g = k.value_and_grad([300.0], data={"t": t, "y": y})   # exp(900): inf, as NumPy's
    assert f == np.inf and g[0] == np.inf


# --- full-batch solvers -----------------------------------------------------------------------
def test_newton_on_logistic_loss_converges_fast_to_scipys_minimum(logistic):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    X, y = _logistic_data(5000, seed=3)
    data = {"x1": X[:, 0], "x2": X[:, 1], "y": y}
    res = so.minimize(logistic, x0=[0, 0, 0], data=data, method="newton")
    assert res.success and res.nit <= 10
    ref = scipy_optimize.minimize(lambda w: _numpy_loss(w, X, y), np.zeros(3), jac=True,
                                  method="BFGS", options={"gtol": 1e-12})
    np.testing.assert_allclose(res.x, ref.x, atol=1e-7)
    assert res.fun == pytest.approx(ref.fun, rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["bfgs", "gd"])
def test_other_full_batch_methods_reach_the_same_minimum(logistic, method):
    X, y = _logistic_data(3000, seed=4)
    data = {"x1": X[:, 0], "x2": X[:, 1], "y": y}
    newton = so.minimize(logistic, [0, 0, 0], data=data)
    res = so.minimize(logistic, [0, 0, 0], data=data, method=method, gtol=1e-7)
    assert res.success
    np.testing.assert_allclose(res.x, newton.x, atol=1e-5)


@pytest.mark.slow
def test_linear_least_squares_in_one_newton_step():
    w = so.symbols("w0:4")
    x = so.symbols("x0:3")
    loss = so.DataLoss((so.symbols("y") - w[0] - so.dot(w[1:], x)) ** 2, data=[*x, "y"], wrt=w)
    data, coef = so.datasets.linear(300, 3, seed=5)
    res = so.minimize(loss, np.zeros(4), data=data)
    A = np.column_stack([np.ones(300)] + [data[f"x{j}"] for j in range(3)])
    np.testing.assert_allclose(res.x, np.linalg.lstsq(A, data["y"], rcond=None)[0], atol=1e-9)
    assert res.nit <= 2


@pytest.mark.slow
def test_parallel_kernels_bind_to_solvers_in_a_fresh_process(logistic, cache_folder):
    # kernels loaded from the disk cache, called through the solver entry point by address
    code = (
        "import numpy as np, symopt as so\n"
        "loss = so.DataLoss('softplus(-y*(w0 + w1*x1 + w2*x2))', data=['x1', 'x2', 'y'],\n"
        "    wrt=so.symbols('w0:3'), reduce='mean', regularization='1e-3*(w1**2 + w2**2)')\n"
        f"rng = np.random.default_rng(0); X = rng.normal(size=({4 * BLOCK_ROWS}, 3))\n"
        "X[:, 2] = np.sign(X[:, 2])\n"
        "r = so.minimize(loss, [0, 0, 0], data=X)\n"
        "print(r.success, r.nit, repr(r.fun))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    success, nit, fun = out.stdout.split()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4 * BLOCK_ROWS, 3))
    X[:, 2] = np.sign(X[:, 2])
    here = so.minimize(logistic, [0, 0, 0], data=X)
    assert success == "True" and int(nit) == here.nit and float(fun) == here.fun


# --- data formats -----------------------------------------------------------------------------
def test_data_formats_give_the_same_loss(logistic):
    X, y = _logistic_data(50)
    k = so.compile(logistic)
    w = [0.1, 0.2, 0.3]
    ref = k.value(w, data={"x1": X[:, 0], "x2": X[:, 1], "y": y})
    matrix = np.column_stack([X, y])
    record = np.zeros(50, dtype=[("y", "f8"), ("x1", "f8"), ("x2", "f4")])
    record["y"], record["x1"], record["x2"] = y, X[:, 0], X[:, 1]
    assert k.value(w, data=matrix) == ref
    assert k.value(w, data=np.asfortranarray(matrix)) == ref
    assert k.value(w, data=record) == pytest.approx(ref, rel=1e-6)  # x2 stored as float32
    assert k.value(w, data={"y": list(y), "x2": X[:, 1], "x1": X[:, 0]}) == ref


def test_data_may_be_the_second_positional_argument_without_parameters(logistic):
    X, y = _logistic_data(30)
    data = {"x1": X[:, 0], "x2": X[:, 1], "y": y}
    k = so.compile(logistic)
    f, g = k.value_and_grad([0.1, 0.2, 0.3], data)
    f2, g2 = k.value_and_grad([0.1, 0.2, 0.3], data=data)
    assert f == f2 and np.array_equal(g, g2)


def test_pandas_dataframe(logistic):
    pd = pytest.importorskip("pandas")
    X, y = _logistic_data(40)
    df = pd.DataFrame({"y": y, "x1": X[:, 0], "x2": X[:, 1]})
    k = so.compile(logistic)
    assert k.value([0.1, 0.2, 0.3], data=df) == k.value([0.1, 0.2, 0.3], data=np.column_stack([X, y]))
    with pytest.raises(so.InputError, match=r"'x2'.*row 3"):
        df.loc[3, "x2"] = np.nan
        k.value([0, 0, 0], data=df)


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("data, error, match", [
    ({"x1": [1.0], "y": [1.0]}, so.InputError, "missing the column 'x2'"),
    ({"x1": [1.0], "x2": [1.0], "y": [1.0], "z": [2.0]}, so.InputError, "unknown data column 'z'"),
    ({"x1": [1.0, 2.0], "x2": [1.0], "y": [1.0, 1.0]}, so.ShapeError, "different lengths"),
    ({"x1": [1.0, "a"], "x2": [1.0, 2.0], "y": [1.0, 1.0]}, so.InputError,
     "'x1' is not numeric: row 1 holds 'a'"),
    ({"x1": [1.0, 2.0, np.nan], "x2": [1.0, 2.0, 3.0], "y": [1, 1, 1]}, so.InputError,
     "'x1' is not finite at row 2"),
    ({"x1": [1.0, 2.0], "x2": [1.0, np.inf], "y": [1, 1]}, so.InputError, "'x2' is not finite at row 1"),
    ({"x1": [], "x2": [], "y": []}, so.InputError, "empty"),
    (np.ones((5, 2)), so.ShapeError, "has 2 columns, but this problem reads 3"),
    (np.ones((0, 3)), so.InputError, "empty"),
    (np.array([[1.0, 2.0, 1.0], [np.nan, 2.0, 1.0]]), so.InputError, "'x1' is not finite at row 1"),
    (None, so.InputError, "pass data="),
    ("x1,x2,y", so.InputError, "data must be a mapping"),
])
def test_bad_data_is_a_clear_error(logistic, data, error, match):
    with pytest.raises(error, match=match):
        so.minimize(logistic, [0, 0, 0], data=data)


@pytest.mark.parametrize("kwargs, match", [
    (dict(loss="(y - w*t)**2", data="t y z", wrt="w"), "does not use the data column 'z'"),
    (dict(loss="(y - w*t)**2", data="t y", wrt="w", regularization="t*w**2"),
     "regularization .* uses the data column 't'"),
    (dict(loss="(y - w*t)**2", data="t y", wrt="w", reduce="median"), "reduce must be"),
    (dict(loss="(y - w*t)**2", data=[], wrt="w"), "at least one data column"),
    (dict(loss="(y - w*t)**2", data="t y", wrt="w y"), "cannot be both"),
    (dict(loss="(y - w*t)**2 + q", data="t y", wrt="w"), "'q', which is neither"),
])
def test_bad_definitions_are_problem_errors(kwargs, match):
    with pytest.raises(so.ProblemError, match=match):
        so.DataLoss(**kwargs)


def test_default_variables_include_those_only_in_the_regularization():
    loss = so.DataLoss("(y - a*t)**2", data="t y", regularization="(a - b)**2")
    assert loss.variable_names == ("a", "b")
    assert loss.expr == (loss.data_symbols[1] - loss.variables[0] * loss.data_symbols[0]) ** 2


# --- vector notation --------------------------------------------------------------------------
def test_symbols_are_real_and_dot_expands():
    w = so.symbols("w0:20")
    x = so.symbols("x0:20")
    assert len(w) == 20 and all(s.is_real for s in w)
    d = so.dot(w, x)
    assert isinstance(d, sympy.Add) and len(d.args) == 20
    assert sympy.diff(d, w[7]) == x[7]
    assert so.dot("a0:2", [1, 2]) == sympy.Symbol("a0", real=True) + 2 * sympy.Symbol("a1", real=True)
    with pytest.raises(so.ProblemError, match="different lengths"):
        so.dot(w, x[:3])


@pytest.mark.slow
def test_twenty_features_with_dot_match_numpy():
    w, x = so.symbols("w0:20"), so.symbols("x0:20")
    loss = so.DataLoss(so.softplus(so.dot(w, x)) - so.symbols("y") * so.dot(w, x),
                       data=[*x, "y"], wrt=w)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 20))
    y = (rng.random(1000) < 0.5).astype(float)
    wv = rng.normal(size=20) * 0.1
    f, g = so.compile(loss).value_and_grad(wv, data=np.column_stack([X, y]))
    z = X @ wv
    assert f == pytest.approx(np.sum(np.logaddexp(0, z) - y * z), rel=1e-12)
    np.testing.assert_allclose(g, X.T @ (1 / (1 + np.exp(-z)) - y), rtol=1e-10)


# --- the neural network example: gradient against hand-written backpropagation -----------------
@pytest.mark.slow
def test_two_layer_network_gradient_is_backpropagation():
    hidden = 2
    x0, x1, y, c = so.symbols("x0 x1 y c")
    a, v = so.symbols(f"a0:{hidden}"), so.symbols(f"v0:{hidden}")
    W = [so.symbols(f"W{j}_0:2") for j in range(hidden)]
    yhat = c + sum(v[j] * sympy.tanh(a[j] + W[j][0] * x0 + W[j][1] * x1) for j in range(hidden))
    loss = so.DataLoss((y - yhat) ** 2, data="x0 x1 y",
                       wrt=[c, *a, *v, *(s for row in W for s in row)], reduce="mean")
    rng = np.random.default_rng(2)
    X = rng.uniform(-2, 2, size=(500, 2))
    t = np.sin(X[:, 0]) * np.cos(X[:, 1])
    theta = rng.normal(size=loss.n)
    f, g = so.compile(loss).value_and_grad(theta, data={"x0": X[:, 0], "x1": X[:, 1], "y": t})
    # backpropagation by hand
    cc, aa, vv = theta[0], theta[1:1 + hidden], theta[1 + hidden:1 + 2 * hidden]
    WW = theta[1 + 2 * hidden:].reshape(hidden, 2)
    h = np.tanh(aa + X @ WW.T)
    err = cc + h @ vv - t
    d_out = 2 * err / len(t)
    d_h = np.outer(d_out, vv) * (1 - h ** 2)
    g_ref = np.concatenate([[d_out.sum()], d_h.sum(0), h.T @ d_out, (d_h.T @ X).ravel()])
    assert f == pytest.approx(np.mean(err ** 2), rel=1e-12)
    np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-13)


# --- examples ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["linear_regression", "logistic_regression",
                                  "poisson_regression", "neural_net"])
def test_example_runs_on_small_data(name, tmp_path):
    env = dict(os.environ, SYMOPT_EXAMPLE_SMALL="1", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py")], cwd=tmp_path,
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("module", ["symopt.vector", "symopt.datasets", "symopt.problem"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.slow
def test_data_guide_examples_run():
    import re

    text = (ROOT / "docs" / "data.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/data.md", "exec"), namespace)  # noqa: S102 - our own docs
    assert namespace["res"].success and namespace["loss"].n == 21
