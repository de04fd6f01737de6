"""How the constrained solvers are compiled: with the constrained solver signature,
cached on disk, keyed on the content of their sources.

Numba keys a cached function on its own file's time stamp only; the solvers here are
built from helpers in several files (this package, :mod:`symopt.solvers`), so, as
:mod:`symopt.solvers._jit` does for the unconstrained solvers, a hash of every source
they are built from is kept next to Numba's cache files and a change removes the stale
index files, so that each solver recompiles once.
"""

from __future__ import annotations

import glob
import hashlib
import os

from numba import njit

from ..solvers._jit import OPTIONS, discard_stale_cache
from . import abi


def solver(function):
    """Compile ``function`` now, once, with :data:`symopt.constrained.abi.solver_sig`,
    caching the machine code on disk."""
    return njit(abi.solver_sig, cache=True, **OPTIONS)(function)


def source_files() -> list[str]:
    """Every source file a constrained solver is built from."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    return (sorted(glob.glob(os.path.join(here, "*.py")))
            + sorted(glob.glob(os.path.join(root, "solvers", "*.py")))
            + [os.path.join(root, "abi.py")])


def sources_hash() -> str:
    """A hash of :func:`source_files` (keys the generated entry points too)."""
    digest = hashlib.sha256()
    for path in source_files():
        digest.update(os.path.basename(path).encode())
        with open(path, "rb") as source:
            digest.update(source.read())
    return digest.hexdigest()[:16]


def _discard_stale_cache() -> None:
    try:
        key = sources_hash()
    except OSError:  # a read-only or partial install: nothing was edited in place
        return
    discard_stale_cache(os.path.dirname(os.path.abspath(__file__)), key,
                        "constrained-source.sha256")

_discard_stale_cache()
