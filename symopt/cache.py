"""Content-addressed on-disk cache of generated kernel modules.

A generated module is stored as ``<cache dir>/symopt_<kind>_<hash>.py`` where the
hash covers the source text, the versions of symopt, Numba, NumPy, llvmlite and Python
and the text of :mod:`symopt._runtime` (whose helpers are compiled into every kernel),
so an upgrade never reuses a stale kernel.  Numba's own cache beside the module is
keyed on the CPU as well (its name and features), so kernels vectorised for one CPU are
never loaded on another.  Files are written atomically (a temporary
file in the same folder, then :func:`os.replace`), so processes compiling the same
problem at once never see half a file.  The module is imported as a real module
(registered in :data:`sys.modules` under its own name before it executes), which lets
Numba's ``cache=True`` store and reload the machine code in ``__pycache__`` beside it:
a second process loads the kernels without compiling them.

The folder is ``$SYMOPT_CACHE_DIR`` when set, else the user cache folder
(``$XDG_CACHE_HOME/symopt`` or ``~/.cache/symopt``).  A corrupt or stale entry is
rewritten, never fatal.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

import numba
import numpy

__all__ = ["cache_dir", "source_hash", "load_source", "clear"]

ENV_VAR = "SYMOPT_CACHE_DIR"
_lock = threading.Lock()


def cache_dir() -> Path:
    """The folder generated kernels are stored in (created when missing)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        path = Path(configured).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "symopt"
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.lru_cache(maxsize=1)
def _runtime_hash() -> str:
    from . import _runtime

    return hashlib.sha256(Path(_runtime.__file__).read_bytes()).hexdigest()[:16]


def _versions() -> str:
    import llvmlite

    from . import __version__

    # the runtime helpers (exp, log1p_unit, softplus_e, ...) are inlined into the kernels'
    # machine code, which Numba caches against the generated file only: a change to them
    # must change the key.  (SVML is not used: symopt's vector math is _runtime's own.)
    runtime = _runtime_hash()
    return (f"symopt={__version__};numba={numba.__version__};llvmlite={llvmlite.__version__};"
            f"numpy={numpy.__version__};python={sys.version};runtime={runtime}")


def source_hash(source: str) -> str:
    """Hex digest keying a generated module: its text plus the toolchain versions."""
    digest = hashlib.sha256()
    digest.update(source.encode())
    digest.update(b"\0")
    digest.update(_versions().encode())
    return digest.hexdigest()[:24]


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def load_source(source: str, kind: str = "k") -> ModuleType:
    """Import ``source`` as a cached module and return it.

    The same text always gives the same module name, so within one process the
    module is imported once, and across processes Numba reuses the machine code it
    cached beside the file.
    """
    key = source_hash(source)
    name = f"symopt_{kind}_{key}"
    module = sys.modules.get(name)
    if module is not None:
        return module
    with _lock:
        module = sys.modules.get(name)
        if module is not None:
            return module
        text = f"# symopt cache key: {key}\n{source}"
        path = cache_dir() / f"{name}.py"
        try:
            current = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            current = None
        if current != text:  # absent, truncated or corrupt: (re)write it
            _write_atomic(path, text)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module


def clear() -> int:
    """Delete every cached kernel module (and Numba's cache of it); return how many."""
    folder = cache_dir()
    count = 0
    for path in folder.glob("symopt_*.py"):
        path.unlink(missing_ok=True)
        count += 1
    pycache = folder / "__pycache__"
    if pycache.is_dir():
        for path in pycache.glob("symopt_*"):
            path.unlink(missing_ok=True)
    return count
