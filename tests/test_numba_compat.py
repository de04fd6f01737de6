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
