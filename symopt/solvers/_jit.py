"""How the solvers are compiled: the Numba options, in one place, and a content key for
their on-disk cache.

Numba keys a cached function on its own source file's time stamp only, so after an edit
to a helper module (``linesearch.py``, say) it would keep loading solvers compiled from
the old helper.  Here the cache is keyed on content instead: a hash of every source file
the solvers are built from is kept next to Numba's cache files, and when it changes the
stale index files are removed so that each solver recompiles once.
"""

from __future__ import annotations

import glob
import hashlib
import inspect
import os
import threading
from dataclasses import dataclass

from numba import njit

from .. import abi
from .._numba_compat import memoize_inline_frontend

# the solvers inline the same helpers at many call sites: build each one's IR once
memoize_inline_frontend()

#: IEEE arithmetic (``error_model="numpy"``): 1/0 is Inf and 0/0 is NaN, which the
#: solvers test for, instead of a ZeroDivisionError escaping to the user.  ``nogil``
#: lets threads run solves side by side.
OPTIONS = {"error_model": "numpy", "nogil": True}

#: Decorator of a helper compiled on its own, without Numba's reference counting
#: (``_nrt=False``, as Numba's own allocation-free library helpers are: with it, every
#: array argument costs an atomic increment and decrement per call) and never called
#: from Python (``no_cpython_wrapper``, which also halves compile times).  A call to it
#: is a real call that passes every array as about ten scalars, which costs more than a
#: small helper's work: the solver loops use :data:`inlined` helpers instead.
helper = njit(_nrt=False, no_cpython_wrapper=True, **OPTIONS)

#: Decorator of the helpers a solver's iteration is built from: compiled into the
#: function that calls them (Numba's ``inline="always"``).  LLVM does not inline Numba
#: functions compiled on their own (their optimised loops are too big by then).  Into a
#: function with reference counting they would bring it along (an increment and a
#: decrement per array they receive), so the solvers call them from an
#: :data:`iteration`, which is faster than separate helpers (docs/performance.md).
inlined = njit(_nrt=False, no_cpython_wrapper=True, inline="always", **OPTIONS)

#: Decorator of a solver's iteration: its loop, with every helper inlined, compiled as
#: one function without reference counting.  It cannot allocate: the solver allocates
#: the work arrays and calls it.
iteration = njit(_nrt=False, no_cpython_wrapper=True, **OPTIONS)


def solver(function):
    """Compile ``function`` now, once, with the solver signature of :mod:`symopt.abi`,
    caching the machine code on disk."""
    return njit(abi.solver_sig, cache=True, **OPTIONS)(function)


#: Suffix of the name under which :func:`compiled_on_first_access` also publishes each
#: solve wrapper as an ``inline="always"`` function, for the generated entry points
#: (:mod:`symopt._binding`): an entry compiled with the wrapper inlined links only the
#: method's iteration, instead of linking a separately compiled solver (whose whole
#: machine code LLVM would optimise and emit a second time: about 1 s per method).
INLINABLE = "_inlinable"


def compiled_on_first_access(namespace: dict, sources: dict, compile_solver=solver):
    """A module ``__getattr__`` that compiles (or loads from Numba's cache) each solver of
    ``sources`` (public name -> Python function) with ``compile_solver`` when it is first
    accessed, not at import, and keeps it in ``namespace`` (the module's globals).

    Each function of ``sources`` is also published at once, uncompiled, as
    ``<name>_inlinable`` (:data:`INLINABLE`): the same wrapper for Numba to inline into
    a caller (the entry points of :mod:`symopt._binding`).

    Thread-safe: one lock per name, so that threads asking for the same solver at once
    compile it once (and two different solvers compile side by side).  Before the
    module's first compilation, its damaged Numba cache files are discarded with a
    :class:`~symopt.errors.CacheWarning` (:func:`symopt.cache.discard_damaged_numba_cache`):
    Numba would otherwise raise from every later compilation of a truncated ``.nbi``/``.nbc``.
    """
    for name, function in sources.items():
        if inspect.isfunction(function):  # a solve given compiled is linked as it is
            namespace[name + INLINABLE] = njit(inline="always", **OPTIONS)(function)
    locks: dict[str, threading.Lock] = {}
    guard = threading.Lock()
    checked: list[bool] = []

    def __getattr__(name):
        function = sources.get(name)
        if function is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        compiled = namespace.get(name)
        if compiled is not None:
            return compiled
        with guard:
            lock = locks.setdefault(name, threading.Lock())
        with lock:
            compiled = namespace.get(name)
            if compiled is None:
                with guard:
                    if not checked:
                        _discard_damaged(namespace)
                        checked.append(True)
                compiled = namespace[name] = compile_solver(function)
        return compiled

    return __getattr__


# --------------------------------------------------------------------------------------
# The solve wrapper of every method, generated from a declaration.
#
# Each method's ``solve`` does the same four things around its iteration: check the
# arrays (``arguments_valid``), allocate the iteration's work arrays, run the iteration,
# and if a hand-written kernel raised, report it (``kernel_raised``).  Only the names
# differ, so the wrapper's source is written here from a :class:`Wrapper` declared next
# to the iteration and executed in the solver module's namespace (a closure would do,
# but Numba's disk cache skips closures' globals; a plain function of the module is
# cached like the module's own).
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wrapper:
    """The declaration of a solve wrapper (:func:`generated_solve`).

    ``iteration``: the name of the module's :data:`iteration` function, called as
    ``iteration([constant,] obj, x, opts, info, hist, g_out, [H_out,] work arrays...)``
    (scalar methods: ``obj`` the :class:`~._common.Objective` of ``value, value_grad,
    value_grad_hess, p, data``, built by the wrapper) or ``iteration(residuals,
    residuals_jacobian, x, p, data, opts, info, hist, r_out, J_out, work arrays...)``
    (``kind="least_squares"``).

    ``work``: the work arrays, in call order, as ``(name, shape, fill)``: ``shape`` a
    tuple of expressions in ``n`` (variables), ``m`` (residuals, least squares) and the
    ``sizes`` names; ``fill`` ``"empty"``, ``"zeros"`` or ``"int"`` (an int64 vector,
    allocated on its own).  The float arrays are C-ordered views of one block.

    ``sizes``: ``(name, expression)`` pairs computed before the allocation (from
    ``opts``, ``n``...).  ``constant``: an expression passed first (the variant of an
    iteration shared by several methods).  ``uses_matrix``/``takes_bounds``: the
    checks of ``arguments_valid`` (``H_out`` is n x n / bounds are read).
    ``after_raise``: a statement run when a kernel raised, before ``kernel_raised``
    (Newton moves the Hessian at x into ``H_out``).  ``catches``: whether the
    iteration runs inside ``try``; the least-squares iterations catch nothing.
    """

    iteration: str
    work: tuple = ()
    kind: str = "scalar"
    sizes: tuple = ()
    constant: str | None = None
    passes_H_out: bool = False
    uses_matrix: bool = False
    takes_bounds: bool = False
    after_raise: str | None = None
    catches: bool = True
    doc: str = ""


_ARGUMENTS = {
    "scalar": "value, value_grad, value_grad_hess, x, p, data, opts, info, hist, g_out, H_out",
    "least_squares": "residuals, residuals_jacobian, x, p, data, opts, info, hist, r_out, J_out",
}


def wrapper_source(name: str, wrapper: Wrapper) -> str:
    """The Python source of the solve wrapper ``name`` declared by ``wrapper``."""
    w = wrapper
    if w.kind not in _ARGUMENTS:
        raise ValueError(f"wrapper kind must be one of {', '.join(_ARGUMENTS)}, got {w.kind!r}")
    lines = [f"def {name}({_ARGUMENTS[w.kind]}):", f"    {w.doc or 'A solve wrapper.'!r}"]
    if w.kind == "scalar":
        check = (f"arguments_valid(x, opts, info, hist, g_out, H_out, {w.uses_matrix}, "
                 f"{w.takes_bounds})")
        kernels = ["obj", "x", "opts", "info", "hist", "g_out"]
        if w.passes_H_out:
            kernels.append("H_out")
    else:
        check = "ls_arguments_valid(x, opts, info, hist, r_out, J_out)"
        kernels = ["residuals", "residuals_jacobian", "x", "p", "data", "opts", "info", "hist",
                   "r_out", "J_out"]
    lines += [f"    if not {check}:", "        return np.nan", "    n = x.shape[0]"]
    if w.kind == "scalar":
        lines.append("    obj = Objective(value, value_grad, value_grad_hess, p, data)")
    if w.kind == "least_squares":
        lines.append("    m = r_out.shape[0]")
    lines += [f"    {size} = {expression}" for size, expression in w.sizes]
    floats = [(a, shape, fill) for a, shape, fill in w.work if fill != "int"]
    sizes = [" * ".join(f"({e})" for e in shape) if shape else "1" for _, shape, _ in floats]
    lines.append(f"    work = np.empty({' + '.join(sizes) or '0'})")
    lines.append("    start = 0")
    for (array, shape, fill), size in zip(floats, sizes):
        lines.append(f"    stop = start + {size}")
        if fill == "zeros":
            lines.append("    work[start:stop] = 0.0")
        elif fill != "empty":
            raise ValueError(f"work array {array!r}: fill must be empty, zeros or int")
        lines.append(f"    {array} = work[start:stop].reshape(({', '.join(shape)},))"
                     if len(shape) == 1 else
                     f"    {array} = work[start:stop].reshape(({', '.join(shape)}))")
        lines.append("    start = stop")
    for array, shape, fill in w.work:
        if fill == "int":
            lines.append(f"    {array} = np.empty(({', '.join(shape)},), dtype=np.int64)")
    arguments = ([w.constant] if w.constant is not None else []) + kernels
    arguments += [array for array, _, _ in w.work]
    call = f"{w.iteration}({', '.join(arguments)})"
    if not w.catches:
        lines.append(f"    return {call}")
        return "\n".join(lines) + "\n"
    lines += ["    try:", f"        return {call}",
              "    except Exception:  # a hand-written kernel raised", "        pass"]
    if w.after_raise:
        lines.append(f"    {w.after_raise}")
    lines.append("    return kernel_raised(obj, x, info)")
    return "\n".join(lines) + "\n"


def generated_solve(namespace: dict, name: str, wrapper: Wrapper):
    """The solve wrapper declared by ``wrapper``, as a Python function called ``name``
    whose globals are those of the solver module ``namespace``: generated
    (:func:`wrapper_source`), compiled under the module's file name (Numba's disk cache
    is found beside the module, and invalidated by :func:`_discard_stale_cache` when any
    solver source changes, this generator included) and executed."""
    import numpy as np

    from ._common import Objective, arguments_valid, kernel_raised
    from ._lsq import _N_WORK, ls_arguments_valid

    scope = dict(namespace)
    # what the wrappers and the declarations' expressions may name besides the module's
    # own globals: the ABI's slots (OPT_..., INFO_...) and the least-squares work rows
    scope.update({name: getattr(abi, name) for name in dir(abi) if name.isupper()})
    scope.update(np=np, Objective=Objective, arguments_valid=arguments_valid,
                 kernel_raised=kernel_raised,
                 ls_arguments_valid=ls_arguments_valid, _N_WORK=_N_WORK)
    source = wrapper_source(name, wrapper)
    exec(compile(source, namespace.get("__file__") or "<symopt solver>", "exec"), scope)
    function = scope[name]
    function.__source__ = source
    return function


def declared_solvers(namespace: dict, wrappers: dict, compile_solver=None):
    """The module ``__getattr__`` of a solver module whose solvers are declared by
    ``wrappers`` (public name -> :class:`Wrapper`): each wrapper generated
    (:func:`generated_solve`, kept in the module as ``_<name>``) and compiled on first
    access (:func:`compiled_on_first_access`)."""
    sources = {}
    for name, wrapper in wrappers.items():
        function = generated_solve(namespace, f"_{name}", wrapper)
        namespace[f"_{name}"] = sources[name] = function
    if compile_solver is None:
        kinds = {wrapper.kind for wrapper in wrappers.values()}
        if kinds == {"least_squares"}:
            from ._lsq import ls_solver as compile_solver
        else:
            compile_solver = solver
    return compiled_on_first_access(namespace, sources, compile_solver)


def _discard_damaged(namespace: dict) -> None:
    """Discard the damaged Numba cache files of the module whose globals are ``namespace``."""
    path = namespace.get("__file__")
    if not path:
        return
    from .. import cache  # here, not at import: the solvers load before the kernel cache

    try:
        cache.discard_damaged_numba_cache(path)
    except OSError:  # an unreadable source or folder: Numba reports what it cannot use
        pass


def discard_stale_cache(folder: str, key: str, stamp_name: str) -> None:
    """Remove Numba's index files in the package ``folder``'s ``__pycache__`` when the
    sources it was compiled from changed (their hash ``key`` differs from the one stamped
    in ``stamp_name`` there), so that solvers edited in place are recompiled."""
    try:
        cache_folder = os.path.join(folder, "__pycache__")
        stamp_path = os.path.join(cache_folder, stamp_name)
        try:
            with open(stamp_path) as stamp:
                if stamp.read() == key:
                    return
        except OSError:
            pass
        for index in glob.glob(os.path.join(cache_folder, "*.nbi")):
            os.remove(index)
        os.makedirs(cache_folder, exist_ok=True)
        temporary = f"{stamp_path}.{os.getpid()}.tmp"
        with open(temporary, "w") as stamp:
            stamp.write(key)
        os.replace(temporary, stamp_path)
    except OSError:
        # a read-only install: its files cannot have been edited in place either
        pass


def _discard_stale_cache() -> None:
    """Remove Numba's index files in ``__pycache__`` if the solver sources changed."""
    here = os.path.dirname(os.path.abspath(__file__))
    sources = sorted(glob.glob(os.path.join(here, "*.py"))) + [os.path.abspath(abi.__file__)]
    digest = hashlib.sha256()
    try:
        for path in sources:
            with open(path, "rb") as source:
                digest.update(source.read())
    except OSError:
        return
    discard_stale_cache(here, digest.hexdigest(), "solvers-source.sha256")

_discard_stale_cache()
