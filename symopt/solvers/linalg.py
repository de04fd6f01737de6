"""Small dense linear algebra for the compiled solvers.

Plain loops over C-contiguous arrays: for the problem sizes these solvers target
(a handful to a few hundred variables) they are as fast as LAPACK calls, they never
allocate, and they report failure through return values instead of exceptions (an
exception inside a compiled solver must never escape to the user).  They are compiled
into the solver loops that call them (:data:`._jit.inlined`).
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import inlined

#: A Cholesky pivot ``a_jj - sum_k l_jk^2`` must exceed this fraction of ``a_jj``.
#: Below it, cancellation has left only rounding errors: the matrix is singular to
#: working precision and counts as not positive definite.
PIVOT_RTOL = 16 * np.finfo(np.float64).eps


@inlined
def dot(a, b):
    """The inner product of two vectors."""
    total = 0.0
    for i in range(a.shape[0]):
        total += a[i] * b[i]
    return total


@inlined
def norm_inf(a):
    """The largest absolute entry of a vector (NaN if any entry is NaN)."""
    largest = 0.0
    for i in range(a.shape[0]):
        v = abs(a[i])
        if v > largest or v != v:  # a NaN is kept: no comparison with it is true
            largest = v
    return largest


@inlined
def norm2(a):
    """The Euclidean norm of a vector."""
    return math.sqrt(dot(a, a))


@inlined
def all_finite(a):
    """True when no entry of the vector is NaN or +-Inf."""
    for i in range(a.shape[0]):
        if not math.isfinite(a[i]):
            return False
    return True


@inlined
def diff_norm_inf(a, b):
    """``||a - b||_inf``, without forming ``a - b`` (NaN if any difference is NaN)."""
    largest = 0.0
    for i in range(a.shape[0]):
        v = abs(a[i] - b[i])
        if v > largest or v != v:
            largest = v
    return largest


@inlined
def copy_vector(source, out):
    """``out[:] = source`` (an explicit loop: a slice assignment may allocate)."""
    for i in range(source.shape[0]):
        out[i] = source[i]


@inlined
def copy_matrix(source, out):
    """``out[:, :] = source`` for matrices of the same shape."""
    for i in range(source.shape[0]):
        for j in range(source.shape[1]):
            out[i, j] = source[i, j]


@inlined
def step_to(x, alpha, direction, out):
    """``out = x + alpha * direction``.  Returns whether ``out`` differs from ``x``
    (False when the step is too small to change ``x`` in floating point)."""
    moved = False
    for i in range(x.shape[0]):
        out[i] = x[i] + alpha * direction[i]
        moved |= out[i] != x[i]
    return moved


@inlined
def matvec(A, v, out):
    """``out = A @ v`` for a square matrix ``A``."""
    n = v.shape[0]
    for i in range(n):
        total = 0.0
        for j in range(n):
            total += A[i, j] * v[j]
        out[i] = total


@inlined
def set_scaled_identity(A, scale):
    """``A = scale * I``."""
    n = A.shape[0]
    for i in range(n):
        for j in range(n):
            A[i, j] = 0.0
        A[i, i] = scale


@inlined
def cholesky(A, shift, L):
    """Factor ``A + shift * I = L L^T`` into the lower triangle of ``L``.

    Only the lower triangle of ``A`` is read, and only the lower triangle of ``L`` is
    written (its strict upper triangle is left as it was).  Returns False, leaving ``L``
    partly written, when a pivot is not finite or not above :data:`PIVOT_RTOL` times its
    diagonal entry, i.e. when the shifted matrix is not numerically positive definite.
    Non-finite entries in the lower triangle of ``A`` reach a pivot, so they fail too.
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
        inverse = 1.0 / pivot
        for i in range(j + 1, n):
            total = A[i, j]
            for k in range(j):
                total -= L[i, k] * L[j, k]
            L[i, j] = total * inverse
    return True


@inlined
def cholesky_solve(L, b, out):
    """Solve ``L L^T out = b`` by a forward and a backward substitution (``out`` may be ``b``).

    Both passes run along the rows of ``L`` (contiguous): the forward one as dot
    products, the backward one as updates of the remaining right-hand side, so that
    neither waits on a long chain of additions; the divisions by the diagonal are
    reciprocals that do not wait on the substitution.  About twice as fast as dot
    products in both passes at n = 10.
    """
    n = b.shape[0]
    for i in range(n):  # L z = b
        total = b[i]
        for k in range(i):
            total -= L[i, k] * out[k]
        out[i] = total * (1.0 / L[i, i])
    for i in range(n - 1, -1, -1):  # L^T out = z: row i of L is column i of L^T
        value = out[i] * (1.0 / L[i, i])
        out[i] = value
        for k in range(i):
            out[k] -= L[i, k] * value
