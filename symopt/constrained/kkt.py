"""The direct KKT method: Newton's method on the KKT conditions of an equality-constrained
problem (no inequalities, no bounds).

Each iteration solves ``[H + dw I, J^T; J, -dc I] [dx; dy] = -[grad f + J^T y; c - cl]``
with ``H`` the exact Hessian of the Lagrangian, regularised until the matrix has the
inertia ``(n, m, 0)`` (:mod:`._kkt_system`), and takes the step under an Armijo
condition on the l1 merit function ``f + nu ||c - cl||_1`` (``nu`` above the largest
multiplier), halving it from 1.  With linear constraints a full step lands on them and
every later step stays there; a quadratic objective is then minimised in one step, so
the solve is one factorisation plus the evaluation that confirms it.

Converges when ``||grad f + J^T y||_inf <= tol * s_d`` (``s_d`` Ipopt's multiplier
scaling, :mod:`.interior_point`) and ``||c - cl||_inf <= constr_tol``.
Kernels used: value, value_grad, constraints, constraints_jacobian, lagrangian_hessian.
"""

from __future__ import annotations

import math

import numpy as np

from ..solvers._jit import inlined, iteration
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
    CONTINUE,
    CONVERGED,
    INVALID_INPUT,
    LINE_SEARCH_FAILED,
    MAX_ITER,
    NAN_ENCOUNTERED,
    STEP_FAILED,
)

__all__ = ["solve", "DEFAULT_MAX_ITER"]

DEFAULT_MAX_ITER = 200
ARMIJO = 1e-4
MAX_HALVINGS = 60
S_MAX = 100.0


@inlined
def merit(f, c, limits, n, nu):
    """``f + nu ||c - cl||_1`` and ``||c - cl||_inf``."""
    m = c.shape[0]
    total = 0.0
    worst = 0.0
    for i in range(m):
        r = abs(c[i] - limits[2 * n + i])
        total += r
        worst = max(worst, r)
    return f + nu * total, worst, total


@iteration
def _kkt(value, value_grad, constraints, constraints_jacobian, lagrangian_hessian, x, p, data,  # noqa: C901 (one numerical loop, kept whole like its reference)
         limits, opts, info, lam_out, z_out, c_out, g_out, kkt_out, hist, VN, VM, VK, J, H, K, F,
         slack_of):
    """The iteration of :func:`solve`: work arrays ``VN`` (8 x n), ``VM`` (6 x m), ``VK``
    (5 x (n + m)), ``J`` (m x n), ``H`` (n x n), ``K``, ``F`` ((n + m) square)."""
    tol, max_iter, constr_tol, _, _, _ = read_options(opts, DEFAULT_MAX_ITER)
    n = x.shape[0]
    m = lam_out.shape[0]
    size = n + m
    dx, xt, gL, sigma, fixed, zero_n = VN[0], VN[1], VN[2], VN[3], VN[4], VN[5]
    y, dy, ct, ones, cr = VM[0], VM[1], VM[2], VM[3], VM[4]
    rhs, sol, residual, pivots, scale = VK[0], VK[1], VK[2], VK[3], VK[4]
    info[:] = 0
    for i in range(m):
        ones[i] = 1.0
    info[abi.INFO_NFEV] += 1
    info[abi.INFO_NJEV] += 1
    f = value_grad(x, p, data, g_out)
    if m > 0:
        info[abi.INFO_NCEV] += 1
        constraints_jacobian(x, p, data, c_out, J)
    finite = math.isfinite(f) and all_finite_matrix(J)
    for j in range(n):
        finite = finite and math.isfinite(g_out[j])
    for i in range(m):
        finite = finite and math.isfinite(c_out[i])
    if not finite:
        info[abi.INFO_STATUS] = NAN_ENCOUNTERED
        kkt_out[:] = np.nan
        return f
    least_squares_multipliers(K, F, pivots, scale, H, J, ones, slack_of, sigma, fixed, n, g_out,
                              zero_n, zero_n, rhs, sol, residual, y)
    nu = 0.0
    delta_w_last = 0.0
    status = CONTINUE
    nit = 0
    while True:
        jacobian_transpose_times(J, ones, slack_of, y, n, gL)
        stationarity = 0.0
        for j in range(n):
            gL[j] += g_out[j]
            stationarity = max(stationarity, abs(gL[j]))
        _, infeasibility, _ = merit(f, c_out, limits, n, 0.0)
        y_sum = 0.0
        for i in range(m):
            y_sum += abs(y[i])
        s_d = max(S_MAX, y_sum / max(m, 1)) / S_MAX
        record_history(hist, nit, f, infeasibility, stationarity, 0.0, x, info)
        if not (stationarity == stationarity and infeasibility == infeasibility):
            status = NAN_ENCOUNTERED
            break
        if stationarity <= tol * s_d and infeasibility <= constr_tol:
            status = CONVERGED
            break
        if nit >= max_iter:
            status = MAX_ITER
            break
        info[abi.INFO_NHEV] += 1
        lagrangian_hessian(x, p, data, y, 1.0, H)
        ok, delta_w, _ = factor_with_inertia(K, F, pivots, scale, H, J, ones, slack_of, sigma,
                                             fixed, n, 1.0, delta_w_last)
        if not ok:
            status = STEP_FAILED
            break
        if delta_w > 0.0:
            delta_w_last = delta_w
        for j in range(n):
            rhs[j] = -gL[j]
        for i in range(m):
            cr[i] = c_out[i] - limits[2 * n + i]
            rhs[n + i] = -cr[i]
        solve_refined(K, F, pivots, rhs[:size], sol[:size], residual[:size])
        largest = 0.0
        slope = 0.0
        for j in range(n):
            dx[j] = sol[j]
            slope += g_out[j] * dx[j]
        for i in range(m):
            dy[i] = sol[n + i]
            largest = max(largest, abs(y[i] + dy[i]))
        nu = max(nu, 1.1 * largest + 1e-8)
        phi, _, violation_1 = merit(f, c_out, limits, n, nu)
        # directional derivative of the l1 merit along a step with J dx = -(c - cl)
        derivative = slope - nu * violation_1
        alpha = 1.0
        accepted = False
        f_trial = f
        for _ in range(MAX_HALVINGS):
            for j in range(n):
                xt[j] = x[j] + alpha * dx[j]
            info[abi.INFO_NFEV] += 1
            f_trial = value(xt, p, data)
            if m > 0:
                info[abi.INFO_NCEV] += 1
                constraints(xt, p, data, ct)
            phi_trial, _, _ = merit(f_trial, ct, limits, n, nu)
            roundoff = 10.0 * np.finfo(np.float64).eps * abs(phi)
            if phi_trial == phi_trial and phi_trial - roundoff <= phi + ARMIJO * alpha * min(
                    derivative, 0.0):
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            status = LINE_SEARCH_FAILED
            break
        for j in range(n):
            x[j] = xt[j]
        for i in range(m):
            y[i] += alpha * dy[i]
        info[abi.INFO_NFEV] += 1
        info[abi.INFO_NJEV] += 1
        f = value_grad(x, p, data, g_out)
        if m > 0:
            info[abi.INFO_NCEV] += 1
            constraints_jacobian(x, p, data, c_out, J)
        nit += 1
        info[abi.INFO_NIT] = nit
    for i in range(m):
        lam_out[i] = y[i]
    for j in range(n):
        z_out[j] = 0.0
    kkt_report(x, g_out, c_out, J, lam_out, z_out, limits, kkt_out, 0.0)
    info[abi.INFO_STATUS] = status
    info[abi.INFO_NIT] = nit
    return f


@solver
def solve(value, value_grad, constraints, constraints_jacobian, lagrangian_hessian, al_value,
          al_value_grad, x, p, data, limits, opts, info, lam_out, z_out, c_out, g_out, kkt_out,
          hist):
    """Solve an equality-constrained problem by Newton's method on its KKT conditions; see
    :data:`symopt.constrained.abi.solver_sig`.  Reports ``INVALID_INPUT`` for a problem
    with a bound or an inequality (use the interior-point method)."""
    if not arguments_valid(x, limits, opts, info, lam_out, z_out, c_out, g_out, kkt_out, hist):
        return np.nan
    n = x.shape[0]
    m = lam_out.shape[0]
    for j in range(n):
        if limits[j] > -np.inf or limits[n + j] < np.inf:
            info[abi.INFO_STATUS] = INVALID_INPUT
            kkt_out[:] = np.nan
            return np.nan
    for i in range(m):
        if limits[2 * n + i] != limits[2 * n + m + i]:
            info[abi.INFO_STATUS] = INVALID_INPUT
            kkt_out[:] = np.nan
            return np.nan
    size = n + m
    VN = np.zeros((8, n))
    VM = np.zeros((6, m))
    VK = np.zeros((5, size))
    J = np.zeros((m, n))
    H = np.zeros((n, n))
    K = np.zeros((size, size))
    F = np.zeros((size, size))
    slack_of = np.full(m, -1, np.int64)
    try:
        return _kkt(value, value_grad, constraints, constraints_jacobian, lagrangian_hessian, x,
                    p, data, limits, opts, info, lam_out, z_out, c_out, g_out, kkt_out, hist, VN,
                    VM, VK, J, H, K, F, slack_of)
    except Exception:  # noqa: BLE001 - a hand-written kernel raised
        pass
    info[abi.INFO_STATUS] = NAN_ENCOUNTERED
    kkt_out[:] = np.nan
    return np.nan
