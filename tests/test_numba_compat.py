"""The Numba internals symopt relies on (symopt/_numba_compat.py), and the fallback.

When a Numba release removes or renames one of them, the first test fails with the
reason; the fallback (public API only) is exercised in a subprocess.
"""

import os
import subprocess
import sys

import numba
import pytest

from symopt import _numba_compat


def test_the_numba_internals_symopt_uses_are_present():
    reason = _numba_compat.internals_missing()
    assert reason is None, (
        f"Numba {numba.__version__} changed an internal symopt binds kernels with: {reason}. "
        "Update symopt/_numba_compat.py (its docstring lists every internal used), or run "
        "with SYMOPT_NUMBA_PUBLIC_ONLY=1 (slower, public API only) meanwhile.")
    assert _numba_compat.MODE == "jit" and not _numba_compat.PUBLIC_ONLY


_CHILD = """
import numpy as np
import symopt as so
from symopt import _numba_compat
assert _numba_compat.PUBLIC_ONLY and _numba_compat.MODE == "cfunc"
rosen = "(1 - x)**2 + 100*(y - x**2)**2"
for method in ("newton", "bfgs"):
    res = so.minimize(rosen, [-1.2, 1.0], method=method)
    assert res.success and np.allclose(res.x, [1.0, 1.0], atol=1e-6), res
res = so.minimize(so.LeastSquares(["1 - x", "10*(y - x**2)"]), [-1.2, 1.0], method="lm")
assert res.success and np.allclose(res.x, [1.0, 1.0], atol=1e-8), res
print("ok")
"""


@pytest.mark.slow
def test_the_public_api_fallback_solves_problems(tmp_path):
    env = dict(os.environ, SYMOPT_NUMBA_PUBLIC_ONLY="1", SYMOPT_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


_TENSOR_CHILD = """
import sys
import numpy as np
import symopt.tensor as st
from symopt import _numba_compat
from symopt.tensor.codegen import BLOCK_ROWS
assert _numba_compat.PUBLIC_ONLY and not _numba_compat.USE_ADDRESS_OF
p = st.Problem("mean(softplus(X @ w + b) - y*(X @ w + b)) + 0.01*sum(w**2)",
               data={"X": "m d", "y": "m"}, wrt={"w": "d", "b": ""})
k = st.compile(p)
source = k.source_of("value_grad")
assert "address_of" not in source and "run_blocks" not in source, source
rng = np.random.default_rng(0)
m = 3 * BLOCK_ROWS + 17  # several blocks
X = rng.standard_normal((m, 6)); y = (rng.random(m) < 0.5).astype(float)
x = rng.standard_normal(7)
b = k.bind({"X": X, "y": y})
g = np.empty(7)
f = k.value_grad_kernel(x, b.p, b.table, g)
print(repr(float(f)), " ".join(repr(float(v)) for v in g))
print(repr(float(k.value(x, binding=b))))
res = st.minimize(p, {"w": np.zeros(6), "b": 0.0}, "lbfgs", data={"X": X, "y": y})
print(res.success, res.nit)
"""


@pytest.mark.slow
def test_array_kernels_in_public_only_mode_give_the_same_bits(tmp_path):
    """Array kernels without address_of (blocks called one after the other) compute the
    same value and gradient, to the last bit, as the parallel runner."""
    import numpy as np

    import symopt.tensor as st
    from symopt.tensor.codegen import BLOCK_ROWS

    env = dict(os.environ, SYMOPT_NUMBA_PUBLIC_ONLY="1", SYMOPT_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _TENSOR_CHILD], env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    p = st.Problem("mean(softplus(X @ w + b) - y*(X @ w + b)) + 0.01*sum(w**2)",
                   data={"X": "m d", "y": "m"}, wrt={"w": "d", "b": ""})
    k = st.compile(p)
    assert "_tr.address_of" in k.source_of("value_grad")
    rng = np.random.default_rng(0)
    m = 3 * BLOCK_ROWS + 17
    X = rng.standard_normal((m, 6))
    y = (rng.random(m) < 0.5).astype(float)
    x = rng.standard_normal(7)
    b = k.bind({"X": X, "y": y})
    g = np.empty(7)
    f = k.value_grad_kernel(x, b.p, b.table, g)
    child = [float(v) for v in lines[0].split()]
    assert child[0] == f and child[1:] == list(g)
    assert float(lines[1]) == f  # the value through the public-only value wrapper
    assert lines[2].startswith("True")


def test_inline_helpers_ir_is_built_once_per_process():
    # the solvers' helpers are inlined at many call sites; their IR is built once
    # (symopt._numba_compat.memoize_inline_frontend), the fallback being Numba's own way
    import numpy as np
    from numba import njit

    import symopt.solvers._jit  # noqa: F401 - installs the memo
    from symopt.solvers.linalg import dot

    assert _numba_compat.memoize_inline_frontend() is True

    @njit
    def twice(a):
        return dot(a, a) + dot(a, a)

    a = np.arange(3.0)
    assert twice(a) == 2 * float(a @ a)
    assert any(key[0] is dot.py_func for key in _numba_compat._inline_ir)
