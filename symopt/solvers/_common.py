"""What every solver loop shares: argument checks, options, counted kernel calls, the
start of a solve, the end of an iteration, the one termination test, and history rows.

A solver loop is then only its own mathematics: a search *direction* (steepest descent,
Newton, BFGS) and a *search* along it (fixed step, backtracking, strong Wolfe), with
every piece of bookkeeping done here in the same way for all methods.

Every method is built the same way (see :mod:`._jit`): ``solve``, compiled with the
solver signature, checks the arrays, allocates the work arrays in one or two blocks and
calls the method's *iteration*, a function compiled without reference counting into
which every helper here (and in :mod:`.linalg` and :mod:`.linesearch`) is inlined; if
a kernel raises, ``solve`` catches the exception around that one call
(:func:`kernel_raised`).
"""

from __future__ import annotations

import math
from collections import namedtuple

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
    OPT_BOUNDS,
    OPT_C1,
    OPT_C2,
    OPT_FTOL,
    OPT_GTOL,
    OPT_MAX_ITER,
    OPT_MAX_LS,
    OPT_STEP,
    OPT_XTOL,
)
from ._jit import inlined
from .linalg import all_finite, copy_vector, diff_norm_inf, dot, norm_inf
from .status import (
    CONTINUE,
    INVALID_INPUT,
    MAX_ITER,
    NAN_ENCOUNTERED,
    OVERFLOW,
    PROBABLY_UNBOUNDED,
    SUCCESS_FTOL,
    SUCCESS_GTOL,
    SUCCESS_XTOL,
)

#: Floor of the scale in the relative ftol test, so that f_prev = f = 0 counts as converged.
F_SCALE_FLOOR = 1e-300
#: The ftol and xtol tests claim success only where the relative gradient
#: ``max_i |g_i| max(|x_i|, 1) / max(|f|, 1)`` (Dennis & Schnabel 1983, sec. 7.2: the
#: relative change of f per relative change of x_i) is below this (see
#: :func:`check_termination`): it is about 1 where f runs off linearly and far below
#: this near a minimiser, even when the user loosens ftol (0.06 at a momentum solve
#: stopped by ftol = 1e-3 in the tests).
RELGRAD_MAX = 0.25
#: A decrease of f by more than this many times ``max(|f_start|, 1)``, at a point where f
#: still falls as fast as x grows (relative gradient above RELGRAD_MAX), is reported as
#: ``PROBABLY_UNBOUNDED`` (Ipopt's ``diverging_iterates_tol`` is the same order, 1e20, on x).
RUNAWAY_FACTOR = 1e20
#: Hard limits that keep every loop bounded whatever the options say.
MAX_ITER_LIMIT = 2**53
MAX_LS_LIMIT = 10_000


# --- arguments and options ----------------------------------------------------------------


@inlined
def arguments_valid(x, opts, info, hist, g_out, H_out, uses_matrix, takes_bounds):
    """Whether the arrays have consistent sizes (Numba does not bounds-check, so a
    wrong size would corrupt memory instead of raising).  Writes the status when it can.

    With ``opts[OPT_BOUNDS]`` set, the bounds must follow the scalar options
    (``N_OPTS + 2n`` entries), be NaN-free with ``lower <= upper``, and the method must
    take bounds (``takes_bounds``): a method that would ignore them reports
    ``INVALID_INPUT`` instead of solving the wrong problem."""
    n = x.shape[0]
    valid = (
        opts.shape[0] >= N_OPTS
        and g_out.shape[0] == n
        and (hist.shape[0] == 0 or hist.shape[1] >= 2)
        and (not uses_matrix or (H_out.shape[0] == n and H_out.shape[1] == n))
    )
    if valid:
        valid = bounds_valid(opts, n, takes_bounds)
    if info.shape[0] < N_INFO:
        return False
    if not valid:
        info[:] = 0
        info[INFO_STATUS] = INVALID_INPUT
    return valid


@inlined
def bounds_valid(opts, n, takes_bounds):
    """Whether the bounds part of ``opts`` (at least ``N_OPTS`` long) is usable: no
    bounds (``opts[OPT_BOUNDS] = 0``), or a method that takes them (``takes_bounds``)
    and ``N_OPTS + 2n`` entries whose bounds are NaN-free with ``lower <= upper``.  A
    solver reports ``INVALID_INPUT`` otherwise, rather than solve without the bounds."""
    if opts[OPT_BOUNDS] == 0.0:
        return True
    if not takes_bounds or opts.shape[0] < N_OPTS + 2 * n:
        return False
    for i in range(n):
        if not opts[N_OPTS + i] <= opts[N_OPTS + n + i]:  # NaN fails too
            return False
    return True


@inlined
def read_bounds(opts, n):
    """``(lower, upper, bounded)``: views of the bounds that follow the scalar options
    when ``opts[OPT_BOUNDS]`` is set (see :mod:`symopt.abi`), else empty views and False."""
    if opts[OPT_BOUNDS] != 0.0:
        return opts[N_OPTS:N_OPTS + n], opts[N_OPTS + n:N_OPTS + 2 * n], True
    return opts[0:0], opts[0:0], False


@inlined
def _non_negative(value):
    return value if value >= 0.0 else 0.0  # NaN -> 0


@inlined
def _count(value, lowest, highest):
    if not value >= lowest:  # NaN -> lowest
        return lowest
    if value >= highest:
        return highest
    return int(value)


#: The options of a solve, read from the options array by :func:`read_options`: a named
#: tuple, which Numba keeps as eight scalars (no allocation, no cost per field read).
SolverOptions = namedtuple("SolverOptions", ["gtol", "ftol", "xtol", "max_iter", "step", "c1",
                                             "c2", "max_ls"])


@inlined
def read_options(opts):
    """The options array as named values, made safe: negative or NaN tolerances become
    0, counts are clipped to sane ranges, line-search constants outside
    0 < c1 < c2 < 1 fall back to the textbook 1e-4 and 0.9.

    Returns a :class:`SolverOptions`, read by name (``o.gtol``) in the iterations; it
    still unpacks as the tuple ``(gtol, ftol, xtol, max_iter, step, c1, c2, max_ls)``.
    """
    c1 = opts[OPT_C1]
    if not (0.0 < c1 < 1.0):
        c1 = 1e-4
    c2 = opts[OPT_C2]
    if not (c1 < c2 < 1.0):
        c2 = 0.9
    return SolverOptions(
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


# Kernels are called without a try/except around them: inside a solver's loop it costs
# more than the kernel (a Newton solve of Rosenbrock took 1.3 times as long).  Kernels
# generated by symopt never raise (IEEE arithmetic: they return NaN or Inf instead).  A
# hand-written kernel that raises ends the solve, which the solver catches around its
# whole loop: see :func:`kernel_raised`.


#: The objective of a scalar solve, passed to the helpers as one argument: its kernels
#: and their parameters and data, read by name (``obj.value_grad(x, obj.p, obj.data, g)``).
#: Built once, on the first line of an iteration (``Objective(value, value_grad,
#: value_grad_hess, p, data)``); Numba keeps a named tuple of first-class functions and
#: arrays as its fields (no allocation, nothing to read per access).  A method that
#: never calls one kernel may fill its place with another (the tensor solvers pass
#: ``value_grad`` twice).
Objective = namedtuple("Objective", ["value", "value_grad", "value_grad_hess", "p", "data"])


@inlined
def evaluate_value(obj, x, info):
    """``f(x)``, counted as one function evaluation."""
    info[INFO_NFEV] += 1
    return obj.value(x, obj.p, obj.data)


@inlined
def evaluate_grad(obj, x, g, info):
    """``f(x)`` with its gradient written into ``g``; counted."""
    info[INFO_NFEV] += 1
    info[INFO_NJEV] += 1
    return obj.value_grad(x, obj.p, obj.data, g)


@inlined
def evaluate(order, obj, x, g, H, info):
    """``f(x)`` with its gradient into ``g`` (order 1), and its Hessian into ``H``
    (order 2); counted.  ``H`` is not touched for order 1."""
    if order != 2:
        return evaluate_grad(obj, x, g, info)
    info[INFO_NFEV] += 1
    info[INFO_NJEV] += 1
    info[INFO_NHEV] += 1
    return obj.value_grad_hess(x, obj.p, obj.data, g, H)


@inlined
def kernel_raised(obj, x, info):
    """End a solve in which a kernel raised an exception: status ``NAN_ENCOUNTERED``
    at the last accepted iterate.  ``x``, ``g_out``, ``H_out``, the history and the
    counts are as that iterate left them; returns f there (evaluated again, and counted;
    NaN if that raises too, as when the start point itself raised)."""
    info[INFO_STATUS] = NAN_ENCOUNTERED
    info[INFO_NFEV] += 1
    try:
        f = obj.value(x, obj.p, obj.data)
    except Exception:  # noqa: BLE001 - whatever a hand-written kernel raises
        f = np.nan
    return f


@inlined
def point_finite(f, g):
    """Whether f and every entry of the gradient are finite."""
    return math.isfinite(f) and all_finite(g)


@inlined
def derivatives_finite(order, f, g, H):
    """Whether f, the gradient and (order 2) the Hessian are all finite.  Only the
    lower triangle of the (symmetric) Hessian is checked: all that the solvers read."""
    if not point_finite(f, g):
        return False
    if order == 2:
        for i in range(H.shape[0]):
            for j in range(i + 1):
                if not math.isfinite(H[i, j]):
                    return False
    return True


@inlined
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


# --- box bounds -------------------------------------------------------------------------------


@inlined
def project(x, lower, upper, bounded):
    """Clip ``x`` into the box ``[lower, upper]`` in place (nothing without bounds)."""
    if bounded:
        for i in range(x.shape[0]):
            x[i] = min(max(x[i], lower[i]), upper[i])


@inlined
def stationarity(x, g, lower, upper, bounded):
    """The first-order optimality measure that gtol is tested on: ``||g||_inf``, or with
    bounds the projected gradient ``||P(x - g) - x||_inf`` (0 exactly at a point where
    every free variable has a zero derivative and every variable at a bound has a
    derivative pushing out of the box)."""
    if not bounded:
        return norm_inf(g)
    largest = 0.0
    for i in range(x.shape[0]):
        v = abs(min(max(x[i] - g[i], lower[i]), upper[i]) - x[i])
        if v > largest or v != v:
            largest = v
    return largest


# --- termination and history --------------------------------------------------------------


@inlined
def relative_gradient(x, g, f, lower, upper, bounded):
    """``max_i |g_i| max(|x_i|, 1) / max(|f|, 1)`` (Dennis & Schnabel's relative
    gradient with typical sizes 1), with bounds on the projected gradient
    ``P(x - g) - x``: how much a relative change of one variable still changes f,
    relatively.  About 1 where f runs off along a linear direction (``-u`` with ``u``
    huge), small near a minimiser."""
    largest = 0.0
    for i in range(x.shape[0]):
        d = g[i]
        if bounded:
            d = x[i] - min(max(x[i] - g[i], lower[i]), upper[i])
        v = abs(d) * max(abs(x[i]), 1.0)
        if v > largest or v != v:
            largest = v
    return largest / max(abs(f), 1.0)


@inlined
def check_termination(nit, f_prev, f, gnorm, step_norm, x_norm, relgrad, gtol, ftol, xtol,
                      max_iter):
    """The one stopping test of every solver: a status code, or ``CONTINUE``.

    In order: the gradient is small (``||g||_inf <= gtol``); the last iteration reduced
    f by a negligible fraction (``|f_prev - f| <= ftol * max(|f_prev|, |f|)``); the last
    step was negligible relative to x (``||step||_inf <= xtol * (xtol + ||x||_inf)``);
    the iteration limit is reached.  The ftol and xtol tests need a previous iterate,
    so at the start point (``nit == 0``) only the gradient and the limit are tested.

    The ftol and xtol tests measure changes relative to ``|f|`` and ``||x||_inf``, and
    both hold without any progress towards a minimiser once f or one variable has run
    off to a huge value: on ``-u + v^2`` with ``u ~ 4e49``, a step of 2e24 in ``v`` is
    below xtol relative to ``||x||_inf`` while it lowers f by 16%, and later steps
    change f by less than its rounding.  So they claim success only where the
    :func:`relative_gradient` ``relgrad`` is below :data:`RELGRAD_MAX`, i.e. where no
    relative change of a variable promises a sizeable relative decrease of f any more
    (on that loss it is 1).
    """
    if gnorm <= gtol:
        return SUCCESS_GTOL
    if nit > 0 and relgrad <= RELGRAD_MAX:  # NaN fails
        if abs(f_prev - f) <= ftol * max(abs(f_prev), abs(f), F_SCALE_FLOOR):
            return SUCCESS_FTOL
        if step_norm <= xtol * (xtol + x_norm):
            return SUCCESS_XTOL
    if nit >= max_iter:
        return MAX_ITER
    return CONTINUE


@inlined
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


@inlined
def start(order, obj, x, g, H, info, hist, gtol, max_iter, lower, upper, bounded):
    """Evaluate the start point and decide whether there is anything to do.

    Resets the counters, projects ``x`` into the box (with bounds), evaluates f and the
    gradient (and the Hessian, order 2), writes history row 0 (its gradient norm is
    :func:`stationarity`).  Returns ``(f, ||g||_inf, status)``: ``NAN_ENCOUNTERED`` when f or
    the gradient is not finite there, ``SUCCESS_GTOL``/``MAX_ITER`` when the start
    already passes the termination test, else ``CONTINUE``.
    """
    info[:] = 0
    project(x, lower, upper, bounded)
    f = evaluate(order, obj, x, g, H, info)
    gnorm = stationarity(x, g, lower, upper, bounded)
    record_history(hist, 0, f, gnorm, x, info)
    if not point_finite(f, g):
        return f, gnorm, NAN_ENCOUNTERED
    status = check_termination(0, f, f, gnorm, np.inf, norm_inf(x), 0.0, gtol, 0.0, 0.0,
                               max_iter)
    return f, gnorm, status


@inlined
def end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info, gtol, ftol, xtol, max_iter,
                  lower, upper, bounded):
    """Move to the accepted point: copy ``x_trial``/``g_trial`` into ``x``/``g``, count
    iteration ``nit`` in ``info``, record history row ``nit``, and run the termination
    test.  Returns ``(gnorm, status)``, ``gnorm`` the :func:`stationarity` measure
    (``||g||_inf`` without bounds)."""
    info[INFO_NIT] = nit
    step_norm = diff_norm_inf(x_trial, x)
    copy_vector(x_trial, x)
    copy_vector(g_trial, g)
    gnorm = stationarity(x, g, lower, upper, bounded)
    record_history(hist, nit, f, gnorm, x, info)
    relgrad = relative_gradient(x, g, f, lower, upper, bounded)
    status = check_termination(
        nit, f_prev, f, gnorm, step_norm, norm_inf(x), relgrad, gtol, ftol, xtol, max_iter
    )
    return gnorm, status


@inlined
def genuine_status(status, f_start, f, x, g, lower, upper, bounded):
    """The status a solve really ended with, given the one its loop decided on.

    Every method's loop ends here, whichever test stopped it, so that no success is
    reported that is not one (issue 15, item 6):

    * f fell to -Inf, or by more than ``RUNAWAY_FACTOR * max(|f_start|, 1)`` below its
      start while the :func:`relative_gradient` is above ``RELGRAD_MAX`` (f still falls
      as fast as x grows): ``PROBABLY_UNBOUNDED``, whatever stopped the loop (an ftol
      test at the rounding level of a huge f, the iteration limit, a line search);
    * a success where f, the gradient or x is not finite: ``OVERFLOW`` (Inf only) or
      ``NAN_ENCOUNTERED``, since no convergence test can hold there.

    Other statuses are returned unchanged.
    """
    if status == INVALID_INPUT or status == NAN_ENCOUNTERED or status == CONTINUE:
        return status
    if f == -np.inf:
        return PROBABLY_UNBOUNDED
    if math.isfinite(f) and math.isfinite(f_start):
        if f_start - f > RUNAWAY_FACTOR * max(abs(f_start), 1.0):
            if not relative_gradient(x, g, f, lower, upper, bounded) <= RELGRAD_MAX:
                return PROBABLY_UNBOUNDED
    if status == SUCCESS_GTOL or status == SUCCESS_FTOL or status == SUCCESS_XTOL:
        if not (point_finite(f, g) and all_finite(x)):
            if f != f or not all_finite_or_inf(g) or not all_finite_or_inf(x):
                return NAN_ENCOUNTERED
            return OVERFLOW
    return status


@inlined
def all_finite_or_inf(g):
    """Whether no entry of ``g`` is NaN (Inf allowed)."""
    for i in range(g.shape[0]):
        if g[i] != g[i]:
            return False
    return True


@inlined
def finish(info, status, nit):
    """Write the final status and iteration count into ``info``."""
    info[INFO_STATUS] = status
    info[INFO_NIT] = nit
