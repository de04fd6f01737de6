"""Compiled least-squares solvers: minimise ``cost = 0.5 * ||r(x)||^2``.

Both methods have the signature :data:`symopt.abi.ls_solver_sig`::

    cost = solve(residuals, residuals_jacobian, x, p, data, opts, info, hist, r_out, J_out)

with the kernels ``residuals(x, p, data, r_out)`` and
``residuals_jacobian(x, p, data, r_out, J_out)`` (``m = r_out.shape[0]``, J m x n in C
order), and both factor the Jacobian by Householder QR with column pivoting
(:mod:`.qr`), never forming ``J^T J``.

``solve_lm``
    Levenberg-Marquardt as MINPACK's ``lmder`` (Moré 1978): a trust region of radius
    ``delta`` in the norm ``||D x||``, with ``D`` the column norms of J (the largest seen
    so far: lmder's ``mode = 1``); the step solves ``[J; sqrt(par) D] p = [-r; 0]`` by
    the QR of J plus Givens rotations (``qrsolv``), ``par`` chosen by ``lmpar``; the
    ratio of actual to predicted reduction updates ``delta``.
``solve_gn``
    Gauss-Newton with Armijo backtracking: the direction solves ``J d = -r`` in the
    least-squares sense through a pivoted QR of J with its columns scaled to unit norm;
    trailing diagonal entries of R below ``10 max(m, n) eps |R_00|`` count as zero
    (J rank deficient, or m < n) and ``d`` is the minimum-norm solution in the scaled
    variables (a complete orthogonal decomposition), still a descent direction.

Options (``opts``, read by :func:`._common.read_options`):

``ftol``  stop when the last step's actual *and* predicted relative reductions of
          ``||r||^2`` are both at most ``ftol`` (and their ratio at most 2); also when a
          rejected Gauss-Newton step predicted at most that (see
          :func:`check_ls_termination`).
``xtol``  stop when the trust radius (LM), or the next Gauss-Newton step (GN), is at most
          ``xtol * ||D x||``.
``gtol``  stop when ``max_j |cos(angle between r and column j of J)| <= gtol`` (scale
          invariant; ``gtol = 0`` leaves this to ``||r|| = 0`` and to rounding).
``max_iter``  LM: trial steps (lmder's maxfev: each is one kernel call, plus a Jacobian
          call when a step after a rejected one is taken); GN: Gauss-Newton iterations.
``step``  LM only: the initial trust radius is ``step * ||D x0||`` (``step`` if
          ``x0 = 0``); 0 means MINPACK's default factor 100 (``minimize(factor=...)``).
``c1``, ``max_ls``  GN only: Armijo constant and trial steps per line search.
``bounds``  with ``opts[OPT_BOUNDS] = 1`` and the bounds after the ``N_OPTS`` scalar
          options (see :mod:`symopt.abi`), both methods keep x in the box: x0 is clipped
          into it; at each iterate the variables on a bound that the gradient pushes
          against are held fixed (their Jacobian columns are factored as zero columns),
          the step is computed on the others, and the trial point is projected onto the
          box.  LM measures its ratio against the model's reduction along the projected
          step; GN backtracks along the projected path with the projected Armijo test.
          Without bounds (or while no bound is touched) the iterates are lmder's.
          Bounds are read and checked as by the scalar solvers
          (:func:`._common.read_bounds`, :func:`._common.bounds_valid`): with
          ``OPT_BOUNDS`` set, an ``opts`` too short to hold them, a NaN bound or
          ``lower > upper`` is ``INVALID_INPUT``, never a solve without the bounds.

Whatever the tolerances, the tests are also met when they hold with machine precision in
place of the tolerance (MINPACK's info 6/7/8: no further improvement is possible), and
then the solve ends successfully.  So does Gauss-Newton when its line search finds no
decrease along a step shorter than ``sqrt(eps) ||D x||`` (rounding noise).

Accuracy: with the default tolerances (1e-15) the fits of the MGH and NIST StRD test
problems reach the reference solutions to 7.3-17 significant digits (the least: Kowalik-
Osborne / NIST MGH09, whose parameters the data determine poorly); with sqrt(eps)-size
tolerances some stop at 5.

Kernel calls.  ``residuals_jacobian`` computes r as well, so a point whose Jacobian is
needed is evaluated with it alone: the start, and every trial point while steps are
being taken (most are; a rejected one wastes its Jacobian), after which the trial points
use ``residuals`` until a step is taken again (then the Jacobian is evaluated there).
Gauss-Newton evaluates its full step with the Jacobian kernel likewise, when the last
full step was taken, and backtracked steps with ``residuals``.  The iterates are those
of lmder whichever kernel is called.

``info``: status, nit, nfev (kernel calls: residual evaluations, the ones inside a
Jacobian call included), njev (Jacobian kernel calls), nhist.  ``hist`` rows are
``(cost, ||J^T r||_inf, x...)`` at the start and after every accepted step.  On return
``x`` is the best point, ``r_out`` and ``J_out`` hold the residuals and Jacobian there,
and the value is ``0.5 * ||r_out||^2``.  m < n is allowed: J is padded with zero rows.

How it is compiled (see :mod:`._jit`).  ``solve_lm``/``solve_gn`` check the arrays,
allocate every work array in one block (two allocations per solve: ``minimize_many``
calls them once per problem) and run the method's *iteration* (``_lm_iterate``,
``_gn_iterate``), compiled without reference counting, into which the small helpers of
this module and of :mod:`.qr` (norms, dot products, the Householder and Givens loops) are
inlined.  Three kinds of calls stay real calls: the counted kernel calls (they catch an
exception a hand-written kernel raises), :func:`factorize` and :func:`.qr.lmpar` (each
called once per iteration; inlining them too saved under 2% and doubled the compile
time).  Measured on ``a*exp(-b*t) + c`` with m = 20, n = 3 (8 evaluations, 7 trial
steps): 17.1 us per solve called from Python when every helper was a separate call,
6.0 us now (kernel calls about 1.2 us of it, Python's call about 0.75 us); the arithmetic
and so the iterates are unchanged.

The methods live in :mod:`.lm` and :mod:`.gn`, their common part in :mod:`._lsq` (as
scipy's ``_lsq`` package); this module is their thin front.  The compiled solvers are
created on first access (``least_squares.solve_lm``), each compiled once or loaded from
Numba's on-disk cache.
"""


from __future__ import annotations

import importlib

from . import registry
from ._lsq import DEFAULT_FACTOR, GN_NOISE_XTOL, NONFINITE_SHRINK, RANK_FACTOR, ls_solver

__all__ = ["LS_DEFAULTS", "METHODS", "solve_lm", "solve_gn", "get_ls_solver", "ls_solver",
           "DEFAULT_FACTOR", "GN_NOISE_XTOL", "NONFINITE_SHRINK", "RANK_FACTOR"]

#: Default options of the least-squares methods: ``LS_DEFAULTS[method][option]``, from
#: the method registry (:mod:`.registry`, which says why these values)
LS_DEFAULTS = {m.name: m.defaults for m in registry.methods("least_squares")}

METHODS = registry.names("least_squares")

#: public name -> the module that compiles it (``<name>_inlinable``: the same wrapper,
#: for the entry points to inline; see :func:`._jit.compiled_on_first_access`)
_MODULES = {"solve_lm": ".lm", "solve_gn": ".gn"}
_BY_METHOD = {"lm": "solve_lm", "gn": "solve_gn"}


def __getattr__(name: str):
    base = name[:-len("_inlinable")] if name.endswith("_inlinable") else name
    module = _MODULES.get(base)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __package__), name)


def get_ls_solver(method: str):
    """The compiled solver of ``method`` ("lm" or "gn")."""
    try:
        name = _BY_METHOD[method]
    except KeyError:
        from ..errors import InputError

        raise InputError(f"unknown least-squares method {method!r}; choose one of "
                         f"{', '.join(METHODS)}") from None
    return __getattr__(name)
