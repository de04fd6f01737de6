"""Gradient descent: step along ``-g``, the direction in which f falls fastest.

With ``opts[OPT_STEP] > 0`` every step is ``x <- x - step * g`` (halved only if it
lands on NaN/Inf).  Otherwise the step length comes from Armijo backtracking; its first
trial is twice the last accepted step (capped), so the search can grow the step again
after the valley it had to shrink for, and the first trial of all moves ``x`` by at most
1 in each coordinate.  Convergence is linear, and slow when the Hessian is badly
conditioned: prefer Newton or BFGS; gradient descent is the baseline.

With box bounds (``opts[OPT_BOUNDS]``, see :mod:`symopt.abi`) this is the projected
gradient method: the start is projected into the box, the backtracking search runs
along the projection arc ``P(x - alpha g)`` (:func:`.linesearch.projected_backtracking`,
halving), a fixed step is projected too, and gtol is tested on the projected gradient
``||P(x - g) - x||_inf``.

The solver compiles (or loads from Numba's on-disk cache) when ``solve`` is first
accessed, not at import.
Uses ``value`` and ``value_grad``; ``value_grad_hess`` is never called and ``H_out``
is not touched.
"""

from __future__ import annotations

from ._common import (
    end_iteration,
    finish,
    genuine_status,
    project,
    read_bounds,
    read_options,
    start,
)
from ._jit import Wrapper, declared_solvers, iteration
from .linalg import dot
from .linesearch import (
    INTERPOLATE,
    LS_OK,
    backtracking,
    failure_status,
    fixed_step,
    projected_backtracking,
)
from .status import CONTINUE

__all__ = ["solve"]

#: Upper bound of the first trial step of the backtracking search.
ALPHA_MAX = 1e10


@iteration
def _gradient_descent(obj, x, opts, info, hist, g, vectors, no_hessian):
    """The iteration of :func:`solve`, with work arrays ``vectors`` (3 x n).  Updates
    ``x`` and ``g`` in place; returns f."""
    o = read_options(opts)  # o.gtol, o.ftol, ...: see read_options
    n = x.shape[0]
    direction, x_trial, g_trial = vectors[0], vectors[1], vectors[2]
    lower, upper, bounded = read_bounds(opts, n)

    f, gnorm, status = start(1, obj, x, g, no_hessian, info, hist, o.gtol, o.max_iter, lower, upper, bounded)

    f_start = f
    nit = 0
    # first trial step of the next search: at first, a step of at most 1 per coordinate;
    # then twice the step accepted last
    trial_step = min(1.0, 1.0 / gnorm) if gnorm > 0.0 else 1.0
    while status == CONTINUE:
        for i in range(n):
            direction[i] = -g[i]
        slope = -dot(g, g)
        if o.step > 0.0:
            if bounded:
                # project the direction's step: the fixed step lands on P(x - step g)
                for i in range(n):
                    x_trial[i] = x[i] + o.step * direction[i]
                project(x_trial, lower, upper, bounded)
                for i in range(n):
                    direction[i] = (x_trial[i] - x[i]) / o.step
            alpha, f_trial, flag = fixed_step(obj, x, direction, o.step, o.max_ls,
                                              x_trial, g_trial, info)
        elif bounded:
            alpha, f_trial, flag = projected_backtracking(
                obj, x, f, g, direction, trial_step, o.c1, o.max_ls,
                lower, upper, x_trial, g_trial, info, False)
        else:
            alpha, f_trial, flag = backtracking(
                1, obj, x, f, slope, direction,
                trial_step, o.c1, o.max_ls, INTERPOLATE, x_trial, g_trial, no_hessian, info)
        if flag != LS_OK:
            status = failure_status(flag, f, -trial_step * slope)
            break
        trial_step = min(2.0 * alpha, ALPHA_MAX)
        nit += 1
        f_prev, f = f, f_trial
        gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info,
                                      o.gtol, o.ftol, o.xtol, o.max_iter, lower, upper, bounded)
    finish(info, genuine_status(status, f_start, f, x, g, lower, upper, bounded), nit)
    return f


__getattr__ = declared_solvers(globals(), {"solve": Wrapper(
    "_gradient_descent", work=(("vectors", ("3", "n"), "empty"), ("no_hessian", ("0", "0"), "empty")),
    takes_bounds=True,
    doc="Minimise by gradient descent; see symopt.abi.solver_sig for the arguments.")})
