"""compile(problem) -> the compiled kernels of a problem, callable from Python and Numba.

The kernels are Numba dispatchers with the signatures of :mod:`symopt.abi`, loaded
from the on-disk cache (:mod:`symopt.cache`).  :class:`Kernels` wraps them for
Python callers (allocating outputs, binding parameters) and exposes the raw
dispatchers for use inside a user's own ``@numba.njit`` code.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numba
import numpy as np

from . import abi, cache
from ._binding import jit_address
from .codegen import scalar_kernels_source
from .errors import CompileError

if TYPE_CHECKING:  # pragma: no cover
    from .problem import Problem

__all__ = ["Kernels", "compile"]

_EMPTY_DATA = np.empty((0, 0))


class Kernels:
    """The compiled kernels of one problem.

    Python calls take the variables as an array in the problem's variable order and
    the parameters as a mapping or sequence (bound at call time: one compilation
    serves every parameter value).

    The raw Numba dispatchers, with the :mod:`symopt.abi` signatures, are the
    attributes ``value_kernel``, ``grad_kernel``, ``value_grad_kernel`` and
    ``value_grad_hess_kernel``; a user's ``@numba.njit`` function can call them
    directly as ``f = value_grad_kernel(x, p, data, g_out)``.

    Examples
    --------
    >>> import symopt as so
    >>> k = so.compile(so.Problem("(1 - x)**2 + 100*(y - x**2)**2"))
    >>> k.value([1.0, 1.0])
    0.0
    >>> k.grad([0.0, 0.0]).tolist()
    [-2.0, 0.0]
    """

    def __init__(self, problem: "Problem", module: ModuleType):
        self.problem = problem
        self.module = module
        self.value_kernel = module.value
        self.grad_kernel = module.grad
        self.value_grad_kernel = module.value_grad
        self.value_grad_hess_kernel = module.value_grad_hess
        self.n = len(problem.variables)

    # --- Python-facing calls -------------------------------------------------------------
    def _args(self, x, params) -> tuple[np.ndarray, np.ndarray]:
        return self.problem._x_array(x), self.problem._param_array(params)

    def value(self, x: Sequence[float] | np.ndarray, params: Mapping[str, float] | Sequence[float] | None = None) -> float:
        """The loss at ``x``."""
        xa, pa = self._args(x, params)
        return float(self.value_kernel(xa, pa, _EMPTY_DATA))

    def grad(self, x, params=None) -> np.ndarray:
        """The gradient at ``x`` as a new array."""
        xa, pa = self._args(x, params)
        g = np.empty(self.n)
        self.grad_kernel(xa, pa, _EMPTY_DATA, g)
        return g

    def value_and_grad(self, x, params=None) -> tuple[float, np.ndarray]:
        """``(f, gradient)`` at ``x``, computed together (shared subexpressions)."""
        xa, pa = self._args(x, params)
        g = np.empty(self.n)
        f = self.value_grad_kernel(xa, pa, _EMPTY_DATA, g)
        return float(f), g

    def hessian(self, x, params=None) -> np.ndarray:
        """The symmetric Hessian at ``x`` as a new ``(n, n)`` array."""
        return self.value_grad_hess(x, params)[2]

    def value_grad_hess(self, x, params=None) -> tuple[float, np.ndarray, np.ndarray]:
        """``(f, gradient, Hessian)`` at ``x``, computed together."""
        xa, pa = self._args(x, params)
        g = np.empty(self.n)
        H = np.empty((self.n, self.n))
        f = self.value_grad_hess_kernel(xa, pa, _EMPTY_DATA, g, H)
        return float(f), g, H

    # --- binding to compiled solvers -------------------------------------------------------
    @property
    def addresses(self) -> tuple[int, int, int]:
        """Machine-code addresses of the value, value+gradient and value+gradient+Hessian
        kernels: what the compiled entry points of :mod:`symopt._binding` take."""
        addresses = self.__dict__.get("_addresses")
        if addresses is None:
            addresses = self.__dict__["_addresses"] = (
                jit_address(self.value_kernel, abi.value_sig),
                jit_address(self.value_grad_kernel, abi.value_grad_sig),
                jit_address(self.value_grad_hess_kernel, abi.value_grad_hess_sig),
            )
        return addresses

    @property
    def source_path(self) -> str:
        """Path of the generated kernel source file (open it to read the kernels)."""
        return self.module.__file__

    def __repr__(self) -> str:
        return f"<symopt.Kernels for {self.problem.formula!r}, n={self.n}, file={self.source_path}>"


_compiled: dict[str, Kernels] = {}


def compile(problem: "Problem") -> Kernels:  # noqa: A001 - the public name users expect
    """The compiled kernels of ``problem`` (from the disk cache when available).

    Parameters
    ----------
    problem : Problem

    Returns
    -------
    Kernels
    """
    cached = problem.__dict__.get("_kernels")
    if cached is not None:
        return cached
    source = scalar_kernels_source(problem.derivatives, problem.parameters, problem.formula)
    key = cache.source_hash(source)
    kernels = _compiled.get(key)
    if kernels is None:
        try:
            module = cache.load_source(source)
        except Exception as exc:  # a bug in codegen, not a user error
            raise CompileError(
                f"compiling the kernels of {problem.formula!r} failed: {type(exc).__name__}: {exc}. "
                "This is a bug in symopt; please report it with the formula."
            ) from exc
        kernels = _compiled[key] = Kernels(problem, module)
    problem.__dict__["_kernels"] = kernels
    return kernels
