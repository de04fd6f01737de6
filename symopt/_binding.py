"""Binding kernels to compiled solvers at run time, by address.

A solver takes its kernels as first-class functions (:mod:`symopt.abi`).  Handing it
Numba dispatchers from Python converts them on every call (tens of microseconds), and
binding them inside a per-problem ``@njit`` wrapper means compiling that wrapper -
which re-optimises the whole linked solver, about a second - in every new process.

Instead, each method has one *entry point*, compiled once per install and cached on
disk, that takes the kernels' machine-code addresses as plain integers and turns them
into first-class function values inside compiled code (:func:`value_fn` and friends).
A new problem then compiles nothing but its kernels, and a call from Python costs
about a microsecond.  The addresses stay valid while the kernels' dispatchers live:
:class:`symopt.Kernels` holds them.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from numba import njit, types

from . import abi
from ._numba_compat import MODE, direct_call, function_from_address, kernel_address
from .solvers.status import INVALID_INPUT

__all__ = ["jit_address", "value_fn", "value_grad_fn", "value_grad_hess_fn", "residuals_fn",
           "residuals_jacobian_fn", "entry_point", "direct_entry_call", "no_hessian_address",
           "batch_entry_point",
           "batch_sig", "gather_data", "BATCH_COUNTS"]


# The Numba internals used here live in symopt._numba_compat (with a public-API fallback);
# these names are kept for the packages that import them from here.
_function_from_address = function_from_address


value_fn = _function_from_address(abi.ValueFn)
value_grad_fn = _function_from_address(abi.ValueGradFn)
value_grad_hess_fn = _function_from_address(abi.ValueGradHessFn)
residuals_fn = _function_from_address(abi.ResidualsFn)
residuals_jacobian_fn = _function_from_address(abi.ResidualsJacobianFn)


def jit_address(dispatcher, signature) -> int:
    """Address of the compiled function of ``dispatcher`` for ``signature``, as the
    entry points take it (:func:`symopt._numba_compat.kernel_address`)."""
    return kernel_address(dispatcher, signature)


@njit(cache=True, nogil=True)
def _no_hessian(x, p, data, g_out, H_out):
    """Stands in for the Hessian kernel of a method that never calls it; NaN if it did."""
    return math.nan


def no_hessian_address() -> int:
    """Address of :func:`_no_hessian` compiled for ``abi.value_grad_hess_sig`` (on first
    use, then from Numba's disk cache)."""
    if not _no_hessian.signatures:
        _no_hessian.compile(abi.value_grad_hess_sig)
    return jit_address(_no_hessian, abi.value_grad_hess_sig)


def _solver_sources_hash() -> str:
    """Hash of the solver package and the ABI: an entry point's Numba cache must be
    rebuilt when any solver code it links in changes."""
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted((root / "solvers").glob("*.py")) + [root / "abi.py", root / "_binding.py",
                                                            root / "_numba_compat.py"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(MODE.encode())  # the binding mode changes the generated entries
    return digest.hexdigest()[:16]


_SCALAR_ENTRY = '''\
# symopt solver entry point for method {method!r}: takes kernel addresses, compiled once.
# solver sources hash: {sources}
import numba

from symopt import abi
from symopt._binding import value_fn, value_grad_fn, value_grad_hess_fn
from {module} import {function} as _solve


@numba.njit(abi.entry_sig, cache=True, nogil=True, error_model="numpy")
def entry(value_address, value_grad_address, value_grad_hess_address,
          x, p, data, opts, info, hist, g_out, H_out):
    return _solve(value_fn(value_address), value_grad_fn(value_grad_address),
                  value_grad_hess_fn(value_grad_hess_address),
                  x, p, data, opts, info, hist, g_out, H_out)
'''

_LEAST_SQUARES_ENTRY = '''\
# symopt least-squares entry point for method {method!r}: takes kernel addresses, compiled once.
# solver sources hash: {sources}
import numba

from symopt import abi
from symopt._binding import residuals_fn, residuals_jacobian_fn
from {module} import {function} as _solve


@numba.njit(abi.ls_entry_sig, cache=True, nogil=True, error_model="numpy")
def entry(residuals_address, residuals_jacobian_address,
          x, p, data, opts, info, hist, r_out, J_out):
    return _solve(residuals_fn(residuals_address),
                  residuals_jacobian_fn(residuals_jacobian_address),
                  x, p, data, opts, info, hist, r_out, J_out)
'''

#: method kind -> its entry template
_TEMPLATES = {"scalar": _SCALAR_ENTRY, "least_squares": _LEAST_SQUARES_ENTRY}


def _entry_row(method: str) -> tuple[str | None, str, str, str]:
    """``(entry template or None, solver module, solver function, sources hash)`` of
    ``method``, from its registry row.  A solver module outside :mod:`symopt.solvers`
    (a method registered by a user) adds its own source to the hash."""
    from .solvers import registry

    row = registry.lookup(method)
    module = row.qualified_module
    sources = _solver_sources_hash()
    if not module.startswith("symopt.solvers."):
        import importlib
        import inspect

        text = inspect.getsource(importlib.import_module(module))
        sources += "-" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return _TEMPLATES.get(row.kind), module, row.function, sources


_entries: dict[str, object] = {}


def _entry_source(method: str) -> str:
    """The source text of ``method``'s entry point module.  It calls the solver's
    wrapper inlined (:data:`symopt.solvers._jit.INLINABLE`) when the solver's module
    publishes one, so that compiling the entry does not compile the solver a second
    time; else (a method registered with only a compiled solver) the solver."""
    import importlib

    from .solvers._jit import INLINABLE

    template, module, function, sources = _entry_row(method)
    if getattr(importlib.import_module(module), function + INLINABLE, None) is not None:
        function += INLINABLE
    return template.format(method=method, module=module, function=function, sources=sources)


def entry_point(method: str):
    """The compiled entry point of ``method``: for scalar methods
    ``f = entry(value_addr, value_grad_addr, value_grad_hess_addr, x, p, data, opts, info,
    hist, g_out, H_out)``; for least squares
    ``cost = entry(residuals_addr, residuals_jacobian_addr, x, p, data, opts, info, hist,
    r_out, J_out)``."""
    entry = _entries.get(method)
    if entry is None:
        from . import cache

        pending = _compiling.get(method)
        if pending is not None:
            pending.wait()  # another process is compiling it: load it from the cache after
        entry = _entries[method] = cache.load_source(_entry_source(method), kind="e").entry
    return entry


# --------------------------------------------------------------------------------------
# Compiling several entry points side by side.
#
# A solver compiles in about 5 s of one core, inside Numba's compiler lock: threads cannot
# share the work.  When several methods are needed at once (``compare``, the demo) and
# none is in Numba's disk cache yet, each but the first is compiled in a worker process,
# which writes Numba's cache; this process then loads them from there (about 0.4 s each).
# --------------------------------------------------------------------------------------

_WORKER = """\
import sys
sys.path[:0] = sys.argv[2].split({sep!r})
from symopt import _binding
for method in sys.argv[1].split(","):
    _binding.entry_point(method)
"""

#: method -> the worker process compiling its entry (until this process waited for it)
_compiling: dict[str, "_Worker"] = {}
#: seconds a worker may take before this process stops waiting and compiles itself
WORKER_TIMEOUT = 600.0


class _Worker:
    """A process compiling the entry points of some methods into the disk caches."""

    def __init__(self, methods: list[str]):
        import os
        import subprocess
        import sys

        from . import cache

        here = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, **{cache.ENV_VAR: str(cache.cache_dir())})
        self.methods = methods
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER.format(sep=os.pathsep), ",".join(methods), here],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)

    def wait(self) -> None:
        """Wait for the worker (a failed or stuck one is given up: the caller then
        compiles what it needs itself)."""
        import subprocess

        try:
            self.process.wait(timeout=WORKER_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for method in self.methods:
            if _compiling.get(method) is self:
                del _compiling[method]


def _entry_cached(method: str) -> bool:
    """Whether Numba's disk cache holds ``method``'s entry point (its index file exists)."""
    from . import cache

    name = f"symopt_e_{cache.source_hash(_entry_source(method))}"
    return any(cache.cache_dir().glob(f"__pycache__/{name}.*.nbi"))


def _load() -> float:
    import os

    try:
        return os.getloadavg()[0]
    except OSError:  # not available on this system
        return 0.0


def _int_env(name: str, default: int) -> int:
    import os

    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def compile_entries_in_parallel(methods, workers: int | None = None) -> list[str]:
    """Start compiling the entry points of ``methods`` side by side, in up to ``workers``
    processes (default: ``$SYMOPT_COMPILE_WORKERS``, else one per idle core, judged by
    the load average; 0 turns this off), when at least two of them are neither
    loaded in this process nor in Numba's disk cache.  Returns the methods handed to
    workers; :func:`entry_point` waits for a method's worker before it loads the method.
    The first method that needs compiling is left to this process, which compiles it
    (and the problem's kernels) meanwhile.  Only built-in methods (a fresh process knows
    them) are handed out."""
    import os

    from .solvers import registry

    todo = []
    for method in dict.fromkeys(methods):
        if method in _entries or method in _compiling:
            continue
        row = registry.lookup(method)
        if row.kind not in _TEMPLATES or not row.qualified_module.startswith("symopt.solvers."):
            continue
        if not _entry_cached(method):
            todo.append(method)
    cores = os.cpu_count() or 1
    if workers is None:
        # one per idle core: with this process that is a process more than cores, which
        # keeps them busy while this one also compiles the problem's kernels.  On a busy
        # machine, workers only add their own start (about 1.5 s of CPU each) to the load.
        workers = _int_env("SYMOPT_COMPILE_WORKERS", -1)
        if workers < 0:
            workers = min(cores, int(cores - _load() + 0.5))
    if len(todo) < 2 or cores < 2 or workers < 1:
        return []
    handed = todo[1:]
    groups = [handed[i::workers] for i in range(min(workers, len(handed)))]
    for group in groups:
        try:
            worker = _Worker(group)
        except OSError:  # no process could be started: compile here, one after the other
            break
        for method in group:
            _compiling[method] = worker
    return [m for m in handed if m in _compiling]


_direct_calls: dict[str, object] = {}


def direct_entry_call(method: str):
    """``method``'s entry point (:func:`entry_point`) as its compiled CPython wrapper,
    called without Numba's dispatcher: no typing of the arguments, no search for a
    matching signature (about 0.25 µs of a call with eleven arguments).

    The wrapper checks only that each array's item size is right, so every array passed
    must already have exactly the type of :data:`symopt.abi.entry_sig` (float64 or int64,
    C-contiguous, the right number of dimensions): ``minimize`` calls it only with arrays
    it made itself.  Falls back to the dispatcher if Numba does not expose the wrapper."""
    call = _direct_calls.get(method)
    if call is None:
        call = _direct_calls[method] = direct_call(entry_point(method))
    return call


# --------------------------------------------------------------------------------------
# Batched entry points: many independent problems in one compiled, parallel call.
#
#   batch_entry(address0, address1, address2, start, stop, X, P, flat, col_base,
#               col_per_problem, offsets, m_fixed, m_max, opts, fun, counts, block)
#
# solves problems start..stop-1, each with the method's ordinary solver:
#
# address0..2      the kernel addresses, as for the method's single entry (least squares:
#                  residuals, residuals_jacobian, 0)
# X                float64[k, n]: row i is problem i's start in, its solution out
# P                float64[1 or k, n_params]: shared parameters (1 row) or one row per problem
# flat             float64[:]: every data column's values, one after the other
# col_base         int64[n_columns]: where column c starts in ``flat``
# col_per_problem  int64[n_columns]: 1 when column c holds every problem's rows, problem
#                  i's at col_base[c] + offsets[i]; 0 when it is shared (all problems read
#                  it from col_base[c])
# offsets          int64[k + 1]: problem i has offsets[i + 1] - offsets[i] data rows
# m_fixed          residuals per problem when they are not data rows (LeastSquares with
#                  explicit residuals); 0 for one residual per data row
# m_max            the largest number of data rows of any problem (buffer size)
# opts             the method's options (shared)
# fun              float64[k]: the loss at the solution
# counts           int64[BATCH_COUNTS, k]: status, nit, nfev, njev, nhev per problem
# block            problems per parallel work item (its work arrays are allocated once)
#
# Each problem has its own rows of X, fun and counts and its own work arrays: nothing
# written is shared, and the kernels and solvers keep no state, so threads never touch
# the same memory.  A problem whose start, parameters or data are not finite (or that has
# no data rows though the problem reads data) is not solved: status INVALID_INPUT.
# --------------------------------------------------------------------------------------

mat_i8 = types.Array(types.int64, 2, "C")
batch_sig = types.void(types.intp, types.intp, types.intp, types.int64, types.int64,
                       abi.mat, abi.mat, abi.vec, abi.ivec, abi.ivec, abi.ivec, types.int64,
                       types.int64, abi.vec, abi.vec, mat_i8, types.int64)

#: rows of the ``counts`` output of a batched entry
BATCH_STATUS, BATCH_NIT, BATCH_NFEV, BATCH_NJEV, BATCH_NHEV = range(5)
BATCH_COUNTS = 5


@njit(nogil=True, error_model="numpy")
def all_finite(a):
    """Whether every entry of the 1-D array ``a`` is finite."""
    for i in range(a.shape[0]):
        if not math.isfinite(a[i]):
            return False
    return True


@njit(nogil=True, error_model="numpy")
def gather_data(flat, col_base, col_per_problem, offsets, i, buffer):
    """Problem ``i``'s data, copied into ``buffer`` and returned as the kernels' C-ordered
    ``(n_columns, m_i)`` array, and whether all of it is finite."""
    m = offsets[i + 1] - offsets[i]
    ncols = col_base.shape[0]
    finite = True
    for c in range(ncols):
        start = col_base[c] + (offsets[i] if col_per_problem[c] else 0)
        for j in range(m):
            value = flat[start + j]
            buffer[c * m + j] = value
            if not math.isfinite(value):
                finite = False
    return buffer[:ncols * m].reshape((ncols, m)), finite


@njit(nogil=True)
def store_counts(counts, i, info):
    counts[BATCH_STATUS, i] = info[abi.INFO_STATUS]
    counts[BATCH_NIT, i] = info[abi.INFO_NIT]
    counts[BATCH_NFEV, i] = info[abi.INFO_NFEV]
    counts[BATCH_NJEV, i] = info[abi.INFO_NJEV]
    counts[BATCH_NHEV, i] = info[abi.INFO_NHEV]


@njit(nogil=True)
def store_invalid(fun, counts, i):
    fun[i] = math.nan
    for row in range(BATCH_COUNTS):
        counts[row, i] = 0
    counts[BATCH_STATUS, i] = INVALID_INPUT

_BATCH_HEADER = '''\
# symopt batched entry point for method {method!r}: takes kernel addresses, compiled once.
# solver sources hash: {sources}
import numba
import numpy as np

from symopt import abi
from symopt._binding import (batch_sig, gather_data, all_finite, store_counts,
                             store_invalid, {functions})
from {module} import {function} as _solve
'''

_BATCH_ENTRY = '''

@numba.njit(batch_sig, cache=True, parallel=True)
def entry(address0, address1, address2, start, stop, X, P, flat, col_base, col_per_problem,
          offsets, m_fixed, m_max, opts, fun, counts, block):
    blocks = (stop - start + block - 1) // block
    for b in numba.prange(blocks):
        lo = start + b * block
        _block(address0, address1, address2, lo, min(lo + block, stop), X, P, flat, col_base,
               col_per_problem, offsets, m_fixed, m_max, opts, fun, counts)
'''

_BATCH_SCALAR = _BATCH_HEADER + '''

@numba.njit(nogil=True)
def _block(address0, address1, address2, lo, hi, X, P, flat, col_base, col_per_problem,
           offsets, m_fixed, m_max, opts, fun, counts):
    value = value_fn(address0)
    value_grad = value_grad_fn(address1)
    value_grad_hess = value_grad_hess_fn(address2)
    n = X.shape[1]
    needs_rows = col_base.shape[0] > 0
    buffer = np.empty(col_base.shape[0] * m_max)
    info = np.zeros(abi.N_INFO, np.int64)
    hist = np.empty((0, 0))
    g = np.empty(n)
    H = np.empty((n, n))
    for i in range(lo, hi):
        data, finite = gather_data(flat, col_base, col_per_problem, offsets, i, buffer)
        x = X[i]
        p = P[i] if P.shape[0] > 1 else P[0]
        if not (finite and all_finite(x) and all_finite(p)) or (needs_rows and data.shape[1] == 0):
            store_invalid(fun, counts, i)
            continue
        fun[i] = _solve(value, value_grad, value_grad_hess, x, p, data, opts, info, hist, g, H)
        store_counts(counts, i, info)
''' + _BATCH_ENTRY

_BATCH_LEAST_SQUARES = _BATCH_HEADER + '''

@numba.njit(nogil=True)
def _block(address0, address1, address2, lo, hi, X, P, flat, col_base, col_per_problem,
           offsets, m_fixed, m_max, opts, fun, counts):
    residuals = residuals_fn(address0)
    residuals_jacobian = residuals_jacobian_fn(address1)
    n = X.shape[1]
    buffer = np.empty(col_base.shape[0] * m_max)
    info = np.zeros(abi.N_INFO, np.int64)
    hist = np.empty((0, 0))
    size = max(m_fixed, m_max)
    r_buffer = np.empty(size)
    J_buffer = np.empty(size * n)
    for i in range(lo, hi):
        data, finite = gather_data(flat, col_base, col_per_problem, offsets, i, buffer)
        x = X[i]
        p = P[i] if P.shape[0] > 1 else P[0]
        m = m_fixed if m_fixed > 0 else data.shape[1]
        if not (finite and all_finite(x) and all_finite(p)) or m == 0:
            store_invalid(fun, counts, i)
            continue
        r = r_buffer[:m]
        J = J_buffer[:m * n].reshape((m, n))
        fun[i] = _solve(residuals, residuals_jacobian, x, p, data, opts, info, hist, r, J)
        store_counts(counts, i, info)
''' + _BATCH_ENTRY

#: single-entry template -> (batched template, the address intrinsics it uses)
_BATCH_TEMPLATES = {
    _SCALAR_ENTRY: (_BATCH_SCALAR, "value_fn, value_grad_fn, value_grad_hess_fn"),
    _LEAST_SQUARES_ENTRY: (_BATCH_LEAST_SQUARES, "residuals_fn, residuals_jacobian_fn"),
}

_batch_entries: dict[str, object] = {}


def batch_entry_point(method: str):
    """The compiled, parallel batched entry point of ``method`` (signature
    :data:`batch_sig`), generated from the method's registry row: every method
    whose single entry uses the scalar or least-squares template runs batched too.
    Returns ``None`` for a method whose entry template has no batched counterpart."""
    entry = _batch_entries.get(method)
    if entry is None:
        from . import cache

        template, module, function, sources = _entry_row(method)
        batched = _BATCH_TEMPLATES.get(template)
        if batched is None:
            return None
        batch_template, functions = batched
        source = batch_template.format(method=method, module=module, function=function,
                                       functions=functions, sources=sources)
        entry = _batch_entries[method] = cache.load_source(source, kind="b").entry
    return entry


def is_least_squares_entry(method: str) -> bool:
    """Whether ``method``'s entry takes residual kernels (else scalar kernels)."""
    from .solvers import registry

    return registry.lookup(method).kind == "least_squares"
