"""Problem: what is minimised, over which variables, with which parameters.

A :class:`Problem` holds a scalar loss as a SymPy expression, its variables (in a
fixed order) and its parameters (symbols whose values are bound at solve time, so
one compilation serves every value).  Its exact derivatives come from
:mod:`symopt.derivatives`.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np
import sympy

from .derivatives import Derivatives
from .errors import InputError, ProblemError, ShapeError
from .parsing import make_symbol, parse_formula, parse_names

__all__ = ["Problem", "natural_key"]

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
    return expr, sympy.sstr(loss)


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

    def __init__(self, loss: str | sympy.Expr, wrt: Names = None, params: Names = None):
        wrt_names = _names(wrt, "variable")
        param_names = _names(params, "parameter")
        both = set(wrt_names) & set(param_names)
        if both:
            raise ProblemError(f"{sorted(both)} cannot be both a variable and a parameter")
        local = {name: make_symbol(name) for name in wrt_names + param_names}
        expr, formula = _as_scalar_expr(loss, local)
        free = {s.name: s for s in expr.free_symbols}
        for name in param_names:
            if name not in free:
                raise ProblemError(
                    f"parameter {name!r} does not appear in the loss {formula!r}; "
                    f"its symbols are {sorted(free)}"
                )
        if wrt_names:
            unknown = sorted(set(free) - set(wrt_names) - set(param_names))
            if unknown:
                raise ProblemError(
                    f"the loss uses {', '.join(map(repr, unknown))}, which is neither a variable "
                    f"(wrt={wrt_names}) nor a parameter (params={param_names}); "
                    "add it to one of them"
                )
            # a listed variable the loss does not use is allowed (its gradient entry is 0)
            variables = tuple(free.get(name) or local[name] for name in wrt_names)
        else:
            variables = tuple(sorted((s for name, s in free.items() if name not in param_names),
                                     key=natural_key))
        if not any(v in expr.free_symbols for v in variables):
            raise ProblemError(
                f"the loss {formula!r} depends on no variable: there is nothing to minimise"
                + (f" (its symbols {param_names} are all parameters)" if param_names else "")
            )
        if expr.has(sympy.I) or expr.has(sympy.zoo) or expr.has(sympy.nan):
            raise ProblemError(f"the loss {formula!r} is not a real-valued expression")
        self.expr: sympy.Expr = expr
        self.formula: str = formula
        self.variables: tuple[sympy.Symbol, ...] = variables
        self.parameters: tuple[sympy.Symbol, ...] = tuple(free[name] for name in param_names)
        self.variable_names: tuple[str, ...] = tuple(v.name for v in variables)
        self.parameter_names: tuple[str, ...] = tuple(q.name for q in self.parameters)
        self._variable_index = {name: i for i, name in enumerate(self.variable_names)}
        self._parameter_index = {name: i for i, name in enumerate(self.parameter_names)}

    # --- derivatives ---------------------------------------------------------------------------
    @cached_property
    def derivatives(self) -> Derivatives:
        """The :class:`~symopt.derivatives.Derivatives` (gradient, Hessian, sparsity)."""
        return Derivatives(self.expr, self.variables)

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

    def _repr_latex_(self) -> str:
        lhs = self._signature_text().replace("; ", ";\\,")
        parts = [f"{lhs} = {sympy.latex(self.expr)}"]
        if self.n <= _DISPLAY_MAX_N:
            parts.append(f"\\nabla f = {sympy.latex(self.gradient)}")
            parts.append(f"\\nabla^2 f = {sympy.latex(self.hessian)}")
        else:
            parts.append(f"\\text{{{self.n} variables; {len(self.derivatives.hessian_sparsity)}"
                         " nonzero Hessian entries in the upper triangle}")
        return "$\\begin{aligned}" + " \\\\ ".join("& " + p for p in parts) + "\\end{aligned}$"


_NO_PARAMS = np.empty(0)


def _values_array(values: Any, names: Sequence[str], index: Mapping[str, int], what: str,
                  kind: str, check_finite: bool = True) -> np.ndarray:
    n = len(names)
    if isinstance(values, Mapping):
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
            raise InputError(f"{what} must be numbers, got {values!r} ({exc})") from None
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
        raise InputError(f"{where} must be a number, got {value!r}") from None
