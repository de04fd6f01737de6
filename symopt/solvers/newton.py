"""Newton's method with a modified Hessian and Armijo backtracking.

Near a minimum f is close to its quadratic model ``f + g.d + d.H.d / 2``, whose
minimiser is the Newton step ``d = -H^{-1} g``; taking it converges quadratically.
Away from a minimum the Hessian may be indefinite, and then ``-H^{-1} g`` need not
point downhill.  Following Nocedal & Wright (Alg. 3.3, "Cholesky with added multiple of
the identity"), the solver factors ``H + tau I`` by Cholesky with ``tau = 0`` when the
diagonal of ``H`` is positive, else just enough to make it positive, and doubles ``tau``
until the factorisation succeeds.  A positive definite matrix gives a descent
direction; large ``tau`` turns the step into a short gradient step, small ``tau``
leaves the Newton step.  The step length comes from Armijo backtracking starting at 1,
the length at which the Newton step is exact for a quadratic.

Importing this module compiles the solver (or loads it from Numba's on-disk cache).
``H_out`` receives the (unmodified) Hessian at the final point.
"""

from __future__ import annotations

import math

import numpy as np

from ._common import (
    arguments_valid,
    derivatives_finite,
    descent_slope,
    end_iteration,
    finish,
    read_options,
    start,
)
from ._jit import helper, solver
from .linalg import cholesky, cholesky_solve, copy_matrix
from .linesearch import LS_OK, backtracking, failure_status
from .status import CONTINUE, HESSIAN_NOT_PD

__all__ = ["solve"]

#: The smallest shift tried, relative to the Hessian's Frobenius norm (N&W: beta).
SHIFT_RTOL = 1e-3
#: Doublings of the shift before giving up.  The shift needed never exceeds
#: ||H||_F, reached from SHIFT_RTOL * ||H||_F in about 10 doublings; only NaN/Inf fail.
MAX_SHIFTS = 64


@helper
def factor_modified_hessian(H, L):
    """Factor ``H + tau I = L L^T`` with the smallest ``tau`` of the sequence
    0 (or ``beta - min diag``), then doubling, for which Cholesky succeeds.
    Returns ``tau``, or -1 when no shift works (``H`` not finite)."""
    n = H.shape[0]
    frobenius_sq = 0.0
    min_diagonal = np.inf
    for i in range(n):
        min_diagonal = min(min_diagonal, H[i, i])
        for j in range(n):
            frobenius_sq += H[i, j] * H[i, j]
    frobenius = math.sqrt(frobenius_sq)
    if not math.isfinite(frobenius):
        return -1.0
    beta = SHIFT_RTOL * frobenius if frobenius > 0.0 else SHIFT_RTOL
    tau = 0.0 if min_diagonal > 0.0 else beta - min_diagonal
    for _ in range(MAX_SHIFTS):
        if cholesky(H, tau, L):
            return tau
        tau = max(2.0 * tau, beta)
    return -1.0


@solver
def solve(value, value_grad, value_grad_hess, x, p, data, opts, info, hist, g_out, H_out):
    """Minimise by Newton's method; see :data:`symopt.abi.solver_sig` for the arguments."""
    if not arguments_valid(x, opts, info, hist, g_out, H_out, True):
        return np.nan
    gtol, ftol, xtol, max_iter, _, c1, _, max_ls = read_options(opts)
    n = x.shape[0]

    # updated every iteration: x (in place), f, gradient g and Hessian H at x
    g = g_out
    H = H_out
    f, gnorm, status = start(2, value_grad, value_grad_hess, x, p, data, g, H, info, hist,
                             gtol, max_iter)
    if status == CONTINUE and not derivatives_finite(2, f, g, H):
        status = HESSIAN_NOT_PD
    nit = 0
    # work arrays: Cholesky factor, direction, trial point
    L = np.empty((n, n))
    direction = np.empty(n)
    x_trial = np.empty(n)
    g_trial = np.empty(n)
    H_trial = np.empty((n, n))

    while status == CONTINUE:
        if factor_modified_hessian(H, L) < 0.0:
            status = HESSIAN_NOT_PD
            break
        cholesky_solve(L, g, direction)
        for i in range(n):
            direction[i] = -direction[i]
        slope, _ = descent_slope(g, direction)
        alpha, f_trial, flag = backtracking(
            2, value, value_grad, value_grad_hess, x, p, data, f, slope, direction,
            1.0, c1, max_ls, x_trial, g_trial, H_trial, info)
        if flag != LS_OK:
            status = failure_status(flag, f, -slope)
            break
        nit += 1
        f_prev, f = f, f_trial
        copy_matrix(H_trial, H)
        gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info,
                                      gtol, ftol, xtol, max_iter)
    finish(info, status, nit)
    return f
