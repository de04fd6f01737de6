"""Vector notation for formulas written in Python: indexed real symbols and dot products.

A loss over twenty weights is written once, not typed out::

    w = so.symbols("w0:20")          # (w0, ..., w19), real symbols
    x = so.symbols("x0:20")
    loss = so.DataLoss(so.softplus(-so.symbols("y") * so.dot(w, x)), data=[*x, "y"], wrt=w)

:func:`dot` builds the expanded sum ``w0*x0 + ... + w19*x19`` right away, so the
derivatives are taken of ordinary scalar expressions (the gradient entry for ``w3`` is
just the coefficient of ``w3``).  Formula *text* does not know vectors: build such a
loss in Python, or spell out the terms in the text.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import sympy

from .errors import ProblemError
from .parsing import make_symbol, parse_names

__all__ = ["symbols", "dot"]


def symbols(names: str | Iterable[str]) -> sympy.Symbol | tuple[sympy.Symbol, ...]:
    """Real SymPy symbols from a names spec: ``"x"`` gives one symbol, ``"w0:3"``,
    ``"a b c"`` or a list of names give a tuple.

    Symbols are real, as every symbol of a symopt problem is, so ``abs`` and ``sqrt``
    differentiate as real functions.

    Examples
    --------
    >>> import symopt as so
    >>> so.symbols("w0:3")
    (w0, w1, w2)
    >>> so.symbols("x").is_real
    True
    """
    if isinstance(names, str) and not isinstance(names, sympy.Symbol):
        items = parse_names(names)
        single = len(items) == 1 and not any(c in names for c in ":, ")
    else:
        items = parse_names(list(names))
        single = False
    result = tuple(make_symbol(name) for name in items)
    return result[0] if single else result


def _vector(v: Any, what: str) -> tuple[sympy.Expr, ...]:
    if isinstance(v, str):
        v = symbols(v)
        return v if isinstance(v, tuple) else (v,)
    if isinstance(v, sympy.MatrixBase):
        return tuple(v)
    if isinstance(v, sympy.Basic):
        raise ProblemError(f"dot: {what} must be a sequence of expressions, got the scalar {v}")
    try:
        items = tuple(v)
    except TypeError:
        raise ProblemError(f"dot: {what} must be a sequence of expressions, got {type(v).__name__}") from None
    return tuple(sympy.sympify(e) if isinstance(e, (int, float)) else e for e in items)


def dot(a: Sequence[Any] | str, b: Sequence[Any] | str) -> sympy.Expr:
    """The dot product ``a[0]*b[0] + a[1]*b[1] + ...`` as an expanded SymPy sum.

    ``a`` and ``b`` are sequences of SymPy expressions (e.g. from :func:`symbols`), SymPy
    vectors, or names specs such as ``"w0:3"``; they must have the same length.

    Examples
    --------
    >>> import symopt as so
    >>> so.dot(so.symbols("w0:3"), so.symbols("x0:3"))
    w0*x0 + w1*x1 + w2*x2
    >>> so.dot("a0:2", [1, 2])
    a0 + 2*a1
    """
    u, v = _vector(a, "the first argument"), _vector(b, "the second argument")
    if len(u) != len(v):
        raise ProblemError(f"dot: the vectors have different lengths ({len(u)} and {len(v)})")
    if not u:
        raise ProblemError("dot: the vectors are empty")
    return sympy.Add(*[x * y for x, y in zip(u, v)])
