"""ConstrainedProblem: an objective, constraints, variables and parameters, with the
exact derivatives constrained methods need.

The constraints are kept as the user wrote them (:attr:`ConstrainedProblem.constraints`,
each normalised to ``lower <= c(x) <= upper``).  A constraint on one variable alone,
``a*x_j + b`` with numbers ``a != 0`` and ``b`` (``"x >= 0"``, ``"0 <= y <= 1"``,
``"x1 - 2 == 0"``), is a *bound* on that variable: the solvers keep it as a bound (an
interior-point method then never leaves it, so ``log(x)`` with ``"x >= 0"`` is never
evaluated at ``x <= 0``), and its multiplier is reported with the constraint.  The
others are the *general* constraints, whose values, Jacobian and Hessians the kernels
compute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable, Sequence

import sympy

from ..derivatives import Derivatives
from ..errors import ProblemError
from ..parsing import make_symbol, parse_formula, parse_names
from ..problem import Problem, natural_key, without_cache
from .constraints import Constraint, parse_constraints

__all__ = ["ConstrainedProblem", "BoundConstraint"]

_DISPLAY_MAX_N = 6
_DISPLAY_MAX_M = 8


@dataclass(frozen=True)
class BoundConstraint:
    """A user constraint ``lower <= a*x_j + b <= upper`` kept as a bound on ``x_j``:
    ``(lower - b)/a <= x_j <= (upper - b)/a`` (sides swapped when ``a < 0``)."""

    variable: int
    a: float
    b: float
    lower: float
    upper: float


class ConstrainedProblem:
    """Minimise an objective subject to constraints.

    Parameters
    ----------
    objective : str, sympy.Expr, number or symopt.Problem
        The objective, as formula text, a SymPy expression, a constant (a feasibility
        problem) or a :class:`symopt.Problem` (whose variables and parameters are
        taken, with ``wrt`` and ``params`` left out).
    constraints : sequence of str or sympy relations
        ``"x + y == 1"``, ``"x**2 + y**2 <= 2"``, ``"0 <= a*x - y"``,
        ``"1 <= x*y <= 4"``, ``sympy.Eq(x + y, 1)`` ... (see
        :mod:`symopt.constrained.constraints`).
    wrt : names, optional
        The variables.  Default: every symbol of the objective and the constraints that
        is not a parameter, in natural order.
    params : names, optional
        Symbols whose values are given at solve time.

    Examples
    --------
    >>> from symopt.constrained import ConstrainedProblem
    >>> p = ConstrainedProblem("(x - 1)**2 + (y - 2)**2", ["x + y == 1", "x >= 0"])
    >>> p.variable_names, [c.relation_text() for c in p.constraints]
    (('x', 'y'), ['x + y == 1', 'x >= 0'])
    >>> p.constraint_jacobian
    Matrix([
    [1, 1],
    [1, 0]])
    >>> p.lagrangian
    lambda_1*(x + y) + lambda_2*x + (x - 1)**2 + (y - 2)**2
    """

    def __init__(self, objective: Any, constraints: Iterable[Any] = (), wrt: Any = None,
                 params: Any = None):
        base = objective if isinstance(objective, Problem) else None
        if base is not None:
            if base.data_names:
                raise ProblemError("constraints on a loss over data rows are not supported yet; "
                                   "give the objective as a formula of the variables")
            if wrt is not None or params is not None:
                raise ProblemError("give wrt and params with the formula, not with a "
                                   "symopt.Problem (its variables and parameters are used)")
            wrt_names = list(base.variable_names)
            param_names = list(base.parameter_names)
        else:
            wrt_names = _names(wrt, "variable")
            param_names = _names(params, "parameter")
        local = _declared(wrt_names, param_names)
        if base is not None:
            expr, text = base.expr, base.formula
        else:
            expr, text = _objective(objective, local)
        if isinstance(constraints, (str, sympy.Basic)):
            constraints = [constraints]
        self.constraints: tuple[Constraint, ...] = tuple(
            parse_constraints(list(constraints), local_symbols=local))
        self._setup(expr, text, wrt_names, param_names, local)

    def _setup(self, expr, text, wrt_names, param_names, local) -> None:
        used = set(expr.free_symbols)
        for c in self.constraints:
            used |= c.expr.free_symbols
        by_name = {s.name: s for s in used}
        for name in param_names:
            if name not in by_name:
                raise ProblemError(f"parameter {name!r} appears neither in the objective nor in "
                                   "a constraint")
        if wrt_names:
            unknown = sorted(set(by_name) - set(wrt_names) - set(param_names))
            if unknown:
                raise ProblemError(
                    f"{', '.join(map(repr, unknown))} is neither a variable (wrt={wrt_names}) nor "
                    f"a parameter (params={param_names}); add it to one of them")
            variables = tuple(by_name.get(n) or local[n] for n in wrt_names)
        else:
            variables = tuple(sorted((s for n, s in by_name.items() if n not in param_names),
                                     key=natural_key))
        if not variables:
            raise ProblemError("the problem has no variables: the objective and the constraints "
                               "use parameters only")
        for what, e in [("objective", expr)] + [(f"constraint {c.text!r}", c.expr)
                                                for c in self.constraints]:
            if e.has(sympy.I) or e.has(sympy.zoo) or e.has(sympy.nan):
                raise ProblemError(f"the {what} is not a real-valued expression")
        self.objective: sympy.Expr = expr
        self.formula: str = text
        self.variables: tuple[sympy.Symbol, ...] = variables
        self.parameters: tuple[sympy.Symbol, ...] = tuple(by_name.get(n) or local[n]
                                                          for n in param_names)
        self.variable_names = tuple(v.name for v in self.variables)
        self.parameter_names = tuple(q.name for q in self.parameters)
        index = {v: j for j, v in enumerate(self.variables)}
        self.bound_constraints: dict[int, BoundConstraint] = {}
        general = []
        for k, c in enumerate(self.constraints):
            bound = _as_bound(c, index)
            if bound is None:
                general.append(k)
            else:
                self.bound_constraints[k] = bound
        #: indices (into :attr:`constraints`) of the general constraints, in order
        self.general_indices: tuple[int, ...] = tuple(general)

    # --- sizes --------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of variables."""
        return len(self.variables)

    @property
    def m(self) -> int:
        """Number of general constraints (the ones the constraint kernels compute)."""
        return len(self.general_indices)

    @property
    def general_constraints(self) -> tuple[Constraint, ...]:
        return tuple(self.constraints[k] for k in self.general_indices)

    @property
    def is_equality_constrained(self) -> bool:
        """Whether every constraint is an equality and none is a bound."""
        return (bool(self.constraints) and not self.bound_constraints
                and all(c.is_equality for c in self.constraints))

    @cached_property
    def linear_constraints(self) -> bool:
        """Whether every general constraint is linear in the variables."""
        return all(not sympy.diff(c.expr, v).free_symbols & set(self.variables)
                   for c in self.general_constraints for v in self.variables)

    @cached_property
    def quadratic_objective(self) -> bool:
        """Whether the objective is (at most) quadratic in the variables."""
        return all(not (h.free_symbols & set(self.variables))
                   for h in self.objective_derivatives.hessian_upper.values())

    # --- derivatives ----------------------------------------------------------------------
    @cached_property
    def objective_derivatives(self) -> Derivatives:
        return Derivatives(self.objective, self.variables)

    @cached_property
    def constraint_derivatives(self) -> tuple[Derivatives, ...]:
        """Derivatives of each general constraint expression."""
        return tuple(Derivatives(c.expr, self.variables) for c in self.general_constraints)

    @property
    def gradient(self) -> sympy.Matrix:
        """The gradient of the objective (``n x 1``)."""
        return self.objective_derivatives.gradient

    @cached_property
    def multiplier_symbols(self) -> tuple[sympy.Symbol, ...]:
        """``lambda_1 .. lambda_k``, one per constraint (as written)."""
        return tuple(sympy.Symbol(f"lambda_{k + 1}", real=True)
                     for k in range(len(self.constraints)))

    @cached_property
    def constraint_jacobian(self) -> sympy.Matrix:
        """``d c_k / d x_j`` for every constraint as written (``k x n``)."""
        if not self.constraints:
            return sympy.zeros(0, self.n)
        return sympy.Matrix([[sympy.diff(c.expr, v) for v in self.variables]
                             for c in self.constraints])

    @cached_property
    def lagrangian(self) -> sympy.Expr:
        """``L = f + sum_k lambda_k c_k`` (the sign convention of the multipliers)."""
        return self.objective + sum((lam * c.expr for lam, c in
                                     zip(self.multiplier_symbols, self.constraints)),
                                    sympy.S.Zero)

    @cached_property
    def lagrangian_hessian(self) -> sympy.Matrix:
        """The Hessian of :attr:`lagrangian` in the variables (``n x n``)."""
        upper = self.lagrangian_hessian_upper(
            [self.multiplier_symbols[k] for k in self.general_indices], sympy.S.One)
        return sympy.Matrix(self.n, self.n,
                            lambda i, j: upper.get((min(i, j), max(i, j)), sympy.S.Zero))

    def lagrangian_hessian_upper(self, multipliers: Sequence[sympy.Expr],
                                 obj_factor: sympy.Expr) -> dict[tuple[int, int], sympy.Expr]:
        """Upper-triangle entries of ``obj_factor * H_f + sum_i multipliers[i] * H_ci``
        (``i`` over the general constraints) that are not identically zero."""
        entries: dict[tuple[int, int], sympy.Expr] = {}
        for key, h in self.objective_derivatives.hessian_upper.items():
            entries[key] = obj_factor * h
        for lam, d in zip(multipliers, self.constraint_derivatives):
            for key, h in d.hessian_upper.items():
                entries[key] = entries.get(key, sympy.S.Zero) + lam * h
        return entries

    # --- display ------------------------------------------------------------------------
    def _signature(self) -> str:
        args = ", ".join(self.variable_names)
        if self.parameter_names:
            args += "; " + ", ".join(self.parameter_names)
        return f"f({args})"

    def _text(self, show) -> str:
        lines = [f"ConstrainedProblem: minimise {self._signature()} = {self.formula}"]
        if self.constraints:
            lines.append("subject to:")
            for k, c in enumerate(self.constraints):
                kind = "  (a bound)" if k in self.bound_constraints else ""
                lines.append(f"  [{k + 1}] {c.relation_text()}{kind}")
        if self.n <= _DISPLAY_MAX_N and len(self.constraints) <= _DISPLAY_MAX_M:
            lines += ["gradient:", show(self.gradient)]
            if self.constraints:
                lines += ["constraint Jacobian:", show(self.constraint_jacobian)]
            lines += ["Hessian of the Lagrangian L = f + sum_k lambda_k c_k:",
                      show(self.lagrangian_hessian)]
        else:
            lines.append(f"{self.n} variables, {len(self.constraints)} constraints: see "
                         ".gradient, .constraint_jacobian and .lagrangian_hessian")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._text(sympy.pretty)

    def __repr__(self) -> str:
        return self._text(lambda e: sympy.pretty(e, use_unicode=True))

    def _repr_latex_(self) -> str:
        args = ", ".join(sympy.latex(v) for v in self.variables)
        parts = [f"\\min_{{{args}}} \\; {sympy.latex(self.objective)}"]
        for c in self.constraints:
            e = sympy.latex(c.expr)
            if c.is_equality:
                parts.append(f"{e} = {_latex_number(c.lower)}")
            elif c.lower == -math.inf:
                parts.append(f"{e} \\le {_latex_number(c.upper)}")
            elif c.upper == math.inf:
                parts.append(f"{e} \\ge {_latex_number(c.lower)}")
            else:
                parts.append(f"{_latex_number(c.lower)} \\le {e} \\le {_latex_number(c.upper)}")
        if self.n <= 8 and len(self.constraints) <= _DISPLAY_MAX_M:
            if self.constraints:
                parts.append(f"J_c = {sympy.latex(self.constraint_jacobian)}")
            parts.append(f"\\nabla^2_x L = {sympy.latex(self.lagrangian_hessian)}")
        return "$\\begin{aligned}" + " \\\\ ".join("& " + p for p in parts) + "\\end{aligned}$"

    def __getstate__(self) -> dict:
        return without_cache(self.__dict__)


def _latex_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def _names(spec, what: str) -> list[str]:
    if spec is None:
        return []
    names = parse_names(spec)
    if len(set(names)) != len(names):
        raise ProblemError(f"a {what} is listed twice in {spec!r}")
    return names


def _declared(wrt_names: list[str], param_names: list[str]) -> dict[str, sympy.Symbol]:
    both = set(wrt_names) & set(param_names)
    if both:
        raise ProblemError(f"{sorted(both)} cannot be both a variable and a parameter")
    return {name: make_symbol(name) for name in wrt_names + param_names}


def _objective(objective: Any, local: dict[str, sympy.Symbol]) -> tuple[sympy.Expr, str]:
    if isinstance(objective, str):
        return parse_formula(objective, local_symbols=local), objective.strip()
    if isinstance(objective, bool) or not isinstance(objective, (int, float, sympy.Basic)):
        raise ProblemError(f"the objective must be formula text, a SymPy expression, a number "
                           f"or a symopt.Problem, got {type(objective).__name__}")
    expr = sympy.sympify(objective)
    if not isinstance(expr, sympy.Expr) or expr.is_Relational:
        raise ProblemError("the objective must be an expression, not a relation; give "
                           "relations as constraints=[...]")
    replace = {s: local.get(s.name) or make_symbol(s.name)
               for s in expr.free_symbols if isinstance(s, sympy.Symbol)}
    return expr.xreplace(replace), sympy.sstr(objective)


def _as_bound(c: Constraint, index: dict[sympy.Symbol, int]) -> BoundConstraint | None:
    """``c`` as a bound on one variable if it is ``a*x_j + b`` with numbers ``a != 0``, ``b``."""
    symbols = c.expr.free_symbols
    if len(symbols) != 1:
        return None
    (v,) = symbols
    if v not in index:
        return None
    a = sympy.diff(c.expr, v)
    if a.free_symbols or a == 0:
        return None
    b = c.expr.subs(v, 0)
    if b.free_symbols:
        return None
    a, b = float(a), float(b)
    lo, hi = (c.lower - b) / a, (c.upper - b) / a
    if a < 0:
        lo, hi = hi, lo
    return BoundConstraint(index[v], a, b, lo, hi)
