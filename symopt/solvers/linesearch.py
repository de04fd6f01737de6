"""Line searches: how far to go along a descent direction ``d`` from ``x``.

Each search looks at ``phi(alpha) = f(x + alpha d)``, whose slope at zero is
``phi'(0) = g . d < 0``, and returns ``(alpha, f_new, flag)``.  On ``LS_OK`` the
accepted point is in ``x_trial`` and its gradient (and Hessian, order 2) in
``g_trial``/``H_trial``; otherwise the flag says why no step was accepted.  Searches
make at most ``max_ls`` trials and raise nothing of their own (an exception raised by
a kernel passes through them to the solver, which ends the solve).  A trial where f or
the gradient is NaN or Inf (a step out of the function's domain, an overflow) is
treated as "too far": the step shrinks towards the last good one.

Comparisons of f allow for its rounding errors, ``F_ROUNDOFF_RTOL * |f|``: close to a
minimum the decrease a good step brings can be smaller than them, and a search that
insisted on seeing it would shrink the step to nothing (or fail) just when the
direction, computed from derivatives that are still accurate, is best.  Accepting a
step whose f is the same within rounding lets Newton and BFGS take their last, most
accurate steps; ``F_ROUNDOFF_RTOL`` is small enough that far from the minimum it never
changes a decision.
"""

from __future__ import annotations

import math

import numpy as np

from ._common import derivatives_finite, evaluate, evaluate_grad, evaluate_value, point_finite
from ._jit import inlined
from .linalg import dot, norm_inf, step_to
from .status import LINE_SEARCH_FAILED, NAN_ENCOUNTERED, SUCCESS_FTOL

LS_OK = 0
#: Some trial values were finite, but none decreased f sufficiently.
LS_NO_DECREASE = 1
#: Every trial gave NaN or Inf.
LS_NONFINITE = 2

#: Factor applied to the step after a NaN/Inf trial.
BACKOFF = 0.5
#: Backtracking halves the step (SHRINK_MAX), or keeps the interpolated step within
#: [SHRINK_MIN, SHRINK_MAX] * alpha.
SHRINK_MIN = 0.1
SHRINK_MAX = 0.5
#: Values of backtracking's ``interpolate`` argument, for readable calls.
HALVE = False
INTERPOLATE = True
#: Strong Wolfe: growth factor of the step while no bracket is known.
EXPAND = 4.0
#: Strong Wolfe: an interpolated step must lie this fraction inside the bracket.
ZOOM_MARGIN = 0.1

EPS = np.finfo(np.float64).eps
#: Relative size of the rounding errors in a computed f (about a thousand ulps, to
#: allow for cancellation between the terms of a sum).
F_ROUNDOFF_RTOL = 1e3 * EPS


@inlined
def fixed_step(obj, x, direction, alpha, max_ls, x_trial, g_trial, info):
    """Take the step ``alpha`` as given, whatever f does there; only if f or the gradient
    is not finite, halve it (up to ``max_ls`` evaluations in all)."""
    for _ in range(max_ls):
        step_to(x, alpha, direction, x_trial)
        f_trial = evaluate_grad(obj, x_trial, g_trial, info)
        if point_finite(f_trial, g_trial):
            return alpha, f_trial, LS_OK
        alpha *= BACKOFF
    return alpha, np.nan, LS_NONFINITE


@inlined
def backtracking(order, obj, x, f, slope, direction, alpha, c1, max_ls, interpolate, x_trial,
                 g_trial, H_trial, info):
    """Armijo backtracking (Nocedal & Wright, Alg. 3.1; interpolation, sec. 3.5).

    Accept the first trial step with sufficient decrease,
    ``f(x + alpha d) <= f + c1 alpha g.d``; otherwise shrink ``alpha``: halve it, or with
    ``interpolate`` replace it by the minimiser of the quadratic that matches ``f``, the
    slope ``g.d`` and the rejected value, kept within ``[0.1, 0.5] alpha`` so the search
    neither stalls nor collapses.  Interpolation is what gradient descent needs (its
    first trial step has no natural scale); after a Newton step, whose natural length is
    1, it cuts too deep in curved valleys: on the MGH problems halving takes 10% fewer
    Newton iterations and 12% fewer evaluations of f.

    Trial points use the value-only kernel; the derivatives (``order`` 1: gradient,
    2: and Hessian) are computed once, at the accepted point, and if they are not finite
    the step keeps shrinking.  Stops early when the step no longer changes ``x`` in
    floating point.
    """
    f_noise = F_ROUNDOFF_RTOL * abs(f)
    saw_insufficient = False  # a finite trial without sufficient decrease (else: NaN)
    for _ in range(max_ls):
        if not step_to(x, alpha, direction, x_trial):
            saw_insufficient = True  # the step vanished: no decrease is possible
            break
        f_trial = evaluate_value(obj, x_trial, info)
        if not math.isfinite(f_trial):
            alpha *= BACKOFF
            continue
        if f_trial <= f + f_noise + c1 * alpha * slope:
            f_trial = evaluate(order, obj, x_trial, g_trial, H_trial, info)
            if derivatives_finite(order, f_trial, g_trial, H_trial):
                return alpha, f_trial, LS_OK
            alpha *= BACKOFF
            continue
        saw_insufficient = True
        alpha = _shrink(alpha, f, slope, f_trial) if interpolate else SHRINK_MAX * alpha
    return alpha, f, LS_NO_DECREASE if saw_insufficient else LS_NONFINITE


@inlined
def projected_step_to(x, alpha, direction, lower, upper, out):
    """``out = P(x + alpha * direction)``, ``P`` the projection onto the box
    ``[lower, upper]``.  Returns whether ``out`` differs from ``x``."""
    moved = False
    for i in range(x.shape[0]):
        out[i] = min(max(x[i] + alpha * direction[i], lower[i]), upper[i])
        moved |= out[i] != x[i]
    return moved


@inlined
def projected_backtracking(obj, x, f, g, direction, alpha, c1, max_ls, lower, upper, x_trial,
                           g_trial, info, trial_gradients):
    """Armijo backtracking along the projection arc ``x(alpha) = P(x + alpha d)`` of a
    box (Bertsekas 1982; Kelley, *Iterative Methods for Optimization*, sec. 5.4):
    accept the first trial with

        f(x(alpha)) <= f + c1 g.(x(alpha) - x),      g.(x(alpha) - x) < 0,

    else halve ``alpha``.  The arc bends along the faces of the box, so the decrease is
    measured by the actual displacement rather than ``alpha g.d``.  For ``d = -g`` (and
    for the L-BFGS-B directions of :mod:`.lbfgs`) the displacement is a descent
    direction for all small ``alpha``, so the search ends.

    Trials use the value-only kernel and the gradient is computed at the accepted point,
    as in :func:`backtracking`; with ``trial_gradients`` every trial is evaluated with its
    gradient instead: one value-and-gradient call per accepted first trial where the
    value-only search makes two, the better trade for a method whose unit step is
    usually accepted (L-BFGS-B) and for a loss over data rows, where each call is a pass
    over the data.  NaN/Inf trials back off.
    """
    f_noise = F_ROUNDOFF_RTOL * abs(f)
    saw_insufficient = False
    for _ in range(max_ls):
        if not projected_step_to(x, alpha, direction, lower, upper, x_trial):
            saw_insufficient = True
            break
        if trial_gradients:
            f_trial = evaluate_grad(obj, x_trial, g_trial, info)
            finite = point_finite(f_trial, g_trial)
        else:
            f_trial = evaluate_value(obj, x_trial, info)
            finite = math.isfinite(f_trial)
        if not finite:
            alpha *= BACKOFF
            continue
        decrease = 0.0
        for i in range(x.shape[0]):
            decrease += g[i] * (x_trial[i] - x[i])
        if decrease < 0.0 and f_trial <= f + f_noise + c1 * decrease:
            if trial_gradients:
                return alpha, f_trial, LS_OK
            f_trial = evaluate_grad(obj, x_trial, g_trial, info)
            if point_finite(f_trial, g_trial):
                return alpha, f_trial, LS_OK
            alpha *= BACKOFF
            continue
        saw_insufficient = True
        alpha *= SHRINK_MAX
    return alpha, f, LS_NO_DECREASE if saw_insufficient else LS_NONFINITE


@inlined
def _shrink(alpha, f, slope, f_trial):
    """The next backtracking step after ``alpha`` gave ``f_trial`` without sufficient
    decrease: the minimiser of the quadratic through ``f`` (slope ``slope``) at 0 and
    ``f_trial`` at ``alpha``, within ``[SHRINK_MIN, SHRINK_MAX] * alpha``."""
    # how far f_trial lies above the linear model; positive, since the test failed
    excess = f_trial - f - slope * alpha
    alpha_quadratic = -slope * alpha * alpha / (2.0 * excess)
    if not alpha_quadratic >= SHRINK_MIN * alpha:  # also catches NaN
        alpha_quadratic = SHRINK_MIN * alpha
    return min(alpha_quadratic, SHRINK_MAX * alpha)


@inlined
def _interpolate(a_lo, f_lo, s_lo, a_hi, f_hi, s_hi, hi_finite):
    """A trial step inside the bracket [a_lo, a_hi] (in either order).

    The minimiser of the cubic matching f and slope at both ends (N&W eq. 3.59), else of
    the quadratic matching f and slope at ``a_lo`` and f at ``a_hi``; if that falls
    outside the middle 80% of the bracket, or ``a_hi`` gave NaN/Inf, the midpoint.
    """
    width = a_hi - a_lo
    midpoint = a_lo + 0.5 * width
    if not hi_finite:
        return midpoint
    d1 = s_lo + s_hi - 3.0 * (f_lo - f_hi) / (a_lo - a_hi)
    radicand = d1 * d1 - s_lo * s_hi
    if radicand >= 0.0:
        d2 = math.copysign(math.sqrt(radicand), width)
        trial = a_hi - width * (s_hi + d2 - d1) / (s_hi - s_lo + 2.0 * d2)
    else:
        trial = a_lo - 0.5 * s_lo * width * width / (f_hi - f_lo - s_lo * width)
    # within the bracket, at least ZOOM_MARGIN of its width from either end
    offset = (trial - a_lo) / width
    if not (ZOOM_MARGIN <= offset <= 1.0 - ZOOM_MARGIN):  # also catches NaN
        return midpoint
    return trial


@inlined
def strong_wolfe(obj, x, f, slope, direction, alpha, c1, c2, max_ls, x_trial, g_trial, info):
    """A step satisfying the strong Wolfe conditions (N&W Alg. 3.5 and 3.6):

        f(x + alpha d) <= f + c1 alpha g.d          (sufficient decrease)
        |g(x + alpha d) . d| <= c2 |g.d|            (the slope has flattened enough)

    The search keeps a bracket.  Its low end ``lo`` is the best step so far satisfying
    sufficient decrease (at first 0).  While no high end is known, the step grows by
    ``EXPAND``.  A trial that fails sufficient decrease, or is no better than ``lo``,
    becomes the high end; a trial that decreases f enough but where f still slopes down
    towards the high end becomes the new low end ("zoom").  Inside a bracket, the next
    trial is interpolated from both ends.  NaN/Inf at a trial makes it the high end, and
    the next trial bisects.

    The curvature condition is what lets BFGS keep its matrix positive definite.  When
    ``max_ls`` trials do not meet it but the low end is above 0, the low end is returned
    (f decreased sufficiently there); the BFGS update then checks the curvature itself.
    """
    dnorm = norm_inf(direction)
    xnorm = norm_inf(x)
    f_noise = F_ROUNDOFF_RTOL * abs(f)
    # low end: best step known with sufficient decrease; f and slope there
    a_lo = 0.0
    f_lo = f
    s_lo = slope
    # high end, once bracketed: f and slope there, and whether they were finite
    bracketed = False
    a_hi = np.inf
    f_hi = np.inf
    s_hi = np.inf
    hi_finite = False
    saw_finite = False
    for _ in range(max_ls):
        if bracketed:
            if abs(a_hi - a_lo) * dnorm <= EPS * xnorm or a_hi == a_lo:
                break  # the bracket no longer separates points in floating point
            alpha = _interpolate(a_lo, f_lo, s_lo, a_hi, f_hi, s_hi, hi_finite)
        step_to(x, alpha, direction, x_trial)
        f_trial = evaluate_grad(obj, x_trial, g_trial, info)
        if not point_finite(f_trial, g_trial):
            bracketed = True
            a_hi, f_hi, s_hi, hi_finite = alpha, np.nan, np.nan, False
            continue
        saw_finite = True
        s_trial = dot(g_trial, direction)
        if f_trial > f + f_noise + c1 * alpha * slope or f_trial > f_lo + f_noise:
            bracketed = True
            a_hi, f_hi, s_hi, hi_finite = alpha, f_trial, s_trial, True
            continue
        if abs(s_trial) <= -c2 * slope:
            return alpha, f_trial, LS_OK
        # sufficient decrease but still steep: alpha becomes the low end; if f rises
        # from alpha towards the old high end (or beyond alpha when unbracketed), the
        # old low end becomes the high end
        towards_hi = (a_hi - a_lo) if bracketed else 1.0
        if s_trial * towards_hi >= 0.0:
            bracketed = True
            a_hi, f_hi, s_hi, hi_finite = a_lo, f_lo, s_lo, True
        a_lo, f_lo, s_lo = alpha, f_trial, s_trial
        if not bracketed:
            alpha *= EXPAND
    if a_lo > 0.0:
        # settle for sufficient decrease: recompute the gradient at the low end
        step_to(x, a_lo, direction, x_trial)
        f_lo = evaluate_grad(obj, x_trial, g_trial, info)
        return a_lo, f_lo, LS_OK
    return alpha, f, LS_NO_DECREASE if saw_finite else LS_NONFINITE


@inlined
def at_roundoff_floor(f, predicted_decrease):
    """Whether the decrease of f a search could hope for is below f's rounding errors.

    ``predicted_decrease`` is the first-order estimate ``alpha_0 |g.d|`` for the search's
    first trial step.  When it is below ``F_ROUNDOFF_RTOL * |f|`` no comparison of f
    values can confirm a decrease, so a failed search there means the iterate is as
    good as f can tell: converged to working precision, not stuck.
    """
    return predicted_decrease <= F_ROUNDOFF_RTOL * abs(f)


@inlined
def failure_status(flag, f, predicted_decrease):
    """The solver status after a line search that accepted no step: ``NAN_ENCOUNTERED``
    if every trial was NaN/Inf, ``SUCCESS_FTOL`` if f is at the limit of its precision
    (see :func:`at_roundoff_floor`), else ``LINE_SEARCH_FAILED``."""
    if flag == LS_NONFINITE:
        return NAN_ENCOUNTERED
    if at_roundoff_floor(f, predicted_decrease):
        return SUCCESS_FTOL
    return LINE_SEARCH_FAILED
