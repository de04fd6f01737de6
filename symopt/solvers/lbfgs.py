"""L-BFGS: BFGS from the last ``m`` steps only, in O(mn) memory and time per iteration.

BFGS (:mod:`.quasi_newton`) keeps an n x n inverse-Hessian approximation; for thousands
of variables that matrix is the whole cost.  L-BFGS keeps instead the last ``m`` steps
``s_i = x_{i+1} - x_i`` and gradient changes ``y_i = g_{i+1} - g_i`` (``m`` =
``opts[OPT_MEMORY]``, default 10) and applies the inverse-Hessian approximation that
``m`` BFGS updates of ``gamma I`` would build, to the gradient, by the two-loop recursion
(Nocedal & Wright, Alg. 7.4), without forming it.  ``gamma = s'y / y'y`` of the newest
pair (N&W eq. 7.20) gives the unit step the right length, so the strong Wolfe search
(c1 = 1e-4, c2 = 0.9) usually accepts it at once.  A pair whose curvature ``y's`` is
not safely positive is not stored.  The first step (and the step after a reset) goes
along ``-g`` with a length that moves ``x`` by at most 1 per coordinate; if the search
fails along the L-BFGS direction, the memory is dropped and the search retried along
``-g``.

Bounds (``opts[OPT_BOUNDS]``, see :mod:`symopt.abi`): a projected quasi-Newton method
with an epsilon-active set (Bertsekas, "Projected Newton methods for optimization
problems with simple constraints", SIAM J. Control Optim. 20, 1982; Kelley, *Iterative
Methods for Optimization*, sec. 5.5).  A variable is *active* when it lies within
``eps = min(ACTIVE_EPS, w)`` of a bound that its derivative pushes it against, ``w``
being the projected-gradient norm.  Active variables take a scaled gradient step
``-gamma g_i`` (which the projection stops at the bound); the free ones take the
two-loop direction computed with the active components masked out.  The step length
comes from Armijo backtracking along the projection arc ``P(x + alpha d)``
(:func:`.linesearch.projected_backtracking`): no Wolfe search along a bent path, so a
pair with non-positive curvature is simply skipped.  Convergence is tested on the
projected gradient.  This finds the active set in finitely many steps on
non-degenerate problems; it does not compute L-BFGS-B's generalized Cauchy point.

Importing this module compiles the solver (or loads it from Numba's on-disk cache).
Uses ``value`` (bounded searches) and ``value_grad``; ``H_out`` is not touched and may
be any shape (e.g. 0 x 0).
"""

from __future__ import annotations

import numpy as np

from ..abi import OPT_MEMORY
from ._common import (
    _count,
    arguments_valid,
    descent_slope,
    end_iteration,
    finish,
    kernel_raised,
    read_bounds,
    read_options,
    start,
)
from ._jit import inlined, iteration, solver
from .linalg import dot, norm2
from .linesearch import (
    LS_OK,
    at_roundoff_floor,
    failure_status,
    projected_backtracking,
    strong_wolfe,
)
from .status import CONTINUE

__all__ = ["solve", "DEFAULT_MEMORY", "MAX_MEMORY"]

#: Stored correction pairs when ``opts[OPT_MEMORY]`` is 0 (Nocedal & Wright: 3 to 20
#: work well; scipy's L-BFGS-B uses 10).
DEFAULT_MEMORY = 10
#: The largest memory accepted (larger values are clipped).
MAX_MEMORY = 1000
#: Store a pair only if y's > CURVATURE_RTOL * ||y|| ||s|| (as :mod:`.quasi_newton`).
CURVATURE_RTOL = 1e-10
#: Upper bound of the first trial of a gradient step.
ALPHA_MAX = 1e10
#: Bounds: the largest distance to a bound at which a variable counts as active.
ACTIVE_EPS = 1e-3


@inlined
def two_loop(g, direction, S, Y, rho, a, newest, count, gamma, active, bounded):
    """``direction = -H g`` by the two-loop recursion (N&W Alg. 7.4), ``H`` the L-BFGS
    inverse-Hessian approximation from the ``count`` newest pairs of the ring buffers
    ``S``/``Y`` (newest at row ``newest``) and ``H0 = gamma I``.  With ``bounded``, the
    components flagged in ``active`` are masked out of the recursion and get
    ``-gamma g_i`` instead."""
    n = g.shape[0]
    m = S.shape[0]
    q = direction
    for i in range(n):
        q[i] = 0.0 if (bounded and active[i] != 0.0) else g[i]
    for k in range(count):
        j = (newest - k) % m
        s, y = S[j], Y[j]
        a[j] = rho[j] * dot(s, q)
        for i in range(n):
            q[i] -= a[j] * y[i]
    for i in range(n):
        q[i] *= gamma
    for k in range(count - 1, -1, -1):
        j = (newest - k) % m
        s, y = S[j], Y[j]
        b = rho[j] * dot(y, q)
        for i in range(n):
            q[i] += (a[j] - b) * s[i]
    for i in range(n):
        if bounded and active[i] != 0.0:
            q[i] = -gamma * g[i]
        else:
            q[i] = -q[i]


@inlined
def mark_active(x, g, lower, upper, eps, active):
    """Flag (1.0) the variables within ``eps`` of a bound that the gradient pushes them
    against; returns how many."""
    count = 0
    for i in range(x.shape[0]):
        at_lower = x[i] - lower[i] <= eps and g[i] > 0.0
        at_upper = upper[i] - x[i] <= eps and g[i] < 0.0
        active[i] = 1.0 if (at_lower or at_upper) else 0.0
        count += at_lower or at_upper
    return count


@iteration
def _lbfgs(value, value_grad, value_grad_hess, x, p, data, opts, info, hist, g, vectors, S, Y,
           scalars, no_hessian):
    """The iteration of :func:`solve`, with work arrays ``vectors`` (6 x n), the pair
    ring buffers ``S``, ``Y`` (m x n) and ``scalars`` (2 x m).  Updates ``x`` and ``g``
    in place; returns f."""
    gtol, ftol, xtol, max_iter, _, c1, c2, max_ls = read_options(opts)
    n = x.shape[0]
    m = S.shape[0]
    direction, x_trial, g_trial = vectors[0], vectors[1], vectors[2]
    s, y, active = vectors[3], vectors[4], vectors[5]
    rho, a = scalars[0], scalars[1]
    lower, upper, bounded = read_bounds(opts, n)

    f, gnorm, status = start(1, value_grad, value_grad_hess, x, p, data, g, no_hessian,
                             info, hist, gtol, max_iter, lower, upper, bounded)
    nit = 0
    count = 0  # pairs stored (0: the next step is a scaled gradient step)
    newest = m - 1
    gamma = 1.0
    # first trial of a gradient step (count == 0): a step of at most 1 per coordinate at
    # the start and after a reset, else twice the last accepted step (as gd), so that
    # steps can grow where no pair is stored (a flat or linear direction)
    gradient_trial = min(1.0, 1.0 / gnorm) if gnorm > 0.0 else 1.0
    while status == CONTINUE:
        if bounded:
            mark_active(x, g, lower, upper, min(ACTIVE_EPS, gnorm), active)
        two_loop(g, direction, S, Y, rho, a, newest, count, gamma, active, bounded)
        slope, steepest = descent_slope(g, direction)
        if steepest and count > 0:
            count = 0
            gamma = 1.0
        first_trial = gradient_trial if count == 0 else 1.0
        if bounded:
            alpha, f_trial, flag = projected_backtracking(
                value, value_grad, x, p, data, f, g, direction, first_trial, c1, max_ls,
                lower, upper, x_trial, g_trial, info)
        else:
            alpha, f_trial, flag = strong_wolfe(value_grad, x, p, data, f, slope, direction,
                                                first_trial, c1, c2, max_ls, x_trial, g_trial,
                                                info)
        if flag != LS_OK:
            if count == 0 or at_roundoff_floor(f, -first_trial * slope):
                status = failure_status(flag, f, -first_trial * slope)
                break
            count = 0  # drop the memory; retry once along -g
            gamma = 1.0
            gradient_trial = min(1.0, 1.0 / gnorm)
            continue
        if count == 0:
            gradient_trial = min(2.0 * alpha, ALPHA_MAX)
        for i in range(n):
            s[i] = x_trial[i] - x[i]
            y[i] = g_trial[i] - g[i]
        nit += 1
        f_prev, f = f, f_trial
        gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info,
                                      gtol, ftol, xtol, max_iter, lower, upper, bounded)
        ys = dot(y, s)
        if ys > CURVATURE_RTOL * norm2(y) * norm2(s):
            newest = (newest + 1) % m
            for i in range(n):
                S[newest, i] = s[i]
                Y[newest, i] = y[i]
            rho[newest] = 1.0 / ys
            gamma = ys / dot(y, y)
            count = min(count + 1, m)
    finish(info, status, nit)
    return f


@solver
def solve(value, value_grad, value_grad_hess, x, p, data, opts, info, hist, g_out, H_out):
    """Minimise by L-BFGS (projected, with bounds); see :data:`symopt.abi.solver_sig`."""
    if not arguments_valid(x, opts, info, hist, g_out, H_out, False, True):
        return np.nan
    n = x.shape[0]
    m = _count(opts[OPT_MEMORY], 0, MAX_MEMORY)
    if m == 0:
        m = DEFAULT_MEMORY
    vectors = np.zeros((6, n))
    S = np.empty((m, n))
    Y = np.empty((m, n))
    scalars = np.empty((2, m))
    no_hessian = np.empty((0, 0))
    try:
        return _lbfgs(value, value_grad, value_grad_hess, x, p, data, opts, info, hist, g_out,
                      vectors, S, Y, scalars, no_hessian)
    except Exception:  # noqa: BLE001 - a hand-written kernel raised
        pass
    return kernel_raised(value, x, p, data, info)
