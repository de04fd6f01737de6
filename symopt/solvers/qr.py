"""Householder QR with column pivoting and the least-squares solves built on it, after
MINPACK (Moré, Garbow & Hillstrom, Argonne 1980; Moré, "The Levenberg-Marquardt
algorithm: implementation and theory", 1978): ``qrfac``, ``qrsolv`` and ``lmpar``.

The normal equations ``J^T J d = -J^T r`` are never formed: they square the condition
number of ``J``, and badly scaled regression problems lose half their digits that way.

Storage.  The m x n Jacobian is copied *transposed* into an ``n x mm`` C-order work
matrix ``A`` (``mm = max(m, n)``; rows ``m..mm-1`` of J are zero padding), so that
column ``j`` of ``J`` is the contiguous row ``A[j]`` and every inner loop below runs
over contiguous memory.  After :func:`qrfac`:

* ``R[i, j]`` for ``i <= j`` (upper triangle of R) is ``A[j, i]``; the diagonal is
  also in ``rdiag``;
* column ``j`` of ``J P`` is column ``ipvt[j]`` of ``J`` (``J P = Q R``);
* ``A[j, i]`` for ``i > j`` first holds the Householder vectors, then (after
  :func:`qrsolv`) the strict lower triangle of the matrix ``S`` with
  ``P^T (J^T J + D^2) P = S^T S``, written ``S[i, j] = A[j, i]`` for ``i > j``.

Everything here works in place on caller-provided arrays and never allocates.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import helper, inlined

EPS = np.finfo(np.float64).eps
#: The smallest positive normal double (MINPACK's ``dwarf``).
DWARF = np.finfo(np.float64).tiny
#: Sums of squares outside [SQ_LOW, SQ_HIGH] are recomputed with scaling, so that norms
#: neither overflow nor lose digits to underflow (MINPACK's enorm, done in two passes).
SQ_LOW = 1e-290
SQ_HIGH = 1e290
#: Loop indices of this type (``range(_U(lo), _U(hi))``) are known to be non-negative,
#: so Numba does not wrap them around (a negative index counting from the end): the
#: inner loops then vectorise (measured in docs/performance.md).
#: Mix them with other integers only as indices (uint64 + int64 is a float in Numba).
_U = np.uint64
#: lmpar: relative accuracy of ||D x|| = delta, and iteration limit (MINPACK's values).
LMPAR_RTOL = 0.1
LMPAR_MAX_ITER = 10


# --- norms and copies ---------------------------------------------------------------------


@inlined
def _enorm_scaled(a, lo, hi):
    largest = 0.0
    for i in range(lo, hi):
        v = abs(a[i])
        if v > largest:
            largest = v
        elif v != v:
            return np.nan
    if largest == 0.0 or not math.isfinite(largest):
        return largest
    total = 0.0
    for i in range(lo, hi):
        v = a[i] / largest
        total += v * v
    return largest * math.sqrt(total)


@inlined
def dot_range(a, b, lo, hi):
    """``sum(a[lo:hi] * b[lo:hi])`` with four partial sums: a sum in one accumulator
    waits on the latency of every addition; four interleaved ones run about three times
    faster on long columns (and are no less accurate)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    i = lo
    while i + 4 <= hi:
        s0 += a[i] * b[i]
        s1 += a[i + 1] * b[i + 1]
        s2 += a[i + 2] * b[i + 2]
        s3 += a[i + 3] * b[i + 3]
        i += 4
    while i < hi:
        s0 += a[i] * b[i]
        i += 1
    return (s0 + s1) + (s2 + s3)


@inlined
def enorm(a, lo, hi):
    """The Euclidean norm of ``a[lo:hi]`` without overflow or underflow (NaN if an
    entry is NaN, Inf if one is Inf)."""
    total = dot_range(a, a, lo, hi)
    if SQ_LOW < total < SQ_HIGH:
        return math.sqrt(total)
    return _enorm_scaled(a, lo, hi)


@inlined
def scaled_norm(d, v, work):
    """``||d * v||_2`` (elementwise product), using ``work`` (length n)."""
    n = v.shape[0]
    for j in range(n):
        work[j] = d[j] * v[j]
    return enorm(work, 0, n)


@inlined
def load_transposed(J, A):
    """``A[j, i] = J[i, j]`` for ``i < m``, zero for ``m <= i < mm`` (padding)."""
    m = J.shape[0]
    n = A.shape[0]
    mm = A.shape[1]
    for j in range(n):
        # contiguous stores, strided loads: about twice as fast as the other order
        for i in range(m):
            A[j, i] = J[i, j]
        for i in range(m, mm):
            A[j, i] = 0.0


@inlined
def matrix_finite(J):
    """Whether every entry of the (C-ordered) matrix is finite: ``v - v`` is 0 for a
    finite ``v`` and NaN for Inf or NaN.  No early exit, so the loop vectorises (several
    times faster than testing each entry with ``math.isfinite`` and returning at the
    first failure, and this runs at every Jacobian evaluation)."""
    flat = J.reshape(J.size)
    finite = True
    for i in range(flat.shape[0]):
        v = flat[i]
        finite &= (v - v) == 0.0
    return finite


# --- QR factorisation ---------------------------------------------------------------------


@inlined
def qrfac(A, ipvt, rdiag, acnorm, wa, b, qtb):
    """Householder QR with column pivoting of ``J`` (stored as ``A = J^T``), in place,
    and ``b <- Q^T b``: MINPACK's ``qrfac`` with ``pivot = true`` followed by lmder's
    product ``Q^T r``, in one pass.

    At step ``j`` the remaining column of largest (updated) norm is swapped into
    position ``j``, so ``|R[j, j]|`` does not increase with ``j`` and a rank
    deficiency shows as trailing small diagonal entries.  On return ``rdiag`` holds the
    diagonal of R, ``acnorm`` the norms of the columns of the *input* J (in the original
    order), ``ipvt`` the permutation, ``A`` the upper triangle of R (its diagonal too)
    and below it the Householder vectors without their leading entries (see the module
    docstring), ``b`` (length mm: the residuals, zero-padded) is ``Q^T b`` and
    ``qtb = (Q^T b)[:n]``.  ``wa`` is work (length n).

    The arithmetic is MINPACK's, operation for operation, with three shortcuts that do
    not change a bit of the result: reflector ``j`` is applied to ``b`` as soon as it is
    formed (lmder applies them all afterwards, in the same order: the same operations,
    which can now overlap with the factorisation's); the pivot column's norm at step 0 is
    the column norm already computed; and the downdated column norms are not computed
    at the last two steps, where no later pivot choice among two or more columns reads
    them.  (For m = 20, n = 3 the three save 15% of the factorisation.)
    """
    n = A.shape[0]
    mm = A.shape[1]
    for j in range(n):
        acnorm[j] = enorm(A[j], 0, mm)
        rdiag[j] = acnorm[j]
        wa[j] = rdiag[j]
        ipvt[j] = j
    for j in range(min(mm, n)):
        # bring the column of largest norm into the pivot position
        kmax = j
        for k in range(j, n):
            if rdiag[k] > rdiag[kmax]:
                kmax = k
        # the pivot column's norm (at j = 0: acnorm[kmax], the same enorm of the same
        # entries)
        ajnorm = wa[kmax] if j == 0 else enorm(A[kmax], j, mm)
        if kmax != j:
            for i in range(_U(mm)):
                temp = A[j, i]
                A[j, i] = A[kmax, i]
                A[kmax, i] = temp
            rdiag[kmax] = rdiag[j]
            wa[kmax] = wa[j]
            k = ipvt[j]
            ipvt[j] = ipvt[kmax]
            ipvt[kmax] = k
        # the Householder transformation that reduces column j to a multiple of e_j
        if ajnorm != 0.0:
            if A[j, j] < 0.0:
                ajnorm = -ajnorm
            for i in range(_U(j), _U(mm)):
                A[j, i] /= ajnorm
            A[j, j] += 1.0
            # apply it to b (A[j, j] >= 1 here)
            temp = -dot_range(A[j], b, j, mm) / A[j, j]
            for i in range(_U(j), _U(mm)):
                b[i] += A[j, i] * temp
            # apply it to the remaining columns and downdate their norms (read only by
            # the pivot choices of later steps among two or more columns)
            downdate = j + 2 < n
            for k in range(j + 1, n):
                temp = dot_range(A[j], A[k], j, mm) / A[j, j]
                for i in range(_U(j), _U(mm)):
                    A[k, i] -= temp * A[j, i]
                if downdate and rdiag[k] != 0.0:
                    temp = A[k, j] / rdiag[k]
                    rdiag[k] *= math.sqrt(max(0.0, 1.0 - temp * temp))
                    ratio = rdiag[k] / wa[k]
                    if 0.05 * ratio * ratio <= EPS:
                        # cancellation: recompute the norm instead of downdating it
                        rdiag[k] = enorm(A[k], j + 1, mm)
                        wa[k] = rdiag[k]
        rdiag[j] = -ajnorm
        # reflector j is applied everywhere: R's diagonal entry replaces its leading
        # entry, and b[j] is final
        A[j, j] = rdiag[j]
        qtb[j] = b[j]


@inlined
def r_times(A, ipvt, v, out):
    """``out = R P^T v``.  Row by row, each sum in a register, its terms added in
    MINPACK's order (j increasing) so the result is lmder's bit for bit: accumulating
    in ``out`` column by column, as lmder does, waits on a store and a load per term."""
    n = A.shape[0]
    for i in range(n):
        total = 0.0
        for j in range(i, n):
            total += A[j, i] * v[ipvt[j]]
        out[i] = total


@inlined
def gradient_measures(A, ipvt, qtb, colscale, acnorm, fnorm):
    """From the factorisation of ``J C^{-1}`` (``C = diag(colscale)``, the factors the
    columns were divided by): the gradient ``J^T r = C P R^T Q^T r`` measured two ways.

    Returns ``(cosine, grad_inf)``: MINPACK's scale-invariant
    ``max_j |(J^T r)_j| / (||J_j|| ||r||)``, the largest cosine of the angle between
    r and a column of J (0 when ``||r|| = 0``; zero columns are skipped), and
    ``||J^T r||_inf``.  ``acnorm`` holds the column norms of the unscaled J.
    """
    n = A.shape[0]
    cosine = 0.0
    grad_inf = 0.0
    if fnorm == 0.0:
        return cosine, grad_inf
    for j in range(n):
        total = 0.0
        for i in range(j + 1):
            total += A[j, i] * qtb[i]
        col = ipvt[j]
        g = abs(total) * colscale[col]
        grad_inf = max(grad_inf, g)
        if acnorm[col] != 0.0:
            cosine = max(cosine, g / fnorm / acnorm[col])
    return cosine, grad_inf


# --- least-squares solves -----------------------------------------------------------------


@inlined
def numerical_rank(A, rtol):
    """The number of leading diagonal entries of R above ``rtol * |R[0, 0]|`` (with
    column pivoting they do not increase, so the rest are treated as zero)."""
    n = A.shape[0]
    if n == 0:
        return 0
    threshold = rtol * abs(A[0, 0])
    k = 0
    while k < n and abs(A[k, k]) > threshold:
        k += 1
    return k


@inlined
def solve_leading(A, k, b, z):
    """Solve ``R[:k, :k] z = b[:k]`` by back substitution (``z`` may be ``b``)."""
    for j in range(k - 1, -1, -1):
        total = b[j]
        for i in range(j + 1, k):
            total -= A[i, j] * z[i]
        z[j] = total / A[j, j]


@inlined
def min_norm_solve(A, k, c, T, u0, z):
    """The minimum-norm solution ``z`` (length n, pivoted order) of the first ``k`` rows
    of ``R z = c``, i.e. of ``[R11 R12] z = c[:k]`` with ``R11`` (k x k) nonsingular.

    For ``k = n`` this is back substitution.  Otherwise ``[R11 R12]`` is reduced to
    ``[U 0]`` by Householder reflections from the right, each mixing column ``i`` with
    the trailing columns ``k..n-1`` (LAPACK's xTZRZF), and ``z = H_{k-1}..H_0 [U^-1 c; 0]``
    lies in the row space: the complete orthogonal decomposition, no normal equations.
    ``T`` (n x n) and ``u0`` (n) are work.
    """
    n = A.shape[0]
    if k == n:
        solve_leading(A, k, c, z)
        return
    # T = [R11 R12] (row i of R: R[i, j] = A[j, i])
    for i in range(k):
        for j in range(n):
            T[i, j] = A[j, i] if j >= i else 0.0
    for i in range(k - 1, -1, -1):
        # the reflector zeroing T[i, k:] against T[i, i]
        norm_sq = T[i, i] * T[i, i]
        for j in range(k, n):
            norm_sq += T[i, j] * T[i, j]
        alpha = -math.copysign(math.sqrt(norm_sq), T[i, i])
        u0[i] = T[i, i] - alpha
        unorm_sq = norm_sq - T[i, i] * T[i, i] + u0[i] * u0[i]
        T[i, i] = alpha
        if unorm_sq == 0.0:
            u0[i] = 0.0  # R12 row already zero: the identity
            continue
        scale = 2.0 / unorm_sq
        for row in range(i):
            total = u0[i] * T[row, i]
            for j in range(k, n):
                total += T[i, j] * T[row, j]
            f = scale * total
            T[row, i] -= f * u0[i]
            for j in range(k, n):
                T[row, j] -= f * T[i, j]
        # keep scale with the vector: T[i, k:] now holds u[1:], u0[i] its first entry
        u0[i] *= math.sqrt(scale)
        for j in range(k, n):
            T[i, j] *= math.sqrt(scale)
    # U w = c (U upper triangular in T[:k, :k]), then z = H_{k-1} .. H_0 [w; 0]
    for i in range(k - 1, -1, -1):
        total = c[i]
        for j in range(i + 1, k):
            total -= T[i, j] * z[j]
        z[i] = total / T[i, i]
    for j in range(k, n):
        z[j] = 0.0
    for i in range(k):
        # H_i = I - v v^T with v = (u0[i] at i, T[i, k:] at k..n-1), ||v||^2 = 2
        total = u0[i] * z[i]
        for j in range(k, n):
            total += T[i, j] * z[j]
        z[i] -= total * u0[i]
        for j in range(k, n):
            z[j] -= total * T[i, j]


@inlined
def qrsolv(A, ipvt, d, qtb, x, sdiag, wa):
    """MINPACK's ``qrsolv``: the least-squares solution ``x`` of

        J x = b,   D x = 0       (D = diag(d))

    given ``J P = Q R`` (in ``A``) and ``qtb = (Q^T b)[:n]``.  Givens rotations reduce
    ``[R; P^T D P]`` to an upper triangle ``S`` (diagonal into ``sdiag``, strict lower
    part of ``S^T`` into ``A``, R's diagonal restored); a singular ``S`` gives a
    least-squares solution with trailing components zero.  ``wa`` is work."""
    n = A.shape[0]
    # copy R's upper triangle into S^T's lower one; save R's diagonal in x
    for j in range(n):
        for i in range(j, n):
            A[j, i] = A[i, j]
        x[j] = A[j, j]
        wa[j] = qtb[j]
    # eliminate the diagonal matrix d by Givens rotations, row by row
    for j in range(n):
        dj = d[ipvt[j]]
        if dj != 0.0:
            for k in range(j, n):
                sdiag[k] = 0.0
            sdiag[j] = dj
            # the rotations change one element of (Q^T b, 0) beyond the first n
            qtbpj = 0.0
            for k in range(j, n):
                if sdiag[k] == 0.0:
                    continue
                rkk = A[k, k]
                if abs(rkk) < abs(sdiag[k]):
                    cotan = rkk / sdiag[k]
                    sin = 0.5 / math.sqrt(0.25 + 0.25 * cotan * cotan)
                    cos = sin * cotan
                else:
                    tan = sdiag[k] / rkk
                    cos = 0.5 / math.sqrt(0.25 + 0.25 * tan * tan)
                    sin = cos * tan
                A[k, k] = cos * rkk + sin * sdiag[k]
                temp = cos * wa[k] + sin * qtbpj
                qtbpj = -sin * wa[k] + cos * qtbpj
                wa[k] = temp
                for i in range(k + 1, n):
                    aki = A[k, i]
                    temp = cos * aki + sin * sdiag[i]
                    sdiag[i] = -sin * aki + cos * sdiag[i]
                    A[k, i] = temp
        # the diagonal of S; restore that of R
        sdiag[j] = A[j, j]
        A[j, j] = x[j]
    # solve S z = wa; if S is singular, a least-squares solution
    nsing = n
    for j in range(n):
        if sdiag[j] == 0.0 and nsing == n:
            nsing = j
        if nsing < n:
            wa[j] = 0.0
    for j in range(nsing - 1, -1, -1):
        total = 0.0
        for i in range(j + 1, nsing):
            total += A[j, i] * wa[i]
        wa[j] = (wa[j] - total) / sdiag[j]
    for j in range(n):
        x[ipvt[j]] = wa[j]


@helper
def lmpar(A, ipvt, diag, qtb, delta, par, x, sdiag, wa1, wa2):  # noqa: C901 (one numerical loop, kept whole like its reference)
    """MINPACK's ``lmpar``: the Levenberg-Marquardt parameter ``par >= 0`` for which
    the solution ``x`` of ``J x = b, sqrt(par) D x = 0`` (least squares) satisfies
    ``| ||D x|| - delta | <= 0.1 delta`` (or ``par = 0`` and ``||D x|| <= 1.1 delta``:
    the Gauss-Newton step fits in the trust region).

    Newton's method on ``phi(par) = ||D x(par)|| - delta``, safeguarded by the bounds
    ``parl <= par <= paru``, usually in 1-3 solves of :func:`qrsolv`; at most 10.
    ``par`` on input is the previous value (a good start).  Returns the new ``par``;
    ``x`` is the step (with the sign of ``J x = b``: the caller passes b = r and
    negates).  ``sdiag``, ``wa1``, ``wa2`` are work (length n).
    """
    n = A.shape[0]
    # the Gauss-Newton direction; for a rank-deficient J, a least-squares solution
    nsing = n
    for j in range(n):
        wa1[j] = qtb[j]
        if A[j, j] == 0.0 and nsing == n:
            nsing = j
        if nsing < n:
            wa1[j] = 0.0
    for j in range(nsing - 1, -1, -1):
        wa1[j] /= A[j, j]
        temp = wa1[j]
        for i in range(j):
            wa1[i] -= A[j, i] * temp
    for j in range(n):
        x[ipvt[j]] = wa1[j]
    # accept it if it lies within the trust region
    for j in range(n):
        wa2[j] = diag[j] * x[j]
    dxnorm = enorm(wa2, 0, n)
    fp = dxnorm - delta
    if fp <= LMPAR_RTOL * delta:
        return 0.0
    # lower bound parl from the Newton step (zero if J is rank deficient)
    parl = 0.0
    if nsing >= n:
        for j in range(n):
            col = ipvt[j]
            wa1[j] = diag[col] * (wa2[col] / dxnorm)
        for j in range(n):
            total = 0.0
            for i in range(j):
                total += A[j, i] * wa1[i]
            wa1[j] = (wa1[j] - total) / A[j, j]
        temp = enorm(wa1, 0, n)
        parl = fp / delta / temp / temp
    # upper bound paru from the scaled gradient
    for j in range(n):
        total = 0.0
        for i in range(j + 1):
            total += A[j, i] * qtb[i]
        wa1[j] = total / diag[ipvt[j]]
    gnorm = enorm(wa1, 0, n)
    paru = gnorm / delta
    if paru == 0.0:
        paru = DWARF / min(delta, 0.1)
    par = min(max(par, parl), paru)
    if par == 0.0:
        par = gnorm / dxnorm
    for iteration in range(1, LMPAR_MAX_ITER + 1):
        if par == 0.0:
            par = max(DWARF, 0.001 * paru)
        temp = math.sqrt(par)
        for j in range(n):
            wa1[j] = temp * diag[j]
        qrsolv(A, ipvt, wa1, qtb, x, sdiag, wa2)
        for j in range(n):
            wa2[j] = diag[j] * x[j]
        dxnorm = enorm(wa2, 0, n)
        temp = fp
        fp = dxnorm - delta
        # accept par if ||D x|| is close enough to delta, or if it is bounded below
        # by 0 and phi is negative and increasing (then par is as good as it gets)
        if (abs(fp) <= LMPAR_RTOL * delta or (parl == 0.0 and fp <= temp and temp < 0.0)
                or iteration == LMPAR_MAX_ITER or dxnorm == 0.0):
            break
        # Newton correction
        for j in range(n):
            col = ipvt[j]
            wa1[j] = diag[col] * (wa2[col] / dxnorm)
        for j in range(n):
            wa1[j] /= sdiag[j]
            temp = wa1[j]
            for i in range(j + 1, n):
                wa1[i] -= A[j, i] * temp
        temp = enorm(wa1, 0, n)
        parc = fp / delta / temp / temp
        if fp > 0.0:
            parl = max(parl, par)
        if fp < 0.0:
            paru = min(paru, par)
        par = max(parl, par + parc)
    return par
