"""Levenberg-Marquardt as MINPACK's ``lmder`` (Moré 1978); the method, its options and how it
is compiled: :mod:`.least_squares`.  ``solve_lm`` compiles on first access."""

from __future__ import annotations

import math

import numpy as np

from ._common import read_options, record_history
from ._jit import Wrapper, declared_solvers, iteration
from ._lsq import (
    _ACNORM,
    _ACTIVE,
    _COLSCALE,
    _DIAG,
    _GRAD,
    _P0001,
    _P1,
    _P5,
    _P25,
    _P75,
    _QTF,
    _SDIAG,
    _WA1,
    _WA2,
    _WA3,
    _XT,
    DEFAULT_FACTOR,
    NONFINITE_SHRINK,
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
from .qr import (
    dot_range,
    enorm,
    lmpar,
    r_times,
    scaled_norm,
)
from .status import (
    CONTINUE,
)

__all__ = ["solve_lm"]


# --- Levenberg-Marquardt ------------------------------------------------------------------


@iteration
def _lm_iterate(residuals, residuals_jacobian, x, p, data, opts, info, hist, r_out, J_out,  # noqa: C901 (one numerical loop, kept whole like its reference)
                A, b, ipvt, W, rt, Jt):
    """The Levenberg-Marquardt loop of :func:`_solve_lm`, compiled without reference
    counting with every helper inlined; the work arrays come from the caller (``A``
    n x mm, ``b`` mm, ``ipvt`` n, ``W`` _N_WORK x n, ``rt``/``Jt`` as r_out/J_out).
    Returns the cost, or NaN when the start is not finite."""
    o = read_options(opts)  # o.gtol, o.ftol, ...: see read_options
    factor = o.step if o.step > 0.0 else DEFAULT_FACTOR
    n = x.shape[0]
    fnorm, lower, upper, bounded = _bounded_start(residuals_jacobian, x, p, data, opts, info,
                                                  hist, r_out, J_out)
    if not math.isfinite(fnorm):
        return np.nan

    diag = W[_DIAG]
    qtf = W[_QTF]
    acnorm = W[_ACNORM]
    wa1 = W[_WA1]
    wa2 = W[_WA2]
    wa3 = W[_WA3]
    x_trial = W[_XT]
    active = W[_ACTIVE]
    for j in range(n):
        W[_COLSCALE, j] = 1.0
        active[j] = 0.0
    # r and J at x (rc, Jc) and at the trial point (rt, Jt): two buffers that swap roles
    # when a step is taken, so the current ones are never overwritten by a trial
    rc, Jc = r_out, J_out
    current_in_out = True

    if bounded:
        find_active(Jc, rc, x, lower, upper, W[_GRAD], active)
    cosine, grad_inf = factorize(Jc, rc, fnorm, A, ipvt, W, b, False, bounded)
    # scale by the column norms of J (lmder mode 1); initial trust radius
    for j in range(n):
        diag[j] = acnorm[j] if acnorm[j] != 0.0 else 1.0
    xnorm = scaled_norm(diag, x, wa3)
    delta = factor * xnorm
    if delta == 0.0:
        delta = factor
    par = 0.0
    record_history(hist, 0, 0.5 * fnorm * fnorm, grad_inf, x, info)
    nit = 0
    accepted = 0
    jacobian_trial = True
    status = check_ls_termination(0, o.max_iter, np.nan, np.nan, np.nan, False, np.inf, xnorm,
                                  cosine, o.gtol, o.ftol, o.xtol)
    while status == CONTINUE:
        # the step p (in wa1): ||D p|| ~ delta, or the Gauss-Newton step inside
        par = lmpar(A, ipvt, diag, qtf, delta, par, wa1, W[_SDIAG], wa2, wa3)
        trial_par = par
        for j in range(n):
            wa1[j] = -wa1[j]
            x_trial[j] = x[j] + wa1[j]
        clipped = False
        if bounded:
            # the trial point is the step projected onto the box; the step is then
            # the projected one, s = P(x + p) - x (active variables do not move)
            for j in range(n):
                if active[j] != 0.0:
                    x_trial[j] = x[j]
                    wa1[j] = 0.0
            clipped = project(x_trial, lower, upper)
            if clipped:
                for j in range(n):
                    wa1[j] = x_trial[j] - x[j]
        for j in range(n):
            wa3[j] = diag[j] * wa1[j]
        pnorm = enorm(wa3, 0, n)
        if accepted == 0 and not clipped:
            delta = min(delta, pnorm)
        # the trial point: with its Jacobian while steps are being taken (the kernel
        # computes r anyway), residuals only after a rejected step
        if jacobian_trial:
            fnorm1, jacobian_ok = evaluate_both(residuals_jacobian, x_trial, p, data, rt, Jt,
                                                info)
        else:
            fnorm1 = evaluate_residuals(residuals, x_trial, p, data, rt, info)
            jacobian_ok = False
        # predicted relative reduction of ||r||^2, and the directional derivative
        r_times(A, ipvt, wa1, wa3)
        temp1 = enorm(wa3, 0, n) / fnorm
        if clipped:
            # the model's reduction along the projected step s, from J s = Q R P^T s:
            # ||r + J s||^2 = ||r||^2 + 2 (Q^T r).(R P^T s) + ||R P^T s||^2
            rjs = dot_range(qtf, wa3, 0, n) / fnorm / fnorm
            prered = -(2.0 * rjs + temp1 * temp1)
            dirder = rjs
        else:
            temp2 = math.sqrt(par) * pnorm / fnorm
            prered = temp1 * temp1 + temp2 * temp2 / _P5
            dirder = -(temp1 * temp1 + temp2 * temp2)
        nonfinite = not math.isfinite(fnorm1)
        taken = False
        if not nonfinite:
            actred = -1.0
            if _P1 * fnorm1 < fnorm:
                actred = 1.0 - (fnorm1 / fnorm) ** 2
            # (a projected step the model does not even predict to reduce is rejected)
            ratio = actred / prered if prered > 0.0 or (prered != 0.0 and not clipped) else 0.0
            # update the trust radius
            if ratio <= _P25:
                if actred >= 0.0:
                    temp = _P5
                elif dirder < 0.0:
                    temp = _P5 * dirder / (dirder + _P5 * actred)
                else:
                    temp = _P1
                if _P1 * fnorm1 >= fnorm or temp < _P1:
                    temp = _P1
                delta = temp * min(delta, pnorm / _P1)
                par = par / temp
            elif par == 0.0 or ratio >= _P75:
                delta = pnorm / _P5
                par = _P5 * par
            if ratio >= _P0001:
                # a successful step: it needs the Jacobian there
                if not jacobian_trial:
                    fnorm_j = evaluate_jacobian(residuals_jacobian, x_trial, p, data, rt, Jt,
                                                info)
                    jacobian_ok = math.isfinite(fnorm_j)
                    if jacobian_ok:
                        fnorm1 = fnorm_j
                if jacobian_ok:
                    taken = True
                    rc, rt, Jc, Jt, current_in_out = accept_trial(x_trial, x, rc, rt, Jc, Jt,
                                                                  current_in_out)
                    fnorm = fnorm1
                    xnorm = scaled_norm(diag, x, wa3)
                    accepted += 1
                    if bounded:
                        find_active(Jc, rc, x, lower, upper, W[_GRAD], active)
                    cosine, grad_inf = factorize(Jc, rc, fnorm, A, ipvt, W, b, False, bounded)
                    for j in range(n):
                        diag[j] = max(diag[j], acnorm[j])
                    record_history(hist, accepted, 0.5 * fnorm * fnorm, grad_inf, x, info)
                else:
                    nonfinite = True  # finite residuals but no Jacobian: x stays
        if nonfinite:
            # out of the domain (or overflow): a failed step; shrink the region
            actred = -1.0
            ratio = -np.inf
            delta = NONFINITE_SHRINK * min(delta, pnorm)
            par = par / NONFINITE_SHRINK
        jacobian_trial = taken
        nit += 1
        failed_gn_step = trial_par == 0.0 and not taken and not nonfinite and not clipped
        status = check_ls_termination(nit, o.max_iter, actred, prered, ratio, failed_gn_step,
                                      delta, xnorm, cosine, o.gtol, o.ftol, o.xtol)
    return finish_ls(info, status, fnorm, x, nit, current_in_out, rc, Jc, r_out, J_out)


__getattr__ = declared_solvers(globals(), {"solve_lm": Wrapper(
    "_lm_iterate", kind="least_squares", catches=False, sizes=(("mm", "max(m, n)"),),
    work=(("A", ("n", "mm"), "empty"), ("b", ("mm",), "empty"), ("ipvt", ("n",), "int"),
          ("W", ("_N_WORK", "n"), "empty"), ("rt", ("m",), "empty"),
          ("Jt", ("m", "n"), "empty")),
    doc="Levenberg-Marquardt (MINPACK lmder); see the module docstring.")})
