"""Helpers compiled into array kernels: arrays rebuilt from the addresses in the data
table (zero copy), block counts, and BLAS's symmetric rank-k update.

The data table (``data`` argument of every kernel, float64 ``(rows, width)``): row 0
holds the sizes (the problem's dims, in order); row ``1 + k`` holds the address of data
array ``k`` (user-space addresses are below 2**53, so a float64 holds them exactly).  A
kernel rebuilds each array as a C-contiguous view of the caller's memory with
:func:`f8_array` / :func:`i8_array`: an 800 MB design matrix is never copied.

``dsyrk`` (``C := alpha A^T A + beta C``, upper triangle) is SciPy's BLAS, called
through a symbol that this module registers with LLVM at import
(``symopt_tensor_dsyrk``): kernels compiled and cached in one process resolve it in the
next, because the generated module imports this one before Numba loads its cache.
"""

from __future__ import annotations

import ctypes
import math

import numba
import numpy as np
from llvmlite import binding as llvm
from numba import njit, types

from .. import abi as _abi
from .._numba_compat import USE_ADDRESS_OF, function_from_address, pointer_intrinsic
from .._numba_compat import address_of as _address_of

__all__ = ["f8_pointer", "i8_pointer", "n_blocks", "max_blocks", "syrk_upper", "SYRK_SYMBOL"]


#: ``f8_pointer(address)``: a float64 pointer from an integer address (for numba.carray)
f8_pointer = pointer_intrinsic(types.float64)
#: ``i8_pointer(address)``: an int64 pointer from an integer address
i8_pointer = pointer_intrinsic(types.int64)


@njit(inline="always", cache=True)
def n_blocks(rows, block_rows, most):
    """Blocks a loop over ``rows`` is split into: one per ``block_rows`` rows, at least one
    and at most ``most``; a function of the sizes only, never of the thread count, so the
    summation order (and the result) is deterministic."""
    blocks = rows // block_rows
    if blocks < 1:
        return 1
    return min(blocks, most)


@njit(inline="always", cache=True)
def max_blocks(partial_size, budget, most):
    """The most blocks a group may use when each keeps ``partial_size`` floats of partial
    sums: the partial sums of all blocks stay within ``budget`` floats."""
    if partial_size <= 0:
        return most
    return max(1, min(most, budget // partial_size))


# --- BLAS dsyrk --------------------------------------------------------------------------------

SYRK_SYMBOL = "symopt_tensor_dsyrk"


def _register_dsyrk() -> bool:
    try:
        from scipy.linalg import cython_blas
    except ImportError:  # pragma: no cover - scipy is a dependency of the tensor kernels
        return False
    capsule = cython_blas.__pyx_capi__["dsyrk"]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    address = get_pointer(capsule, get_name(capsule))
    llvm.add_symbol(SYRK_SYMBOL, address)
    return True


HAVE_SYRK = _register_dsyrk()

_voidptr = types.voidptr
_dsyrk = types.ExternalFunction(SYRK_SYMBOL, types.void(_voidptr, _voidptr, _voidptr, _voidptr,
                                                          _voidptr, _voidptr, _voidptr, _voidptr,
                                                          _voidptr, _voidptr))


@njit(cache=True, nogil=True)
def syrk_upper(A, rows, C, alpha, work):
    """``C += alpha * A[:rows]^T A[:rows]`` on the upper triangle of ``C`` (row-major view),
    by BLAS dsyrk.  ``A`` is a C-contiguous ``(>= rows, k)`` array; ``C`` a C-contiguous
    ``(k, k)`` array; ``work`` a float64 array of at least 2 entries and ``ints`` below are
    the integer arguments BLAS takes by reference."""
    k = A.shape[1]
    if rows == 0 or k == 0:
        return
    # row-major A (rows, k) is column-major A^T (k, rows); row-major C is column-major C^T:
    # C^T (lower, column-major) += alpha (A^T)(A^T)^T  <=>  C (upper, row-major) += alpha A^T A
    chars = np.empty(2, np.uint8)
    chars[0] = 76  # 'L'
    chars[1] = 78  # 'N'
    ints = np.empty(4, np.int32)
    ints[0] = k
    ints[1] = rows
    ints[2] = k  # lda
    ints[3] = C.strides[0] // 8  # ldc
    work[0] = alpha
    work[1] = 1.0
    _dsyrk(chars[0:].ctypes, chars[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes,
           work[0:].ctypes, A.ctypes, ints[2:].ctypes, work[1:].ctypes, C.ctypes,
           ints[3:].ctypes)


# --- running the blocks of a loop in parallel ----------------------------------------------------
#
# A generated kernel is serial code; each of its fused loops is a *block function* of one
# signature, ``block(b, nb, x, p, data, v, g, H, arena)`` (block ``b`` of ``nb``), that
# rebuilds its views from the arguments.  The kernel hands the block function's address to
# :func:`run_blocks`, compiled once per install with ``parallel=True``: a new formula never
# compiles a parallel region (Numba spends about 0.7 s on each).

_vec = types.Array(types.float64, 1, "C")
_mat = types.Array(types.float64, 2, "C")
#: block(b, nb, x, p, data, v, g, H, arena)
block_sig = types.void(types.int64, types.int64, _vec, _vec, _mat, _vec, _vec, _mat, _vec)
BlockFn = types.FunctionType(block_sig)


#: ``address_of(block)``: the address of a block function of the same module, compiled for
#: :data:`block_sig` (a link-time reference: the kernel stays cacheable); Numba internals,
#: in :mod:`symopt._numba_compat` with the others (the public-only mode calls the blocks
#: directly instead: :data:`symopt._numba_compat.USE_ADDRESS_OF`)
address_of = _address_of(block_sig)
_block_function = function_from_address(BlockFn, convention="jit")


_run_sig = types.void(types.intp, types.int64, _vec, _vec, _mat, _vec, _vec, _mat, _vec)


@njit(_run_sig, cache=True, nogil=True, parallel=True)
def run_blocks(address, nb, x, p, data, v, g, H, arena):
    """Run blocks ``0..nb-1`` of the block function at ``address`` (in parallel when
    ``nb > 1``; one block runs in the calling thread, without a parallel region)."""
    block = _block_function(address)
    if nb == 1:
        block(0, 1, x, p, data, v, g, H, arena)
        return
    for b in numba.prange(nb):
        block(np.int64(b), nb, x, p, data, v, g, H, arena)


@njit(_run_sig, cache=True, nogil=True, parallel=True)
def run_blocks_phased(address, nb, x, p, data, v, g, H, arena):
    """As :func:`run_blocks`, the even blocks first, then the odd ones: for loops whose
    blocks add into positions a neighbouring block adds into too (slice adjoints)."""
    block = _block_function(address)
    if nb == 1:
        block(0, 1, x, p, data, v, g, H, arena)
        return
    for phase in range(2):
        for c in numba.prange((nb - phase + 1) // 2):
            block(np.int64(2 * c + phase), nb, x, p, data, v, g, H, arena)


# --- combining partial sums, compiled once (not per formula) ---------------------------------------


@njit(cache=True, nogil=True)
def combine_sum(arena, start, nb, out):
    """``out[j] = sum_b part[b, j]`` in block order, ``part`` the ``(nb, out.size)`` array
    at ``arena[start:]``; ``out`` a flat (1-D) array."""
    size = out.shape[0]
    for j in range(size):
        s = arena[start + j]
        for b in range(1, nb):
            s += arena[start + b * size + j]
        out[j] = s


@njit(cache=True, nogil=True)
def combine_sum_2d(arena, start, nb, out):
    """As :func:`combine_sum` into a 2-D ``out`` (a block of a Hessian: any strides)."""
    rows, cols = out.shape
    size = rows * cols
    for r in range(rows):
        for c in range(cols):
            j = r * cols + c
            s = arena[start + j]
            for b in range(1, nb):
                s += arena[start + b * size + j]
            out[r, c] = s


@njit(cache=True, nogil=True)
def combine_upper(arena, start, nb, out):
    """Sum the blocks' upper triangles (a rank-k update) into ``out`` and mirror them."""
    k = out.shape[0]
    size = k * k
    for r in range(k):
        for c in range(r, k):
            j = r * k + c
            s = arena[start + j]
            for b in range(1, nb):
                s += arena[start + b * size + j]
            out[r, c] = s
            out[c, r] = s


@njit(cache=True, nogil=True)
def combine_max(arena, start, nb, out):
    """The largest of the blocks' maxima (``part`` is ``(nb, 2, size)``; row 0)."""
    size = out.shape[0]
    for j in range(size):
        s = arena[start + j]
        for b in range(1, nb):
            s = max(s, arena[start + 2 * b * size + j])
        out[j] = s


@njit(cache=True, nogil=True)
def combine_logsumexp(arena, start, nb, out):
    """logsumexp from the blocks' ``(max, sum of exp(v - max))`` pairs, in block order."""
    size = out.shape[0]
    for j in range(size):
        top = arena[start + j]
        for b in range(1, nb):
            top = max(top, arena[start + 2 * b * size + j])
        s = 0.0
        for b in range(nb):
            count = arena[start + 2 * b * size + size + j]
            if count > 0.0:
                s += count * math.exp(arena[start + 2 * b * size + j] - top)
        out[j] = top + math.log(s)


@njit(cache=True, nogil=True)
def fill(out, value):
    """Every entry of the flat ``out`` set to ``value``."""
    for j in range(out.shape[0]):
        out[j] = value


@njit(cache=True, nogil=True)
def fill_2d(out, value):
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            out[r, c] = value


# --- value through value+gradient ------------------------------------------------------------------


_value_grad_function = function_from_address(_abi.ValueGradFn)


def _value_via_value_grad(x, p, data):
    """``f(x)`` by the problem's value+gradient kernel, whose address the data table holds
    (row 0, last column): the loss a solver's line search sees is then the value+gradient
    kernel's to the last bit, and a first-order solve compiles one kernel, not two."""
    address = np.int64(data[0, data.shape[1] - 1])
    if address == 0:  # a table not made by ArrayKernels.bind: no kernel to call
        return np.nan
    value_grad = _value_grad_function(address)
    g = np.empty(x.shape[0])
    return value_grad(x, p, data, g)


_value_via_value_grad_compiled = None


def value_via_value_grad():
    """The dispatcher of :func:`_value_via_value_grad`, compiled for the value ABI once
    per install (on first use; then loaded from Numba's cache)."""
    global _value_via_value_grad_compiled
    if _value_via_value_grad_compiled is None:
        # Numba's cache key does not know the binding mode: the public-only mode (a C-ABI
        # kernel address in the table) compiles this wrapper afresh instead of caching it
        _value_via_value_grad_compiled = njit(_abi.value_sig, cache=USE_ADDRESS_OF,
                                              nogil=True)(_value_via_value_grad)
    return _value_via_value_grad_compiled
