"""Exact derivatives of a scalar loss: gradient, Hessian, sparsity, joint CSE.

The Hessian is derived once per unique entry (the upper triangle, each entry as the
derivative of a gradient entry) and mirrored, so it is symmetric by construction.
Entries that are identically zero are *structural zeros*; codegen writes them as
constants and never computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Sequence

import sympy

__all__ = ["Derivatives", "joint_cse"]


@dataclass(frozen=True, eq=False)
class Derivatives:
    """Gradient and Hessian of ``value`` with respect to ``variables``.

    Parameters
    ----------
    value : sympy.Expr
        The scalar loss.
    variables : sequence of sympy.Symbol
        The variables, in order; the gradient and Hessian follow this order.

    Examples
    --------
    >>> import sympy
    >>> x, y = sympy.symbols("x y", real=True)
    >>> d = Derivatives(x**2 * y, (x, y))
    >>> d.gradient.T
    Matrix([[2*x*y, x**2]])
    >>> d.hessian_sparsity
    ((0, 0), (0, 1))
    """

    value: sympy.Expr
    variables: tuple[sympy.Symbol, ...]
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "variables", tuple(self.variables))

    @property
    def n(self) -> int:
        """Number of variables."""
        return len(self.variables)

    @cached_property
    def gradient_entries(self) -> tuple[sympy.Expr, ...]:
        """The gradient as a tuple of expressions, one per variable."""
        return tuple(sympy.diff(self.value, v) for v in self.variables)

    @cached_property
    def hessian_upper(self) -> dict[tuple[int, int], sympy.Expr]:
        """Upper-triangle Hessian entries ``(i, j), i <= j`` that are not identically zero."""
        entries: dict[tuple[int, int], sympy.Expr] = {}
        for i, gi in enumerate(self.gradient_entries):
            if gi == 0:
                continue
            free = gi.free_symbols
            for j in range(i, self.n):
                if self.variables[j] not in free:
                    continue
                hij = sympy.diff(gi, self.variables[j])
                if hij != 0:
                    entries[(i, j)] = hij
        return entries

    @property
    def hessian_sparsity(self) -> tuple[tuple[int, int], ...]:
        """Positions ``(i, j), i <= j`` of the Hessian entries that are not structurally zero."""
        return tuple(sorted(self.hessian_upper))

    @cached_property
    def gradient(self) -> sympy.Matrix:
        """The gradient as an ``n x 1`` SymPy Matrix."""
        return sympy.Matrix(self.n, 1, list(self.gradient_entries))

    @cached_property
    def hessian(self) -> sympy.Matrix:
        """The symmetric ``n x n`` Hessian as a SymPy Matrix."""
        upper = self.hessian_upper

        def entry(i: int, j: int) -> sympy.Expr:
            key = (i, j) if i <= j else (j, i)
            return upper.get(key, sympy.S.Zero)

        return sympy.Matrix(self.n, self.n, entry)


def joint_cse(exprs: Sequence[sympy.Expr], prefix: str = "_c"):
    """Common-subexpression elimination over several expressions at once.

    Returns ``(replacements, reduced)`` as :func:`sympy.cse` does, with temporaries
    named ``{prefix}0, {prefix}1, ...``.  Temporaries are real symbols, so the
    reduced expressions keep the assumptions of the originals.
    """
    symbols = sympy.numbered_symbols(prefix, real=True)
    replacements, reduced = sympy.cse(list(exprs), symbols=symbols, order="none")
    return replacements, reduced
