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

from . import registry

__all__ = ["METHODS", "BOUNDED_METHODS", "HESSIAN_METHODS", "DEFAULTS", "get_solver", "registry"]

# Derived from the method registry (:mod:`.registry`), the one place a method's facts live,
# and re-derived whenever a method is registered or removed.
#: the scalar methods (least squares: :data:`symopt.solvers.least_squares.METHODS`)
METHODS: tuple[str, ...] = ()
#: the scalar methods that take box bounds
BOUNDED_METHODS: tuple[str, ...] = ()
#: the methods that call the Hessian kernel; the others never do, and
#: :attr:`symopt.Kernels.first_order_addresses` binds a stand-in in its place
HESSIAN_METHODS: tuple[str, ...] = ()
#: Default options of each scalar method: ``DEFAULTS[method][option]``, option names as
#: in the ``OPT_*`` indices of :mod:`symopt.abi` (the values and why: :mod:`.registry`)
DEFAULTS: dict[str, dict] = {}


def _derive() -> None:
    global METHODS, BOUNDED_METHODS, HESSIAN_METHODS
    rows = registry.methods("scalar")
    METHODS = tuple(m.name for m in rows)
    BOUNDED_METHODS = tuple(m.name for m in rows if m.takes_bounds)
    HESSIAN_METHODS = tuple(m.name for m in rows if m.calls_hessian)
    DEFAULTS.clear()
    DEFAULTS.update({m.name: m.defaults for m in rows})


_derive()
registry.on_change(_derive)


def get_solver(method: str) -> Callable:
    """The compiled solver of ``method`` (one of :data:`METHODS`).

    The first call in a process imports the solver's module, which compiles it or
    loads it from Numba's on-disk cache.

    Raises
    ------
    InputError
        For a method name not in :data:`METHODS`.
    """
    row = registry.lookup(method) if method in METHODS else None
    if row is None or row.name != method:
        from ..errors import InputError

        raise InputError(f"unknown solver method {method!r}; choose one of {', '.join(METHODS)}")
    return getattr(importlib.import_module(row.qualified_module), row.function)
