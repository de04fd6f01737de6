"""Numerically stable scalar helpers that generated kernels call.

Each is a small ``@njit`` function; the printer in :mod:`symopt.codegen` emits calls to
them, so every kernel gets the stable form.

Vectorisable math.  A row-sum kernel's loop over data rows is vectorised by LLVM (4 or 8
rows per instruction) only if every call in it can be inlined and turned into vector
code.  Numba here has no vector math library (Intel SVML needs an SVML-patched llvmlite,
which the PyPI wheels are not: ``llvmlite.binding.has_svml`` is False), so a call to
libm's scalar ``exp``/``log1p`` stops the vectoriser.  :func:`exp` and
:func:`log1p_unit` are therefore written here in plain arithmetic (range reduction, a
polynomial, exponent bits set by integer operations): no branches, no calls, within
1 ulp (``exp``) and 2 ulp (``log1p_unit``) of libm, with the same overflow, underflow
and NaN behaviour.  They are deliberately *not* ``inline="always"``: Numba would then
compile them inside the caller and under the caller's fast-math flags, and a
reassociating optimiser would undo the rounding trick of ``exp``; as separate functions
LLVM still inlines them, with their own strict flags.

:func:`radd` is the one place where reassociation is allowed: the accumulating addition
of a row-sum block (see :mod:`symopt.codegen`).
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def _float_bits(typingctx, x):
    """The IEEE bits of a float64 as an int64 (a bit cast, no conversion)."""
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, i):
    """The float64 whose IEEE bits are the int64 ``i``."""
    if i != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def radd(typingctx, a, b):
    """``a + b`` marked reassociable (LLVM ``fadd reassoc``), for the accumulator of a
    row-sum block only: it lets the loop vectoriser keep several partial sums (one per
    vector lane) and add them at the end of the block.  That order is fixed when the
    kernel is compiled (vector width and unrolling chosen for this CPU), so a block's sum
    is the same at every call, whatever the threads; only the rows' terms are computed
    with strict IEEE arithmetic (no other fast-math flag is set)."""
    if not all(isinstance(t, (types.Float, types.Integer, types.Boolean)) for t in (a, b)):
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1], flags=("reassoc",))

    # a float64 signature: Numba casts integer or boolean arguments at the call site
    return types.float64(types.float64, types.float64), codegen


_SHIFTER = 6755399441055744.0  # 1.5 * 2**52: x + _SHIFTER - _SHIFTER rounds x to an integer
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # ln 2 split in two (fdlibm): n * _LN2_HI is exact
_LN2_LO = 1.9082149292705877e-10


@njit(cache=True)
def exp(x):
    """``exp(x)`` in branch-free arithmetic that the loop vectoriser can inline.

    x = n ln2 + r with |r| <= ln2/2 (Cody-Waite), exp(r) by its Taylor polynomial of
    degree 13 (error below 2e-17), times 2**n built from exponent bits (as two factors
    2**(n//2) and 2**(n - n//2), so that subnormal results and overflow to inf come out
    right).  Within 1 ulp of libm; exp(-inf) = 0, exp(x > 709.78) = inf, NaN stays NaN.
    """
    x = 709.8 if x > 709.8 else x  # comparisons are false for NaN: NaN passes through
    x = -746.0 if x < -746.0 else x
    t = x * _LOG2E + _SHIFTER
    n = t - _SHIFTER
    r = (x - n * _LN2_HI) - n * _LN2_LO
    q = 1.0 / 6227020800.0
    q = q * r + 1.0 / 479001600.0
    q = q * r + 1.0 / 39916800.0
    q = q * r + 1.0 / 3628800.0
    q = q * r + 1.0 / 362880.0
    q = q * r + 1.0 / 40320.0
    q = q * r + 1.0 / 5040.0
    q = q * r + 1.0 / 720.0
    q = q * r + 1.0 / 120.0
    q = q * r + 1.0 / 24.0
    q = q * r + 1.0 / 6.0
    q = q * r + 0.5
    q = q * r + 1.0
    q = q * r + 1.0
    k = _float_bits(t) - _float_bits(_SHIFTER)  # n as an integer (|n| <= 1077)
    k1 = k >> 1
    k2 = k - k1
    return q * _bits_float((k1 + 1023) << 52) * _bits_float((k2 + 1023) << 52)


@njit(cache=True)
def log1p_unit(e):
    """``log1p(e)`` for 0 <= e <= 1 (what softplus needs: e = exp(-|z|)), branch-free.

    log(1 + e) = 2 atanh(s), s = e / (2 + e); above sqrt(2) - 1 it is
    log 2 + 2 atanh((e - 1) / (e + 3)) instead, so |s| <= 0.172 and the odd series
    2 (s + s**3/3 + ... + s**23/23) converges to double precision.  Within 2 ulp of libm
    (tiny e: log1p(e) = e to the last bit except for subnormal e); NaN stays NaN.
    """
    big = e > 0.41421356237309503
    s = (e - 1.0) / (e + 3.0) if big else e / (e + 2.0)
    s2 = s * s
    q = 2.0 / 23.0
    q = q * s2 + 2.0 / 21.0
    q = q * s2 + 2.0 / 19.0
    q = q * s2 + 2.0 / 17.0
    q = q * s2 + 2.0 / 15.0
    q = q * s2 + 2.0 / 13.0
    q = q * s2 + 2.0 / 11.0
    q = q * s2 + 2.0 / 9.0
    q = q * s2 + 2.0 / 7.0
    q = q * s2 + 2.0 / 5.0
    q = q * s2 + 2.0 / 3.0
    q = q * s2 + 2.0
    return (0.6931471805599453 if big else 0.0) + s * q


@njit(cache=True)
def sigmoid(z):
    """1 / (1 + exp(-z)), without overflow for large |z|."""
    return sigmoid_e(z, exp(-abs(z)))


@njit(cache=True)
def softplus(z):
    """log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), without overflow."""
    return softplus_e(z, exp(-abs(z)))


@njit(inline="always", cache=True)
def sign(z):
    """-1, 0 or 1 (NaN stays NaN)."""
    if z > 0.0:
        return 1.0
    if z < 0.0:
        return -1.0
    return z * 0.0


@njit(inline="always", cache=True)
def heaviside(z):
    """0 for z < 0, 1 for z > 0, 1/2 at 0."""
    if z > 0.0:
        return 1.0
    if z < 0.0:
        return 0.0
    return 0.5 + z * 0.0


@njit(inline="always", cache=True)
def n_blocks(rows, block_rows, max_blocks):
    """Number of row blocks of a row-sum kernel: one per ``block_rows`` rows, at least
    one and at most ``max_blocks``; a function of the row count only (never of the
    thread count), so the summation order, and the result, are deterministic."""
    blocks = rows // block_rows
    if blocks < 1:
        return 1
    return min(blocks, max_blocks)


@njit(cache=True)
def sigmoid_e(z, e):
    """sigmoid(z) given e = exp(-|z|) (shared with softplus_e: one exp for both);
    one division and a select, no branch (vectorisable)."""
    return (e if z < 0.0 else 1.0) / (1.0 + e)


@njit(cache=True)
def softplus_e(z, e):
    """softplus(z) given e = exp(-|z|); vectorisable (log1p_unit, not libm's)."""
    return max(z, 0.0) + log1p_unit(e)
