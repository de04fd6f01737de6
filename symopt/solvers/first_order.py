"""Fixed-step first-order methods: heavy-ball momentum, Nesterov momentum and Adam.

These are the methods machine learning trains with.  They take no line search: every
iteration moves ``x`` by the learning rate ``lr_k`` times an update built from the
gradients seen so far, and f may rise on the way (they are not descent methods).  On a
deterministic problem with exact gradients Newton, BFGS or L-BFGS converge far faster;
these are here for the problems and habits that call for them, and as baselines.

With ``g`` the gradient at ``x`` and ``mu`` = ``opts[OPT_MOMENTUM]`` (the updates as
PyTorch writes them):

=========== ================================================================
"momentum"  ``v <- mu v + g``;  ``x <- x - lr_k v``  (Polyak's heavy ball)
"nesterov"  ``v <- mu v + g``;  ``x <- x - lr_k (g + mu v)``  (Nesterov's look-ahead,
            in the form that needs the gradient at ``x`` only; Sutskever et al. 2013)
"adam"      ``m <- mu m + (1 - mu) g``, ``u <- beta2 u + (1 - beta2) g^2``;
            ``x <- x - lr_k (m / (1 - mu^t)) / (sqrt(u / (1 - beta2^t)) + eps)``
            (Kingma & Ba 2015, bias-corrected; ``t`` = iteration number)
=========== ================================================================

Learning-rate schedules (``opts[OPT_SCHEDULE]``; ``step`` = ``opts[OPT_STEP]``, ``k`` =
iterations done, ``decay`` = ``opts[OPT_DECAY]``):

============ ===== ==========================================================
schedule     code  ``lr_k``
============ ===== ==========================================================
constant     0     ``step``
inverse_time 1     ``step / (1 + decay k)``                 (default decay 1e-3)
exponential  2     ``step * decay^k``                       (default decay 0.999)
cosine       3     ``step * (1 + cos(pi k / max_iter)) / 2`` (decay unused)
============ ===== ==========================================================

Stopping.  gtol is tested, as everywhere, on ``||g||_inf`` (with bounds, the projected
gradient).  A momentum method slows down and turns around in a valley, so a single
iteration with a tiny change of f or x says nothing: the ftol and xtol tests must hold
for :data:`PATIENCE` consecutive iterations before the solve stops (both default to 0:
then only an f, or x, that stopped changing exactly stops it).  If f or the gradient is NaN/Inf at the new point the learning rate is
halved for the rest of the solve and the step retried (at most ``max_ls`` times in one
iteration); then the solve ends with ``NAN_ENCOUNTERED`` at the last finite point.

Bounds (``opts[OPT_BOUNDS]``): every new iterate is projected into the box, and the
momentum (Adam: first moment) of a variable stopped by a bound is zeroed, so that it
does not keep pushing into the bound.

Importing this module compiles nothing; each method's solver compiles (or loads from
Numba's cache) when first used (see :func:`__getattr__`).  Uses ``value_grad`` only;
``H_out`` is not touched and may be any shape.
"""

from __future__ import annotations

import math

import numpy as np

from ..abi import OPT_BETA2, OPT_DECAY, OPT_EPS, OPT_MOMENTUM, OPT_SCHEDULE, OPT_STEP
from . import DEFAULTS
from ._common import (
    end_iteration,
    evaluate_grad,
    finish,
    genuine_status,
    point_finite,
    read_bounds,
    read_options,
    start,
)
from ._jit import Wrapper, declared_solvers, inlined, iteration
from .status import CONTINUE, MAX_ITER, NAN_ENCOUNTERED, SUCCESS_FTOL, SUCCESS_XTOL

__all__ = ["SCHEDULES", "PATIENCE", "solve_momentum", "solve_nesterov", "solve_adam"]

#: kinds of update, for the one shared iteration
MOMENTUM = 0
NESTEROV = 1
ADAM = 2

#: schedule name -> code in ``opts[OPT_SCHEDULE]``
SCHEDULES = {"constant": 0, "inverse_time": 1, "exponential": 2, "cosine": 3}
CONSTANT, INVERSE_TIME, EXPONENTIAL, COSINE = 0, 1, 2, 3
#: the schedules' rates when ``opts[OPT_DECAY]`` is 0
DEFAULT_DECAY_INVERSE_TIME = 1e-3
DEFAULT_DECAY_EXPONENTIAL = 0.999

#: consecutive iterations for which the ftol or xtol test must hold
PATIENCE = 10

# method defaults, for option slots left at 0 (see DEFAULTS in symopt.solvers)
MOMENTUM_STEP = DEFAULTS["momentum"]["step"]
NESTEROV_STEP = DEFAULTS["nesterov"]["step"]
ADAM_STEP = DEFAULTS["adam"]["step"]
DEFAULT_MOMENTUM = DEFAULTS["momentum"]["momentum"]
ADAM_BETA1 = DEFAULTS["adam"]["momentum"]
ADAM_BETA2 = DEFAULTS["adam"]["beta2"]
ADAM_EPS = DEFAULTS["adam"]["eps"]


@inlined
def read_first_order_options(opts, kind):
    """``(step, mu, beta2, eps, schedule, decay)``, slots left at 0 (or out of range)
    replaced by the method's defaults."""
    step = opts[OPT_STEP]
    if not (step > 0.0 and step < np.inf):
        step = ADAM_STEP if kind == ADAM else NESTEROV_STEP if kind == NESTEROV else MOMENTUM_STEP
    mu = opts[OPT_MOMENTUM]
    if not (0.0 < mu < 1.0):
        mu = ADAM_BETA1 if kind == ADAM else DEFAULT_MOMENTUM
    beta2 = opts[OPT_BETA2]
    if not (0.0 < beta2 < 1.0):
        beta2 = ADAM_BETA2
    eps = opts[OPT_EPS]
    if not (eps > 0.0 and eps < np.inf):
        eps = ADAM_EPS
    schedule = CONSTANT
    code = opts[OPT_SCHEDULE]
    if code == 1.0 or code == 2.0 or code == 3.0:
        schedule = int(code)
    decay = opts[OPT_DECAY]
    if schedule == INVERSE_TIME and not (decay > 0.0 and decay < np.inf):
        decay = DEFAULT_DECAY_INVERSE_TIME
    if schedule == EXPONENTIAL and not (0.0 < decay <= 1.0):
        decay = DEFAULT_DECAY_EXPONENTIAL
    return step, mu, beta2, eps, schedule, decay


@inlined
def learning_rate(step, schedule, decay, k, max_iter):
    """The learning rate of iteration ``k`` (0-based) under ``schedule``."""
    if schedule == INVERSE_TIME:
        return step / (1.0 + decay * k)
    if schedule == EXPONENTIAL:
        return step * decay ** k
    if schedule == COSINE:
        return step * 0.5 * (1.0 + math.cos(math.pi * min(k, max_iter) / max(max_iter, 1)))
    return step


@iteration
def _first_order(kind, obj, x, opts, info, hist, g, vectors, no_hessian):
    """The iteration shared by the three methods (``kind``), with work arrays
    ``vectors`` (5 x n).  Updates ``x`` and ``g`` in place; returns f."""
    o = read_options(opts)  # o.gtol, o.ftol, ...: see read_options
    step, mu, beta2, eps, schedule, decay = read_first_order_options(opts, kind)
    n = x.shape[0]
    velocity, second, update = vectors[0], vectors[1], vectors[2]  # v (or m), u, step dir.
    x_trial, g_trial = vectors[3], vectors[4]
    lower, upper, bounded = read_bounds(opts, n)

    f, gnorm, status = start(1, obj, x, g, no_hessian, info, hist, o.gtol, o.max_iter, lower, upper, bounded)

    f_start = f
    nit = 0
    scale = 1.0  # halved whenever a step lands on NaN/Inf
    quiet = 0  # consecutive iterations passing the ftol or xtol test
    mu_power = 1.0
    beta2_power = 1.0
    while status == CONTINUE:
        if kind == ADAM:
            mu_power *= mu
            beta2_power *= beta2
            for i in range(n):
                velocity[i] = mu * velocity[i] + (1.0 - mu) * g[i]
                second[i] = beta2 * second[i] + (1.0 - beta2) * g[i] * g[i]
                m_hat = velocity[i] / (1.0 - mu_power)
                u_hat = second[i] / (1.0 - beta2_power)
                update[i] = -m_hat / (math.sqrt(u_hat) + eps)
        else:
            for i in range(n):
                velocity[i] = mu * velocity[i] + g[i]
                update[i] = -(g[i] + mu * velocity[i]) if kind == NESTEROV else -velocity[i]
        lr = learning_rate(step, schedule, decay, nit, o.max_iter)
        finite = False
        f_trial = f
        for _ in range(o.max_ls):
            for i in range(n):
                x_trial[i] = x[i] + lr * scale * update[i]
                if bounded:
                    clipped = min(max(x_trial[i], lower[i]), upper[i])
                    if clipped != x_trial[i]:
                        x_trial[i] = clipped
                        velocity[i] = 0.0  # stopped by the bound: forget its momentum
            f_trial = evaluate_grad(obj, x_trial, g_trial, info)
            if point_finite(f_trial, g_trial):
                finite = True
                break
            scale *= 0.5
        if not finite:
            status = NAN_ENCOUNTERED
            break
        nit += 1
        f_prev, f = f, f_trial
        gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info,
                                      o.gtol, o.ftol, o.xtol, o.max_iter, lower, upper, bounded)
        if status == SUCCESS_FTOL or status == SUCCESS_XTOL:
            quiet += 1
            if quiet < PATIENCE:
                status = MAX_ITER if nit >= o.max_iter else CONTINUE
        else:
            quiet = 0
    finish(info, genuine_status(status, f_start, f, x, g, lower, upper, bounded), nit)
    return f


__getattr__ = declared_solvers(globals(), {
    "solve_momentum": Wrapper(
    "_first_order", constant="MOMENTUM", takes_bounds=True,
    work=(("vectors", ("5", "n"), "zeros"), ("no_hessian", ("0", "0"), "empty")),
    doc="Minimise by heavy-ball momentum; see symopt.abi.solver_sig for the arguments."),
    "solve_nesterov": Wrapper(
    "_first_order", constant="NESTEROV", takes_bounds=True,
    work=(("vectors", ("5", "n"), "zeros"), ("no_hessian", ("0", "0"), "empty")),
    doc="Minimise by Nesterov momentum; see symopt.abi.solver_sig for the arguments."),
    "solve_adam": Wrapper(
    "_first_order", constant="ADAM", takes_bounds=True,
    work=(("vectors", ("5", "n"), "zeros"), ("no_hessian", ("0", "0"), "empty")),
    doc="Minimise by Adam; see symopt.abi.solver_sig for the arguments.")})
