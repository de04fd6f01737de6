"""fit(model, p0, y=..., x=...): curve fitting with exact Jacobians, and its statistics.

The statistics are those of ``scipy.optimize.curve_fit`` and of every regression
package: at the solution ``x*`` with Jacobian ``J`` of the weighted residuals,

- ``chisqr = sum(r_i**2)`` (weighted by ``1/sigma_i``), ``dof = m - n``,
  ``redchi = chisqr / dof``;
- ``covariance = (J^T J)^-1 * redchi`` (or without the ``redchi`` factor when
  ``absolute_sigma=True``: the sigmas are then taken as true standard deviations);
- ``stderr = sqrt(diag(covariance))``.

``(J^T J)^-1`` comes from the SVD of ``J`` (never by forming and inverting ``J^T J``,
which squares the condition number).  When ``J`` is rank deficient the parameters are
not identifiable: a :class:`FitWarning` says so, and the covariance is ``inf``.

With ``bounds``, a parameter that ends on a bound it presses against (``active_mask``
nonzero) is not estimated by these formulas: the usual asymptotic theory does not hold
there.  Its standard error and its row and column of the covariance are NaN, the
covariance of the other parameters is computed from their columns of ``J`` (the bound
parameter held fixed), and a :class:`FitWarning` names it.  ``dof`` still counts every
fitted parameter.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, Sequence

import numba
import numpy as np

from .data import data_array
from .errors import InputError, ProblemError
from .problem import WEIGHT_COLUMN, LeastSquares
from .result import OptimizeResult
from .solvers import status as _status

__all__ = ["fit", "FitResult", "FitWarning"]


class FitWarning(UserWarning):
    """A fit's statistics are unreliable (e.g. parameters not identifiable)."""


class FitResult(OptimizeResult):
    """The result of :func:`fit`: an :class:`OptimizeResult` plus fit statistics.

    Attributes
    ----------
    x : ndarray
        The fitted parameters; ``x_dict`` is the same keyed by name.
    stderr : ndarray
        Standard errors of the parameters.
    covariance : ndarray
        The ``(n, n)`` covariance matrix of the parameters.
    chisqr, redchi : float
        Sum of squared (weighted) residuals, and that divided by ``dof``.
    dof, ndata, nvarys : int
        Degrees of freedom ``ndata - nvarys``.
    residuals : ndarray
        The (weighted) residuals ``(y - model) / sigma`` at the solution.
    """

    def report(self) -> str:
        """A table of the parameters with standard errors, and the fit statistics."""
        names = list(self.x_dict)
        width = max(9, *(len(n) for n in names))
        lines = [f"symopt fit: {self.model}",
                 f"  method {self.method}: {'success' if self.success else 'FAILED'} - {self.message}",
                 f"  {self.nit} iterations, {self.nfev} evaluations, {self.njev} derivative evaluations",
                 "",
                 f"  {'parameter':<{width}} {'value':>16} {'std. error':>12} {'rel. error':>10}"]
        for name, value, err in zip(names, self.x, self.stderr):
            rel = abs(err / value) if value != 0 and math.isfinite(err) else math.inf
            rel_text = f"{rel:10.2%}" if math.isfinite(rel) else f"{'inf':>10}"
            lines.append(f"  {name:<{width}} {value:16.9g} {err:12.4g} {rel_text}")
        lines += ["",
                  f"  data points   {self.ndata}",
                  f"  parameters    {self.nvarys}",
                  f"  dof           {self.dof}",
                  f"  chi-square    {self.chisqr:.9g}",
                  f"  reduced chi2  {self.redchi:.9g}"]
        if self.get("warnings"):
            lines += ["", *(f"  warning: {w}" for w in self.warnings)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The fit's summary and a table of parameters with standard errors (notebooks)."""
        import html

        rows = []
        for n, v, e in zip(self.x_dict, self.x, self.stderr):
            rel = abs(e / v) if v != 0 and math.isfinite(e) else math.inf
            rel_text = f"{rel:.2%}" if math.isfinite(rel) else "inf"
            rows.append(f"<tr><td>{html.escape(n)}</td><td>{v:.9g}</td><td>{e:.4g}</td>"
                        f"<td>{rel_text}</td></tr>")
        status = "success" if self.success else "FAILED"
        stats = (f"<p>{status} ({html.escape(str(self.method))}): {html.escape(self.message)}; "
                 f"{self.nit} iterations, {self.nfev} evaluations<br>"
                 f"{self.ndata} data points, {self.nvarys} parameters, dof = {self.dof}; "
                 f"&chi;&sup2; = {self.chisqr:.6g}, reduced &chi;&sup2; = {self.redchi:.6g}</p>")
        warns = "".join(f"<p><b>warning:</b> {html.escape(w)}</p>" for w in self.get("warnings") or ())
        return (f"<p>fit of <code>{html.escape(str(self.model))}</code></p>{stats}"
                "<table><tr><th>parameter</th><th>value</th><th>std. error</th>"
                f"<th>rel. error</th></tr>{''.join(rows)}</table>{warns}")


def covariance_from_jacobian(J: np.ndarray) -> tuple[np.ndarray, bool]:
    """``(J^T J)^-1`` from the SVD of ``J``, and whether ``J`` has full column rank."""
    inv = np.empty((J.shape[1], J.shape[1]))
    full_rank = _inverse_normal_matrix(np.ascontiguousarray(J, dtype=np.float64), inv)
    return inv, bool(full_rank)


#: one-sided Jacobi: sweeps before giving up (it converges quadratically, in about 5-8)
_JACOBI_SWEEPS = 60
_EPS = float(np.finfo(np.float64).eps)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _inverse_normal_matrix(J, out):
    """``(J^T J)^-1 = V S^-2 V^T`` from the SVD ``J = U S V^T`` into ``out``.  Returns
    False, with ``out`` all inf, when ``J`` has fewer rows than columns, is not finite,
    or its smallest singular value is below ``eps * max(m, n) * s_max`` (rank
    deficient, as numpy's pinv decides).

    The SVD is one-sided Jacobi (Hestenes): plane rotations from the right make the
    columns of J mutually orthogonal; their norms are then the singular values and the
    accumulated rotations V.  No ``J^T J`` is formed, and the singular values come out
    to high relative accuracy (Demmel & Veselic 1992).  For the few columns of a fit
    this is a few hundred flops, several times cheaper than LAPACK's gesdd called
    through numpy (copies, a workspace query, allocations)."""
    m, n = J.shape
    out[:, :] = np.inf
    if m < n or n == 0:
        return False
    A = np.empty((n, m))  # the columns of J, each contiguous
    for i in range(m):
        for j in range(n):
            v = J[i, j]
            if not math.isfinite(v):
                return False
            A[j, i] = v
    V = np.zeros((n, n))  # V[j] is column j of V
    for j in range(n):
        V[j, j] = 1.0
    for _ in range(_JACOBI_SWEEPS):
        rotated = False
        for j in range(n - 1):
            for k in range(j + 1, n):
                alpha = 0.0
                beta = 0.0
                gamma = 0.0
                for i in range(m):
                    alpha += A[j, i] * A[j, i]
                    beta += A[k, i] * A[k, i]
                    gamma += A[j, i] * A[k, i]
                if abs(gamma) <= _EPS * math.sqrt(alpha) * math.sqrt(beta):
                    continue
                rotated = True
                zeta = (beta - alpha) / (2.0 * gamma)
                if abs(zeta) > 1e150:
                    t = 0.5 / zeta
                else:
                    t = math.copysign(1.0, zeta) / (abs(zeta) + math.sqrt(1.0 + zeta * zeta))
                c = 1.0 / math.sqrt(1.0 + t * t)
                s = c * t
                for i in range(m):
                    a = A[j, i]
                    b = A[k, i]
                    A[j, i] = c * a - s * b
                    A[k, i] = s * a + c * b
                for i in range(n):
                    a = V[j, i]
                    b = V[k, i]
                    V[j, i] = c * a - s * b
                    V[k, i] = s * a + c * b
        if not rotated:
            break
    sv = np.empty(n)
    s_max = 0.0
    for j in range(n):
        total = 0.0
        for i in range(m):
            total += A[j, i] * A[j, i]
        sv[j] = math.sqrt(total)
        s_max = max(s_max, sv[j])
    for j in range(n):
        if not sv[j] > _EPS * max(m, n) * s_max:
            for i in range(n):
                for k in range(n):
                    out[i, k] = np.inf
            return False
    for i in range(n):
        for k in range(n):
            acc = 0.0
            for j in range(n):
                acc += V[j, i] * V[j, k] / (sv[j] * sv[j])
            out[i, k] = acc
    return True


def fit(
    model: str | Any,
    p0: Mapping[str, float] | Sequence[float],
    *,
    y: Any,
    sigma: Any = None,
    absolute_sigma: bool = False,
    method: str = "lm",
    params: Mapping[str, float] | None = None,
    bounds: Mapping[str, Any] | Sequence[Any] | None = None,
    dependent: str = "y",
    **columns: Any,
) -> FitResult:
    """Fit a model to data by least squares, with exact derivatives.

    Parameters
    ----------
    model : str, sympy.Expr or LeastSquares
        The model for one data row, e.g. ``"b1*(1 - exp(-b2*x))"``; its independent
        variables are the keyword arguments given as data (``x=...``, or ``x1=..., x2=...``).
    p0 : mapping or sequence
        Starting values of the fitted parameters (every other symbol of the model).
    y : array
        The observations.
    sigma : array, optional
        Standard deviations of ``y``: residuals are ``(y - model) / sigma``.
    absolute_sigma : bool
        As in ``scipy.optimize.curve_fit``: whether ``sigma`` is absolute (the
        covariance is not scaled by the reduced chi-square).
    method : str
        ``"lm"`` (Levenberg-Marquardt, default), or any method of :func:`minimize`.
    params : mapping, optional
        Values of symbols held fixed (they are compiled as parameters).
    bounds : mapping or sequence, optional
        Box bounds on the fitted parameters, ``{"b2": (0, None)}`` or one ``(lo, hi)``
        pair per parameter (see :func:`minimize`); a ``p0`` outside is clipped into the
        box.  Standard errors of parameters that end on an active bound are NaN.
    **columns : arrays
        The independent variables, by name.

    Returns
    -------
    FitResult

    Examples
    --------
    >>> import numpy as np, symopt as so
    >>> x = np.linspace(0, 4, 30)
    >>> f = so.fit("a*exp(-b*x)", p0={"a": 1, "b": 1}, x=x, y=2.5*np.exp(-1.3*x))
    >>> [round(float(v), 6) for v in f.x]
    [2.5, 1.3]
    """
    if isinstance(model, LeastSquares):
        problem = model
        if not problem.is_model:
            raise ProblemError("fit() needs a model fitted to data rows "
                               "(symopt.LeastSquares.from_model), not explicit residuals")
    else:
        if not columns:
            raise InputError("give the independent variable(s) as data, e.g. fit(model, p0, x=..., y=...)")
        names = list(p0) if type(p0) is dict or isinstance(p0, Mapping) else None
        problem = _model_problem(model, tuple(columns), names,
                                 tuple(params) if params else None, dependent)
    data = {**columns, problem.dependent_name: y}
    if sigma is not None:
        data["sigma"] = sigma
    if method == "lm" and bounds is None:
        out = _fit_lm(problem, p0, params, data, absolute_sigma)
        if out is not None:
            return out
    from .minimize import minimize

    res = minimize(problem, p0, method=method, params=params, data=data, bounds=bounds)
    return _statistics(problem, res, params, data, absolute_sigma)


_models: dict[tuple, LeastSquares] = {}


def _model_problem(model, independent, wrt, params, dependent) -> LeastSquares:
    """The LeastSquares of a model, memoised so that refitting never re-derives."""
    key = (model if isinstance(model, str) else repr(model), independent, wrt and tuple(wrt),
           params, dependent)
    problem = _models.get(key)
    if problem is None:
        problem = LeastSquares.from_model(model, independent=list(independent), wrt=wrt,
                                          params=params, dependent=dependent)
        if len(_models) > 256:
            _models.clear()
        _models[key] = problem
    return problem


def _statistics(problem: LeastSquares, res: OptimizeResult, params, data,
                absolute_sigma: bool) -> FitResult:
    from .kernels import compile

    kernels = compile(problem)
    J = res.get("jacobian")
    r = res.get("residuals")
    if J is None or r is None:
        r = kernels.residuals(res.x, params, data)
        J = kernels.jacobian(res.x, params, data)
    m, n = J.shape
    chisqr = float(np.dot(r, r)) if np.isfinite(r).all() else math.inf
    dof = m - n
    redchi = chisqr / dof if dof > 0 else math.nan
    at_bound = np.asarray(res.get("active_mask", np.zeros(n)), dtype=bool)
    found: list[str] = []
    if at_bound.any():
        free = np.flatnonzero(~at_bound)
        inv_free, full_rank = covariance_from_jacobian(J[:, free])
        inv = np.full((n, n), np.nan)
        inv[np.ix_(free, free)] = inv_free
        names = [problem.variable_names[i] for i in np.flatnonzero(at_bound)]
        found.append(f"parameter(s) {', '.join(names)} ended on a bound: their standard errors "
                     "are NaN, and the covariance of the others holds them fixed")
    else:
        inv, full_rank = covariance_from_jacobian(J)
    if not full_rank:
        found.append("the Jacobian is rank deficient at the solution: some parameters are not "
                     "identifiable from these data (covariance and standard errors are inf)")
    if dof <= 0:
        found.append(f"no degrees of freedom ({m} data points, {n} parameters): "
                     "the covariance cannot be estimated")
    scale = 1.0 if absolute_sigma else redchi
    if (full_rank and dof > 0) or (full_rank and absolute_sigma):
        covariance = inv * scale
    else:
        covariance = np.where(np.isnan(inv), np.nan, np.inf)
    stderr = np.sqrt(np.abs(np.diag(covariance)))
    for text in found:
        warnings.warn(text, FitWarning, stacklevel=3)
    out = FitResult(res)
    out._set_variable_names(problem.variable_names)
    # what symopt.plot.fit draws: the model and the data it was fitted to
    out.__dict__.update(_problem=problem, _data=data, _params=params)
    out.update(
        stderr=stderr,
        covariance=covariance,
        chisqr=chisqr,
        redchi=redchi,
        dof=dof,
        ndata=m,
        nvarys=n,
        residuals=r,
        model=getattr(problem, "model_text", problem.formula),
        warnings=found,
    )
    return out


# --- the fast path: one compiled call per fit ---------------------------------------------
#
# A fit of a few parameters to tens of points takes a few microseconds of solving; the
# general path (minimize, then the statistics) spends several times that in Python and
# in three compiled calls.  For the common case - method "lm", no bounds - fit() instead
# validates its inputs with the same functions as minimize, then makes one compiled call
# that runs the LM solver and computes (J^T J)^-1 at the solution (_FIT_ENTRY), and
# builds the result from what it returns.  The result is the same, key for key and bit
# for bit, as minimize + _statistics give; whenever the statistics need a warning (rank
# deficient J, no degrees of freedom) or the start is not finite, the general path runs.

_FIT_ENTRY = '''\
# symopt fit entry point: Levenberg-Marquardt and the fit statistics in one compiled call.
# solver sources hash: {sources}; symopt/fit.py hash: {fit}
import math

import numba
import numpy as np

from symopt import abi
from symopt._binding import residuals_fn, residuals_jacobian_fn
from symopt._binding import all_finite as _finite
from symopt.fit import _inverse_normal_matrix
from symopt.solvers.least_squares import solve_lm as _solve


@numba.njit(cache=True, nogil=True, error_model="numpy")
def entry(residuals_address, residuals_jacobian_address, x, p, data, opts, r_out, J_out,
          g_out, covariance, stderr, absolute_sigma):
    info = np.zeros(abi.N_INFO, np.int64)
    if not (_finite(x) and _finite(p) and _finite(data.ravel())):
        return math.nan, math.nan, False, 0, 0, 0, 0, 0
    hist = np.empty((0, 0))
    fun = _solve(residuals_fn(residuals_address),
                 residuals_jacobian_fn(residuals_jacobian_address),
                 x, p, data, opts, info, hist, r_out, J_out)
    m, n = J_out.shape
    chisqr = 0.0
    for i in range(m):
        chisqr += r_out[i] * r_out[i]
    for j in range(n):
        g_out[j] = 0.0
    for i in range(m):
        for j in range(n):
            g_out[j] += J_out[i, j] * r_out[i]
    if not math.isfinite(chisqr) or not _inverse_normal_matrix(J_out, covariance):
        return fun, chisqr, False, 0, 0, 0, 0, 0
    scale = 1.0 if absolute_sigma else chisqr / (m - n)
    for i in range(n):
        for j in range(n):
            covariance[i, j] *= scale
        stderr[i] = math.sqrt(abs(covariance[i, i]))
    return (fun, chisqr, True, info[abi.INFO_STATUS], info[abi.INFO_NIT],
            info[abi.INFO_NFEV], info[abi.INFO_NJEV], info[abi.INFO_NHEV])
'''

_fit_entry = None
#: id(problem) -> (problem, kernels, residual addresses); the problem is held so that
#: its id is not reused while the entry lives
_plans: dict[int, tuple] = {}
_MESSAGES = {code: row[1] for code, row in _status.TABLE.items()}
_SUCCESS = {code: row[2] for code, row in _status.TABLE.items()}


def _fit_entry_point():
    global _fit_entry
    if _fit_entry is None:
        from . import cache
        from ._binding import _solver_sources_hash

        import hashlib

        with open(__file__, "rb") as own_source:
            fit_hash = hashlib.sha256(own_source.read()).hexdigest()[:16]
        source = _FIT_ENTRY.format(sources=_solver_sources_hash(), fit=fit_hash)
        _fit_entry = cache.load_source(source, kind="f").entry
    return _fit_entry


def _plan(problem: LeastSquares):
    """What every fit of ``problem`` reuses: its kernels (compiled on first use) and
    their addresses, and the LM options."""
    plan = _plans.get(id(problem))
    if plan is None or plan[0] is not problem:
        from .kernels import compile
        from .minimize import solver_options

        kernels = compile(problem)
        plan = (problem, kernels, kernels.residual_addresses, solver_options("lm"))
        if len(_plans) > 256:
            _plans.clear()
        _plans[id(problem)] = plan
    return plan


_NO_PARAMS = np.empty(0)
_NUMBER_TYPES = {float, int, np.float64}


def _start_array(problem: LeastSquares, p0) -> np.ndarray:
    """``problem._x_array(p0)``, with a shortcut for the usual dict of plain numbers."""
    names = problem.variable_names
    if type(p0) is dict and len(p0) == len(names):
        try:
            values = [p0[name] for name in names]
        except KeyError:
            values = None
        if values is not None and set(map(type, values)) <= _NUMBER_TYPES:
            return np.array(values, dtype=np.float64)
    return problem._x_array(p0, check_finite=False)


def _data_array(problem: LeastSquares, data: dict) -> np.ndarray:
    """:func:`symopt.data.data_array`, with a shortcut for the usual case: every column
    a 1-D float64 ndarray, the same length, the columns the problem reads and no others
    (else the general function runs, and says what is wrong).  Whether the values are
    finite is checked by the fit entry, which hands a non-finite case back to the
    general path."""
    names = problem.data_names
    columns = [data.get("sigma") if name == WEIGHT_COLUMN else data.get(name) for name in names]
    if len(data) == len(names) - ((WEIGHT_COLUMN in names) and "sigma" not in data):
        rows = -1
        fast = True
        for name, column in zip(names, columns):
            if column is None and name == WEIGHT_COLUMN:
                continue
            if not (type(column) is np.ndarray and column.dtype == np.float64
                    and column.ndim == 1 and rows in (-1, column.shape[0])):
                fast = False
                break
            rows = column.shape[0]
        if fast and rows > 0:
            out = np.empty((len(names), rows))
            for k, (name, column) in enumerate(zip(names, columns)):
                if name != WEIGHT_COLUMN:
                    out[k] = column
                elif column is None:
                    out[k] = 1.0
                elif (column > 0.0).all():
                    np.divide(1.0, column, out=out[k])
                    if not out[k].all():
                        return data_array(problem, data)  # sigma = inf
                else:
                    return data_array(problem, data)  # sigma <= 0 or NaN
            return out  # finiteness: checked by the fit entry (else data_array says)
    return data_array(problem, data)


def _fit_lm(problem: LeastSquares, p0, params, data, absolute_sigma: bool) -> FitResult | None:
    """The fit by LM in one compiled call, or None when the general path must run."""
    _, _, (residuals, residuals_jacobian), opts = _plan(problem)
    x = _start_array(problem, p0)
    p = problem._param_array(params, check_finite=False) if params else _NO_PARAMS
    d = _data_array(problem, data)
    m = d.shape[1]
    n = x.shape[0]
    if m <= n:
        return None  # no degrees of freedom: the general path warns
    r = np.empty(m)
    J = np.empty((m, n))
    g = np.empty(n)
    covariance = np.empty((n, n))
    stderr = np.empty(n)
    fun, chisqr, clean, status, nit, nfev, njev, nhev = _fit_entry_point()(
        residuals, residuals_jacobian, x, p, d, opts, r, J, g, covariance, stderr,
        bool(absolute_sigma))
    if not clean:
        # a start, parameter or data value not finite (the general path says which), or
        # non-finite residuals or a rank-deficient J at the end (it warns)
        return None
    dof = m - n
    out = FitResult(
        x=x, fun=fun, jac=g, nit=nit, nfev=nfev, njev=njev, nhev=nhev, status=status,
        message=_MESSAGES[status], success=_SUCCESS[status], method="lm",
        residuals=r, jacobian=J, stderr=stderr, covariance=covariance, chisqr=chisqr,
        redchi=chisqr / dof, dof=dof, ndata=m, nvarys=n,
        model=getattr(problem, "model_text", problem.formula), warnings=[],
    )
    out._set_variable_names(problem.variable_names)
    # what symopt.plot.fit draws: the model and the data it was fitted to
    out.__dict__.update(_problem=problem, _data=data, _params=params)
    return out
