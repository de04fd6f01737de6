"""Constants of a SymPy expression built in Python (:func:`check_constants`): every
constant part evaluated as a double and refused unless finite and real, as formula
text is."""

from __future__ import annotations

import ast
import math

import sympy

from ..errors import FormulaError
from ..functions import (
    FLOAT_FUNCTIONS,
)

#: operator groups of a constant chain, and values no constant may take
_ADDITIVE = (ast.Add, ast.Sub)
_MULTIPLICATIVE = (ast.Mult, ast.Div)
_BAD_VALUES = (sympy.S.ComplexInfinity, sympy.S.NaN, sympy.S.Infinity, sympy.S.NegativeInfinity)


# ---------------------------------------------------------------------------
# Constants of a SymPy expression built in Python
# ---------------------------------------------------------------------------


def _float_of_node(node: sympy.Basic, values: list[float]) -> float | None:
    """The float64 value of a SymPy node whose arguments are the constants ``values``;
    None for a node this check does not know (left to SymPy)."""
    if node.is_Rational:
        p, q = int(node.p), int(node.q)
        if abs(p) >= q * _DOUBLE_OVERFLOW:
            return math.inf
        return p / q
    if node.is_Float:
        return float(node)
    if node.is_NumberSymbol:
        return float(node)  # pi, E, EulerGamma ...: known to any precision at once
    if node in _BAD_VALUES or node is sympy.I:
        return math.nan
    if node.is_Add:
        return math.fsum(values)
    if node.is_Mul:
        return math.prod(values)
    if node.is_Pow:
        return math.pow(*values)
    function = FLOAT_FUNCTIONS.get(type(node).__name__)
    return None if function is None else function(*values)


def check_constants(expr: sympy.Expr) -> None:
    """Refuse a SymPy expression built in Python whose constant parts are not finite real
    doubles, as :func:`parse_formula` refuses such text: every part without symbols is
    evaluated as a double, bottom-up, in bounded time (SymPy's own evaluation of
    ``exp(exp(exp(exp(3))))`` never ends).

    Raises
    ------
    FormulaError
        Naming the smallest constant part that overflows a double or is not real.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> check_constants(x + sympy.exp(3))
    >>> check_constants(x + sympy.acos(2))
    Traceback (most recent call last):
        ...
    symopt.errors.FormulaError: the constant acos(2) is not a finite real number...
    """
    values: dict[sympy.Basic, float | None] = {}
    stack: list[tuple[sympy.Basic, bool]] = [(expr, False)]
    while stack:  # post-order, without recursion
        node, done = stack.pop()
        if node in values:
            continue
        if not done:
            stack.append((node, True))
            stack.extend((arg, False) for arg in node.args if arg not in values)
            continue
        if node.is_Symbol or isinstance(node, sympy.Dummy):
            values[node] = None
            continue
        arguments = [values.get(arg) for arg in node.args]
        if any(v is None for v in arguments):
            values[node] = None
            continue
        try:
            value = _float_of_node(node, arguments)
        except OverflowError:
            value = math.inf
        except (ValueError, ZeroDivisionError, TypeError):
            value = math.nan
        if value is not None and not (isinstance(value, float) and math.isfinite(value)):
            text = sympy.printing.str.StrPrinter({"order": "none"}).doprint(node)
            if len(text) > 60:
                text = text[:28] + " ... " + text[-27:]
            problem = ("overflows a double (it is beyond about 1.8e308)" if value == math.inf
                       or value == -math.inf else "is not a finite real number")
            raise FormulaError(f"the constant {text} {problem}; every constant part of a "
                               "formula must be a finite real double")
        values[node] = value


def _float_product(ops: list[ast.operator | None], values: tuple[float, ...]) -> float:
    """``v0 op1 v1 op2 v2 ...`` with ``*`` and ``/``, in float64."""
    result = 1.0
    for op, value in zip(ops, values):
        result = result / value if isinstance(op, ast.Div) else result * value
    return result


# Numbers from here on round to infinity as doubles: 2**1024 - 2**970.
_DOUBLE_OVERFLOW = 2**1024 - 2**970


def _beyond_double(number: sympy.Number) -> bool:
    """Whether a SymPy number is beyond the range of a double (it would print as inf)."""
    if number.is_Rational:
        return abs(int(number.p)) >= int(number.q) * _DOUBLE_OVERFLOW
    if number.is_Float:
        return math.isinf(float(number))
    return False


def _group(op: ast.operator) -> str | None:
    if isinstance(op, _ADDITIVE):
        return "+"
    if isinstance(op, _MULTIPLICATIVE):
        return "*"
    return None


def _digits(n: int) -> float:
    """Approximate number of decimal digits of a (large) integer, cheaply."""
    n = abs(int(n))
    return 0.0 if n <= 1 else math.log10(n)


def _format_digits(digits: float) -> str:
    if math.isinf(digits):
        return "infinitely many"
    return f"{math.ceil(digits)}" if digits < 1e6 else f"{digits:.3g}"
