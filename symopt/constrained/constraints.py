"""Constraint text and SymPy relations -> ``cl <= c(x) <= cu``.

A constraint is written as a relation: ``"x + y == 1"``, ``"x**2 + y**2 <= 2"``,
``"0 <= a*x - y"``, ``"1 <= x*y <= 4"``, or as a SymPy relation (``sympy.Eq``,
``sympy.Le``, ``sympy.Ge``, ``sympy.Lt``, ``sympy.Gt``).  Every form is normalised to
one expression ``c(x)`` with numeric bounds ``lower <= c(x) <= upper`` (``-inf`` or
``+inf`` where a side is open; an equality when ``lower == upper``):

=======================  ==========================  =========================
written                  ``c(x)``                    bounds
=======================  ==========================  =========================
``g == 3``               ``g``                       ``[3, 3]``
``g <= 3``, ``3 >= g``   ``g``                       ``[-inf, 3]``
``g >= h``               ``g - h``                   ``[0, inf]``
``1 <= g <= 4``          ``g``                       ``[1, 4]``
=======================  ==========================  =========================

A side that is a number becomes the bound; otherwise the two sides are subtracted.
Parameters may appear anywhere; a double-sided constraint whose outer sides are not
numbers (``a <= g <= b`` with parameters ``a``, ``b``) is two constraints
(:func:`parse_constraints` returns both).  Strict inequalities (``<``, ``>``) mean the
same as ``<=``, ``>=``: the solvers work on closed sets, as every nonlinear
programming code does.

Text is untrusted: it is split at its comparison operators with Python's :mod:`ast`
(which runs nothing), and each side is parsed by the safe formula parser
(:func:`symopt.parsing.parse_formula`), so a constraint admits exactly what a loss
admits.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import sympy

from ..errors import FormulaError, ProblemError
from ..parsing import MAX_FORMULA_LENGTH, MAX_NESTING_DEPTH, make_symbol, parse_formula

__all__ = ["Constraint", "parse_constraint", "parse_constraints"]

_OPERATORS = {ast.Eq: "==", ast.LtE: "<=", ast.GtE: ">=", ast.Lt: "<", ast.Gt: ">"}
_RELATIONS = {sympy.Eq: "==", sympy.Le: "<=", sympy.Ge: ">=", sympy.Lt: "<", sympy.Gt: ">"}


@dataclass(frozen=True, eq=False)
class Constraint:
    """One constraint ``lower <= expr <= upper`` (an equality when ``lower == upper``).

    Attributes
    ----------
    expr : sympy.Expr
        ``c(x)``, over real symbols (variables and parameters).
    lower, upper : float
        The bounds; ``-inf``/``+inf`` for an open side.
    text : str
        The constraint as written (for messages and display).
    """

    expr: sympy.Expr
    lower: float
    upper: float
    text: str

    @property
    def is_equality(self) -> bool:
        """Whether the constraint is ``c(x) == lower``."""
        return self.lower == self.upper

    @property
    def kind(self) -> str:
        """``"=="``, ``"<="`` (upper bound only), ``">="`` (lower bound only) or
        ``"<=<="`` (both)."""
        if self.is_equality:
            return "=="
        if self.lower == -math.inf:
            return "<="
        if self.upper == math.inf:
            return ">="
        return "<=<="

    def relation_text(self) -> str:
        """``c(x)`` with its bounds, as normalised (``-1 <= x*y <= 4``)."""
        expr = sympy.sstr(self.expr)
        if self.is_equality:
            return f"{expr} == {_number_text(self.lower)}"
        if self.lower == -math.inf:
            return f"{expr} <= {_number_text(self.upper)}"
        if self.upper == math.inf:
            return f"{expr} >= {_number_text(self.lower)}"
        return f"{_number_text(self.lower)} <= {expr} <= {_number_text(self.upper)}"

    def __repr__(self) -> str:
        return f"Constraint({self.relation_text()!r})"


def _number_text(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def parse_constraint(
    constraint: str | sympy.Basic,
    *,
    local_symbols: Mapping[str, sympy.Expr] | None = None,
) -> Constraint:
    """One constraint as a :class:`Constraint` (see the module docstring for the forms).

    Parameters
    ----------
    constraint : str or sympy relation
        ``"x + y == 1"``, ``"x**2 + y**2 <= 2"``, ``"0 <= a*x - y"``,
        ``"1 <= x*y <= 4"``, or ``sympy.Eq(x + y, 1)`` and friends.
    local_symbols : mapping of str to sympy.Symbol, optional
        Names mapped to given symbols (as for :func:`symopt.parse_formula`).

    Returns
    -------
    Constraint

    Raises
    ------
    FormulaError
        For text that is not a relation symopt admits (no comparison, ``=`` for
        ``==``, ``!=``, mixed directions, a side that is not a formula).
    ProblemError
        For a constraint without symbols, bounds that leave nothing (``2 <= x <= 1``),
        or a double-sided constraint with non-numeric outer sides (use
        :func:`parse_constraints`, which splits it).

    Examples
    --------
    >>> parse_constraint("x + y == 1")
    Constraint('x + y == 1')
    >>> parse_constraint("0 <= a*x - y")
    Constraint('a*x - y >= 0')
    >>> parse_constraint("x**2 + y**2 <= 2*z")
    Constraint('x**2 + y**2 - 2*z <= 0')
    >>> c = parse_constraint("1 <= x*y <= 4")
    >>> c.expr, c.lower, c.upper
    (x*y, 1.0, 4.0)
    """
    constraints = parse_constraints([constraint], local_symbols=local_symbols)
    if len(constraints) != 1:
        raise ProblemError(
            f"{_shown(constraint)} is a double-sided constraint with non-numeric bounds: "
            "two constraints; parse it with parse_constraints")
    return constraints[0]


def parse_constraints(
    constraints: Iterable[str | sympy.Basic] | str | sympy.Basic,
    *,
    local_symbols: Mapping[str, sympy.Expr] | None = None,
) -> list[Constraint]:
    """Constraints (text or SymPy relations) as a list of :class:`Constraint`, in order.

    A double-sided constraint whose outer sides are not both numbers becomes two
    constraints, one per side, next to each other.  See :func:`parse_constraint`.
    """
    if isinstance(constraints, (str, sympy.Basic)):
        constraints = [constraints]
    try:
        items = list(constraints)
    except TypeError:
        raise ProblemError(
            "constraints must be a list of relations (text such as 'x + y <= 1', or SymPy "
            f"relations), got {type(constraints).__name__}") from None
    out: list[Constraint] = []
    for item in items:
        if isinstance(item, str):
            sides, operators = _split_text(item, local_symbols)
            text = item.strip()
        elif isinstance(item, sympy.Basic):
            sides, operators = _split_relation(item, local_symbols)
            text = sympy.sstr(item)
        else:
            raise ProblemError(
                f"a constraint must be text such as 'x + y <= 1' or a SymPy relation, got "
                f"{type(item).__name__} {item!r}")
        out.extend(_normalise(sides, operators, text))
    return out


def _shown(item) -> str:
    return repr(item) if isinstance(item, str) else repr(sympy.sstr(item))


# --- text -----------------------------------------------------------------------------------


def _split_text(text: str, local_symbols) -> tuple[list[sympy.Expr], list[str]]:
    """The sides (parsed safely) and the comparison operators of relation text."""
    if len(text) > MAX_FORMULA_LENGTH:
        raise FormulaError(
            f"the constraint is {len(text)} characters long; the limit is {MAX_FORMULA_LENGTH} "
            "(symopt.parsing.MAX_FORMULA_LENGTH)")
    _check_nesting(text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        hint = ""
        if _has_single_equals(text):
            hint = ": write '==' for an equality (a single '=' assigns in Python)"
        raise FormulaError(f"constraint {text.strip()!r} is not a relation symopt can read "
                           f"({exc.msg}){hint}") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise FormulaError(f"constraint {text.strip()[:80]!r} cannot be parsed: "
                           f"{type(exc).__name__}") from None
    root = tree.body
    source = text.strip()
    if not isinstance(root, ast.Compare):
        raise FormulaError(
            f"constraint {source!r} has no comparison: write it as a relation, e.g. "
            "'x + y == 1', 'x**2 + y**2 <= 2' or '0 <= x - y <= 1'")
    operators = []
    for op in root.ops:
        symbol = _OPERATORS.get(type(op))
        if symbol is None:
            name = {ast.NotEq: "'!='", ast.In: "'in'", ast.NotIn: "'not in'", ast.Is: "'is'",
                    ast.IsNot: "'is not'"}.get(type(op), type(op).__name__)
            raise FormulaError(f"constraint {source!r}: {name} is not a constraint; use ==, "
                               "<=, >=, < or >")
        operators.append(symbol)
    nodes = [root.left, *root.comparators]
    sides = []
    for node in nodes:
        segment = ast.get_source_segment(source, node)
        if segment is None:  # pragma: no cover - ast always has positions for expressions
            raise FormulaError(f"constraint {source!r} cannot be split at its comparisons")
        # parentheses around a side are not part of the node's segment: harmless
        sides.append(parse_formula(segment, local_symbols=local_symbols))
    return sides, operators


def _check_nesting(text: str) -> None:
    """Refuse text nested deeper than the formula parser admits before :func:`ast.parse`
    sees it (Python's parser recurses on brackets)."""
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            if depth > MAX_NESTING_DEPTH:
                raise FormulaError(
                    f"the constraint nests brackets more than {MAX_NESTING_DEPTH} deep "
                    "(symopt.parsing.MAX_NESTING_DEPTH)")
        elif ch in ")]}":
            depth -= 1


def _has_single_equals(text: str) -> bool:
    stripped = text.replace("==", "").replace("<=", "").replace(">=", "").replace("!=", "")
    return "=" in stripped


# --- SymPy relations ------------------------------------------------------------------------


def _split_relation(relation: sympy.Basic, local_symbols) -> tuple[list[sympy.Expr], list[str]]:
    """The sides (over real symbols) and the operator of a SymPy relation."""
    if relation is sympy.true or relation is sympy.false:
        raise ProblemError(
            f"the constraint evaluated to {relation} before symopt saw it (SymPy decided a "
            "relation between numbers): it constrains nothing")
    symbol = _RELATIONS.get(type(relation))
    if symbol is None:
        if isinstance(relation, sympy.Ne):
            raise ProblemError(f"{sympy.sstr(relation)}: '!=' is not a constraint; use ==, <=, "
                               ">=, < or >")
        raise ProblemError(
            f"a constraint must be a relation (Eq, Le, Ge, Lt, Gt or text such as "
            f"'x <= 1'), got {type(relation).__name__} {sympy.sstr(relation)!r}")
    local = dict(local_symbols or {})
    replace = {s: local.get(s.name) or make_symbol(s.name)
               for s in relation.free_symbols if isinstance(s, sympy.Symbol)}
    sides = [relation.lhs.xreplace(replace), relation.rhs.xreplace(replace)]
    for side in sides:
        if not isinstance(side, sympy.Expr) or side.has(sympy.I) or side.has(sympy.zoo) \
                or side.has(sympy.nan):
            raise ProblemError(f"constraint {sympy.sstr(relation)!r} is not a relation between "
                               "real expressions")
    return sides, [symbol]


# --- normalisation --------------------------------------------------------------------------


def _numeric(expr: sympy.Expr) -> float | None:
    """The value of ``expr`` if it is a real number (no symbols), else None."""
    if expr.free_symbols:
        return None
    try:
        value = complex(expr.evalf())
    except (TypeError, ValueError):
        return None
    if value.imag != 0.0:
        return None
    return value.real


def _normalise(sides: Sequence[sympy.Expr], operators: Sequence[str],
               text: str) -> list[Constraint]:
    if len(operators) == 1:
        return [_one_sided(sides[0], operators[0], sides[1], text)]
    if len(operators) != 2:
        raise FormulaError(f"constraint {text!r} chains {len(operators)} comparisons; at most "
                           "two, as in 'lo <= expr <= hi'")
    ascending = all(op in ("<=", "<") for op in operators)
    descending = all(op in (">=", ">") for op in operators)
    if not (ascending or descending):
        raise FormulaError(f"constraint {text!r} mixes directions or '=='; a double-sided "
                           "constraint reads 'lo <= expr <= hi' (or 'hi >= expr >= lo')")
    low, middle, high = sides if ascending else sides[::-1]
    lo, hi = _numeric(low), _numeric(high)
    if lo is not None and hi is not None:
        return [_checked(middle, lo, hi, text)]
    # outer sides with symbols (parameters): one constraint per side
    return [_one_sided(middle, ">=", low, text), _one_sided(middle, "<=", high, text)]


def _one_sided(left: sympy.Expr, op: str, right: sympy.Expr, text: str) -> Constraint:
    left_value, right_value = _numeric(left), _numeric(right)
    if right_value is not None and left_value is None:
        expr, value, upper_side = left, right_value, op in ("<=", "<")
    elif left_value is not None and right_value is None:
        expr, value, upper_side = right, left_value, op in (">=", ">")
    elif left_value is None and right_value is None:
        expr, value, upper_side = left - right, 0.0, op in ("<=", "<")
    else:
        raise ProblemError(f"constraint {text!r} compares numbers only: it has no variables")
    if op == "==":
        lo = hi = value
    elif upper_side:
        lo, hi = -math.inf, value
    else:
        lo, hi = value, math.inf
    return _checked(expr, lo, hi, text)


def _checked(expr: sympy.Expr, lower: float, upper: float, text: str) -> Constraint:
    if not expr.free_symbols:
        raise ProblemError(f"constraint {text!r} has no variables: it constrains nothing")
    for value in (lower, upper):
        if math.isnan(value):
            raise ProblemError(f"constraint {text!r} has an undefined (NaN) bound")
    if lower == math.inf or upper == -math.inf:
        raise ProblemError(f"constraint {text!r} asks for an infinite value")
    if lower > upper:
        raise ProblemError(f"constraint {text!r} cannot hold: its lower bound {lower!r} is above "
                           f"its upper bound {upper!r}")
    return Constraint(sympy.sympify(expr), float(lower), float(upper), text)
