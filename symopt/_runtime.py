"""Numerically stable scalar helpers that generated kernels call.

Each is a small ``@njit(inline="always")`` function; the printer in
:mod:`symopt.codegen` emits calls to them, so every kernel gets the stable form.
"""

from __future__ import annotations

import math

from numba import njit


@njit(inline="always", cache=True)
def sigmoid(z):
    """1 / (1 + exp(-z)), without overflow for large |z|."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


@njit(inline="always", cache=True)
def softplus(z):
    """log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), without overflow."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


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


@njit(inline="always", cache=True)
def sigmoid_e(z, e):
    """sigmoid(z) given e = exp(-|z|) (shared with softplus_e: one exp for both)."""
    if z >= 0.0:
        return 1.0 / (1.0 + e)
    return e / (1.0 + e)


@njit(inline="always", cache=True)
def softplus_e(z, e):
    """softplus(z) given e = exp(-|z|)."""
    return max(z, 0.0) + math.log1p(e)
