"""minimize_many on Dask: blocks of problems solved by workers, results as Dask arrays.

``symopt.dask.minimize_many`` takes the arguments of :func:`symopt.minimize_many`, with
per-problem arrays given as Dask arrays chunked along the problems (axis 0), and maps
:func:`symopt.minimize_many` over the blocks.  It returns a :class:`DaskBatchResult` of
lazy Dask arrays; ``.compute()`` gives a :class:`symopt.BatchResult`.

The problem travels to the workers pickled, once per graph, keyed by a hash of its
pickle.  Each worker process keeps the problems it has seen in a memo, so it loads (or
compiles) a problem's kernels once, not once per block; the kernels and the batched
solver entry come from symopt's disk cache when the workers share it (the same
``SYMOPT_CACHE_DIR``, as on one machine).  :func:`worker_stats` reports, per process,
how many problems were loaded and how many blocks solved.

Needs the optional extra ``symopt[dask]`` (``dask[distributed]``).
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from typing import Any, Mapping

import numpy as np

from ._binding import BATCH_COUNTS
from .errors import InputError, MissingDependencyError, ShapeError
from .many import BatchResult
from .many import minimize_many as _minimize_many
from .minimize import _ALIASES, _canonical_method
from .options import SolveOptions
from .problem import Problem

__all__ = ["minimize_many", "DaskBatchResult", "worker_stats"]

#: problems per block when no input is a Dask array
DEFAULT_BLOCK = 10_000

_memo: dict[str, Problem] = {}
_stats = {"problems_loaded": 0, "blocks": 0}
_memo_lock = threading.Lock()


def _dask_array():
    try:
        import dask.array as da
    except ImportError:
        raise MissingDependencyError(
            "symopt.dask needs Dask: pip install 'symopt[dask]' (dask[distributed])") from None
    return da


class _Shipped:
    """A problem as it travels in a graph: its pickle and the pickle's hash."""

    def __init__(self, problem: Problem):
        self.payload = pickle.dumps(problem, protocol=pickle.HIGHEST_PROTOCOL)
        self.key = hashlib.sha256(self.payload).hexdigest()[:24]

    def __dask_tokenize__(self):
        return self.key

    def load(self) -> Problem:
        """The problem, from this process's memo (unpickled and its kernels loaded on the
        first block only)."""
        problem = _memo.get(self.key)
        if problem is None:
            with _memo_lock:
                problem = _memo.get(self.key)
                if problem is None:
                    problem = pickle.loads(self.payload)
                    _memo[self.key] = problem
                    _stats["problems_loaded"] += 1
        return problem


def worker_stats() -> dict[str, int]:
    """This process's counts: ``problems_loaded`` (kernel loads or compilations: once per
    problem per process) and ``blocks`` solved.  Run it on the workers with
    ``client.run(symopt.dask.worker_stats)``."""
    return dict(_stats)


def _solve_block(*blocks, shipped: _Shipped, roles: tuple, shared: dict, method: str,
                 options: dict) -> np.ndarray:
    """Solve one block: ``blocks`` are the per-problem inputs named by ``roles``; returns
    ``(k_block, n + 1 + BATCH_COUNTS)``: x, fun, status, nit, nfev, njev, nhev."""
    problem = shipped.load()
    args = {"x0": shared.get("x0"), "params": shared.get("params"),
            "data": dict(shared.get("data", {}))}
    for role, block in zip(roles, blocks):
        if role.startswith("data:"):
            args["data"][role[5:]] = block
        else:
            args[role] = block
    if not args["data"]:
        args["data"] = None
    res = _minimize_many(problem, args["x0"], method, args["params"], data=args["data"],
                         verbose=False, **options)
    with _memo_lock:
        _stats["blocks"] += 1
    return np.column_stack([res.x, res.fun, res._counts.T.astype(np.float64)])


class DaskBatchResult:
    """Lazy results of :func:`symopt.dask.minimize_many`: Dask arrays ``x`` (k, n),
    ``fun``, ``status``, ``nit``, ``nfev``, ``njev``, ``nhev``, ``success`` (k,).
    ``compute()`` runs the graph once and returns a :class:`symopt.BatchResult`."""

    def __init__(self, combined, n: int, method: str, variable_names):
        self.combined = combined  # (k, n + 1 + BATCH_COUNTS) float64, one task per block
        self.n = n
        self.method = method
        self.variable_names = tuple(variable_names)
        self.x = combined[:, :n]
        self.fun = combined[:, n]
        counts = [combined[:, n + 1 + row].astype(np.int64) for row in range(BATCH_COUNTS)]
        self.status, self.nit, self.nfev, self.njev, self.nhev = counts
        from .solvers.status import success_mask

        self.success = success_mask(self.status)

    def compute(self, **kwargs) -> BatchResult:
        """Run the graph (``kwargs`` go to :meth:`dask.array.Array.compute`)."""
        combined = np.asarray(self.combined.compute(**kwargs))
        x = np.ascontiguousarray(combined[:, :self.n])
        counts = np.ascontiguousarray(combined[:, self.n + 1:].T).astype(np.int64)
        return BatchResult(x, np.ascontiguousarray(combined[:, self.n]), counts, self.method,
                           self.variable_names)

    def __repr__(self) -> str:
        return (f"<DaskBatchResult: {self.combined.shape[0]} problems in "
                f"{self.combined.numblocks[0]} blocks, method {self.method!r} (lazy)>")


def minimize_many(
    problem: Problem | str,
    x0: Any,
    method: str = "newton",
    params: Any = None,
    *,
    data: Mapping[str, Any] | None = None,
    chunks: int | None = None,
    **options: Any,
) -> DaskBatchResult:
    """:func:`symopt.minimize_many` over the blocks of Dask arrays.

    Parameters
    ----------
    problem, method
        As for :func:`symopt.minimize_many`.
    x0, params : array (n,) / (p,) shared, or (k, n) / (k, p) per problem
        NumPy or Dask arrays.
    data : mapping of column name -> array
        1-D columns are shared (NumPy, or Dask computed once); 2-D ``(k, m)`` columns are
        per problem, NumPy or Dask chunked along axis 0.
    chunks : int, optional
        Problems per block.  Default: the chunks of the first per-problem Dask input,
        else 10,000.  Every per-problem input is rechunked to match.
    **options
        ``tol``, ``gtol``, ``ftol``, ``xtol``, ``max_iter``, ``step``, ``threads``:
        passed to :func:`symopt.minimize_many` on the workers.

    Returns
    -------
    DaskBatchResult
        Lazy; ``.compute()`` returns a :class:`symopt.BatchResult`.

    Ragged data (``offsets``) is not supported on Dask: pad the problems to one length
    or run :func:`symopt.minimize_many` on each group of equal lengths.
    """
    da = _dask_array()
    if "offsets" in options:
        raise InputError("symopt.dask.minimize_many does not take offsets (ragged data); give "
                         "per-problem columns as (k, m) Dask arrays")
    if "verbose" in options:
        options.pop("verbose")
    if not isinstance(problem, Problem):
        problem = Problem(problem)
    method = _ALIASES.get(method) or _canonical_method(method)
    # the options are checked here, as minimize_many checks them, not first on a worker
    SolveOptions.build(method, **{k: v for k, v in options.items()
                                  if k not in ("threads", "chunk_size")})
    per_problem: dict[str, Any] = {}
    shared: dict[str, Any] = {"data": {}}

    def classify(role: str, value: Any) -> None:
        if value is None:
            return
        ndim = np.ndim(value) if not hasattr(value, "ndim") else value.ndim
        if isinstance(value, Mapping):
            raise InputError(f"symopt.dask.minimize_many takes {role} as an array, not a mapping")
        if ndim == 2:
            per_problem[role] = value
        elif ndim <= 1:
            value = np.asarray(value)  # computes a Dask array: shared values are small
            if role.startswith("data:"):
                shared["data"][role[5:]] = value
            else:
                shared[role] = value
        else:
            raise ShapeError(f"{role} has {ndim} dimensions; expected 1 (shared) or 2 (k, ...)")

    classify("x0", x0)
    classify("params", params)
    if data is not None:
        if not hasattr(data, "keys"):
            raise InputError(f"data must be a mapping of column name -> array, got {type(data).__name__}")
        for name in data.keys():
            classify(f"data:{name}", data[name])
    if not per_problem:
        raise ShapeError("every argument is shared, so the number of problems is unknown: give "
                         "x0, params or a data column with one row per problem (k, ...)")
    sizes = {role.replace("data:", "data "): value.shape[0] for role, value in per_problem.items()}
    if len(set(sizes.values())) > 1:
        raise ShapeError(f"the arguments imply different numbers of problems: {sizes}")
    if chunks is None:
        dask_inputs = [value for value in per_problem.values() if isinstance(value, da.Array)]
        chunks = dask_inputs[0].chunks[0] if dask_inputs else DEFAULT_BLOCK
    arrays = [da.asarray(value).astype(np.float64).rechunk({0: chunks, 1: -1})
              for value in per_problem.values()]
    n = problem.n
    for role, width, names in (("x0", n, problem.variable_names),
                               ("params", len(problem.parameter_names), problem.parameter_names)):
        value = per_problem.get(role, shared.get(role))
        if value is not None and (np.ndim(value) == 0 or value.shape[-1] != width):
            raise ShapeError(f"{role} has shape {np.shape(value)}; expected ({width},) shared or "
                             f"(k, {width}) per problem (for {list(names)})")
    combined = da.map_blocks(
        _solve_block, *arrays, shipped=_Shipped(problem), roles=tuple(per_problem),
        shared=shared, method=method, options=options,
        dtype=np.float64, meta=np.empty((0, 0)),
        chunks=(arrays[0].chunks[0], (n + 1 + BATCH_COUNTS,)), token=f"symopt-minimize-many-{method}")
    return DaskBatchResult(combined, n, method, problem.variable_names)
