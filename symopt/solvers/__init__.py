"""Compiled solver loops for small dense problems.

Every method is one Numba function compiled once, with the explicit signature
:data:`symopt.abi.solver_sig`, taking the problem's kernels as first-class functions::

    f = solve(value, value_grad, value_grad_hess, x, p, data, opts, info, hist, g_out, H_out)

======== =============================== =========================================
method   module                          direction / search
======== =============================== =========================================
"gd"     :mod:`.gradient`                ``-g`` / fixed step or Armijo backtracking
"newton" :mod:`.newton`                  modified-Cholesky Newton / Armijo backtracking
"bfgs"   :mod:`.quasi_newton`            inverse-Hessian BFGS / strong Wolfe
======== =============================== =========================================

Importing this package compiles nothing: a solver compiles (about 5 s), or loads from
Numba's on-disk cache (well under a second), when its module is first imported, e.g. by
:func:`get_solver`.  Bind the kernels inside a small ``@njit`` function that calls the
solver (see :meth:`symopt.Kernels.bound_solver`); passing Numba dispatchers from Python
works too but converts them on every call (tens of microseconds).

Note for developers: Numba's cache of a solver is invalidated only when the solver's own
file changes, not when a helper module it calls (``linesearch.py``, ``linalg.py``, ...)
does.  After editing a helper, delete ``symopt/solvers/__pycache__/*.nbi`` and ``*.nbc``.
"""

from __future__ import annotations

import importlib
from typing import Callable

__all__ = ["METHODS", "DEFAULTS", "get_solver"]

METHODS = ("gd", "newton", "bfgs")

_MODULES = {"gd": "gradient", "newton": "newton", "bfgs": "quasi_newton"}

_COMMON = {
    # ||g||_inf at which the solve has converged (absolute, as in scipy)
    "gtol": 1e-10,
    # relative reduction of f in one iteration below which f has stopped improving
    "ftol": 1e-15,
    # step, relative to ||x||_inf, below which x has stopped moving
    "xtol": 1e-15,
    # gradient descent: fixed step length; 0 = Armijo backtracking
    "step": 0.0,
    # sufficient-decrease and curvature constants (Nocedal & Wright's standard values)
    "c1": 1e-4,
    "c2": 0.9,
    # trial steps per line search
    "max_ls": 60,
}

#: Default options of each method: ``DEFAULTS[method][option]``.
DEFAULTS = {
    "gd": {**_COMMON, "max_iter": 10_000},
    "newton": {**_COMMON, "max_iter": 200},
    "bfgs": {**_COMMON, "max_iter": 1000},
}


def get_solver(method: str) -> Callable:
    """The compiled solver of ``method`` (one of :data:`METHODS`).

    The first call in a process imports the solver's module, which compiles it or
    loads it from Numba's on-disk cache.
    """
    module = _MODULES.get(method)
    if module is None:
        from ..errors import InputError

        raise InputError(f"unknown solver method {method!r}; choose one of {', '.join(METHODS)}")
    return importlib.import_module(f"{__name__}.{module}").solve
