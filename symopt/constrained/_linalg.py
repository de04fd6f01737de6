"""Dense symmetric indefinite factorisation with inertia, for KKT systems.

A Newton step of a constrained method solves a KKT system

    [ W + D_w   A^T ] [dx]   = - [r_d]
    [ A        -D_c ] [dy]       [r_p]

whose matrix is symmetric and indefinite.  Its *inertia* (the numbers of positive,
negative and zero eigenvalues) tells whether the step is a descent step: it is when the
inertia is ``(n, m, 0)``, i.e. ``W + D_w`` is positive definite on the null space of
``A`` and ``A`` has full row rank (Nocedal & Wright, Thm. 16.3; Wächter & Biegler 2006,
sec. 3.1).  :func:`ldl_factor` factors ``K = P L D L^T P^T`` by Bunch and Kaufman's
partial pivoting (LAPACK's ``dsytf2``, lower triangle, pivot threshold
``alpha = (1 + sqrt(17))/8``), with ``D`` block diagonal (1x1 and 2x2 blocks), and
counts the inertia from ``D`` (Sylvester's law of inertia); :func:`ldl_solve` then
solves with it.  Plain loops over small dense arrays, as :mod:`symopt.solvers.linalg`;
no allocation, no exceptions.  Both are compiled on their own (:data:`.._jit.helper`),
not inlined: an O(n^3) factorisation does not notice the cost of a call, and inlining
it into every caller multiplied the solvers' compile time.
"""

from __future__ import annotations

import math

import numpy as np

from ..solvers._jit import helper, inlined

#: Bunch-Kaufman's pivot threshold: bounds the growth of the factors' entries.
ALPHA = (1.0 + math.sqrt(17.0)) / 8.0
#: A pivot of D below this fraction of the largest entry of its row of K (the row as
#: it was before the factorisation, followed through the interchanges) counts as a zero
#: eigenvalue: K is singular to working precision.  Relative to the row, not to the
#: whole matrix: a regularised KKT matrix ``[W + delta I, A^T; A, 0]`` with a large
#: ``delta`` has small but genuine negative eigenvalues ``-|a|^2 / delta``.
ZERO_PIVOT_RTOL = 1e3 * np.finfo(np.float64).eps


@inlined
def _swap(a, i, j):
    t = a[i]
    a[i] = a[j]
    a[j] = t


@helper
def ldl_factor(K, pivots, scale):  # noqa: C901 (one numerical loop, kept whole like its reference)
    """Factor the symmetric matrix whose lower triangle is in ``K``, in place: on return
    the lower triangle of ``K`` holds ``L`` (unit diagonal not stored) and the blocks of
    ``D``, and ``pivots`` (float64[n], integer values) the interchanges (LAPACK's ``ipiv``,
    zero-based: ``k >= 0`` a 1x1 block after swapping with row ``k``; ``-(k + 1)`` for
    both rows of a 2x2 block after swapping its second row with row ``k``).

    Returns ``(positive, negative, zero)``, the inertia of the matrix; ``zero`` counts the
    pivots below :data:`ZERO_PIVOT_RTOL` times the largest entry of their row (``scale``,
    float64[n], is workspace for those row sizes); every count is ``-1`` when the matrix
    has a NaN or Inf: no factorisation.  The strict upper triangle of ``K`` is not read."""
    n = K.shape[0]
    for i in range(n):
        scale[i] = 0.0
    for i in range(n):
        for j in range(i + 1):
            v = abs(K[i, j])
            if not v < np.inf:  # NaN or Inf
                return -1, -1, -1
            if v > scale[i]:
                scale[i] = v
            if v > scale[j]:
                scale[j] = v
    positive = 0
    negative = 0
    zero = 0
    k = 0
    while k < n:
        kstep = 1
        absakk = abs(K[k, k])
        imax = k
        colmax = 0.0
        for i in range(k + 1, n):
            v = abs(K[i, k])
            if v > colmax:
                colmax = v
                imax = i
        if max(absakk, colmax) <= ZERO_PIVOT_RTOL * scale[k]:
            # a zero column: a zero eigenvalue; continue with a zero pivot left as it is
            pivots[k] = k
            K[k, k] = 0.0
            for i in range(k + 1, n):
                K[i, k] = 0.0
            zero += 1
            k += 1
            continue
        if absakk >= ALPHA * colmax:
            kp = k
        else:
            rowmax = 0.0
            for j in range(k, imax):  # row imax, left of the diagonal
                v = abs(K[imax, j])
                if v > rowmax:
                    rowmax = v
            for i in range(imax + 1, n):  # column imax, below the diagonal
                v = abs(K[i, imax])
                if v > rowmax:
                    rowmax = v
            if absakk >= ALPHA * colmax * (colmax / rowmax):
                kp = k
            elif abs(K[imax, imax]) >= ALPHA * rowmax:
                kp = imax
            else:
                kp = imax
                kstep = 2
        kk = k + kstep - 1
        if kp != kk:
            # symmetric interchange of rows and columns kk and kp of the trailing matrix
            for i in range(kp + 1, n):
                t = K[i, kk]
                K[i, kk] = K[i, kp]
                K[i, kp] = t
            for j in range(kk + 1, kp):
                t = K[j, kk]
                K[j, kk] = K[kp, j]
                K[kp, j] = t
            t = K[kk, kk]
            K[kk, kk] = K[kp, kp]
            K[kp, kp] = t
            _swap(scale, kk, kp)
            if kstep == 2:
                t = K[k + 1, k]
                K[k + 1, k] = K[kp, k]
                K[kp, k] = t
        if kstep == 1:
            d = K[k, k]
            if abs(d) <= ZERO_PIVOT_RTOL * scale[k]:
                zero += 1
                pivots[k] = kp
                K[k, k] = 0.0
                for i in range(k + 1, n):
                    K[i, k] = 0.0
                k += 1
                continue
            if d > 0.0:
                positive += 1
            else:
                negative += 1
            r = 1.0 / d
            for j in range(k + 1, n):
                t = K[j, k] * r
                for i in range(j, n):
                    K[i, j] -= K[i, k] * t
            for i in range(k + 1, n):
                K[i, k] *= r
            pivots[k] = kp
        else:
            a = K[k, k]
            b = K[k + 1, k]
            c = K[k + 1, k + 1]
            det = a * c - b * b
            # the 2x2 block's eigenvalues: signs from its determinant and trace
            if det < 0.0:
                positive += 1
                negative += 1
            elif det > 0.0:
                if a + c > 0.0:
                    positive += 2
                else:
                    negative += 2
            elif det == 0.0:  # not reached in practice: a 2x2 block is chosen for its large
                # off-diagonal entry, so det ~ -b**2
                zero += 1
                if a + c > 0.0:
                    positive += 1
                else:
                    negative += 1
            if k + 2 < n:
                d21 = b
                d11 = c / d21
                d22 = a / d21
                t = 1.0 / (d11 * d22 - 1.0)
                d21 = t / d21
                for j in range(k + 2, n):
                    wk = d21 * (d11 * K[j, k] - K[j, k + 1])
                    wkp1 = d21 * (d22 * K[j, k + 1] - K[j, k])
                    for i in range(j, n):
                        K[i, j] -= K[i, k] * wk + K[i, k + 1] * wkp1
                    K[j, k] = wk
                    K[j, k + 1] = wkp1
            pivots[k] = -(kp + 1)
            pivots[k + 1] = -(kp + 1)
        k += kstep
    return positive, negative, zero


@helper
def ldl_solve(K, pivots, b):
    """Solve with the factorisation of :func:`ldl_factor`, in place in ``b``.  A zero
    pivot (a singular matrix) gives a zero component instead of a division by zero."""
    n = b.shape[0]
    k = 0
    while k < n:  # P L D z = b, forward
        if pivots[k] >= 0:
            kp = int(pivots[k])
            if kp != k:
                _swap(b, k, kp)
            bk = b[k]
            for i in range(k + 1, n):
                b[i] -= K[i, k] * bk
            d = K[k, k]
            b[k] = bk / d if d != 0.0 else 0.0
            k += 1
        else:
            kp = int(-pivots[k]) - 1
            if kp != k + 1:
                _swap(b, k + 1, kp)
            bk = b[k]
            bk1 = b[k + 1]
            for i in range(k + 2, n):
                b[i] -= K[i, k] * bk + K[i, k + 1] * bk1
            akm1k = K[k + 1, k]
            akm1 = K[k, k] / akm1k
            ak = K[k + 1, k + 1] / akm1k
            denom = akm1 * ak - 1.0
            bkm1 = bk / akm1k
            bkk = bk1 / akm1k
            if denom != 0.0:
                b[k] = (ak * bkm1 - bkk) / denom
                b[k + 1] = (akm1 * bkk - bkm1) / denom
            else:
                b[k] = 0.0
                b[k + 1] = 0.0
            k += 2
    k = n - 1
    while k >= 0:  # L^T P^T x = z, backward
        if pivots[k] >= 0:
            total = b[k]
            for i in range(k + 1, n):
                total -= K[i, k] * b[i]
            b[k] = total
            kp = int(pivots[k])
            if kp != k:
                _swap(b, k, kp)
            k -= 1
        else:
            total = b[k]
            total1 = b[k - 1]
            for i in range(k + 1, n):
                total -= K[i, k] * b[i]
                total1 -= K[i, k - 1] * b[i]
            b[k] = total
            b[k - 1] = total1
            kp = int(-pivots[k]) - 1
            if kp != k:
                _swap(b, k, kp)
            k -= 2
