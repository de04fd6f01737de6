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

Bounds (``opts[OPT_BOUNDS]``, see :mod:`symopt.abi`): L-BFGS-B (Byrd, Lu, Nocedal & Zhu,
"A limited memory algorithm for bound constrained optimization", SIAM J. Sci. Comput. 16,
1995).  The same pairs define the L-BFGS matrix ``B`` (not its inverse), written as
``theta I`` plus ``2m`` signed rank-one terms (:func:`build_factors`; ``theta = y'y /
s'y`` of the newest pair).  Each iteration

1. finds the *generalized Cauchy point*: the first local minimiser of the quadratic
   model along the projected gradient path ``P(x - t g)``, examined segment by segment
   between the breakpoints where variables reach their bounds (taken from a heap, O(m)
   work per breakpoint); the variables at a bound there are fixed for this iteration,
   so the active set can change by many variables at once;
2. minimises the model over the remaining free variables with the fixed ones held at
   the Cauchy point ("direct primal" subspace minimisation), here by conjugate
   gradients on the reduced ``B`` (exact in at most ``2m + 1`` steps), and cuts that
   step at the first bound it crosses;
3. searches along ``x_bar - x`` (feasible for steps up to 1) by Armijo backtracking
   from the unit step (:func:`.linesearch.projected_backtracking`, each trial evaluated
   with its gradient: one kernel call per iteration when the unit step is accepted, as
   it usually is), not the original's Moré-Thuente search: a pair whose curvature
   ``y's`` is not safely positive is skipped, which keeps ``B`` positive definite.

Without a pair (the first step, and after a reset) ``theta`` is chosen so that the
model's unit step along ``-g`` is the gradient step described above.  Convergence is
tested on the projected gradient.

The solver compiles (or loads from Numba's on-disk cache) when ``solve`` is first
accessed, not at import.
Uses ``value`` (bounded searches) and ``value_grad``; ``H_out`` is not touched and may
be any shape (e.g. 0 x 0).
"""

from __future__ import annotations

import math

import numpy as np

from ..abi import OPT_MEMORY
from ._common import (
    _count,
    descent_slope,
    end_iteration,
    finish,
    genuine_status,
    read_bounds,
    read_options,
    start,
)
from ._jit import Wrapper, declared_solvers, inlined, iteration
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
#: Bounds: the subspace CG stops when the reduced residual is below this fraction of
#: its start.
SUBSPACE_RTOL = 1e-10


@inlined
def two_loop(g, direction, S, Y, rho, a, newest, count, gamma):
    """``direction = -H g`` by the two-loop recursion (N&W Alg. 7.4), ``H`` the L-BFGS
    inverse-Hessian approximation from the ``count`` newest pairs of the ring buffers
    ``S``/``Y`` (newest at row ``newest``) and ``H0 = gamma I``."""
    n = g.shape[0]
    m = S.shape[0]
    q = direction
    for i in range(n):
        q[i] = g[i]
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
        q[i] = -q[i]


# --- bounds: L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995) ------------------------------------------


@inlined
def build_factors(S, Y, newest, count, theta, V):
    """Write the L-BFGS matrix ``B`` (the BFGS updates of ``theta I`` by the ``count``
    newest pairs, oldest first) as ``B = theta I + sum_r E_r V_r V_r^T``: row ``2k`` of
    ``V`` is ``b_k / sqrt(s_k.b_k)`` with ``b_k = B_k s_k`` (``E = -1``), row ``2k + 1``
    is ``y_k / sqrt(y_k.s_k)`` (``E = +1``), each update
    ``B_{k+1} = B_k - b_k b_k^T / s_k.b_k + y_k y_k^T / y_k.s_k`` unrolled.  O(m^2 n);
    the same matrix as the compact representation ``theta I - W M W^T`` of Byrd, Nocedal
    & Schnabel (1994) without the 2m x 2m middle matrix to factor.  Returns how many
    pairs were used (fewer if rounding made some ``s.b`` non-positive)."""
    n = V.shape[1]
    m = S.shape[0]
    used = 0
    for k in range(count - 1, -1, -1):  # oldest first
        j = (newest - k) % m
        s, y = S[j], Y[j]
        a = V[2 * used]
        for i in range(n):
            a[i] = theta * s[i]
        for r in range(2 * used):  # a = B_k s
            coefficient = dot(V[r], s)
            if r % 2 == 0:
                coefficient = -coefficient
            vr = V[r]
            for i in range(n):
                a[i] += coefficient * vr[i]
        sb = dot(s, a)
        ys = dot(y, s)
        if not (sb > 0.0 and ys > 0.0):
            break
        scale = 1.0 / math.sqrt(sb)
        for i in range(n):
            a[i] *= scale
        c = V[2 * used + 1]
        scale = 1.0 / math.sqrt(ys)
        for i in range(n):
            c[i] = y[i] * scale
        used += 1
    return used


@inlined
def model_product(V, rows, theta, v, fixed, out):
    """``out = B v`` on the variables not flagged in ``fixed`` (0 on those), ``v`` being
    0 on them: the reduced Hessian of the model times ``v``."""
    n = v.shape[0]
    for i in range(n):
        out[i] = theta * v[i]
    for r in range(rows):
        vr = V[r]
        coefficient = dot(vr, v)
        if r % 2 == 0:
            coefficient = -coefficient
        for i in range(n):
            out[i] += coefficient * vr[i]
    for i in range(n):
        if fixed[i] != 0.0:
            out[i] = 0.0


@inlined
def heap_sift(keys, index, start, end):
    """Sift ``index[start]`` down the min-heap of ``index[:end]`` ordered by ``keys``."""
    root = start
    while True:
        child = 2 * root + 1
        if child >= end:
            return
        if child + 1 < end and keys[int(index[child + 1])] < keys[int(index[child])]:
            child += 1
        if keys[int(index[child])] < keys[int(index[root])]:
            index[root], index[child] = index[child], index[root]
            root = child
        else:
            return


@inlined
def cauchy_point(x, g, lower, upper, theta, V, rows, t, index, d, fixed, xc, pc, cc):
    """The generalized Cauchy point ``xc`` (Byrd et al. 1995, Alg. CP): the first local
    minimiser of the model ``m(z) = g.z + z.B.z / 2`` along the projected gradient path
    ``P(x - t g)``, found segment by segment between the breakpoints ``t_i`` at which
    variable ``i`` reaches its bound, taken in increasing order from a heap.  On each
    segment ``m`` is a quadratic in ``t`` with slope ``f1`` and curvature ``f2``, updated
    in O(m) per breakpoint through ``p = V d`` and ``c = V (xc - x)`` (``pc``, ``cc``).
    Flags in ``fixed`` the variables at a bound at ``xc`` (the free variables are the
    others); ``t``, ``index`` and ``d`` are workspace."""
    n = x.shape[0]
    heap_size = 0
    gd = 0.0
    dd = 0.0
    for i in range(n):
        if g[i] < 0.0:
            t[i] = (x[i] - upper[i]) / g[i]
        elif g[i] > 0.0:
            t[i] = (x[i] - lower[i]) / g[i]
        else:
            t[i] = np.inf
        if t[i] <= 0.0 or lower[i] == upper[i]:
            d[i] = 0.0  # on a bound the gradient pushes against (or fixed by lower ==
            # upper): fixed from the start
            fixed[i] = 1.0
        else:
            d[i] = -g[i]
            fixed[i] = 0.0
            gd -= g[i] * g[i]
            dd += g[i] * g[i]
            if t[i] < np.inf:
                index[heap_size] = i
                heap_size += 1
    for r in range(rows):
        pc[r] = dot(V[r], d)
        cc[r] = 0.0
    for node in range(heap_size // 2 - 1, -1, -1):
        heap_sift(t, index, node, heap_size)
    t_old = 0.0
    while True:
        ep = 0.0
        pp = 0.0
        for r in range(rows):
            sign = -1.0 if r % 2 == 0 else 1.0
            ep += sign * cc[r] * pc[r]
            pp += sign * pc[r] * pc[r]
        f1 = gd + theta * t_old * dd + ep  # m'(t) along the current segment
        f2 = theta * dd + pp  # m''(t)
        if f1 >= 0.0 or dd == 0.0:
            step = 0.0
            break
        step = -f1 / f2 if f2 > 0.0 else np.inf
        if heap_size == 0:
            break
        b = int(index[0])
        if step < t[b] - t_old:
            break
        # move to the breakpoint, where variable b reaches its bound and leaves d
        dt = t[b] - t_old
        for r in range(rows):
            cc[r] += dt * pc[r]
        t_old = t[b]
        heap_size -= 1
        index[0] = index[heap_size]
        heap_sift(t, index, 0, heap_size)
        gd += g[b] * g[b]
        dd -= g[b] * g[b]
        for r in range(rows):
            pc[r] -= d[b] * V[r, b]
        d[b] = 0.0
        fixed[b] = 1.0
    if not step < np.inf:
        step = 0.0  # a direction of no curvature without a breakpoint: cannot happen for
        # theta > 0 (B positive definite); kept finite for safety
    for r in range(rows):
        cc[r] += step * pc[r]
    t_c = t_old + step
    for i in range(n):
        if fixed[i] != 0.0:
            if t[i] <= 0.0:
                xc[i] = x[i]
            else:
                xc[i] = upper[i] if g[i] < 0.0 else lower[i]
        else:
            xc[i] = x[i] + t_c * d[i]
            xc[i] = min(max(xc[i], lower[i]), upper[i])


@inlined
def subspace_step(x, g, lower, upper, theta, V, rows, fixed, xc, cc, direction, r, q, Bq, du):
    """L-BFGS-B's direct primal subspace minimisation: minimise the model over the
    variables free at the Cauchy point ``xc`` (the others stay at their bounds), by
    conjugate gradients on the reduced system ``B_F du = -r``, ``r = (g + B (xc - x))_F``,
    from ``du = 0`` (exact in at most ``rows + 1`` steps: ``B_F`` is ``theta I`` plus
    rank ``rows``, and positive definite), then back along ``du`` into the box, cut at
    the first bound it meets as in the original code.  Writes ``x_bar - x`` into
    ``direction``; ``r``, ``q``, ``Bq``, ``du`` are workspace."""
    n = x.shape[0]
    for i in range(n):
        direction[i] = xc[i] - x[i]  # z, the Cauchy step
        r[i] = g[i] + theta * direction[i]
        du[i] = 0.0
    for row in range(rows):
        coefficient = -cc[row] if row % 2 == 0 else cc[row]
        vr = V[row]
        for i in range(n):
            r[i] += coefficient * vr[i]
    for i in range(n):
        if fixed[i] != 0.0:
            r[i] = 0.0
        q[i] = -r[i]
    rs = dot(r, r)
    tolerance = SUBSPACE_RTOL * SUBSPACE_RTOL * rs
    for _ in range(rows + 2):
        if not rs > tolerance:
            break
        model_product(V, rows, theta, q, fixed, Bq)
        curvature = dot(q, Bq)
        if not curvature > 0.0:
            break
        alpha = rs / curvature
        for i in range(n):
            du[i] += alpha * q[i]
            r[i] += alpha * Bq[i]
        rs_new = dot(r, r)
        beta = rs_new / rs
        rs = rs_new
        for i in range(n):
            q[i] = -r[i] + beta * q[i]
    alpha = 1.0
    for i in range(n):
        if du[i] > 0.0:
            alpha = min(alpha, (upper[i] - xc[i]) / du[i])
        elif du[i] < 0.0:
            alpha = min(alpha, (lower[i] - xc[i]) / du[i])
    alpha = max(alpha, 0.0)
    for i in range(n):
        direction[i] = min(max(xc[i] + alpha * du[i], lower[i]), upper[i]) - x[i]


@iteration
def _lbfgs(obj, x, opts, info, hist, g, vectors, S, Y, scalars, V, no_hessian):
    """The iteration of :func:`solve`, with work arrays ``vectors`` (6 x n; 14 x n with
    bounds), the pair ring buffers ``S``, ``Y`` (m x n), ``scalars`` (4 x 2m) and, with
    bounds, the factors ``V`` (2m x n) of the L-BFGS matrix.  Updates ``x`` and ``g`` in
    place; returns f."""
    o = read_options(opts)  # o.gtol, o.ftol, ...: see read_options
    n = x.shape[0]
    m = S.shape[0]
    direction, x_trial, g_trial = vectors[0], vectors[1], vectors[2]
    s, y, fixed = vectors[3], vectors[4], vectors[5]
    rho, a, pc, cc = scalars[0], scalars[1], scalars[2], scalars[3]
    lower, upper, bounded = read_bounds(opts, n)
    b = 6  # rows 6..13: L-BFGS-B workspace (with bounds only)
    t, index, d, xc = vectors[b], vectors[b + 1], vectors[b + 2], vectors[b + 3]
    r, q, Bq, du = vectors[b + 4], vectors[b + 5], vectors[b + 6], vectors[b + 7]

    f, gnorm, status = start(1, obj, x, g, no_hessian, info, hist, o.gtol, o.max_iter, lower, upper, bounded)

    f_start = f
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
            # L-BFGS-B: generalized Cauchy point of the model B = theta I + V E V^T, then
            # the model minimised over the variables still free there, then a search
            # along x_bar - x (feasible for steps up to 1)
            theta = 1.0 / gamma if count > 0 else 1.0 / gradient_trial
            rows = 2 * build_factors(S, Y, newest, count, theta, V) if count > 0 else 0
            cauchy_point(x, g, lower, upper, theta, V, rows, t, index, d, fixed, xc, pc, cc)
            subspace_step(x, g, lower, upper, theta, V, rows, fixed, xc, cc, direction, r, q,
                          Bq, du)
        else:
            two_loop(g, direction, S, Y, rho, a, newest, count, gamma)
        slope, steepest = descent_slope(g, direction)
        if steepest and count > 0:
            count = 0
            gamma = 1.0
        if bounded:
            first_trial = 1.0
            alpha, f_trial, flag = projected_backtracking(
                obj, x, f, g, direction, first_trial, o.c1, o.max_ls,
                lower, upper, x_trial, g_trial, info, True)
        else:
            first_trial = gradient_trial if count == 0 else 1.0
            alpha, f_trial, flag = strong_wolfe(obj, x, f, slope, direction,
                                                first_trial, o.c1, o.c2, o.max_ls, x_trial, g_trial,
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
            # the step actually taken, as a multiple of -g (with bounds the search ran
            # along the Cauchy step, whose unit length was gradient_trial)
            gradient_trial = min(2.0 * alpha * (gradient_trial if bounded else 1.0), ALPHA_MAX)
        for i in range(n):
            s[i] = x_trial[i] - x[i]
            y[i] = g_trial[i] - g[i]
        nit += 1
        f_prev, f = f, f_trial
        gnorm, status = end_iteration(nit, x, x_trial, g, g_trial, f_prev, f, hist, info,
                                      o.gtol, o.ftol, o.xtol, o.max_iter, lower, upper, bounded)
        ys = dot(y, s)
        if ys > CURVATURE_RTOL * norm2(y) * norm2(s):
            newest = (newest + 1) % m
            for i in range(n):
                S[newest, i] = s[i]
                Y[newest, i] = y[i]
            rho[newest] = 1.0 / ys
            gamma = ys / dot(y, y)
            count = min(count + 1, m)
    finish(info, genuine_status(status, f_start, f, x, g, lower, upper, bounded), nit)
    return f


@inlined
def memory(opts):
    """The number of correction pairs stored: ``opts[OPT_MEMORY]`` clipped to
    :data:`MAX_MEMORY`, :data:`DEFAULT_MEMORY` when 0."""
    m = _count(opts[OPT_MEMORY], 0, MAX_MEMORY)
    return m if m != 0 else DEFAULT_MEMORY


__getattr__ = declared_solvers(globals(), {"solve": Wrapper(
    "_lbfgs",
    sizes=(("m", "memory(opts)"), ("bounded", "opts[OPT_BOUNDS] != 0.0")),
    work=(("vectors", ("14", "n"), "zeros"), ("S", ("m", "n"), "empty"),
          ("Y", ("m", "n"), "empty"), ("scalars", ("4", "2 * m"), "empty"),
          ("V", ("2 * m if bounded else 0", "n"), "empty"),
          ("no_hessian", ("0", "0"), "empty")),
    takes_bounds=True,
    doc="Minimise by L-BFGS (L-BFGS-B with bounds); see symopt.abi.solver_sig.")})
