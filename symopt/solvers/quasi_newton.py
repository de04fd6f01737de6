"""BFGS: a quasi-Newton method that learns the inverse Hessian from gradient changes.

The solver keeps a matrix ``M`` approximating the inverse Hessian and steps along
``d = -M g``.  After a step ``s = x_new - x`` the gradient changes by ``y = g_new - g``;
for a quadratic ``y = H s`` exactly, so the new matrix is made to map ``y`` back to
``s`` (the secant equation) while changing as little as possible (N&W eq. 6.17):

    M <- (I - rho s y^T) M (I - rho y s^T) + rho s s^T,      rho = 1 / (y^T s)

This keeps ``M`` positive definite as long as ``y^T s > 0``, which the strong Wolfe
line search (c1 = 1e-4, c2 = 0.9) guarantees; when roundoff or a step that only
satisfied sufficient decrease makes ``y^T s`` (nearly) non-positive, the update is
skipped.  ``M`` starts as the identity; just before the first update it is rescaled to
``(y^T s / y^T y) I`` (N&W eq. 6.20), the size of the inverse curvature seen along the
first step, so that later unit steps have the right length.  The very first step, along
``-g``, tries a length that moves ``x`` by at most 1 per coordinate.  If the line search
fails along ``-M g``, ``M`` is reset and the search is retried once along ``-g``.

The solver compiles (or loads from Numba's on-disk cache) when ``solve`` is first
accessed, not at import.
Uses ``value_grad`` only; ``H_out`` receives the final inverse-Hessian approximation.
"""

from __future__ import annotations

from ._common import (
    descent_slope,
    end_iteration,
    finish,
    genuine_status,
    read_options,
    start,
)
from ._jit import Wrapper, declared_solvers, inlined, iteration
from .linalg import dot, matvec, norm2, set_scaled_identity
from .linesearch import LS_OK, at_roundoff_floor, failure_status, strong_wolfe
from .status import CONTINUE

__all__ = ["solve"]

#: Skip the update unless y^T s > CURVATURE_RTOL * ||y|| ||s||: a smaller y^T s means
#: the step saw (almost) no positive curvature, and rho would blow up.
CURVATURE_RTOL = 1e-10


@inlined
def bfgs_update(M, s, y, My, rescale):
    """Apply the BFGS update for step ``s`` and gradient change ``y`` to the inverse
    Hessian approximation ``M`` in place (``My`` is workspace).  With ``rescale``, first
    set ``M = (y^T s / y^T y) I``.  Returns False, leaving ``M`` as it was, when the
    curvature ``y^T s`` is too small for a safe update."""
    ys = dot(y, s)
    if not ys > CURVATURE_RTOL * norm2(y) * norm2(s):
        return False
    if rescale:
        set_scaled_identity(M, ys / dot(y, y))
    rho = 1.0 / ys
    # expanded form of the update: M - rho (My s^T + s (My)^T) + (rho^2 y.My + rho) s s^T
    matvec(M, y, My)
    ss_coefficient = rho * rho * dot(y, My) + rho
    n = s.shape[0]
    for i in range(n):
        for j in range(n):
            M[i, j] += ss_coefficient * s[i] * s[j] - rho * (My[i] * s[j] + s[i] * My[j])
    return True


@iteration
def _bfgs(obj, x, opts, info, hist, g, M, vectors, no_hessian):
    """The BFGS iteration of :func:`solve`, with work arrays ``vectors`` (6 x n).
    Updates ``x``, ``g`` and ``M`` in place; returns f."""
    o = read_options(opts)  # o.gtol, o.ftol, ...: see read_options
    n = x.shape[0]
    no_bounds = opts[0:0]
    direction, x_trial, g_trial = vectors[0], vectors[1], vectors[2]
    s, y, My = vectors[3], vectors[4], vectors[5]  # step, gradient change, M y

    set_scaled_identity(M, 1.0)
    f, gnorm, status = start(1, obj, x, g, no_hessian, info, hist, o.gtol, o.max_iter, no_bounds, no_bounds, False)
    f_start = f
    nit = 0
    # True while M is the unscaled identity (at the start, after a reset)
    M_is_identity = True
    while status == CONTINUE:
        matvec(M, g, direction)
        for i in range(n):
            direction[i] = -direction[i]
        slope, steepest = descent_slope(g, direction)
        if steepest and not M_is_identity:
            set_scaled_identity(M, 1.0)
            M_is_identity = True
        first_trial = min(1.0, 1.0 / gnorm) if M_is_identity else 1.0
        alpha, f_trial, flag = strong_wolfe(obj, x, f, slope, direction,
                                            first_trial, o.c1, o.c2, o.max_ls, x_trial, g_trial, info)
        if flag != LS_OK:
            if M_is_identity or at_roundoff_floor(f, -first_trial * slope):
                status = failure_status(flag, f, -first_trial * slope)
                break
            set_scaled_identity(M, 1.0)  # retry once along -g
            M_is_identity = True
            continue
        for i in range(n):
            s[i] = x_trial[i] - x[i]
            y[i] = g_trial[i] - g[i]
        nit += 1
        f_prev, f = f, f_trial
        gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info,
                                      o.gtol, o.ftol, o.xtol, o.max_iter, no_bounds, no_bounds, False)
        if bfgs_update(M, s, y, My, M_is_identity):
            M_is_identity = False
    finish(info, genuine_status(status, f_start, f, x, g, no_bounds, no_bounds, False), nit)
    return f


__getattr__ = declared_solvers(globals(), {"solve": Wrapper(
    "_bfgs", work=(("vectors", ("6", "n"), "empty"), ("no_hessian", ("0", "0"), "empty")),
    passes_H_out=True, uses_matrix=True,
    doc="Minimise by BFGS; see symopt.abi.solver_sig for the arguments.")})
