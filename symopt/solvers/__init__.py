"""Compiled solver loops for small dense problems.

Every method is one Numba function compiled once, with the explicit signature
:data:`symopt.abi.solver_sig`, taking the problem's kernels as first-class functions::

    f = solve(value, value_grad, value_grad_hess, x, p, data, opts, info, hist, g_out, H_out)

============ ====================== ====================================================
method       module                 direction / search
============ ====================== ====================================================
"gd"         :mod:`.gradient`       ``-g`` / fixed step or Armijo backtracking (bounds:
                                    projected, along the projection arc)
"newton"     :mod:`.newton`         modified-Cholesky Newton / Armijo backtracking
"bfgs"       :mod:`.quasi_newton`   inverse-Hessian BFGS / strong Wolfe
"lbfgs"      :mod:`.lbfgs`          L-BFGS two-loop recursion / strong Wolfe (bounds:
                                    L-BFGS-B, generalized Cauchy point, Armijo)
"trust-ncg"  :mod:`.trust_region`   Steihaug-Toint truncated CG / trust region
"trust-exact" :mod:`.trust_region`  Moré-Sorensen nearly exact step / trust region
"momentum"   :mod:`.first_order`    heavy-ball momentum / fixed step with a schedule
"nesterov"   :mod:`.first_order`    Nesterov momentum / fixed step with a schedule
"adam"       :mod:`.first_order`    Adam / fixed step with a schedule
============ ====================== ====================================================

The methods share their line searches (:mod:`.linesearch`), linear algebra
(:mod:`.linalg`) and bookkeeping: counted kernel calls, box bounds, the one termination
test and the history rows (:mod:`._common`); statuses and their messages are in
:mod:`.status`.  Solvers never raise: a kernel that returns NaN/Inf makes the line
search back off (the fixed-step methods halve their step; the trust region shrinks), a
kernel that raises ends the solve with ``NAN_ENCOUNTERED`` at the last accepted point,
and every loop is bounded.

Box bounds (``opts[OPT_BOUNDS]``, :mod:`symopt.abi`) are taken by the methods in
:data:`BOUNDED_METHODS`; the others report ``INVALID_INPUT`` when given bounds.

Importing this package compiles nothing: a solver compiles (3-20 s), or loads from
Numba's on-disk cache (about 0.3 s), when first used, e.g. by :func:`get_solver`.  The
cache is keyed on the content of the solvers' sources (see :mod:`._jit`).
:func:`symopt.minimize` calls a solver through a per-method entry point that binds the
kernels by address (:mod:`symopt._binding`); from your own ``@numba.njit`` code, call
the solver with the kernels' dispatchers bound at compile time (README); passing
dispatchers from Python works too but converts them on every call (about 0.1 ms).
"""

from __future__ import annotations

import importlib
from typing import Callable

__all__ = ["METHODS", "BOUNDED_METHODS", "HESSIAN_METHODS", "DEFAULTS", "get_solver"]

METHODS = ("gd", "newton", "bfgs", "lbfgs", "trust-ncg", "trust-exact", "momentum", "nesterov",
           "adam")
#: the methods that take box bounds
BOUNDED_METHODS = ("gd", "lbfgs", "momentum", "nesterov", "adam")
#: the methods that call the Hessian kernel; the others never do, and
#: :attr:`symopt.Kernels.first_order_addresses` binds a stand-in in its place
HESSIAN_METHODS = ("newton", "trust-ncg", "trust-exact")

#: method -> (module, compiled solver's name in it)
_MODULES = {
    "gd": ("gradient", "solve"),
    "newton": ("newton", "solve"),
    "bfgs": ("quasi_newton", "solve"),
    "lbfgs": ("lbfgs", "solve"),
    "trust-ncg": ("trust_region", "solve"),
    "trust-exact": ("trust_region", "solve_exact"),
    "momentum": ("first_order", "solve_momentum"),
    "nesterov": ("first_order", "solve_nesterov"),
    "adam": ("first_order", "solve_adam"),
}

# Why these values (all measured on the MGH problems in tests/test_solvers.py):
# - gtol 1e-10 (absolute, on ||g||_inf): Newton and BFGS converge superlinearly, so
#   it costs them about one iteration more than 1e-8 and gives x to ~1e-10/curvature
#   instead of ~1e-8/curvature.  When roundoff keeps ||g|| above it (large f, badly
#   scaled x), the ftol/xtol tests and the line searches' roundoff rule stop the solve
#   with a success status instead.
# - ftol 1e-15 (relative decrease of f in one iteration): about 4.5 ulps, so it fires
#   only once f has stopped changing beyond rounding; a larger value stops BFGS early
#   on problems whose minimum value is large (Freudenstein-Roth's local minimum 48.98).
# - xtol 1e-15 (step relative to ||x||_inf): x has stopped moving in floating point.
# - max_iter: Newton needs ~110 and BFGS ~150 iterations on Powell's badly scaled
#   problem, the hardest of the set; gradient descent converges linearly and needs many.
# - c1 1e-4, c2 0.9: Nocedal & Wright's standard constants for Newton-type methods.
# - max_ls 60: enough to shrink a step by more than 1e-18 (or grow it by 1e36).
_COMMON = {
    "gtol": 1e-10,
    "ftol": 1e-15,
    "xtol": 1e-15,
    "step": 0.0,  # gradient descent: a fixed step length if > 0, else backtracking
    "c1": 1e-4,
    "c2": 0.9,
    "max_ls": 60,
}

#: Default options of each method: ``DEFAULTS[method][option]``, option names as in
#: the ``OPT_*`` indices of :mod:`symopt.abi`.
DEFAULTS = {
    "gd": {**_COMMON, "max_iter": 10_000},
    "newton": {**_COMMON, "max_iter": 200},
    "bfgs": {**_COMMON, "max_iter": 1000},
    # L-BFGS: as BFGS; memory 10 as scipy's L-BFGS-B (N&W: 3-20 work well).  It needs
    # a few more iterations than BFGS (~1.3x on the MGH problems), hence the limit.
    "lbfgs": {**_COMMON, "max_iter": 2000, "memory": 10},
    # trust-ncg: as Newton; radius 1 as scipy's trust-ncg (the radius adapts in a few
    # steps; a badly scaled start may want a different one)
    "trust-ncg": {**_COMMON, "max_iter": 500, "radius": 1.0},
    "trust-exact": {**_COMMON, "max_iter": 500, "radius": 1.0},
}

# The fixed-step methods.  Their step is a learning rate, not searched, so defaults
# must be safe rather than fast: momentum/Nesterov with step 1e-2 and mu 0.9 move with
# an effective step of step / (1 - mu) = 0.1 along slowly changing gradients, and the
# heavy ball is stable for curvature L while step * L < 2 (1 + mu), i.e. L < 380
# (Rosenbrock's valley, L ~ 1000 at the start, needs a smaller step); Adam's 1e-3, 0.9,
# 0.999, 1e-8 are Kingma & Ba's.  gtol 1e-6: a constant-step method does not home in to 1e-10 in any
# reasonable number of iterations (Adam's steps stay ~step in size until its second
# moment forgets the early gradients); ask for it with a decaying schedule.  ftol and
# xtol are 0 (only exact stagnation stops): a momentum method slows to turn round, and their tests would stop
# it there; when set they must hold for PATIENCE (10) iterations in a row.
_FIRST_ORDER = {**_COMMON, "gtol": 1e-6, "ftol": 0.0, "xtol": 0.0, "max_iter": 10_000,
                "schedule": "constant", "decay": 0.0}
DEFAULTS.update({
    "momentum": {**_FIRST_ORDER, "step": 1e-2, "momentum": 0.9},
    "nesterov": {**_FIRST_ORDER, "step": 1e-2, "momentum": 0.9},
    "adam": {**_FIRST_ORDER, "step": 1e-3, "momentum": 0.9, "beta2": 0.999, "eps": 1e-8},
})


def get_solver(method: str) -> Callable:
    """The compiled solver of ``method`` (one of :data:`METHODS`).

    The first call in a process imports the solver's module, which compiles it or
    loads it from Numba's on-disk cache.

    Raises
    ------
    InputError
        For a method name not in :data:`METHODS`.
    """
    where = _MODULES.get(method)
    if where is None:
        from ..errors import InputError

        raise InputError(f"unknown solver method {method!r}; choose one of {', '.join(METHODS)}")
    module, function = where
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)
