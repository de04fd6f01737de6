"""The function vocabulary of symopt formulas.

Two SymPy functions that SymPy lacks, :class:`sigmoid` and :class:`softplus`, and
the whitelist that :mod:`symopt.parsing` admits in formula text:

``ALLOWED_FUNCTIONS``
    name as written in a formula -> SymPy callable.
``FUNCTION_ARITY``
    name -> the number of positional arguments the function takes.
``ALLOWED_CONSTANTS``
    name -> SymPy constant (``pi``, ``e``, ``E``, ``EulerGamma``, ``GoldenRatio``,
    ``Catalan``).
``RESERVED_NAMES``
    names that mean what no loss can contain (``I``, ``oo``, ``zoo``, ``nan``, ``inf``
    ...): refused in formula text unless declared as variables or parameters.
``FLOAT_FUNCTIONS``, ``FLOAT_CONSTANTS``
    the same names -> their float64 counterparts (Python's :mod:`math`), with which the
    parser evaluates every constant part of a formula, in bounded time, to refuse those
    that are not finite real doubles.

Every function in the whitelist is differentiable where it is defined, its SymPy
derivative is built from functions of the same vocabulary (or elementary
operations, or ``sign`` for ``abs``), and each one has a counterpart in Python's
:mod:`math` module (``sigmoid`` and ``softplus``: a small stable helper), so
generated kernels can evaluate it.  ``min``/``max`` are left
out on purpose: their derivatives are ``Heaviside`` step functions, and a smooth
optimiser is the wrong tool for them.  ``cbrt`` is left out because SymPy's
``cbrt(x)`` is the principal (complex) cube root, not the real one a user expects
for negative ``x``.

``log1p`` and ``expm1`` are :mod:`sympy.codegen.cfunctions`'s, which differentiate
correctly and which code printers know by name.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import mpmath
import sympy
from sympy.codegen.cfunctions import expm1, log1p
from sympy.core.expr import Expr
from sympy.core.function import ArgumentIndexError, Function

__all__ = [
    "sigmoid",
    "softplus",
    "RealAbs",
    "real_abs",
    "ALLOWED_FUNCTIONS",
    "FUNCTION_ARITY",
    "ALLOWED_CONSTANTS",
    "RESERVED_NAMES",
    "FLOAT_FUNCTIONS",
    "FLOAT_CONSTANTS",
]


# ---------------------------------------------------------------------------
# Numerically stable evaluation, in mpmath (for evalf) and in NumPy (for lambdify)
# ---------------------------------------------------------------------------


def _mp_sigmoid(z: Any) -> Any:
    """``1/(1 + exp(-z))`` in mpmath, never forming ``exp`` of a large positive number."""
    if isinstance(z, mpmath.mpf):
        if z >= 0:
            return 1 / (1 + mpmath.exp(-z))
        e = mpmath.exp(z)
        return e / (1 + e)
    return 1 / (1 + mpmath.exp(-z))


def _mp_softplus(z: Any) -> Any:
    """``log(1 + exp(z))`` in mpmath: ``z + log1p(exp(-z))`` for positive real ``z``."""
    if isinstance(z, mpmath.mpf) and z > 0:
        return z + mpmath.log1p(mpmath.exp(-z))
    return mpmath.log1p(mpmath.exp(z))


def _np_sigmoid(z: Any) -> Any:
    import numpy as np

    z = np.asarray(z)
    if np.iscomplexobj(z):
        return 1 / (1 + np.exp(-z))
    z = z.astype(float)
    e = np.exp(-np.abs(z))
    out = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    return out[()] if out.ndim == 0 else out


def _np_softplus(z: Any) -> Any:
    import numpy as np

    z = np.asarray(z)
    if np.iscomplexobj(z):
        return np.log1p(np.exp(z))
    out = np.logaddexp(0.0, z.astype(float))
    return out[()] if np.ndim(out) == 0 else out


class _StableUnary(Function):
    """Shared machinery of :class:`sigmoid` and :class:`softplus`."""

    nargs = 1
    _mp_impl: Callable[[Any], Any]
    _np_impl: Callable[[Any], Any]

    def _eval_evalf(self, prec: int) -> Expr | None:
        # Purely symbolic arguments stay as they are (as SymPy's own exp(x) does).
        try:
            z = self.args[0]._to_mpmath(prec + 10, allow_ints=False)
        except (ValueError, TypeError):
            return None
        with mpmath.workprec(prec + 10):
            value = type(self)._mp_impl(z)
        return Expr._from_mpmath(value, prec)

    def _eval_conjugate(self) -> Expr:
        return self.func(self.args[0].conjugate())

    def _latex(self, printer: Any, exp: str | None = None) -> str:
        name = r"\operatorname{%s}" % type(self).__name__
        if exp is not None:
            name += "^{%s}" % exp
        return r"%s{\left(%s \right)}" % (name, printer._print(self.args[0]))

    @classmethod
    def _imp_(cls, z: Any) -> Any:
        # Used by sympy.lambdify (it looks up ``_imp_`` on the function class), so a
        # lambdified formula gets the stable form for numbers and NumPy arrays, while
        # symbolic and mpmath arguments keep their own arithmetic.
        if isinstance(z, sympy.Basic):
            return cls(z)
        if isinstance(z, (mpmath.mpf, mpmath.mpc)):
            return cls._mp_impl(z)
        return cls._np_impl(z)


class sigmoid(_StableUnary):
    r"""The logistic function, ``sigmoid(z) = 1/(1 + exp(-z))``.

    Its derivative is ``sigmoid(z)*(1 - sigmoid(z))``; it is positive and finite for
    real ``z``; ``sigmoid(0) = 1/2``.  Numerical evaluation is stable for arguments
    of any size, and ``rewrite(sympy.exp)`` gives the defining formula.

    Examples
    --------
    >>> import sympy
    >>> from symopt.functions import sigmoid
    >>> z = sympy.Symbol("z", real=True)
    >>> sigmoid(0)
    1/2
    >>> sigmoid(z).diff(z)
    (1 - sigmoid(z))*sigmoid(z)
    >>> sigmoid(z).rewrite(sympy.exp)
    1/(1 + exp(-z))
    >>> sigmoid(-1000).evalf(5)
    5.0760e-435
    >>> sympy.latex(sigmoid(z))
    '\\operatorname{sigmoid}{\\left(z \\right)}'
    """

    _mp_impl = staticmethod(_mp_sigmoid)
    _np_impl = staticmethod(_np_sigmoid)

    @classmethod
    def eval(cls, z: Expr) -> Expr | None:
        if z.is_zero:
            return sympy.S.Half
        if z is sympy.S.Infinity:
            return sympy.S.One
        if z is sympy.S.NegativeInfinity:
            return sympy.S.Zero
        if z is sympy.S.NaN:
            return sympy.S.NaN
        return None

    def fdiff(self, argindex: int = 1) -> Expr:
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, z: Expr, **kwargs: Any) -> Expr:
        return 1 / (1 + sympy.exp(-z))

    def _eval_rewrite_as_tanh(self, z: Expr, **kwargs: Any) -> Expr:
        return (1 + sympy.tanh(z / 2)) / 2

    def _eval_is_extended_real(self) -> bool | None:
        return True if self.args[0].is_extended_real else None

    def _eval_is_finite(self) -> bool | None:
        return True if self.args[0].is_extended_real else None

    def _eval_is_extended_positive(self) -> bool | None:
        return True if self.args[0].is_real else None


class softplus(_StableUnary):
    r"""The softplus function, ``softplus(z) = log(1 + exp(z))``.

    Its derivative is ``sigmoid(z)``; it is positive for real ``z``;
    ``softplus(0) = log(2)``.  Numerical evaluation is stable for arguments of any
    size (``softplus(1000)`` is ``1000``, not an overflow), and
    ``rewrite(sympy.exp)`` gives the defining formula.

    Examples
    --------
    >>> import sympy
    >>> from symopt.functions import softplus
    >>> z = sympy.Symbol("z", real=True)
    >>> softplus(0)
    log(2)
    >>> softplus(z).diff(z)
    sigmoid(z)
    >>> softplus(z).rewrite(sympy.exp)
    log(exp(z) + 1)
    >>> softplus(1000).evalf()
    1000.00000000000
    >>> sympy.latex(softplus(z))
    '\\operatorname{softplus}{\\left(z \\right)}'
    """

    _mp_impl = staticmethod(_mp_softplus)
    _np_impl = staticmethod(_np_softplus)

    @classmethod
    def eval(cls, z: Expr) -> Expr | None:
        if z.is_zero:
            return sympy.log(2)
        if z is sympy.S.Infinity:
            return sympy.S.Infinity
        if z is sympy.S.NegativeInfinity:
            return sympy.S.Zero
        if z is sympy.S.NaN:
            return sympy.S.NaN
        return None

    def fdiff(self, argindex: int = 1) -> Expr:
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, z: Expr, **kwargs: Any) -> Expr:
        return sympy.log(1 + sympy.exp(z))

    _eval_rewrite_as_log = _eval_rewrite_as_exp

    def _eval_is_extended_real(self) -> bool | None:
        return True if self.args[0].is_extended_real else None

    def _eval_is_finite(self) -> bool | None:
        return True if self.args[0].is_real else None

    def _eval_is_extended_positive(self) -> bool | None:
        return True if self.args[0].is_extended_real else None


class sign(sympy.sign):
    """``sign`` of an argument SymPy does not know to be real, differentiated as a real
    function: ``2*DiracDelta(u)*u'`` (zero wherever a kernel evaluates it), as SymPy does
    for a real argument; SymPy leaves an unevaluated ``Derivative`` otherwise.  It
    appears in the derivatives of :class:`Abs`; named ``sign`` for every printer."""

    def _eval_derivative(self, x: Expr) -> Expr:
        u = self.args[0]
        return 2 * sympy.Derivative(u, x, evaluate=True) * sympy.DiracDelta(u)


def _real_sign(u: Expr) -> Expr:
    return sympy.sign(u) if u.is_extended_real else sign(u)


class Abs(sympy.Abs):
    """``abs`` of an argument SymPy does not know to be real (``abs(sqrt(x))``,
    ``abs(x**0.5)``, ``abs(log(x))``), differentiated as a real function: ``sign(u)*u'``.

    symopt's functions are real where they are defined, but SymPy differentiates
    ``Abs(u)`` of a possibly complex ``u`` through ``re(u)`` and ``im(u)``, which can leave
    an unevaluated ``Derivative`` no kernel can compute.  Named ``Abs`` so that every
    printer (text, LaTeX, kernels) treats it as SymPy's ``Abs``; also exported as
    ``RealAbs``.

    Examples
    --------
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> RealAbs(sympy.log(x)).diff(x)
    sign(log(x))/x
    >>> RealAbs(sympy.log(x))
    Abs(log(x))
    """

    def _eval_derivative(self, x: Expr) -> Expr:
        return sympy.Derivative(self.args[0], x, evaluate=True) * _real_sign(self.args[0])


RealAbs = Abs


def real_abs(u: Expr) -> Expr:
    """``abs`` of a formula: SymPy's ``Abs`` of a real argument, else :class:`RealAbs`."""
    if getattr(u, "is_extended_real", None):
        return sympy.Abs(u)
    return RealAbs(u)


# ---------------------------------------------------------------------------
# The whitelist
# ---------------------------------------------------------------------------

#: Functions a formula may call: name as written -> SymPy callable.  ``abs`` and
#: SymPy's spelling ``Abs`` both mean :class:`sympy.Abs` (so ``str()`` of a SymPy
#: expression parses back), differentiated as a real function when SymPy does not know
#: its argument is real (:func:`real_abs`).  Treat as read-only.
ALLOWED_FUNCTIONS: dict[str, Callable[..., Expr]] = {
    "exp": sympy.exp,
    "expm1": expm1,
    "log": sympy.log,
    "log1p": log1p,
    "sqrt": sympy.sqrt,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "asin": sympy.asin,
    "acos": sympy.acos,
    "atan": sympy.atan,
    "atan2": sympy.atan2,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "asinh": sympy.asinh,
    "acosh": sympy.acosh,
    "atanh": sympy.atanh,
    "erf": sympy.erf,
    "erfc": sympy.erfc,
    "abs": real_abs,
    "Abs": real_abs,
    "sigmoid": sigmoid,
    "softplus": softplus,
}

#: Number of positional arguments each allowed function takes.
FUNCTION_ARITY: dict[str, int] = {name: 1 for name in ALLOWED_FUNCTIONS}
FUNCTION_ARITY["atan2"] = 2  # atan2(y, x)

#: Named constants: name -> SymPy constant.  A name declared as a variable (passed
#: in ``local_symbols``) takes precedence over a constant of the same name.  Besides
#: ``pi`` and ``e``, SymPy's named real constants as ``str()`` prints them, so that
#: the text of a SymPy expression parses back to the same expression.
ALLOWED_CONSTANTS: dict[str, Expr] = {
    "pi": sympy.pi,
    "e": sympy.E,
    "E": sympy.E,
    "EulerGamma": sympy.EulerGamma,
    "GoldenRatio": sympy.GoldenRatio,
    "Catalan": sympy.Catalan,
}

#: Names that mean something no loss can contain (SymPy's imaginary unit, infinities
#: and NaN, and their NumPy spellings): name -> what it is.  In formula text they are
#: refused unless declared as a variable or parameter, never made silent variables.
RESERVED_NAMES: dict[str, str] = {
    "I": "SymPy's imaginary unit, and a loss is real",
    "oo": "SymPy's infinity, and every value of a loss must be finite",
    "zoo": "SymPy's complex infinity, and every value of a loss must be finite",
    "nan": "'not a number', and every value of a loss must be a number",
    "NaN": "'not a number', and every value of a loss must be a number",
    "inf": "infinity, and every value of a loss must be finite",
    "Inf": "infinity, and every value of a loss must be finite",
    "infinity": "infinity, and every value of a loss must be finite",
    "Infinity": "infinity, and every value of a loss must be finite",
    "TribonacciConstant": "a SymPy constant symopt cannot print; write its value",
}


# ---------------------------------------------------------------------------
# float64 counterparts: how the parser checks constants
# ---------------------------------------------------------------------------


def _float_sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _float_softplus(z: float) -> float:
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


#: name -> float64 function (Python's :mod:`math`): raises ValueError outside the real
#: domain (``acos(2)``, ``log(-1)``) and OverflowError beyond the range of a double
#: (``exp(1000)``), always in bounded time.
FLOAT_FUNCTIONS: dict[str, Callable[..., float]] = {
    "exp": math.exp,
    "expm1": math.expm1,
    "log": math.log,
    "log1p": math.log1p,
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "atan2": math.atan2,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "asinh": math.asinh,
    "acosh": math.acosh,
    "atanh": math.atanh,
    "erf": math.erf,
    "erfc": math.erfc,
    "abs": abs,
    "Abs": abs,
    "sigmoid": _float_sigmoid,
    "softplus": _float_softplus,
}

#: name -> float64 value of each named constant.
FLOAT_CONSTANTS: dict[str, float] = {
    "pi": math.pi,
    "e": math.e,
    "E": math.e,
    "EulerGamma": 0.5772156649015329,
    "GoldenRatio": 1.618033988749895,
    "Catalan": 0.915965594177219,
}
