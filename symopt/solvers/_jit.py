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
