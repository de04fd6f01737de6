"""A primal-dual interior-point method with a filter line search, after Ipopt.

The problem ``min f(x)`` s.t. ``cl <= c(x) <= cu``, ``xl <= x <= xu`` becomes, with one
slack ``s_k`` per inequality (``cl_i < cu_i``), ``min f(x)`` s.t. ``d(w) = 0`` and bounds
on ``w = (x, s)``: ``d_i = c_i(x) - cl_i`` for an equality, ``d_i = c_i(x) - s_k`` for the
k-th inequality, with ``cl_i <= s_k <= cu_i``.  The bounds are handled by a logarithmic
barrier ``phi_mu(w) = f - mu sum log(w - l) - mu sum log(u - w)``, and each barrier
problem by Newton's method on its primal-dual optimality conditions (Wächter and
Biegler, "On the implementation of an interior-point filter line-search algorithm for
large-scale nonlinear programming", Math. Programming 106, 2006; here "WB"):

- **Step.**  The KKT system ``[W + Sigma + dw I, A^T; A, -dc I] [dw; dy] = -[grad phi +
  A^T y; d]``, ``W`` the exact Hessian of the Lagrangian (the ``lagrangian_hessian``
  kernel), ``Sigma`` the primal-dual barrier term, solved by a Bunch-Kaufman LDL^T
  factorisation that counts its inertia (:mod:`._linalg`) with one step of iterative
  refinement.
- **Inertia correction** (WB Alg. IC).  Unless the inertia is ``(n + n_s, m, 0)``, the
  Hessian block is regularised by ``dw I`` (``dw`` from 1e-4, or a third of the last
  value, multiplied by 100 then 8 until the inertia is right) and, when the matrix is
  singular (dependent constraint gradients), the constraint block by
  ``-dc I``, ``dc = 1e-8 mu^(1/4)``: the step is then a descent direction of the barrier
  problem on the constraints' null space.
- **Filter line search** (WB sec. 2.3) on the pair (constraint violation ``theta =
  ||d||_1``, barrier objective ``phi``), backtracking from the largest step that keeps
  ``w`` a fraction ``tau = max(0.99, 1 - mu)`` inside its bounds (and the bound
  multipliers positive), with the switching condition and the Armijo test on ``phi``.
- **Second-order correction** (WB sec. 2.4): when the first trial point is rejected and
  increases ``theta``, up to four corrected steps re-using the factorisation.
- **Feasibility restoration**: when the line search cannot find an acceptable step, a
  Gauss-Newton (Levenberg-Marquardt) minimisation of ``||d||^2 / 2`` with projected steps
  and an epsilon-active set until the violation has dropped by 10% to a point the filter
  accepts; when it converges to a stationary point of the violation instead, the problem
  is reported ``INFEASIBLE``.  (Ipopt runs a second interior-point method on an l1 penalty problem;
  Levenberg-Marquardt is the simpler choice for small dense problems.)
- **Barrier update**: the monotone Fiacco-McCormick rule (WB eq. 7), ``mu <- max(tol/10,
  min(mu/5, mu^1.5))`` each time the barrier problem is solved to ``10 mu``.
- **Scaling** (Ipopt's gradient-based scaling): the objective and each constraint whose
  gradient at the start exceeds 100 in size are scaled down to 100.
- **Termination** on Ipopt's scaled optimality error (WB eq. 5) ``<= tol`` with the
  constraint violation (unscaled) ``<= constr_tol``; or an *acceptable* point
  (optimality error 1e-6, violation 100 constr_tol) held for 15 iterations; ``UNBOUNDED``
  when f falls below ``-1e12 max(1, |f(x0)|)`` at a feasible point or ``|x| > 1e20``.

The start is pushed inside its bounds (``bound_push``, Ipopt's ``kappa_1 = kappa_2``),
the slacks start at ``c(x0)`` pushed inside ``[cl, cu]``, the bound multipliers at 1 and
the constraint multipliers at the least-squares estimate (0 when it exceeds 1e3).
A variable with equal bounds is fixed (held at its value, not a barrier term).

Multipliers are returned in the sign convention of :mod:`symopt.constrained.abi`.
Kernels used: value, value_grad, constraints, constraints_jacobian, lagrangian_hessian.
"""

from __future__ import annotations

import math

import numpy as np

from ..solvers._jit import helper, inlined, iteration
from ..solvers.linalg import cholesky, cholesky_solve
from . import abi
from ._common import all_finite_matrix, arguments_valid, kkt_report, read_options, record_history
from ._jit import solver
from ._kkt_system import (
    factor_with_inertia,
    jacobian_transpose_times,
    least_squares_multipliers,
    solve_refined,
)
from .status import (
    ACCEPTABLE,
    CONTINUE,
    CONVERGED,
    INFEASIBLE,
    MAX_ITER,
    NAN_ENCOUNTERED,
    RESTORATION_FAILED,
    STEP_FAILED,
    UNBOUNDED,
)

__all__ = ["solve", "DEFAULT_MAX_ITER"]

DEFAULT_MAX_ITER = 3000
EPS = float(np.finfo(np.float64).eps)

# barrier parameter update (WB eq. 7) and fraction to the boundary
KAPPA_EPS = 10.0
KAPPA_MU = 0.2
THETA_MU = 1.5
TAU_MIN = 0.99
KAPPA_SIGMA = 1e10  # the bound multipliers stay within this factor of mu / slack
#: Ipopt's kappa_d: the barrier objective gets a linear term kappa_d mu (w - l) for each
#: variable bounded only below (kappa_d mu (u - w) only above), so that it is not
#: unbounded below along a direction where f is flat (-mu log(w - l) -> -inf as w -> inf).
#: 1e-2, not Ipopt's 1e-5: the barrier and this term alone balance at a distance
#: 1 / kappa_d from the bound, so a variable the objective hardly constrains drifts less
#: far from it (measurements: docs/constraints.md, "Design decisions")
KAPPA_D = 1e-2
# filter line search (WB sec. 2.3; Ipopt's defaults)
GAMMA_THETA = 1e-5
GAMMA_PHI = 1e-8
DELTA = 1.0
S_THETA = 1.1
S_PHI = 2.3
ETA_PHI = 1e-8
GAMMA_ALPHA = 0.05
KAPPA_SOC = 0.99
MAX_SOC = 4
FILTER_CAPACITY = 200
# optimality error scaling (WB eq. 5), multiplier initialisation, scaling floor
S_MAX = 100.0
SCALE_MIN = 1e-8
# acceptable termination
ACCEPTABLE_TOL = 1e-6
ACCEPTABLE_ITER = 15
ACCEPTABLE_CONSTR_FACTOR = 100.0
# unboundedness: at a feasible point, f below -UNBOUNDED_DROP max(1, |f(x0)|), or |x| above
# DIVERGING (Ipopt's diverging_iterates_tol)
UNBOUNDED_DROP = 1e12
DIVERGING = 1e20
# restoration
RESTORATION_MAX_ITER = 100
RESTORATION_REDUCTION = 0.9
#: a point is a stationary point of the violation when the gradient of ||d||^2 / 2,
#: projected on the bounds, is below this fraction of ||d||_1 (and of 1)
RESTORATION_STATIONARY = 1e-7
#: distance (relative) to a bound below which a variable counts as on it
NEAR_BOUND = 1e-6
#: restoration steps are projected onto the box shrunk by this (relative) margin
RESTORATION_MARGIN = 1e-8
#: a variable this close (relative) to a bound that its gradient pushes against is moved
#: onto the bound and left out of the restoration step (an epsilon-active set, as in
#: Bertsekas's projected Newton method)
EPSILON_ACTIVE = 1e-3
#: the restoration phase stops (INFEASIBLE) when ten steps reduced ||d||_1 by less than
#: this fraction: it has converged to a point of (local) least violation
RESTORATION_STALL = 1e-6
RESTORATION_STALL_STEPS = 10


@inlined
def project_inside(value, lower, upper):
    """``value`` clipped into ``[lower, upper]`` shrunk by :data:`RESTORATION_MARGIN`
    (relative; at most a third of the width)."""
    lo = value
    if lower > -np.inf:
        margin = RESTORATION_MARGIN * (1.0 + abs(lower))
        if upper < np.inf:
            margin = min(margin, (upper - lower) / 3.0)
        lo = max(lo, lower + margin)
    if upper < np.inf:
        margin = RESTORATION_MARGIN * (1.0 + abs(upper))
        if lower > -np.inf:
            margin = min(margin, (upper - lower) / 3.0)
        lo = min(lo, upper - margin)
    return lo


# --- small pieces -------------------------------------------------------------------------


@inlined
def push_inside(value, lower, upper, push):
    """``value`` moved at least ``push`` (relative) inside ``[lower, upper]`` (Ipopt's
    bound_push and bound_frac, both ``push``); ``lower`` when the bounds are equal."""
    if lower == upper:
        return lower
    has_lower = lower > -np.inf
    has_upper = upper < np.inf
    if has_lower and has_upper:
        width = upper - lower
        pl = min(push * max(1.0, abs(lower)), push * width)
        pu = min(push * max(1.0, abs(upper)), push * width)
        return min(max(value, lower + pl), upper - pu)
    if has_lower:
        return max(value, lower + push * max(1.0, abs(lower)))
    if has_upper:
        return min(value, upper - push * max(1.0, abs(upper)))
    return value


@inlined
def residuals(c, w, sc, limits, slack_of, n, d):
    """The scaled residuals ``d_i = sc_i (c_i - cl_i)`` (equality) or ``sc_i c_i - s_k``
    (inequality ``i``, slack ``k``) into ``d``; returns ``||d||_1``."""
    m = c.shape[0]
    total = 0.0
    for i in range(m):
        k = slack_of[i]
        if k < 0:
            d[i] = sc[i] * (c[i] - limits[2 * n + i])
        else:
            d[i] = sc[i] * c[i] - w[n + k]
        total += abs(d[i])
    return total


@inlined
def barrier(f_scaled, w, lower, upper, fixed, mu):
    """The barrier objective ``phi_mu(w)``, with the damping of :data:`KAPPA_D` (``inf``
    outside the bounds)."""
    phi = f_scaled
    for j in range(w.shape[0]):
        if fixed[j] != 0.0:
            continue
        has_lower = lower[j] > -np.inf
        has_upper = upper[j] < np.inf
        if has_lower:
            gap = w[j] - lower[j]
            if not gap > 0.0:
                return np.inf
            phi -= mu * math.log(gap)
            if not has_upper:
                phi += KAPPA_D * mu * gap
        if has_upper:
            gap = upper[j] - w[j]
            if not gap > 0.0:
                return np.inf
            phi -= mu * math.log(gap)
            if not has_lower:
                phi += KAPPA_D * mu * gap
    return phi


@inlined
def damping(lower, upper, j, mu):
    """The gradient of the damping term of variable ``j`` (:data:`KAPPA_D`)."""
    has_lower = lower[j] > -np.inf
    has_upper = upper[j] < np.inf
    if has_lower and not has_upper:
        return KAPPA_D * mu
    if has_upper and not has_lower:
        return -KAPPA_D * mu
    return 0.0


@inlined
def fraction_to_boundary(v, dv, lower, upper, fixed, tau):
    """The largest step ``alpha <= 1`` with ``v + alpha dv`` at least a fraction
    ``1 - tau`` of its distance to each finite bound away from it."""
    alpha = 1.0
    for j in range(v.shape[0]):
        if fixed[j] != 0.0:
            continue
        if dv[j] < 0.0 and lower[j] > -np.inf:
            alpha = min(alpha, -tau * (v[j] - lower[j]) / dv[j])
        elif dv[j] > 0.0 and upper[j] < np.inf:
            alpha = min(alpha, tau * (upper[j] - v[j]) / dv[j])
    return alpha


@inlined
def multiplier_step_length(z, dz, tau):
    """The largest step ``alpha <= 1`` with ``z + alpha dz >= (1 - tau) z``."""
    alpha = 1.0
    for j in range(z.shape[0]):
        if dz[j] < 0.0 and z[j] > 0.0:
            alpha = min(alpha, -tau * z[j] / dz[j])
    return alpha


@helper
def optimality_error(w, lower, upper, fixed, zl, zu, y, d, gf, J, sc, slack_of, n, mu, dual):
    """``(E_mu, dual infeasibility, primal infeasibility, complementarity)`` of WB eq. 5
    (scaled by ``s_d``, ``s_c`` as there); ``dual`` receives ``grad f + A^T y - zl + zu``."""
    N = w.shape[0]
    m = y.shape[0]
    jacobian_transpose_times(J, sc, slack_of, y, n, dual)
    dual_inf = 0.0
    z_sum = 0.0
    complementarity = 0.0
    for j in range(N):
        if fixed[j] != 0.0:
            dual[j] = 0.0
            continue
        dual[j] += gf[j] - zl[j] + zu[j] + damping(lower, upper, j, mu)
        v = abs(dual[j])
        if v > dual_inf or v != v:
            dual_inf = v
        z_sum += zl[j] + zu[j]
        if lower[j] > -np.inf:
            complementarity = max(complementarity, abs((w[j] - lower[j]) * zl[j] - mu))
        if upper[j] < np.inf:
            complementarity = max(complementarity, abs((upper[j] - w[j]) * zu[j] - mu))
    primal_inf = 0.0
    y_sum = 0.0
    for i in range(m):
        v = abs(d[i])
        if v > primal_inf or v != v:
            primal_inf = v
        y_sum += abs(y[i])
    s_d = max(S_MAX, (y_sum + z_sum) / max(m + 2 * N, 1)) / S_MAX
    s_c = max(S_MAX, z_sum / max(2 * N, 1)) / S_MAX
    error = max(dual_inf / s_d, primal_inf, complementarity / s_c)
    if dual_inf != dual_inf or primal_inf != primal_inf:
        error = np.nan
    return error, dual_inf, primal_inf, complementarity


@inlined
def unscaled_violation(d, sc):
    """``max_i |d_i| / sc_i``: the constraint violation in the user's units."""
    worst = 0.0
    for i in range(d.shape[0]):
        v = abs(d[i]) / sc[i]
        if v > worst or v != v:
            worst = v
    return worst


@inlined
def filter_accepts(filt, count, theta, phi, theta_max):
    """Whether ``(theta, phi)`` is acceptable to the filter (not dominated by an entry)."""
    if not theta <= theta_max:
        return False
    for k in range(count):
        if theta >= filt[0, k] and phi >= filt[1, k]:
            return False
    return True


@inlined
def filter_add(filt, count, theta, phi):
    """Add ``(theta, phi)``, dropping the entries it dominates; returns the new count."""
    kept = 0
    for k in range(count):
        if not (filt[0, k] >= theta and filt[1, k] >= phi):
            filt[0, kept] = filt[0, k]
            filt[1, kept] = filt[1, k]
            kept += 1
    if kept < filt.shape[1]:
        filt[0, kept] = theta
        filt[1, kept] = phi
        kept += 1
    else:  # full: replace the last entry (the filter only grows in theory)
        filt[0, kept - 1] = theta
        filt[1, kept - 1] = phi
    return kept


@inlined
def trial_acceptable(theta, phi, slope, theta_t, phi_t, alpha, theta_min, filt, count,
                     theta_max):
    """``(accepted, f_type)`` of a trial point (WB sec. 2.3): not in the filter, and
    either the switching condition holds at a nearly feasible point and the Armijo
    condition on ``phi`` does (an f-type step), or ``theta`` or ``phi`` decreases
    sufficiently."""
    if not (theta_t == theta_t and phi_t == phi_t) or not filter_accepts(filt, count, theta_t,
                                                                        phi_t, theta_max):
        return False, False
    roundoff = 10.0 * EPS * abs(phi)
    switching = slope < 0.0 and alpha * (-slope) ** S_PHI > DELTA * theta ** S_THETA
    if theta <= theta_min and switching:
        return phi_t - phi - roundoff <= ETA_PHI * alpha * slope, True
    return (theta_t <= (1.0 - GAMMA_THETA) * theta
            or phi_t - roundoff <= phi - GAMMA_PHI * theta), False


@inlined
def minimum_step(theta, slope, theta_min):
    """WB eq. 23: below this step length the line search gives up (restoration)."""
    if slope < 0.0:
        if theta <= theta_min:
            return GAMMA_ALPHA * min(GAMMA_THETA, GAMMA_PHI * theta / (-slope),
                                     DELTA * theta ** S_THETA / (-slope) ** S_PHI)
        return GAMMA_ALPHA * min(GAMMA_THETA, GAMMA_PHI * theta / (-slope))
    return GAMMA_ALPHA * GAMMA_THETA


@helper
def evaluate_trial(value, constraints, wt, n, p, data, sf, sc, limits, slack_of, ct, dt,
                   lower, upper, fixed, mu, info):
    """``(f, theta, phi)`` at ``wt`` (the scaled objective, violation and barrier
    objective; NaN when a kernel gives a non-finite value)."""
    xt = wt[:n]
    info[abi.INFO_NFEV] += 1
    f = value(xt, p, data)
    if ct.shape[0] > 0:
        info[abi.INFO_NCEV] += 1
        constraints(xt, p, data, ct)
    theta = residuals(ct, wt, sc, limits, slack_of, n, dt)
    if not (math.isfinite(f) and math.isfinite(theta)):
        return np.nan, np.nan, np.nan
    phi = barrier(sf * f, wt, lower, upper, fixed, mu)
    return f, theta, phi


@inlined
def dual_steps(w, dw, lower, upper, fixed, zl, zu, mu, dzl, dzu):
    """The bound multipliers' steps from the primal step (WB eq. 11)."""
    for j in range(w.shape[0]):
        dzl[j] = 0.0
        dzu[j] = 0.0
        if fixed[j] != 0.0:
            continue
        if lower[j] > -np.inf:
            gap = w[j] - lower[j]
            dzl[j] = (mu - zl[j] * gap - zl[j] * dw[j]) / gap
        if upper[j] < np.inf:
            gap = upper[j] - w[j]
            dzu[j] = (mu - zu[j] * gap + zu[j] * dw[j]) / gap


@inlined
def safeguard_multipliers(w, lower, upper, fixed, zl, zu, mu):
    """Keep each bound multiplier within a factor KAPPA_SIGMA of ``mu / gap`` (WB eq. 16)."""
    for j in range(w.shape[0]):
        if fixed[j] != 0.0:
            continue
        if lower[j] > -np.inf:
            target = mu / (w[j] - lower[j])
            zl[j] = max(min(zl[j], KAPPA_SIGMA * target), target / KAPPA_SIGMA)
        if upper[j] < np.inf:
            target = mu / (upper[j] - w[j])
            zu[j] = max(min(zu[j], KAPPA_SIGMA * target), target / KAPPA_SIGMA)


# --- the iteration ----------------------------------------------------------------------------


@iteration
def _ipm(value, value_grad, constraints, constraints_jacobian, lagrangian_hessian, x, p, data,  # noqa: C901 (one numerical loop, kept whole like its reference)
         limits, opts, info, lam_out, z_out, c_out, g_out, kkt_out, hist, VN, VM, VK, J, H, K, F,
         M, slack_of, filt):
    """The interior-point iteration of :func:`solve`: work arrays ``VN`` (16 x N, N =
    n + slacks), ``VM`` (12 x m), ``VK`` (5 x (N + m)), ``J`` (m x n), ``H`` (n x n),
    ``K``, ``F`` ((N + m) square), ``M`` (N x N, restoration), ``slack_of`` (m), ``filt``
    (2 x FILTER_CAPACITY).  Returns f at the final iterate."""
    tol, max_iter, constr_tol, mu, push, scale_max = read_options(opts, DEFAULT_MAX_ITER)
    n = x.shape[0]
    m = lam_out.shape[0]
    N = VN.shape[1]
    size = N + m
    w, lower, upper, zl, zu = VN[0], VN[1], VN[2], VN[3], VN[4]
    dw, dzl, dzu, wt, gf = VN[5], VN[6], VN[7], VN[8], VN[9]
    sigma, wsoc, fixed, gphi, dual = VN[10], VN[11], VN[12], VN[13], VN[14]
    gR = VN[15]
    y, dy, c, d, ct, dt = VM[0], VM[1], VM[2], VM[3], VM[4], VM[5]
    sc, ysc, csoc, dsoc, cs = VM[6], VM[7], VM[8], VM[9], VM[10]
    rhs, sol, residual, pivots, scale = VK[0], VK[1], VK[2], VK[3], VK[4]
    info[:] = 0

    # --- bounds of w, the start, the scaling -------------------------------------------------
    for j in range(n):
        lower[j] = limits[j]
        upper[j] = limits[n + j]
        fixed[j] = 1.0 if lower[j] == upper[j] else 0.0
        w[j] = push_inside(x[j], lower[j], upper[j], push)
    for j in range(n, N):
        fixed[j] = 0.0
    xw = w[:n]
    info[abi.INFO_NFEV] += 1
    info[abi.INFO_NJEV] += 1
    f = value_grad(xw, p, data, g_out)
    f_floor = -UNBOUNDED_DROP * max(1.0, abs(f))
    if m > 0:
        info[abi.INFO_NCEV] += 1
        constraints_jacobian(xw, p, data, c, J)
    finite = math.isfinite(f) and all_finite_matrix(J)
    for j in range(n):
        finite = finite and math.isfinite(g_out[j])
    for i in range(m):
        finite = finite and math.isfinite(c[i])
    if not finite:
        for j in range(n):
            x[j] = w[j]
        info[abi.INFO_STATUS] = NAN_ENCOUNTERED
        kkt_out[:] = np.nan
        return f
    sf = 1.0
    if scale_max > 0.0:
        largest = 0.0
        for j in range(n):
            largest = max(largest, abs(g_out[j]))
        if largest > scale_max:
            sf = max(scale_max / largest, SCALE_MIN)
    for i in range(m):
        sc[i] = 1.0
        if scale_max > 0.0:
            largest = 0.0
            for j in range(n):
                largest = max(largest, abs(J[i, j]))
            if largest > scale_max:
                sc[i] = max(scale_max / largest, SCALE_MIN)
        k = slack_of[i]
        if k >= 0:
            lower[n + k] = sc[i] * limits[2 * n + i]
            upper[n + k] = sc[i] * limits[2 * n + m + i]
            w[n + k] = push_inside(sc[i] * c[i], lower[n + k], upper[n + k], push)
    for j in range(N):
        gf[j] = sf * g_out[j] if j < n else 0.0
        zl[j] = 1.0 if (lower[j] > -np.inf and fixed[j] == 0.0) else 0.0
        zu[j] = 1.0 if (upper[j] < np.inf and fixed[j] == 0.0) else 0.0
        sigma[j] = 0.0
    theta = residuals(c, w, sc, limits, slack_of, n, d)
    least_squares_multipliers(K, F, pivots, scale, H, J, sc, slack_of, sigma, fixed, n, gf, zl, zu,
                              rhs, sol, residual, y)
    theta_max = 1e4 * max(1.0, theta)
    theta_min = 1e-4 * max(1.0, theta)
    mu_min = tol / 10.0
    tau = max(TAU_MIN, 1.0 - mu)
    count = 0
    delta_w_last = 0.0
    acceptable_count = 0
    status = CONTINUE
    nit = 0

    need_hessian = True
    while status == CONTINUE:
        if need_hessian:
            for i in range(m):
                ysc[i] = y[i] * sc[i]
            info[abi.INFO_NHEV] += 1
            lagrangian_hessian(w[:n], p, data, ysc, sf, H)
            need_hessian = False
        # --- convergence ------------------------------------------------------------------
        error0, dual_inf, primal_inf, _ = optimality_error(w, lower, upper, fixed, zl, zu, y, d,
                                                           gf, J, sc, slack_of, n, 0.0, dual)
        viol = unscaled_violation(d, sc)
        record_history(hist, nit, f, viol, dual_inf / sf, mu, w[:n], info)
        if not (error0 == error0):
            status = NAN_ENCOUNTERED
            break
        if error0 <= tol and viol <= constr_tol:
            status = CONVERGED
            break
        if error0 <= ACCEPTABLE_TOL and viol <= ACCEPTABLE_CONSTR_FACTOR * constr_tol:
            acceptable_count += 1
            if acceptable_count >= ACCEPTABLE_ITER:
                status = ACCEPTABLE
                break
        else:
            acceptable_count = 0
        largest = 0.0
        for j in range(n):
            largest = max(largest, abs(w[j]))
        if (viol <= constr_tol and f < f_floor) or largest > DIVERGING:
            status = UNBOUNDED
            break
        if nit >= max_iter:
            status = MAX_ITER
            break
        # --- barrier parameter (monotone) ---------------------------------------------------
        while mu > mu_min:
            error_mu, _, _, _ = optimality_error(w, lower, upper, fixed, zl, zu, y, d, gf, J, sc,
                                                 slack_of, n, mu, dual)
            if error_mu > KAPPA_EPS * mu:
                break
            mu = max(mu_min, min(KAPPA_MU * mu, mu ** THETA_MU))
            tau = max(TAU_MIN, 1.0 - mu)
            count = 0
        # --- the Newton step --------------------------------------------------------------------
        for j in range(N):
            sigma[j] = 0.0
            gphi[j] = gf[j]
            if fixed[j] != 0.0:
                continue
            gphi[j] += damping(lower, upper, j, mu)
            if lower[j] > -np.inf:
                gap = w[j] - lower[j]
                sigma[j] += zl[j] / gap
                gphi[j] -= mu / gap
            if upper[j] < np.inf:
                gap = upper[j] - w[j]
                sigma[j] += zu[j] / gap
                gphi[j] += mu / gap
        ok, delta_w, delta_c = factor_with_inertia(K, F, pivots, scale, H, J, sc, slack_of, sigma,
                                                   fixed, n, mu, delta_w_last)
        if delta_w > 0.0:
            delta_w_last = delta_w
        phi = barrier(sf * f, w, lower, upper, fixed, mu)
        accepted = False
        if ok:
            jacobian_transpose_times(J, sc, slack_of, y, n, dual)
            for j in range(N):
                rhs[j] = -(gphi[j] + dual[j]) if fixed[j] == 0.0 else 0.0
            for i in range(m):
                rhs[N + i] = -d[i]
            solve_refined(K, F, pivots, rhs[:size], sol[:size], residual[:size])
            slope = 0.0
            tiny = True
            for j in range(N):
                dw[j] = sol[j]
                slope += gphi[j] * dw[j]
                if abs(dw[j]) > 10.0 * EPS * (1.0 + abs(w[j])):
                    tiny = False
            for i in range(m):
                dy[i] = sol[N + i]
            dual_steps(w, dw, lower, upper, fixed, zl, zu, mu, dzl, dzu)
            alpha_max = fraction_to_boundary(w, dw, lower, upper, fixed, tau)
            alpha_z = min(multiplier_step_length(zl, dzl, tau),
                          multiplier_step_length(zu, dzu, tau))
            # --- filter line search with second-order correction ------------------------
            alpha = alpha_max
            alpha_min = minimum_step(theta, slope, theta_min)
            first = True
            f_type = False
            f_trial = f
            theta_t = theta
            while not accepted:
                if tiny:  # the step is below rounding: take it without a search
                    for j in range(N):
                        wt[j] = w[j] + alpha * dw[j]
                    f_trial, theta_t, _ = evaluate_trial(value, constraints, wt, n, p, data, sf,
                                                         sc, limits, slack_of, ct, dt, lower,
                                                         upper, fixed, mu, info)
                    accepted = f_trial == f_trial
                    f_type = True
                    break
                if alpha < alpha_min:
                    break
                for j in range(N):
                    wt[j] = w[j] + alpha * dw[j]
                f_trial, theta_t, phi_t = evaluate_trial(value, constraints, wt, n, p, data, sf,
                                                         sc, limits, slack_of, ct, dt, lower,
                                                         upper, fixed, mu, info)
                accepted, f_type = trial_acceptable(theta, phi, slope, theta_t, phi_t, alpha,
                                                    theta_min, filt, count, theta_max)
                if accepted:
                    break
                if first and m > 0 and theta_t == theta_t and theta_t >= theta:
                    # second-order correction: re-solve with the constraint residual of
                    # the trial point, keeping the factorisation
                    for i in range(m):
                        csoc[i] = alpha * d[i] + dt[i]
                    theta_soc_old = theta
                    for _ in range(MAX_SOC):
                        for i in range(m):
                            rhs[N + i] = -csoc[i]
                        solve_refined(K, F, pivots, rhs[:size], sol[:size], residual[:size])
                        for j in range(N):
                            wsoc[j] = sol[j]
                        alpha_soc = fraction_to_boundary(w, wsoc, lower, upper, fixed, tau)
                        for j in range(N):
                            wt[j] = w[j] + alpha_soc * wsoc[j]
                        f_soc, theta_soc, phi_soc = evaluate_trial(
                            value, constraints, wt, n, p, data, sf, sc, limits, slack_of, cs,
                            dsoc, lower, upper, fixed, mu, info)
                        ok_soc, f_type = trial_acceptable(theta, phi, slope, theta_soc, phi_soc,
                                                          alpha, theta_min, filt, count,
                                                          theta_max)
                        if ok_soc:
                            accepted = True
                            f_trial = f_soc
                            theta_t = theta_soc
                            for i in range(m):
                                ct[i] = cs[i]
                                dt[i] = dsoc[i]
                                dy[i] = sol[N + i]
                            for j in range(N):
                                dw[j] = wsoc[j]
                            alpha = alpha_soc
                            dual_steps(w, dw, lower, upper, fixed, zl, zu, mu, dzl, dzu)
                            alpha_z = min(multiplier_step_length(zl, dzl, tau),
                                          multiplier_step_length(zu, dzu, tau))
                            break
                        if not (theta_soc == theta_soc) or theta_soc > KAPPA_SOC * theta_soc_old:
                            break
                        theta_soc_old = theta_soc
                        for i in range(m):
                            csoc[i] = alpha_soc * csoc[i] + dsoc[i]
                    if accepted:
                        break
                    for i in range(m):  # restore the step's right-hand side
                        rhs[N + i] = -d[i]
                first = False
                alpha *= 0.5
            if accepted:
                if not f_type:
                    count = filter_add(filt, count, (1.0 - GAMMA_THETA) * theta,
                                       phi - GAMMA_PHI * theta)
                for j in range(N):
                    w[j] = wt[j]
                for i in range(m):
                    y[i] += alpha * dy[i]
                    c[i] = ct[i]
                    d[i] = dt[i]
                for j in range(N):
                    zl[j] += alpha_z * dzl[j]
                    zu[j] += alpha_z * dzu[j]
                safeguard_multipliers(w, lower, upper, fixed, zl, zu, mu)
                theta = theta_t
        if not accepted:
            # --- feasibility restoration --------------------------------------------------
            if viol <= constr_tol:
                # nothing to restore: the line search failed at a feasible point
                status = ACCEPTABLE if error0 <= ACCEPTABLE_TOL else RESTORATION_FAILED
                break
            count = filter_add(filt, count, (1.0 - GAMMA_THETA) * theta,
                               phi - GAMMA_PHI * theta)
            resto = _restore(value, constraints, constraints_jacobian, w, n, p, data, sf, sc,
                             limits, slack_of, lower, upper, fixed, mu, tau, c, d, J, M, dw, gR,
                             wt, ct, dt, filt, count, theta_max, info, wsoc)
            if resto != CONTINUE:
                status = resto if ok or resto == INFEASIBLE else STEP_FAILED
                break
            theta = residuals(c, w, sc, limits, slack_of, n, d)
            for j in range(N):
                zl[j] = 0.0
                zu[j] = 0.0
                if fixed[j] != 0.0:
                    continue
                if lower[j] > -np.inf:
                    zl[j] = mu / (w[j] - lower[j])
                if upper[j] < np.inf:
                    zu[j] = mu / (upper[j] - w[j])
        # --- derivatives at the new point -------------------------------------------------------
        info[abi.INFO_NFEV] += 1
        info[abi.INFO_NJEV] += 1
        f = value_grad(w[:n], p, data, g_out)
        if m > 0:
            info[abi.INFO_NCEV] += 1
            constraints_jacobian(w[:n], p, data, c, J)
        for j in range(n):
            gf[j] = sf * g_out[j]
        theta = residuals(c, w, sc, limits, slack_of, n, d)
        if not accepted:
            least_squares_multipliers(K, F, pivots, scale, H, J, sc, slack_of, sigma, fixed, n, gf, zl,
                                      zu, rhs, sol, residual, y)
        need_hessian = True
        nit += 1
        info[abi.INFO_NIT] = nit

    # --- the result, in the user's units -------------------------------------------------------
    for j in range(n):
        x[j] = w[j]
    for i in range(m):
        lam_out[i] = y[i] * sc[i] / sf
        c_out[i] = c[i]
    jacobian_transpose_times(J, sc, slack_of, y, n, dual)
    for j in range(n):
        if fixed[j] != 0.0:
            # the multiplier that makes the fixed variable's stationarity hold
            total = g_out[j]
            for i in range(m):
                total += J[i, j] * lam_out[i]
            z_out[j] = -total
        else:
            z_out[j] = (zu[j] - zl[j]) / sf
    kkt_report(x, g_out, c_out, J, lam_out, z_out, limits, kkt_out, mu)
    info[abi.INFO_STATUS] = status
    info[abi.INFO_NIT] = nit
    return f


@inlined
def _restoration_merit(d):
    """``||d||^2 / 2``."""
    total = 0.0
    for i in range(d.shape[0]):
        total += d[i] * d[i]
    return 0.5 * total


@helper
def _gauss_newton_matrix(M, J, sc, slack_of, n):
    """The lower triangle of ``A^T A``, ``A = [diag(sc) J, -E]`` the Jacobian of ``d(w)``."""
    N = M.shape[0]
    m = sc.shape[0]
    for a in range(N):
        for b in range(a + 1):
            M[a, b] = 0.0
    for i in range(m):
        s2 = sc[i] * sc[i]
        for a in range(n):
            va = J[i, a]
            if va == 0.0:
                continue
            for b in range(a + 1):
                M[a, b] += s2 * va * J[i, b]
        k = slack_of[i]
        if k >= 0:
            M[n + k, n + k] += 1.0
            for b in range(n):
                M[n + k, b] -= sc[i] * J[i, b]


@helper
def _restore(value, constraints, constraints_jacobian, w, n, p, data, sf, sc, limits, slack_of,  # noqa: C901 (one numerical loop, kept whole like its reference)
             lower, upper, fixed, mu, tau, c, d, J, M, dw, grad, wt, ct, dt, filt, count,
             theta_max, info, active):
    """Feasibility restoration: Levenberg-Marquardt steps on ``||d(w)||^2 / 2``, projected
    into the bounds (:func:`project_inside`, which keeps the iterates interior), with the
    epsilon-active
    variables (:data:`EPSILON_ACTIVE`; marked in ``active``, workspace) moved onto their
    bounds, until ``||d||_1`` has dropped to
    :data:`RESTORATION_REDUCTION` of its value at the start and the point is acceptable
    to the filter.  Updates ``w``, ``c``, ``d``, ``J`` in place; returns ``CONTINUE`` on
    success, ``INFEASIBLE`` at a stationary point of the violation (its projected
    gradient below :data:`RESTORATION_STATIONARY` relative to it, or no progress over
    :data:`RESTORATION_STALL_STEPS` steps), else ``RESTORATION_FAILED``."""
    N = w.shape[0]
    m = d.shape[0]
    theta0 = 0.0
    for i in range(m):
        theta0 += abs(d[i])
    lam = 1e-4
    theta_history = np.inf
    for iteration_r in range(RESTORATION_MAX_ITER):
        info[abi.INFO_NINNER] += 1
        merit = _restoration_merit(d)
        jacobian_transpose_times(J, sc, slack_of, d, n, grad)
        stationary = 0.0
        theta = 0.0
        for i in range(m):
            theta += abs(d[i])
        if iteration_r % RESTORATION_STALL_STEPS == 0:
            if theta > (1.0 - RESTORATION_STALL) * theta_history:
                return INFEASIBLE
            theta_history = theta
        for j in range(N):
            active[j] = 0.0
            if fixed[j] != 0.0:
                grad[j] = 0.0
                continue
            g = grad[j]
            gap_lower = w[j] - lower[j]
            gap_upper = upper[j] - w[j]
            near_lower = lower[j] > -np.inf and gap_lower <= NEAR_BOUND * (1.0 + abs(lower[j]))
            near_upper = upper[j] < np.inf and gap_upper <= NEAR_BOUND * (1.0 + abs(upper[j]))
            if not ((near_lower and g > 0.0) or (near_upper and g < 0.0)):
                stationary = max(stationary, abs(g))
            if (g > 0.0 and lower[j] > -np.inf
                    and gap_lower <= EPSILON_ACTIVE * (1.0 + abs(lower[j]))) or \
                    (g < 0.0 and upper[j] < np.inf
                     and gap_upper <= EPSILON_ACTIVE * (1.0 + abs(upper[j]))):
                active[j] = 1.0
        if stationary <= RESTORATION_STATIONARY * max(1.0, theta):
            return INFEASIBLE
        moved = False
        while lam <= 1e20:
            _gauss_newton_matrix(M, J, sc, slack_of, n)
            for a in range(N):
                if fixed[a] != 0.0 or active[a] != 0.0:
                    for b in range(a):
                        M[a, b] = 0.0
                    for b in range(a + 1, N):
                        M[b, a] = 0.0
                    M[a, a] = 1.0
                    continue
                M[a, a] += lam
            if not cholesky(M, 0.0, M):  # in place: the factor replaces the lower triangle
                lam *= 10.0
                continue
            for a in range(N):
                dw[a] = 0.0 if active[a] != 0.0 else -grad[a]
            cholesky_solve(M, dw, dw)
            for a in range(N):  # an epsilon-active variable goes onto its bound
                if active[a] != 0.0:
                    dw[a] = lower[a] - w[a] if grad[a] > 0.0 else upper[a] - w[a]
            # a projected search: the bounds a least-violation point presses against are
            # reached in one step (a common fraction-to-the-boundary step length would
            # shrink every variable's step to the one nearest its bound)
            alpha = 1.0
            for _ls in range(30):
                slope = 0.0
                for a in range(N):
                    if fixed[a] != 0.0:
                        wt[a] = w[a]
                    else:
                        wt[a] = project_inside(w[a] + alpha * dw[a], lower[a], upper[a])
                    slope += grad[a] * (wt[a] - w[a])
                if m > 0:
                    info[abi.INFO_NCEV] += 1
                    constraints(wt[:n], p, data, ct)
                residuals(ct, wt, sc, limits, slack_of, n, dt)
                trial = _restoration_merit(dt)
                if trial == trial and slope < 0.0 and trial <= merit + 1e-4 * slope:
                    moved = True
                    break
                alpha *= 0.5
            if moved:
                break
            lam *= 10.0
        if not moved:
            return RESTORATION_FAILED
        lam = max(lam / 3.0, 1e-12)
        for a in range(N):
            w[a] = wt[a]
        if m > 0:
            info[abi.INFO_NCEV] += 1
            constraints_jacobian(w[:n], p, data, c, J)
        theta = residuals(c, w, sc, limits, slack_of, n, d)
        if theta <= RESTORATION_REDUCTION * theta0:
            info[abi.INFO_NFEV] += 1
            f = value(w[:n], p, data)
            phi = barrier(sf * f, w, lower, upper, fixed, mu)
            if phi == phi and filter_accepts(filt, count, theta, phi, theta_max):
                return CONTINUE
    return RESTORATION_FAILED


@solver
def solve(value, value_grad, constraints, constraints_jacobian, lagrangian_hessian, al_value,
          al_value_grad, x, p, data, limits, opts, info, lam_out, z_out, c_out, g_out, kkt_out,
          hist):
    """Minimise subject to constraints by the interior-point method; see
    :data:`symopt.constrained.abi.solver_sig` for the arguments."""
    if not arguments_valid(x, limits, opts, info, lam_out, z_out, c_out, g_out, kkt_out, hist):
        return np.nan
    n = x.shape[0]
    m = lam_out.shape[0]
    slack_of = np.full(m, -1, np.int64)
    slacks = 0
    for i in range(m):
        if limits[2 * n + i] < limits[2 * n + m + i]:
            slack_of[i] = slacks
            slacks += 1
    N = n + slacks
    size = N + m
    VN = np.zeros((16, N))
    VM = np.zeros((12, m))
    VK = np.zeros((5, size))
    J = np.zeros((m, n))
    H = np.zeros((n, n))
    K = np.zeros((size, size))
    F = np.zeros((size, size))
    M = np.zeros((N, N))
    filt = np.zeros((2, FILTER_CAPACITY))
    try:
        return _ipm(value, value_grad, constraints, constraints_jacobian, lagrangian_hessian, x,
                    p, data, limits, opts, info, lam_out, z_out, c_out, g_out, kkt_out, hist, VN,
                    VM, VK, J, H, K, F, M, slack_of, filt)
    except Exception:  # noqa: BLE001 - a hand-written kernel raised
        pass
    info[abi.INFO_STATUS] = NAN_ENCOUNTERED
    kkt_out[:] = np.nan
    return np.nan
