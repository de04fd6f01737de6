"""Compiled least-squares solvers: minimise ``cost = 0.5 * ||r(x)||^2``.

Both methods have the signature :data:`symopt.abi.ls_solver_sig`::

    cost = solve(residuals, residuals_jacobian, x, p, data, opts, info, hist, r_out, J_out)

with the kernels ``residuals(x, p, data, r_out)`` and
``residuals_jacobian(x, p, data, r_out, J_out)`` (``m = r_out.shape[0]``, J m x n in C
order), and both factor the Jacobian by Householder QR with column pivoting
(:mod:`.qr`), never forming ``J^T J``.

``solve_lm``
    Levenberg-Marquardt as MINPACK's ``lmder`` (Moré 1978): a trust region of radius
    ``delta`` in the norm ``||D x||``, with ``D`` the column norms of J (the largest seen
    so far: lmder's ``mode = 1``); the step solves ``[J; sqrt(par) D] p = [-r; 0]`` by
    the QR of J plus Givens rotations (``qrsolv``), ``par`` chosen by ``lmpar``; the
    ratio of actual to predicted reduction updates ``delta``.
``solve_gn``
    Gauss-Newton with Armijo backtracking: the direction solves ``J d = -r`` in the
    least-squares sense through a pivoted QR of J with its columns scaled to unit norm;
    trailing diagonal entries of R below ``10 max(m, n) eps |R_00|`` count as zero
    (J rank deficient, or m < n) and ``d`` is the minimum-norm solution in the scaled
    variables (a complete orthogonal decomposition), still a descent direction.

Options (``opts``, read by :func:`._common.read_options`):

``ftol``  stop when the last step's actual *and* predicted relative reductions of
          ``||r||^2`` are both at most ``ftol`` (and their ratio at most 2); also when a
          rejected Gauss-Newton step predicted at most that (see
          :func:`check_ls_termination`).
``xtol``  stop when the trust radius (LM), or the next Gauss-Newton step (GN), is at most
          ``xtol * ||D x||``.
``gtol``  stop when ``max_j |cos(angle between r and column j of J)| <= gtol`` (scale
          invariant; ``gtol = 0`` leaves this to ``||r|| = 0`` and to rounding).
``max_iter``  LM: trial steps (lmder's maxfev: each is one kernel call, plus a Jacobian
          call when a step after a rejected one is taken); GN: Gauss-Newton iterations.
``step``  LM only: the initial trust radius is ``step * ||D x0||`` (``step`` if
          ``x0 = 0``); 0 means MINPACK's default factor 100 (``minimize(factor=...)``).
``c1``, ``max_ls``  GN only: Armijo constant and trial steps per line search.
``bounds``  with ``opts[OPT_BOUNDS] = 1`` and the bounds after the ``N_OPTS`` scalar
          options (see :mod:`symopt.abi`), both methods keep x in the box: x0 is clipped
          into it; at each iterate the variables on a bound that the gradient pushes
          against are held fixed (their Jacobian columns are factored as zero columns),
          the step is computed on the others, and the trial point is projected onto the
          box.  LM measures its ratio against the model's reduction along the projected
          step; GN backtracks along the projected path with the projected Armijo test.
          Without bounds (or while no bound is touched) the iterates are lmder's.
          Bounds are read and checked as by the scalar solvers
          (:func:`._common.read_bounds`, :func:`._common.bounds_valid`): with
          ``OPT_BOUNDS`` set, an ``opts`` too short to hold them, a NaN bound or
          ``lower > upper`` is ``INVALID_INPUT``, never a solve without the bounds.

Whatever the tolerances, the tests are also met when they hold with machine precision in
place of the tolerance (MINPACK's info 6/7/8: no further improvement is possible), and
then the solve ends successfully.  So does Gauss-Newton when its line search finds no
decrease along a step shorter than ``sqrt(eps) ||D x||`` (rounding noise).

Accuracy: with the default tolerances (1e-15) the fits of the MGH and NIST StRD test
problems reach the reference solutions to 7.3-17 significant digits (the least: Kowalik-
Osborne / NIST MGH09, whose parameters the data determine poorly); with sqrt(eps)-size
tolerances some stop at 5.

Kernel calls.  ``residuals_jacobian`` computes r as well, so a point whose Jacobian is
needed is evaluated with it alone: the start, and every trial point while steps are
being taken (most are; a rejected one wastes its Jacobian), after which the trial points
use ``residuals`` until a step is taken again (then the Jacobian is evaluated there).
Gauss-Newton evaluates its full step with the Jacobian kernel likewise, when the last
full step was taken, and backtracked steps with ``residuals``.  The iterates are those
of lmder whichever kernel is called.

``info``: status, nit, nfev (kernel calls: residual evaluations, the ones inside a
Jacobian call included), njev (Jacobian kernel calls), nhist.  ``hist`` rows are
``(cost, ||J^T r||_inf, x...)`` at the start and after every accepted step.  On return
``x`` is the best point, ``r_out`` and ``J_out`` hold the residuals and Jacobian there,
and the value is ``0.5 * ||r_out||^2``.  m < n is allowed: J is padded with zero rows.

How it is compiled (see :mod:`._jit`).  ``solve_lm``/``solve_gn`` check the arrays,
allocate every work array in one block (two allocations per solve: ``minimize_many``
calls them once per problem) and run the method's *iteration* (``_lm_iterate``,
``_gn_iterate``), compiled without reference counting, into which the small helpers of
this module and of :mod:`.qr` (norms, dot products, the Householder and Givens loops) are
inlined.  Three kinds of calls stay real calls: the counted kernel calls (they catch an
exception a hand-written kernel raises), :func:`factorize` and :func:`.qr.lmpar` (each
called once per iteration; inlining them too saved under 2% and doubled the compile
time).  Measured on ``a*exp(-b*t) + c`` with m = 20, n = 3 (8 evaluations, 7 trial
steps): 17.1 us per solve called from Python when every helper was a separate call,
6.0 us now (kernel calls about 1.2 us of it, Python's call about 0.75 us); the arithmetic
and so the iterates are unchanged.

The compiled solvers are created on first access (``least_squares.solve_lm``), each
compiled once (about 20 s on a busy 2-core machine) or loaded from Numba's on-disk cache.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .. import abi
from ..abi import INFO_NFEV, INFO_NJEV, INFO_STATUS, N_INFO, N_OPTS
from . import registry
from ._common import bounds_valid, finish, read_bounds, read_options, record_history
from ._jit import OPTIONS, compiled_on_first_access, helper, inlined, iteration
from .linalg import all_finite, copy_matrix, copy_vector, diff_norm_inf, step_to
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
    dot_range,
    enorm,
    gradient_measures,
    lmpar,
    load_transposed,
    matrix_finite,
    min_norm_solve,
    numerical_rank,
    qrfac,
    r_times,
    scaled_norm,
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

__all__ = ["LS_DEFAULTS", "METHODS", "solve_lm", "solve_gn", "get_ls_solver", "ls_solver"]

#: Default options of the least-squares methods: ``LS_DEFAULTS[method][option]``, from
#: the method registry (:mod:`.registry`, which says why these values)
LS_DEFAULTS = {m.name: m.defaults for m in registry.methods("least_squares")}

METHODS = registry.names("least_squares")

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


# --- Levenberg-Marquardt ------------------------------------------------------------------


@iteration
def _lm_iterate(residuals, residuals_jacobian, x, p, data, opts, info, hist, r_out, J_out,  # noqa: C901 (one numerical loop, kept whole like its reference)
                A, b, ipvt, W, rt, Jt):
    """The Levenberg-Marquardt loop of :func:`_solve_lm`, compiled without reference
    counting with every helper inlined; the work arrays come from the caller (``A``
    n x mm, ``b`` mm, ``ipvt`` n, ``W`` _N_WORK x n, ``rt``/``Jt`` as r_out/J_out).
    Returns the cost, or NaN when the start is not finite."""
    gtol, ftol, xtol, max_iter, step, _, _, _ = read_options(opts)
    factor = step if step > 0.0 else DEFAULT_FACTOR
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
    status = check_ls_termination(0, max_iter, np.nan, np.nan, np.nan, False, np.inf, xnorm,
                                  cosine, gtol, ftol, xtol)
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
                    copy_vector(x_trial, x)
                    rc, rt = rt, rc
                    Jc, Jt = Jt, Jc
                    current_in_out = not current_in_out
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
        status = check_ls_termination(nit, max_iter, actred, prered, ratio, failed_gn_step,
                                      delta, xnorm, cosine, gtol, ftol, xtol)
    if not current_in_out:
        copy_vector(rc, r_out)
        copy_matrix(Jc, J_out)
    finish(info, _genuine_status(status, fnorm, x), nit)
    return 0.5 * fnorm * fnorm


@inlined
def _split_work(work, n, m, mm):
    """``(A, b, W, rt, Jt)``: the work arrays of both solvers, C-ordered views of one
    block of ``n mm + mm + _N_WORK n + m + m n`` doubles."""
    start = 0
    A = work[start:start + n * mm].reshape((n, mm))
    start += n * mm
    b = work[start:start + mm]
    start += mm
    W = work[start:start + _N_WORK * n].reshape((_N_WORK, n))
    start += _N_WORK * n
    rt = work[start:start + m]
    start += m
    Jt = work[start:start + m * n].reshape((m, n))
    return A, b, W, rt, Jt


def _solve_lm(residuals, residuals_jacobian, x, p, data, opts, info, hist, r_out, J_out):
    """Levenberg-Marquardt (MINPACK lmder); see the module docstring.  Checks the
    arrays, allocates the work arrays once and runs :func:`_lm_iterate`."""
    if not ls_arguments_valid(x, opts, info, hist, r_out, J_out):
        return np.nan
    n = x.shape[0]
    m = r_out.shape[0]
    mm = max(m, n)
    # one block for every float work array: two allocations per solve instead of six
    # (minimize_many calls this once per problem)
    work = np.empty(n * mm + mm + _N_WORK * n + m + m * n)
    A, b, W, rt, Jt = _split_work(work, n, m, mm)
    return _lm_iterate(residuals, residuals_jacobian, x, p, data, opts, info, hist, r_out,
                       J_out, A, b, np.empty(n, dtype=np.int64), W, rt, Jt)


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
    gtol, ftol, xtol, max_iter, _, c1, _, max_ls = read_options(opts)
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
        status = check_ls_termination(nit, max_iter, actred, prered, ratio, False, step_bound,
                                      xnorm, cosine, gtol, ftol, xtol)
        if status != CONTINUE:
            break
        slope = -predicted  # d cost(x + alpha d) / d alpha at 0
        alpha, fnorm_trial, flag = _gn_backtracking(
            residuals, residuals_jacobian, x, p, data, cost, slope, direction, c1, max_ls,
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
        copy_vector(x_trial, x)
        rc, rt = rt, rc
        Jc, Jt = Jt, Jc
        current_in_out = not current_in_out
        fnorm = fnorm_trial
        jacobian_first = alpha == 1.0
    if not current_in_out:
        copy_vector(rc, r_out)
        copy_matrix(Jc, J_out)
    finish(info, _genuine_status(status, fnorm, x), nit)
    return 0.5 * fnorm * fnorm


def _solve_gn(residuals, residuals_jacobian, x, p, data, opts, info, hist, r_out, J_out):
    """Gauss-Newton with Armijo backtracking; see the module docstring.  Checks the
    arrays, allocates the work arrays once and runs :func:`_gn_iterate`."""
    if not ls_arguments_valid(x, opts, info, hist, r_out, J_out):
        return np.nan
    n = x.shape[0]
    m = r_out.shape[0]
    mm = max(m, n)
    work = np.empty(n * mm + mm + _N_WORK * n + m + m * n + n * n)
    A, b, W, rt, Jt = _split_work(work, n, m, mm)
    T = work[work.shape[0] - n * n:].reshape((n, n))
    return _gn_iterate(residuals, residuals_jacobian, x, p, data, opts, info, hist, r_out,
                       J_out, A, b, np.empty(n, dtype=np.int64), W, T, rt, Jt)


# --- compilation ---------------------------------------------------------------------------


def ls_solver(function):
    """Compile ``function`` now, once, with :data:`symopt.abi.ls_solver_sig`, caching the
    machine code on disk (the least-squares counterpart of :func:`._jit.solver`)."""
    return njit(abi.ls_solver_sig, cache=True, **OPTIONS)(function)


_BY_METHOD = {"lm": "solve_lm", "gn": "solve_gn"}
__getattr__ = compiled_on_first_access(globals(), {"solve_lm": _solve_lm, "solve_gn": _solve_gn},
                                       ls_solver)


def get_ls_solver(method: str):
    """The compiled solver of ``method`` ("lm" or "gn")."""
    try:
        name = _BY_METHOD[method]
    except KeyError:
        from ..errors import InputError

        raise InputError(f"unknown least-squares method {method!r}; choose one of "
                         f"{', '.join(METHODS)}") from None
    return __getattr__(name)
