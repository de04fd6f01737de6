"""compile(problem) -> the compiled kernels of an array problem, and the data binding.

Every kernel keeps the ABI of :mod:`symopt.abi` - ``value(x, p, data)``,
``value_grad(x, p, data, g)``, ``value_grad_hess(x, p, data, g, H)`` - so that every
compiled solver of symopt runs on array problems unchanged, plus
``hvp(x, p, data, v, out)`` (:data:`hvp_sig`).  ``x`` is the variables laid end to end
(C order), ``p`` the parameters likewise, and ``data`` the small table described in
:mod:`symopt.tensor._runtime`: the sizes, and the addresses of the data arrays, which
the kernels view in place.  Sizes are read from that table at every call: one
compilation serves every size.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping

import numpy as np
import sympy

from .. import abi, cache
from ..errors import CompileError, InputError, ProblemError
from .binding import as_array, evaluate_shape, flatten, sizes_of, unflatten
from .codegen import ModuleSource, Output, int_code

__all__ = ["ArrayKernels", "Binding", "compile", "hvp_sig", "HvpFn"]

from ..problem import problem_cache
from .abi import HvpFn, hvp_sig  # noqa: E402 - re-exported

_SIGNATURES = {"value": abi.value_sig, "grad": abi.grad_sig, "value_grad": abi.value_grad_sig,
               "value_grad_hess": abi.value_grad_hess_sig, "hvp": hvp_sig,
               "hess_band": abi.grad_sig, "hess_coo": abi.grad_sig}
_lock = threading.RLock()


class Binding:
    """The arrays of one solve, checked against the formula: the sizes (``dims``), the
    data table the kernels read (``table``), the parameter vector (``p``) and the data
    arrays themselves (kept alive here: the table holds their addresses)."""

    def __init__(self, problem, data: Mapping[str, Any] | None, params: Any, x: Any = None,
                 dims: Mapping[Any, int] | None = None):
        self.problem = problem
        data = {} if data is None else data
        if not isinstance(data, Mapping):
            raise InputError("data must be a mapping of names to arrays, e.g. {'X': X, 'y': y}")
        missing = [leaf.name for leaf in problem.data if leaf.name not in data]
        if missing:
            raise InputError(f"data: no array for {', '.join(missing)} (the formula reads "
                             f"{', '.join(leaf.name for leaf in problem.data)}; got "
                             f"{', '.join(map(str, data)) or 'none'})")
        arrays = {leaf.name: as_array(data[leaf.name], leaf, f"data[{leaf.name!r}]")
                  for leaf in problem.data}
        params = {} if params is None else params
        if problem.parameters and not isinstance(params, Mapping):
            params = dict(zip((q.name for q in problem.parameters), [params] if np.ndim(params) == 0 else params))
        self.dims = problem.resolve_sizes(arrays, x, params if isinstance(params, Mapping) else None, dims)
        for leaf in problem.data:
            if leaf.dtype == "int":
                a = arrays[leaf.name]
                bound = _label_bound(problem, leaf, self.dims)
                if a.size and (a.min() < 0 or (bound is not None and a.max() >= bound)):
                    raise InputError(f"data[{leaf.name!r}]: labels must be in 0..{bound - 1}, got "
                                     f"{int(a.min())}..{int(a.max())}")
        self.arrays = [arrays[leaf.name] for leaf in problem.data]
        width = len(problem.dims) + 1  # the sizes, then the value+gradient kernel's address
        table = np.zeros((1 + len(self.arrays), width))
        table[0, :len(problem.dims)] = [self.dims[d] for d in problem.dims]
        for k, a in enumerate(self.arrays):
            address = a.ctypes.data
            if address >= 2**53:  # pragma: no cover - user-space addresses are far below
                raise InputError("an array's address does not fit the data table")
            table[1 + k, 0] = float(address)
        self.table = table
        self.p = flatten(problem.parameters, params, self.dims, "params") if problem.parameters \
            else np.empty(0)
        self.n = sum(sizes_of(problem.variables, self.dims))

    def x(self, x0: Any, check_finite: bool = True) -> np.ndarray:
        """The flat variable vector from a mapping of arrays or a flat vector."""
        return flatten(self.problem.variables, x0, self.dims, "x0", check_finite)

    def split(self, x: np.ndarray) -> dict[str, Any]:
        """The flat vector ``x`` as a dict of named arrays (views)."""
        return unflatten(self.problem.variables, x, self.dims)


def _label_bound(problem, leaf, dims) -> int | None:
    from .ir import OneHot, topological

    for node in topological([problem.loss]):
        if isinstance(node, OneHot) and node.args[0] is leaf:
            return evaluate_shape((node.classes,), dims)[0]
    return None


def _targets(variables, array: str, dim_names) -> list[str]:
    """The view of each variable's part of a flat ``array`` (a scalar: one element)."""
    out = []
    offset = sympy.Integer(0)
    for v in variables:
        size = sympy.Mul(*v.shape)
        start, stop = int_code(offset, dim_names), int_code(offset + size, dim_names)
        view = f"{array}[{start}:{stop}]"
        if v.ndim >= 2:
            shape = ", ".join(int_code(s, dim_names) for s in v.shape)
            view += f".reshape(({shape}))"
        out.append(view)
        offset += size
    return out


def _hessian_targets(problem, blocks, dim_names) -> tuple[list, list[str]]:
    """Outputs for the Hessian blocks (views of ``_H``), and lines mirroring them."""
    variables = problem.variables
    if any(v.ndim > 1 for v in variables):
        raise ProblemError("the dense Hessian of a problem with matrix variables is not "
                           "available; use the Hessian-vector product (hvp)")
    offsets = []
    offset = sympy.Integer(0)
    for v in variables:
        offsets.append(offset)
        offset += sympy.Mul(*v.shape)
    code = lambda e: int_code(e, dim_names)

    def span(a):
        v = variables[a]
        start = offsets[a]
        if v.ndim == 0:
            return code(start), None
        return f"{code(start)}:{code(start + v.shape[0])}", code(v.shape[0])

    outputs = []
    for (a, b), block in blocks.items():
        ra, _ = span(a)
        rb, _ = span(b)
        va, vb = variables[a], variables[b]
        if va.ndim == 0 and vb.ndim == 0:
            target = f"_H[{ra}, {code(offsets[b])}:{code(offsets[b] + 1)}]"
        else:
            target = f"_H[{ra}, {rb}]"
        outputs.append(Output(block, target))
    mirror = []
    for (a, b) in blocks:
        if a == b:
            continue
        sa = sympy.Mul(*variables[a].shape)
        sb = sympy.Mul(*variables[b].shape)
        mirror += [f"    for _r in range({code(offsets[a])}, {code(offsets[a] + sa)}):",
                   f"        for _c in range({code(offsets[b])}, {code(offsets[b] + sb)}):",
                   "            _H[_c, _r] = _H[_r, _c]"]
    complete = {(a, b) for a in range(len(variables)) for b in range(a, len(variables))}
    zero = ["    _H[...] = 0.0"] if set(blocks) != complete else []
    return outputs, zero, mirror


#: the kernels of each generated module (a module is generated and compiled on first use of
#: one of its kernels: a gradient method never derives or compiles the Hessian)
MODULES = {"value_grad": ("value_grad",), "value": ("value",), "grad": ("grad",),
           "hvp": ("hvp",), "hessian": ("value_grad_hess",), "band": ("hess_band",),
           "coo": ("hess_coo",)}
_MODULE_OF = {kernel: module for module, kernels in MODULES.items() for kernel in kernels}


def kernels_source(problem, part: str = "value_grad") -> str:
    """The generated module of ``problem`` holding the kernels of :data:`MODULES` ``[part]``."""
    header = [f"formula: {line}" for line in problem.formula.splitlines()]
    header += [f"variables (x, in order): {', '.join(f'{v.name}{_shape(v)}' for v in problem.variables)}"]
    if problem.parameters:
        header += [f"parameters (p): {', '.join(f'{q.name}{_shape(q)}' for q in problem.parameters)}"]
    if problem.data:
        header += [f"data (table rows 1..): {', '.join(f'{d.name}{_shape(d)}' for d in problem.data)}"]
    header += [f"sizes (table row 0): {', '.join(d.name for d in problem.dims) or 'none'}"]
    header += [f"kernels: {', '.join(MODULES[part])}"]
    module = ModuleSource(problem, header)
    names = module.dim_names
    loss = Output(problem.loss, None)
    grads = [Output(problem.gradient_formulas[v], t)
             for v, t in zip(problem.variables, _targets(problem.variables, "_g", names))]
    if part == "value":
        module.add_kernel("value", "_x, _p, _data", "The loss.", [loss])
    elif part == "grad":
        module.add_kernel("grad", "_x, _p, _data, _g", "The gradient, into _g.", grads)
    elif part == "value_grad":
        module.add_kernel("value_grad", "_x, _p, _data, _g", "The loss; the gradient into _g.",
                          [loss] + grads)
    elif part == "hvp":
        hvps = [Output(problem.hvp_formulas[v], t)
                for v, t in zip(problem.variables, _targets(problem.variables, "_g", names))]
        module.add_kernel("hvp", "_x, _p, _data, _v, _g", "The Hessian times _v, into _g.", hvps,
                          uses_v=True)
    elif part == "band":
        module.functions.append(_band_kernel(module, problem.band))
    elif part == "coo":
        module.functions.append(_coo_kernel(module, problem.sparse))
    else:
        blocks, zero, mirror = _hessian_targets(problem, problem.hessian_formulas, names)
        module.add_kernel("value_grad_hess", "_x, _p, _data, _g, _H",
                          "The loss; the gradient into _g, the Hessian into _H.",
                          [loss] + grads + blocks, prelude=zero, postlude=mirror)
    return module.source()


def _term_code(module: ModuleSource, term, scalars: dict, t: int) -> tuple[list[str], list[str]]:
    """The loop body lines computing a separable term's shared subexpressions at row ``_i``,
    and the code of ``coefficient * d2`` of each of its pairs."""
    from ..codegen import KernelPrinter, _share_exponentials
    from ..derivatives import joint_cse
    from .ir import Leaf, Map, placeholder

    size = module.size
    symbols = dict(module.dim_names)

    def scalar(node):
        if isinstance(node, Leaf):
            s = sympy.Symbol(f"_s{len(symbols)}", real=True)
            symbols[s] = module.leaf_names[node]
            return s
        if isinstance(node, Map) and not node.ndim:
            return node.body.xreplace({placeholder(j): scalar(a) for j, a in enumerate(node.args)})
        raise ProblemError("a separable term reads a computed scalar; the sparse Hessian needs "
                           "inputs")

    values = {}
    for k, arg in enumerate(term.args):
        if arg[0] == "scalar":
            values[placeholder(k)] = scalar(arg[1])
            continue
        _, leaf, start, step = arg
        s = sympy.Symbol(f"_r{k}", real=True)
        position = f"{size(start)} + {step}*_i" if step != 1 else f"{size(start)} + _i"
        symbols[s] = f"{module.leaf_names[leaf]}[{position}]"
        values[placeholder(k)] = s
    coefficient = term.coefficient.xreplace({d: scalar(node) for d, node in scalars.items()})
    exprs = [coefficient * d2.xreplace(values) for _, _, d2 in term.pairs]
    replacements, reduced = joint_cse(_share_exponentials(exprs), prefix=f"_c{t}_")
    printer = KernelPrinter(symbols, vector_math=True)
    for sym, _ in replacements:
        symbols[sym] = sym.name
    lines = [f"        {sym.name} = {printer.doprint(e)}" for sym, e in replacements]
    return lines, [printer.doprint(e) for e in reduced]


def _band_kernel(module: ModuleSource, band) -> str:
    """``hess_band(x, p, data, band)``: the lower band of the Hessian of a separable loss
    (:mod:`symopt.tensor.sparsity`), ``band[r*(b+1) + (r - c)]`` for ``c <= r <= c + b``,
    filled term by term, row by row (serial: rows of a term add into shared entries)."""
    size = module.size
    width = band.bandwidth + 1
    lines = ["    for _k in range(_band.shape[0]):", "        _band[_k] = 0.0"]
    for t, term in enumerate(band.terms):
        setup, values = _term_code(module, term, band.scalars, t)
        lines.append(f"    for _i in range({size(term.length)}):")
        lines += setup
        for (j, l, _), value in zip(term.pairs, values):
            _, _, sj, step = term.args[j]
            _, _, sl, _ = term.args[l]
            offset = int(sympy.simplify(sj - sl))
            row = sj if offset >= 0 else sl
            if offset == 0 and j != l:
                value = f"2.0*({value})"
            position = f"({size(row)} + {step}*_i)"
            lines.append(f"        _band[{position}*{width} + {abs(offset)}] += {value}")
    from .codegen import _used

    setup = _used(module.prologue(False), lines)
    return "\n".join(["", "", "@numba.njit(cache=True, nogil=True, error_model='numpy')",
                      "def hess_band(_x, _p, _data, _band):",
                      f'    """The lower band of the Hessian (bandwidth {band.bandwidth}): '
                      f'_band[r*{width} + (r - c)]."""', *setup, *lines])


def _coo_kernel(module: ModuleSource, structure) -> str:
    """``hess_coo(x, p, data, out)``: the second derivatives of every separable term at
    every row, in the order of :meth:`symopt.tensor.sparse.SparseStructure.pattern` (term by
    term, row by row, pair by pair); the pattern's slots scatter them into the CSR values.
    Every entry is written once, so the rows of a term are independent (no accumulation)."""
    size = module.size
    lines = []
    base = sympy.Integer(0)
    for t, term in enumerate(structure.terms):
        setup, values = _term_code(module, term, structure.scalars, t)
        pairs = len(term.pairs)
        if not pairs:
            continue
        lines.append(f"    for _i in range({size(term.length)}):")
        lines += setup
        lines.append(f"        _k = {size(base)} + {pairs}*_i")
        for q, value in enumerate(values):
            lines.append(f"        _out[_k + {q}] = {value}")
        base = base + pairs * term.length
    if not lines:
        lines = ["    pass"]
    from .codegen import _used

    setup = _used(module.prologue(False), lines)
    return "\n".join(["", "", "@numba.njit(cache=True, nogil=True, error_model='numpy')",
                      "def hess_coo(_x, _p, _data, _out):",
                      '    """The separable terms\' second derivatives, term by term, row by row."""',
                      *setup, *lines])


def _shape(leaf) -> str:
    from .ir import shape_str

    return shape_str(leaf.shape)


class ArrayKernels:
    """The compiled kernels of a :class:`symopt.tensor.Problem`.

    Python calls take the variables as a mapping of arrays (``{"w": w, "b": 0.0}``) or the
    flat vector, the data as a mapping of arrays, and the parameters as a mapping; the
    dispatchers (``value_kernel``, ``value_grad_kernel``, ``hvp_kernel``, ...) take the
    raw ABI arguments, for use in a user's own Numba code.
    """

    def __init__(self, problem):
        self.problem = problem

    def source_of(self, part: str) -> str:
        """The generated source of module ``part`` (:data:`MODULES`)."""
        sources = self.__dict__.setdefault("_sources", {})
        source = sources.get(part)
        if source is None:
            source = sources[part] = kernels_source(self.problem, part)
        return source

    @property
    def source(self) -> str:
        """The generated source of the value+gradient kernel."""
        return self.source_of("value_grad")

    def module_of(self, part: str):
        modules = self.__dict__.setdefault("_modules", {})
        module = modules.get(part)
        if module is None:
            with _lock:
                module = modules.get(part)
                if module is None:
                    try:
                        module = cache.load_source(self.source_of(part), kind="t")
                    except ProblemError:
                        raise
                    except Exception as exc:  # a bug in codegen, not a user error
                        raise CompileError(
                            f"generating the kernels of {self.problem.formula!r} failed: "
                            f"{type(exc).__name__}: {exc}. This is a bug in symopt; please "
                            "report it with the formula.") from exc
                    modules[part] = module
        return module

    @property
    def module(self):
        """The module of the value+gradient kernel."""
        return self.module_of("value_grad")

    def kernel(self, name: str):
        """The dispatcher of kernel ``name``, compiled for its signature on first use."""
        part = _MODULE_OF.get(name)
        if part is None:
            raise ProblemError(f"there is no {name!r} kernel; the kernels are {', '.join(_MODULE_OF)}")
        dispatcher = getattr(self.module_of(part), name)
        if not dispatcher.signatures:
            with _lock:
                if not dispatcher.signatures:
                    try:
                        dispatcher.compile(_SIGNATURES[name])
                    except Exception as exc:
                        raise CompileError(
                            f"compiling the {name} kernel of {self.problem.formula!r} failed: "
                            f"{type(exc).__name__}: {exc}. This is a bug in symopt; please "
                            "report it with the formula.") from exc
        return dispatcher

    value_kernel = property(lambda self: self.kernel("value"))
    grad_kernel = property(lambda self: self.kernel("grad"))
    value_grad_kernel = property(lambda self: self.kernel("value_grad"))
    value_grad_hess_kernel = property(lambda self: self.kernel("value_grad_hess"))
    hvp_kernel = property(lambda self: self.kernel("hvp"))

    def address(self, name: str) -> int:
        """The machine-code address of kernel ``name`` (what solver entry points take).
        ``"value"`` is the value+gradient kernel seen through a wrapper compiled once per
        install (:func:`symopt.tensor._runtime.value_via_value_grad`): a first-order solve
        compiles one kernel, and its line searches see exactly the value+gradient
        kernel's f; the dedicated value kernel is ``address("value_only")``."""
        from .._binding import jit_address
        from ._runtime import value_via_value_grad

        if name == "value":
            return jit_address(value_via_value_grad(), abi.value_sig)
        if name == "value_only":
            name = "value"
        return jit_address(self.kernel(name), _SIGNATURES[name])

    # --- Python-facing calls -------------------------------------------------------------------
    def bind(self, data: Mapping[str, Any] | None = None, params: Any = None, x: Any = None,
             dims: Mapping[Any, int] | None = None) -> Binding:
        """Check ``data``/``params`` (and the shapes of ``x``) against the formula; the sizes
        and the data table the kernels read (its row 0 ends with the address of the
        value+gradient kernel, compiled here if it is not yet)."""
        binding = Binding(self.problem, data, params, x, dims)
        binding.table[0, -1] = float(self.address("value_grad"))
        return binding

    def _prepare(self, x, data, params, binding):
        if binding is None:
            binding = self.bind(data, params, x)
        return binding.x(x), binding

    def value(self, x, data=None, params=None, *, binding: Binding | None = None) -> float:
        """The loss at ``x`` (by the value+gradient kernel: the same f to the last bit)."""
        xa, b = self._prepare(x, data, params, binding)
        g = np.empty(b.n)
        return float(self.value_grad_kernel(xa, b.p, b.table, g))

    def grad(self, x, data=None, params=None, *, binding: Binding | None = None) -> dict:
        """The gradient at ``x``, as a dict of named arrays."""
        xa, b = self._prepare(x, data, params, binding)
        g = np.empty(b.n)
        self.grad_kernel(xa, b.p, b.table, g)
        return b.split(g)

    def value_and_grad(self, x, data=None, params=None, *, binding: Binding | None = None):
        """``(loss, gradient as a dict of named arrays)``."""
        xa, b = self._prepare(x, data, params, binding)
        g = np.empty(b.n)
        f = self.value_grad_kernel(xa, b.p, b.table, g)
        return float(f), b.split(g)

    def hvp(self, x, v, data=None, params=None, *, binding: Binding | None = None) -> dict:
        """The Hessian at ``x`` times ``v`` (a mapping or a flat vector), as named arrays."""
        xa, b = self._prepare(x, data, params, binding)
        va = b.x(v)
        out = np.empty(b.n)
        self.hvp_kernel(xa, b.p, b.table, va, out)
        return b.split(out)

    def hessian(self, x, data=None, params=None, *, binding: Binding | None = None) -> np.ndarray:
        """The dense ``(n, n)`` Hessian at ``x`` (variables laid end to end)."""
        xa, b = self._prepare(x, data, params, binding)
        g = np.empty(b.n)
        H = np.empty((b.n, b.n))
        self.value_grad_hess_kernel(xa, b.p, b.table, g, H)
        return H

    def hessian_band(self, x, data=None, params=None, *, binding: Binding | None = None) -> np.ndarray:
        """The lower band of the Hessian of a separable loss (``problem.band``): an
        ``(n, b + 1)`` array whose ``[r, r - c]`` entry is ``H[r, c]``."""
        xa, b = self._prepare(x, data, params, binding)
        width = self.problem.band.bandwidth + 1
        band = np.empty(b.n * width)
        self.kernel("hess_band")(xa, b.p, b.table, band)
        return band.reshape(b.n, width)

    def hessian_sparse(self, x, data=None, params=None, *, binding: Binding | None = None):
        """The Hessian of a separable loss as a ``scipy.sparse.csr_matrix`` (from its band)."""
        from scipy import sparse

        lower = self.hessian_band(x, data, params, binding=binding)
        n, width = lower.shape
        diagonals = [lower[:, 0]] + [lower[k:, k] for k in range(1, width)]
        full = diagonals + [lower[k:, k] for k in range(1, width)]
        offsets = [0] + [-k for k in range(1, width)] + [k for k in range(1, width)]
        return sparse.diags(full, offsets, shape=(n, n), format="csr")

    def sparse_pattern(self, binding: Binding):
        """The CSR layout of the Hessian at the sizes of ``binding``
        (:meth:`symopt.tensor.sparse.SparseStructure.pattern`), computed once per size."""
        patterns = self.__dict__.setdefault("_patterns", {})
        key = tuple(sorted((d.name, v) for d, v in binding.dims.items()))
        pattern = patterns.get(key)
        if pattern is None:
            pattern = self.problem.sparse.pattern(binding.dims, binding.n)
            if len(patterns) >= 8:
                patterns.pop(next(iter(patterns)))
            patterns[key] = pattern
        return pattern

    def hessian_csr(self, x, data=None, params=None, *, binding: Binding | None = None):
        """The Hessian of a separable loss (``problem.sparse``, banded or not) in CSR
        storage: a ``scipy.sparse.csr_matrix`` when SciPy is installed, else the arrays
        ``(values, indices, indptr)``.  The kernel ``hess_coo`` computes every term's second
        derivatives; the pattern (once per size) says where they add up."""
        from .sparse import scatter

        xa, b = self._prepare(x, data, params, binding)
        pattern = self.sparse_pattern(b)
        coo = np.empty(pattern.ncoo)
        self.kernel("hess_coo")(xa, b.p, b.table, coo)
        values = np.empty(pattern.nnz)
        scatter(coo, pattern.slot1, pattern.slot2, pattern.weight, values)
        try:
            from scipy import sparse
        except ImportError:  # pragma: no cover - scipy is optional
            return values, pattern.indices.copy(), pattern.indptr.copy()
        return sparse.csr_matrix((values, pattern.indices.copy(), pattern.indptr.copy()),
                                 shape=(b.n, b.n))

    @property
    def source_path(self) -> str:
        """The path of the generated value+gradient kernel (open it to read it)."""
        return self.module.__file__

    def __repr__(self) -> str:
        return f"<symopt.tensor.ArrayKernels for {self.problem.formula!r}>"


def compile(problem) -> ArrayKernels:  # noqa: A001 - mirrors symopt.compile
    """The compiled kernels of an array ``problem`` (one object per problem; kernels are
    generated and compiled on first use, or loaded from the disk cache)."""
    cache = problem_cache(problem)
    kernels = cache.kernels
    if kernels is None:
        with _lock:
            kernels = cache.kernels
            if kernels is None:
                kernels = cache.kernels = ArrayKernels(problem)
    return kernels
