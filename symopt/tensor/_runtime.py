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

import numba
import numpy as np
from llvmlite import binding as llvm
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["f8_pointer", "i8_pointer", "n_blocks", "max_blocks", "syrk_upper", "SYRK_SYMBOL"]


def _pointer_intrinsic(dtype):
    pointer_type = types.CPointer(dtype)

    @intrinsic
    def pointer(typingctx, address):
        if not isinstance(address, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(pointer_type))

        return pointer_type(address), codegen

    return pointer


#: ``f8_pointer(address)``: a float64 pointer from an integer address (for numba.carray)
f8_pointer = _pointer_intrinsic(types.float64)
#: ``i8_pointer(address)``: an int64 pointer from an integer address
i8_pointer = _pointer_intrinsic(types.int64)


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
