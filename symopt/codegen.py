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
from .errors import ProblemError

__all__ = ["KernelPrinter", "SymbolNames", "scalar_kernels_source", "residual_kernels_source",
           "print_expr"]

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESERVED = frozenset({"math", "numba", "np", "abi", "_rt", "abs", "min", "max", "float", "int",
                       "range", "len", "True", "False", "None"})
_MAX_UNROLLED_POWER = 8


def _double(number: sympy.Number) -> float:
    """``number`` as a finite double, or a ProblemError naming it: a number beyond a
    double can appear after derivation (the derivative of ``atan2(1e300, x)`` holds
    1e600, the loss of the residual ``1e200`` holds 1e400) although the formula's own
    constants were all finite."""
    try:
        value = float(number)
    except OverflowError:  # an Integer beyond a double
        value = float("inf")
    if value in (float("inf"), float("-inf")):
        text = sympy.Float(number, 3)
        raise ProblemError(
            f"the derived formulas hold the number {str(text)}, beyond the range of a double "
            f"(about 1.8e308), where the kernels cannot compute; rescale the formula's "
            f"constants or variables so that the derivatives stay within about 1e300"
        )
    return value

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

    def __init__(self, names: dict[sympy.Symbol, str] | None = None, settings=None,
                 *, vector_math: bool = False):
        super().__init__(dict(settings or {}, fully_qualified_modules=True))
        self._names = names or {}
        # exp as _rt.exp (branch-free arithmetic the loop vectoriser can inline) instead
        # of libm's math.exp: for the row loops of row-sum kernels
        self._exp = "_rt.exp" if vector_math else "math.exp"

    # --- atoms -----------------------------------------------------------------------
    def _print_Symbol(self, expr):
        name = self._names.get(expr)
        if name is None:
            return super()._print_Symbol(expr)
        return name

    _print_Dummy = _print_Symbol

    def _print_Integer(self, expr):
        return repr(_double(expr))

    def _print_Rational(self, expr):
        if max(abs(expr.p), expr.q) < 2**1023:
            return f"({float(expr.p)!r}/{float(expr.q)!r})"
        return repr(_double(expr))  # p or q beyond a double, p/q perhaps not

    def _print_Half(self, expr):
        return "0.5"

    def _print_Float(self, expr):
        return repr(_double(expr))

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
            return f"{self._exp}({self._print(exponent)})"
        b = self.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Pow"] + 1)
        if exponent.is_Integer:
            k = int(exponent)
            if k == 0:
                return "1.0"
            if not (base.is_Symbol or base.is_Number) and abs(k) <= _MAX_UNROLLED_POWER:
                # a compound base is printed once (unrolled, nested powers of sums would
                # print their innermost base k1*k2*... times); a small integer power is
                # repeated multiplication in Numba too.  A negative one divides: Numba's
                # float ** negative int raises ZeroDivisionError at 0 whatever error_model
                return f"{b}**{k}" if k > 0 else f"(1.0/{b}**{-k})" if k < -1 else f"(1.0/{b})"
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
            if not (base.is_Symbol or base.is_Number):
                p = int(exponent.p)  # the root printed once (see above)
                return f"{root}**{p}" if p > 0 else f"(1.0/{root}**{-p})"
            return self._print_Pow(sympy.Pow(sympy.Symbol("_r"), exponent.p)).replace("_r", root)
        e = self.parenthesize(exponent, sympy.printing.precedence.PRECEDENCE["Pow"])
        return f"{b}**{e}"

    # --- functions that need a stable or Numba-friendly form -----------------------------
    def _print_sigmoid(self, expr):
        return f"_rt.sigmoid({self._print(expr.args[0])})"

    def _print_softplus(self, expr):
        return f"_rt.softplus({self._print(expr.args[0])})"

    def _print_exp(self, expr):
        return f"{self._exp}({self._print(expr.args[0])})"

    def _print_ExpNegAbs(self, expr):
        return f"{self._exp}(-abs({self._print(expr.args[0])}))"

    def _print_SoftplusE(self, expr):
        z, e = expr.args
        return f"_rt.softplus_e({self._print(z)}, {self._print(e)})"

    def _print_SigmoidE(self, expr):
        z, e = expr.args
        return f"_rt.sigmoid_e({self._print(z)}, {self._print(e)})"

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


def _assign(printer: KernelPrinter, target: str, expr: sympy.Expr, indent: str = "    ") -> str:
    return f"{indent}{target} = {printer.doprint(expr)}"


class ExpNegAbs(sympy.Function):
    """``exp(-|z|)``: the one exponential that ``softplus(z)`` and ``sigmoid(z)`` share
    (codegen only; never differentiated)."""


class SoftplusE(sympy.Function):
    """``softplus(z)`` given ``e = exp(-|z|)``: ``max(z, 0) + log1p(e)``."""


class SigmoidE(sympy.Function):
    """``sigmoid(z)`` given ``e = exp(-|z|)``."""


def _share_exponentials(exprs: Sequence[sympy.Expr]) -> list[sympy.Expr]:
    """Rewrite ``softplus(z)`` and ``sigmoid(z)`` in terms of one ``exp(-|z|)``, so that
    CSE computes the exponential once when both appear (the value and gradient of a
    logistic loss): one ``exp`` per data row instead of two."""
    from .functions import sigmoid, softplus

    def rewrite(e: sympy.Expr) -> sympy.Expr:
        if not e.has(softplus, sigmoid):
            return e
        e = e.replace(softplus, lambda z: SoftplusE(z, ExpNegAbs(z)))
        return e.replace(sigmoid, lambda z: SigmoidE(z, ExpNegAbs(z)))

    return [rewrite(sympy.sympify(e)) for e in exprs]


class _Body:
    """The statements of one kernel: CSE temporaries, split into those computed once
    (they depend only on x and p) and those computed per data row, plus the printed
    reduced expressions.  Without data symbols everything is computed once."""

    def __init__(self, printer: KernelPrinter, exprs: Sequence[sympy.Expr],
                 row_symbols: frozenset = frozenset()):
        replacements, reduced = joint_cse(_share_exponentials(exprs))
        per_row: set[sympy.Symbol] = set(row_symbols)
        self.once: list[str] = []
        self.per_row: list[str] = []
        for sym, e in replacements:
            if e.free_symbols & per_row:
                per_row.add(sym)
                self.per_row.append(_assign(printer, printer.doprint(sym), e, "        "))
            else:
                self.once.append(_assign(printer, printer.doprint(sym), e))
        self.reduced = [printer.doprint(e) for e in reduced]


def _load_lines(symbols: Iterable[sympy.Symbol], array: str, names: dict) -> list[str]:
    return [f"    {names[s]} = {array}[{i}]" for i, s in enumerate(symbols)]


class _Module:
    """Shared scaffolding of a generated kernel module: symbol names, loads, header."""

    def __init__(self, variables, parameters, data_symbols, formula: str, description: str,
                 vector_math: bool = False):
        self.variables = tuple(variables)
        self.parameters = tuple(parameters)
        self.data_symbols = tuple(data_symbols)
        self.names = SymbolNames()
        for i, v in enumerate(self.variables):
            self.names.add(v, f"x{i}_")
        for i, q in enumerate(self.parameters):
            self.names.add(q, f"p{i}_")
        for i, d in enumerate(self.data_symbols):
            self.names.add(d, f"d{i}_")
        self.printer = KernelPrinter(self.names.local, vector_math=vector_math)
        self.loads = (_load_lines(self.variables, "_x", self.names.local)
                      + _load_lines(self.parameters, "_p", self.names.local))
        self.row_loads = [f"        {self.names.local[d]} = _data[{k}, _i]"
                          for k, d in enumerate(self.data_symbols)]
        self.formula = formula
        self.description = description
        self.kernels: list[str] = []

    @property
    def row_symbols(self) -> frozenset:
        return frozenset(self.data_symbols)

    def add(self, name: str, args: str, sig: str | None, doc: str, body: list[str],
            parallel: bool = False, lazy: bool = False) -> None:
        """Add kernel ``name``.  A ``lazy`` (or ``parallel``) kernel is compiled for
        ``abi.<sig>`` by :class:`symopt.Kernels` on first use, not when the module is
        imported: a Hessian kernel over many variables is costly to compile, and a
        first-order method never calls it."""
        if sig is None:  # a helper the kernels call (compiled with them, for their types)
            decorator = "@numba.njit(cache=True, nogil=True, error_model='numpy')"
        elif parallel or lazy:
            decorator = ("@numba.njit(cache=True, nogil=True, error_model='numpy'"
                         + (", parallel=True" if parallel else "") + f")  # abi.{sig}")
        else:
            decorator = (f"@numba.njit(abi.{sig}, cache=True, nogil=True, error_model='numpy'"
                         + (", parallel=True)" if parallel else ")"))
        self.kernels += ["", "",
                         decorator,
                         f"def {name}({args}):",
                         f'    """{doc}"""',
                         *self.loads, *body]

    def source(self, extra_header: Sequence[str] = ()) -> str:
        local = self.names.local

        def line(kind: str, i: int, sym: sympy.Symbol) -> str:
            note = f"  (local {local[sym]})" if local[sym] != sym.name else ""
            return f"#   {kind}[{i}] = {sym}{note}"

        mapping = [line("x", i, v) for i, v in enumerate(self.variables)]
        mapping += [line("p", i, q) for i, q in enumerate(self.parameters)]
        mapping += [line("data", k, d) for k, d in enumerate(self.data_symbols)]
        formula_lines = [f"#   {text}" for text in self.formula.splitlines() or [""]]
        header = [
            "# symopt generated kernels: do not edit (regenerated from the formula).",
            f"# {self.description}:",
            *formula_lines,
            "# variables (x), parameters (p) and data columns (data[k, row]):",
            *mapping,
            *extra_header,
            "import math",
            "",
            "import numba",
            "import numpy as np",
            "",
            "from symopt import abi",
            "from symopt import _runtime as _rt",
        ]
        return "\n".join(header + self.kernels) + "\n"


#: Row-sum kernels split the rows into blocks of at least this many rows, and run the
#: blocks in parallel (``prange``) only when there are at least two; below it a kernel
#: sums the rows in one serial pass and never starts the thread pool.  Measured with
#: benchmarks/bench_dataloss.py (logistic loss, 10 features, 2 cores): the parallel pass
#: pays off from a few thousand rows.
BLOCK_ROWS = 4096
#: The number of blocks is at most this many, whatever the number of threads: each block
#: is summed by one thread in an order fixed at compile time (the vectorised loop keeps one
#: partial sum per lane, see _rt.radd) and the blocks are combined in block order, so the
#: result depends on the number of rows only, never on scheduling or thread count.
MAX_BLOCKS = 64


def scalar_kernels_source(
    derivatives: Derivatives,
    parameters: Sequence[sympy.Symbol],
    formula: str,
    data_symbols: Sequence[sympy.Symbol] = (),
    *,
    reduce: str = "sum",
    regularization: Derivatives | None = None,
    hessian: bool = True,
) -> str:
    """The source of the kernel module for a scalar loss (without the hash header).

    ``hessian=False`` leaves out the ``value_grad_hess`` kernel, and with it the
    symbolic Hessian, which is never derived: the module a first-order or quasi-Newton
    solve needs (on a 100-feature logistic loss most of the time to a first gradient
    went into a Hessian no such method calls).

    With ``data_symbols``, ``derivatives.value`` is the loss of one data row and the
    kernels sum it, its gradient and its Hessian over the rows of ``data`` (row ``i``
    binds ``data_symbols[k]`` to ``data[k, i]``); subexpressions that do not depend on
    the row are computed once per block of rows.  The rows are split into blocks
    (:data:`BLOCK_ROWS`, :data:`MAX_BLOCKS`) summed in parallel with ``prange``, each
    block serially into its own partial sums, then combined in block order: the result
    is deterministic.  ``reduce="mean"`` divides the row sum by the number of rows;
    ``regularization`` (derivatives of a term of the variables and parameters only) is
    added once, not per row.
    """
    if not data_symbols:
        if reduce != "sum" or regularization is not None:
            raise ValueError("reduce and regularization apply to losses summed over data rows")
        return _straight_line_source(derivatives, parameters, formula, hessian)
    return _row_sum_source(derivatives, parameters, formula, data_symbols, reduce,
                           regularization, hessian)


def _hessian_fill(n: int, upper_keys: Sequence[tuple[int, int]]) -> tuple[list[str], list[str]]:
    """The lines completing a Hessian kernel whose body writes the structurally nonzero
    upper-triangle entries ``upper_keys`` of ``_H``: ``zeros``, before the body, for the
    structural zeros, and ``mirror``, after it, copying each nonzero entry to the lower
    triangle.  With more zero entries than rows, one ``_H[:, :] = 0.0`` replaces the
    single stores: Numba lowers each constant-index store on its own, and the n^2 stores
    of a sparse Hessian were most of its compile time (extended Rosenbrock, n = 10:
    1.1 s against 0.27 s)."""
    nonzero = set(upper_keys)
    zero = [(i, j) for i in range(n) for j in range(i, n) if (i, j) not in nonzero]
    zero_entries = sum(1 if i == j else 2 for i, j in zero)
    if zero_entries > n:
        zeros = ["    _H[:, :] = 0.0"]
    else:
        zeros = [f"    _H[{a}, {b}] = 0.0" for i, j in zero
                 for a, b in ([(i, j)] if i == j else [(i, j), (j, i)])]
    mirror = [f"    _H[{j}, {i}] = _H[{i}, {j}]" for i, j in upper_keys if i != j]
    return zeros, mirror


def _straight_line_source(derivatives: Derivatives, parameters: Sequence[sympy.Symbol],
                          formula: str, hessian: bool = True) -> str:
    module = _Module(derivatives.variables, parameters, (), formula, "formula")
    printer = module.printer
    n = derivatives.n
    f = derivatives.value
    grad = list(derivatives.gradient_entries)

    def emit(exprs: list[sympy.Expr], targets: list[str]) -> list[str]:
        body = _Body(printer, exprs)
        return body.once + [f"    {t} = {e}" for t, e in zip(targets, body.reduced)]

    module.add("value", "_x, _p, _data", "value_sig", "The loss.",
               emit([f], ["_f"]) + ["    return _f"], lazy=True)
    module.add("grad", "_x, _p, _data, _g", "grad_sig", "The gradient, into _g.",
               emit(grad, [f"_g[{i}]" for i in range(n)]), lazy=True)
    module.add("value_grad", "_x, _p, _data, _g", "value_grad_sig",
               "The loss; the gradient into _g.",
               emit([f] + grad, ["_f"] + [f"_g[{i}]" for i in range(n)]) + ["    return _f"],
               lazy=True)
    if not hessian:
        return module.source(["# Hessian: not generated (first-order kernels only)"])
    upper = derivatives.hessian_upper
    upper_keys = sorted(upper)
    zeros, mirror = _hessian_fill(n, upper_keys)
    body = emit([f] + grad + [upper[k] for k in upper_keys],
                ["_f"] + [f"_g[{i}]" for i in range(n)] + [f"_H[{i}, {j}]" for i, j in upper_keys])
    module.add("value_grad_hess", "_x, _p, _data, _g, _H", "value_grad_hess_sig",
               "The loss; the gradient into _g, the symmetric Hessian into _H.",
               zeros + body + mirror + ["    return _f"], lazy=True)
    return module.source([
        f"# Hessian: {len(upper_keys)} of {n * (n + 1) // 2} upper-triangle entries structurally nonzero",
    ])


def _row_sum_source(derivatives: Derivatives, parameters: Sequence[sympy.Symbol], formula: str,
                    data_symbols: Sequence[sympy.Symbol], reduce: str,
                    regularization: Derivatives | None, hessian: bool = True) -> str:
    """Kernels summing a row term over the data rows: for each kernel, a serial *block*
    function ``_<kernel>_rows(x, p, data, start, stop, out)`` that sums the term (and its
    derivatives) over rows ``start:stop`` into ``out``, and the kernel itself, which runs
    the blocks (in parallel when there are several), combines them in order, scales the
    sum (``reduce``) and adds the regularization.  The block function is the reusable
    part: the same assembly serves any sum of one term over an index.

    The block's row loop is written so that LLVM vectorises it: exp is printed as
    ``_rt.exp`` (branch-free, no libm call) and each accumulator is updated with
    ``_rt.radd``, an addition that may be reassociated (and nothing else), so the loop
    keeps one partial sum per vector lane.  The order is fixed at compile time: results
    stay deterministic."""
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    module = _Module(derivatives.variables, parameters, data_symbols, formula,
                     "loss summed over data rows" + (" (mean)" if reduce == "mean" else ""),
                     vector_math=True)
    printer = module.printer
    n = derivatives.n
    grad = list(derivatives.gradient_entries)
    reg_grad = list(regularization.gradient_entries) if regularization is not None else [0] * n
    zero = sympy.S.Zero

    def kernel(name: str, args: str, sig: str, doc: str, row_exprs: list[sympy.Expr],
               reg_exprs: list[sympy.Expr], targets: list[str], pre: list[str],
               post: list[str]) -> None:
        k = len(row_exprs)
        # the block function: one serial pass over rows start:stop
        body = _Body(printer, row_exprs, module.row_symbols)
        accumulators = [f"_s{j}" for j in range(k)]
        block = [f"    {a} = 0.0" for a in accumulators] + body.once
        block += ["    for _i in range(_start, _stop):", *module.row_loads, *body.per_row]
        # _rt.radd: the accumulation (only it) may be reassociated, so that LLVM
        # vectorises the row loop with one partial sum per vector lane; see _rt.radd
        block += [f"        {a} = _rt.radd({a}, {e})" for a, e in zip(accumulators, body.reduced)]
        block += [f"    _out[{j}] = {a}" for j, a in enumerate(accumulators)]
        module.add(f"_{name}_rows", "_x, _p, _data, _start, _stop, _out", None,
                   f"Partial sums of {name} over rows _start:_stop, into _out.", block)
        # the kernel: blocks in parallel, combined in block order
        lines = list(pre) + [
            "    _rows = _data.shape[1]",
            f"    _nb = _rt.n_blocks(_rows, {BLOCK_ROWS}, {MAX_BLOCKS})",
            f"    _part = np.empty((_nb, {k}))",
            "    if _nb == 1:",
            f"        _{name}_rows(_x, _p, _data, 0, _rows, _part[0])",
            "    else:",
            "        for _b in numba.prange(_nb):",
            f"            _{name}_rows(_x, _p, _data, (_b * _rows) // _nb, ((_b + 1) * _rows) // _nb, _part[_b])",
            f"    _t = np.zeros({k})",
            "    for _b in range(_nb):",
            f"        for _j in range({k}):",
            "            _t[_j] += _part[_b, _j]",
        ]
        if reduce == "mean":
            lines.append("    _scale = 1.0 / _rows if _rows > 0 else 0.0")
        scaled = "_scale * " if reduce == "mean" else ""
        reg = _Body(printer, reg_exprs)
        lines += reg.once
        for j, (target, e) in enumerate(zip(targets, reg.reduced)):
            tail = "" if reg_exprs[j] == 0 else f" + {e}"
            lines.append(f"    {target} = {scaled}_t[{j}]{tail}")
        module.add(name, args, sig, doc, lines + list(post), parallel=True)

    f_reg = regularization.value if regularization is not None else zero
    kernel("value", "_x, _p, _data", "value_sig", "The loss.",
           [derivatives.value], [f_reg], ["_f"], [], ["    return _f"])
    kernel("grad", "_x, _p, _data, _g", "grad_sig", "The gradient, into _g.",
           grad, reg_grad, [f"_g[{i}]" for i in range(n)], [], [])
    kernel("value_grad", "_x, _p, _data, _g", "value_grad_sig", "The loss; the gradient into _g.",
           [derivatives.value] + grad, [f_reg] + reg_grad,
           ["_f"] + [f"_g[{i}]" for i in range(n)], [], ["    return _f"])
    reg_text = f"; regularization (added once): {regularization.value}" if regularization is not None else ""
    rows_text = (f"# rows: summed in blocks of >= {BLOCK_ROWS} rows (at most {MAX_BLOCKS} blocks, "
                 f"in parallel), reduce={reduce!r}{reg_text}")
    if not hessian:
        return module.source(["# Hessian: not generated (first-order kernels only)", rows_text])
    upper = derivatives.hessian_upper
    reg_upper = regularization.hessian_upper if regularization is not None else {}
    upper_keys = sorted(set(upper) | set(reg_upper))
    zeros, mirror = _hessian_fill(n, upper_keys)
    kernel("value_grad_hess", "_x, _p, _data, _g, _H", "value_grad_hess_sig",
           "The loss; the gradient into _g, the symmetric Hessian into _H.",
           [derivatives.value] + grad + [upper.get(key, zero) for key in upper_keys],
           [f_reg] + reg_grad + [reg_upper.get(key, zero) for key in upper_keys],
           ["_f"] + [f"_g[{i}]" for i in range(n)] + [f"_H[{i}, {j}]" for i, j in upper_keys],
           zeros, mirror + ["    return _f"])
    return module.source([
        f"# Hessian: {len(upper_keys)} of {n * (n + 1) // 2} upper-triangle entries structurally nonzero",
        rows_text,
    ])


def hvp_kernel_source(
    derivatives: Derivatives,
    parameters: Sequence[sympy.Symbol],
    formula: str,
    data_symbols: Sequence[sympy.Symbol] = (),
    *,
    reduce: str = "sum",
    regularization: Derivatives | None = None,
) -> str:
    """The source of the Hessian-vector-product kernel ``hvp(x, p, data, v, hv_out)``
    (:data:`symopt.abi.hvp_sig`): ``hv_i = sum_j H_ij v_j`` from the upper-triangle
    Hessian entries, without forming ``H``.  Over data rows the row terms are summed
    serially (in row order: deterministic), scaled by ``reduce`` and the regularization's
    product added once."""
    n = derivatives.n
    module = _Module(derivatives.variables, parameters, data_symbols, formula,
                     "Hessian-vector product" + (" summed over data rows" if data_symbols else ""))
    v = [sympy.Symbol(f"_hvp_v{j}", real=True) for j in range(n)]
    for j, s in enumerate(v):
        module.names.add(s, f"v{j}_")
    module.loads = module.loads + _load_lines(v, "_v", module.names.local)
    printer = module.printer

    def products(upper: dict) -> list[sympy.Expr]:
        rows: list[list[sympy.Expr]] = [[] for _ in range(n)]
        for (i, j), h in upper.items():
            rows[i].append(h * v[j])
            if i != j:
                rows[j].append(h * v[i])
        return [sympy.Add(*terms) for terms in rows]

    hv = products(derivatives.hessian_upper)
    if not data_symbols:
        body = _Body(printer, hv)
        module.add("hvp", "_x, _p, _data, _v, _hv", "hvp_sig", "H(x) v, into _hv.",
                   body.once + [f"    _hv[{i}] = {e}" for i, e in enumerate(body.reduced)],
                   lazy=True)
        return module.source()
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    body = _Body(printer, hv, module.row_symbols)
    lines = [f"    _s{i} = 0.0" for i in range(n)] + body.once
    lines += ["    for _i in range(_data.shape[1]):", *module.row_loads, *body.per_row]
    lines += [f"        _s{i} += {e}" for i, e in enumerate(body.reduced)]
    scale = "_scale * " if reduce == "mean" else ""
    if reduce == "mean":
        lines.append("    _scale = 1.0 / _data.shape[1] if _data.shape[1] > 0 else 0.0")
    reg = products(regularization.hessian_upper) if regularization is not None else [0] * n
    reg_body = _Body(printer, [sympy.sympify(e) for e in reg])
    lines += reg_body.once
    for i, e in enumerate(reg_body.reduced):
        tail = "" if reg[i] == 0 else f" + {e}"
        lines.append(f"    _hv[{i}] = {scale}_s{i}{tail}")
    module.add("hvp", "_x, _p, _data, _v, _hv", "hvp_sig", "H(x) v summed over the rows, into _hv.",
               lines, lazy=True)
    return module.source([f"# rows: summed serially, reduce={reduce!r}"])


def residual_kernels_source(
    residuals: Sequence[sympy.Expr],
    variables: Sequence[sympy.Symbol],
    parameters: Sequence[sympy.Symbol],
    formula: str,
    data_symbols: Sequence[sympy.Symbol] = (),
) -> str:
    """The source of the residual and Jacobian kernels (:mod:`symopt.abi`, least squares).

    Without ``data_symbols``, ``residuals`` are the m residuals, written straight-line.
    With them, ``residuals`` holds one expression: the residual of one data row, and
    the kernels loop over the rows of ``data`` (residual ``i`` is row ``i``).
    """
    module = _Module(variables, parameters, data_symbols, formula,
                     "residual of one data row" if data_symbols else "residuals")
    printer = module.printer
    n = len(module.variables)
    jac = [[sympy.diff(r, v) for v in module.variables] for r in residuals]
    nonzero = [[(j, d) for j, d in enumerate(row) if d != 0] for row in jac]

    if data_symbols:
        if len(residuals) != 1:
            raise ValueError("a data model has one residual expression, for one row")
        (r,) = residuals
        entries = nonzero[0]
        zeros = [f"        _J[_i, {j}] = 0.0" for j in range(n) if j not in dict(entries)]
        for name, with_jac in (("residuals", False), ("residuals_jacobian", True)):
            exprs = [r] + ([d for _, d in entries] if with_jac else [])
            body = _Body(printer, exprs, module.row_symbols)
            lines = body.once + ["    for _i in range(_data.shape[1]):", *module.row_loads,
                                 *body.per_row, f"        _r[_i] = {body.reduced[0]}"]
            if with_jac:
                lines += zeros + [f"        _J[_i, {j}] = {e}"
                                  for (j, _), e in zip(entries, body.reduced[1:])]
            args = "_x, _p, _data, _r" + (", _J" if with_jac else "")
            sig = "residuals_jacobian_sig" if with_jac else "residuals_sig"
            doc = ("Residuals into _r and the Jacobian into _J, one row per data row."
                   if with_jac else "Residuals into _r, one per data row.")
            module.add(name, args, sig, doc, lines)
        nnz = len(entries)
        return module.source([f"# Jacobian: {nnz} of {n} entries per row structurally nonzero"])

    m = len(residuals)
    body = _Body(printer, list(residuals))
    module.add("residuals", "_x, _p, _data, _r", "residuals_sig", "The residuals, into _r.",
               body.once + [f"    _r[{k}] = {e}" for k, e in enumerate(body.reduced)])
    flat = [(k, j, d) for k, row in enumerate(nonzero) for j, d in row]
    body = _Body(printer, list(residuals) + [d for _, _, d in flat])
    lines = body.once + [f"    _r[{k}] = {e}" for k, e in enumerate(body.reduced[:m])]
    present = {(k, j) for k, j, _ in flat}
    lines += [f"    _J[{k}, {j}] = 0.0" for k in range(m) for j in range(n) if (k, j) not in present]
    lines += [f"    _J[{k}, {j}] = {e}" for (k, j, _), e in zip(flat, body.reduced[m:])]
    module.add("residuals_jacobian", "_x, _p, _data, _r, _J", "residuals_jacobian_sig",
               "The residuals into _r, the Jacobian into _J.", lines)
    return module.source([f"# Jacobian: {len(flat)} of {m * n} entries structurally nonzero"])
