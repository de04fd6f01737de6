"""What the two least-squares solvers share (:mod:`.lm`, :mod:`.gn`; overview in
:mod:`.least_squares`): argument checks, counted kernel calls, box bounds, the pivoted-QR
factorisation at the current point, the one termination test, the start of a bounded
solve and the split of the one work block.  scipy's ``_lsq`` package has the same
layout: one module per algorithm and their common part."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .. import abi
from ..abi import INFO_NFEV, INFO_NJEV, INFO_STATUS, N_INFO, N_OPTS
from ._common import bounds_valid, finish, read_bounds, record_history
from ._jit import OPTIONS, helper, inlined
from .linalg import all_finite, copy_matrix, copy_vector
from .linesearch import (
    BACKOFF,
)
from .qr import (
    EPS,
    enorm,
    gradient_measures,
    load_transposed,
    matrix_finite,
    qrfac,
)
from .status import (
    CONTINUE,
    INVALID_INPUT,
    MAX_ITER,
    NAN_ENCOUNTERED,
    OVERFLOW,
    SUCCESS_FTOL,
    SUCCESS_GTOL,
    SUCCESS_XTOL,
)

#: MINPACK's initial step bound factor.
DEFAULT_FACTOR = 100.0
#: LM: the trust radius shrinks to this fraction of min(delta, ||D p||) after a trial
#: step whose residuals (or, at a step that would be accepted, Jacobian) were NaN/Inf.
NONFINITE_SHRINK = BACKOFF
#: GN: when the line search finds no decrease along a Gauss-Newton step shorter than
#: this (relative to ||D x||), the residuals are at their rounding noise: SUCCESS_XTOL
#: (typical of zero-residual problems, whose last steps only stir the noise).
GN_NOISE_XTOL = math.sqrt(EPS)
#: GN: R[k, k] counts as zero below RANK_FACTOR * max(m, n) * eps * |R[0, 0]| (columns of
#: J scaled to unit norm).
RANK_FACTOR = 10.0
# MINPACK's constants of the trust-region update
_P1 = 0.1
_P25 = 0.25
_P5 = 0.5
_P75 = 0.75
_P0001 = 1e-4

# rows of the n-vector work matrix
(_RDIAG, _ACNORM, _COLSCALE, _QTF, _DIAG, _WA1, _WA2, _WA3, _SDIAG, _XT, _WA4, _GRAD,
 _ACTIVE) = range(13)
_N_WORK = 13


# --- arguments, counted kernel calls -------------------------------------------------------


@inlined
def ls_arguments_valid(x, opts, info, hist, r_out, J_out):
    """Whether the arrays have consistent sizes (Numba does not bounds-check) and the
    bounds, if ``opts`` says there are some, are there and usable
    (:func:`._common.bounds_valid`, as for the scalar solvers).  Writes INVALID_INPUT
    into ``info`` when it can."""
    if info.shape[0] < N_INFO:
        return False
    valid = (
        opts.shape[0] >= N_OPTS
        and J_out.shape[0] == r_out.shape[0]
        and J_out.shape[1] == x.shape[0]
        and (hist.shape[0] == 0 or hist.shape[1] >= 2)
    )
    if valid:
        valid = bounds_valid(opts, x.shape[0], True)
    if not valid:
        info[:] = 0
        info[INFO_STATUS] = INVALID_INPUT
    return valid


# A kernel that raises (a hand-written one, under Python's error model) counts as
# returning NaN, as in ._common: the solver backs off or reports NAN_ENCOUNTERED.


@helper
def evaluate_residuals(residuals, x, p, data, r, info):
    """``r = r(x)``, counted; returns ``||r||``, NaN unless every residual is finite."""
    info[INFO_NFEV] += 1
    try:
        residuals(x, p, data, r)
    except Exception:  # noqa: BLE001
        return np.nan
    fnorm = enorm(r, 0, r.shape[0])
    return fnorm if math.isfinite(fnorm) else np.nan


@helper
def evaluate_both(residuals_jacobian, x, p, data, r, J, info):
    """``r = r(x)`` and ``J = J(x)``, counted as one residual and one Jacobian
    evaluation.  Returns ``(||r||, J finite)``, ``||r||`` NaN unless r is finite."""
    info[INFO_NFEV] += 1
    info[INFO_NJEV] += 1
    try:
        residuals_jacobian(x, p, data, r, J)
    except Exception:  # noqa: BLE001
        return np.nan, False
    fnorm = enorm(r, 0, r.shape[0])
    if not math.isfinite(fnorm):
        return np.nan, False
    return fnorm, matrix_finite(J)


@helper
def evaluate_jacobian(residuals_jacobian, x, p, data, r, J, info):
    """As :func:`evaluate_both`; returns ``||r||``, NaN unless r and J are finite."""
    fnorm, jacobian_finite = evaluate_both(residuals_jacobian, x, p, data, r, J, info)
    return fnorm if jacobian_finite else np.nan


# --- box bounds ------------------------------------------------------------------------------


@inlined
def project(x, lower, upper):
    """Clip ``x`` into the box in place; returns whether any entry moved."""
    moved = False
    for j in range(x.shape[0]):
        v = x[j]
        if v < lower[j]:
            x[j] = lower[j]
            moved = True
        elif v > upper[j]:
            x[j] = upper[j]
            moved = True
    return moved


@inlined
def find_active(J, r, x, lower, upper, g, active):
    """The gradient ``g = J^T r`` and the active set: ``active[j] = 1`` where ``x_j`` is
    on a bound that the steepest-descent direction ``-g_j`` points out of (or on both
    bounds, lower = upper), else 0.  Active variables are held fixed for the next step."""
    m = r.shape[0]
    n = x.shape[0]
    for j in range(n):
        g[j] = 0.0
    for i in range(m):
        ri = r[i]
        for j in range(n):
            g[j] += J[i, j] * ri
    for j in range(n):
        at_lower = x[j] <= lower[j]
        at_upper = x[j] >= upper[j]
        fixed = (at_lower and at_upper) or (at_lower and g[j] >= 0.0) or \
            (at_upper and g[j] <= 0.0)
        active[j] = 1.0 if fixed else 0.0


# --- the factorisation at the current point -------------------------------------------------


@helper
def factorize(J, r, fnorm, A, ipvt, W, b, normalize, bounded):
    """QR-factor J (pivoted) into ``A``, form ``W[_QTF] = (Q^T r)[:n]``, and return
    ``(cosine, ||J^T r||_inf)`` (see :func:`.qr.gradient_measures`).

    ``W[_ACNORM]`` receives the column norms of J.  With ``normalize`` the columns are
    first divided by their norms (``W[_COLSCALE]``; 1 for zero columns), so that the
    pivoting and the rank decision do not depend on the units of the variables;
    otherwise ``W[_COLSCALE]`` must hold ones.

    With ``bounded``, the columns of the variables marked in ``W[_ACTIVE]`` are factored
    as zero columns: every step computed from the factorisation leaves those variables
    where they are, and the gradient measures are those of the free variables (the
    projected gradient).  ``W[_ACNORM]`` still receives their true column norms.
    """
    n = A.shape[0]
    load_transposed(J, A)
    m = r.shape[0]
    for i in range(m):
        b[i] = r[i]
    for i in range(m, b.shape[0]):
        b[i] = 0.0
    active = W[_ACTIVE]
    if bounded:
        for j in range(n):
            if active[j] != 0.0:
                for i in range(A.shape[1]):
                    A[j, i] = 0.0
    acnorm = W[_ACNORM]
    colscale = W[_COLSCALE]
    if normalize:
        for j in range(n):
            norm = enorm(A[j], 0, A.shape[1])
            acnorm[j] = norm
            scale = norm if norm > 0.0 else 1.0
            colscale[j] = scale
            for i in range(A.shape[1]):
                A[j, i] /= scale
        qrfac(A, ipvt, W[_RDIAG], W[_WA2], W[_WA1], b, W[_QTF])
    else:
        qrfac(A, ipvt, W[_RDIAG], acnorm, W[_WA1], b, W[_QTF])
    if bounded:
        for j in range(n):
            if active[j] != 0.0:
                total = 0.0
                for i in range(m):
                    total += J[i, j] * J[i, j]
                acnorm[j] = math.sqrt(total)
    return gradient_measures(A, ipvt, W[_QTF], colscale, acnorm, fnorm)


# --- the one termination test ---------------------------------------------------------------


@inlined
def check_ls_termination(nit, max_iter, actred, prered, ratio, failed_gn_step, step_bound,
                         xnorm, cosine, gtol, ftol, xtol):
    """The stopping test of both least-squares solvers (MINPACK lmder's), a status or
    ``CONTINUE``.

    ``actred``/``prered``: the last step's actual and predicted reductions of ``||r||^2``
    relative to ``||r||^2`` before it, ``ratio`` their quotient (NaN before any step);
    ``step_bound``: the trust radius (LM) or the next step's length (GN), in the norm
    ``||D .||``, and ``xnorm = ||D x||``; ``cosine``: the scaled gradient measure.

    In order: the gradient is orthogonal to r, or r = 0 (gtol); the reduction is
    negligible (ftol; both reductions must be small, so a stalled step far from a minimum
    does not count); the step is negligible (xtol); the same tests with machine precision
    in place of the tolerances, which report success because nothing more can be gained;
    the iteration limit.

    One test is added to lmder's: ``failed_gn_step`` says the last trial was the
    unconstrained Gauss-Newton step (``par = 0``) and was rejected.  If it predicted a
    relative reduction of at most ftol, no step can reduce ``||r||^2`` by more than that
    (the Gauss-Newton step minimises the model), and it did not even achieve that: the
    actual reductions are rounding noise, which for residuals computed as
    ``model - y`` with ``|y| >> |r|`` exceeds ftol.  lmder would shrink the trust region
    until the xtol test holds, a few more evaluations for no more digits.
    """
    if cosine <= gtol:
        return SUCCESS_GTOL
    if abs(actred) <= ftol and prered <= ftol and _P5 * ratio <= 1.0:
        return SUCCESS_FTOL
    if step_bound <= xtol * xnorm:
        return SUCCESS_XTOL
    if failed_gn_step and prered <= max(ftol, EPS):
        return SUCCESS_FTOL
    if abs(actred) <= EPS and prered <= EPS and _P5 * ratio <= 1.0:
        return SUCCESS_FTOL
    if step_bound <= EPS * xnorm:
        return SUCCESS_XTOL
    if cosine <= EPS:
        return SUCCESS_GTOL
    if nit >= max_iter:
        return MAX_ITER
    return CONTINUE


@inlined
def _genuine_status(status, fnorm, x):
    """The status a least-squares solve really ended with: a success only where the cost
    ``||r||^2 / 2`` is finite (it overflows for ``||r||`` above about 1.9e154 although
    every residual is finite, and the convergence tests, relative to ``||r||``, then
    hold without progress): ``OVERFLOW`` there, ``NAN_ENCOUNTERED`` for a NaN cost."""
    if status == SUCCESS_GTOL or status == SUCCESS_FTOL or status == SUCCESS_XTOL:
        cost = 0.5 * fnorm * fnorm
        if cost != cost:
            return NAN_ENCOUNTERED
        if not math.isfinite(cost) or not all_finite(x):
            return OVERFLOW
    return status


@inlined
def _bounded_start(residuals_jacobian, x, p, data, opts, info, hist, r_out, J_out):
    """The start of both solvers: read the bounds (:func:`._common.read_bounds`, checked
    by :func:`ls_arguments_valid`), clip x0 into the box, reset the counters and
    evaluate r and J there.  Returns ``(||r||, lower, upper, bounded)``, ``||r||`` NaN
    after writing the NAN_ENCOUNTERED result (history row 0 included)."""
    lower, upper, bounded = read_bounds(opts, x.shape[0])
    if bounded:
        project(x, lower, upper)
    info[:] = 0
    fnorm = evaluate_jacobian(residuals_jacobian, x, p, data, r_out, J_out, info)
    if not math.isfinite(fnorm):
        record_history(hist, 0, np.nan, np.nan, x, info)
        finish(info, NAN_ENCOUNTERED, 0)
    return fnorm, lower, upper, bounded


@inlined
def accept_trial(x_trial, x, rc, rt, Jc, Jt, current_in_out):
    """Take the trial point: ``x <- x_trial``, and the residuals and Jacobian at the trial
    point become the current ones by swapping the buffers' roles (no copy).  Returns the
    new ``(rc, rt, Jc, Jt, current_in_out)``; ``current_in_out`` says whether the current
    ones are in ``r_out``/``J_out``."""
    copy_vector(x_trial, x)
    return rt, rc, Jt, Jc, not current_in_out


@inlined
def finish_ls(info, status, fnorm, x, nit, current_in_out, rc, Jc, r_out, J_out):
    """End a least-squares solve: the residuals and Jacobian at x into ``r_out``/``J_out``
    (if they are in the other buffers), the genuine status and the iteration count into
    ``info``.  Returns the cost ``||r||^2 / 2``."""
    if not current_in_out:
        copy_vector(rc, r_out)
        copy_matrix(Jc, J_out)
    finish(info, _genuine_status(status, fnorm, x), nit)
    return 0.5 * fnorm * fnorm


# --- compilation ---------------------------------------------------------------------------


def ls_solver(function):
    """Compile ``function`` now, once, with :data:`symopt.abi.ls_solver_sig`, caching the
    machine code on disk (the least-squares counterpart of :func:`._jit.solver`)."""
    return njit(abi.ls_solver_sig, cache=True, **OPTIONS)(function)

