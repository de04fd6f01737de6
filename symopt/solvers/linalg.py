"""Small dense linear algebra for the compiled solvers.

Plain loops over C-contiguous arrays: for the problem sizes these solvers target
(a handful to a few hundred variables) they are as fast as LAPACK calls, they never
allocate, and they report failure through return values instead of exceptions (an
exception inside a compiled solver must never escape to the user).
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import helper

#: A Cholesky pivot ``a_jj - sum_k l_jk^2`` must exceed this fraction of ``a_jj``.
#: Below it, cancellation has left only rounding errors: the matrix is singular to
#: working precision and counts as not positive definite.
PIVOT_RTOL = 16 * np.finfo(np.float64).eps


@helper
def dot(a, b):
    """The inner product of two vectors."""
    total = 0.0
    for i in range(a.shape[0]):
        total += a[i] * b[i]
    return total


@helper
def norm_inf(a):
    """The largest absolute entry of a vector (NaN if any entry is NaN)."""
    largest = 0.0
    for i in range(a.shape[0]):
        v = abs(a[i])
        if not v <= largest:  # also true for NaN, which then propagates
            largest = v
    return largest


@helper
def norm2(a):
    """The Euclidean norm of a vector."""
    return math.sqrt(dot(a, a))


@helper
def all_finite(a):
    """True when no entry of the vector is NaN or +-Inf."""
    for i in range(a.shape[0]):
        if not math.isfinite(a[i]):
            return False
    return True


@helper
def diff_norm_inf(a, b):
    """``||a - b||_inf``, without forming ``a - b``."""
    largest = 0.0
    for i in range(a.shape[0]):
        v = abs(a[i] - b[i])
        if not v <= largest:
            largest = v
    return largest


@helper
def copy_vector(source, out):
    """``out[:] = source`` (an explicit loop: a slice assignment may allocate)."""
    for i in range(source.shape[0]):
        out[i] = source[i]


@helper
def copy_matrix(source, out):
    """``out[:, :] = source`` for matrices of the same shape."""
    for i in range(source.shape[0]):
        for j in range(source.shape[1]):
            out[i, j] = source[i, j]


@helper
def step_to(x, alpha, direction, out):
    """``out = x + alpha * direction``."""
    for i in range(x.shape[0]):
        out[i] = x[i] + alpha * direction[i]


@helper
def matvec(A, v, out):
    """``out = A @ v`` for a square matrix ``A``."""
    n = v.shape[0]
    for i in range(n):
        total = 0.0
        for j in range(n):
            total += A[i, j] * v[j]
        out[i] = total


@helper
def set_scaled_identity(A, scale):
    """``A = scale * I``."""
    n = A.shape[0]
    for i in range(n):
        for j in range(n):
            A[i, j] = 0.0
        A[i, i] = scale


@helper
def cholesky(A, shift, L):
    """Factor ``A + shift * I = L L^T`` into the lower triangle of ``L``.

    Only the lower triangle of ``A`` is read.  Returns False, leaving ``L`` partly
    written, when a pivot is not finite or not above :data:`PIVOT_RTOL` times its
    diagonal entry, i.e. when the shifted matrix is not numerically positive definite.
    The strict upper triangle of ``L`` is set to zero.
    """
    n = A.shape[0]
    for j in range(n):
        diagonal = A[j, j] + shift
        pivot = diagonal
        for k in range(j):
            pivot -= L[j, k] * L[j, k]
        if not (pivot > PIVOT_RTOL * diagonal and pivot < np.inf):  # rejects NaN too
            return False
        pivot = math.sqrt(pivot)
        L[j, j] = pivot
        for i in range(j + 1, n):
            total = A[i, j]
            for k in range(j):
                total -= L[i, k] * L[j, k]
            L[i, j] = total / pivot
        for i in range(j):
            L[i, j] = 0.0
    return True


@helper
def cholesky_solve(L, b, out):
    """Solve ``L L^T out = b`` by a forward and a backward substitution (``out`` may be ``b``)."""
    n = b.shape[0]
    for i in range(n):  # L z = b
        total = b[i]
        for k in range(i):
            total -= L[i, k] * out[k]
        out[i] = total / L[i, i]
    for i in range(n - 1, -1, -1):  # L^T out = z
        total = out[i]
        for k in range(i + 1, n):
            total -= L[k, i] * out[k]
        out[i] = total / L[i, i]
