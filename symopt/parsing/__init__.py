"""Formula text -> SymPy expression, safely.

Formula text is untrusted input: :func:`sympy.sympify` and ``parse_expr`` evaluate
Python, so ``sympify("__import__('os').system('...')")`` runs a command.  This
module never evaluates text.  It

1. checks the type, the length (:data:`MAX_FORMULA_LENGTH`) and, with a cheap linear
   scan, the bracket balance and nesting (:data:`MAX_NESTING_DEPTH`);
2. parses with :func:`ast.parse` (which builds a syntax tree and runs nothing);
3. walks the tree and admits only numbers, names, ``+ - * / **``, unary ``-``/``+``
   and calls of the whitelisted functions of :mod:`symopt.functions`; anything else
   is reported with the position of the offending part;
4. builds the SymPy expression itself from the admitted tree, guarding exact
   arithmetic against numbers so large that SymPy would hang
   (:data:`MAX_NUMBER_DIGITS`).

Every error is a :class:`symopt.errors.FormulaError` whose ``offset`` is the
0-based character offset of the offending part in the text (for one-line text,
its column).

Names become real SymPy symbols (:func:`make_symbol`): ``Symbol(name, real=True)``.
``pi``, ``e``, ``E``, ``EulerGamma``, ``GoldenRatio`` and ``Catalan`` are the
constants, and ``I``, ``oo``, ``zoo``, ``nan``, ``inf`` and the like
(:data:`symopt.functions.RESERVED_NAMES`) are refused, unless the caller declares a
variable of that name in ``local_symbols``.  Names mixing look-alike letters of
different scripts (Cyrillic 'а' and Latin 'a') raise a
:class:`~symopt.errors.FormulaWarning` naming both.

Every constant part (no variable below it) is evaluated as a double, bottom-up, before
SymPy builds it, and refused unless finite and real; nesting is bounded by
:data:`MAX_NESTING_DEPTH`, below the depth at which SymPy's differentiation and printing
run out of Python's recursion limit.

The package's modules, one job each: :mod:`~symopt.parsing.limits` (what formula text
may cost), :mod:`~symopt.parsing.names` (names and symbols),
:mod:`~symopt.parsing.formula` (text -> expression) and
:mod:`~symopt.parsing.constants` (constants of an expression built in Python); every
name is re-exported here.
"""

from __future__ import annotations

from .constants import check_constants
from .formula import _fail, _FormulaTree, _scan, parse_formula  # noqa: F401 (the private three: symopt.tensor.parse, symopt.constrained)
from .limits import MAX_FORMULA_LENGTH, MAX_NAMES, MAX_NESTING_DEPTH, MAX_NUMBER_DIGITS
from .names import NameSpec, is_safe_name, make_symbol, parse_names  # noqa: F401

__all__ = [
    "parse_formula",
    "parse_names",
    "is_safe_name",
    "make_symbol",
    "check_constants",
    "MAX_FORMULA_LENGTH",
    "MAX_NESTING_DEPTH",
    "MAX_NUMBER_DIGITS",
    "MAX_NAMES",
]
