"""Newton's method for large array problems: one line-search driver and one trust-region
driver, each taking its linear algebra as a piece.

A method here is a pairing (as optimistix builds its minimisers from a descent and a
search): a *direction* piece says how the Newton equations ``H z = -g`` are solved, a
*driver* says how far to go.

Drivers (their bookkeeping, termination test and final status are those of
:mod:`symopt.solvers`: :func:`~symopt.solvers._common.start`, ``end_iteration``,
``genuine_status``, so a status means here what it means for the scalar solvers):

:func:`make_line_search_newton` Armijo backtracking from the unit step along the piece's
                                direction (Nocedal & Wright, Alg. 3.1 and 7.1).
:func:`make_trust_region`       the step is the piece's approximate minimiser of the
                                quadratic model inside a radius that follows the ratio of
                                actual to predicted decrease, with the constants and the
                                stopping rules of :mod:`symopt.solvers.trust_region`.

Directions and subproblems:

``newton-cg``     conjugate gradients on Hessian-vector products (``hvp`` kernel: one
                  fused pass, as cheap as a gradient), truncated at the relative residual
                  ``min(0.5, sqrt(||g||))`` (superlinear convergence; N&W Thm. 7.2) or at
                  the first direction of non-positive curvature (N&W Alg. 7.1: the iterate
                  so far, or ``-g`` if that is the first direction).  Line search.
``trust-ncg``     the same CG inside the trust region (Steihaug 1983, N&W Alg. 7.2): a step
                  that leaves the region, or meets negative curvature, ends on its boundary.
``banded-newton`` the exact band Hessian (``hess_band`` kernel) factored by Gill and
                  Murray's modified Cholesky in O(n b^2).  Line search.
``sparse-newton`` the exact CSR Hessian (``hess_coo`` kernel, scattered into the CSR
                  values).  When a band-reducing ordering (reverse Cuthill-McKee, computed
                  once per size by :mod:`symopt.tensor.minimize`) makes it narrowly banded,
                  it is permuted into band storage and factored by the same modified
                  Cholesky, whose pivots are modified one by one where the Hessian is not
                  positive definite; otherwise CG preconditioned with the diagonal, truncated
                  as ``newton-cg``'s.  Line search.

Why the factorisation: a CG on the whole system shares one step length and one curvature
test among all its blocks, so on a separable loss (extended Rosenbrock: n/2 independent
2 x 2 blocks) the first block whose curvature is negative ends the CG for every block,
and the others get a truncated step.  The modified Cholesky changes only the offending
pivots: every block takes its own Newton step, as banded-newton does
(docs/performance.md has the iterations).

The solvers have the calling convention of :data:`symopt.abi.solver_sig` with the third
kernel the method's (``hvp``, ``hess_band`` or ``hess_coo``); ``info[INFO_NHEV]`` counts
Hessian-vector products (CG methods) or Hessian evaluations (factoring methods).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..abi import INFO_NHEV, INFO_STATUS, N_INFO, N_OPTS, OPT_BOUNDS, OPT_RADIUS
from ..solvers import registry
from ..solvers._common import (
    Objective,
    descent_slope,
    end_iteration,
    evaluate,
    evaluate_value,
    finish,
    genuine_status,
    kernel_raised,
    point_finite,
    read_options,
    start,
)
from ..solvers._jit import OPTIONS, inlined
from ..solvers.linalg import dot, norm2, norm_inf
from ..solvers.linesearch import EPS, F_ROUNDOFF_RTOL, HALVE, LS_OK, backtracking, failure_status
from ..solvers.status import (
    CONTINUE,
    HESSIAN_NOT_PD,
    INVALID_INPUT,
    NAN_ENCOUNTERED,
    OVERFLOW,
    SUCCESS_FTOL,
    TRUST_REGION_COLLAPSED,
)
from ..solvers.trust_region import DEFAULT_RADIUS, ETA, MAX_RADIUS_FACTOR, RADIUS_FLOOR, to_boundary

__all__ = ["newton_cg", "trust_ncg", "banded_newton", "sparse_newton", "DEFAULTS",
           "make_line_search_newton", "make_trust_region", "SPARSE_ROWS"]

#: default options (names as symopt.solvers.DEFAULTS), from the methods' registry rows
#: (kind "array"); gtol is absolute on ||g||_inf
DEFAULTS = {m.name: m.defaults for m in registry.methods("array")}
#: CG steps per Newton step at most (a multiple of n is never reached in practice)
MAX_CG = 500

# Work rows shared by the drivers and the pieces: the drivers own rows 0-2, CG rows 3-6.
Z, X_TRIAL, G_TRIAL, R, Y, D, HD = 0, 1, 2, 3, 4, 5, 6
N_WORK = 7


# --- the drivers --------------------------------------------------------------------------------


def make_line_search_newton(direction):
    """The line-search Newton loop with ``direction(third, x, p, data, state, g, z, work,
    info) -> status`` (``CONTINUE``, or why no direction could be computed) writing the
    Newton direction into ``z``; ``state`` is the piece's own tuple of arrays and ``work``
    an ``(N_WORK, n)`` array.  Returns the compiled loop
    ``(value, value_grad, third, x, p, data, opts, info, hist, g, work, state) -> f``."""

    @njit(**OPTIONS)
    def loop(value, value_grad, third, x, p, data, opts, info, hist, g, work, state):
        gtol, ftol, xtol, max_iter, _, c1, _, max_ls = read_options(opts)
        obj = Objective(value, value_grad, value_grad, p, data)  # no Hessian kernel: order 1
        z, x_trial, g_trial = work[Z], work[X_TRIAL], work[G_TRIAL]
        no_bounds = opts[0:0]
        no_matrix = np.empty((0, 0))
        f, gnorm, status = start(1, obj, x, g, no_matrix, info, hist, gtol, max_iter, no_bounds,
                                 no_bounds, False)
        f_start = f
        nit = 0
        while status == CONTINUE:
            status = direction(third, x, p, data, state, g, z, work, info)
            if status != CONTINUE:
                break
            slope, _ = descent_slope(g, z)
            alpha, f_trial, flag = backtracking(1, obj, x, f, slope, z, 1.0, c1, max_ls, HALVE,
                                                x_trial, g_trial, no_matrix, info)
            if flag != LS_OK:
                status = failure_status(flag, f, -slope)
                break
            nit += 1
            f_prev, f = f, f_trial
            gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info,
                                          gtol, ftol, xtol, max_iter, no_bounds, no_bounds,
                                          False)
        finish(info, genuine_status(status, f_start, f, x, g, no_bounds, no_bounds, False), nit)
        return f

    return loop


def make_trust_region(subproblem, apply):
    """The trust-region loop (N&W Alg. 4.1, the rules of :mod:`symopt.solvers.trust_region`)
    with ``subproblem(third, x, p, data, state, g, radius, z, work, info) -> (on_boundary,
    status)`` (``CONTINUE``, or why no step could be computed) writing the step into ``z`` and ``apply(third, x, p, data, state, v, out, info)``
    the model's Hessian times ``v``.  Returns the compiled loop with the signature of
    :func:`make_line_search_newton`'s."""

    @njit(**OPTIONS)
    def loop(value, value_grad, third, x, p, data, opts, info, hist, g, work, state):
        gtol, ftol, xtol, max_iter, _, _, _, _ = read_options(opts)
        obj = Objective(value, value_grad, value_grad, p, data)  # no Hessian kernel: order 1
        n = x.shape[0]
        z, x_trial, g_trial, Hz = work[Z], work[X_TRIAL], work[G_TRIAL], work[HD]
        no_bounds = opts[0:0]
        no_matrix = np.empty((0, 0))
        radius = opts[OPT_RADIUS]
        if not (radius > 0.0 and radius < np.inf):
            radius = DEFAULT_RADIUS
        max_radius = MAX_RADIUS_FACTOR * radius
        f, gnorm, status = start(1, obj, x, g, no_matrix, info, hist, gtol, max_iter, no_bounds,
                                 no_bounds, False)
        f_start = f
        nit = 0
        while status == CONTINUE:
            on_boundary, status = subproblem(third, x, p, data, state, g, radius, z, work, info)
            if status != CONTINUE:
                break
            apply(third, x, p, data, state, z, Hz, info)
            predicted = -(dot(g, z) + 0.5 * dot(z, Hz))
            if not predicted > F_ROUNDOFF_RTOL * abs(f):
                # no decrease f could confirm: converged to precision, unless the model's
                # decrease itself overflowed (as symopt.solvers.trust_region decides) or
                # g.g did, which leaves the subproblem a zero step whatever f does
                converged = math.isfinite(predicted) and math.isfinite(dot(g, g))
                status = SUCCESS_FTOL if converged else OVERFLOW
                break
            for i in range(n):
                x_trial[i] = x[i] + z[i]
            f_trial = evaluate_value(obj, x_trial, info)
            rho = (f - f_trial) / predicted if math.isfinite(f_trial) else -np.inf
            step_length = norm2(z)
            if rho > ETA:
                f_trial = evaluate(1, obj, x_trial, g_trial, no_matrix, info)
                if not point_finite(f_trial, g_trial):
                    rho = -np.inf
            if rho < 0.25:
                radius = 0.25 * step_length
            elif rho > 0.75 and on_boundary:
                radius = min(2.0 * radius, max_radius)
            if rho > ETA:
                nit += 1
                f_prev, f = f, f_trial
                gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist,
                                              info, gtol, ftol, xtol, max_iter, no_bounds,
                                              no_bounds, False)
            elif radius <= EPS * norm_inf(x) or radius < RADIUS_FLOOR:
                status = TRUST_REGION_COLLAPSED
        finish(info, genuine_status(status, f_start, f, x, g, no_bounds, no_bounds, False), nit)
        return f

    return loop


# --- truncated (preconditioned) conjugate gradients, one for every Hessian ------------------------


@inlined
def _leaves_ball(z, alpha, d, radius):
    """Whether ``||z + alpha d|| >= radius``."""
    zz = 0.0
    for i in range(z.shape[0]):
        v = z[i] + alpha * d[i]
        zz += v * v
    return zz >= radius * radius


@inlined
def _next_residual(r, y, inverse_diagonal, precondition, tolerance):
    """``(||r|| <= tolerance, r.M^-1 r)``, with ``y = M^-1 r`` when preconditioned (one
    pass over ``r`` less without a preconditioner)."""
    if not precondition:
        rr = dot(r, r)
        return math.sqrt(rr) <= tolerance, rr
    if norm2(r) <= tolerance:
        return True, 0.0
    for i in range(r.shape[0]):
        y[i] = inverse_diagonal[i] * r[i]
    return False, dot(r, y)


def make_cg(apply):
    """Truncated CG on ``H z = -g`` from ``z = 0`` with ``H v`` from ``apply`` (signature in
    :func:`make_trust_region`) and the diagonal preconditioner ``inverse_diagonal`` when
    ``precondition``, stopped at the residual ``min(0.5, sqrt(||g||)) ||g||``.

    With ``radius = inf`` it is line-search Newton-CG (N&W Alg. 7.1): the first direction
    of non-positive curvature ends it with the iterate so far (the preconditioned steepest
    descent step if it is the first).  With a finite radius it is Steihaug-Toint CG
    (N&W Alg. 7.2, as :func:`symopt.solvers.trust_region.steihaug_cg` on a dense matrix):
    a step that would leave the ball, or negative curvature, ends on the boundary.
    Uses work rows ``R, Y, D, HD``.  Returns ``(on_boundary, status)``: ``CONTINUE``, or
    ``NAN_ENCOUNTERED`` when a curvature ``d.H.d`` is NaN, ``OVERFLOW`` when it is +Inf
    (the products overflowed: no step can be computed; -Inf counts as negative curvature,
    as in the scalar Steihaug CG)."""

    @inlined
    def cg(third, x, p, data, state, g, radius, z, work, info, inverse_diagonal, precondition):
        n = g.shape[0]
        r, y, d, Hd = work[R], work[Y], work[D], work[HD]
        s = y if precondition else r  # the preconditioned residual M^-1 r
        gnorm = norm2(g)
        tolerance = min(0.5, math.sqrt(gnorm)) * gnorm
        bounded = radius < np.inf
        for i in range(n):
            z[i] = 0.0
            r[i] = g[i]
        if precondition:
            for i in range(n):
                y[i] = inverse_diagonal[i] * g[i]
        for i in range(n):
            d[i] = -s[i]
        rs = dot(r, s)
        for j in range(min(MAX_CG, 2 * n + 1)):
            apply(third, x, p, data, state, d, Hd, info)
            curvature = dot(d, Hd)
            if curvature != curvature:
                return False, NAN_ENCOUNTERED
            if curvature == np.inf:
                return False, OVERFLOW
            alpha = rs / curvature if curvature > 0.0 else 0.0
            beyond = curvature <= 0.0 or (bounded and _leaves_ball(z, alpha, d, radius))
            if beyond:
                if bounded:
                    tau = to_boundary(z, d, radius)
                    for i in range(n):
                        z[i] += tau * d[i]
                    return True, CONTINUE
                if j == 0:
                    for i in range(n):
                        z[i] = -s[i]
                return False, CONTINUE
            for i in range(n):
                z[i] += alpha * d[i]
                r[i] += alpha * Hd[i]
            converged, rs_new = _next_residual(r, y, inverse_diagonal, precondition, tolerance)
            if converged:
                return False, CONTINUE
            beta = rs_new / rs
            rs = rs_new
            for i in range(n):
                d[i] = -s[i] + beta * d[i]
        return False, CONTINUE

    return cg


# --- Hessian-vector products: newton-cg and trust-ncg ------------------------------------------


@inlined
def _apply_hvp(hvp, x, p, data, state, v, out, info):
    info[INFO_NHEV] += 1
    hvp(x, p, data, v, out)


_cg_hvp = make_cg(_apply_hvp)


@inlined
def _hvp_direction(hvp, x, p, data, state, g, z, work, info):
    _, status = _cg_hvp(hvp, x, p, data, state, g, np.inf, z, work, info, state, False)
    return status


@inlined
def _hvp_steihaug(hvp, x, p, data, state, g, radius, z, work, info):
    return _cg_hvp(hvp, x, p, data, state, g, radius, z, work, info, state, False)


_newton_cg = make_line_search_newton(_hvp_direction)
_trust_ncg = make_trust_region(_hvp_steihaug, _apply_hvp)


@njit(**OPTIONS)
def _valid(x, opts, info, g_out) -> bool:
    """Arrays of consistent sizes, and no bounds (these methods take none)."""
    if info.shape[0] < N_INFO:
        return False
    if g_out.shape[0] != x.shape[0] or opts.shape[0] < N_OPTS or opts[OPT_BOUNDS] != 0.0:
        info[:] = 0
        info[INFO_STATUS] = INVALID_INPUT
        return False
    return True


@njit(**OPTIONS)
def _invalid(info):
    if info.shape[0] >= N_INFO:
        info[:] = 0
        info[INFO_STATUS] = INVALID_INPUT
    return np.nan


@njit(**OPTIONS)
def newton_cg(value, value_grad, hvp, x, p, data, opts, info, hist, g_out, H_out):
    """Minimise by line-search Newton-CG (module docstring)."""
    if not _valid(x, opts, info, g_out):
        return np.nan
    work = np.empty((N_WORK, x.shape[0]))
    try:
        return _newton_cg(value, value_grad, hvp, x, p, data, opts, info, hist, g_out, work,
                          np.empty(0))
    except Exception:  # noqa: BLE001 - a hand-written kernel raised
        pass
    return kernel_raised(Objective(value, value_grad, value_grad, p, data), x, info)


@njit(**OPTIONS)
def trust_ncg(value, value_grad, hvp, x, p, data, opts, info, hist, g_out, H_out):
    """Minimise by trust-region Newton-CG with Hessian-vector products (module docstring)."""
    if not _valid(x, opts, info, g_out):
        return np.nan
    work = np.empty((N_WORK, x.shape[0]))
    try:
        return _trust_ncg(value, value_grad, hvp, x, p, data, opts, info, hist, g_out, work,
                          np.empty(0))
    except Exception:  # noqa: BLE001 - a hand-written kernel raised
        pass
    return kernel_raised(Objective(value, value_grad, value_grad, p, data), x, info)


# --- the modified Cholesky factorisation in band storage ----------------------------------------


@inlined
def modified_band_ldl(A, L, D):
    """Gill and Murray's modified Cholesky (Nocedal & Wright, Alg. 3.4; Gill, Murray and
    Wright 1981, sec. 4.4.2.2) in band storage, in one pass: ``A + E = L D L^T`` with
    ``L`` unit lower (its band in ``L[r, r - c]``, c < r), ``D`` positive, and the diagonal
    ``E >= 0`` zero where ``A`` is safely positive definite.  Each pivot is
    ``d_j = max(|c_jj|, (theta_j / beta)^2, delta)``, which bounds the factor's entries by
    ``beta``; where ``A`` is indefinite only the offending pivots grow (a band of 2 x 2
    blocks is modified block by block, not by one global shift, which would need a full
    factorisation per trial shift).  O(n b^2).  Returns False when ``A`` is not finite."""
    n, width = A.shape
    b = width - 1
    gamma = 0.0
    xi = 0.0
    for r in range(n):
        if not math.isfinite(A[r, 0]):
            return False
        gamma = max(gamma, abs(A[r, 0]))
        for k in range(1, width):
            if not math.isfinite(A[r, k]):
                return False
            xi = max(xi, abs(A[r, k]))
    eps = 2.220446049250313e-16
    beta_sq = max(gamma, xi / math.sqrt(max(float(n) * n - 1.0, 1.0)), eps)
    delta = eps * max(gamma + xi, 1.0)
    for j in range(n):
        c_jj = A[j, 0]
        for s in range(max(0, j - b), j):
            c_jj -= D[s] * L[j, j - s] * L[j, j - s]
        theta = 0.0
        for i in range(j + 1, min(n, j + b + 1)):
            c_ij = A[i, i - j]
            for s in range(max(0, i - b), j):
                c_ij -= D[s] * L[i, i - s] * L[j, j - s]
            L[i, i - j] = c_ij  # c_ij for now; divided by d_j below
            theta = max(theta, abs(c_ij))
        d = max(abs(c_jj), theta * theta / beta_sq, delta)
        D[j] = d
        for i in range(j + 1, min(n, j + b + 1)):
            L[i, i - j] /= d
    return True


@inlined
def band_ldl_solve(L, D, rhs, out):
    """``out = (L D L^T)^{-1} rhs`` for a unit lower band ``L`` and diagonal ``D``."""
    n, width = L.shape
    b = width - 1
    for i in range(n):
        t = rhs[i]
        for k in range(max(0, i - b), i):
            t -= L[i, i - k] * out[k]
        out[i] = t
    for i in range(n):
        out[i] /= D[i]
    for i in range(n - 1, -1, -1):
        t = out[i]
        for k in range(i + 1, min(n, i + b + 1)):
            t -= L[k, k - i] * out[k]
        out[i] = t


# --- banded-newton ------------------------------------------------------------------------------
#
# For losses whose Hessian is banded (symopt.tensor.sparsity).  H_out is the band storage,
# (n, b + 1): entry [r, r - c] is H[r, c]; the third kernel is hess_band(x, p, data, band_flat).


@inlined
def _band_direction(hess_band, x, p, data, state, g, z, work, info):
    band, L, D = state
    info[INFO_NHEV] += 1
    hess_band(x, p, data, band.reshape(band.size))
    if not modified_band_ldl(band, L, D):
        return HESSIAN_NOT_PD
    rhs = work[R]
    for i in range(g.shape[0]):
        rhs[i] = -g[i]
    band_ldl_solve(L, D, rhs, z)
    return CONTINUE


_banded_newton = make_line_search_newton(_band_direction)


@njit(**OPTIONS)
def banded_newton(value, value_grad, hess_band, x, p, data, opts, info, hist, g_out, H_out):
    """Minimise by Newton's method with the banded Hessian; ``H_out`` is the band storage
    ``(n, b + 1)`` and receives the Hessian's band at the last point where it was taken."""
    if not _valid(x, opts, info, g_out) or H_out.shape[0] != x.shape[0] or H_out.shape[1] < 1:
        return _invalid(info)
    n = x.shape[0]
    work = np.empty((N_WORK, n))
    state = (H_out, np.empty(H_out.shape), np.empty(n))
    try:
        return _banded_newton(value, value_grad, hess_band, x, p, data, opts, info, hist, g_out,
                              work, state)
    except Exception:  # noqa: BLE001 - a hand-written kernel raised
        pass
    return kernel_raised(Objective(value, value_grad, value_grad, p, data), x, info)


# --- sparse-newton ------------------------------------------------------------------------------
#
# For separable losses whose Hessian is sparse but not banded (symopt.tensor.sparse): each
# iteration the hess_coo kernel computes every term's second derivatives, which add up into
# the CSR values of the exact Hessian (the pattern, computed once per size, says where).
#
# H_out packs the pattern and receives the values, rows of one width (>= nnz, n + 2, ncoo):
# [0] the CSR values (out: the Hessian at the last point it was taken), [1] indptr (n + 1)
# and at [n + 1] ncoo, [2] indices, [3] slot1, [4] slot2, [5] weight, [6] the diagonal's
# slots (n) and at [n] the bandwidth b of the permuted Hessian (-1: no band, use CG),
# [7] the permutation (n: position i of the band holds variable perm[i]), [8] for each
# CSR slot its index in the flat (n, b + 1) band storage of the permuted Hessian (-1 for
# the upper triangle) - all as float64, exact below 2**53.

SPARSE_ROWS = 9


@inlined
def _apply_csr(hess_coo, x, p, data, state, v, out, info):
    values, indptr, indices = state[0], state[1], state[2]
    for r in range(out.shape[0]):
        t = 0.0
        for k in range(indptr[r], indptr[r + 1]):
            t += values[k] * v[indices[k]]
        out[r] = t


_cg_csr = make_cg(_apply_csr)


@inlined
def _sparse_direction(hess_coo, x, p, data, state, g, z, work, info):
    """Fill the CSR values at ``x``; then the modified Cholesky of the permuted band when
    there is one, else Jacobi-preconditioned truncated CG."""
    values, indptr, indices, coo, slot1, slot2, weight, diagonal = state[:8]
    inverse_diagonal, perm, band_slot, band, L, D = state[8:]
    n = g.shape[0]
    info[INFO_NHEV] += 1
    hess_coo(x, p, data, coo)
    for k in range(values.shape[0]):
        values[k] = 0.0
    for k in range(coo.shape[0]):
        values[slot1[k]] += weight[k] * coo[k]
        if slot2[k] >= 0:
            values[slot2[k]] += coo[k]
    largest = 0.0
    for i in range(n):
        largest = max(largest, abs(values[diagonal[i]]))
    if not math.isfinite(largest):
        return NAN_ENCOUNTERED
    if band.shape[0] == n:
        flat = band.reshape(band.size)  # zero outside the slots since its allocation
        for k in range(values.shape[0]):
            if band_slot[k] >= 0:
                flat[band_slot[k]] = values[k]
        if not modified_band_ldl(band, L, D):
            return NAN_ENCOUNTERED
        rhs, out = work[R], work[Y]
        for i in range(n):
            rhs[i] = -g[perm[i]]
        band_ldl_solve(L, D, rhs, out)
        for i in range(n):
            z[perm[i]] = out[i]
        return CONTINUE
    floor = max(largest * 1e-12, 1e-300)
    for i in range(n):
        inverse_diagonal[i] = 1.0 / max(abs(values[diagonal[i]]), floor)
    _, status = _cg_csr(hess_coo, x, p, data, state, g, np.inf, z, work, info,
                        inverse_diagonal, True)
    return status


_sparse_newton = make_line_search_newton(_sparse_direction)


@njit(**OPTIONS)
def _as_int(row, count):
    out = np.empty(count, dtype=np.int64)
    for k in range(count):
        out[k] = int(row[k])
    return out


@njit(**OPTIONS)
def sparse_newton(value, value_grad, hess_coo, x, p, data, opts, info, hist, g_out, H_out):
    """Minimise by Newton's method with the sparse (CSR) Hessian (comment above);
    ``H_out`` packs the pattern and receives the values."""
    n = x.shape[0]
    if (not _valid(x, opts, info, g_out) or H_out.shape[0] < SPARSE_ROWS
            or H_out.shape[1] < n + 2):
        return _invalid(info)
    ncoo = int(H_out[1, n + 1])
    indptr = _as_int(H_out[1], n + 1)
    nnz = indptr[n]
    b = int(H_out[6, n])
    if (ncoo < 0 or ncoo > H_out.shape[1] or nnz < 0 or nnz > H_out.shape[1] or b < -1
            or b >= n):
        return _invalid(info)
    band_rows = n if b >= 0 else 0
    state = (H_out[0, :nnz], indptr, _as_int(H_out[2], nnz), np.empty(ncoo),
             _as_int(H_out[3], ncoo), _as_int(H_out[4], ncoo), H_out[5, :ncoo],
             _as_int(H_out[6], n), np.empty(n), _as_int(H_out[7], n if b >= 0 else 0),
             _as_int(H_out[8], nnz if b >= 0 else 0), np.zeros((band_rows, b + 1)),
             np.empty((band_rows, b + 1)), np.empty(band_rows))
    work = np.empty((N_WORK, n))
    try:
        return _sparse_newton(value, value_grad, hess_coo, x, p, data, opts, info, hist, g_out,
                              work, state)
    except Exception:  # noqa: BLE001 - a hand-written kernel raised
        pass
    return kernel_raised(Objective(value, value_grad, value_grad, p, data), x, info)
