"""Binding kernels to compiled solvers at run time, by address.

A solver takes its kernels as first-class functions (:mod:`symopt.abi`).  Handing it
Numba dispatchers from Python converts them on every call (tens of microseconds), and
binding them inside a per-problem ``@njit`` wrapper means compiling that wrapper -
which re-optimises the whole linked solver, about a second - in every new process.

Instead, each method has one *entry point*, compiled once per install and cached on
disk, that takes the kernels' machine-code addresses as plain integers and turns them
into first-class function values inside compiled code (:func:`value_fn` and friends).
A new problem then compiles nothing but its kernels, and a call from Python costs
about a microsecond.  The addresses stay valid while the kernels' dispatchers live:
:class:`symopt.Kernels` holds them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from . import abi

__all__ = ["jit_address", "value_fn", "value_grad_fn", "value_grad_hess_fn", "residuals_fn",
           "residuals_jacobian_fn", "entry_point"]


def _function_from_address(fn_type: types.FunctionType):
    """An intrinsic ``f(address: intp) -> fn_type`` building a first-class function
    value that calls the Numba-ABI function at ``address``."""

    @intrinsic
    def from_address(typingctx, address):
        if not isinstance(address, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            voidptr = context.get_value_type(types.voidptr)
            function = cgutils.create_struct_proxy(fn_type)(context, builder)
            function.jit_addr = builder.inttoptr(args[0], voidptr)
            function.c_addr = cgutils.get_null_value(voidptr)
            function.py_addr = cgutils.get_null_value(voidptr)
            return function._getvalue()

        return fn_type(address), codegen

    return from_address


value_fn = _function_from_address(abi.ValueFn)
value_grad_fn = _function_from_address(abi.ValueGradFn)
value_grad_hess_fn = _function_from_address(abi.ValueGradHessFn)
residuals_fn = _function_from_address(abi.ResidualsFn)
residuals_jacobian_fn = _function_from_address(abi.ResidualsJacobianFn)


def jit_address(dispatcher, signature) -> int:
    """Address of the compiled (Numba calling convention) function of ``dispatcher``
    for ``signature``."""
    result = dispatcher.get_compile_result(signature)
    return result.library.get_pointer_to_function(result.fndesc.llvm_func_name)


def _solver_sources_hash() -> str:
    """Hash of the solver package and the ABI: an entry point's Numba cache must be
    rebuilt when any solver code it links in changes."""
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted((root / "solvers").glob("*.py")) + [root / "abi.py", root / "_binding.py"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


_SCALAR_ENTRY = '''\
# symopt solver entry point for method {method!r}: takes kernel addresses, compiled once.
# solver sources hash: {sources}
import numba

from symopt import abi
from symopt._binding import value_fn, value_grad_fn, value_grad_hess_fn
from {module} import {function} as _solve


@numba.njit(abi.entry_sig, cache=True, nogil=True)
def entry(value_address, value_grad_address, value_grad_hess_address,
          x, p, data, opts, info, hist, g_out, H_out):
    return _solve(value_fn(value_address), value_grad_fn(value_grad_address),
                  value_grad_hess_fn(value_grad_hess_address),
                  x, p, data, opts, info, hist, g_out, H_out)
'''

_LEAST_SQUARES_ENTRY = '''\
# symopt least-squares entry point for method {method!r}: takes kernel addresses, compiled once.
# solver sources hash: {sources}
import numba

from symopt import abi
from symopt._binding import residuals_fn, residuals_jacobian_fn
from {module} import {function} as _solve


@numba.njit(abi.ls_entry_sig, cache=True, nogil=True)
def entry(residuals_address, residuals_jacobian_address,
          x, p, data, opts, info, hist, r_out, J_out):
    return _solve(residuals_fn(residuals_address),
                  residuals_jacobian_fn(residuals_jacobian_address),
                  x, p, data, opts, info, hist, r_out, J_out)
'''

#: method -> (entry template, solver module, solver function)
_ENTRIES = {
    "gd": (_SCALAR_ENTRY, "symopt.solvers.gradient", "solve"),
    "newton": (_SCALAR_ENTRY, "symopt.solvers.newton", "solve"),
    "bfgs": (_SCALAR_ENTRY, "symopt.solvers.quasi_newton", "solve"),
    "lbfgs": (_SCALAR_ENTRY, "symopt.solvers.lbfgs", "solve"),
    "trust-ncg": (_SCALAR_ENTRY, "symopt.solvers.trust_region", "solve"),
    "trust-exact": (_SCALAR_ENTRY, "symopt.solvers.trust_region", "solve_exact"),
    "momentum": (_SCALAR_ENTRY, "symopt.solvers.first_order", "solve_momentum"),
    "nesterov": (_SCALAR_ENTRY, "symopt.solvers.first_order", "solve_nesterov"),
    "adam": (_SCALAR_ENTRY, "symopt.solvers.first_order", "solve_adam"),
    "lm": (_LEAST_SQUARES_ENTRY, "symopt.solvers.least_squares", "solve_lm"),
    "gn": (_LEAST_SQUARES_ENTRY, "symopt.solvers.least_squares", "solve_gn"),
}

_entries: dict[str, object] = {}


def entry_point(method: str):
    """The compiled entry point of ``method``: for scalar methods
    ``f = entry(value_addr, value_grad_addr, value_grad_hess_addr, x, p, data, opts, info,
    hist, g_out, H_out)``; for least squares
    ``cost = entry(residuals_addr, residuals_jacobian_addr, x, p, data, opts, info, hist,
    r_out, J_out)``."""
    entry = _entries.get(method)
    if entry is None:
        from . import cache

        template, module, function = _ENTRIES[method]
        source = template.format(method=method, module=module, function=function,
                                 sources=_solver_sources_hash())
        entry = _entries[method] = cache.load_source(source, kind="e").entry
    return entry
