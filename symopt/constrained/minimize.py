"""minimize(problem, x0, constraints=[...]): validate, bind kernels, call a compiled
constrained solver, build the result."""

from __future__ import annotations

import copy
import math
from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InputError, ShapeError
from ..minimize import bounds_arrays
from ..problem import problem_cache
from ..result import OptimizeResult
from ..solvers import registry
from . import abi
from . import status as _status
from ._binding import direct_entry_call, kernel_addresses
from .kernels import compile_constrained
from .problem import ConstrainedProblem

__all__ = ["minimize", "METHODS", "solver_options", "select_method"]

#: the constrained methods (registry rows of kind "constrained"); "auto" chooses among
#: them (:func:`select_method`)
METHODS = registry.names("constrained")
_EMPTY_DATA = np.empty((0, 0))
_NO_HIST = np.empty((0, 0))
HISTORY_X_MAX_N = 100


def select_method(problem: ConstrainedProblem, has_bounds: bool) -> str:
    """The default method for ``problem``: ``"kkt"`` (the direct KKT path) when every
    constraint is a linear equality and there are no bounds, else ``"ipm"``."""
    if problem.is_equality_constrained and problem.linear_constraints and not has_bounds:
        return "kkt"
    return "ipm"


def _bounds_key(bounds: Any):
    """``bounds`` as a hashable key for the repeated-solve cache (an unhashable entry
    makes ``hash`` of the key raise TypeError: then the solve takes the full path)."""
    if bounds is None:
        return None
    if isinstance(bounds, Mapping):
        return ("by name",) + tuple(sorted((str(k), _pair_key(v)) for k, v in bounds.items()))
    if isinstance(bounds, np.ndarray):
        return ("array", bounds.shape, bounds.tobytes())
    return tuple(_pair_key(v) for v in bounds)


def _pair_key(pair: Any):
    return tuple(pair) if isinstance(pair, (list, tuple)) else pair


def _finite_bounds(problem: ConstrainedProblem, bounds: Any) -> bool:
    """Whether ``bounds`` bound any variable (they may all be ``(None, None)``)."""
    lower, upper = bounds_arrays(bounds, list(problem.variable_names))
    return bool(np.isfinite(lower).any() or np.isfinite(upper).any())


def _canonical(method: str) -> str:
    name = registry.canonical(str(method), kind="constrained")
    if name is None:
        raise InputError(f"unknown constrained method {method!r}; choose one of "
                         f"{', '.join(METHODS)} or 'auto'")
    return name


@lru_cache(maxsize=256)
def _options(method: str, tol, constr_tol, max_iter, extra: tuple) -> np.ndarray:
    """The options array: the row's slots, checks and defaults (symopt.solvers.registry)."""
    row = registry.lookup(method, kind="constrained")
    given = dict(extra, tol=tol, constr_tol=constr_tol, max_iter=max_iter)
    opts = np.zeros(abi.N_OPTS)
    for name in given:
        if row.option(name) is None:
            raise registry.refuse(name, row, ("constrained",))
    for option in row.options:
        value = given.get(option.name)
        if value is not None:
            opts[option.index()] = option.check(option.name, value)
        elif option.default is not None:
            opts[option.index()] = option.stored_default()
    return opts  # shared by the calls with these options: never written to


def solver_options(method: str = "ipm", *, tol: float | None = None,
                   constr_tol: float | None = None, max_iter: int | None = None,
                   **method_options: Any) -> np.ndarray:
    """The options array a compiled constrained solver takes (layout: the ``OPT_*``
    indices of :mod:`symopt.constrained.abi`), for calling a solver from your own
    ``@numba.njit`` code.  Method options: ``mu_init``, ``bound_push``,
    ``scale_gradient`` (ipm), ``rho_init``, ``inner_max_iter``, ``memory`` (auglag).

    Examples
    --------
    >>> from symopt.constrained import abi, solver_options
    >>> float(solver_options("ipm", tol=1e-10)[abi.OPT_TOL])
    1e-10
    """
    method = _canonical(method)
    return _options(method, tol, constr_tol, max_iter, _extra(method_options)).copy()


def _extra(method_options: Mapping[str, Any]) -> tuple:
    known = [name for name in registry.keyword_options("constrained")
             if name not in ("tol", "constr_tol", "max_iter")]
    unknown = sorted(set(method_options) - set(known))
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(unknown)}; the method options are "
                         f"{', '.join(known)}")
    return tuple(sorted((k, v) for k, v in method_options.items() if v is not None))


# --- values ---------------------------------------------------------------------------------


def _x_array(problem: ConstrainedProblem, x0: Any) -> np.ndarray:
    """``x0`` as a fresh float64 array in variable order; a list, tuple or array of the
    right length and finite values takes the short path (a repeated solve's common
    case: ``np.ndim`` alone would convert a list once more), anything else the checks
    that explain what is wrong."""
    kind = type(x0)
    if kind is list or kind is tuple:
        # Python's sum over a short list is cheaper than numpy's over the array; a sum
        # that is not finite (a NaN or inf, or an overflow the full check clears) or that
        # fails (not numbers) takes the full check
        try:
            finite = math.isfinite(sum(x0))
            x = np.array(x0, dtype=np.float64) if finite else None
        except (TypeError, ValueError):
            x = None
        if x is not None and x.shape == (problem.n,):
            return x
    elif kind is np.ndarray:
        try:
            x = np.array(x0, dtype=np.float64)
        except (TypeError, ValueError):
            x = None
        if x is not None and x.shape == (problem.n,) and math.isfinite(x.sum()):
            return x
    return _x_array_checked(problem, x0)


def _x_array_checked(problem: ConstrainedProblem, x0: Any) -> np.ndarray:
    names = problem.variable_names
    if isinstance(x0, Mapping):
        unknown = [str(k) for k in x0 if str(k) not in names]
        if unknown:
            raise InputError(f"x0 names unknown variable(s) {unknown}; the variables are "
                             f"{list(names)}")
        missing = [v for v in names if v not in {str(k) for k in x0}]
        if missing:
            raise InputError(f"x0 is missing {missing}; give a value for each of {list(names)}")
        x0 = [x0[v] if v in x0 else x0[next(k for k in x0 if str(k) == v)] for v in names]
    try:
        x = np.array(x0, dtype=np.float64).reshape(-1) if np.ndim(x0) <= 1 else None
    except (TypeError, ValueError) as exc:
        raise InputError(f"x0 must be numbers, got {x0!r} ({exc})") from None
    if x is None or x.shape[0] != problem.n:
        raise ShapeError(f"x0 has shape {np.shape(x0)}, expected ({problem.n},): one value for "
                         f"each of {list(names)}")
    if not np.isfinite(x).all():
        bad = [names[i] for i in np.flatnonzero(~np.isfinite(x))]
        raise InputError(f"x0 is not finite for {bad}: give finite numbers")
    return np.ascontiguousarray(x)


def _param_array(problem: ConstrainedProblem, params: Any) -> np.ndarray:
    names = problem.parameter_names
    if not names:
        if params:
            raise InputError(f"this problem has no parameters, but params={params!r} was given")
        return np.empty(0)
    if params is None:
        raise InputError(f"this problem has parameters {list(names)}: give their values, e.g. "
                         f"params={{{', '.join(repr(n) + ': 1.0' for n in names)}}}")
    if isinstance(params, Mapping):
        unknown = [str(k) for k in params if str(k) not in names]
        missing = [q for q in names if q not in {str(k) for k in params}]
        if unknown or missing:
            raise InputError(f"params must give exactly {list(names)}"
                             + (f"; unknown: {unknown}" if unknown else "")
                             + (f"; missing: {missing}" if missing else ""))
        params = [params[next(k for k in params if str(k) == q)] for q in names]
    try:
        p = np.array(params, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"params must be numbers, got {params!r} ({exc})") from None
    if p.shape[0] != len(names):
        raise ShapeError(f"params has {p.shape[0]} values for the parameters {list(names)}")
    if not np.isfinite(p).all():
        raise InputError(f"params are not finite: {p.tolist()}")
    return np.ascontiguousarray(p)


class _Plan:
    """Everything about a solve that does not depend on ``x0`` and ``params``: the limits
    (bounds merged with the problem's bound constraints), where each bound came from,
    the options, the entry and the kernel addresses."""

    def __init__(self, problem: ConstrainedProblem, method: str, bounds: Any, opts: np.ndarray):
        n, m = problem.n, problem.m
        if bounds is None:
            xl, xu = np.full(n, -np.inf), np.full(n, np.inf)
        else:
            xl, xu = bounds_arrays(bounds, list(problem.variable_names))
        self.user_lower, self.user_upper = xl.copy(), xu.copy()
        lower_source = np.full(n, -1)
        upper_source = np.full(n, -1)
        for k, b in problem.bound_constraints.items():
            if b.lower > xl[b.variable]:
                xl[b.variable], lower_source[b.variable] = b.lower, k
            if b.upper < xu[b.variable]:
                xu[b.variable], upper_source[b.variable] = b.upper, k
        empty = np.flatnonzero(xl > xu)
        if empty.size:
            j = empty[0]
            raise InputError(f"the bounds and bound constraints leave no value for "
                             f"{problem.variable_names[j]!r}: {xl[j]!r} > {xu[j]!r}")
        general = problem.general_constraints
        limits = np.concatenate([xl, xu, [c.lower for c in general], [c.upper for c in general]])
        self.limits = np.ascontiguousarray(limits, dtype=np.float64)
        self.lower_source, self.upper_source = lower_source, upper_source
        self.problem, self.method, self.opts = problem, method, opts
        self.kernels = compile_constrained(problem)
        self.addresses = kernel_addresses(self.kernels, method)
        self.n, self.m = n, m
        self.general = np.array(problem.general_indices, dtype=np.int64)
        bounds_of = sorted(problem.bound_constraints.items())
        self.bound_index = np.array([k for k, _ in bounds_of], dtype=np.int64)
        self.bound_variable = np.array([b.variable for _, b in bounds_of], dtype=np.int64)
        self.bound_a = np.array([b.a for _, b in bounds_of])
        self.bound_b = np.array([b.b for _, b in bounds_of])
        self.constraint_lower = np.array([c.lower for c in problem.constraints])
        self.constraint_upper = np.array([c.upper for c in problem.constraints])
        # for one result, in plain Python: which variables' bound multipliers belong to a
        # bound constraint (variable, upper source, its a, lower source, its a)
        self.sources = [(j, int(upper_source[j]), _a(problem, upper_source[j]),
                         int(lower_source[j]), _a(problem, lower_source[j]))
                        for j in range(n) if upper_source[j] >= 0 or lower_source[j] >= 0]
        self.bounds_as_constraints = [(k, b.variable, b.a, b.b)
                                      for k, b in sorted(problem.bound_constraints.items())]
        self.all_general = not problem.bound_constraints
        self.call = None  # the entry, past Numba's dispatcher (set by minimize)

    def solve(self, x: np.ndarray, p: np.ndarray, hist: np.ndarray, call) -> OptimizeResult:
        n, m = self.n, self.m
        info = np.zeros(abi.N_INFO, dtype=np.int64)
        lam = np.empty(m)
        z = np.empty(n)
        c = np.empty(m)
        g = np.empty(n)
        kkt = np.empty(abi.N_KKT)
        fun = call(*self.addresses, x, p, _EMPTY_DATA, self.limits, self.opts, info, lam, z, c,
                   g, kkt, hist)
        return self.result(x, fun, g, c, lam, z, kkt, info, hist)

    def map_multipliers(self, X, LAM, Z):
        """``(multipliers, bound_multipliers)`` by constraint as written and by variable,
        for the rows of ``X`` (k x n), from the solver's general-constraint multipliers
        ``LAM`` (k x m) and bound multipliers ``Z`` (k x n): a bound multiplier belongs to
        the bound constraint that set the active side of the variable's bounds, if any."""
        k = X.shape[0]
        multipliers = np.zeros((k, len(self.problem.constraints)))
        multipliers[:, self.general] = LAM
        bound_multipliers = Z.copy()
        for j in range(self.n):
            for source, active in ((self.upper_source[j], Z[:, j] > 0),
                                   (self.lower_source[j], Z[:, j] < 0)):
                if source < 0 or not active.any():
                    continue
                a = self.problem.bound_constraints[source].a
                multipliers[active, source] = Z[active, j] / a
                bound_multipliers[active, j] = 0.0
        return multipliers, bound_multipliers

    def constraint_values(self, X, C):
        """Each constraint's ``c(x)`` as written, for the rows of ``X``, from the general
        constraints' values ``C`` (k x m)."""
        values = np.empty((X.shape[0], len(self.problem.constraints)))
        values[:, self.general] = C
        values[:, self.bound_index] = self.bound_a * X[:, self.bound_variable] + self.bound_b
        return values

    def violations(self, X, values):
        """The largest violation of a constraint or a user bound, per row."""
        with np.errstate(invalid="ignore"):
            worst = np.zeros(X.shape[0])
            if values.shape[1]:
                worst = np.maximum(worst, (self.constraint_lower - values).max(axis=1))
                worst = np.maximum(worst, (values - self.constraint_upper).max(axis=1))
            worst = np.maximum(worst, (self.user_lower - X).max(axis=1, initial=0.0))
            worst = np.maximum(worst, (X - self.user_upper).max(axis=1, initial=0.0))
            bad = ~np.isfinite(X).all(axis=1) | ~np.isfinite(values).all(axis=1)
        worst[bad] = np.nan
        return worst

    def result(self, x, fun, g, c, lam, z, kkt, info, hist) -> OptimizeResult:
        """The result of one solve (plain Python on these small arrays: numpy's per-call
        overhead would cost more than the solve)."""
        problem = self.problem
        counts = info.tolist()
        code = counts[abi.INFO_STATUS]
        if self.all_general:
            multipliers, values, bound_multipliers = lam, c, z
        else:
            multipliers = np.zeros(len(problem.constraints))
            values = np.empty(len(problem.constraints))
            multipliers[self.general] = lam
            values[self.general] = c
            for k, j, a, b in self.bounds_as_constraints:
                values[k] = a * x[j] + b
            bound_multipliers = z
            for j, upper, a_upper, lower, a_lower in self.sources:
                zj = z[j]
                if zj > 0.0 and upper >= 0:
                    multipliers[upper] = zj / a_upper
                    bound_multipliers[j] = 0.0
                elif zj < 0.0 and lower >= 0:
                    multipliers[lower] = zj / a_lower
                    bound_multipliers[j] = 0.0
        # the merged limits hold every bound and bound constraint: the solver's largest
        # violation is the largest over the constraints as written
        k = kkt.tolist()
        name_, text, success = _status.row(code)
        res = OptimizeResult(
            x=x, fun=float(fun), jac=g, multipliers=multipliers,
            bound_multipliers=bound_multipliers, constr=values,
            constr_violation=k[abi.KKT_FEASIBILITY],
            kkt={"stationarity": k[abi.KKT_STATIONARITY],
                 "feasibility": k[abi.KKT_FEASIBILITY],
                 "complementarity": k[abi.KKT_COMPLEMENTARITY],
                 "multiplier_sign": k[abi.KKT_SIGN]},
            nit=counts[abi.INFO_NIT], nfev=counts[abi.INFO_NFEV],
            njev=counts[abi.INFO_NJEV], nhev=counts[abi.INFO_NHEV],
            ncev=counts[abi.INFO_NCEV], status=code, message=text,
            success=success, method=self.method)
        res._set_variable_names(problem.variable_names)
        if hist.shape[0]:
            rows = int(info[abi.INFO_NHIST])
            res["history"] = {"f": hist[:rows, 0].copy(), "infeasibility": hist[:rows, 1].copy(),
                              "stationarity": hist[:rows, 2].copy(), "mu": hist[:rows, 3].copy()}
            if hist.shape[1] > 4:
                res["history"]["x"] = hist[:rows, 4:].copy()
        return res


def _a(problem: ConstrainedProblem, source) -> float:
    return problem.bound_constraints[int(source)].a if source >= 0 else 0.0


def minimize(
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
    history: bool = False,
    **method_options: Any,
) -> OptimizeResult:
    """Minimise an objective subject to constraints with a compiled solver.

    Parameters
    ----------
    problem : ConstrainedProblem, str, sympy.Expr or symopt.Problem
        The problem, or its objective (then ``constraints`` gives the constraints, and
        ``params`` given as a mapping names the parameters).
    x0 : mapping, sequence or array
        The start, by variable name or in variable order.  It need not be feasible.
    constraints : sequence of str or sympy relations, optional
        ``["x + y == 1", "x**2 + y**2 <= 2", "0 <= a*x - y", "1 <= x*y <= 4"]`` (see
        :mod:`symopt.constrained.constraints`); with an objective only.
    bounds : mapping or sequence, optional
        Box bounds, as for :func:`symopt.minimize`: ``{"x": (0, None)}`` or one
        ``(lo, hi)`` pair per variable.
    params : mapping or sequence, optional
        Values of the parameters.
    method : {"auto", "ipm", "auglag", "kkt"}
        ``"ipm"``: the interior-point method (exact Hessian of the Lagrangian, filter line
        search), the default; ``"auglag"``: the augmented Lagrangian over L-BFGS-B (first
        derivatives only: for larger problems); ``"kkt"``: Newton's method on the KKT
        system (equality constraints only).  ``"auto"`` takes ``"kkt"`` when every
        constraint is a linear equality and there are no bounds, else ``"ipm"``.
    tol : float, optional
        The KKT tolerance (default 1e-8; Ipopt's scaled optimality error for ``"ipm"``).
    constr_tol : float, optional
        The largest constraint violation accepted at a solution (default 1e-8).
    max_iter : int, optional
        Iteration limit (outer iterations for ``"auglag"``).
    history : bool
        Record f, the infeasibility, the stationarity, mu (and x, up to 100 variables)
        per iteration in ``result.history``.
    **method_options
        ``mu_init``, ``bound_push``, ``scale_gradient`` (``False`` turns the automatic
        scaling off); ``rho_init``, ``inner_max_iter``, ``memory`` for ``"auglag"``.

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``jac`` (the objective's gradient), ``multipliers`` (one per
        constraint as written, sign convention: ``grad f + sum_k multipliers[k] grad c_k +
        bound_multipliers = 0``; ``>= 0`` at an active upper bound, ``<= 0`` at an active
        lower bound), ``bound_multipliers`` (one per variable, for ``bounds``), ``constr``
        (each constraint's ``c(x)``), ``constr_violation``, ``kkt`` (stationarity,
        feasibility, complementarity, multiplier_sign), ``nit``, ``nfev``, ``njev``,
        ``nhev``, ``ncev``, ``status``, ``message``, ``success``.  Numerical trouble is
        reported there, never raised.

    Examples
    --------
    >>> from symopt.constrained import minimize
    >>> res = minimize("(x - 1)**2 + (y - 2)**2", {"x": 0, "y": 0},
    ...                constraints=["x + y == 1", "x >= 0.5"])
    >>> res.success, res.x.round(6).tolist(), res.multipliers.round(6).tolist()
    (True, [0.5, 0.5], [3.0, -2.0])
    """
    key = None
    if isinstance(problem, ConstrainedProblem) and not history and not constraints:
        # the same settings as the last call: compared directly, cheaper than a key
        last = problem.__dict__.get("_last")
        if last is not None:
            try:
                same = (last[0] == (method, tol, constr_tol, max_iter, method_options)
                        and last[1] == bounds) is True
            except (TypeError, ValueError):  # an array among the bounds or options
                same = False
            if same:
                plan = last[2]
                return plan.solve(_x_array(problem, x0), _param_array(problem, params),
                                  _NO_HIST, plan.call)
        # a repeated solve with the same settings: everything but x0 and params resolved
        key = (method, tol, constr_tol, max_iter, tuple(method_options.items()),
               _bounds_key(bounds))
        try:
            plan = problem_cache(problem).fast_plans.get(key)
        except TypeError:  # an unhashable option or bound: no fast path for it
            plan, key = None, None
        if plan is not None:
            _remember(problem, method, tol, constr_tol, max_iter, method_options, bounds, plan)
            return plan.solve(_x_array(problem, x0), _param_array(problem, params), _NO_HIST,
                              plan.call)
    if not isinstance(problem, ConstrainedProblem):
        # formula text with params given by name: those names are the parameters
        names = [str(key) for key in params] if isinstance(params, Mapping) else None
        problem = ConstrainedProblem(problem, constraints or (), params=names)
    elif constraints:
        raise InputError("the constraints of a ConstrainedProblem are part of it; give "
                         "constraints= with an objective, not with a ConstrainedProblem")
    if bounds is not None and not _finite_bounds(problem, bounds):
        bounds = None  # (None, None) for every variable: no bounds
    chosen = select_method(problem, bounds is not None) if method == "auto" else _canonical(method)
    if chosen == "kkt" and not (problem.is_equality_constrained and bounds is None):
        raise InputError("method 'kkt' solves equality-constrained problems without bounds; "
                         "use 'ipm' (or 'auto')")
    opts = _options(chosen, tol, constr_tol, max_iter, _extra(method_options))
    x = _x_array(problem, x0)
    p = _param_array(problem, params)
    plan = _plan(problem, chosen, bounds, opts)
    hist = _NO_HIST
    if history:
        rows = int(opts[abi.OPT_MAX_ITER]) + 1
        hist = np.empty((rows, 4 + problem.n if problem.n <= HISTORY_X_MAX_N else 4))
    plan.call = direct_entry_call(chosen)
    if key is not None:
        problem_cache(problem).fast_plans[key] = plan
    return plan.solve(x, p, hist, plan.call)


def _remember(problem, method, tol, constr_tol, max_iter, method_options, bounds, plan) -> None:
    """Keep the settings of this call and their plan on ``problem``, for a repeated call
    with equal settings (compared by value: a copy of ``bounds`` is kept, so a bounds
    list changed in place between calls is seen as different).  Bounds given as an
    array, or anything that does not deep-copy, are not remembered."""
    if isinstance(bounds, np.ndarray):
        return
    try:
        snapshot = copy.deepcopy(bounds)
    except Exception:  # noqa: BLE001 - not copyable: no shortcut for it
        return
    problem.__dict__["_last"] = ((method, tol, constr_tol, max_iter, dict(method_options)),
                                 snapshot, plan)


def _plan(problem: ConstrainedProblem, method: str, bounds: Any, opts: np.ndarray) -> _Plan:
    """The :class:`_Plan` of a solve, kept on the problem for the default bounds."""
    if bounds is not None:
        return _Plan(problem, method, bounds, opts)
    plans = problem_cache(problem).plans
    key = (method, opts.tobytes())
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = _Plan(problem, method, None, opts)
    return plan
