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

from .errors import InputError, ProblemError
from .problem import LeastSquares
from .result import OptimizeResult

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


@numba.njit(cache=True, nogil=True)
def _inverse_normal_matrix(J, out):
    """``(J^T J)^-1 = V S^-2 V^T`` from the SVD ``J = U S V^T`` into ``out`` (compiled:
    a LAPACK call without Python's overhead).  Returns False, with ``out`` all inf, when
    ``J`` has fewer rows than columns, is not finite, or its smallest singular value is
    below ``eps * max(m, n) * s_max`` (rank deficient, as numpy's pinv decides)."""
    m, n = J.shape
    out[:, :] = np.inf
    if m < n or n == 0 or not np.all(np.isfinite(J)):
        return False
    _, s, vt = np.linalg.svd(J, full_matrices=False)
    if s[n - 1] <= np.finfo(np.float64).eps * max(m, n) * s[0]:
        return False
    for i in range(n):
        for j in range(n):
            acc = 0.0
            for k in range(n):
                acc += vt[k, i] * vt[k, j] / (s[k] * s[k])
            out[i, j] = acc
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
    from .minimize import minimize

    if isinstance(model, LeastSquares):
        problem = model
        if not problem.is_model:
            raise ProblemError("fit() needs a model fitted to data rows "
                               "(symopt.LeastSquares.from_model), not explicit residuals")
    else:
        if not columns:
            raise InputError("give the independent variable(s) as data, e.g. fit(model, p0, x=..., y=...)")
        names = list(p0) if isinstance(p0, Mapping) else None
        problem = _model_problem(model, tuple(columns), names,
                                 tuple(params) if params else None, dependent)
    data = {**columns, problem.dependent_name: y}
    if sigma is not None:
        data["sigma"] = sigma
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
