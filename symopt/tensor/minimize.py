"""minimize(problem, x0, data=...): bind the arrays, call a compiled solver, build the result.

Every solver of :mod:`symopt.solvers` runs on array problems through its entry point
(:func:`symopt._binding.entry_point`) with the array kernels' addresses: ``lbfgs``,
``bfgs``, ``gd``, ``momentum``, ``nesterov``, ``adam`` (gradient only), ``newton``,
``trust-exact`` (the dense Hessian kernel).  ``trust-ncg`` and ``newton-cg`` here are the
Hessian-vector-product methods of :mod:`symopt.tensor.solvers`: no matrix is formed, so
they run at any size.  ``banded-newton`` and ``sparse-newton`` factor or iterate on the
exact Hessian of a separable loss in band or CSR storage (:mod:`symopt.tensor.sparsity`,
:mod:`symopt.tensor.sparse`).  With ``batch_size``/``epochs`` (or ``method="sgd"``) the
run is mini-batch SGD/Adam over the data rows (:mod:`symopt.tensor.stochastic`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import abi, cache
from .._binding import entry_point, no_hessian_address
from ..errors import InputError
from ..result import OptimizeResult
from ..solvers import registry
from ..solvers import status as _status
from .kernels import compile as compile_kernels
from .problem import Problem

__all__ = ["minimize", "METHODS", "default_method"]

#: methods that use a dense Hessian (its kernel is compiled only for them)
DENSE_HESSIAN_METHODS = ("newton", "trust-exact")
# the array methods (symopt.tensor.solvers) are registry rows of kind "array"
#: methods driven by Hessian-vector products (symopt.tensor.solvers)
HVP_METHODS = tuple(m.name for m in registry.methods("array") if "hvp" in m.kernels)
#: Newton with the banded Hessian of a separable loss (symopt.tensor.sparsity)
BAND_METHODS = tuple(m.name for m in registry.methods("array") if "band" in m.kernels)
#: Newton with the CSR Hessian of a separable loss that is not banded (symopt.tensor.sparse)
SPARSE_METHODS = tuple(m.name for m in registry.methods("array") if "coo" in m.kernels)
FIRST_ORDER_METHODS = ("lbfgs", "bfgs", "gd", "momentum", "nesterov", "adam")
METHODS = DENSE_HESSIAN_METHODS + HVP_METHODS + BAND_METHODS + SPARSE_METHODS + FIRST_ORDER_METHODS
#: the scalar methods' aliases, then the array methods' (their "trust-ncg" wins)
_ALIASES = {**{alias: name for alias, name in registry.alias_map("scalar").items()
               if name in METHODS},
            **registry.alias_map("array")}
#: up to this many variables the default method is Newton with the dense Hessian
DENSE_NEWTON_MAX_N = 500
_NO_MATRIX = np.empty((0, 0))


def default_method(n: int, banded: bool = False, sparse: bool = False) -> str:
    """What a user who names no method gets: Newton with the exact dense Hessian for a
    few hundred variables; beyond, Newton with the banded Hessian when the loss has one
    (:attr:`Problem.band`), Newton with the CSR Hessian when it is sparse but not banded
    (:attr:`Problem.sparse`), else trust-region Newton-CG (Hessian-vector products, no
    matrix)."""
    if n <= DENSE_NEWTON_MAX_N:
        return "newton"
    if banded:
        return "banded-newton"
    return "sparse-newton" if sparse else "trust-ncg"


def _structure(problem: Problem) -> tuple[bool, bool]:
    """(banded, sparse) for the loss's Hessian."""
    try:
        structure = problem.sparse
    except Exception:  # noqa: BLE001 - not separable: neither
        return False, False
    return structure.bandwidth is not None, True


def _sparse_storage(pattern) -> np.ndarray:
    """The ``H_out`` of ``sparse-newton``: the pattern, and the band ordering when there is
    a narrow one (:meth:`symopt.tensor.sparse.Pattern.band_ordering`), packed in rows of
    float64 (:mod:`symopt.tensor.solvers`)."""
    from .solvers import SPARSE_ROWS

    n = pattern.n
    width = max(pattern.nnz, n + 2, pattern.ncoo, 1)
    H = np.zeros((SPARSE_ROWS, width))
    H[1, :n + 1] = pattern.indptr
    H[1, n + 1] = pattern.ncoo
    H[2, :pattern.nnz] = pattern.indices
    H[3, :pattern.ncoo] = pattern.slot1
    H[4, :pattern.ncoo] = pattern.slot2
    H[5, :pattern.ncoo] = pattern.weight
    H[6, :n] = pattern.diagonal
    ordering = pattern.band_ordering()
    H[6, n] = -1 if ordering is None else ordering[1]
    if ordering is not None:
        H[7, :n] = ordering[0]
        H[8, :pattern.nnz] = ordering[2]
    return H


_HVP_ENTRY = '''\
# symopt.tensor solver entry point for method {method!r}: takes kernel addresses, compiled once.
# solver sources hash: {sources}
import numba

from symopt import abi
from symopt._binding import value_fn, value_grad_fn
from symopt.tensor.abi import {third}
from symopt.tensor.solvers import {function} as _solve


@numba.njit(abi.entry_sig, cache=True, nogil=True)
def entry(value_address, value_grad_address, third_address,
          x, p, data, opts, info, hist, g_out, H_out):
    return _solve(value_fn(value_address), value_grad_fn(value_grad_address),
                  {third}(third_address), x, p, data, opts, info, hist, g_out, H_out)
'''
_hvp_entries: dict[str, object] = {}


def _sources_hash() -> str:
    digest = hashlib.sha256()
    root = Path(__file__).parent.parent
    paths = sorted((root / "solvers").glob("*.py")) + [root / "abi.py", root / "_binding.py",
                                                        Path(__file__).parent / "solvers.py",
                                                        Path(__file__).parent / "abi.py"]
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _csr(values, pattern):
    try:
        from scipy import sparse
    except ImportError:  # pragma: no cover - scipy is optional
        return values, pattern.indices.copy(), pattern.indptr.copy()
    return sparse.csr_matrix((values, pattern.indices.copy(), pattern.indptr.copy()),
                             shape=(pattern.n, pattern.n))


def hvp_entry_point(method: str):
    """The compiled entry of an HVP method (signature :data:`symopt.abi.entry_sig`, the
    third address the HVP kernel's)."""
    entry = _hvp_entries.get(method)
    if entry is None:
        function = method.replace("-", "_")
        third = "band_fn" if method in BAND_METHODS + SPARSE_METHODS else "hvp_fn"
        source = _HVP_ENTRY.format(method=method, function=function, third=third,
                                   sources=_sources_hash())
        entry = _hvp_entries[method] = cache.load_source(source, kind="te").entry
    return entry


def _options(method: str, gtol, ftol, xtol, max_iter, options: Mapping[str, Any]) -> np.ndarray:
    if method in HVP_METHODS or method in BAND_METHODS or method in SPARSE_METHODS:
        # the row's options: their slots, checks and defaults (symopt.solvers.registry)
        row = registry.lookup(method, kind="array")
        unknown = sorted(name for name in options if row.option(name) is None)
        if unknown:
            raise InputError(f"method {method!r} takes no option(s) {', '.join(unknown)}")
        given = {"gtol": gtol, "ftol": ftol, "xtol": xtol, "max_iter": max_iter, **options}
        opts = np.zeros(abi.N_OPTS)
        for option in row.options:
            value = given.get(option.name) if option.keyword else None
            if value is not None:
                opts[option.index()] = option.check(option.name, value)
            elif option.default is not None:
                opts[option.index()] = option.stored_default()
        return opts
    from ..minimize import solver_options

    return solver_options(method, gtol=gtol, ftol=ftol, xtol=xtol, max_iter=max_iter, **options)


#: the options of the mini-batch path (symopt.tensor.stochastic)
MINIBATCH_OPTIONS = ("batch_size", "epochs", "seed", "step", "lr", "momentum", "beta2", "eps",
                     "validation", "patience", "verbose")


def _minibatch(problem, x0, method, data, params, dims, refused, options):
    from .stochastic import MINIBATCH_METHODS, minimize_minibatch

    method = "adam" if method is None else method
    if not isinstance(method, str) or method.lower() not in MINIBATCH_METHODS:
        raise InputError(f"batch_size and epochs apply to the mini-batch methods "
                         f"{', '.join(MINIBATCH_METHODS)}, not to method {method!r}")
    given = sorted(name for name, value in refused.items() if value is not None)
    unknown = sorted(set(options) - set(MINIBATCH_OPTIONS))
    if given or unknown:
        raise InputError(f"mini-batch {method} takes no option(s) {', '.join(given + unknown)}; "
                         f"its options are {', '.join(MINIBATCH_OPTIONS)}")
    return minimize_minibatch(problem, x0, method.lower(), data=data, params=params, dims=dims,
                              **options)


def _bounds(bounds: Mapping[str, Any], binding, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat lower and upper bounds from ``{name: (lo, hi)}`` (ends: numbers, arrays of the
    variable's shape, or None)."""
    if not isinstance(bounds, Mapping):
        raise InputError("bounds must be a mapping {variable name: (lo, hi)}")
    parts = {"lo": {}, "hi": {}}
    names = [v.name for v in binding.problem.variables]
    for name, pair in bounds.items():
        if name not in names:
            raise InputError(f"bounds given for {name!r}, which is not a variable; the "
                             f"variables are {', '.join(names)}")
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise InputError(f"bounds of {name!r} must be a pair (lo, hi) with None for no bound")
        parts["lo"][name] = -np.inf if pair[0] is None else pair[0]
        parts["hi"][name] = np.inf if pair[1] is None else pair[1]
    lower = binding.x({v: parts["lo"].get(v, -np.inf) for v in names}, check_finite=False)
    upper = binding.x({v: parts["hi"].get(v, np.inf) for v in names}, check_finite=False)
    if np.isnan(lower).any() or np.isnan(upper).any():
        raise InputError("bounds contain NaN; use None (or +-inf) for no bound")
    if (lower > upper).any():
        raise InputError("bounds: a lower bound is above its upper bound")
    return lower, upper


def _with_bounds(method: str, opts: np.ndarray, box) -> np.ndarray:
    from ..solvers import BOUNDED_METHODS

    if method not in BOUNDED_METHODS:
        raise InputError(f"method {method!r} does not take bounds; the methods that do are "
                         f"{', '.join(BOUNDED_METHODS)}")
    lower, upper = box
    n = lower.shape[0]
    out = np.empty(abi.N_OPTS + 2 * n)
    out[:abi.N_OPTS] = opts
    out[abi.OPT_BOUNDS] = 1.0
    out[abi.N_OPTS:abi.N_OPTS + n] = lower
    out[abi.N_OPTS + n:] = upper
    return out


def minimize(problem: Problem, x0: Any, method: str | None = None, *,
             data: Mapping[str, Any] | None = None, params: Any = None,
             dims: Mapping[Any, int] | None = None, tol: float | None = None,
             gtol: float | None = None, ftol: float | None = None, xtol: float | None = None,
             max_iter: int | None = None, history: bool = False, bounds: Mapping[str, Any] | None = None,
             **options: Any) -> OptimizeResult:
    """Minimise an array problem with a compiled solver.

    Parameters
    ----------
    problem : Problem
    x0 : mapping or array
        The start: ``{"w": np.zeros(d), "b": 0.0}`` (a number fills an array variable) or
        the flat vector of the variables laid end to end.
    method : str, optional
        ``"newton"``, ``"trust-exact"`` (dense Hessian), ``"trust-ncg"``, ``"newton-cg"``
        (Hessian-vector products), ``"banded-newton"`` (the banded Hessian of a sum over
        shifted/strided slices, :attr:`Problem.band`), ``"sparse-newton"`` (the CSR Hessian
        of such a sum that is not banded, :attr:`Problem.sparse`; banded-newton when it
        is banded), ``"lbfgs"``, ``"bfgs"``, ``"gd"``, ``"momentum"``,
        ``"nesterov"``, ``"adam"``.  Default: :func:`default_method` of the number of
        variables.
    data : mapping of arrays
        The data arrays by name (not copied when float64 and C-contiguous).
    params : mapping, optional
        The parameters' values by name.
    dims : mapping, optional
        Sizes that neither the data nor ``x0`` determine, ``{"n": 1000}``.
    tol, gtol, ftol, xtol, max_iter
        As :func:`symopt.minimize` (``tol`` is ``gtol``).
    history : bool
        Record f and the gradient norm per iteration (``result.history``).
    bounds : mapping, optional
        Box bounds by variable: ``{"w": (0, None), "b": (-1, 1)}``; each end a number, an
        array of the variable's shape, or None (no bound).  Taken by the bounded methods
        of :func:`symopt.minimize` (``"lbfgs"`` is then L-BFGS-B); ``x0`` is clipped into
        the box.
    **options
        Method options of :func:`symopt.minimize` (``memory``, ``radius``, ``step``, ...).
        With ``batch_size`` or ``epochs`` (or ``method="sgd"``): mini-batch SGD/Adam over
        the data rows (:mod:`symopt.tensor.stochastic`; options ``batch_size``, ``epochs``,
        ``seed``, ``step``/``lr``, ``momentum``, ``beta2``, ``eps``, ``validation``,
        ``patience``).

    Returns
    -------
    OptimizeResult
        ``x`` (flat), ``x_dict`` (the variables as named arrays), ``fun``, ``jac``,
        ``nit``, ``nfev``, ``njev``, ``nhev`` (HVPs for the HVP methods), ``status``,
        ``message``, ``success``, ``method``, ``dims``.
    """
    if not isinstance(problem, Problem):
        raise InputError("symopt.tensor.minimize takes a symopt.tensor.Problem")
    if "batch_size" in options or "epochs" in options or (
            isinstance(method, str) and method.lower() == "sgd"):
        return _minibatch(problem, x0, method, data, params, dims,
                          dict(tol=tol, gtol=gtol, ftol=ftol, xtol=xtol, max_iter=max_iter,
                               history=history or None, bounds=bounds), options)
    kernels = compile_kernels(problem)
    binding = kernels.bind(data, params, x0, dims)
    x = binding.x(x0)
    n = x.shape[0]
    if method is None:
        banded, sparse = _structure(problem) if n > DENSE_NEWTON_MAX_N else (False, False)
        method = default_method(n, banded, sparse)
    if not isinstance(method, str) or _ALIASES.get(method.lower(), method.lower()) not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    method = _ALIASES.get(method.lower(), method.lower())
    if method in SPARSE_METHODS and problem.sparse.bandwidth is not None:
        method = "banded-newton"  # a banded Hessian: factored in band storage
    if tol is not None and gtol is None:
        gtol = tol
    opts = _options(method, gtol, ftol, xtol, max_iter, options)
    if method in HVP_METHODS:
        entry = hvp_entry_point(method)
        addresses = (kernels.address("value"), kernels.address("value_grad"), kernels.address("hvp"))
        H = _NO_MATRIX
    elif method in BAND_METHODS:
        band = problem.band  # ProblemError when the loss is not separable
        entry = hvp_entry_point(method)
        addresses = (kernels.address("value"), kernels.address("value_grad"),
                     kernels.address("hess_band"))
        H = np.empty((n, band.bandwidth + 1))
    elif method in SPARSE_METHODS:
        pattern = kernels.sparse_pattern(binding)
        entry = hvp_entry_point(method)
        addresses = (kernels.address("value"), kernels.address("value_grad"),
                     kernels.address("hess_coo"))
        H = _sparse_storage(pattern)
    else:
        entry = entry_point(method)
        third = kernels.address("value_grad_hess") if method in DENSE_HESSIAN_METHODS \
            else no_hessian_address()
        addresses = (kernels.address("value"), kernels.address("value_grad"), third)
        H = np.empty((n, n)) if method in ("newton", "trust-exact", "bfgs") else _NO_MATRIX
    if bounds is not None:
        opts = _with_bounds(method, opts, _bounds(bounds, binding, n))
        np.clip(x, opts[abi.N_OPTS:abi.N_OPTS + n], opts[abi.N_OPTS + n:], out=x)
    steps = int(opts[abi.OPT_MAX_ITER])
    hist = np.empty((steps + 1, 2)) if history else _NO_MATRIX
    info = np.zeros(abi.N_INFO, dtype=np.int64)
    g = np.empty(n)
    fun = entry(*addresses, x, binding.p, binding.table, opts, info, hist, g, H)
    counts = info.tolist()
    code = counts[abi.INFO_STATUS]
    name, message, success = _status.TABLE[code]
    res = OptimizeResult(x=x, fun=float(fun), jac=g, nit=counts[abi.INFO_NIT],
                         nfev=counts[abi.INFO_NFEV], njev=counts[abi.INFO_NJEV],
                         nhev=counts[abi.INFO_NHEV], status=code, message=message,
                         success=success, method=method)
    res["x_dict"] = binding.split(x)
    res["dims"] = {d.name: v for d, v in binding.dims.items()}
    if method in ("newton", "trust-exact"):
        res["hess"] = H
    elif method == "bfgs":
        res["hess_inv"] = H
    elif method in BAND_METHODS:
        res["hess_band"] = H
    elif method in SPARSE_METHODS:
        res["hess"] = _csr(H[0, :pattern.nnz].copy(), pattern)
    if history:
        rows = counts[abi.INFO_NHIST]
        res["history"] = {"f": hist[:rows, 0].copy(), "gnorm": hist[:rows, 1].copy()}
    return res
