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

from .data import SIGMA, data_array
from .errors import InputError, ProblemError
from .problem import CACHE_SLOT, LeastSquares, problem_cache
from .result import OptimizeResult
from .solvers import status as _status
from .solvers.qr import load_transposed, matrix_finite, qrfac

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
    full_rank = _covariance_entry_point()(np.ascontiguousarray(J, dtype=np.float64), inv)
    return inv, bool(full_rank)


#: one-sided Jacobi: sweeps before giving up (it converges quadratically, in about 5-8)
_JACOBI_SWEEPS = 60
_EPS = float(np.finfo(np.float64).eps)

# _jacobi_svd and _inverse_normal_matrix are not cached on their own: they are compiled
# into the generated, content-addressed entry modules below (whose key includes the
# solver sources and this file), so an edit of solvers/qr.py can never leave a stale copy.


@numba.njit(nogil=True, error_model="numpy")
def _jacobi_svd(B, V, sv):
    """The SVD of a square matrix by one-sided Jacobi (Hestenes), in place: ``B[j]``
    holds column ``j`` of the matrix on entry and column ``j`` of ``U S`` on return;
    ``V[j]`` becomes column ``j`` of V and ``sv[j]`` the singular value ``||B[j]||``.

    Plane rotations from the right make the columns mutually orthogonal; their norms are
    the singular values, and the accumulated rotations V.  On a triangular factor R
    (``J = Q R``) the singular values come out to high relative accuracy (Demmel &
    Veselic 1992), and each sweep costs O(n^3), not O(m n^2)."""
    n = B.shape[0]
    for j in range(n):
        for i in range(n):
            V[j, i] = 0.0
        V[j, j] = 1.0
    for _ in range(_JACOBI_SWEEPS):
        rotated = False
        for j in range(n - 1):
            for k in range(j + 1, n):
                alpha = 0.0
                beta = 0.0
                gamma = 0.0
                for i in range(n):
                    alpha += B[j, i] * B[j, i]
                    beta += B[k, i] * B[k, i]
                    gamma += B[j, i] * B[k, i]
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
                for i in range(n):
                    a = B[j, i]
                    b = B[k, i]
                    B[j, i] = c * a - s * b
                    B[k, i] = s * a + c * b
                for i in range(n):
                    a = V[j, i]
                    b = V[k, i]
                    V[j, i] = c * a - s * b
                    V[k, i] = s * a + c * b
        if not rotated:
            break
    for j in range(n):
        total = 0.0
        for i in range(n):
            total += B[j, i] * B[j, i]
        sv[j] = math.sqrt(total)


@numba.njit(nogil=True, error_model="numpy")
def _inverse_normal_matrix(J, out):
    """``(J^T J)^-1 = V S^-2 V^T`` from the SVD ``J = U S V^T`` into ``out``.  Returns
    False, with ``out`` all inf, when ``J`` (C order) has fewer rows than columns, is not
    finite, or its smallest singular value is below ``eps * max(m, n) * s_max`` (rank
    deficient, as numpy's pinv decides).

    The SVD is one-sided Jacobi preconditioned by a QR factorisation, as LAPACK's
    ``dgejsv`` does: the solver's Householder QR with column pivoting
    (:func:`symopt.solvers.qr.qrfac`, ``J P = Q R``) reduces J to its ``n x n``
    triangular factor R, which has J's singular values and right singular vectors
    ``P^T V``; :func:`_jacobi_svd` then factors R.  No ``J^T J`` is formed.  For the few
    columns of a fit this is a few hundred flops, several times cheaper than LAPACK's
    gesdd called through numpy (copies, a workspace query, allocations)."""
    m, n = J.shape
    out[:, :] = np.inf
    if m < n or n == 0 or not matrix_finite(J):
        return False
    A = np.empty((n, m))  # J transposed: the layout of solvers/qr.py
    load_transposed(J, A)
    ipvt = np.empty(n, np.int64)
    b = np.zeros(m)
    W = np.empty((5, n))  # rdiag, acnorm, wa, qtb (qrfac's work), then the singular values
    qrfac(A, ipvt, W[0], W[1], W[2], b, W[3])
    BV = np.zeros((2, n, n))
    B = BV[0]  # B[j] is column j of R: R[i, j] = A[j, i] for i <= j
    V = BV[1]
    for j in range(n):
        for i in range(j + 1):
            B[j, i] = A[j, i]
    sv = W[4]
    _jacobi_svd(B, V, sv)
    s_max = 0.0
    for j in range(n):
        s_max = max(s_max, sv[j])
    for j in range(n):
        if not sv[j] > _EPS * max(m, n) * s_max:
            out[:, :] = np.inf
            return False
    # (J^T J)^-1 = P (R^T R)^-1 P^T: entry (a, b) of the pivoted inverse belongs at
    # (ipvt[a], ipvt[b])
    for a in range(n):
        for c in range(n):
            acc = 0.0
            for j in range(n):
                acc += V[j, a] * V[j, c] / (sv[j] * sv[j])
            out[ipvt[a], ipvt[c]] = acc
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
    sigma : array or float, optional
        Standard deviations of ``y``: residuals are ``(y - model) / sigma``; a float is
        the same (positive, finite) standard deviation for every row.
    absolute_sigma : bool
        As in ``scipy.optimize.curve_fit``: whether ``sigma`` is absolute (the
        covariance is not scaled by the reduced chi-square).
    method : str
        ``"lm"`` (Levenberg-Marquardt, default), or any method of :func:`minimize`.
        A Levenberg-Marquardt fit that ends without converging, or where the Jacobian
        is rank deficient (a parameter ran onto a plateau), is restarted once from
        ``p0`` with initial step bound factor 1 instead of MINPACK's 100; the attempt
        with the smaller chi-square is kept, and its ``message`` says so.
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
    if type(model) is not str and isinstance(model, LeastSquares):
        problem = model
        if not problem.is_model:
            raise ProblemError("fit() needs a model fitted to data rows "
                               "(symopt.LeastSquares.from_model), not explicit residuals")
        plan = _plan(problem) if method == "lm" and bounds is None else None
        ordered = False
    else:
        if not columns:
            raise InputError("give the independent variable(s) as data, e.g. fit(model, p0, x=..., y=...)")
        # the model's variables are p0's keys in their order (when p0 is a mapping), its
        # independent variables the columns in their order
        ordered = True
        key = (model if type(model) is str else repr(model), tuple(columns),
               tuple(p0) if type(p0) is dict or isinstance(p0, Mapping) else None,
               tuple(params) if params else None, dependent)
        if method == "lm" and bounds is None:
            plan = _model_plans.get(key)
            if plan is None:
                plan = _remember(_model_plans, key, _plan(_model_problem(key, model)))
            problem = plan[0]
        else:
            plan = None
            problem = _model_problem(key, model)
    sigma = _checked_sigma(sigma, y)
    data = {**columns, problem.dependent_name: y}
    if sigma is not None:
        data[SIGMA] = sigma
    if plan is not None:
        out = _fit_lm(plan, p0, ordered, y, sigma, columns, params, data, absolute_sigma)
        if out is not None:
            return out
    from .minimize import _canonical_method, minimize

    res = minimize(problem, p0, method=method, params=params, data=data, bounds=bounds)
    if _canonical_method(method) == "lm":
        why = _stuck(res)
        if why:
            again = minimize(problem, p0, method=method, params=params, data=data,
                             bounds=bounds, factor=RETRY_FACTOR)
            res = _better(res, again, why)
    return _statistics(problem, res, params, data, absolute_sigma)


#: LM's initial step bound factor of fit()'s second attempt (MINPACK's default is 100;
#: its documentation recommends smaller values when the first steps are too large)
RETRY_FACTOR = 1.0


def _stuck(res: OptimizeResult) -> str:
    """Why a Levenberg-Marquardt fit deserves a second attempt from ``p0``: it did not
    converge, or it ended where J is rank deficient (typically a parameter ran off onto a
    plateau where the model no longer depends on it, as BoxBOD's rate constant to
    +inf); "" when it did neither."""
    if not res.success:
        return "did not converge"
    J = res.get("jacobian")
    if J is None:
        return ""
    at_bound = res.get("active_mask")
    if at_bound is not None:
        J = J[:, ~np.asarray(at_bound, dtype=bool)]
    if 0 < J.shape[1] <= J.shape[0] and not covariance_from_jacobian(J)[1]:
        return "ended where the Jacobian is rank deficient"
    return ""


def _better(first: OptimizeResult, again: OptimizeResult, why: str) -> OptimizeResult:
    """The attempt with the lower cost (the first on a tie; a finite cost beats NaN), its
    message saying that a second attempt was made, and the evaluation counts of both."""
    lower = again.fun < first.fun or (math.isnan(first.fun) and not math.isnan(again.fun))
    best = again if lower else first
    if not lower:
        outcome = "did not lower the cost"
    elif math.isfinite(first.fun) and first.fun > 0:
        outcome = f"lowered the cost by {(first.fun - again.fun) / first.fun:.3g} (relative)"
    else:
        outcome = f"lowered the cost from {first.fun:g} to {again.fun:g}"
    note = (f"the first attempt (initial step bound factor 100) {why}; a second from p0 "
            f"with factor {RETRY_FACTOR:g} {outcome}")
    best["message"] = f"{best.message} [{note}]"
    for key in ("nit", "nfev", "njev", "nhev"):
        if key in first and key in again:
            best[key] = first[key] + again[key]
    return best


#: LeastSquares of the models fitted so far, by (model, independent, wrt, params, dependent)
_models: dict[tuple, LeastSquares] = {}
#: the same key -> the fast path's plan of the model (see _plan)
_model_plans: dict[tuple, tuple] = {}
_MEMO_SIZE = 256


def _remember(memo: dict, key, value):
    if len(memo) > _MEMO_SIZE:
        memo.clear()
    memo[key] = value
    return value


def _model_problem(key: tuple, model) -> LeastSquares:
    """The LeastSquares of a model, memoised so that refitting never re-derives."""
    problem = _models.get(key)
    if problem is None:
        _, independent, wrt, params, dependent = key
        build = lambda wrt: LeastSquares.from_model(  # noqa: E731
            model, independent=list(independent), wrt=wrt and list(wrt), params=params,
            dependent=dependent)
        try:
            problem = build(wrt)
        except ProblemError:
            if wrt is None:
                raise
            # p0's keys are the fitted parameters: name the ones it lacks as such (the
            # message from_model gives lists the internal weights column)
            needed = build(None).variable_names
            missing = [name for name in needed if name not in wrt]
            if not missing:
                raise
            raise InputError(
                f"p0 has no start value for {', '.join(map(repr, missing))}: the model "
                f"{_model_text(model)} fits {list(needed)}; give p0 a value for each"
            ) from None
        used = {symbol.name for symbol in problem.model.free_symbols}
        unused = [name for name in problem.variable_names if name not in used]
        if unused:
            raise InputError(
                f"p0 gives a start value for {', '.join(map(repr, unused))}, which the model "
                f"{_model_text(model)} does not use; its parameters are "
                f"{[name for name in problem.variable_names if name in used]}"
            )
        _remember(_models, key, problem)
    return problem


def _model_text(model) -> str:
    """The model as a short quoted text for messages."""
    text = model if type(model) is str else str(model)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _checked_sigma(sigma, y):
    """``sigma`` as given, or a scalar ``sigma`` made a column like ``y`` after checking
    its value (a positive, finite number): a scalar is the same standard deviation for
    every row."""
    if sigma is None or np.ndim(sigma) != 0:
        return sigma
    try:
        value = float(sigma)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"sigma must be a positive finite number or an array of them, "
                         f"got {sigma!r}") from None
    if not (value > 0.0 and math.isfinite(value)):
        raise InputError(f"sigma must be positive and finite, got {value!r}")
    return np.full(np.shape(y), value)


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
# makes one compiled call that checks the inputs, runs the LM solver and computes the
# statistics at the solution (_FIT_ENTRY), and builds the result from what it returns.
# The result is the same, key for key and bit for bit, as minimize + _statistics give;
# whenever the statistics need a warning (rank deficient J, no degrees of freedom) or an
# input is not finite, the general path runs and says so.
#
# Everything Python does per fit is on this path, so it is kept short (each Python-level
# operation saved is a measurable share of a fit: docs/performance.md): the model's plan
# (problem, kernel addresses, options, names) is one dict lookup, a dict p0 in the
# model's variable order becomes x in one np.array call, the data columns are copied
# into one (columns, rows) array without further Python work, and 1/sigma, the
# finiteness checks and the statistics are computed inside the compiled call.

_FIT_ENTRY = """\
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
          g_out, covariance, stderr, flags):
    # flags: {absolute} absolute_sigma; {invert} the last data row holds sigma, to be
    # replaced by the weights 1/sigma (sigma must be > 0 and finite); {ones} the last
    # data row is to be filled with weights 1
    last = data.shape[0] - 1
    if flags & {invert}:
        for i in range(data.shape[1]):
            s = data[last, i]
            if not (s > 0.0 and s < math.inf):
                return math.nan, math.nan, False, 0, 0, 0, 0, 0
            data[last, i] = 1.0 / s
    elif flags & {ones}:
        for i in range(data.shape[1]):
            data[last, i] = 1.0
    if not (_finite(x) and _finite(p) and _finite(data.ravel())):
        return math.nan, math.nan, False, 0, 0, 0, 0, 0
    info = np.zeros(abi.N_INFO, np.int64)
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
    scale = 1.0 if flags & {absolute} else chisqr / (m - n)
    for i in range(n):
        for j in range(n):
            covariance[i, j] *= scale
        stderr[i] = math.sqrt(abs(covariance[i, i]))
    return (fun, chisqr, True, info[abi.INFO_STATUS], info[abi.INFO_NIT],
            info[abi.INFO_NFEV], info[abi.INFO_NJEV], info[abi.INFO_NHEV])
"""
#: the entry's flags
_ABSOLUTE_SIGMA = 1
_INVERT_SIGMA = 2
_FILL_ONES = 4

_COVARIANCE_ENTRY = """\
# symopt fit covariance: (J^T J)^-1 by pivoted QR and Jacobi SVD (symopt/fit.py).
# solver sources hash: {sources}; symopt/fit.py hash: {fit}
import numba

from symopt.fit import _inverse_normal_matrix


@numba.njit(cache=True, nogil=True, error_model="numpy")
def entry(J, out):
    return _inverse_normal_matrix(J, out)
"""

_fit_entry = None
_covariance_entry = None


def _generated_entry(template: str, kind: str):
    """The ``entry`` of the generated module ``template`` (keyed by the solver sources
    and this file, so that edits to either recompile it)."""
    import hashlib

    from . import cache
    from ._binding import _solver_sources_hash

    with open(__file__, "rb") as own_source:
        fit_hash = hashlib.sha256(own_source.read()).hexdigest()[:16]
    source = template.format(sources=_solver_sources_hash(), fit=fit_hash,
                             absolute=_ABSOLUTE_SIGMA, invert=_INVERT_SIGMA, ones=_FILL_ONES)
    return cache.load_source(source, kind=kind).entry


def _fit_entry_point():
    global _fit_entry
    if _fit_entry is None:
        _fit_entry = _generated_entry(_FIT_ENTRY, "f")
    return _fit_entry


def _covariance_entry_point():
    global _covariance_entry
    if _covariance_entry is None:
        _covariance_entry = _generated_entry(_COVARIANCE_ENTRY, "c")
    return _covariance_entry


def _plan(problem: LeastSquares) -> tuple:
    """What every fit of ``problem`` by LM reuses: ``(problem, residuals address,
    residuals_jacobian address, LM options, model text, variable names)``; the kernels
    are compiled on first use."""
    cache = problem.__dict__.get(CACHE_SLOT)  # problem_cache(problem), without a call
    plan = cache.fit_plan if cache is not None else None
    if plan is None:
        from .kernels import compile
        from .minimize import solver_options

        residuals, residuals_jacobian = compile(problem).residual_addresses
        plan = problem_cache(problem).fit_plan = (
            problem, residuals, residuals_jacobian, solver_options("lm"),
            getattr(problem, "model_text", problem.formula), problem.variable_names)
    return plan


_NO_PARAMS = np.empty(0)
_F8 = np.dtype(np.float64)
_NUMBER_TYPES = {float, int, np.float64}


def _start_array(problem: LeastSquares, p0) -> np.ndarray:
    """``problem._x_array(p0)``, with a shortcut for a dict of plain numbers."""
    if type(p0) is dict and len(p0) == len(problem.variable_names):
        try:
            values = [p0[name] for name in problem.variable_names]
        except KeyError:
            values = None
        if values is not None and set(map(type, values)) <= _NUMBER_TYPES:
            return np.array(values, dtype=np.float64)
    return problem._x_array(p0, check_finite=False)


def _fit_lm(plan: tuple, p0, ordered: bool, y, sigma, columns: dict, params, data: dict,
            absolute_sigma: bool) -> FitResult | None:
    """The fit by LM in one compiled call, or None when the general path must run.

    ``ordered``: fit() built the model from ``columns`` and ``p0``, so that the columns
    are its independent variables in their order, and the keys of a mapping ``p0`` its
    variables in their order; else it is a LeastSquares given by the caller."""
    problem, residuals, residuals_jacobian, opts, model, names = plan
    x = None
    if ordered and type(p0) is dict:
        try:  # float() of each value, as problem._x_array converts them
            x = np.fromiter(p0.values(), np.float64, len(names))
        except (TypeError, ValueError):
            pass  # it says which value is not a number
    if x is None:
        x = _start_array(problem, p0)
    p = problem._param_array(params, check_finite=False) if params else _NO_PARAMS
    # the (columns, rows) data array in one call: the independent variables, y, and the
    # weights row, which holds sigma (the entry replaces it by 1/sigma, and hands an
    # invalid sigma to the general path) or a copy of y (the entry fills it with ones).
    # Whatever np.array cannot stack into float64 rows (ragged, not numeric, 2-D
    # columns...) goes through data_array, which converts it or says what is wrong;
    # whether the values are finite is checked by the entry.
    d = None
    if ordered or (len(columns) == len(problem.independent_names)
                   and all(name in columns for name in problem.independent_names)):
        try:
            d = np.array((*(columns.values() if ordered else
                            [columns[name] for name in problem.independent_names]),
                          y, y if sigma is None else sigma))
        except (TypeError, ValueError):
            pass
        if d is not None and (d.dtype is not _F8 or d.ndim != 2):
            d = None
    if d is None:
        d, flags = data_array(problem, data), 0
    else:
        flags = _FILL_ONES if sigma is None else _INVERT_SIGMA
    if absolute_sigma:
        flags |= _ABSOLUTE_SIGMA
    m = d.shape[1]
    n = x.shape[0]
    if m <= n:
        return None  # no degrees of freedom (or no data): the general path says so
    r = np.empty(m)
    J = np.empty((m, n))
    g = np.empty(n)
    covariance = np.empty((n, n))
    stderr = np.empty(n)
    fun, chisqr, clean, status, nit, nfev, njev, nhev = (_fit_entry or _fit_entry_point())(
        residuals, residuals_jacobian, x, p, d, opts, r, J, g, covariance, stderr, flags)
    _, message, success = _status.TABLE[status]
    if not clean or not success:
        # a start, parameter or data value not finite or sigma not > 0 (the general path
        # says which), non-finite residuals or a rank-deficient J at the end (it warns),
        # or no convergence (it retries, as after a rank-deficient end)
        return None
    dof = m - n
    out = FitResult(
        x=x, fun=fun, jac=g, nit=nit, nfev=nfev, njev=njev, nhev=nhev, status=status,
        message=message, success=success, method="lm",
        residuals=r, jacobian=J, stderr=stderr, covariance=covariance, chisqr=chisqr,
        redchi=chisqr / dof, dof=dof, ndata=m, nvarys=n, model=model, warnings=[],
    )
    # x_dict's names, and what symopt.plot.fit draws: the model and the data it was fitted to
    out.__dict__.update(_names=names, _problem=problem, _data=data, _params=params)
    return out
