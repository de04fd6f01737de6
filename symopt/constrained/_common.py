"""What every constrained solver shares: argument checks, options, the KKT report of
the final point, and history rows.  Compiled into the solvers that call them
(:data:`symopt.solvers._jit.inlined`)."""

from __future__ import annotations

import math

import numpy as np

from ..solvers._common import _count, _non_negative
from ..solvers._jit import inlined
from . import abi
from .status import INVALID_INPUT

#: Defaults of the options (an option given as 0 or NaN takes its default).
DEFAULT_TOL = 1e-8
DEFAULT_CONSTR_TOL = 1e-8
#: 1, not Ipopt's 0.1: measured on the Hock-Schittkowski collection (docs/constraints.md)
DEFAULT_MU_INIT = 1.0
DEFAULT_BOUND_PUSH = 1e-2
DEFAULT_SCALE_GRADIENT = 100.0
DEFAULT_INNER_MAX_ITER = 5000
DEFAULT_MEMORY = 10
DEFAULT_MAX_INNER_TOTAL = 500_000
MAX_ITER_LIMIT = 2**53


@inlined
def _positive_or(value, default):
    return value if value > 0.0 else default  # NaN -> default


@inlined
def read_options(opts, default_max_iter):
    """``(tol, max_iter, constr_tol, mu_init, bound_push, scale_gradient)`` from
    ``opts`` (see :mod:`symopt.constrained.abi`), each made safe: 0, negative or NaN
    values take their defaults; ``scale_gradient < 0`` (scaling off) is kept."""
    max_iter = _count(opts[abi.OPT_MAX_ITER], 0, MAX_ITER_LIMIT)
    if not opts[abi.OPT_MAX_ITER] > 0.0:
        max_iter = default_max_iter
    scale = opts[abi.OPT_SCALE_GRADIENT]
    if not (scale > 0.0 or scale < 0.0):
        scale = DEFAULT_SCALE_GRADIENT
    push = _positive_or(opts[abi.OPT_BOUND_PUSH], DEFAULT_BOUND_PUSH)
    return (_positive_or(opts[abi.OPT_TOL], DEFAULT_TOL), max_iter,
            _positive_or(opts[abi.OPT_CONSTR_TOL], DEFAULT_CONSTR_TOL),
            _positive_or(opts[abi.OPT_MU_INIT], DEFAULT_MU_INIT), min(push, 0.5), scale)


@inlined
def arguments_valid(x, limits, opts, info, lam_out, z_out, c_out, g_out, kkt_out, hist):
    """Whether the arrays have consistent sizes (Numba does not check bounds) and the
    limits are NaN-free with ``lower <= upper``.  Writes ``INVALID_INPUT`` when not."""
    n = x.shape[0]
    m = lam_out.shape[0]
    if info.shape[0] < abi.N_INFO:
        return False
    valid = (limits.shape[0] == 2 * n + 2 * m and opts.shape[0] >= abi.N_OPTS
             and z_out.shape[0] == n and c_out.shape[0] == m and g_out.shape[0] == n
             and kkt_out.shape[0] >= abi.N_KKT
             and (hist.shape[0] == 0 or hist.shape[1] >= 4))
    if valid:
        for i in range(n):
            if not limits[i] <= limits[n + i]:
                valid = False
        for i in range(m):
            if not limits[2 * n + i] <= limits[2 * n + m + i]:
                valid = False
    if not valid:
        info[:] = 0
        info[abi.INFO_STATUS] = INVALID_INPUT
        kkt_out[:] = np.nan
    return valid


@inlined
def violation(x, c, limits):
    """The largest violation of a bound or a constraint (0 when feasible; NaN if ``c``
    or ``x`` is)."""
    n = x.shape[0]
    m = c.shape[0]
    worst = 0.0
    for j in range(n):
        v = max(limits[j] - x[j], x[j] - limits[n + j], 0.0)
        if v > worst or v != v:
            worst = v
    for i in range(m):
        v = max(limits[2 * n + i] - c[i], c[i] - limits[2 * n + m + i], 0.0)
        if v > worst or v != v:
            worst = v
    return worst


@inlined
def _multiplier_residuals(value, multiplier, lower, upper):
    """``(complementarity, wrong sign)`` of one multiplier for ``lower <= value <= upper``:
    a positive multiplier belongs to the upper bound, a negative one to the lower."""
    if multiplier > 0.0:
        if upper < np.inf:
            return multiplier * abs(upper - value), 0.0
        return 0.0, multiplier
    if multiplier < 0.0:
        if lower > -np.inf:
            return -multiplier * abs(value - lower), 0.0
        return 0.0, -multiplier
    return 0.0, 0.0


@inlined
def kkt_report(x, g, c, J, lam, z, limits, kkt_out, mu):
    """Write the KKT residuals of ``(x, lam, z)`` into ``kkt_out`` (see
    :mod:`symopt.constrained.abi`): ``||g + J^T lam + z||_inf``, the largest violation, the
    largest ``|multiplier| * distance to its bound``, the largest multiplier of the wrong
    sign.  ``J`` is the (m x n) constraint Jacobian at ``x``."""
    n = x.shape[0]
    m = c.shape[0]
    stationarity = 0.0
    for j in range(n):
        r = g[j] + z[j]
        for i in range(m):
            r += J[i, j] * lam[i]
        v = abs(r)
        if v > stationarity or v != v:
            stationarity = v
    complementarity = 0.0
    sign = 0.0
    for j in range(n):
        comp, wrong = _multiplier_residuals(x[j], z[j], limits[j], limits[n + j])
        complementarity = max(complementarity, comp)
        sign = max(sign, wrong)
    for i in range(m):
        comp, wrong = _multiplier_residuals(c[i], lam[i], limits[2 * n + i],
                                            limits[2 * n + m + i])
        complementarity = max(complementarity, comp)
        sign = max(sign, wrong)
    kkt_out[:] = 0.0
    kkt_out[abi.KKT_STATIONARITY] = stationarity
    kkt_out[abi.KKT_FEASIBILITY] = violation(x, c, limits)
    kkt_out[abi.KKT_COMPLEMENTARITY] = complementarity
    kkt_out[abi.KKT_SIGN] = sign
    kkt_out[abi.KKT_MU] = mu


@inlined
def record_history(hist, row, f, infeasibility, stationarity, mu, x, info):
    """Write history row ``row`` = (f, infeasibility, stationarity, mu, x...) if ``hist``
    has room for it (x only when it has ``4 + n`` columns) and count it in ``info``."""
    if row >= hist.shape[0]:
        return
    hist[row, 0] = f
    hist[row, 1] = infeasibility
    hist[row, 2] = stationarity
    hist[row, 3] = mu
    n = x.shape[0]
    if hist.shape[1] >= 4 + n:
        for i in range(n):
            hist[row, 4 + i] = x[i]
    info[abi.INFO_NHIST] = row + 1


@inlined
def all_finite_matrix(A):
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            if not math.isfinite(A[i, j]):
                return False
    return True


__all__ = ["read_options", "arguments_valid", "violation", "kkt_report", "record_history",
           "all_finite_matrix", "_non_negative"]
