"""Newton's method with a trust region: Steihaug-Toint truncated conjugate gradients.

Instead of fixing a direction and searching along it (:mod:`.newton`), a trust-region
method fixes how far it trusts the quadratic model

    m(p) = f + g.p + p.H.p / 2

- within a radius ``delta`` of ``x`` - and steps to the model's (approximate) minimiser
inside that ball.  The Hessian need not be positive definite: where the model curves
downwards, its minimiser inside the ball lies on the boundary, and the step goes there.

The step (Nocedal & Wright, Alg. 7.2, Steihaug 1983, Toint 1981): conjugate gradients
on ``H p = -g`` from ``p = 0``, stopped

- when the residual is below ``min(0.5, sqrt(||g||)) ||g||`` (the interior, inexact
  Newton step, which converges superlinearly);
- when an iterate would leave the ball: the step ends where the CG segment crosses the
  boundary;
- when a CG direction ``d`` has ``d.H.d <= 0`` (negative curvature): the step follows
  ``d`` to the boundary.  At a saddle-shaped start the first direction is ``-g`` and
  the step is a full-radius steepest-descent step, not the ascent a Newton step would
  take.

The radius (N&W Alg. 4.1): with ``rho`` = actual / predicted reduction of f, the step is
accepted when ``rho > ETA``; the radius is cut to a quarter of the step's length when
``rho < 1/4`` and doubled (up to ``MAX_RADIUS_FACTOR`` times the initial radius) when
``rho > 3/4`` and the step reached the boundary.  The initial radius is
``opts[OPT_RADIUS]`` (0: ``DEFAULT_RADIUS`` = 1).  A trial step with NaN/Inf f (or
derivatives, at a step that would be accepted) counts as ``rho = -inf``.

Stops: the termination test of :mod:`._common` after every accepted step (``nit``
counts accepted steps; rejected ones only shrink the radius); ``SUCCESS_FTOL`` when the
model's predicted decrease is below the rounding errors of f (f cannot confirm any
further progress); ``TRUST_REGION_COLLAPSED`` when the radius shrinks below the
rounding level of ``x`` without an acceptable step.

Importing this module compiles the solver (or loads it from Numba's on-disk cache).
``H_out`` receives the exact Hessian at the final point.
"""

from __future__ import annotations

import math

import numpy as np

from ..abi import OPT_RADIUS
from ._common import (
    arguments_valid,
    derivatives_finite,
    end_iteration,
    evaluate,
    evaluate_value,
    finish,
    kernel_raised,
    read_options,
    start,
)
from ._jit import inlined, iteration, solver
from .linalg import copy_matrix, dot, matvec, norm2, norm_inf
from .linesearch import EPS, F_ROUNDOFF_RTOL
from .status import CONTINUE, NAN_ENCOUNTERED, SUCCESS_FTOL, TRUST_REGION_COLLAPSED

__all__ = ["solve", "DEFAULT_RADIUS"]

#: Initial radius when ``opts[OPT_RADIUS]`` is 0 (scipy's trust-ncg uses 1 too).
DEFAULT_RADIUS = 1.0
#: The radius never grows beyond this multiple of the initial radius.
MAX_RADIUS_FACTOR = 1e10
#: Accept a step when actual / predicted reduction exceeds this (N&W: eta in [0, 1/4)).
ETA = 1e-4
#: The smallest radius, in absolute terms, before the region counts as collapsed.
RADIUS_FLOOR = 1e-300


@inlined
def to_boundary(z, d, radius):
    """The ``tau >= 0`` with ``||z + tau d|| = radius`` (``z`` inside the ball), by the
    root formula that avoids cancellation."""
    a = dot(d, d)
    b = 2.0 * dot(z, d)
    c = dot(z, z) - radius * radius
    root = math.sqrt(max(b * b - 4.0 * a * c, 0.0))
    if b >= 0.0:
        return -2.0 * c / (b + root) if b + root > 0.0 else 0.0
    return (-b + root) / (2.0 * a)


@inlined
def steihaug_cg(H, g, radius, z, r, d, Hd):
    """The Steihaug-Toint step into ``z`` (see the module docstring); ``r``, ``d``, ``Hd``
    are workspace.  Returns whether the step ends on the boundary."""
    n = g.shape[0]
    rr = dot(g, g)
    tolerance = min(0.5, math.sqrt(math.sqrt(rr))) * math.sqrt(rr)
    for i in range(n):
        z[i] = 0.0
        r[i] = g[i]
        d[i] = -g[i]
    for _ in range(2 * n + 1):  # n in exact arithmetic; rounding may need a few more
        matvec(H, d, Hd)
        curvature = dot(d, Hd)
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
            return True
        for i in range(n):
            z[i] += alpha * d[i]
            r[i] += alpha * Hd[i]
        rr_new = dot(r, r)
        if math.sqrt(rr_new) <= tolerance:
            return False
        beta = rr_new / rr
        rr = rr_new
        for i in range(n):
            d[i] = -r[i] + beta * d[i]
    return False


@iteration
def _trust_ncg(value, value_grad, value_grad_hess, x, p, data, opts, info, hist, g, H,
               vectors, H_trial):
    """The iteration of :func:`solve`, with work arrays ``vectors`` (6 x n) and
    ``H_trial`` (n x n).  Updates ``x``, ``g`` and ``H`` in place; returns f."""
    gtol, ftol, xtol, max_iter, _, _, _, _ = read_options(opts)
    n = x.shape[0]
    z, r, d, Hd = vectors[0], vectors[1], vectors[2], vectors[3]
    x_trial, g_trial = vectors[4], vectors[5]
    no_bounds = opts[0:0]
    radius = opts[OPT_RADIUS]
    if not (radius > 0.0 and radius < np.inf):
        radius = DEFAULT_RADIUS
    max_radius = MAX_RADIUS_FACTOR * radius

    f, gnorm, status = start(2, value_grad, value_grad_hess, x, p, data, g, H, info, hist,
                             gtol, max_iter, no_bounds, no_bounds, False)
    if status == CONTINUE and not derivatives_finite(2, f, g, H):
        status = NAN_ENCOUNTERED
    nit = 0
    while status == CONTINUE:
        on_boundary = steihaug_cg(H, g, radius, z, r, d, Hd)
        matvec(H, z, Hd)
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
            f_trial = evaluate(2, value_grad, value_grad_hess, x_trial, p, data, g_trial,
                               H_trial, info)
            if not derivatives_finite(2, f_trial, g_trial, H_trial):
                rho = -np.inf
        if rho < 0.25:
            radius = 0.25 * step_length
        elif rho > 0.75 and on_boundary:
            radius = min(2.0 * radius, max_radius)
        if rho > ETA:
            nit += 1
            f_prev, f = f, f_trial
            copy_matrix(H_trial, H)
            gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info,
                                          gtol, ftol, xtol, max_iter, no_bounds, no_bounds,
                                          False)
        elif radius <= EPS * norm_inf(x) or radius < RADIUS_FLOOR:
            status = TRUST_REGION_COLLAPSED
    finish(info, status, nit)
    return f


@solver
def solve(value, value_grad, value_grad_hess, x, p, data, opts, info, hist, g_out, H_out):
    """Minimise by trust-region Newton-CG; see :data:`symopt.abi.solver_sig`."""
    if not arguments_valid(x, opts, info, hist, g_out, H_out, True, False):
        return np.nan
    n = x.shape[0]
    vectors = np.empty((6, n))
    H_trial = np.empty((n, n))
    try:
        return _trust_ncg(value, value_grad, value_grad_hess, x, p, data, opts, info, hist,
                          g_out, H_out, vectors, H_trial)
    except Exception:  # noqa: BLE001 - a hand-written kernel raised
        pass
    return kernel_raised(value, x, p, data, info)
