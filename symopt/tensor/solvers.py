"""Newton's method for large problems, driven by Hessian-vector products (no Hessian is
ever stored): line-search Newton-CG and trust-region Newton-CG (Steihaug-Toint).

Both solve the Newton equations ``H p = -g`` inexactly by conjugate gradients, each CG
step costing one Hessian-vector product (the ``hvp`` kernel: one fused pass, as cheap as
a gradient), stopped at the relative residual ``min(0.5, sqrt(||g||))`` (superlinear
convergence; Nocedal & Wright, Thm. 7.2):

``newton-cg``   (N&W Alg. 7.1) CG stops at the first direction of non-positive curvature
                (taking the steepest-descent direction if that is the first one); Armijo
                backtracking from the unit step.
``trust-ncg``   (N&W Alg. 7.2, Steihaug 1983) CG inside a trust region: a step that
                leaves the region, or meets negative curvature, ends on its boundary; the
                radius follows the ratio of actual to predicted decrease as in
                :mod:`symopt.solvers.trust_region`.

The solvers have the calling convention of :data:`symopt.abi.solver_sig` with the third
kernel an ``hvp(x, p, data, v, out)`` (:data:`symopt.tensor.kernels.hvp_sig`);
``H_out`` is not used (pass a 0 x 0 array).  They share the start, the termination test,
the history and the line search of :mod:`symopt.solvers`.  ``info[INFO_NHEV]`` counts
Hessian-vector products.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..abi import INFO_NHEV, INFO_STATUS, N_INFO, N_OPTS, OPT_BOUNDS, OPT_RADIUS
from ..solvers import registry
from ..solvers._common import (
    descent_slope,
    end_iteration,
    evaluate,
    evaluate_value,
    finish,
    kernel_raised,
    read_options,
    start,
)
from ..solvers._jit import OPTIONS, inlined
from ..solvers.linalg import dot, norm2, norm_inf
from ..solvers.linesearch import EPS, F_ROUNDOFF_RTOL, HALVE, LS_OK, backtracking, failure_status
from ..solvers.status import CONTINUE, INVALID_INPUT, NAN_ENCOUNTERED, SUCCESS_FTOL, TRUST_REGION_COLLAPSED
from ..solvers.trust_region import DEFAULT_RADIUS, ETA, MAX_RADIUS_FACTOR, RADIUS_FLOOR, to_boundary

__all__ = ["newton_cg", "trust_ncg", "banded_newton", "sparse_newton", "DEFAULTS"]

#: default options (names as symopt.solvers.DEFAULTS), from the methods' registry rows
#: (kind "array"); gtol is absolute on ||g||_inf
DEFAULTS = {m.name: m.defaults for m in registry.methods("array")}
#: CG steps per Newton step at most (a multiple of n is never reached in practice)
MAX_CG = 500


@inlined
def _hvp(hvp, x, p, data, v, out, info):
    info[INFO_NHEV] += 1
    hvp(x, p, data, v, out)


@inlined
def _cg_tolerance(g):
    gnorm = norm2(g)
    return min(0.5, math.sqrt(gnorm)) * gnorm


@inlined
def truncated_cg(hvp, x, p, data, g, z, r, d, Hd, info):
    """Line-search Newton-CG direction into ``z``: CG on ``H z = -g`` from 0, stopped on
    the residual test or at the first non-positive curvature (then the iterate so far,
    or ``-g`` at the first step).  Returns False if an HVP was not finite."""
    n = g.shape[0]
    tolerance = _cg_tolerance(g)
    for i in range(n):
        z[i] = 0.0
        r[i] = g[i]
        d[i] = -g[i]
    rr = dot(r, r)
    for j in range(min(MAX_CG, 2 * n + 1)):
        _hvp(hvp, x, p, data, d, Hd, info)
        curvature = dot(d, Hd)
        if not math.isfinite(curvature):
            return False
        if curvature <= 0.0:
            if j == 0:
                for i in range(n):
                    z[i] = -g[i]
            return True
        alpha = rr / curvature
        for i in range(n):
            z[i] += alpha * d[i]
            r[i] += alpha * Hd[i]
        rr_new = dot(r, r)
        if math.sqrt(rr_new) <= tolerance:
            return True
        beta = rr_new / rr
        rr = rr_new
        for i in range(n):
            d[i] = -r[i] + beta * d[i]
    return True


@inlined
def steihaug(hvp, x, p, data, g, radius, z, r, d, Hd, info):
    """The Steihaug-Toint step into ``z`` (module docstring).  Returns (on boundary, ok)."""
    n = g.shape[0]
    tolerance = _cg_tolerance(g)
    for i in range(n):
        z[i] = 0.0
        r[i] = g[i]
        d[i] = -g[i]
    rr = dot(r, r)
    for _ in range(min(MAX_CG, 2 * n + 1)):
        _hvp(hvp, x, p, data, d, Hd, info)
        curvature = dot(d, Hd)
        if not math.isfinite(curvature):
            return False, False
        alpha = rr / curvature if curvature > 0.0 else 0.0
        beyond = curvature <= 0.0
        if not beyond:
            zz = 0.0
            for i in range(n):
                v = z[i] + alpha * d[i]
                zz += v * v
            beyond = zz >= radius * radius
        if beyond:
            tau = to_boundary(z, d, radius)
            for i in range(n):
                z[i] += tau * d[i]
            return True, True
        for i in range(n):
            z[i] += alpha * d[i]
            r[i] += alpha * Hd[i]
        rr_new = dot(r, r)
        if math.sqrt(rr_new) <= tolerance:
            return False, True
        beta = rr_new / rr
        rr = rr_new
        for i in range(n):
            d[i] = -r[i] + beta * d[i]
    return False, True


@njit(**OPTIONS)
def _newton_cg(value, value_grad, hvp, x, p, data, opts, info, hist, g, work):
    gtol, ftol, xtol, max_iter, _, c1, _, max_ls = read_options(opts)
    z, r, d, Hd, x_trial, g_trial = work[0], work[1], work[2], work[3], work[4], work[5]
    no_bounds = opts[0:0]
    no_matrix = np.empty((0, 0))
    f, gnorm, status = start(1, value_grad, value_grad, x, p, data, g, no_matrix, info, hist,
                             gtol, max_iter, no_bounds, no_bounds, False)
    nit = 0
    while status == CONTINUE:
        if not truncated_cg(hvp, x, p, data, g, z, r, d, Hd, info):
            status = NAN_ENCOUNTERED
            break
        slope, _ = descent_slope(g, z)
        alpha, f_trial, flag = backtracking(1, value, value_grad, value_grad, x, p, data, f,
                                            slope, z, 1.0, c1, max_ls, HALVE, x_trial,
                                            g_trial, no_matrix, info)
        if flag != LS_OK:
            status = failure_status(flag, f, -slope)
            break
        nit += 1
        f_prev, f = f, f_trial
        gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info,
                                      gtol, ftol, xtol, max_iter, no_bounds, no_bounds, False)
    finish(info, status, nit)
    return f


@njit(**OPTIONS)
def _trust_ncg(value, value_grad, hvp, x, p, data, opts, info, hist, g, work):
    gtol, ftol, xtol, max_iter, _, _, _, _ = read_options(opts)
    n = x.shape[0]
    z, r, d, Hd, x_trial, g_trial = work[0], work[1], work[2], work[3], work[4], work[5]
    no_bounds = opts[0:0]
    no_matrix = np.empty((0, 0))
    radius = opts[OPT_RADIUS]
    if not (radius > 0.0 and radius < np.inf):
        radius = DEFAULT_RADIUS
    max_radius = MAX_RADIUS_FACTOR * radius
    f, gnorm, status = start(1, value_grad, value_grad, x, p, data, g, no_matrix, info, hist,
                             gtol, max_iter, no_bounds, no_bounds, False)
    nit = 0
    while status == CONTINUE:
        on_boundary, ok = steihaug(hvp, x, p, data, g, radius, z, r, d, Hd, info)
        if not ok:
            status = NAN_ENCOUNTERED
            break
        _hvp(hvp, x, p, data, z, Hd, info)
        predicted = -(dot(g, z) + 0.5 * dot(z, Hd))
        if not predicted > F_ROUNDOFF_RTOL * abs(f):
            status = SUCCESS_FTOL  # no decrease f could confirm: converged to precision
            break
        for i in range(n):
            x_trial[i] = x[i] + z[i]
        f_trial = evaluate_value(value, x_trial, p, data, info)
        rho = (f - f_trial) / predicted if math.isfinite(f_trial) else -np.inf
        step_length = norm2(z)
        if rho > ETA:
            f_trial = evaluate(1, value_grad, value_grad, x_trial, p, data, g_trial,
                               no_matrix, info)
            if not (math.isfinite(f_trial) and math.isfinite(dot(g_trial, g_trial))):
                rho = -np.inf
        if rho < 0.25:
            radius = 0.25 * step_length
        elif rho > 0.75 and on_boundary:
            radius = min(2.0 * radius, max_radius)
        if rho > ETA:
            nit += 1
            f_prev, f = f, f_trial
            gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info,
                                          gtol, ftol, xtol, max_iter, no_bounds, no_bounds,
                                          False)
        elif radius <= EPS * norm_inf(x) or radius < RADIUS_FLOOR:
            status = TRUST_REGION_COLLAPSED
    finish(info, status, nit)
    return f


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
def newton_cg(value, value_grad, hvp, x, p, data, opts, info, hist, g_out, H_out):
    """Minimise by line-search Newton-CG (module docstring)."""
    if not _valid(x, opts, info, g_out):
        return np.nan
    work = np.empty((6, x.shape[0]))
    try:
        return _newton_cg(value, value_grad, hvp, x, p, data, opts, info, hist, g_out, work)
    except Exception:  # noqa: BLE001 - a hand-written kernel raised
        pass
    return kernel_raised(value, x, p, data, info)


@njit(**OPTIONS)
def trust_ncg(value, value_grad, hvp, x, p, data, opts, info, hist, g_out, H_out):
    """Minimise by trust-region Newton-CG with Hessian-vector products (module docstring)."""
    if not _valid(x, opts, info, g_out):
        return np.nan
    work = np.empty((6, x.shape[0]))
    try:
        return _trust_ncg(value, value_grad, hvp, x, p, data, opts, info, hist, g_out, work)
    except Exception:  # noqa: BLE001 - a hand-written kernel raised
        pass
    return kernel_raised(value, x, p, data, info)


# --- Newton with the banded Hessian -----------------------------------------------------------------
#
# ``banded-newton``: for losses whose Hessian is banded (symopt.tensor.sparsity), Newton's
# method with the exact Hessian, factored in band storage in O(n b^2) by Gill and Murray's
# modified Cholesky (one pass; a global shift H + tau I, as symopt.solvers.newton searches
# for densely, needs a full factorisation per trial shift: 10x slower per iteration, see
# docs/performance.md) and Armijo backtracking from the unit step.  H_out is the band storage, (n, b + 1): entry [r, r - c] is H[r, c];
# the third kernel is ``hess_band(x, p, data, band_flat)``.

from ..solvers.status import HESSIAN_NOT_PD  # noqa: E402


@inlined
def modified_band_ldl(A, L, D):
    """Gill and Murray's modified Cholesky (Nocedal & Wright, Alg. 3.4; Gill, Murray and
    Wright 1981, sec. 4.4.2.2) in band storage, in one pass: ``A + E = L D L^T`` with
    ``L`` unit lower (its band in ``L[r, r - c]``, c < r), ``D`` positive, and the diagonal
    ``E >= 0`` zero where ``A`` is safely positive definite.  Each pivot is
    ``d_j = max(|c_jj|, (theta_j / beta)^2, delta)``, which bounds the factor's entries by
    ``beta``; where ``A`` is indefinite only the offending pivots grow (a band of 2 x 2
    blocks is modified block by block, not by one global shift).  O(n b^2).  Returns False
    when ``A`` is not finite."""
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


@njit(**OPTIONS)
def _banded_newton(value, value_grad, hess_band, x, p, data, opts, info, hist, g, band, L, work):
    gtol, ftol, xtol, max_iter, _, c1, _, max_ls = read_options(opts)
    n = x.shape[0]
    direction, x_trial, g_trial, D = work[0], work[1], work[2], work[3]
    no_bounds = opts[0:0]
    no_matrix = np.empty((0, 0))
    flat = band.reshape(band.size)
    f, gnorm, status = start(1, value_grad, value_grad, x, p, data, g, no_matrix, info, hist,
                             gtol, max_iter, no_bounds, no_bounds, False)
    nit = 0
    while status == CONTINUE:
        info[INFO_NHEV] += 1
        hess_band(x, p, data, flat)
        if not modified_band_ldl(band, L, D):
            status = HESSIAN_NOT_PD
            break
        for i in range(n):
            g_trial[i] = -g[i]
        band_ldl_solve(L, D, g_trial, direction)
        slope, _ = descent_slope(g, direction)
        alpha, f_trial, flag = backtracking(1, value, value_grad, value_grad, x, p, data, f,
                                            slope, direction, 1.0, c1, max_ls, HALVE, x_trial,
                                            g_trial, no_matrix, info)
        if flag != LS_OK:
            status = failure_status(flag, f, -slope)
            break
        nit += 1
        f_prev, f = f, f_trial
        gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info,
                                      gtol, ftol, xtol, max_iter, no_bounds, no_bounds, False)
    finish(info, status, nit)
    return f


@njit(**OPTIONS)
def banded_newton(value, value_grad, hess_band, x, p, data, opts, info, hist, g_out, H_out):
    """Minimise by Newton's method with the banded Hessian; ``H_out`` is the band storage
    ``(n, b + 1)`` and receives the Hessian's band at the last point where it was taken."""
    if not _valid(x, opts, info, g_out) or H_out.shape[0] != x.shape[0] or H_out.shape[1] < 1:
        if info.shape[0] >= N_INFO:
            info[:] = 0
            info[INFO_STATUS] = INVALID_INPUT
        return np.nan
    work = np.empty((4, x.shape[0]))
    L = np.empty(H_out.shape)
    try:
        return _banded_newton(value, value_grad, hess_band, x, p, data, opts, info, hist, g_out,
                              H_out, L, work)
    except Exception:  # noqa: BLE001 - a hand-written kernel raised
        pass
    return kernel_raised(value, x, p, data, info)


# --- Newton with the sparse (CSR) Hessian -----------------------------------------------------------
#
# ``sparse-newton`` for separable losses whose Hessian is sparse but not banded
# (symopt.tensor.sparse): each iteration the ``hess_coo`` kernel computes every term's second
# derivatives, which add up into the CSR values of the exact Hessian (the pattern, computed
# once per size, says where); the Newton step solves ``H z = -g`` by conjugate gradients
# preconditioned with the Hessian's diagonal (Jacobi), truncated as line-search Newton-CG is
# (Nocedal & Wright, Alg. 7.1: the forcing term min(0.5, sqrt(||g||)) ||g||, and the first
# direction of non-positive curvature ends CG: with the iterate so far, or the
# preconditioned steepest descent step at the first), then Armijo backtracking from the unit step.
#
# ``H_out`` packs the pattern and receives the values, rows of one width (>= nnz, n + 2,
# ncoo): [0] the CSR values (out: the Hessian at the last point it was taken), [1] indptr
# (n + 1) and at [n + 1] ncoo, [2] indices, [3] slot1, [4] slot2, [5] weight, [6] the
# diagonal's slots (n) - all as float64, exact below 2**53.

SPARSE_ROWS = 7


@inlined
def _csr_matvec(values, indptr, indices, v, out):
    n = out.shape[0]
    for r in range(n):
        t = 0.0
        for k in range(indptr[r], indptr[r + 1]):
            t += values[k] * v[indices[k]]
        out[r] = t


@inlined
def _jacobi_pcg(values, indptr, indices, inverse_diagonal, g, z, r, y, d, Hd):
    """Truncated preconditioned CG for ``H z = -g`` (comment above).  Returns (ok, steps)."""
    n = g.shape[0]
    tolerance = _cg_tolerance(g)
    for i in range(n):
        z[i] = 0.0
        r[i] = g[i]
        y[i] = inverse_diagonal[i] * g[i]
        d[i] = -y[i]
    ry = dot(r, y)
    steps = 0
    for j in range(min(MAX_CG, 2 * n + 1)):
        _csr_matvec(values, indptr, indices, d, Hd)
        steps += 1
        curvature = dot(d, Hd)
        if not math.isfinite(curvature):
            return False, steps
        if curvature <= 0.0:
            if j == 0:
                for i in range(n):
                    z[i] = -y[i]
            return True, steps
        alpha = ry / curvature
        for i in range(n):
            z[i] += alpha * d[i]
            r[i] += alpha * Hd[i]
        if norm2(r) <= tolerance:
            return True, steps
        for i in range(n):
            y[i] = inverse_diagonal[i] * r[i]
        ry_new = dot(r, y)
        beta = ry_new / ry
        ry = ry_new
        for i in range(n):
            d[i] = -y[i] + beta * d[i]
    return True, steps


@njit(**OPTIONS)
def _sparse_newton(value, value_grad, hess_coo, x, p, data, opts, info, hist, g, H, coo,
                   indptr, indices, slot1, slot2, diagonal, work):
    gtol, ftol, xtol, max_iter, _, c1, _, max_ls = read_options(opts)
    n = x.shape[0]
    z, r, y, d, Hd, x_trial, g_trial, inverse_diagonal = (work[0], work[1], work[2], work[3],
                                                            work[4], work[5], work[6], work[7])
    values = H[0]
    weight = H[5]
    no_bounds = opts[0:0]
    no_matrix = np.empty((0, 0))
    f, gnorm, status = start(1, value_grad, value_grad, x, p, data, g, no_matrix, info, hist,
                             gtol, max_iter, no_bounds, no_bounds, False)
    nit = 0
    nnz = indptr[n]
    while status == CONTINUE:
        info[INFO_NHEV] += 1
        hess_coo(x, p, data, coo)
        for k in range(nnz):
            values[k] = 0.0
        for k in range(coo.shape[0]):
            values[slot1[k]] += weight[k] * coo[k]
            if slot2[k] >= 0:
                values[slot2[k]] += coo[k]
        largest = 0.0
        for i in range(n):
            largest = max(largest, abs(values[diagonal[i]]))
        if not math.isfinite(largest):
            status = NAN_ENCOUNTERED
            break
        floor = max(largest * 1e-12, 1e-300)
        for i in range(n):
            inverse_diagonal[i] = 1.0 / max(abs(values[diagonal[i]]), floor)
        ok, _ = _jacobi_pcg(values, indptr, indices, inverse_diagonal, g, z, r, y, d, Hd)
        if not ok:
            status = NAN_ENCOUNTERED
            break
        slope, _ = descent_slope(g, z)
        alpha, f_trial, flag = backtracking(1, value, value_grad, value_grad, x, p, data, f,
                                            slope, z, 1.0, c1, max_ls, HALVE, x_trial,
                                            g_trial, no_matrix, info)
        if flag != LS_OK:
            status = failure_status(flag, f, -slope)
            break
        nit += 1
        f_prev, f = f, f_trial
        gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info,
                                      gtol, ftol, xtol, max_iter, no_bounds, no_bounds, False)
    finish(info, status, nit)
    return f


@njit(**OPTIONS)
def sparse_newton(value, value_grad, hess_coo, x, p, data, opts, info, hist, g_out, H_out):
    """Minimise by Newton's method with the sparse (CSR) Hessian and Jacobi-preconditioned
    truncated CG (comment above); ``H_out`` packs the pattern and receives the values."""
    n = x.shape[0]
    if (not _valid(x, opts, info, g_out) or H_out.shape[0] < SPARSE_ROWS
            or H_out.shape[1] < n + 2):
        if info.shape[0] >= N_INFO:
            info[:] = 0
            info[INFO_STATUS] = INVALID_INPUT
        return np.nan
    ncoo = int(H_out[1, n + 1])
    indptr = np.empty(n + 1, dtype=np.int64)
    for i in range(n + 1):
        indptr[i] = int(H_out[1, i])
    nnz = indptr[n]
    if ncoo < 0 or ncoo > H_out.shape[1] or nnz > H_out.shape[1]:
        info[:] = 0
        info[INFO_STATUS] = INVALID_INPUT
        return np.nan
    indices = np.empty(nnz, dtype=np.int64)
    for k in range(nnz):
        indices[k] = int(H_out[2, k])
    slot1 = np.empty(ncoo, dtype=np.int64)
    slot2 = np.empty(ncoo, dtype=np.int64)
    for k in range(ncoo):
        slot1[k] = int(H_out[3, k])
        slot2[k] = int(H_out[4, k])
    diagonal = np.empty(n, dtype=np.int64)
    for i in range(n):
        diagonal[i] = int(H_out[6, i])
    coo = np.empty(ncoo)
    work = np.empty((8, n))
    try:
        return _sparse_newton(value, value_grad, hess_coo, x, p, data, opts, info, hist, g_out,
                              H_out, coo, indptr, indices, slot1, slot2, diagonal, work)
    except Exception:  # noqa: BLE001 - a hand-written kernel raised
        pass
    return kernel_raised(value, x, p, data, info)
