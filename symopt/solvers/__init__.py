"""Compiled solver loops for small dense problems.

Every method is one Numba function compiled once, with the explicit signature
:data:`symopt.abi.solver_sig`, taking the problem's kernels as first-class functions::

    f = solve(value, value_grad, value_grad_hess, x, p, data, opts, info, hist, g_out, H_out)

======== ====================== ===============================================
method   module                 direction / search
======== ====================== ===============================================
"gd"     :mod:`.gradient`       ``-g`` / fixed step or Armijo backtracking
"newton" :mod:`.newton`         modified-Cholesky Newton / Armijo backtracking
"bfgs"   :mod:`.quasi_newton`   inverse-Hessian BFGS / strong Wolfe
======== ====================== ===============================================

The methods share their line searches (:mod:`.linesearch`), linear algebra
(:mod:`.linalg`) and bookkeeping: counted kernel calls, the one termination test and
the history rows (:mod:`._common`); statuses and their messages are in :mod:`.status`.
Solvers never raise: a kernel that returns NaN/Inf (or raises) makes the line search
back off, and every loop is bounded.

Importing this package compiles nothing: a solver compiles (3-4 s), or loads from
Numba's on-disk cache (about 0.3 s), when its module is first imported, e.g. by
:func:`get_solver`.  The cache is keyed on the content of the solvers' sources (see
:mod:`._jit`).  Bind the kernels inside a small ``@njit`` function that calls the
solver (see :meth:`symopt.Kernels.bound_solver`); passing Numba dispatchers from
Python works too but converts them on every call (about 0.1 ms).
"""

from __future__ import annotations

import importlib
from typing import Callable

__all__ = ["METHODS", "DEFAULTS", "get_solver"]

METHODS = ("gd", "newton", "bfgs")

_MODULES = {"gd": "gradient", "newton": "newton", "bfgs": "quasi_newton"}

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
}


def get_solver(method: str) -> Callable:
    """The compiled solver of ``method`` (one of :data:`METHODS`).

    The first call in a process imports the solver's module, which compiles it or
    loads it from Numba's on-disk cache.

    Raises
    ------
    InputError
        For a method name not in :data:`METHODS`.
    """
    module = _MODULES.get(method)
    if module is None:
        from ..errors import InputError

        raise InputError(f"unknown solver method {method!r}; choose one of {', '.join(METHODS)}")
    return importlib.import_module(f"{__name__}.{module}").solve
