"""compile(problem) -> the compiled kernels of a problem, callable from Python and Numba.

The kernels are Numba dispatchers with the signatures of :mod:`symopt.abi`, loaded
from the on-disk cache (:mod:`symopt.cache`).  :class:`Kernels` wraps them for
Python callers (allocating outputs, binding parameters and data) and exposes the raw
dispatchers for use inside a user's own ``@numba.njit`` code.

A problem has up to two kernel modules, each generated and compiled on first use:
the scalar kernels (value, gradient, Hessian) and, for :class:`~symopt.LeastSquares`,
the residual kernels (residuals, Jacobian).  A least-squares solve compiles only the
latter.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from . import abi, cache
from . import solvers as _solvers
from ._binding import jit_address, no_hessian_address
from .codegen import hvp_kernel_source, residual_kernels_source, scalar_kernels_source
from .data import data_array
from .errors import CompileError, ProblemError, SymoptError
from .problem import problem_cache

if TYPE_CHECKING:  # pragma: no cover
    from .problem import Problem

__all__ = ["Kernels", "compile"]

_EMPTY_DATA = np.empty((0, 0))
_SIGNATURES = {spec.name: spec.signature for spec in abi.KERNELS}
_lock = threading.RLock()


def _load(problem: "Problem", source_fn) -> ModuleType:
    try:
        source = source_fn()
        return cache.load_source(source)
    except SymoptError:  # a clear error of its own (a number beyond a double, the cache)
        raise
    except Exception as exc:  # a bug in codegen, not a user error
        raise CompileError(
            f"compiling the kernels of {problem.formula!r} failed: {type(exc).__name__}: {exc}. "
            "This is a bug in symopt; please report it with the formula."
        ) from exc


class Kernels:
    """The compiled kernels of one problem.

    Python calls take the variables as an array in the problem's variable order (or a
    mapping by name), the parameters as a mapping or sequence, and the data columns as
    a mapping of 1-D arrays (or the other forms of :mod:`symopt.data`); all are bound at
    call time, so one compilation serves every value and every dataset.  For a loss over
    data rows without parameters the data may be the second positional argument:
    ``k.value_and_grad(w, data)``.

    The raw Numba dispatchers, with the :mod:`symopt.abi` signatures, are the
    attributes ``value_kernel``, ``grad_kernel``, ``value_grad_kernel``,
    ``value_grad_hess_kernel`` and, for least squares, ``residuals_kernel`` and
    ``residuals_jacobian_kernel``.  A user's ``@numba.njit`` function calls them
    directly, e.g. ``f = value_grad_kernel(x, p, data, g_out)``.

    Examples
    --------
    >>> import symopt as so
    >>> k = so.compile(so.Problem("(1 - x)**2 + 100*(y - x**2)**2"))
    >>> k.value([1.0, 1.0])
    0.0
    >>> k.grad([0.0, 0.0]).tolist()
    [-2.0, 0.0]
    """

    def __init__(self, problem: "Problem"):
        self.problem = problem
        self.n = len(problem.variables)

    # --- the kernel modules, each loaded on first use --------------------------------
    def _loaded_once(self, key: str, make_source: Callable[[], str]) -> ModuleType:
        """The kernel module kept under ``key``: generated from ``make_source()`` and
        compiled by the first caller, under the lock, and only then published to others."""
        module = self.__dict__.get(key)
        if module is None:
            with _lock:
                module = self.__dict__.get(key)
                if module is None:
                    module = self.__dict__[key] = _load(self.problem, make_source)
        return module

    @property
    def module(self) -> ModuleType:
        """The module of the scalar kernels (generated and compiled on first access)."""
        p = self.problem
        return self._loaded_once("_module", lambda: scalar_kernels_source(
            p.derivatives, p.parameters, p.formula, p.data_symbols,
            reduce=p.reduce, regularization=p.regularization_derivatives))

    @property
    def first_order_module(self) -> ModuleType:
        """The module of the value and gradient kernels: the full :attr:`module` when it
        is loaded already, else one generated without the Hessian, whose symbolic
        derivation is skipped (first-order and quasi-Newton methods never call it)."""
        full = self.__dict__.get("_module")
        if full is not None:
            return full
        p = self.problem
        return self._loaded_once("_first_order_module", lambda: scalar_kernels_source(
            p.derivatives, p.parameters, p.formula, p.data_symbols,
            reduce=p.reduce, regularization=p.regularization_derivatives, hessian=False))

    @property
    def residual_module(self) -> ModuleType:
        """The module of the residual kernels (least-squares problems only)."""
        p = self.problem
        if not hasattr(p, "residual_exprs"):
            raise ProblemError("this problem has no residuals: least-squares methods need a "
                               "symopt.LeastSquares problem")
        return self._loaded_once("_residual_module", lambda: residual_kernels_source(
            p.residual_exprs, p.variables, p.parameters, p.formula, p.data_symbols))

    @property
    def hvp_module(self) -> ModuleType:
        """The module of the Hessian-vector-product kernel (generated on first use)."""
        p = self.problem
        return self._loaded_once("_hvp_module", lambda: hvp_kernel_source(
            p.derivatives, p.parameters, p.formula, p.data_symbols,
            reduce=p.reduce, regularization=p.regularization_derivatives))

    def _kernel(self, name: str):
        """The dispatcher of kernel ``name``, compiled for its :mod:`symopt.abi`
        signature.  The scalar kernels are generated without an eager signature and
        compile here, on first use, one by one (or load from Numba's disk cache): a
        gradient call, a first-order method or mini-batch training never compiles the
        Hessian kernel."""
        if name == "hvp":
            module = self.hvp_module
        else:
            module = self.module if name == "value_grad_hess" else self.first_order_module
        dispatcher = getattr(module, name)
        if not dispatcher.signatures:
            with _lock:
                if not dispatcher.signatures:
                    try:
                        dispatcher.compile(_SIGNATURES[name])
                    except Exception as exc:  # a bug in codegen, not a user error
                        raise CompileError(
                            f"compiling the {name} kernel of {self.problem.formula!r} failed: "
                            f"{type(exc).__name__}: {exc}. This is a bug in symopt; please "
                            "report it with the formula.") from exc
        return dispatcher

    value_kernel = property(lambda self: self._kernel("value"), doc="f = value(x, p, data)")
    grad_kernel = property(lambda self: self._kernel("grad"), doc="grad(x, p, data, g_out)")
    value_grad_kernel = property(lambda self: self._kernel("value_grad"),
                                 doc="f = value_grad(x, p, data, g_out)")
    value_grad_hess_kernel = property(lambda self: self._kernel("value_grad_hess"),
                                      doc="f = value_grad_hess(x, p, data, g_out, H_out)")
    hvp_kernel = property(lambda self: self._kernel("hvp"), doc="hvp(x, p, data, v, hv_out)")
    residuals_kernel = property(lambda self: self.residual_module.residuals,
                                doc="residuals(x, p, data, r_out)")
    residuals_jacobian_kernel = property(lambda self: self.residual_module.residuals_jacobian,
                                         doc="residuals_jacobian(x, p, data, r_out, J_out)")

    # --- Python-facing calls -------------------------------------------------------------
    def _args(self, x, params, data) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.problem
        if data is None and params is not None and p.data_names and not p.parameter_names:
            # k.value_and_grad(w, data) for a loss over data without parameters
            params, data = None, params
        return p._x_array(x, "x"), p._param_array(params), data_array(p, data)

    def value(self, x: Sequence[float] | np.ndarray | Mapping[str, float],
              params: Mapping[str, float] | Sequence[float] | None = None,
              data: Any = None) -> float:
        """The loss at ``x``."""
        xa, pa, da = self._args(x, params, data)
        return float(self.value_kernel(xa, pa, da))

    def grad(self, x, params=None, data=None) -> np.ndarray:
        """The gradient at ``x`` as a new array."""
        xa, pa, da = self._args(x, params, data)
        g = np.empty(self.n)
        self.grad_kernel(xa, pa, da, g)
        return g

    def value_and_grad(self, x, params=None, data=None) -> tuple[float, np.ndarray]:
        """``(f, gradient)`` at ``x``, computed together (shared subexpressions)."""
        xa, pa, da = self._args(x, params, data)
        g = np.empty(self.n)
        f = self.value_grad_kernel(xa, pa, da, g)
        return float(f), g

    def hessian(self, x, params=None, data=None) -> np.ndarray:
        """The symmetric Hessian at ``x`` as a new ``(n, n)`` array."""
        return self.value_grad_hess(x, params, data)[2]

    def value_grad_hess(self, x, params=None, data=None) -> tuple[float, np.ndarray, np.ndarray]:
        """``(f, gradient, Hessian)`` at ``x``, computed together."""
        xa, pa, da = self._args(x, params, data)
        g = np.empty(self.n)
        H = np.empty((self.n, self.n))
        f = self.value_grad_hess_kernel(xa, pa, da, g, H)
        return float(f), g, H

    def hvp(self, x, v, params=None, data=None) -> np.ndarray:
        """The Hessian-vector product ``H(x) v`` as a new array (one kernel call; the
        Hessian is not formed)."""
        xa, pa, da = self._args(x, params, data)
        va = np.ascontiguousarray(v, dtype=np.float64)
        if va.shape != (self.n,):
            from .errors import ShapeError

            raise ShapeError(f"v has shape {va.shape}; expected ({self.n},), one entry per variable")
        out = np.empty(self.n)
        self.hvp_kernel(xa, pa, da, va, out)
        return out

    def _m(self, da: np.ndarray) -> int:
        return da.shape[1] if self.problem.data_names else len(self.problem.residual_exprs)

    def residuals(self, x, params=None, data=None) -> np.ndarray:
        """The residual vector at ``x`` (least squares)."""
        kernel = self.residuals_kernel
        xa, pa, da = self._args(x, params, data)
        r = np.empty(self._m(da))
        kernel(xa, pa, da, r)
        return r

    def jacobian(self, x, params=None, data=None) -> np.ndarray:
        """The ``(m, n)`` Jacobian of the residuals at ``x`` (least squares)."""
        kernel = self.residuals_jacobian_kernel
        xa, pa, da = self._args(x, params, data)
        m = self._m(da)
        r = np.empty(m)
        J = np.empty((m, self.n))
        kernel(xa, pa, da, r, J)
        return J

    # --- binding to compiled solvers -------------------------------------------------------
    @property
    def addresses(self) -> tuple[int, int, int]:
        """Machine-code addresses of the value, value+gradient and value+gradient+Hessian
        kernels: what the compiled entry points of :mod:`symopt._binding` take."""
        addresses = self.__dict__.get("_addresses")
        if addresses is None:
            # the Hessian first: its module then serves the value kernels too
            hess = jit_address(self.value_grad_hess_kernel, abi.value_grad_hess_sig)
            addresses = self.__dict__["_addresses"] = (
                jit_address(self.value_kernel, abi.value_sig),
                jit_address(self.value_grad_kernel, abi.value_grad_sig),
                hess,
            )
        return addresses

    @property
    def first_order_addresses(self) -> tuple[int, int, int]:
        """As :attr:`addresses`, for a method that never calls the Hessian kernel (order
        1 in :func:`symopt.solvers._common.start`): the third address is a stand-in
        compiled once per install (:func:`symopt._binding.no_hessian_address`), so the
        problem's Hessian kernel is not compiled."""
        addresses = self.__dict__.get("_first_order_addresses")
        if addresses is None:
            addresses = self.__dict__["_first_order_addresses"] = (
                jit_address(self.value_kernel, abi.value_sig),
                jit_address(self.value_grad_kernel, abi.value_grad_sig),
                no_hessian_address(),
            )
        return addresses

    def method_addresses(self, method: str) -> tuple[int, int, int]:
        """The scalar-kernel addresses the entry point of ``method`` takes:
        :attr:`addresses` for a method that calls the Hessian kernel
        (:data:`symopt.solvers.HESSIAN_METHODS`, from the registry), else :attr:`first_order_addresses`."""
        return self.addresses if method in _solvers.HESSIAN_METHODS else self.first_order_addresses

    @property
    def residual_addresses(self) -> tuple[int, int]:
        """Machine-code addresses of the residual and residual+Jacobian kernels."""
        addresses = self.__dict__.get("_residual_addresses")
        if addresses is None:
            addresses = self.__dict__["_residual_addresses"] = (
                jit_address(self.residuals_kernel, abi.residuals_sig),
                jit_address(self.residuals_jacobian_kernel, abi.residuals_jacobian_sig),
            )
        return addresses

    @property
    def source_path(self) -> str:
        """Path of the generated scalar-kernel source file (open it to read the kernels)."""
        return self.module.__file__

    def __repr__(self) -> str:
        return f"<symopt.Kernels for {self.problem.formula!r}, n={self.n}>"


def compile(problem: "Problem") -> Kernels:  # noqa: A001 - the public name users expect
    """The compiled kernels of ``problem``.

    Kernel modules are generated, compiled (or loaded from the disk cache) on first use
    of a kernel; the same :class:`Kernels` is returned for the same problem object.

    Parameters
    ----------
    problem : Problem

    Returns
    -------
    Kernels
    """
    cache = problem_cache(problem)
    kernels = cache.kernels
    if kernels is None:
        with _lock:
            kernels = cache.kernels
            if kernels is None:
                kernels = cache.kernels = Kernels(problem)
    return kernels
