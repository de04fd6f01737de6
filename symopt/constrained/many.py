"""minimize_many for constrained problems: many instances of one problem (one row each,
parameters per row), solved by a compiled constrained method inside ``numba.prange``."""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numba
import numpy as np

from ..errors import InputError, ShapeError
from ..result import OptimizeResult
from . import abi
from . import status as _status
from ._binding import BATCH_COUNTS, batch_entry_point
from .minimize import _canonical, _extra, _finite_bounds, _options, _plan, select_method
from .problem import ConstrainedProblem

__all__ = ["minimize_many", "ConstrainedBatchResult"]

_MAX_BLOCK = 16


class ConstrainedBatchResult:
    """The results of :func:`minimize_many`: one row per problem, in arrays.

    Attributes
    ----------
    x : ndarray (k, n)
    fun : ndarray (k,)
    multipliers : ndarray (k, number of constraints)
        One row per problem, one column per constraint as written (the sign convention
        of :func:`symopt.constrained.minimize`).
    bound_multipliers : ndarray (k, n)
    constr : ndarray (k, number of constraints)
        Each constraint's ``c(x)`` per problem.
    constr_violation : ndarray (k,)
    stationarity, complementarity : ndarray (k,)
        KKT residuals per problem.
    status, nit, nfev, njev, nhev, ncev : ndarray of int64 (k,)
    success : ndarray of bool (k,)
    method : str
    time : float
        Wall time of the solves, seconds.

    ``result[i]`` is problem ``i``'s result as an :class:`~symopt.OptimizeResult`.
    """

    def __init__(self, plan, X, P, fun, counts, LAM, Z, C, KKT, elapsed):
        self._plan = plan
        self._P = P
        self.x = X
        self.fun = fun
        self.status = counts[0].copy()
        self.nit, self.nfev, self.njev = counts[1].copy(), counts[2].copy(), counts[3].copy()
        self.nhev, self.ncev = counts[4].copy(), counts[5].copy()
        self.success = np.array([_status.is_success(c) for c in self.status], dtype=bool)
        self.multipliers, self.bound_multipliers = plan.map_multipliers(X, LAM, Z)
        self.constr = plan.constraint_values(X, C)
        self.constr_violation = plan.violations(X, self.constr)
        self.stationarity = KKT[:, abi.KKT_STATIONARITY].copy()
        self.complementarity = KKT[:, abi.KKT_COMPLEMENTARITY].copy()
        self._lam, self._z, self._c, self._kkt = LAM, Z, C, KKT
        self.method = plan.method
        self.time = elapsed
        self.variable_names = plan.problem.variable_names

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> OptimizeResult:
        plan = self._plan
        x = self.x[i].copy()
        c = self._c[i].copy()
        g = np.empty(plan.n)
        plan.kernels.kernel("value_grad")(x, self._params(i), np.empty((0, 0)), g)
        info = np.zeros(abi.N_INFO, dtype=np.int64)
        info[abi.INFO_STATUS] = self.status[i]
        info[abi.INFO_NIT], info[abi.INFO_NFEV] = self.nit[i], self.nfev[i]
        info[abi.INFO_NJEV], info[abi.INFO_NHEV] = self.njev[i], self.nhev[i]
        info[abi.INFO_NCEV] = self.ncev[i]
        return plan.result(x, self.fun[i], g, c, self._lam[i], self._z[i], self._kkt[i], info,
                           np.empty((0, 0)))

    def _params(self, i):
        P = self._P
        return P[i] if P.shape[0] > 1 else P[0]

    def __repr__(self) -> str:
        k = len(self)
        solved = int(self.success.sum())
        return (f"<ConstrainedBatchResult: {k} problems, {solved} solved ({self.method}), "
                f"{self.time:.3g} s>")


def _rows(values: Any, names: Sequence[str], what: str, k: int | None) -> np.ndarray:
    """``values`` as a C-contiguous (1 or k, len(names)) array."""
    if isinstance(values, Mapping):
        unknown = [str(key) for key in values if str(key) not in names]
        missing = [name for name in names if name not in {str(key) for key in values}]
        if unknown or missing:
            raise InputError(f"{what} must give exactly {list(names)}"
                             + (f"; unknown: {unknown}" if unknown else "")
                             + (f"; missing: {missing}" if missing else ""))
        columns = [np.asarray(values[next(key for key in values if str(key) == name)],
                              dtype=np.float64) for name in names]
        lengths = {c.shape[0] for c in columns if c.ndim == 1}
        if any(c.ndim > 1 for c in columns) or len(lengths) > 1:
            raise ShapeError(f"{what}: every entry must be a number or a 1-D array of one "
                             "length (one value per problem)")
        rows = lengths.pop() if lengths else 1
        out = np.empty((rows, len(names)))
        for j, c in enumerate(columns):
            out[:, j] = c
    else:
        try:
            out = np.array(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{what} must be numbers, got {values!r} ({exc})") from None
        if out.ndim == 1:
            out = out.reshape(1, -1)
        if out.ndim != 2 or out.shape[1] != len(names):
            raise ShapeError(f"{what} has shape {np.shape(values)}: expected ({len(names)},) or "
                             f"(k, {len(names)}) for {list(names)}")
    if k is not None and out.shape[0] not in (1, k):
        raise ShapeError(f"{what} has {out.shape[0]} rows for {k} problems")
    return np.ascontiguousarray(out)


def minimize_many(
    problem: Any,
    x0: Any,
    constraints: Sequence[Any] | None = None,
    bounds: Any = None,
    params: Any = None,
    method: str = "auto",
    *,
    tol: float | None = None,
    constr_tol: float | None = None,
    max_iter: int | None = None,
    threads: int | None = None,
    **method_options: Any,
) -> ConstrainedBatchResult:
    """Solve many instances of one constrained problem in parallel (one row each).

    Parameters
    ----------
    problem, constraints, bounds, method, tol, constr_tol, max_iter, **method_options
        As for :func:`symopt.constrained.minimize`; the same for every instance (the
        kernels compile once).
    x0 : array (n,) or (k, n), or mapping name -> number or (k,) array
        The starts: one shared, or one row per problem.
    params : array (p,) or (k, p), or mapping name -> number or (k,) array, optional
        Parameter values, shared or one row per problem.
    threads : int, optional
        Numba threads to use (default: every core).

    Returns
    -------
    ConstrainedBatchResult
        A problem whose start or parameters are not finite is not solved (status
        ``INVALID_INPUT``); every other outcome is its status, as for ``minimize``.

    Examples
    --------
    >>> import numpy as np
    >>> from symopt.constrained import minimize_many
    >>> res = minimize_many("(x - a)**2 + (y - 1)**2", [0.0, 0.0], ["x + y <= 1"],
    ...                     params={"a": np.array([1.0, 2.0, 3.0])})
    >>> (res.x.round(6) + 0.0).tolist(), res.multipliers.round(6).ravel().tolist()
    ([[0.5, 0.5], [1.0, 0.0], [1.5, -0.5]], [1.0, 2.0, 3.0])
    """
    if not isinstance(problem, ConstrainedProblem):
        # formula text with params given by name: those names are the parameters
        names = [str(key) for key in params] if isinstance(params, Mapping) else None
        problem = ConstrainedProblem(problem, constraints or (), params=names)
    elif constraints:
        raise InputError("the constraints of a ConstrainedProblem are part of it")
    if bounds is not None and not _finite_bounds(problem, bounds):
        bounds = None  # (None, None) for every variable: no bounds
    chosen = select_method(problem, bounds is not None) if method == "auto" else _canonical(method)
    opts = _options(chosen, tol, constr_tol, max_iter, _extra(method_options))
    X = _rows(x0, problem.variable_names, "x0", None)
    P = (_rows(params, problem.parameter_names, "params", None) if problem.parameter_names
         else np.zeros((1, 0)))
    if params is not None and not problem.parameter_names:
        raise InputError(f"this problem has no parameters, but params={params!r} was given")
    if problem.parameter_names and params is None:
        raise InputError(f"this problem has parameters {list(problem.parameter_names)}: give "
                         "their values")
    k = max(X.shape[0], P.shape[0])
    if X.shape[0] not in (1, k) or P.shape[0] not in (1, k):
        raise ShapeError(f"x0 has {X.shape[0]} rows and params {P.shape[0]}: give one row, or "
                         "one per problem")
    if X.shape[0] == 1 and k > 1:
        X = np.ascontiguousarray(np.repeat(X, k, axis=0))
    else:
        X = X.copy()
    plan = _plan(problem, chosen, bounds, opts)
    n, m = plan.n, plan.m
    fun = np.empty(k)
    counts = np.zeros((BATCH_COUNTS, k), dtype=np.int64)
    LAM = np.zeros((k, m))
    Z = np.zeros((k, n))
    C = np.zeros((k, m))
    KKT = np.zeros((k, abi.N_KKT))
    entry = batch_entry_point(chosen)
    previous = numba.get_num_threads()
    if threads is not None:
        if not isinstance(threads, int) or not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
            raise InputError(f"threads must be an integer from 1 to "
                             f"{numba.config.NUMBA_NUM_THREADS}, got {threads!r}")
        numba.set_num_threads(threads)
    block = max(1, min(_MAX_BLOCK, k // (8 * numba.get_num_threads()) or 1))
    start = time.perf_counter()
    try:
        entry(*plan.addresses, X, P, plan.limits, opts, fun, counts, LAM, Z, C, KKT, block)
    finally:
        numba.set_num_threads(previous)
    elapsed = time.perf_counter() - start
    return ConstrainedBatchResult(plan, X, P, fun, counts, LAM, Z, C, KKT, elapsed)
