"""The KKT system of the Newton-type constrained methods: assembly, an inertia-corrected
factorisation and solves, and least-squares multipliers.

The system ``[W + Sigma + dw I, A^T; A, -dc I]`` of a problem whose constraints
``d(w) = 0`` have the scaled Jacobian ``A = [diag(sc) J, -E]`` (``E`` selecting the
slack ``k = slack_of[i]`` of inequality ``i``; no slacks for the direct KKT method) is
assembled dense (lower triangle), factored by Bunch-Kaufman (:mod:`._linalg`) and
regularised until its inertia is right (Wächter and Biegler 2006, Alg. IC).
"""

from __future__ import annotations

import numpy as np

from ..solvers._jit import helper, inlined
from ._linalg import ldl_factor, ldl_solve

# inertia correction (WB Alg. IC)
DELTA_W_0 = 1e-4
DELTA_W_MIN = 1e-20
DELTA_W_MAX = 1e40
KAPPA_W_MINUS = 1.0 / 3.0
KAPPA_W_PLUS = 8.0
KAPPA_W_PLUS_BAR = 100.0
DELTA_C_BAR = 1e-8
KAPPA_C = 0.25
#: the least-squares multiplier estimate is dropped (0) when larger than this
MULTIPLIER_INIT_MAX = 1e3


@inlined
def jacobian_transpose_times(J, sc, slack_of, v, n, out):
    """``out = A^T v`` for the scaled Jacobian ``A = [diag(sc) J, -E]`` of ``d(w)``."""
    m = v.shape[0]
    for j in range(out.shape[0]):
        out[j] = 0.0
    for i in range(m):
        vi = sc[i] * v[i]
        for j in range(n):
            out[j] += J[i, j] * vi
        k = slack_of[i]
        if k >= 0:
            out[n + k] -= v[i]


@helper
def assemble(K, H, J, sc, slack_of, sigma, fixed, delta_w, delta_c, n, identity):
    """The lower triangle of the KKT matrix ``[W + Sigma + delta_w I, A^T; A, -delta_c I]``
    (``W = I`` and no ``Sigma`` when ``identity``: the least-squares multiplier system);
    a fixed variable's row and column are those of the identity."""
    N = sigma.shape[0]
    m = sc.shape[0]
    size = N + m
    for i in range(size):
        for j in range(i + 1):
            K[i, j] = 0.0
    for i in range(N):
        if identity:
            K[i, i] = 1.0
        else:
            if i < n:
                for j in range(i + 1):
                    K[i, j] = H[i, j]
            K[i, i] += sigma[i] + delta_w
    for i in range(m):
        r = N + i
        for j in range(n):
            K[r, j] = sc[i] * J[i, j]
        k = slack_of[i]
        if k >= 0:
            K[r, n + k] = -1.0
        K[r, r] = -delta_c
    for j in range(n):
        if fixed[j] != 0.0:
            for i in range(size):
                if i > j:
                    K[i, j] = 0.0
                elif i < j:
                    K[j, i] = 0.0
            K[j, j] = 1.0


@inlined
def symmetric_times(K, v, out):
    """``out = K v`` for the symmetric matrix whose lower triangle is in ``K``."""
    size = v.shape[0]
    for i in range(size):
        out[i] = 0.0
    for i in range(size):
        out[i] += K[i, i] * v[i]
        for j in range(i):
            out[i] += K[i, j] * v[j]
            out[j] += K[i, j] * v[i]


@helper
def factor_with_inertia(K, F, pivots, scale, H, J, sc, slack_of, sigma, fixed, n, mu, delta_w_last):
    """Assemble and factor the KKT matrix, regularising it until its inertia is
    ``(N, m, 0)`` (WB Alg. IC).  Returns ``(ok, delta_w, delta_c)``; ``F`` holds the
    factors and ``K`` the regularised matrix."""
    N = sigma.shape[0]
    m = sc.shape[0]
    size = N + m
    delta_w = 0.0
    delta_c = 0.0
    assemble(K, H, J, sc, slack_of, sigma, fixed, delta_w, delta_c, n, False)
    for i in range(size):
        for j in range(i + 1):
            F[i, j] = K[i, j]
    positive, negative, zero = ldl_factor(F, pivots, scale)
    if positive < 0:
        return False, 0.0, 0.0
    if positive == N and negative == m and zero == 0:
        return True, 0.0, 0.0
    if zero > 0:
        delta_c = DELTA_C_BAR * mu ** KAPPA_C
    if delta_w_last == 0.0:
        delta_w = DELTA_W_0
    else:
        delta_w = max(DELTA_W_MIN, KAPPA_W_MINUS * delta_w_last)
    while delta_w <= DELTA_W_MAX:
        assemble(K, H, J, sc, slack_of, sigma, fixed, delta_w, delta_c, n, False)
        for i in range(size):
            for j in range(i + 1):
                F[i, j] = K[i, j]
        positive, negative, zero = ldl_factor(F, pivots, scale)
        if positive < 0:
            return False, 0.0, 0.0
        if positive == N and negative == m and zero == 0:
            return True, delta_w, delta_c
        if zero > 0 and delta_c == 0.0:
            delta_c = DELTA_C_BAR * mu ** KAPPA_C
        delta_w *= KAPPA_W_PLUS_BAR if delta_w_last == 0.0 else KAPPA_W_PLUS
    return False, 0.0, 0.0


@helper
def solve_refined(K, F, pivots, rhs, sol, residual):
    """Solve ``K sol = rhs`` with the factors ``F``, plus one step of iterative refinement
    when it reduces the residual (the regularised system is solved; the refinement only
    removes rounding errors of the factorisation)."""
    size = rhs.shape[0]
    for i in range(size):
        sol[i] = rhs[i]
    ldl_solve(F, pivots, sol)
    symmetric_times(K, sol, residual)
    scale = 0.0
    error = 0.0
    for i in range(size):
        residual[i] = rhs[i] - residual[i]
        scale = max(scale, abs(rhs[i]))
        error = max(error, abs(residual[i]))
    if error > 1e-14 * max(scale, 1e-300) and error < np.inf:
        ldl_solve(F, pivots, residual)
        for i in range(size):
            sol[i] += residual[i]


@helper
def least_squares_multipliers(K, F, pivots, scale, H, J, sc, slack_of, sigma, fixed, n, gf, zl, zu,
                              rhs, sol, residual, y):
    """``y`` from ``[I A^T; A 0][v; y] = [-(grad f - zl + zu); 0]`` (Ipopt's least-squares
    estimate), or 0 when it is larger than :data:`MULTIPLIER_INIT_MAX` or the system is
    singular."""
    N = sigma.shape[0]
    m = y.shape[0]
    if m == 0:
        return
    assemble(K, H, J, sc, slack_of, sigma, fixed, 0.0, 0.0, n, True)
    size = N + m
    for i in range(size):
        for j in range(i + 1):
            F[i, j] = K[i, j]
    positive, negative, zero = ldl_factor(F, pivots, scale)
    ok = positive == N and negative == m and zero == 0
    if ok:
        for j in range(N):
            rhs[j] = -(gf[j] - zl[j] + zu[j]) if fixed[j] == 0.0 else 0.0
        for i in range(m):
            rhs[N + i] = 0.0
        solve_refined(K, F, pivots, rhs[:size], sol[:size], residual[:size])
        largest = 0.0
        for i in range(m):
            y[i] = sol[N + i]
            largest = max(largest, abs(y[i]))
        ok = largest <= MULTIPLIER_INIT_MAX
    if not ok:
        for i in range(m):
            y[i] = 0.0
