"""The compiled kernels of a ConstrainedProblem, callable from Python and Numba.

One generated module per problem (:func:`.codegen.constrained_kernels_source`), stored
and imported through :func:`symopt.cache.load_source`; each kernel is compiled for its
signature (:data:`symopt.constrained.abi.KERNELS`) on first use, so a method compiles
only the kernels it calls: the interior-point method never compiles the augmented
Lagrangian, and the augmented Lagrangian never compiles the Hessian of the Lagrangian.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

import numpy as np

from .. import cache
from .._binding import jit_address
from ..errors import CompileError
from ..problem import problem_cache
from . import abi
from .codegen import constrained_kernels_source

__all__ = ["ConstrainedKernels", "compile_constrained"]

_EMPTY_DATA = np.empty((0, 0))
_lock = threading.RLock()


class ConstrainedKernels:
    """The compiled kernels of one :class:`~symopt.constrained.ConstrainedProblem`.

    The raw dispatchers (signatures in :mod:`symopt.constrained.abi`) are the attributes
    ``value_kernel``, ``value_grad_kernel``, ``constraints_kernel``,
    ``constraints_jacobian_kernel``, ``lagrangian_hessian_kernel``, ``al_value_kernel`` and
    ``al_value_grad_kernel``: a user's ``@numba.njit`` code passes them to a solver.

    Examples
    --------
    >>> from symopt.constrained import ConstrainedProblem, compile_constrained
    >>> k = compile_constrained(ConstrainedProblem("x**2 + y**2", ["x*y >= 1"]))
    >>> k.constraints([2.0, 3.0]).tolist(), k.jacobian([2.0, 3.0]).tolist()
    ([6.0], [[3.0, 2.0]])
    """

    def __init__(self, problem):
        self.problem = problem

    @property
    def module(self) -> ModuleType:
        """The generated module (generated and imported on first access)."""
        module = self.__dict__.get("_module")
        if module is None:
            with _lock:
                module = self.__dict__.get("_module")
                if module is None:
                    try:
                        source = constrained_kernels_source(self.problem)
                        module = cache.load_source(source, kind="c")
                    except Exception as exc:  # a bug in codegen, not a user error
                        raise CompileError(
                            f"generating the kernels of {self.problem.formula!r} failed: "
                            f"{type(exc).__name__}: {exc}. This is a bug in symopt; please "
                            "report it with the problem.") from exc
                    self.__dict__["_module"] = module
        return module

    def kernel(self, name: str):
        """The dispatcher of kernel ``name``, compiled for its signature."""
        dispatcher = getattr(self.module, name)
        if not dispatcher.signatures:
            with _lock:
                if not dispatcher.signatures:
                    try:
                        dispatcher.compile(abi.KERNELS[name])
                    except Exception as exc:
                        raise CompileError(
                            f"compiling the {name} kernel of {self.problem.formula!r} failed: "
                            f"{type(exc).__name__}: {exc}. This is a bug in symopt; please "
                            "report it with the problem.") from exc
        return dispatcher

    def address(self, name: str) -> int:
        """The machine-code address of kernel ``name`` (compiling it if needed)."""
        key = f"_address_{name}"
        address = self.__dict__.get(key)
        if address is None:
            address = self.__dict__[key] = jit_address(self.kernel(name), abi.KERNELS[name])
        return address

    def __getattr__(self, attribute: str) -> Any:
        if attribute.endswith("_kernel") and attribute[:-7] in abi.KERNELS:
            return self.kernel(attribute[:-7])
        raise AttributeError(attribute)

    # --- Python calls ---------------------------------------------------------------------
    def _args(self, x, params):
        p = self.problem
        xa = np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(-1))
        if xa.shape[0] != p.n:
            from ..errors import ShapeError

            raise ShapeError(f"x has {xa.shape[0]} values; the problem has {p.n} variables "
                             f"{list(p.variable_names)}")
        from .minimize import _param_array

        return xa, _param_array(p, params)

    def value(self, x, params=None) -> float:
        """The objective at ``x``."""
        xa, pa = self._args(x, params)
        return float(self.kernel("value")(xa, pa, _EMPTY_DATA))

    def constraints(self, x, params=None) -> np.ndarray:
        """The general constraints' values ``c(x)`` (``problem.general_constraints``)."""
        xa, pa = self._args(x, params)
        c = np.empty(self.problem.m)
        self.kernel("constraints")(xa, pa, _EMPTY_DATA, c)
        return c

    def jacobian(self, x, params=None) -> np.ndarray:
        """The ``(m, n)`` Jacobian of the general constraints."""
        xa, pa = self._args(x, params)
        c = np.empty(self.problem.m)
        J = np.empty((self.problem.m, self.problem.n))
        self.kernel("constraints_jacobian")(xa, pa, _EMPTY_DATA, c, J)
        return J

    def lagrangian_hessian(self, x, multipliers, obj_factor: float = 1.0,
                           params=None) -> np.ndarray:
        """``obj_factor * H_f + sum_i multipliers[i] * H_ci`` (general constraints)."""
        xa, pa = self._args(x, params)
        lam = np.ascontiguousarray(np.asarray(multipliers, dtype=np.float64).reshape(-1))
        if lam.shape[0] != self.problem.m:
            from ..errors import ShapeError

            raise ShapeError(f"{lam.shape[0]} multipliers for {self.problem.m} general "
                             "constraints")
        H = np.empty((self.problem.n, self.problem.n))
        self.kernel("lagrangian_hessian")(xa, pa, _EMPTY_DATA, lam, float(obj_factor), H)
        return H

    @property
    def source_path(self) -> str:
        """Path of the generated source file."""
        return self.module.__file__


def compile_constrained(problem) -> ConstrainedKernels:
    """The :class:`ConstrainedKernels` of ``problem`` (the same object for the same
    problem; kernels compile on first use)."""
    cache = problem_cache(problem)
    kernels = cache.kernels
    if kernels is None:
        with _lock:
            kernels = cache.kernels
            if kernels is None:
                kernels = cache.kernels = ConstrainedKernels(problem)
    return kernels
