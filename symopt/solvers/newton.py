"""Newton's method with a modified Hessian and Armijo backtracking.

Near a minimum f is close to its quadratic model ``f + g.d + d.H.d / 2``, whose
minimiser is the Newton step ``d = -H^{-1} g``; taking it converges quadratically.
Away from a minimum the Hessian may be indefinite, and then ``-H^{-1} g`` need not
point downhill.  Following Nocedal & Wright (Alg. 3.3, "Cholesky with added multiple of
the identity"), the solver factors ``H + tau I`` by Cholesky with ``tau = 0`` when the
diagonal of ``H`` is positive, else just enough to make it positive, and doubles ``tau``
until the factorisation succeeds.  A positive definite matrix gives a descent
direction; large ``tau`` turns the step into a short gradient step, small ``tau``
leaves the Newton step.  The step length comes from Armijo backtracking starting at 1,
the length at which the Newton step is exact for a quadratic, and halving (see
:func:`.linesearch.backtracking` for why not interpolating).

The solver compiles (or loads from Numba's on-disk cache) when ``solve`` is first
accessed, not at import.
``H_out`` receives the (unmodified) Hessian at the final point.
"""

from __future__ import annotations

import math

import numpy as np

from ._common import (
    derivatives_finite,
    descent_slope,
    end_iteration,
    finish,
    genuine_status,
    read_options,
    start,
)
from ._jit import Wrapper, declared_solvers, inlined, iteration
from .linalg import cholesky, cholesky_solve, copy_matrix
from .linesearch import HALVE, LS_OK, backtracking, failure_status
from .status import CONTINUE, HESSIAN_NOT_PD

__all__ = ["solve"]

#: The smallest shift tried, relative to the Hessian's Frobenius norm (N&W: beta).
SHIFT_RTOL = 1e-3
#: Doublings of the shift before giving up.  The shift needed never exceeds
#: ||H||_F, reached from SHIFT_RTOL * ||H||_F in about 10 doublings; only NaN/Inf fail.
MAX_SHIFTS = 64


@inlined
def factor_modified_hessian(H, L):
    """Factor ``H + tau I = L L^T`` with the first ``tau`` for which Cholesky succeeds
    in the sequence 0 (when the diagonal of ``H`` is positive), else ``beta - min diag``,
    then ``beta`` (after 0) and doublings; ``beta`` is :data:`SHIFT_RTOL` times the
    Frobenius norm of ``H``, computed only when ``H`` itself is not positive definite.
    Returns ``tau``, or -1 when no shift works (``H`` not finite)."""
    n = H.shape[0]
    min_diagonal = np.inf
    for i in range(n):
        min_diagonal = min(min_diagonal, H[i, i])
    if min_diagonal > 0.0 and cholesky(H, 0.0, L):
        return 0.0
    frobenius_sq = 0.0
    for i in range(n):
        for j in range(n):
            frobenius_sq += H[i, j] * H[i, j]
    frobenius = math.sqrt(frobenius_sq)
    if not math.isfinite(frobenius):
        return -1.0
    beta = SHIFT_RTOL * frobenius if frobenius > 0.0 else SHIFT_RTOL
    tau = beta if min_diagonal > 0.0 else beta - min_diagonal
    for _ in range(MAX_SHIFTS):
        if cholesky(H, tau, L):
            return tau
        tau = 2.0 * tau
    return -1.0


@inlined
def hessian_buffers(nit, H_out, H_spare):
    """``(H, H_trial)``: where the Hessian at x is, and where the line search writes the
    Hessian at its trial point.  The two matrices swap roles at every iteration instead
    of copying one into the other: after an even number of iterations the Hessian at x
    is in ``H_out``, after an odd number in ``H_spare``."""
    if nit % 2 == 0:
        return H_out, H_spare
    return H_spare, H_out


@inlined
def hessian_to_out(nit, H_out, H_spare):
    """Move the Hessian at x into ``H_out`` after ``nit`` iterations (see
    :func:`hessian_buffers`)."""
    if nit % 2 == 1:
        copy_matrix(H_spare, H_out)


@iteration
def _newton(obj, x, opts, info, hist, g, H_out, vectors, matrices):
    """The Newton iteration of :func:`solve`, with work arrays ``vectors`` (3 x n) and
    ``matrices`` (2 x n x n).  Updates ``x``, ``g`` and ``H_out`` in place; returns f."""
    o = read_options(opts)  # o.gtol, o.ftol, ...: see read_options
    n = x.shape[0]
    no_bounds = opts[0:0]
    direction, x_trial, g_trial = vectors[0], vectors[1], vectors[2]
    L, H_spare = matrices[0], matrices[1]  # Cholesky factor; see hessian_buffers

    f, gnorm, status = start(2, obj, x, g, H_out, info, hist, o.gtol, o.max_iter, no_bounds,
                             no_bounds, False)

    f_start = f
    if status == CONTINUE and not derivatives_finite(2, f, g, H_out):
        status = HESSIAN_NOT_PD
    nit = 0
    while status == CONTINUE:
        H, H_trial = hessian_buffers(nit, H_out, H_spare)
        if factor_modified_hessian(H, L) < 0.0:
            status = HESSIAN_NOT_PD
            break
        cholesky_solve(L, g, direction)
        for i in range(n):
            direction[i] = -direction[i]
        slope, _ = descent_slope(g, direction)
        alpha, f_trial, flag = backtracking(
            2, obj, x, f, slope, direction, 1.0, o.c1, o.max_ls, HALVE, x_trial, g_trial, H_trial, info)
        if flag != LS_OK:
            status = failure_status(flag, f, -slope)
            break
        nit += 1
        f_prev, f = f, f_trial
        gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info,
                                      o.gtol, o.ftol, o.xtol, o.max_iter, no_bounds, no_bounds, False)
    hessian_to_out(nit, H_out, H_spare)
    finish(info, genuine_status(status, f_start, f, x, g, no_bounds, no_bounds, False), nit)
    return f


__getattr__ = declared_solvers(globals(), {"solve": Wrapper(
    "_newton", work=(("vectors", ("3", "n"), "empty"), ("matrices", ("2", "n", "n"), "empty")),
    passes_H_out=True, uses_matrix=True,
    after_raise="hessian_to_out(info[INFO_NIT], H_out, matrices[1])",
    doc="Minimise by Newton's method; see symopt.abi.solver_sig for the arguments.")})
