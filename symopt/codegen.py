"""SymPy expressions -> kernel source text (straight-line Python for Numba).

:class:`KernelPrinter` extends SymPy's Python code printer with ``_print_<Class>``
methods: small integer powers become products, every number becomes a float literal
(so no int64 overflow), and the functions that need care print as calls to the stable
helpers in :mod:`symopt._runtime` (``sigmoid``, ``softplus``, ``sign``).

:func:`scalar_kernels_source` writes the module for a scalar loss: the four kernels of
:mod:`symopt.abi`, each with CSE over everything it computes, writing into
preallocated outputs.  The text is meant to be read: a header with the formula, the
variable and parameter order, and one statement per temporary.
"""

from __future__ import annotations

import keyword
import re
from typing import Iterable, Sequence

import sympy
from sympy.printing.pycode import PythonCodePrinter

from .derivatives import Derivatives, joint_cse

__all__ = ["KernelPrinter", "SymbolNames", "scalar_kernels_source", "print_expr"]

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESERVED = frozenset({"math", "numba", "np", "abi", "_rt", "abs", "min", "max", "float", "int",
                       "range", "len", "True", "False", "None"})
_MAX_UNROLLED_POWER = 8


class SymbolNames:
    """Maps problem symbols to the local names kernels use for them.

    A symbol keeps its own name when that is a safe Python identifier; otherwise
    it gets ``<kind><index>`` and the header of the generated file lists the mapping.
    """

    def __init__(self) -> None:
        self.local: dict[sympy.Symbol, str] = {}
        self._taken: set[str] = set()

    def add(self, symbol: sympy.Symbol, fallback: str) -> str:
        name = symbol.name
        if (not _IDENTIFIER.match(name) or keyword.iskeyword(name) or name in _RESERVED
                or name in self._taken):
            name = fallback
            while name in self._taken:
                name += "_"
        self.local[symbol] = name
        self._taken.add(name)
        return name


class KernelPrinter(PythonCodePrinter):
    """Prints SymPy expressions as Numba-friendly Python using ``math`` and ``_rt``."""

    printmethod = "_symopt_kernel"

    def __init__(self, names: dict[sympy.Symbol, str] | None = None, settings=None):
        super().__init__(dict(settings or {}, fully_qualified_modules=True))
        self._names = names or {}

    # --- atoms -----------------------------------------------------------------------
    def _print_Symbol(self, expr):
        name = self._names.get(expr)
        if name is None:
            return super()._print_Symbol(expr)
        return name

    _print_Dummy = _print_Symbol

    def _print_Integer(self, expr):
        return repr(float(int(expr)))

    def _print_Rational(self, expr):
        return f"({float(expr.p)!r}/{float(expr.q)!r})"

    def _print_Half(self, expr):
        return "0.5"

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_NaN(self, expr):
        return "math.nan"

    def _print_Infinity(self, expr):
        return "math.inf"

    def _print_NegativeInfinity(self, expr):
        return "(-math.inf)"

    # --- powers ----------------------------------------------------------------------
    def _print_Pow(self, expr, rational=False):
        base, exponent = expr.base, expr.exp
        if base is sympy.E:
            return f"math.exp({self._print(exponent)})"
        b = self.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Pow"] + 1)
        if exponent.is_Integer:
            k = int(exponent)
            if k == 0:
                return "1.0"
            if 0 < k <= _MAX_UNROLLED_POWER:
                return "(" + "*".join([b] * k) + ")"
            if -_MAX_UNROLLED_POWER <= k < 0:
                return "(1.0/(" + "*".join([b] * -k) + "))"
            return f"{b}**{float(k)!r}"
        if exponent == sympy.S.Half:
            return f"math.sqrt({self._print(base)})"
        if exponent == -sympy.S.Half:
            return f"(1.0/math.sqrt({self._print(base)}))"
        if exponent.is_Rational and exponent.q == 2:
            # x**(k/2) = sqrt(x)**k keeps the domain of the square root
            root = f"math.sqrt({self._print(base)})"
            return self._print_Pow(sympy.Pow(sympy.Symbol("_r"), exponent.p)).replace("_r", root)
        e = self.parenthesize(exponent, sympy.printing.precedence.PRECEDENCE["Pow"])
        return f"{b}**{e}"

    # --- functions that need a stable or Numba-friendly form -----------------------------
    def _print_sigmoid(self, expr):
        return f"_rt.sigmoid({self._print(expr.args[0])})"

    def _print_softplus(self, expr):
        return f"_rt.softplus({self._print(expr.args[0])})"

    def _print_sign(self, expr):
        return f"_rt.sign({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr):
        return f"_rt.heaviside({self._print(expr.args[0])})"

    def _print_DiracDelta(self, expr):
        # the derivative of sign/abs: zero almost everywhere
        return "0.0"

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_log1p(self, expr):
        return f"math.log1p({self._print(expr.args[0])})"

    def _print_expm1(self, expr):
        return f"math.expm1({self._print(expr.args[0])})"

    def _print_Min(self, expr):
        return "min(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Max(self, expr):
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Exp1(self, expr):
        return "math.e"

    def _print_Pi(self, expr):
        return "math.pi"


def print_expr(expr: sympy.Expr, names: dict[sympy.Symbol, str] | None = None) -> str:
    """Print one expression as kernel code (for inspection and tests)."""
    return KernelPrinter(names).doprint(expr)


def _assign(printer: KernelPrinter, target: str, expr: sympy.Expr) -> str:
    return f"    {target} = {printer.doprint(expr)}"


def _cse_body(printer: KernelPrinter, exprs: Sequence[sympy.Expr]) -> tuple[list[str], list[str]]:
    """CSE statements and the printed reduced expressions."""
    replacements, reduced = joint_cse(exprs)
    lines = [_assign(printer, printer.doprint(sym), e) for sym, e in replacements]
    return lines, [printer.doprint(e) for e in reduced]


def _load_lines(symbols: Iterable[sympy.Symbol], array: str, names: dict) -> list[str]:
    return [f"    {names[s]} = {array}[{i}]" for i, s in enumerate(symbols)]


def scalar_kernels_source(
    derivatives: Derivatives,
    parameters: Sequence[sympy.Symbol],
    formula: str,
) -> str:
    """The source of the kernel module for a scalar loss (without the hash header)."""
    variables = derivatives.variables
    names = SymbolNames()
    for i, v in enumerate(variables):
        names.add(v, f"x{i}_")
    for i, q in enumerate(parameters):
        names.add(q, f"p{i}_")
    printer = KernelPrinter(names.local)
    n = derivatives.n
    loads = _load_lines(variables, "_x", names.local) + _load_lines(parameters, "_p", names.local)
    f = derivatives.value
    grad = list(derivatives.gradient_entries)
    upper = derivatives.hessian_upper
    upper_keys = sorted(upper)

    def kernel(name: str, args: str, sig: str, doc: str, body: list[str]) -> list[str]:
        return ["", "",
                f"@numba.njit(abi.{sig}, cache=True, nogil=True, error_model='numpy')",
                f"def {name}({args}):",
                f'    """{doc}"""',
                *loads, *body]

    out: list[str] = []
    # value
    lines, (fv,) = _cse_body(printer, [f])
    out += kernel("value", "_x, _p, _data", "value_sig", "The loss.", lines + [f"    return {fv}"])
    # gradient
    lines, gs = _cse_body(printer, grad)
    body = lines + [f"    _g[{i}] = {g}" for i, g in enumerate(gs)]
    out += kernel("grad", "_x, _p, _data, _g", "grad_sig", "The gradient, into _g.", body)
    # value and gradient
    lines, reduced = _cse_body(printer, [f] + grad)
    body = lines + [f"    _g[{i}] = {g}" for i, g in enumerate(reduced[1:])] + [f"    return {reduced[0]}"]
    out += kernel("value_grad", "_x, _p, _data, _g", "value_grad_sig",
                  "The loss; the gradient into _g.", body)
    # value, gradient and Hessian
    lines, reduced = _cse_body(printer, [f] + grad + [upper[k] for k in upper_keys])
    body = lines + [f"    _g[{i}] = {g}" for i, g in enumerate(reduced[1:n + 1])]
    hess = dict(zip(upper_keys, reduced[n + 1:]))
    for i in range(n):
        for j in range(i, n):
            body.append(f"    _H[{i}, {j}] = {hess.get((i, j), '0.0')}")
            if j != i:
                body.append(f"    _H[{j}, {i}] = _H[{i}, {j}]")
    body.append(f"    return {reduced[0]}")
    out += kernel("value_grad_hess", "_x, _p, _data, _g, _H", "value_grad_hess_sig",
                  "The loss; the gradient into _g, the symmetric Hessian into _H.", body)

    mapping = [f"#   x[{i}] = {v}" + (f"  (local {names.local[v]})" if names.local[v] != v.name else "")
               for i, v in enumerate(variables)]
    mapping += [f"#   p[{i}] = {q}" + (f"  (local {names.local[q]})" if names.local[q] != q.name else "")
                for i, q in enumerate(parameters)]
    formula_lines = [f"#   {line}" for line in formula.splitlines() or [""]]
    header = [
        "# symopt generated kernels: do not edit (regenerated from the formula).",
        "# formula:",
        *formula_lines,
        "# variables (x) and parameters (p):",
        *mapping,
        f"# Hessian: {len(upper_keys)} of {n * (n + 1) // 2} upper-triangle entries structurally nonzero",
        "import math",
        "",
        "import numba",
        "",
        "from symopt import abi",
        "from symopt import _runtime as _rt",
    ]
    return "\n".join(header + out) + "\n"
