"""Gauss-Newton with Armijo backtracking, the step from a pivoted QR of the scaled Jacobian
(a complete orthogonal decomposition when it is rank deficient); the method, its options
and how it is compiled: :mod:`.least_squares`.  ``solve_gn`` compiles on first access."""

from __future__ import annotations

import math

import numpy as np

from ._common import read_options, record_history
from ._jit import Wrapper, declared_solvers, inlined, iteration
from ._lsq import (
    _ACNORM,
    _ACTIVE,
    _COLSCALE,
    _DIAG,
    _GRAD,
    _QTF,
    _SDIAG,
    _WA1,
    _WA2,
    _WA3,
    _WA4,
    _XT,
    GN_NOISE_XTOL,
    RANK_FACTOR,
    _bounded_start,
    accept_trial,
    check_ls_termination,
    evaluate_both,
    evaluate_jacobian,
    evaluate_residuals,
    factorize,
    find_active,
    finish_ls,
    project,
)
from .linalg import diff_norm_inf, step_to
from .linesearch import (
    BACKOFF,
    F_ROUNDOFF_RTOL,
    LS_NO_DECREASE,
    LS_NONFINITE,
    LS_OK,
    SHRINK_MAX,
    SHRINK_MIN,
    failure_status,
)
from .qr import (
    EPS,
    enorm,
    min_norm_solve,
    numerical_rank,
    scaled_norm,
)
from .status import (
    CONTINUE,
    SUCCESS_XTOL,
)

__all__ = ["solve_gn"]


# --- Gauss-Newton with a line search --------------------------------------------------------


@inlined
def _gn_backtracking(residuals, residuals_jacobian, x, p, data, cost, slope, direction, c1,
                     max_ls, jacobian_first, x_trial, r_trial, J_trial, info, bounded,
                     lower, upper, g):
    """Armijo backtracking on the cost from step 1 (as :func:`.linesearch.backtracking`,
    with residual kernels): quadratic interpolation kept within [0.1, 0.5] of the step,
    halving after NaN/Inf.  The accepted point gets its Jacobian (into ``r_trial``,
    ``J_trial``); with ``jacobian_first`` the full step is evaluated with the Jacobian
    kernel at once (it is usually taken).  Returns ``(alpha, ||r_trial||, flag)``.

    With ``bounded`` the trial points ``P(x + alpha d)`` follow the projected path and
    the sufficient decrease is measured against ``g.(P(x + alpha d) - x)``, ``g`` the
    gradient (Bertsekas' projected Armijo rule)."""
    f_noise = F_ROUNDOFF_RTOL * abs(cost)
    alpha = 1.0
    saw_insufficient = False
    for trial in range(max_ls):
        step_to(x, alpha, direction, x_trial)
        linear = alpha * slope
        if bounded:
            project(x_trial, lower, upper)
            linear = 0.0
            for j in range(x.shape[0]):
                linear += g[j] * (x_trial[j] - x[j])
            if not linear < 0.0:
                # the projected step is not a descent direction at this length: shorter
                saw_insufficient = True
                if diff_norm_inf(x_trial, x) == 0.0:
                    break
                alpha *= BACKOFF
                continue
        if diff_norm_inf(x_trial, x) == 0.0:
            saw_insufficient = True
            break
        with_jacobian = jacobian_first and trial == 0
        if with_jacobian:
            fnorm, jacobian_ok = evaluate_both(residuals_jacobian, x_trial, p, data, r_trial,
                                               J_trial, info)
        else:
            fnorm = evaluate_residuals(residuals, x_trial, p, data, r_trial, info)
            jacobian_ok = False
        if not math.isfinite(fnorm):
            alpha *= BACKOFF
            continue
        cost_trial = 0.5 * fnorm * fnorm
        decrease = c1 * linear if bounded else c1 * alpha * slope
        if cost_trial <= cost + f_noise + decrease:
            if not with_jacobian:
                fnorm = evaluate_jacobian(residuals_jacobian, x_trial, p, data, r_trial,
                                          J_trial, info)
                jacobian_ok = math.isfinite(fnorm)
            if jacobian_ok:
                return alpha, fnorm, LS_OK
            alpha *= BACKOFF
            continue
        saw_insufficient = True
        excess = cost_trial - cost - linear
        alpha_quadratic = -linear * alpha / (2.0 * excess)
        if not alpha_quadratic >= SHRINK_MIN * alpha:
            alpha_quadratic = SHRINK_MIN * alpha
        alpha = min(alpha_quadratic, SHRINK_MAX * alpha)
    return alpha, np.nan, LS_NO_DECREASE if saw_insufficient else LS_NONFINITE


@inlined
def _model_reduction(J, r, x, x_trial, fnorm):
    """The Gauss-Newton model's relative reduction of ``||r||^2`` along the step
    ``s = x_trial - x``: ``-(2 r.(J s) + ||J s||^2) / ||r||^2``."""
    rjs = 0.0
    jsjs = 0.0
    for i in range(r.shape[0]):
        js = 0.0
        for j in range(x.shape[0]):
            js += J[i, j] * (x_trial[j] - x[j])
        rjs += r[i] * js
        jsjs += js * js
    return -(2.0 * rjs + jsjs) / (fnorm * fnorm)


@iteration
def _gn_iterate(residuals, residuals_jacobian, x, p, data, opts, info, hist, r_out, J_out,
                A, b, ipvt, W, T, rt, Jt):
    """The Gauss-Newton loop of :func:`_solve_gn`, compiled without reference counting
    with every helper inlined; work arrays from the caller (as :func:`_lm_iterate`, and
    ``T`` n x n)."""
    o = read_options(opts)  # o.gtol, o.ftol, ...: see read_options
    n = x.shape[0]
    m = r_out.shape[0]
    mm = max(m, n)
    fnorm, lower, upper, bounded = _bounded_start(residuals_jacobian, x, p, data, opts, info,
                                                  hist, r_out, J_out)
    if not math.isfinite(fnorm):
        return np.nan

    diag = W[_DIAG]
    qtf = W[_QTF]
    acnorm = W[_ACNORM]
    colscale = W[_COLSCALE]
    wa3 = W[_WA3]
    z = W[_WA4]
    c = W[_WA2]
    u0 = W[_WA1]
    direction = W[_SDIAG]
    x_trial = W[_XT]
    grad = W[_GRAD]
    active = W[_ACTIVE]
    for j in range(n):
        active[j] = 0.0
    rank_rtol = RANK_FACTOR * mm * EPS
    # r and J at x (rc, Jc) and at the trial point (rt, Jt), swapped when a step is taken
    rc, Jc = r_out, J_out
    current_in_out = True

    nit = 0
    actred = np.nan
    prered = np.nan
    ratio = np.nan
    jacobian_first = True
    status = CONTINUE
    while True:
        cost = 0.5 * fnorm * fnorm
        if bounded:
            find_active(Jc, rc, x, lower, upper, grad, active)
        cosine, grad_inf = factorize(Jc, rc, fnorm, A, ipvt, W, b, True, bounded)
        # scale by the current column norms (no trust region to keep stable here)
        for j in range(n):
            diag[j] = acnorm[j] if acnorm[j] != 0.0 else 1.0
        xnorm = scaled_norm(diag, x, wa3)
        record_history(hist, nit, cost, grad_inf, x, info)
        # the Gauss-Newton direction: the minimum-norm solution (in the scaled
        # variables) of [R11 R12] z = -(Q^T r)[:k], R's rank-k leading part
        k = numerical_rank(A, rank_rtol)
        predicted = 0.0  # ||J d||^2 = -r.(J d)
        for j in range(k):
            c[j] = -qtf[j]
            predicted += qtf[j] * qtf[j]
        min_norm_solve(A, k, c, T, u0, z)
        for j in range(n):
            col = ipvt[j]
            direction[col] = z[j] / colscale[col]
        if bounded:
            # the full step as it will be taken: projected onto the box
            for j in range(n):
                if active[j] != 0.0:
                    direction[j] = 0.0
            step_to(x, 1.0, direction, x_trial)
            project(x_trial, lower, upper)
            for j in range(n):
                wa3[j] = diag[j] * (x_trial[j] - x[j])
            step_bound = enorm(wa3, 0, n)
        else:
            step_bound = scaled_norm(diag, direction, wa3)
        status = check_ls_termination(nit, o.max_iter, actred, prered, ratio, False, step_bound,
                                      xnorm, cosine, o.gtol, o.ftol, o.xtol)
        if status != CONTINUE:
            break
        slope = -predicted  # d cost(x + alpha d) / d alpha at 0
        alpha, fnorm_trial, flag = _gn_backtracking(
            residuals, residuals_jacobian, x, p, data, cost, slope, direction, o.c1, o.max_ls,
            jacobian_first, x_trial, rt, Jt, info, bounded, lower, upper, grad)
        if flag != LS_OK:
            status = failure_status(flag, cost, predicted)
            if flag == LS_NO_DECREASE and step_bound <= GN_NOISE_XTOL * xnorm:
                # no step along a Gauss-Newton step this short lowers the cost beyond its
                # rounding errors: x is converged to the precision the residuals allow
                status = SUCCESS_XTOL
            break
        nit += 1
        actred = 1.0 - (fnorm_trial / fnorm) ** 2
        if bounded:
            prered = _model_reduction(Jc, rc, x, x_trial, fnorm)
        else:
            prered = alpha * (2.0 - alpha) * (math.sqrt(predicted) / fnorm) ** 2
        ratio = actred / prered if prered != 0.0 else 0.0
        rc, rt, Jc, Jt, current_in_out = accept_trial(x_trial, x, rc, rt, Jc, Jt,
                                                      current_in_out)
        fnorm = fnorm_trial
        jacobian_first = alpha == 1.0
    return finish_ls(info, status, fnorm, x, nit, current_in_out, rc, Jc, r_out, J_out)


__getattr__ = declared_solvers(globals(), {"solve_gn": Wrapper(
    "_gn_iterate", kind="least_squares", catches=False, sizes=(("mm", "max(m, n)"),),
    work=(("A", ("n", "mm"), "empty"), ("b", ("mm",), "empty"), ("ipvt", ("n",), "int"),
          ("W", ("_N_WORK", "n"), "empty"), ("T", ("n", "n"), "empty"),
          ("rt", ("m",), "empty"), ("Jt", ("m", "n"), "empty")),
    doc="Gauss-Newton with Armijo backtracking; see the module docstring.")})
