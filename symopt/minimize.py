"""minimize(problem, x0, ...): validate, bind kernels, call a compiled solver, build the result."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np

from . import _routes, abi
from ._binding import direct_entry_call, entry_point
from .data import data_array
from .errors import InputError
from .kernels import _EMPTY_DATA, compile
from .options import SolveOptions, _array
from .problem import CACHE_SLOT, Problem, check_finite_values, problem_cache
from .result import OptimizeResult
from .solvers import registry
from .solvers import status as _status

__all__ = ["minimize", "solver_options", "METHODS", "BOUNDED_METHODS"]

# The method tables below are derived from the method registry (symopt.solvers.registry)
# and re-derived when a method is registered or removed.
#: methods for scalar losses (any Problem)
SCALAR_METHODS: tuple[str, ...] = ()
#: methods for least-squares problems (LeastSquares): they use residuals and the Jacobian
LEAST_SQUARES_METHODS: tuple[str, ...] = ()
METHODS: tuple[str, ...] = ()
#: methods that accept box bounds (``bounds=``): the solver reads them from the options
#: array (``opts[abi.OPT_BOUNDS] = 1``, then lower and upper bounds after the N_OPTS
#: scalar options) and keeps every iterate inside the box
BOUNDED_METHODS: frozenset[str] = frozenset()
#: method name or alias -> canonical name
_ALIASES: dict[str, str] = {}
#: methods whose H_out is an n x n matrix worth returning (others get a 0 x 0 array), and
#: the result field it goes to
_MATRIX_NAMES: dict[str, str] = {}


def _derive() -> None:
    global SCALAR_METHODS, LEAST_SQUARES_METHODS, METHODS, BOUNDED_METHODS
    SCALAR_METHODS = registry.names("scalar")
    LEAST_SQUARES_METHODS = registry.names("least_squares")
    METHODS = SCALAR_METHODS + LEAST_SQUARES_METHODS
    BOUNDED_METHODS = frozenset(m.name for m in registry.methods() if m.takes_bounds)
    _ALIASES.clear()
    _ALIASES.update(registry.alias_map("scalar", "least_squares"))
    _MATRIX_NAMES.clear()
    _MATRIX_NAMES.update({m.name: m.matrix for m in registry.methods() if m.matrix})


_derive()
registry.on_change(_derive)
_NO_HIST = np.empty((0, 0))
#: ``history=True`` records the iterates ``x`` only up to this many variables (plots of
#: paths need them; beyond, f and the gradient norm per iteration are what is recorded)
HISTORY_X_MAX_N = 100
_BAD_START = (_status.NAN_ENCOUNTERED, _status.INVALID_INPUT)


def _canonical_method(method: str) -> str:
    return registry.lookup(method).name


def _options(method: str, gtol=None, ftol=None, xtol=None, max_iter=None, step=None,
             factor=None, extra: tuple = ()) -> tuple[np.ndarray, int]:
    """The options array and iteration limit (kept for callers of the old helper)."""
    o = SolveOptions.build(method, gtol=gtol, ftol=ftol, xtol=xtol, max_iter=max_iter,
                           step=step, factor=factor, **dict(extra))
    return o.array(), o.max_iter


def solver_options(method: str = "newton", *, gtol: float | None = None, ftol: float | None = None,
                   xtol: float | None = None, max_iter: int | None = None,
                   step: float | None = None, factor: float | None = None,
                   bounds: Any = None,
                   variable_names: Sequence[str] | None = None,
                   **method_options: Any) -> np.ndarray:
    """The options array a compiled solver takes (layout: the ``OPT_*`` indices of
    :mod:`symopt.abi`), filled with the method's defaults and any overrides.

    For calling a solver from your own ``@numba.njit`` code; pass it as an argument
    (a global array would be frozen read-only into the compiled code).  With
    ``bounds`` (a sequence of ``(lo, hi)`` pairs, or a mapping by name with
    ``variable_names``) the array is ``N_OPTS + 2 n`` long, as the bounded methods read it.
    ``method_options`` are the method-specific options of :func:`minimize` (``memory``,
    ``radius``, ``momentum``, ``beta2``, ``eps``, ``schedule``, ``decay``).

    Examples
    --------
    >>> from symopt import abi, solver_options
    >>> float(solver_options("newton", gtol=1e-10)[abi.OPT_GTOL])
    1e-10
    >>> float(solver_options("lbfgs", memory=5)[abi.OPT_MEMORY])
    5.0
    """
    o = SolveOptions.build(method, gtol=gtol, ftol=ftol, xtol=xtol, max_iter=max_iter,
                           step=step, factor=factor, **method_options)
    method, opts = o.method, o.array()
    if bounds is None:
        return opts.copy()
    if variable_names is None:
        if isinstance(bounds, Mapping) or not hasattr(bounds, "__len__"):
            raise InputError("bounds given by name need variable_names=")
        variable_names = [f"x[{i}]" for i in range(len(bounds))]
    lower, upper = bounds_arrays(bounds, list(variable_names))
    return _with_bounds(method, opts, lower, upper)


def _bound_value(value: Any, default: float, name: str) -> float:
    if value is None:
        return default
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"bound of {name!r} must be a number or None, got {value!r}") from None
    if math.isnan(value):
        raise InputError(f"bound of {name!r} is NaN; use None (or +-inf) for no bound")
    return value


def _pair(spec: Any, name: str) -> tuple[float, float]:
    if spec is None:
        return -math.inf, math.inf
    if isinstance(spec, (str, bytes)) or not hasattr(spec, "__len__") or len(spec) != 2:
        raise InputError(f"bounds of {name!r} must be a pair (lo, hi) with None for no bound, "
                         f"got {spec!r}")
    lo = _bound_value(spec[0], -math.inf, name)
    hi = _bound_value(spec[1], math.inf, name)
    if lo > hi:
        raise InputError(f"bounds of {name!r}: lower bound {lo!r} is above upper bound {hi!r}")
    if lo == math.inf or hi == -math.inf:
        raise InputError(f"bounds of {name!r} leave no finite value: ({lo!r}, {hi!r})")
    return lo, hi


def bounds_arrays(bounds: Any, variable_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` arrays in variable order from ``bounds``: a mapping
    ``{name: (lo, hi)}`` (variables not named are unbounded) or a sequence of
    ``(lo, hi)`` pairs in variable order; ``None`` (or +-inf) for no bound."""
    n = len(variable_names)
    lower = np.full(n, -math.inf)
    upper = np.full(n, math.inf)
    if isinstance(bounds, Mapping):
        index = {name: i for i, name in enumerate(variable_names)}
        for name, spec in bounds.items():
            i = index.get(str(name))
            if i is None:
                raise InputError(f"bounds given for {name!r}, which is not a variable; the "
                                 f"variables are {', '.join(variable_names)}")
            lower[i], upper[i] = _pair(spec, str(name))
        return lower, upper
    if isinstance(bounds, (str, bytes)) or not hasattr(bounds, "__len__"):
        raise InputError(f"bounds must be a mapping {{name: (lo, hi)}} or a sequence of "
                         f"(lo, hi) pairs in variable order, got {bounds!r}")
    if len(bounds) != n:
        raise InputError(f"bounds has {len(bounds)} pairs but the problem has {n} variables "
                         f"({', '.join(variable_names)})")
    for i, spec in enumerate(bounds):
        lower[i], upper[i] = _pair(spec, variable_names[i])
    return lower, upper


def _with_bounds(method: str, opts: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """A new options array: ``opts`` followed by the bounds, ``OPT_BOUNDS`` set."""
    if method not in BOUNDED_METHODS:
        raise InputError(f"method {method!r} does not take bounds; the methods that do are "
                         f"{', '.join(sorted(BOUNDED_METHODS))}")
    n = lower.shape[0]
    out = np.empty(abi.N_OPTS + 2 * n)
    out[:abi.N_OPTS] = opts
    out[abi.OPT_BOUNDS] = 1.0
    out[abi.N_OPTS:abi.N_OPTS + n] = lower
    out[abi.N_OPTS + n:] = upper
    return out


#: the keywords :func:`minimize` hands on, when given, to the package that solves a
#: constrained problem, an array formula or data in chunks (it checks them itself)
_ROUTED_OPTIONS = frozenset({
    "tol", "gtol", "ftol", "xtol", "max_iter", "step", "factor", "bounds", "history",
    "memory", "radius", "momentum", "beta2", "eps", "schedule", "decay", "batch_size",
    "epochs", "seed", "validation", "patience", "verbose"})


def minimize(
    problem: Problem | str,
    x0: Mapping[str, float] | Sequence[float] | np.ndarray | float,
    method: str | None = None,
    params: Mapping[str, float] | Sequence[float] | None = None,
    *,
    constraints: Sequence[Any] | None = None,
    tol: float | None = None,
    gtol: float | None = None,
    ftol: float | None = None,
    xtol: float | None = None,
    max_iter: int | None = None,
    step: float | None = None,
    factor: float | None = None,
    bounds: Any = None,
    history: bool = False,
    data: Any = None,
    memory: int | None = None,
    radius: float | None = None,
    momentum: float | None = None,
    beta2: float | None = None,
    eps: float | None = None,
    schedule: str | None = None,
    decay: float | None = None,
    batch_size: int | None = None,
    epochs: int | None = None,
    seed: Any = None,
    validation: float | None = None,
    patience: int | None = None,
    verbose: bool | None = None,
) -> OptimizeResult:
    """Minimise a problem's loss with a compiled solver.

    Parameters
    ----------
    problem : Problem or str
        The problem (formula text is turned into a :class:`Problem`).  Three kinds of
        problem go to packages of their own, with their own methods and options: a
        problem with ``constraints`` (:func:`symopt.constrained.minimize`), an array
        formula (:func:`symopt.tensor.minimize`) and a loss over data in chunks
        (:func:`symopt.chunked.minimize`; see ``data``).
    x0 : mapping, sequence or float
        The start: ``{"x": -1.2, "y": 1.0}`` or values in variable order.
    method : str, optional
        ``"newton"`` (default: exact Hessians are what symopt gives you): Newton with
        Hessian modification and backtracking; ``"bfgs"``: BFGS with a strong-Wolfe line
        search; ``"lbfgs"``: limited-memory BFGS, O(mn) memory, for thousands of
        variables; ``"trust-ncg"``: trust-region Newton with Steihaug-Toint CG (takes
        indefinite Hessians head on); ``"trust-exact"``: trust region with the
        Moré-Sorensen (Cholesky) subproblem solution; ``"gd"``: gradient descent (Armijo backtracking,
        or a fixed ``step``); ``"momentum"``, ``"nesterov"``, ``"adam"``: fixed-step
        first-order methods with a learning-rate ``schedule``.  ``"lm"``, ``"gn"`` for
        a :class:`LeastSquares`.  See docs/solvers.md for each method's defaults.
    params : mapping or sequence, optional
        Values of the problem's parameters.
    constraints : sequence of str or sympy relations, optional
        ``["x + y == 1", "x**2 + y**2 <= 2", "1 <= x*y <= 4"]``: solved by the interior
        point method of :mod:`symopt.constrained` (method ``"ipm"`` by default, or
        ``"auglag"``, ``"kkt"``), which documents its options and statuses.
    tol : float, optional
        Same as ``gtol`` (scipy's name).
    gtol, ftol, xtol : float, optional
        Stop when the gradient's infinity norm is at most ``gtol``; when the
        relative decrease of the loss is at most ``ftol``; when the step is at most
        ``xtol`` relative to ``x``.
    max_iter : int, optional
        Iteration limit.
    step : float, optional
        Gradient descent: a fixed step length instead of backtracking; momentum,
        nesterov, adam: the learning rate (defaults 1e-2, 1e-2, 1e-3).
    factor : float, optional
        Levenberg-Marquardt only: the initial trust radius is ``factor * ||D x0||``
        (``factor`` if that is 0), MINPACK's step bound factor; default 100.
    bounds : mapping or sequence, optional
        Box bounds on the variables: ``{"b2": (0, None), "x": (-1, 1)}`` (variables not
        named are free) or one ``(lo, hi)`` pair per variable in variable order; ``None``
        or +-inf for no bound.  Taken by the methods in :data:`BOUNDED_METHODS`.  An
        ``x0`` outside the box is clipped into it (as L-BFGS-B does); every iterate
        stays inside.
    history : bool
        Record ``f``, the gradient norm and (up to 100 variables) the iterate at every
        iteration into ``result.history`` (for :mod:`symopt.plot`).
    data : mapping of 1-D arrays, 2-D array, optional
        The data columns of a problem that reads data (a :class:`~symopt.DataLoss`, or a
        model fitted with :class:`~symopt.LeastSquares.from_model`): ``{"x": ..., "y":
        ...}`` (optionally ``"sigma"`` for a model), a pandas DataFrame, a NumPy
        structured array, or (DataLoss) a 2-D array of shape (rows, columns) with the
        columns in the problem's ``data_names`` order.  Data in chunks (a NumPy memory
        map, a path to an ``.npy`` file, a list of chunk files, a function yielding
        chunks, Parquet, Dask collections) are read chunk by chunk by
        :func:`symopt.chunked.minimize`.
    memory : int, optional
        L-BFGS: the number of stored correction pairs (default 10).
    radius : float, optional
        trust-ncg, trust-exact: the initial trust-region radius (default 1).
    momentum : float, optional
        momentum, nesterov: the momentum coefficient; adam: beta1 (default 0.9).
    beta2, eps : float, optional
        adam: the second-moment coefficient (default 0.999) and the denominator guard
        (default 1e-8).
    schedule : {"constant", "inverse_time", "exponential", "cosine"}, optional
        momentum, nesterov, adam: the learning rate at iteration k is ``step``,
        ``step / (1 + decay k)``, ``step * decay**k`` or
        ``step * (1 + cos(pi k / max_iter)) / 2``.
    decay : float, optional
        The schedule's rate (defaults: inverse_time 1e-3, exponential 0.999).
    batch_size, epochs, seed, validation, patience, verbose
        Mini-batch training of a loss over data rows with ``method="sgd"`` or
        ``"adam"``: given ``batch_size`` or ``epochs`` (or ``method="sgd"``), the run goes
        to :func:`symopt.stochastic.minimize_minibatch`, which documents them; ``step``
        is the learning rate there, and ``momentum``, ``beta2``, ``eps`` apply as above.

    Returns
    -------
    OptimizeResult
        Never raises for numerical trouble: ``status``, ``success`` and
        ``message`` say how the solve ended.

    Examples
    --------
    >>> import symopt as so
    >>> res = so.minimize("(1 - x)**2 + 100*(y - x**2)**2", x0={"x": -1.2, "y": 1.0})
    >>> res.success, [round(float(v), 8) for v in res.x]
    (True, [1.0, 1.0])
    """
    if constraints is not None or data is not None or not isinstance(problem, Problem):
        solver = _routes.solver_for(problem, data, constraints)
        if solver is not None:
            given = {name: value for name, value in locals().items()
                     if name in _ROUTED_OPTIONS and value is not None and value is not False}
            return solver(problem, x0, method, params, data, constraints, given)
    if method is None:
        method = "newton"
    if not isinstance(problem, Problem):
        problem = Problem(problem)
    canonical = _ALIASES.get(method) if type(method) is str else None
    if (batch_size is not None or epochs is not None
            or (canonical is None and isinstance(method, str) and method.lower() == "sgd")):
        from .stochastic import minimize_minibatch

        if tol is not None or gtol is not None or ftol is not None or xtol is not None \
                or max_iter is not None or history:
            raise InputError("mini-batch training runs for a number of epochs: tol, gtol, ftol, "
                             "xtol, max_iter and history do not apply (see result.history)")
        full_batch_only = {"memory": memory, "radius": radius, "schedule": schedule,
                           "decay": decay, "factor": factor, "bounds": bounds}
        given = sorted(k for k, v in full_batch_only.items() if v is not None)
        if given:
            raise InputError(f"{', '.join(given)} do not apply to mini-batch training "
                             f"(batch_size=/epochs=/method='sgd')")
        minibatch_options = {k: v for k, v in
                             {"momentum": momentum, "beta2": beta2, "eps": eps}.items()
                             if v is not None}
        return minimize_minibatch(problem, x0, str(method).lower(), params, data=data,
                                  batch_size=batch_size,
                                  epochs=epochs, seed=seed, step=step, validation=validation,
                                  patience=patience, verbose=verbose, **minibatch_options)
    if seed is not None or validation is not None or patience is not None or verbose is not None:
        raise InputError("seed, validation, patience and verbose are options of mini-batch "
                         "training: give batch_size= or epochs= with method='sgd' or 'adam'")
    if (canonical is not None and tol is None and gtol is None and ftol is None and xtol is None
            and max_iter is None and step is None and factor is None and bounds is None
            and not history and data is None and memory is None and radius is None
            and momentum is None and beta2 is None and eps is None and schedule is None
            and decay is None and not problem.data_names):
        cache = problem.__dict__.get(CACHE_SLOT)  # problem_cache(problem), without a call
        plan = cache.plans.get(canonical) if cache is not None else None
        if plan is None:
            plan = _DefaultSolve.of(problem, canonical)
        return plan(x0, params)
    args = (canonical or method, tol, gtol, ftol, xtol, max_iter, step, factor, memory, radius,
            momentum, beta2, eps, schedule, decay)
    try:
        method, kind, opts, max_iter = _resolved(*args)
    except TypeError:  # an unhashable value: checked (and refused) uncached
        method, kind, opts, max_iter = _resolve(*args)
    if kind == "least_squares":
        _check_kind(problem, method)
    x = problem._x_array(x0, check_finite=False)
    if bounds is not None:
        lower, upper = bounds_arrays(bounds, list(problem.variable_names))
        opts = _with_bounds(method, opts, lower, upper)
        np.clip(x, lower, upper, out=x)  # NaN stays NaN: reported as a non-finite x0
    p = problem._param_array(params, check_finite=False)
    if data is None and not problem.data_names:
        d = _EMPTY_DATA
        # every array below is made here with the entry's exact types: no dispatcher needed
        entry = direct_entry_call(method)
    else:
        d = data_array(problem, data)
        entry = entry_point(method)
    n = x.shape[0]
    hist = np.empty((max_iter + 1, 2 + n if n <= HISTORY_X_MAX_N else 2)) if history else _NO_HIST
    addresses, m = _kernel_binding(problem, method, d)
    res = _solve(problem, method, entry, addresses, m, x, p, d, opts, hist)
    if bounds is not None:
        res["active_mask"] = _active_mask(x, res["jac"], lower, upper)
    return res


class _DefaultSolve:
    """A solve of one problem by one method with the default options and no data, with
    everything that does not depend on ``x0`` and ``params`` resolved once: the kernel
    addresses, the compiled entry (called without Numba's dispatcher), the options.
    Kept on the problem (``problem_cache(problem).plans``): a repeated ``minimize(problem, x0)``
    costs the compiled solve plus about three microseconds of Python."""

    __slots__ = ("problem", "method", "call", "addresses", "m", "opts")

    @classmethod
    def of(cls, problem: Problem, method: str) -> "_DefaultSolve":
        plan = cls()
        plan.problem = problem
        plan.method = method
        _check_kind(problem, method)
        plan.opts = SolveOptions(method).array()
        plan.addresses, plan.m = _kernel_binding(problem, method, _EMPTY_DATA)
        plan.call = direct_entry_call(method)
        problem_cache(problem).plans[method] = plan
        return plan

    def __call__(self, x0, params) -> OptimizeResult:
        problem = self.problem
        x = problem._x_array(x0, check_finite=False)
        p = problem._param_array(params, check_finite=False)
        return _solve(problem, self.method, self.call, self.addresses, self.m, x, p,
                      _EMPTY_DATA, self.opts, _NO_HIST)


def _resolve(method, tol, gtol, ftol, xtol, max_iter, step, factor, memory, radius, momentum,
             beta2, eps, schedule, decay) -> tuple[str, str, np.ndarray, int]:
    """``(method, kind, options array, max_iter)`` of minimize's keywords."""
    o = SolveOptions.build(method, tol=tol, gtol=gtol, ftol=ftol, xtol=xtol, max_iter=max_iter,
                           step=step, factor=factor, memory=memory, radius=radius,
                           momentum=momentum, beta2=beta2, eps=eps, schedule=schedule,
                           decay=decay)
    return (o.method, o.kind) + _array(o)


#: _resolve remembered by its positional arguments (typed: max_iter=True is refused, 1 is
#: not), so that a repeated solve with options costs one hash
_resolved = lru_cache(maxsize=256, typed=True)(_resolve)
registry.on_change(_resolved.cache_clear)


def _check_kind(problem: Problem, method: str) -> None:
    """A least-squares method needs a problem with residuals: say how to write one."""
    if registry.lookup(method).kind == "least_squares" and not hasattr(problem, "residual_exprs"):
        raise InputError(
            f"method {method!r} is a least-squares method: it needs the residuals r1, r2, ... "
            f"of a loss r1**2 + r2**2 + ..., and this problem is one scalar loss.  Write the "
            f"residuals: so.LeastSquares([\"1 - x\", \"10*(y - x**2)\"]), or choose a method "
            f"for scalar losses ({', '.join(SCALAR_METHODS)})")


def _kernel_binding(problem: Problem, method: str, d: np.ndarray) -> tuple[tuple, int]:
    """The three kernel addresses ``method``'s entry takes (least squares: residuals,
    residuals and Jacobian, 0) and the number of residuals (-1 for a scalar method)."""
    kernels = compile(problem)
    if method in LEAST_SQUARES_METHODS:
        m = d.shape[1] if problem.data_names else len(problem.residual_exprs)
        return kernels.residual_addresses + (0,), m
    return kernels.method_addresses(method), -1


def _solve(problem: Problem, method: str, entry, addresses, m: int, x, p, d, opts,
           hist) -> OptimizeResult:
    """Call ``method``'s compiled ``entry`` with new output arrays; the result."""
    n = x.shape[0]
    info = np.zeros(abi.N_INFO, dtype=np.int64)
    a0, a1, a2 = addresses
    if m >= 0:
        r = np.empty(m)
        J = np.empty((m, n))
        fun = entry(a0, a1, x, p, d, opts, info, hist, r, J)
        res = _result(problem, method, x, p, fun, _gradient(fun, J, r), None, info, hist)
        res["residuals"] = r
        res["jacobian"] = J
        return res
    g = np.empty(n)
    H = np.empty((n, n)) if method in _MATRIX_NAMES else _NO_HIST
    fun = entry(a0, a1, a2, x, p, d, opts, info, hist, g, H)
    return _result(problem, method, x, p, fun, g, H, info, hist)


def _gradient(fun: float, J: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``J^T r``, the gradient of ``||r||^2 / 2``."""
    if math.isfinite(fun):
        return J.T @ r
    with np.errstate(all="ignore"):  # Inf residuals: the status says so
        return J.T @ r


def _result(problem: Problem, method: str, x, p, fun, g, H, info, hist) -> OptimizeResult:
    """The result of a solve from the solver's outputs; a non-finite start or parameter
    (the solver stopped before its first iteration) raises, naming it."""
    counts = info.tolist()
    code = counts[abi.INFO_STATUS]
    if counts[abi.INFO_NIT] == 0 and code in _BAD_START:
        # a non-finite start is the caller's mistake, not a numerical event: say so
        check_finite_values(x, problem.variable_names, "x0")
        check_finite_values(p, problem.parameter_names, "params")
    _, message, success = _status.TABLE[code]
    res = OptimizeResult(x=x, fun=float(fun), jac=g, nit=counts[abi.INFO_NIT],
                         nfev=counts[abi.INFO_NFEV], njev=counts[abi.INFO_NJEV],
                         nhev=counts[abi.INFO_NHEV], status=code, message=message,
                         success=success, method=method)
    res._set_variable_names(problem.variable_names)
    matrix_name = _MATRIX_NAMES.get(method)
    if matrix_name is not None:
        res[matrix_name] = H
    if hist.shape[0]:
        res["history"] = _history(hist, counts[abi.INFO_NHIST])
    return res


def _active_mask(x, g, lower, upper) -> np.ndarray:
    """scipy's ``active_mask``: -1 where x is at its lower bound, +1 at its upper bound,
    0 where it is free (inside, or on a bound it would leave to descend)."""
    mask = np.zeros(x.shape[0], dtype=np.int64)
    with np.errstate(invalid="ignore"):
        mask[(x <= lower) & ~(g < 0.0)] = -1
        mask[(x >= upper) & ~(g > 0.0)] = 1
    return mask


def _history(hist: np.ndarray, rows: int) -> dict[str, np.ndarray]:
    """The recorded rows of a solver's history array: f and the gradient norm per
    iteration, and the iterates when they were recorded."""
    history = {"f": hist[:rows, 0].copy(), "gnorm": hist[:rows, 1].copy()}
    if hist.shape[1] > 2:
        history["x"] = hist[:rows, 2:].copy()
    return history
