"""``relu`` and its derivative ``step`` as SymPy functions that every symopt printer knows.

``relu(z) = max(z, 0)``.  Its derivative is defined as ``step(z)``: 1 where ``z > 0`` and
**0 at 0** (and below), the convention of PyTorch and JAX; ``step`` has derivative 0.
SymPy's own ``Max`` would differentiate to ``Heaviside(z)``, which is 1/2 at 0.
"""

from __future__ import annotations

import sympy
from sympy.core.function import ArgumentIndexError, Function

__all__ = ["relu", "step"]


class step(Function):  # noqa: N801 - a SymPy function, named as written in formulas
    """1 for ``z > 0``, else 0 (the derivative of ``relu``, 0 at 0)."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_number and z.is_real:
            return sympy.S.One if z > 0 else sympy.S.Zero
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return sympy.S.Zero

    def _symopt_kernel(self, printer):
        return f"(1.0 if {printer._print(self.args[0])} > 0.0 else 0.0)"

    def _numpycode(self, printer):
        return f"numpy.greater({printer._print(self.args[0])}, 0).astype(float)"

    _pythoncode = _symopt_kernel

    def _latex(self, printer):
        return r"\mathbb{1}_{>0}\left(" + printer._print(self.args[0]) + r"\right)"


class relu(Function):  # noqa: N801
    """``max(z, 0)``; derivative ``step(z)`` (0 at 0)."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_number and z.is_real:
            return z if z > 0 else sympy.S.Zero
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return step(self.args[0])

    def _symopt_kernel(self, printer):
        return f"max({printer._print(self.args[0])}, 0.0)"

    def _numpycode(self, printer):
        return f"numpy.maximum({printer._print(self.args[0])}, 0.0)"

    _pythoncode = _symopt_kernel

    def _latex(self, printer):
        return r"\operatorname{relu}\left(" + printer._print(self.args[0]) + r"\right)"
