"""Problem: what is minimised, over which variables, with which parameters.

A :class:`Problem` holds a scalar loss as a SymPy expression, its variables (in a
fixed order) and its parameters (symbols whose values are bound at solve time, so
one compilation serves every value).  Its exact derivatives come from
:mod:`symopt.derivatives`.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np
import sympy

from .data import WEIGHT_COLUMN as _WEIGHT_COLUMN
from .derivatives import Derivatives
from .errors import InputError, ProblemError, ShapeError
from .parsing import check_constants, make_symbol, parse_formula, parse_names

__all__ = ["Problem", "LeastSquares", "DataLoss", "natural_key"]

Names = Union[str, sympy.Symbol, Iterable[Union[str, sympy.Symbol]], None]

_DISPLAY_MAX_N = 6


def natural_key(symbol: sympy.Symbol) -> tuple:
    """Sort key putting ``w2`` before ``w10`` (digits compare as numbers)."""
    parts = re.split(r"(\d+)", symbol.name)
    return tuple((0, int(s)) if s.isdigit() else (1, s) for s in parts)


def _names(spec: Names, what: str) -> list[str]:
    if spec is None:
        return []
    names = parse_names(spec)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ProblemError(f"{what} {name!r} is listed twice")
        seen.add(name)
    return names


def _declared_symbols(*groups: Sequence[str]) -> dict[str, sympy.Symbol]:
    """One real symbol per declared name; a name declared twice is an error."""
    seen: dict[str, sympy.Symbol] = {}
    kinds = ("variable", "parameter", "data column")
    owner: dict[str, str] = {}
    for kind, names in zip(kinds, groups):
        for name in names:
            if name in owner:
                raise ProblemError(f"{name!r} cannot be both a {owner[name]} and a {kind}")
            owner[name] = kind
            seen[name] = make_symbol(name)
    return seen


def _as_scalar_expr(loss: Any, local_symbols: dict[str, sympy.Symbol]) -> tuple[sympy.Expr, str]:
    """The loss as a SymPy expression over real symbols, and its display text."""
    if isinstance(loss, str):
        expr = parse_formula(loss, local_symbols=local_symbols)
        return expr, loss.strip()
    if isinstance(loss, (sympy.MatrixBase, list, tuple, np.ndarray)):
        shape = getattr(loss, "shape", (len(loss),))
        if tuple(shape) not in ((1, 1), (1,)):
            raise ProblemError(
                f"the loss must be a scalar expression, got something of shape {tuple(shape)}; "
                "for a vector of residuals use symopt.LeastSquares, or sum the terms into one loss"
            )
        loss = loss[0] if not isinstance(loss, sympy.MatrixBase) else loss[0, 0]
    if isinstance(loss, (int, float)):
        loss = sympy.sympify(loss)
    if not isinstance(loss, sympy.Basic) or not isinstance(loss, sympy.Expr):
        raise ProblemError(
            f"the loss must be formula text or a SymPy expression, got {type(loss).__name__}"
        )
    if isinstance(loss, sympy.logic.boolalg.Boolean) or loss.is_Relational:
        raise ProblemError("the loss must be an expression, not an equation or comparison")
    # every symbol becomes a real symbol of the same name, so that abs, sqrt and
    # friends differentiate as real functions
    replace = {s: local_symbols.get(s.name) or make_symbol(s.name)
               for s in loss.free_symbols if isinstance(s, sympy.Symbol)}
    expr = loss.xreplace(replace)
    check_constants(expr)  # as parse_formula checks text: no constant beyond a double
    return expr, sympy.sstr(loss)


@dataclass(eq=False)
class ProblemCache:
    """What symopt computes for one problem and keeps with it, in one slot
    (``problem._cache``, made by :func:`problem_cache`) instead of attributes scattered
    over the problem: compiled kernels and the plans of repeated solves.  Every field
    holds compiled code or machine addresses, valid in this process only, so the slot is
    never pickled (derived SymPy results are ``cached_property`` values of the problem
    itself, and do travel).  Any problem class may carry it: the scalar problems here,
    :class:`symopt.constrained.ConstrainedProblem` and :class:`symopt.tensor.Problem`."""

    #: the problem's compiled kernels (symopt.kernels.Kernels, or the constrained or
    #: array-formula kernels), made by the package's ``compile``
    kernels: Any = None
    #: repeated solves with resolved settings: symopt.minimize's default solves
    #: (method name -> plan) and symopt.constrained's plans ((method, options) -> plan)
    plans: dict = field(default_factory=dict)
    #: symopt.constrained's repeated solves by their keyword settings
    fast_plans: dict = field(default_factory=dict)
    #: symopt.fit's Levenberg-Marquardt plan (addresses, options, names)
    fit_plan: tuple | None = None


#: the attribute name of the slot
CACHE_SLOT = "_cache"
_cache_lock = threading.Lock()


def problem_cache(problem: Any) -> ProblemCache:
    """The :class:`ProblemCache` of ``problem``, made on first use (thread-safe)."""
    cache = problem.__dict__.get(CACHE_SLOT)
    if cache is None:
        with _cache_lock:
            cache = problem.__dict__.get(CACHE_SLOT)
            if cache is None:
                cache = problem.__dict__[CACHE_SLOT] = ProblemCache()
    return cache


def without_cache(state: dict) -> dict:
    """A copy of a problem's ``__dict__`` without its :class:`ProblemCache` (to pickle)."""
    state = dict(state)
    state.pop(CACHE_SLOT, None)
    return state


class Problem:
    """A scalar loss to minimise, with its exact derivatives.

    Parameters
    ----------
    loss : str or sympy.Expr
        The loss, as formula text (parsed safely, see :func:`symopt.parse_formula`)
        or a SymPy expression.
    wrt : names, optional
        The variables, as ``"x y"``, ``"x, y"``, ``"w0:3"``, a list of names or
        SymPy symbols.  Default: every symbol of the loss that is not a parameter,
        in natural order (``x, y``; ``w2`` before ``w10``).
    params : names, optional
        Symbols whose values are given at solve time (``params=`` of
        :func:`symopt.minimize`); changing them never recompiles.
    constraints : sequence of str or sympy relations, optional
        ``["x + y == 1", "x**2 + y**2 <= 2"]``: the problem is then a
        :class:`symopt.constrained.ConstrainedProblem` (with ``constraint_jacobian`` and
        ``lagrangian``), which :func:`symopt.minimize` solves by its interior point method.

    Examples
    --------
    >>> import symopt as so
    >>> p = so.Problem("(1 - x)**2 + 100*(y - x**2)**2")
    >>> p.variable_names
    ('x', 'y')
    >>> p.gradient.T
    Matrix([[-400*x*(-x**2 + y) + 2*x - 2, -200*x**2 + 200*y]])
    >>> q = so.Problem("a*x**2 + b*exp(-x)", wrt="x", params="a b")
    >>> q.parameter_names
    ('a', 'b')
    """

    #: names of the data columns the loss reads per row (empty: no data)
    data_names: tuple[str, ...] = ()
    #: how the row losses combine: "sum" or "mean" (:class:`DataLoss`)
    reduce: str = "sum"
    #: a term of the variables and parameters added once to a loss over data rows
    regularization_expr: sympy.Expr | None = None

    def __new__(cls, *args: Any, constraints: Any = None, **kwargs: Any):
        if constraints is None:
            return super().__new__(cls)
        if cls is not Problem:
            raise ProblemError(f"{cls.__name__} takes no constraints: give them to a "
                               "Problem of a formula of the variables")
        from .constrained.problem import ConstrainedProblem

        def arguments(loss, wrt=None, params=None):
            return loss, wrt, params

        loss, wrt, params = arguments(*args, **kwargs)
        return ConstrainedProblem(loss, constraints, wrt=wrt, params=params)

    def __init__(self, loss: str | sympy.Expr, wrt: Names = None, params: Names = None, *,
                 constraints: None = None):
        wrt_names = _names(wrt, "variable")
        param_names = _names(params, "parameter")
        local = _declared_symbols(wrt_names, param_names, [])
        expr, formula = _as_scalar_expr(loss, local)
        self._setup(expr, formula, wrt_names, param_names, [], local)

    def _setup(self, expr: sympy.Expr, formula: str, wrt_names: list[str],
               param_names: list[str], data_names: list[str],
               local: dict[str, sympy.Symbol]) -> None:
        """Check the symbols of ``expr`` against the declared names and set the
        variables, parameters and data columns.  ``expr`` is the whole loss, or the loss
        of one data row when ``data_names`` is not empty."""
        free = {s.name: s for s in expr.free_symbols}
        for name in param_names:
            if name not in free:
                raise ProblemError(
                    f"parameter {name!r} does not appear in the loss {formula!r}; "
                    f"its symbols are {sorted(free)}"
                )
        declared = set(param_names) | set(data_names)
        if wrt_names:
            unknown = sorted(set(free) - set(wrt_names) - declared)
            if unknown:
                raise ProblemError(
                    f"the loss uses {', '.join(map(repr, unknown))}, which is neither a variable "
                    f"(wrt={wrt_names}) nor a parameter (params={param_names})"
                    + (f" nor a data column (data={data_names})" if data_names else "")
                    + "; add it to one of them"
                )
            # a listed variable the loss does not use is allowed (its gradient entry is 0)
            variables = tuple(free.get(name) or local[name] for name in wrt_names)
        else:
            variables = tuple(sorted((s for name, s in free.items() if name not in declared),
                                     key=natural_key))
        if not any(v in expr.free_symbols for v in variables):
            raise ProblemError(
                f"the loss {formula!r} depends on no variable: there is nothing to minimise"
                + (f" (its other symbols {sorted(declared)} are parameters or data)" if declared else "")
            )
        if expr.has(sympy.I) or expr.has(sympy.zoo) or expr.has(sympy.nan):
            raise ProblemError(f"the loss {formula!r} is not a real-valued expression")
        self.expr: sympy.Expr = expr
        self.formula: str = formula
        self.variables: tuple[sympy.Symbol, ...] = variables
        self.parameters: tuple[sympy.Symbol, ...] = tuple(free[name] for name in param_names)
        self.data_names = tuple(data_names)
        self.data_symbols: tuple[sympy.Symbol, ...] = tuple(local[name] for name in data_names)
        self.variable_names: tuple[str, ...] = tuple(v.name for v in variables)
        self.parameter_names: tuple[str, ...] = tuple(q.name for q in self.parameters)
        self._variable_index = {name: i for i, name in enumerate(self.variable_names)}
        self._parameter_index = {name: i for i, name in enumerate(self.parameter_names)}

    # --- pickling ------------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        """Everything but the compiled kernels (modules, machine-code addresses): a
        problem pickles - to a Dask worker, say - and its kernels load there from the
        disk cache on first use.  Derived SymPy results travel with it."""
        return without_cache(self.__dict__)

    # --- derivatives ---------------------------------------------------------------------------
    @cached_property
    def derivatives(self) -> Derivatives:
        """The :class:`~symopt.derivatives.Derivatives` (gradient, Hessian, sparsity)."""
        return Derivatives(self.expr, self.variables)

    @cached_property
    def regularization_derivatives(self) -> Derivatives | None:
        """Derivatives of :attr:`regularization_expr` (``None`` without one)."""
        if self.regularization_expr is None:
            return None
        return Derivatives(self.regularization_expr, self.variables)

    @property
    def n(self) -> int:
        """Number of variables."""
        return len(self.variables)

    @property
    def gradient(self) -> sympy.Matrix:
        """The exact gradient, an ``n x 1`` SymPy Matrix."""
        return self.derivatives.gradient

    @property
    def hessian(self) -> sympy.Matrix:
        """The exact, symmetric Hessian, an ``n x n`` SymPy Matrix."""
        return self.derivatives.hessian

    # --- binding values ------------------------------------------------------------------------
    def _x_array(self, x0: Any, what: str = "x0", check_finite: bool = True) -> np.ndarray:
        """Validated float64 array (a new one) of the variables, from a mapping, sequence
        or scalar.  ``check_finite=False`` skips the NaN/Inf check (``minimize`` does it
        only when the solver reports a non-finite start, to keep solves fast)."""
        return _values_array(x0, self.variable_names, self._variable_index, what, "variable",
                             check_finite)

    def _param_array(self, params: Any, check_finite: bool = True) -> np.ndarray:
        if not self.parameter_names:
            if params:
                raise InputError(
                    f"this problem has no parameters, but params={params!r} was given"
                )
            return _NO_PARAMS
        if params is None:
            raise InputError(
                f"this problem has parameters {list(self.parameter_names)}: give their values, "
                f"e.g. params={{{', '.join(repr(n) + ': 1.0' for n in self.parameter_names)}}}"
            )
        return _values_array(params, self.parameter_names, self._parameter_index, "params",
                             "parameter", check_finite)

    # --- display -------------------------------------------------------------------------------
    def _signature_text(self) -> str:
        args = ", ".join(self.variable_names)
        if self.parameter_names:
            args += "; " + ", ".join(self.parameter_names)
        return f"f({args})"

    def __str__(self) -> str:
        return self._text(sympy.pretty)

    def __repr__(self) -> str:
        return self._text(lambda e: sympy.pretty(e, use_unicode=True))

    def _text(self, show) -> str:
        lines = [f"Problem: {self._signature_text()} = {self.formula}"]
        if self.n <= _DISPLAY_MAX_N:
            lines += ["gradient:", show(self.gradient), "Hessian:", show(self.hessian)]
        else:
            lines.append(f"{self.n} variables; gradient and Hessian: see .gradient and .hessian "
                         f"({len(self.derivatives.hessian_sparsity)} nonzero upper-triangle Hessian entries)")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython terminal
        printer.text(repr(self))

    def _latex_signature(self) -> str:
        """``f(x, y; a, b)`` in LaTeX (symbols typeset: ``w10`` as ``w_{10}``)."""
        args = ", ".join(map(sympy.latex, _shown(self.variables)))
        if self.parameters:
            args += ";\\, " + ", ".join(map(sympy.latex, _shown(self.parameters)))
        return f"f({args})"

    def _latex_parts(self) -> list[str]:
        """Lines of the notebook display: the loss, the gradient and the Hessian, each
        replaced by a note of its size when it would be too large to read."""
        lhs = self._latex_signature()
        if self.data_names:
            columns = ", ".join(sympy.latex(s) for s in self.data_symbols)
            parts = [f"{lhs} = \\sum_{{\\text{{rows}}}} {_latex_bounded(self.expr)}",
                     f"\\text{{summed over the rows of the data columns }} {columns}"]
        else:
            parts = [f"{lhs} = {_latex_bounded(self.expr)}"]
        if self.n <= _LATEX_MAX_GRADIENT:
            parts.append(f"\\nabla f = {sympy.latex(self.gradient)}")
        else:
            parts.append(f"\\nabla f: \\text{{{self.n} entries (see .gradient)}}")
        parts.append(self._latex_hessian())
        return parts

    def _latex_hessian(self) -> str:
        if self.n <= _LATEX_MAX_HESSIAN:
            return f"\\nabla^2 f = {sympy.latex(self.hessian)}"
        upper = self.derivatives.hessian_sparsity
        nonzeros = 2 * len(upper) - sum(1 for i, j in upper if i == j)
        return (f"\\nabla^2 f: {self.n} \\times {self.n}, \\text{{{nonzeros} structural nonzeros "
                f"({100 * nonzeros / self.n**2:.1f}\\%); see .hessian}}")

    def _repr_latex_(self) -> str:
        return _aligned(self._latex_parts())


#: notebook display: the gradient is typeset up to this many variables, the Hessian up to
#: _LATEX_MAX_HESSIAN; larger ones are described by their size (and sparsity)
_LATEX_MAX_GRADIENT = 20
_LATEX_MAX_HESSIAN = 8
#: an expression whose LaTeX is longer than this is shown by its first and last terms
_LATEX_MAX_CHARS = 1500


def _shown(symbols: Sequence[sympy.Symbol], limit: int = 12) -> list:
    """At most ``limit`` symbols for a signature: the first ones, an ellipsis, the last."""
    symbols = list(symbols)
    if len(symbols) <= limit:
        return symbols
    return symbols[: limit - 2] + [sympy.Symbol("\\ldots")] + symbols[-1:]


def _latex_bounded(expr: sympy.Expr) -> str:
    """LaTeX of ``expr``; a long sum is shown by its first three and last terms."""
    text = sympy.latex(expr)
    if len(text) <= _LATEX_MAX_CHARS:
        return text
    terms = sympy.Add.make_args(expr)
    if len(terms) > 4:
        shown = " + ".join(sympy.latex(t) for t in terms[:3])
        return (f"{shown} + \\dots + {sympy.latex(terms[-1])}"
                f" \\quad \\text{{({len(terms)} terms)}}")
    return f"\\text{{an expression of {sympy.count_ops(expr)} operations (see .expr)}}"


def _aligned(parts: Sequence[str]) -> str:
    return "$\\begin{aligned}" + " \\\\ ".join("& " + p for p in parts) + "\\end{aligned}$"


_NO_PARAMS = np.empty(0)


_F8 = np.dtype(np.float64)


def _values_array(values: Any, names: Sequence[str], index: Mapping[str, int], what: str,
                  kind: str, check_finite: bool = True) -> np.ndarray:
    n = len(names)
    if type(values) is np.ndarray and values.dtype is _F8 and values.shape == (n,):
        out = values.copy()  # the fast path of minimize(problem, x0_array)
    elif type(values) in (list, tuple) and len(values) == n:
        try:
            out = np.array(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{what} must be numbers, got {_short(values)} ({exc})") from None
        except OverflowError:
            raise InputError(f"{what} holds a number beyond the range of a double "
                             f"(about 1.8e308): {_short(values)}") from None
        if out.ndim != 1:
            raise ShapeError(
                f"{what} has shape {out.shape}, expected ({n},): one value for each of {list(names)}"
            )
    elif isinstance(values, Mapping):
        keys = [str(k) for k in values]
        unknown = [k for k in keys if k not in index]
        if unknown:
            raise InputError(
                f"{what} names unknown {kind}{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))}; the {kind}s are {list(names)}"
            )
        missing = [name for name in names if name not in {str(k) for k in values}]
        if missing:
            raise InputError(
                f"{what} is missing the {kind}{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))}; give a value for each of {list(names)}"
            )
        out = np.empty(n)
        for key, value in values.items():
            out[index[str(key)]] = _float(value, f"{what}[{str(key)!r}]")
    else:
        try:
            out = np.array(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{what} must be numbers, got {_short(values)} ({exc})") from None
        except OverflowError:
            raise InputError(f"{what} holds a number beyond the range of a double "
                             f"(about 1.8e308): {_short(values)}") from None
        if out.ndim == 0:
            out = out.reshape(1)
        if out.ndim != 1 or out.shape[0] != n:
            raise ShapeError(
                f"{what} has shape {out.shape}, expected ({n},): one value for each of {list(names)}"
            )
        out = np.ascontiguousarray(out)
    if check_finite:
        check_finite_values(out, names, what)
    return out


def check_finite_values(values: np.ndarray, names: Sequence[str], what: str) -> None:
    """Raise InputError naming the entries of ``values`` that are NaN or infinite."""
    finite = np.isfinite(values)
    if not finite.all():
        bad = [names[i] for i in np.flatnonzero(~finite)]
        raise InputError(
            f"{what} is not finite for {', '.join(map(repr, bad))}: {values.tolist()}; "
            "give finite numbers"
        )


def _float(value: Any, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where} must be a number, got {_short(value)}") from None
    except OverflowError:
        raise InputError(f"{where} is beyond the range of a double (about 1.8e308): "
                         f"{_short(value)}") from None


def _short(value: Any, limit: int = 200) -> str:
    """``repr(value)``, cut to ``limit`` characters (an integer like 10**400 has 401 digits)."""
    try:
        text = repr(value)
    except ValueError:  # an integer with more digits than Python will print
        return f"<{type(value).__name__} too large to print>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


#: name of the internal data column holding the weights 1/sigma of a model fit (defined
#: in symopt.data, which also turns sigma into the weights)
WEIGHT_COLUMN = _WEIGHT_COLUMN


class LeastSquares(Problem):
    """Minimise ``0.5 * ||r(x)||^2`` for a vector of residuals ``r``.

    A :class:`Problem` whose loss is half the sum of squared residuals, with the exact
    Jacobian of the residuals.  Least-squares methods (``"lm"``, ``"gn"``) use the
    residual and Jacobian kernels; every scalar method works too.

    Parameters
    ----------
    residuals : sequence of str or sympy.Expr, or a SymPy Matrix
        The residuals, one formula each.
    wrt, params : names, optional
        As for :class:`Problem`.

    Examples
    --------
    >>> import symopt as so
    >>> ls = so.LeastSquares(["10*(y - x**2)", "1 - x"])
    >>> ls.jacobian
    Matrix([
    [-20*x, 10],
    [   -1,  0]])

    See Also
    --------
    LeastSquares.from_model : a model fitted to data rows.
    """

    #: names of the independent variables (data columns) of a model; empty otherwise
    independent_names: tuple[str, ...] = ()
    #: name of the dependent data column of a model (``None`` without a model)
    dependent_name: str | None = None

    def __init__(self, residuals: Sequence[str | sympy.Expr] | sympy.MatrixBase,
                 wrt: Names = None, params: Names = None):
        if isinstance(residuals, (str, sympy.Basic)) and not isinstance(residuals, sympy.MatrixBase):
            residuals = [residuals]
        items = list(residuals)
        if not items:
            raise ProblemError("LeastSquares needs at least one residual")
        wrt_names = _names(wrt, "variable")
        param_names = _names(params, "parameter")
        local = _declared_symbols(wrt_names, param_names, [])
        exprs, texts = zip(*(_as_scalar_expr(r, local) for r in items))
        formula = "0.5*sum(r_k**2), r = [" + ", ".join(texts) + "]"
        loss = sympy.Add(*[e**2 for e in exprs]) / 2
        self._setup(loss, formula, wrt_names, param_names, [], local)
        self.residual_exprs: tuple[sympy.Expr, ...] = tuple(exprs)

    @classmethod
    def from_model(cls, model: str | sympy.Expr, independent: Names = "x", wrt: Names = None,
                   params: Names = None, *, dependent: str = "y") -> "LeastSquares":
        """A model fitted to data: residual ``(y_i - model(x_i)) / sigma_i`` per data row.

        Parameters
        ----------
        model : str or sympy.Expr
            The model for one data row, e.g. ``"b1*(1 - exp(-b2*x))"``.
        independent : names
            The independent variables: data columns (``"x"``, or ``"x1 x2"``).
        wrt : names, optional
            The fitted parameters (symopt's *variables*). Default: every symbol of the
            model that is not independent, dependent or a fixed parameter.
        params : names, optional
            Symbols held fixed, with values given at solve time.
        dependent : str
            Name of the observed data column (default ``"y"``).

        Notes
        -----
        The data are bound at solve time (``data={"x": ..., "y": ...}``, optional
        ``"sigma"``), so one compilation serves data of any length.

        Examples
        --------
        >>> import symopt as so
        >>> m = so.LeastSquares.from_model("a*exp(-t/tau) + c", independent="t", wrt="a tau c")
        >>> m.data_names      # '_w' holds the weights 1/sigma (ones without sigma)
        ('t', 'y', '_w')
        """
        independent_names = _names(independent, "independent variable")
        if not independent_names:
            raise ProblemError("a model needs at least one independent variable (a data column)")
        dependent_names = _names(dependent, "dependent variable")
        if len(dependent_names) != 1:
            raise ProblemError(f"dependent must be one name, got {dependent!r}")
        wrt_names = _names(wrt, "variable")
        param_names = _names(params, "parameter")
        data_names = independent_names + dependent_names
        local = _declared_symbols(wrt_names, param_names, data_names)
        model_expr, model_text = _as_scalar_expr(model, local)
        used = {s.name for s in model_expr.free_symbols}
        missing = [name for name in independent_names if name not in used]
        if missing:
            raise ProblemError(
                f"the model {model_text!r} does not use the independent variable "
                f"{', '.join(map(repr, missing))}"
            )
        if dependent_names[0] in used:
            raise ProblemError(
                f"the model {model_text!r} uses the dependent variable {dependent_names[0]!r}; "
                "the model must be a formula of the independent variables and fitted parameters"
            )
        weight = sympy.Symbol(WEIGHT_COLUMN, real=True)
        local[WEIGHT_COLUMN] = weight
        residual = (local[dependent_names[0]] - model_expr) * weight
        self = cls.__new__(cls)
        formula = f"0.5*sum(((y_i - model_i)/sigma_i)**2), model = {model_text}"
        self._setup(residual**2 / 2, formula, wrt_names, param_names,
                    data_names + [WEIGHT_COLUMN], local)
        self.residual_exprs = (residual,)
        self.model = model_expr
        self.model_text = model_text
        self.independent_names = tuple(independent_names)
        self.dependent_name = dependent_names[0]
        return self

    @property
    def is_model(self) -> bool:
        """Whether this is a model fitted to data rows (one residual per row)."""
        return bool(self.data_names)

    @property
    def residuals(self) -> sympy.Matrix:
        """The residuals as a column Matrix (for a model: the residual of one row)."""
        return sympy.Matrix(len(self.residual_exprs), 1, list(self.residual_exprs))

    @cached_property
    def jacobian(self) -> sympy.Matrix:
        """The exact Jacobian ``d r_k / d x_j`` (for a model: one row's)."""
        return sympy.Matrix([[sympy.diff(r, v) for v in self.variables]
                             for r in self.residual_exprs])

    def _text(self, show) -> str:
        lines = [f"LeastSquares: {self._signature_text()}: {self.formula}"]
        if self.n <= _DISPLAY_MAX_N and len(self.residual_exprs) <= 12:
            lines += ["residuals:", show(self.residuals), "Jacobian:", show(self.jacobian)]
        else:
            lines.append(f"{len(self.residual_exprs)} residuals, {self.n} variables: "
                         "see .residuals and .jacobian")
        return "\n".join(lines)

    def _latex_parts(self) -> list[str]:
        lhs = self._latex_signature()
        if self.is_model:
            m = sympy.Function("m")
            model = m(*[sympy.Symbol(n) for n in self.independent_names])
            row = m(*[sympy.Symbol(f"{n}_i") for n in self.independent_names])
            y_i = sympy.latex(sympy.Symbol(f"{self.dependent_name}_i"))
            parts = [f"{sympy.latex(model)} = {_latex_bounded(self.model)}",
                     f"{lhs} = \\frac{{1}}{{2}} \\sum_i \\left(\\frac{{{y_i}"
                     f" - {sympy.latex(row)}}}{{\\sigma_i}}\\right)^2"]
            if self.n <= _LATEX_MAX_GRADIENT:
                grad = sympy.Matrix([[sympy.diff(self.model, v) for v in self.variables]])
                names = ", ".join(map(sympy.latex, self.variables))
                parts.append(f"\\frac{{\\partial m}}{{\\partial ({names})}} = {sympy.latex(grad)}")
            return parts
        k = len(self.residual_exprs)
        parts = [f"{lhs} = \\frac{{1}}{{2}} \\sum_{{k=1}}^{{{k}}} r_k^2"]
        if k <= _LATEX_MAX_RESIDUALS:
            parts.append(f"r = {sympy.latex(self.residuals)}")
            if self.n <= _LATEX_MAX_GRADIENT:
                parts.append(f"J = {sympy.latex(self.jacobian)}")
        else:
            shown = ", ".join(_latex_bounded(r) for r in self.residual_exprs[:3])
            parts.append(f"r = ({shown}, \\dots) \\quad \\text{{({k} residuals)}}")
        if self.n <= _LATEX_MAX_HESSIAN and k <= _LATEX_MAX_RESIDUALS:
            parts.append(self._latex_hessian())
        return parts


#: residual vectors longer than this are shown by their first entries
_LATEX_MAX_RESIDUALS = 12


class DataLoss(Problem):
    """A loss summed (or averaged) over data rows, written for one row.

    The loss of the whole dataset is ``sum_i loss(x; row_i) + regularization(x)`` (or
    the mean over rows, plus the regularization).  Its exact derivatives are those of
    the one-row formula, summed by compiled kernels that loop over the rows in
    parallel blocks (:mod:`symopt.codegen`); the data are bound at solve time, so one
    compilation serves every dataset with these columns.

    Parameters
    ----------
    loss : str or sympy.Expr
        The loss of one data row, e.g. ``"softplus(-y*(w0 + w1*x1 + w2*x2))"``; build
        long ones in Python with :func:`symopt.symbols` and :func:`symopt.dot`.
    data : names
        The data columns the formula reads (``["x1", "x2", "y"]``, ``"x0:20 y"``).
    wrt, params : names, optional
        As for :class:`Problem`; default variables: every other symbol.
    reduce : {"sum", "mean"}
        Sum the row losses, or average them (divide by the number of rows).
    regularization : str or sympy.Expr, optional
        A term of the variables and parameters, added once (not per row), e.g.
        ``"1e-3*(w1**2 + w2**2)"``.

    Notes
    -----
    ``expr``, ``gradient`` and ``hessian`` are those of one row's loss;
    ``regularization_expr`` is the term added once.

    Examples
    --------
    >>> import numpy as np, symopt as so
    >>> loss = so.DataLoss("(y - a - b*t)**2", data="t y", wrt="a b", reduce="mean")
    >>> res = so.minimize(loss, [0, 0], data={"t": [0.0, 1.0, 2.0], "y": [1.0, 3.0, 5.0]})
    >>> np.round(res.x, 6).tolist()
    [1.0, 2.0]
    """

    def __init__(self, loss: str | sympy.Expr, data: Names, wrt: Names = None,
                 params: Names = None, *, reduce: str = "sum",
                 regularization: str | sympy.Expr | None = None):
        data_names = _names(data, "data column")
        if not data_names:
            raise ProblemError("a DataLoss needs at least one data column: data=['x', 'y', ...]")
        if reduce not in ("sum", "mean"):
            raise ProblemError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
        wrt_names = _names(wrt, "variable")
        param_names = _names(params, "parameter")
        local = _declared_symbols(wrt_names, param_names, data_names)
        expr, formula = _as_scalar_expr(loss, local)
        used = {s.name for s in expr.free_symbols}
        unused = [name for name in data_names if name not in used]
        if unused:
            raise ProblemError(
                f"the loss {formula!r} does not use the data column"
                f"{'s' if len(unused) > 1 else ''} {', '.join(map(repr, unused))}; "
                "list only the columns the row formula reads"
            )
        reg_expr = sympy.S.Zero
        if regularization is not None:
            reg_expr, reg_text = _as_scalar_expr(regularization, local)
            in_data = sorted({s.name for s in reg_expr.free_symbols} & set(data_names))
            if in_data:
                raise ProblemError(
                    f"the regularization {reg_text!r} uses the data column"
                    f"{'s' if len(in_data) > 1 else ''} {', '.join(map(repr, in_data))}; "
                    "it is added once, so it may use variables and parameters only"
                )
            formula = f"{formula}  [+ once: {reg_text}]"
        # check names and find the variables over the row loss and the regularization
        self._setup(expr + reg_expr, formula, wrt_names, param_names, data_names, local)
        self.expr = expr
        self.reduce = reduce
        self.regularization_expr = reg_expr if regularization is not None else None
        self.row_formula = formula

    def _text(self, show) -> str:
        what = "mean" if self.reduce == "mean" else "sum"
        lines = [f"DataLoss: {self._signature_text()} = {what} over rows of {self.formula}",
                 f"data columns: {', '.join(self.data_names)}"]
        if self.n <= _DISPLAY_MAX_N:
            lines += ["gradient of one row:", show(self.gradient)]
        return "\n".join(lines)

    def _latex_parts(self) -> list[str]:
        """The notebook display: the summed (or averaged) row loss plus the term added
        once, then the derivatives of one row's loss."""
        parts = super()._latex_parts()
        reduction = "\\frac{1}{N} \\sum_{i=1}^{N}" if self.reduce == "mean" else "\\sum_{i=1}^{N}"
        loss = f"{self._latex_signature()} = {reduction} \\ell_i"
        if self.regularization_expr is not None:
            loss += f" + {_latex_bounded(self.regularization_expr)}"
        columns = ", ".join(sympy.latex(s) for s in self.data_symbols)
        parts[0] = loss
        parts[1] = f"\\ell_i = {_latex_bounded(self.expr)} \\quad \\text{{(row i of }} {columns})"
        return [part.replace("\\nabla f", "\\nabla \\ell_i").replace("\\nabla^2 f", "\\nabla^2 \\ell_i")
                for part in parts]
