"""minimize_many: many independent problems of one formula, solved in parallel.

One compiled call runs a method's ordinary solver over a range of problems inside
``numba.prange`` (the batched entry points of :mod:`symopt._binding`); Python only
validates shapes, packs the data once, and calls it chunk by chunk so that long batches
can show progress.  Results go into preallocated arrays: no Python object per problem.

Data columns and parameters are *shared* (1-D: one array for every problem) or *per
problem* (2-D: one row per problem); problems with different numbers of data rows are
given *ragged*: every column flat, problem ``i``'s rows at
``offsets[i]:offsets[i + 1]``.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numba
import numpy as np

from . import _routes
from ._binding import (
    BATCH_COUNTS,
    BATCH_NFEV,
    BATCH_NHEV,
    BATCH_NIT,
    BATCH_NJEV,
    BATCH_STATUS,
    batch_entry_point,
    is_least_squares_entry,
)
from ._progress import Progress
from .data import SIGMA, WEIGHT_COLUMN, given_columns, weights
from .errors import InputError, ProblemError, ShapeError
from .kernels import compile
from .minimize import _ALIASES, _canonical_method, solver_options
from .problem import Problem
from .solvers import status as _status

__all__ = ["minimize_many", "BatchResult"]



#: progress is shown only for batches expected to take longer than this (seconds)
PROGRESS_AFTER = 2.0
#: largest number of problems per parallel work item (its work arrays are allocated once)
_MAX_BLOCK = 64
#: target duration of one chunk (one compiled call) once the speed is known (seconds)
_CHUNK_SECONDS = 0.5


def _message(code: int) -> str:
    # a batch words INVALID_INPUT as "this problem had NaN input" (solvers.status "batch")
    return _status.message(code, "batch")


class BatchResult:
    """The results of :func:`minimize_many`: one entry per problem, in arrays.

    Attributes
    ----------
    x : ndarray, shape (k, n)
        The solutions, one row per problem, in the problem's variable order.
    fun : ndarray, shape (k,)
        The loss at each solution (NaN for a problem that was not solved).
    nit, nfev, njev, nhev : ndarray of int64, shape (k,)
        Iterations and kernel evaluations per problem.
    status : ndarray of int64, shape (k,)
        Status codes (:mod:`symopt.solvers.status`); ``INVALID_INPUT`` (7) marks a
        problem whose input was not finite.
    success : ndarray of bool, shape (k,)
        Whether each solve converged.
    method : str
    variable_names : tuple of str
    time : float
        Wall time of the solves, seconds.
    """

    def __init__(self, x: np.ndarray, fun: np.ndarray, counts: np.ndarray, method: str,
                 variable_names: Sequence[str], elapsed: float = 0.0):
        self.x = x
        self.fun = fun
        self._counts = counts
        self.status = counts[BATCH_STATUS]
        self.nit = counts[BATCH_NIT]
        self.nfev = counts[BATCH_NFEV]
        self.njev = counts[BATCH_NJEV]
        self.nhev = counts[BATCH_NHEV]
        self.method = method
        self.variable_names = tuple(variable_names)
        self.time = elapsed

    @property
    def success(self) -> np.ndarray:
        """Boolean array: which problems converged."""
        return _status.success_mask(self.status)

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def x_dict(self) -> dict[str, np.ndarray]:
        """The solutions by variable name: ``{"a": x[:, 0], ...}`` (views)."""
        return {name: self.x[:, j] for j, name in enumerate(self.variable_names)}

    def message(self, i: int) -> str:
        """The status message of problem ``i``."""
        return _message(self.status[i])

    @property
    def messages(self) -> dict[int, str]:
        """``{status code: message}`` for every status that occurs."""
        return {int(code): _message(code) for code in np.unique(self.status)}

    @property
    def status_counts(self) -> dict[str, int]:
        """``{status name: number of problems}``, most frequent first."""
        codes, numbers = np.unique(self.status, return_counts=True)
        order = np.argsort(-numbers, kind="stable")
        return {_status.name(codes[j]): int(numbers[j]) for j in order}

    def __getitem__(self, i: int):
        """Problem ``i``'s result as an :class:`~symopt.OptimizeResult`."""
        from .result import OptimizeResult

        if not isinstance(i, (int, np.integer)):
            raise TypeError("index a BatchResult with an integer; use its arrays for slices")
        code = int(self.status[i])
        res = OptimizeResult(x=self.x[i].copy(), fun=float(self.fun[i]), nit=int(self.nit[i]),
                             nfev=int(self.nfev[i]), njev=int(self.njev[i]),
                             nhev=int(self.nhev[i]), status=code, message=_message(code),
                             success=_status.is_success(code), method=self.method)
        res._set_variable_names(self.variable_names)
        return res

    def _summary_rows(self) -> list[tuple[str, int, str]]:
        codes, numbers = np.unique(self.status, return_counts=True)
        order = np.argsort(-numbers, kind="stable")
        return [(_status.name(codes[j]), int(numbers[j]), _message(codes[j])) for j in order]

    def __repr__(self) -> str:
        k = len(self)
        solved = int(self.success.sum())
        lines = [f"BatchResult: {k} problems, method {self.method!r}, {solved} converged"
                 + (f" ({100.0 * solved / k:.1f}%)" if k else "")
                 + (f", {self.time:.3g} s" if self.time else "")]
        for name, number, _ in self._summary_rows():
            lines.append(f"  {name:<20}{number:>10}")
        if k:
            nit = self.nit[self.status != _status.INVALID_INPUT]
            if nit.size:
                lines.append(f"  iterations: median {np.median(nit):g}, max {nit.max()}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><td><code>{html.escape(name)}</code></td><td style='text-align:right'>{number}"
            f"</td><td style='text-align:left'>{html.escape(text)}</td></tr>"
            for name, number, text in self._summary_rows())
        k = len(self)
        return (f"<p>BatchResult: {k} problems, method <code>{html.escape(self.method)}</code>, "
                f"{int(self.success.sum())} converged</p><table><tr><th>status</th>"
                f"<th>problems</th><th>message</th></tr>{rows}</table>")


# --- input packing --------------------------------------------------------------------------


def _float_array(values: Any, what: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numbers") from None


def _rows(values: Any, names: Sequence[str], what: str, kind: str) -> tuple[np.ndarray, bool]:
    """``(rows, per_problem)``: ``(1, len(names))`` values shared by every problem, or
    ``(k, len(names))`` with one row per problem, from an array or a mapping of
    name -> number (shared) or 1-D array (per problem)."""
    n = len(names)
    if isinstance(values, Mapping):
        keys = {str(key) for key in values}
        unknown = sorted(keys - set(names))
        missing = [name for name in names if name not in keys]
        if unknown or missing:
            raise InputError(
                f"{what} must give every {kind} of {list(names)}"
                + (f"; unknown: {unknown}" if unknown else "")
                + (f"; missing: {missing}" if missing else ""))
        columns = {str(key): _float_array(v, f"{what}[{key!r}]") for key, v in values.items()}
        bad = {key: c.shape for key, c in columns.items() if c.ndim > 1}
        if bad:
            raise ShapeError(f"{what}: each value must be a number or a 1-D array (k,), got "
                             f"shapes {bad}")
        lengths = {key: c.shape[0] for key, c in columns.items() if c.ndim == 1}
        if len(set(lengths.values())) > 1:
            raise ShapeError(f"{what}: the per-problem arrays have different lengths {lengths}")
        k = next(iter(lengths.values())) if lengths else 1
        out = np.empty((k, n))
        for j, name in enumerate(names):
            out[:, j] = columns[name]
        return out, bool(lengths)
    array = _float_array(values, what)
    if array.ndim == 0 and n == 1:
        array = array.reshape(1)
    if array.ndim == 1 and array.shape[0] == n:
        return array.reshape(1, n), False
    if array.ndim == 2 and array.shape[1] == n:
        return array, True
    raise ShapeError(
        f"{what} has shape {array.shape}; expected ({n},) shared by every problem or (k, {n}) "
        f"with one row per problem ({kind}s {list(names)})")


class _Batch:
    """The packed arrays a batched entry point takes, validated."""

    def __init__(self, problem: Problem, x0, params, data, offsets):
        names = problem.variable_names
        x_rows, x_per_problem = _rows(x0, names, "x0", "variable")
        if problem.parameter_names:
            if params is None:
                raise InputError(f"this problem has parameters {list(problem.parameter_names)}: "
                                 "give params= (shared (p,) or per problem (k, p))")
            p_rows, p_per_problem = _rows(params, problem.parameter_names, "params", "parameter")
        else:
            if params is not None and np.size(params if not isinstance(params, Mapping) else list(params)):
                raise InputError(f"this problem has no parameters, but params={params!r} was given")
            p_rows, p_per_problem = np.empty((1, 0)), False
        sizes = {}  # argument -> the number of problems it implies
        if x_per_problem:
            sizes["x0"] = x_rows.shape[0]
        if p_per_problem:
            sizes["params"] = p_rows.shape[0]
        columns = self._columns(problem, data, offsets, sizes)
        if len(set(sizes.values())) > 1:
            raise ShapeError(
                "the arguments imply different numbers of problems: "
                + ", ".join(f"{key}: {value}" for key, value in sizes.items()))
        if not sizes:
            raise ShapeError(
                "every argument is shared, so the number of problems is unknown: give x0 as "
                f"(k, {len(names)}), params as (k, p), a data column as (k, m), or offsets")
        k = next(iter(sizes.values()))
        self.k = k
        self.X = np.empty((k, len(names)))
        self.X[:] = x_rows
        self.P = np.ascontiguousarray(p_rows)
        self._pack(problem, columns, offsets, k)

    def _columns(self, problem: Problem, data, offsets, sizes) -> dict[str, np.ndarray]:
        names = problem.data_names
        if not names:
            if data:
                raise InputError("this problem reads no data columns, but data was given")
            if offsets is not None:
                raise InputError("offsets= describes ragged data, but this problem reads no data")
            return {}
        wanted, allowed = given_columns(names)
        if data is None:
            raise InputError(f"this problem reads the data columns {wanted}: pass data={{...}}")
        if not hasattr(data, "keys"):
            raise InputError(f"data must be a mapping of column name -> array, got {type(data).__name__}")
        given = {str(key): data[key] for key in data.keys()}
        unknown = sorted(set(given) - allowed)
        if unknown:
            raise InputError(f"unknown data column(s) {unknown}; this problem reads {sorted(allowed)}")
        missing = [name for name in wanted if name not in given]
        if missing:
            raise InputError(f"data is missing the column(s) {missing}; this problem reads {wanted}")
        columns = {name: _float_array(values, f"data column {name!r}") for name, values in given.items()}
        if offsets is not None:
            offsets = np.asarray(offsets)
            if offsets.ndim != 1 or offsets.shape[0] < 1 or not np.issubdtype(offsets.dtype, np.integer):
                raise ShapeError(f"offsets must be a 1-D integer array of length k + 1, got "
                                 f"{offsets.dtype} array of shape {offsets.shape}")
            if offsets[0] != 0 or np.any(np.diff(offsets) < 0):
                raise InputError("offsets must start at 0 and never decrease "
                                 "(problem i's rows are offsets[i]:offsets[i + 1])")
            sizes["offsets"] = offsets.shape[0] - 1
            for name, column in columns.items():
                if column.shape != (int(offsets[-1]),):
                    raise ShapeError(
                        f"with offsets, data column {name!r} must be flat with offsets[-1] = "
                        f"{int(offsets[-1])} values (every problem's rows, one after the "
                        f"other); got shape {column.shape}")
            self.offsets = offsets.astype(np.int64)
            return columns
        lengths = {}
        for name, column in columns.items():
            if column.ndim == 2:
                sizes[f"data[{name!r}]"] = column.shape[0]
                lengths[name] = column.shape[1]
            elif column.ndim == 1:
                lengths[name] = column.shape[0]
            else:
                raise ShapeError(f"data column {name!r} has shape {column.shape}; expected (m,) "
                                 "shared by every problem or (k, m) with one row per problem")
        if len(set(lengths.values())) > 1:
            raise ShapeError(f"data columns have different numbers of rows m: {lengths} "
                             "(shape (m,) or (k, m) each)")
        self.offsets = None
        self.m = next(iter(lengths.values()))
        return columns

    def _pack(self, problem: Problem, columns: dict[str, np.ndarray], offsets, k: int) -> None:
        names = problem.data_names
        if not names:
            self.flat = np.empty(0)
            self.col_base = np.empty(0, np.int64)
            self.col_per_problem = np.empty(0, np.int64)
            self.offsets = np.zeros(k + 1, np.int64)
            self.m_max = 0
            return
        ragged = self.offsets is not None
        if not ragged:
            self.offsets = np.arange(k + 1, dtype=np.int64) * self.m
        lengths = np.diff(self.offsets)
        self.m_max = int(lengths.max()) if k else 0
        parts, base, per_problem, position = [], [], [], 0
        for name in names:
            if name == WEIGHT_COLUMN:
                # without sigma the ones are shared: every problem reads their prefix; a
                # sigma not > 0 gives NaN weights, reported as INVALID_INPUT
                column = weights(columns.get(SIGMA), self.m_max, strict=False)
            else:
                column = columns[name]
            # ragged: every given column is flat, per problem; only the ones are shared
            shared = column.ndim == 1 and not (ragged and (name != WEIGHT_COLUMN or SIGMA in columns))
            if column.ndim == 2 and column.shape[0] != k:
                raise ShapeError(f"data column {name!r} has {column.shape[0]} rows; expected "
                                 f"(k, m) = ({k}, {self.m})")
            flat = np.ascontiguousarray(column).reshape(-1)
            parts.append(flat)
            base.append(position)
            per_problem.append(0 if shared else 1)
            position += flat.shape[0]
        self.flat = np.concatenate(parts) if parts else np.empty(0)
        self.col_base = np.array(base, np.int64)
        self.col_per_problem = np.array(per_problem, np.int64)


# --- progress -------------------------------------------------------------------------------


# --- the entry ------------------------------------------------------------------------------


def _solved_elsewhere(problem, x0, method, params, data, constraints, options):
    """The batch result when another package solves this call (constrained problems), else
    ``None``."""
    solver = _routes.many_solver_for(problem, constraints)
    if solver is None:
        return None
    given = {name: value for name, value in options.items() if value is not None}
    return solver(problem, x0, method, params, data, constraints, given)


def minimize_many(
    problem: Problem | str,
    x0: Any,
    method: str | None = None,
    params: Any = None,
    *,
    constraints: Sequence[Any] | None = None,
    data: Mapping[str, Any] | None = None,
    offsets: Sequence[int] | np.ndarray | None = None,
    tol: float | None = None,
    gtol: float | None = None,
    ftol: float | None = None,
    xtol: float | None = None,
    max_iter: int | None = None,
    step: float | None = None,
    verbose: bool = True,
    threads: int | None = None,
    chunk_size: int | None = None,
    **options: Any,
) -> BatchResult:
    """Solve many independent instances of one problem in parallel.

    Every instance (a *problem* of the batch) has its own start, and may have its own
    parameter values and data; they are solved by the method's compiled solver inside
    ``numba.prange``, each with its own status.

    Parameters
    ----------
    problem : Problem, LeastSquares or str
        The problem all instances share (its kernels compile once).
    x0 : array (n,) or (k, n), or mapping name -> number or (k,) array
        The starts: one shared by every problem, or one row per problem.
    method : str
        Any method of :data:`symopt.METHODS`: ``"lm"``/``"gn"`` for a
        :class:`~symopt.LeastSquares`, ``"newton"`` (default), ``"bfgs"``, ``"gd"``.
    params : array (p,) or (k, p), or mapping, optional
        Parameter values, shared or one row per problem.
    constraints : sequence of str or sympy relations, optional
        As for :func:`symopt.minimize`: the instances are solved by
        :func:`symopt.constrained.minimize_many` (interior point by default).
    data : mapping of column name -> array, optional
        A column given 1-D ``(m,)`` is shared by every problem; 2-D ``(k, m)`` gives
        one row per problem.  With ``offsets``, every column is flat and problem ``i``'s
        rows are ``column[offsets[i]:offsets[i + 1]]`` (problems of different lengths).
        ``"sigma"`` (shared or per problem) weights the residuals of a model.
    offsets : int array (k + 1,), optional
        Ragged data: where each problem's rows start, ``offsets[0] = 0``,
        ``offsets[-1]`` = the columns' length.
    tol, gtol, ftol, xtol, max_iter, step
        As for :func:`symopt.minimize`; the same for every problem.
    verbose : bool
        Show a progress bar (tqdm if installed, else a line on stderr) when the batch
        is expected to take more than about 2 s.
    threads : int, optional
        Numba threads to use (default: Numba's, i.e. every core).
    chunk_size : int, optional
        Problems per compiled call (default: adapted to about 0.5 s per call).
    **options
        Any further option of :func:`symopt.solver_options` for ``method`` (so options
        that methods gain later work here too), the same for every problem.

    Returns
    -------
    BatchResult
        Arrays ``x`` (k, n), ``fun``, ``nit``, ``nfev``, ``njev``, ``status``,
        ``success`` (k,).  A problem whose input has NaN or Inf is not solved and gets
        status ``INVALID_INPUT``; the others are unaffected.  An empty batch (k = 0)
        returns an empty result.

    Raises
    ------
    InputError, ShapeError
        For arguments of the wrong shape (naming the argument and the expected shape),
        unknown names or methods.

    Examples
    --------
    >>> import numpy as np, symopt as so
    >>> model = so.LeastSquares.from_model("a*exp(-t/tau) + c", independent="t", wrt="a tau c")
    >>> t = np.linspace(0, 5, 20)
    >>> Y = np.array([a * np.exp(-t / tau) + 0.5 for a, tau in [(1, 1), (2, 0.5), (3, 2)]])
    >>> res = so.minimize_many(model, x0=[1.0, 1.0, 0.0], data={"t": t, "y": Y}, method="lm")
    >>> res.x.round(6).tolist()
    [[1.0, 1.0, 0.5], [2.0, 0.5, 0.5], [3.0, 2.0, 0.5]]
    >>> bool(res.success.all()), res.x.shape, res.status.shape
    (True, (3, 3), (3,))
    """
    routed = _solved_elsewhere(problem, x0, method, params, data, constraints, dict(
        options, tol=tol, gtol=gtol, ftol=ftol, xtol=xtol, max_iter=max_iter, step=step,
        threads=threads))
    if routed is not None:
        return routed
    if not isinstance(problem, Problem):
        problem = Problem(problem)
    method = method or "newton"
    method = _ALIASES.get(method) or _canonical_method(method)
    least_squares = is_least_squares_entry(method)
    if least_squares and not hasattr(problem, "residual_exprs"):
        raise ProblemError(f"method {method!r} needs residuals: use a symopt.LeastSquares problem")
    if tol is not None and gtol is None:
        gtol = tol
    try:
        opts = solver_options(method, gtol=gtol, ftol=ftol, xtol=xtol, max_iter=max_iter,
                              step=step, **options)
    except TypeError as exc:  # an option solver_options does not know
        raise InputError(f"unknown option for minimize_many: {exc}") from None
    batch = _Batch(problem, x0, params, data, offsets)
    k = batch.k
    counts = np.zeros((BATCH_COUNTS, k), dtype=np.int64)
    fun = np.empty(k)
    if k == 0:
        return BatchResult(batch.X, fun, counts, method, problem.variable_names)
    entry = batch_entry_point(method)
    if entry is None:
        raise InputError(f"method {method!r} cannot run batched (its entry point has no "
                         "batched template in symopt._binding)")
    kernels = compile(problem)
    if least_squares:
        addresses = kernels.residual_addresses + (0,)
        m_fixed = 0 if problem.data_names else len(problem.residual_exprs)
    else:
        addresses = kernels.method_addresses(method)
        m_fixed = 0
    if threads is not None:
        if not isinstance(threads, (int, np.integer)) or not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
            raise InputError(f"threads must be an integer in 1..{numba.config.NUMBA_NUM_THREADS}, "
                             f"got {threads!r}")
    if chunk_size is not None and (not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
        raise InputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    previous_threads = numba.get_num_threads()
    previous_chunksize = numba.get_parallel_chunksize()
    n_threads = threads or previous_threads
    if threads is not None:
        numba.set_num_threads(threads)
    numba.set_parallel_chunksize(1)  # blocks are handed out one at a time: balanced load
    progress = None
    started = time.perf_counter()
    try:
        done = 0
        size = chunk_size or min(k, 64 * n_threads)  # a small first chunk measures the speed
        chunks = 0
        while done < k:
            stop = min(k, done + size)
            block = max(1, min(_MAX_BLOCK, (stop - done) // (8 * n_threads)))
            chunk_started = time.perf_counter()
            entry(addresses[0], addresses[1], addresses[2], done, stop, batch.X, batch.P,
                  batch.flat, batch.col_base, batch.col_per_problem, batch.offsets, m_fixed,
                  batch.m_max, opts, fun, counts, block)
            now = time.perf_counter()
            rate = (stop - done) / max(now - chunk_started, 1e-9)  # this chunk's speed
            done = stop
            chunks += 1
            if done < k:
                if chunk_size is None:
                    size = int(min(max(rate * _CHUNK_SECONDS, 64 * n_threads), 1 << 20))
                # the first chunk also starts Numba's threads: judge from the second on
                if (verbose and progress is None and (chunks > 1 or chunk_size is not None)
                        and now - started + (k - done) / rate > PROGRESS_AFTER):
                    progress = Progress(k, f"minimize_many ({method})", "problem", initial=done)
            if progress is not None:
                progress.update(done)
    finally:
        if progress is not None:
            progress.close()
        numba.set_parallel_chunksize(previous_chunksize)
        if threads is not None:
            numba.set_num_threads(previous_threads)
    return BatchResult(batch.X, fun, counts, method, problem.variable_names,
                       time.perf_counter() - started)
