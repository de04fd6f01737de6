"""Binding a constrained problem's kernels to the compiled constrained solvers, by address.

As :mod:`symopt._binding` does for the unconstrained methods: each method has one entry
point, generated into the cache and compiled once per install, taking the seven kernel
addresses as integers (:data:`symopt.constrained.abi.entry_sig`), and one batched entry
point solving many problems (one row each) in parallel.  A kernel a method does not
call is bound to a stand-in compiled once per install (:func:`stand_in_address`), so a
new problem compiles only the kernels its method uses.
"""

from __future__ import annotations

import importlib
import math

from numba import njit, types

from .. import abi as _abi
from .._binding import _function_from_address, jit_address
from . import abi
from ._jit import sources_hash

__all__ = ["METHOD_MODULES", "KERNELS_USED", "entry_point", "direct_entry_call",
           "batch_entry_point", "stand_in_address", "lagrangian_hessian_fn", "batch_sig",
           "BATCH_COUNTS"]

lagrangian_hessian_fn = _function_from_address(abi.LagrangianHessianFn)

#: method -> (solver module, compiled solver's name in it)
METHOD_MODULES = {
    "ipm": ("symopt.constrained.interior_point", "solve"),
    "auglag": ("symopt.constrained.augmented_lagrangian", "solve"),
    "kkt": ("symopt.constrained.kkt", "solve"),
}
#: method -> the kernels it calls (the others get stand-ins)
KERNELS_USED = {
    "ipm": ("value", "value_grad", "constraints", "constraints_jacobian", "lagrangian_hessian"),
    "auglag": ("value", "value_grad", "constraints", "constraints_jacobian", "al_value",
               "al_value_grad"),
    "kkt": ("value", "value_grad", "constraints", "constraints_jacobian", "lagrangian_hessian"),
}


# --- stand-ins for kernels a method never calls (NaN if one were called) ----------------


@njit(cache=True, nogil=True)
def _no_value(x, p, data):
    return math.nan


@njit(cache=True, nogil=True)
def _no_value_grad(x, p, data, g_out):
    return math.nan


@njit(cache=True, nogil=True)
def _no_constraints(x, p, data, c_out):
    c_out[:] = math.nan


@njit(cache=True, nogil=True)
def _no_constraints_jacobian(x, p, data, c_out, J_out):
    c_out[:] = math.nan


@njit(cache=True, nogil=True)
def _no_lagrangian_hessian(x, p, data, lam, obj_factor, H_out):
    H_out[:, :] = math.nan


_STAND_INS = {
    "value": _no_value, "value_grad": _no_value_grad, "constraints": _no_constraints,
    "constraints_jacobian": _no_constraints_jacobian,
    "lagrangian_hessian": _no_lagrangian_hessian, "al_value": _no_value,
    "al_value_grad": _no_value_grad,
}


def stand_in_address(kernel: str) -> int:
    """The address of the stand-in for kernel ``kernel`` (compiled on first use)."""
    dispatcher = _STAND_INS[kernel]
    signature = abi.KERNELS[kernel]
    if signature not in dispatcher.signatures:
        dispatcher.compile(signature)
    return jit_address(dispatcher, signature)


def kernel_addresses(kernels, method: str) -> tuple[int, ...]:
    """The seven addresses ``method``'s entry takes: the problem's kernels that the
    method calls, stand-ins for the others."""
    used = KERNELS_USED[method]
    return tuple(kernels.address(name) if name in used else stand_in_address(name)
                 for name in abi.KERNELS)


def solver_function(method: str):
    """The compiled solver of ``method`` (importing its module compiles it, or loads it
    from Numba's disk cache)."""
    module, function = METHOD_MODULES[method]
    return getattr(importlib.import_module(module), function)


_ENTRY = '''\
# symopt constrained entry point for method {method!r}: takes kernel addresses, compiled once.
# solver sources hash: {sources}
import numba

from symopt.constrained import abi
from symopt._binding import value_fn, value_grad_fn, residuals_fn, residuals_jacobian_fn
from symopt.constrained._binding import lagrangian_hessian_fn
from {module} import {function} as _solve


@numba.njit(abi.entry_sig, cache=True, nogil=True)
def entry(a0, a1, a2, a3, a4, a5, a6, x, p, data, limits, opts, info, lam_out, z_out, c_out,
          g_out, kkt_out, hist):
    return _solve(value_fn(a0), value_grad_fn(a1), residuals_fn(a2), residuals_jacobian_fn(a3),
                  lagrangian_hessian_fn(a4), value_fn(a5), value_grad_fn(a6), x, p, data, limits,
                  opts, info, lam_out, z_out, c_out, g_out, kkt_out, hist)
'''

_entries: dict[str, object] = {}
_direct: dict[str, object] = {}


def entry_point(method: str):
    """The compiled entry point of ``method`` (:data:`symopt.constrained.abi.entry_sig`)."""
    entry = _entries.get(method)
    if entry is None:
        from .. import cache

        module, function = METHOD_MODULES[method]
        source = _ENTRY.format(method=method, module=module, function=function,
                               sources=sources_hash())
        entry = _entries[method] = cache.load_source(source, kind="ce").entry
    return entry


def direct_entry_call(method: str):
    """``method``'s entry point as its compiled CPython wrapper, past Numba's dispatcher
    (every array passed must have exactly the entry's types; see
    :func:`symopt._binding.direct_entry_call`)."""
    call = _direct.get(method)
    if call is None:
        entry = entry_point(method)
        call = entry
        if len(entry.signatures) == 1:
            compiled = getattr(entry, "overloads", {}).get(entry.signatures[0])
            call = getattr(compiled, "entry_point", None) or entry
        _direct[method] = call
    return call


# --------------------------------------------------------------------------------------
# Batched entry points: many problems (one row of X and of P each) in one parallel call.
#
#   entry(a0..a6, X, P, limits, opts, fun, counts, LAM, Z, C, KKT, block)
#
# X float64[k, n]: starts in, solutions out; P float64[1 or k, n_params]; limits and opts
# shared; fun float64[k]; counts int64[BATCH_COUNTS, k] (status, nit, nfev, njev, nhev,
# ncev); LAM float64[k, m], Z float64[k, n], C float64[k, m] (the constraints' values),
# KKT float64[k, N_KKT] per problem.  A problem
# whose start or parameters are not finite is not solved (status INVALID_INPUT).
# --------------------------------------------------------------------------------------

_mat_i8 = types.Array(types.int64, 2, "C")
batch_sig = types.void(*([types.intp] * 7), _abi.mat, _abi.mat, _abi.vec, _abi.vec, _abi.vec,
                       _mat_i8, _abi.mat, _abi.mat, _abi.mat, _abi.mat, types.int64)
BATCH_COUNTS = 6


@njit(nogil=True)
def all_finite(a):
    for i in range(a.shape[0]):
        if not math.isfinite(a[i]):
            return False
    return True


@njit(nogil=True)
def store(counts, i, info):
    counts[0, i] = info[abi.INFO_STATUS]
    counts[1, i] = info[abi.INFO_NIT]
    counts[2, i] = info[abi.INFO_NFEV]
    counts[3, i] = info[abi.INFO_NJEV]
    counts[4, i] = info[abi.INFO_NHEV]
    counts[5, i] = info[abi.INFO_NCEV]


_BATCH = '''\
# symopt constrained batched entry point for method {method!r}: compiled once.
# solver sources hash: {sources}
import math

import numba
import numpy as np

from symopt.constrained import abi
from symopt.constrained.status import INVALID_INPUT
from symopt._binding import value_fn, value_grad_fn, residuals_fn, residuals_jacobian_fn
from symopt.constrained._binding import (lagrangian_hessian_fn, batch_sig, all_finite, store,
                                         BATCH_COUNTS)
from {module} import {function} as _solve


@numba.njit(nogil=True)
def _block(a0, a1, a2, a3, a4, a5, a6, lo, hi, X, P, limits, opts, fun, counts, LAM, Z, C, KKT):
    value = value_fn(a0)
    value_grad = value_grad_fn(a1)
    constraints = residuals_fn(a2)
    constraints_jacobian = residuals_jacobian_fn(a3)
    lagrangian_hessian = lagrangian_hessian_fn(a4)
    al_value = value_fn(a5)
    al_value_grad = value_grad_fn(a6)
    n = X.shape[1]
    m = LAM.shape[1]
    info = np.zeros(abi.N_INFO, np.int64)
    hist = np.empty((0, 0))
    data = np.empty((0, 0))
    g = np.empty(n)
    for i in range(lo, hi):
        x = X[i]
        p = P[i] if P.shape[0] > 1 else P[0]
        if not (all_finite(x) and all_finite(p)):
            fun[i] = math.nan
            for r in range(BATCH_COUNTS):
                counts[r, i] = 0
            counts[0, i] = INVALID_INPUT
            continue
        fun[i] = _solve(value, value_grad, constraints, constraints_jacobian, lagrangian_hessian,
                        al_value, al_value_grad, x, p, data, limits, opts, info, LAM[i], Z[i],
                        C[i], g, KKT[i], hist)
        store(counts, i, info)


@numba.njit(batch_sig, cache=True, parallel=True)
def entry(a0, a1, a2, a3, a4, a5, a6, X, P, limits, opts, fun, counts, LAM, Z, C, KKT, block):
    k = X.shape[0]
    blocks = (k + block - 1) // block
    for b in numba.prange(blocks):
        lo = b * block
        _block(a0, a1, a2, a3, a4, a5, a6, lo, min(lo + block, k), X, P, limits, opts, fun,
               counts, LAM, Z, C, KKT)
'''

_batch_entries: dict[str, object] = {}


def batch_entry_point(method: str):
    """The compiled, parallel batched entry point of ``method`` (:data:`batch_sig`)."""
    entry = _batch_entries.get(method)
    if entry is None:
        from .. import cache

        module, function = METHOD_MODULES[method]
        source = _BATCH.format(method=method, module=module, function=function,
                               sources=sources_hash())
        entry = _batch_entries[method] = cache.load_source(source, kind="cb").entry
    return entry
