"""What every solver loop shares: argument checks, options, counted kernel calls, the
start of a solve, the end of an iteration, the one termination test, and history rows.

A solver loop is then only its own mathematics: a search *direction* (steepest descent,
Newton, BFGS) and a *search* along it (fixed step, backtracking, strong Wolfe), with
every piece of bookkeeping done here in the same way for all methods.
"""

from __future__ import annotations

import math

import numpy as np

from ..abi import (
    INFO_NFEV,
    INFO_NHEV,
    INFO_NHIST,
    INFO_NIT,
    INFO_NJEV,
    INFO_STATUS,
    N_INFO,
    N_OPTS,
    OPT_C1,
    OPT_C2,
    OPT_FTOL,
    OPT_GTOL,
    OPT_MAX_ITER,
    OPT_MAX_LS,
    OPT_STEP,
    OPT_XTOL,
)
from ._jit import helper
from .linalg import all_finite, copy_vector, diff_norm_inf, dot, norm_inf
from .status import (
    CONTINUE,
    INVALID_INPUT,
    MAX_ITER,
    NAN_ENCOUNTERED,
    SUCCESS_FTOL,
    SUCCESS_GTOL,
    SUCCESS_XTOL,
)

#: Floor of the scale in the relative ftol test, so that f_prev = f = 0 counts as converged.
F_SCALE_FLOOR = 1e-300
#: Hard limits that keep every loop bounded whatever the options say.
MAX_ITER_LIMIT = 2**53
MAX_LS_LIMIT = 10_000


# --- arguments and options ----------------------------------------------------------------


@helper
def arguments_valid(x, opts, info, hist, g_out, H_out, uses_matrix):
    """Whether the arrays have consistent sizes (Numba does not bounds-check, so a
    wrong size would corrupt memory instead of raising).  Writes the status when it can."""
    n = x.shape[0]
    valid = (
        opts.shape[0] >= N_OPTS
        and g_out.shape[0] == n
        and (hist.shape[0] == 0 or hist.shape[1] >= 2)
        and (not uses_matrix or (H_out.shape[0] == n and H_out.shape[1] == n))
    )
    if info.shape[0] < N_INFO:
        return False
    if not valid:
        info[:] = 0
        info[INFO_STATUS] = INVALID_INPUT
    return valid


@helper
def _non_negative(value):
    return value if value >= 0.0 else 0.0  # NaN -> 0


@helper
def _count(value, lowest, highest):
    if not value >= lowest:  # NaN -> lowest
        return lowest
    if value >= highest:
        return highest
    return int(value)


@helper
def read_options(opts):
    """The options array as named values, made safe: negative or NaN tolerances become
    0, counts are clipped to sane ranges, line-search constants outside
    0 < c1 < c2 < 1 fall back to the textbook 1e-4 and 0.9.

    Returns ``(gtol, ftol, xtol, max_iter, step, c1, c2, max_ls)``.
    """
    c1 = opts[OPT_C1]
    if not (0.0 < c1 < 1.0):
        c1 = 1e-4
    c2 = opts[OPT_C2]
    if not (c1 < c2 < 1.0):
        c2 = 0.9
    return (
        _non_negative(opts[OPT_GTOL]),
        _non_negative(opts[OPT_FTOL]),
        _non_negative(opts[OPT_XTOL]),
        _count(opts[OPT_MAX_ITER], 0, MAX_ITER_LIMIT),
        _non_negative(opts[OPT_STEP]),
        c1,
        c2,
        _count(opts[OPT_MAX_LS], 1, MAX_LS_LIMIT),
    )


# --- counted kernel calls -----------------------------------------------------------------


# A kernel that raises (a hand-written one dividing by zero under Python's error model,
# say) counts as returning NaN: the solver backs off, or reports NAN_ENCOUNTERED, and the
# exception never reaches the caller.


@helper
def evaluate_value(value, x, p, data, info):
    """``f(x)``, counted as one function evaluation."""
    info[INFO_NFEV] += 1
    try:
        return value(x, p, data)
    except Exception:  # noqa: BLE001 - see above
        return np.nan


@helper
def evaluate_grad(value_grad, x, p, data, g, info):
    """``f(x)`` with its gradient written into ``g``; counted."""
    info[INFO_NFEV] += 1
    info[INFO_NJEV] += 1
    try:
        return value_grad(x, p, data, g)
    except Exception:  # noqa: BLE001
        return np.nan


@helper
def evaluate(order, value_grad, value_grad_hess, x, p, data, g, H, info):
    """``f(x)`` with its gradient into ``g`` (order 1), and its Hessian into ``H``
    (order 2); counted.  ``H`` is not touched for order 1."""
    if order != 2:
        return evaluate_grad(value_grad, x, p, data, g, info)
    info[INFO_NFEV] += 1
    info[INFO_NJEV] += 1
    info[INFO_NHEV] += 1
    try:
        return value_grad_hess(x, p, data, g, H)
    except Exception:  # noqa: BLE001
        return np.nan


@helper
def point_finite(f, g):
    """Whether f and every entry of the gradient are finite."""
    return math.isfinite(f) and all_finite(g)


@helper
def derivatives_finite(order, f, g, H):
    """Whether f, the gradient and (order 2) the Hessian are all finite."""
    if not point_finite(f, g):
        return False
    if order == 2:
        for i in range(H.shape[0]):
            if not all_finite(H[i]):
                return False
    return True


@helper
def descent_slope(g, direction):
    """The slope ``g.d`` of f along ``direction``.  If it is not negative (a direction
    spoiled by roundoff in an ill-conditioned solve), ``direction`` is replaced by the
    steepest descent direction ``-g``.  Returns ``(slope, replaced)``."""
    slope = dot(g, direction)
    if slope < 0.0:
        return slope, False
    for i in range(g.shape[0]):
        direction[i] = -g[i]
    return -dot(g, g), True


# --- termination and history --------------------------------------------------------------


@helper
def check_termination(nit, f_prev, f, gnorm, step_norm, x_norm, gtol, ftol, xtol, max_iter):
    """The one stopping test of every solver: a status code, or ``CONTINUE``.

    In order: the gradient is small (``||g||_inf <= gtol``); the last iteration reduced
    f by a negligible fraction (``|f_prev - f| <= ftol * max(|f_prev|, |f|)``); the last
    step was negligible relative to x (``||step||_inf <= xtol * (xtol + ||x||_inf)``);
    the iteration limit is reached.  The ftol and xtol tests need a previous iterate,
    so at the start point (``nit == 0``) only the gradient and the limit are tested.
    """
    if gnorm <= gtol:
        return SUCCESS_GTOL
    if nit > 0:
        if abs(f_prev - f) <= ftol * max(abs(f_prev), abs(f), F_SCALE_FLOOR):
            return SUCCESS_FTOL
        if step_norm <= xtol * (xtol + x_norm):
            return SUCCESS_XTOL
    if nit >= max_iter:
        return MAX_ITER
    return CONTINUE


@helper
def record_history(hist, row, f, gnorm, x, info):
    """Write history row ``row`` = (f, ||g||_inf, x...) if ``hist`` has room for it
    (x only when ``hist`` has ``2 + n`` columns) and count it in ``info``."""
    if row >= hist.shape[0]:
        return
    hist[row, 0] = f
    hist[row, 1] = gnorm
    n = x.shape[0]
    if hist.shape[1] >= 2 + n:
        for i in range(n):
            hist[row, 2 + i] = x[i]
    info[INFO_NHIST] = row + 1


# --- start and end of a solve, end of an iteration ---------------------------------------


@helper
def start(order, value_grad, value_grad_hess, x, p, data, g, H, info, hist, gtol, max_iter):
    """Evaluate the start point and decide whether there is anything to do.

    Resets the counters, evaluates f and the gradient (and the Hessian, order 2), writes
    history row 0.  Returns ``(f, ||g||_inf, status)``: ``NAN_ENCOUNTERED`` when f or
    the gradient is not finite there, ``SUCCESS_GTOL``/``MAX_ITER`` when the start
    already passes the termination test, else ``CONTINUE``.
    """
    info[:] = 0
    f = evaluate(order, value_grad, value_grad_hess, x, p, data, g, H, info)
    gnorm = norm_inf(g)
    record_history(hist, 0, f, gnorm, x, info)
    if not point_finite(f, g):
        return f, gnorm, NAN_ENCOUNTERED
    status = check_termination(0, f, f, gnorm, np.inf, norm_inf(x), gtol, 0.0, 0.0, max_iter)
    return f, gnorm, status


@helper
def end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info, gtol, ftol, xtol, max_iter):
    """Move to the accepted point: copy ``x_trial``/``g_trial`` into ``x``/``g``, record
    history row ``nit``, and run the termination test.  Returns ``(||g||_inf, status)``."""
    step_norm = diff_norm_inf(x_trial, x)
    copy_vector(x_trial, x)
    copy_vector(g_trial, g)
    gnorm = norm_inf(g)
    record_history(hist, nit, f, gnorm, x, info)
    status = check_termination(
        nit, f_prev, f, gnorm, step_norm, norm_inf(x), gtol, ftol, xtol, max_iter
    )
    return gnorm, status


@helper
def finish(info, status, nit):
    """Write the final status and iteration count into ``info``."""
    info[INFO_STATUS] = status
    info[INFO_NIT] = nit
