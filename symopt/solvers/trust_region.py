"""Newton's method with a trust region: Steihaug-Toint truncated CG ("trust-ncg") or the
nearly exact Moré-Sorensen subproblem solution ("trust-exact").

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

"trust-exact" (N&W Alg. 4.3, Moré & Sorensen 1983) solves the subproblem nearly
exactly: the step is ``p(lam) = -(H + lam I)^{-1} g`` with ``lam = 0`` if ``H`` is
positive definite and the Newton step lies inside the ball, else with ``lam`` on the
boundary ``||p(lam)|| = delta``, found by Newton's method on ``1/||p|| - 1/delta``
(one Cholesky factorisation per trial ``lam``), safeguarded inside a bracket
``[lam_lo, lam_hi]`` (``lam_lo >= max(0, -min diag H)``, ``lam_hi = ||g|| / delta +
||H||_1``), stopping when ``| ||p|| - delta | <= 0.1 delta`` (scipy's ``k_easy``).  A
failed factorisation raises ``lam_lo``.

In the "hard case" (Moré & Sorensen 1983, sec. 3; N&W sec. 4.3) ``g`` is (nearly)
orthogonal to the eigenvectors of the smallest eigenvalue ``lam_1 < 0`` of ``H``, and
``||p(lam)||`` stays below ``delta`` for every ``lam > -lam_1``: no ``lam`` reaches the
boundary, and the minimiser of the model is ``p(-lam_1) + tau u`` with ``u`` an
eigenvector of ``lam_1``.  Whenever a trial ``lam > 0`` gives a step inside the ball,
``u`` is estimated from the Cholesky factor of ``H + lam I = L L^T`` (LINPACK's
estimate of its smallest singular value, as Moré & Sorensen do: ``||L^T u||`` small
makes ``u`` nearly a null vector), and ``tau`` is the root of ``||p + tau u|| = delta``
of smaller magnitude, which gives the lower model value.  The step ``p + tau u`` is
taken when ``tau^2 ||L^T u||^2 <= HARD_RTOL (||L^T p||^2 + lam delta^2)`` (then the
model is within a factor ``1 - HARD_RTOL`` of its minimum over the ball, M&S Lemma 3.4)
and ``tau u`` adds a real decrease (where ``lam_1 = 0``, the model is flat along ``u``
and the iteration goes on towards the interior solution instead).  So on a saddle's
symmetry line, where ``g`` has no component along the negative curvature (a start
at ``y = 0`` of ``x^2 - y^2 + y^4``), the step still leaves along it (trust-ncg's CG,
which only sees the Krylov space of ``g``, cannot).

Each iteration costs O(n^3) (a few factorisations) against trust-ncg's O(n^2) per CG
step, and takes fewer iterations on hard nonconvex problems.

The radius (N&W Alg. 4.1): with ``rho`` = actual / predicted reduction of f, the step is
accepted when ``rho > ETA``; the radius is cut to a quarter of the step's length when
``rho < 1/4`` and doubled (up to ``MAX_RADIUS_FACTOR`` times the initial radius) when
``rho > 3/4`` and the step reached the boundary.  The initial radius is
``opts[OPT_RADIUS]`` (0: ``DEFAULT_RADIUS`` = 1).  A trial step with NaN/Inf f (or
derivatives, at a step that would be accepted) counts as ``rho = -inf``.

Stops: the termination test of :mod:`._common` after every accepted step (``nit``
counts accepted steps; rejected ones only shrink the radius); ``SUCCESS_FTOL`` when the
model's predicted decrease is below the rounding errors of f (f cannot confirm any
further progress); ``OVERFLOW`` instead when that decrease, or ``g.g`` or the curvature
``g.H.g`` the subproblem starts from, is beyond a double (no step could be taken); ``TRUST_REGION_COLLAPSED`` when the radius shrinks below the
rounding level of ``x`` without an acceptable step.

Importing this module compiles nothing; each method's solver compiles (or loads from
Numba's cache) when first used.  ``H_out`` receives the exact Hessian at the final point.
"""

from __future__ import annotations

import math

import numpy as np

from ..abi import OPT_RADIUS
from ._common import (
    derivatives_finite,
    end_iteration,
    evaluate,
    evaluate_value,
    finish,
    genuine_status,
    read_options,
    start,
)
from ._jit import Wrapper, declared_solvers, inlined, iteration
from .linalg import cholesky, cholesky_solve, copy_matrix, dot, matvec, norm2, norm_inf
from .linesearch import EPS, F_ROUNDOFF_RTOL
from .status import CONTINUE, NAN_ENCOUNTERED, OVERFLOW, SUCCESS_FTOL, TRUST_REGION_COLLAPSED

__all__ = ["solve", "solve_exact", "DEFAULT_RADIUS"]

#: subproblem solvers of the shared iteration
STEIHAUG = 0
MORE_SORENSEN = 1
#: trust-exact: relative accuracy of ||p|| on the boundary (scipy's k_easy), and the
#: largest number of factorisations per subproblem
BOUNDARY_RTOL = 0.1
MAX_LAMBDA_ITER = 60
#: trust-exact, hard case: accept ``p + tau u`` when ``tau^2 ||L^T u||^2`` is at most
#: this fraction of ``||L^T p||^2 + lam radius^2``, which puts the model within this
#: fraction of its minimum over the ball (Moré & Sorensen's ``sigma(2 - sigma)``; scipy's
#: ``k_hard`` is 0.2: on the MGH problems 0.01 costs no extra iteration where 0.2 did)
HARD_RTOL = 0.01

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


@inlined
def smallest_singular_vector(L, w, v):
    """An approximate unit null vector of ``L^T`` for a lower-triangular Cholesky
    factor ``L`` of ``A = L L^T``: ``v`` with ``||v|| = 1`` and ``||L^T v||`` close to
    the smallest singular value of ``L^T``, i.e. ``v.A.v`` close to the smallest
    eigenvalue of ``A``.  LINPACK's condition estimate (Cline, Moler, Stewart & Wilkinson
    1979), as Moré & Sorensen (1983) use it: solve ``L w = e`` with the signs of
    ``e = (+-1, ...)`` chosen one by one to make ``w`` large, then ``L^T v = w``; a
    nearly singular ``A`` makes ``v`` large along its null direction.  ``w`` is
    workspace.  Returns ``||L^T v||`` (the estimate of the smallest singular value)."""
    n = L.shape[0]
    for i in range(n):
        v[i] = 0.0  # the partial sums sum_k<i L[i, k] w[k]
    for k in range(n):
        plus = (1.0 - v[k]) / L[k, k]
        minus = (-1.0 - v[k]) / L[k, k]
        size_plus = abs(plus)
        size_minus = abs(minus)
        for i in range(k + 1, n):
            size_plus += abs(v[i] + L[i, k] * plus)
            size_minus += abs(v[i] + L[i, k] * minus)
        w[k] = plus if size_plus >= size_minus else minus
        for i in range(k + 1, n):
            v[i] += L[i, k] * w[k]
    w_norm = norm2(w)
    for i in range(n - 1, -1, -1):  # L^T v = w
        total = w[i]
        for k in range(i + 1, n):
            total -= L[k, i] * v[k]
        v[i] = total / L[i, i]
    v_norm = norm2(v)
    for i in range(n):
        v[i] /= v_norm
    return w_norm / v_norm


@inlined
def hard_case_step(p, u, radius):
    """The ``tau`` with ``||p + tau u|| = radius`` (``p`` inside the ball, ``||u|| = 1``)
    of smaller magnitude.  With ``(H + lam I) p = -g`` and ``H + lam I = L L^T`` the model
    is ``m(p + tau u) = tau^2 ||L^T u||^2 / 2 - (||L^T p||^2 + lam radius^2) / 2`` on the
    boundary (Moré & Sorensen 1983, eq. 3.6), so of the two roots (one of each sign) the
    smaller one gives the lower model value."""
    pu = dot(p, u)
    c = dot(p, p) - radius * radius  # <= 0: p is inside
    root = math.sqrt(max(pu * pu - c, 0.0))
    # the roots are -pu +- root; the smaller in magnitude, without cancellation
    if pu >= 0.0:
        return -c / (pu + root) if pu + root > 0.0 else 0.0
    return c / (root - pu)


@inlined
def more_sorensen(H, g, radius, z, q, u, w, L):  # noqa: C901 (one numerical loop, kept whole like its reference)
    """The nearly exact trust-region step into ``z`` (see the module docstring); ``q``,
    ``u``, ``w`` and ``L`` are workspace.  Returns whether the step ends on the boundary."""
    n = g.shape[0]
    gnorm = norm2(g)
    min_diagonal = np.inf
    norm_1 = 0.0  # max column sum of |H|: bounds its eigenvalues
    for j in range(n):
        min_diagonal = min(min_diagonal, H[j, j])
        column = 0.0
        for i in range(n):
            column += abs(H[i, j])
        norm_1 = max(norm_1, column)
    lam_lo = max(0.0, -min_diagonal)
    lam_hi = gnorm / radius + norm_1
    lam = 0.0
    if lam_lo > 0.0:
        lam = max(lam_lo * 1.001, math.sqrt(lam_lo * lam_hi))
    have_step = False
    for _ in range(MAX_LAMBDA_ITER):
        if not cholesky(H, lam, L):
            lam_lo = lam
            lam = max(math.sqrt(lam_lo * lam_hi), lam_lo + 0.01 * (lam_hi - lam_lo))
            if not lam < lam_hi * (1.0 + 1e-12):
                break
            continue
        cholesky_solve(L, g, z)
        for i in range(n):
            z[i] = -z[i]
        have_step = True
        step_norm = norm2(z)
        if lam == 0.0 and step_norm <= radius:
            return False  # the Newton step, inside the ball
        if abs(step_norm - radius) <= BOUNDARY_RTOL * radius:
            return True
        # ||q||^2 with L q = p, for the Newton step on 1/||p(lam)|| - 1/radius
        for i in range(n):
            total = z[i]
            for k in range(i):
                total -= L[i, k] * q[k]
            q[i] = total / L[i, i]
        q_sq = dot(q, q)
        if step_norm < radius:
            # inside with lam > 0: lam is too large, or this is the hard case, where g is
            # (nearly) orthogonal to the eigenvectors of the smallest eigenvalue lam_1 and
            # ||p(lam)|| < radius for every lam > -lam_1.  Add tau u, u an approximate
            # eigenvector of lam_1 (the null direction of the nearly singular H + lam I),
            # to reach the boundary; accept when tau^2 ||L^T u||^2 is small beside
            # ||L^T p||^2 + lam radius^2, which puts the model within a factor
            # (1 - HARD_RTOL) of its minimum over the ball (Moré & Sorensen, Lemma 3.4)
            sigma = smallest_singular_vector(L, w, u)
            tau = hard_case_step(z, u, radius)
            curvature = -dot(g, z)  # ||L^T p||^2 = p.(H + lam I).p
            # twice the model decrease of p, and what tau u adds to it (eq. 3.6): where
            # lam -> 0 (H singular but not indefinite) the model is flat along u, the
            # boundary gains nothing, and the iteration goes on towards the interior
            # solution p(0+) as in the easy case
            decrease = curvature + lam * step_norm * step_norm
            gain = lam * (radius * radius - step_norm * step_norm) - (tau * sigma) ** 2
            if (tau * tau * sigma * sigma <= HARD_RTOL * (curvature + lam * radius * radius)
                    and gain > HARD_RTOL * (decrease + gain)):
                for i in range(n):
                    z[i] += tau * u[i]
                return True
            lam_hi = lam
        else:
            lam_lo = lam
        lam_new = lam + (step_norm * step_norm / q_sq) * (step_norm - radius) / radius
        if not (lam_lo < lam_new < lam_hi):  # also catches NaN
            lam_new = max(math.sqrt(lam_lo * lam_hi), lam_lo + 0.01 * (lam_hi - lam_lo))
        if lam_hi - lam_lo <= 1e-14 * lam_hi:
            break
        lam = lam_new
    if not have_step:
        # no factorisation succeeded (H not finite): a steepest-descent step to the boundary
        for i in range(n):
            z[i] = -g[i] * (radius / gnorm)
        return True
    step_norm = norm2(z)
    if step_norm > radius:  # scale a too-long last step back into the ball
        for i in range(n):
            z[i] *= radius / step_norm
        return True
    return False


@inlined
def subproblem_overflowed(H, g, z, Hg):
    """Whether a zero step ``z`` at a nonzero gradient comes from an overflow: ``g.g`` or
    the curvature ``g.H.g`` beyond a double (the first CG direction is ``-g``; its
    length ``g.g / g.H.g`` is then 0 or NaN).  Writes ``H g`` into ``Hg``."""
    if norm_inf(z) != 0.0 or norm_inf(g) == 0.0:
        return False
    matvec(H, g, Hg)
    return not (math.isfinite(dot(g, g)) and math.isfinite(dot(g, Hg)))


@iteration
def _trust_region(subproblem, obj, x, opts, info, hist, g, H, vectors, matrices):
    """The iteration of :func:`solve` and :func:`solve_exact`, with work arrays
    ``vectors`` (6 x n) and ``matrices`` (2 x n x n: the trial Hessian and a Cholesky
    factor).  Updates ``x``, ``g`` and ``H`` in place; returns f."""
    H_trial = matrices[0]
    L = matrices[matrices.shape[0] - 1]  # trust-exact's Cholesky factor (ncg: unused)
    o = read_options(opts)  # o.gtol, o.ftol, ...: see read_options
    n = x.shape[0]
    z, r, d, Hd = vectors[0], vectors[1], vectors[2], vectors[3]
    x_trial, g_trial = vectors[4], vectors[5]
    no_bounds = opts[0:0]
    radius = opts[OPT_RADIUS]
    if not (radius > 0.0 and radius < np.inf):
        radius = DEFAULT_RADIUS
    max_radius = MAX_RADIUS_FACTOR * radius

    f, gnorm, status = start(2, obj, x, g, H, info, hist, o.gtol, o.max_iter, no_bounds, no_bounds, False)

    f_start = f
    if status == CONTINUE and not derivatives_finite(2, f, g, H):
        status = NAN_ENCOUNTERED
    nit = 0
    while status == CONTINUE:
        if subproblem == MORE_SORENSEN:
            on_boundary = more_sorensen(H, g, radius, z, r, d, Hd, L)
        else:
            on_boundary = steihaug_cg(H, g, radius, z, r, d, Hd)
        matvec(H, z, Hd)
        predicted = -(dot(g, z) + 0.5 * dot(z, Hd))
        if not predicted > F_ROUNDOFF_RTOL * abs(f):
            # no decrease f could confirm: converged to precision, unless the model's
            # decrease overflowed or the subproblem could not step at all
            status = SUCCESS_FTOL if math.isfinite(predicted) else OVERFLOW
            if status == SUCCESS_FTOL and subproblem_overflowed(H, g, z, Hd):
                status = OVERFLOW
            break
        for i in range(n):
            x_trial[i] = x[i] + z[i]
        f_trial = evaluate_value(obj, x_trial, info)
        rho = (f - f_trial) / predicted if math.isfinite(f_trial) else -np.inf
        step_length = norm2(z)
        if rho > ETA:
            f_trial = evaluate(2, obj, x_trial, g_trial, H_trial, info)
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
                                          o.gtol, o.ftol, o.xtol, o.max_iter, no_bounds, no_bounds,
                                          False)
        elif radius <= EPS * norm_inf(x) or radius < RADIUS_FLOOR:
            status = TRUST_REGION_COLLAPSED
    finish(info, genuine_status(status, f_start, f, x, g, no_bounds, no_bounds, False), nit)
    return f


__getattr__ = declared_solvers(globals(), {
    "solve": Wrapper(
    "_trust_region", constant="STEIHAUG", passes_H_out=True, uses_matrix=True,
    work=(("vectors", ("6", "n"), "empty"), ("matrices", ("1", "n", "n"), "empty")),
    doc="Minimise by trust-region Newton-CG; see symopt.abi.solver_sig for the arguments."),
    "solve_exact": Wrapper(
    "_trust_region", constant="MORE_SORENSEN", passes_H_out=True, uses_matrix=True,
    work=(("vectors", ("6", "n"), "empty"), ("matrices", ("2", "n", "n"), "empty")),
    doc="Minimise by the nearly exact trust-region method; see symopt.abi.solver_sig for the arguments.")})
