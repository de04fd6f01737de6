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

Safe from many threads: :func:`load_source` hands out a module only once it has
finished executing (a module that is still executing is in :data:`sys.modules`, but
never in this module's table of complete modules), and each module is loaded once,
under its own lock.

Never fatal:

- a corrupt or stale ``.py`` entry is rewritten;
- damaged Numba cache files of a module (a truncated or overwritten ``.nbi`` index or
  ``.nbc`` data file) are found before the module executes, deleted with one
  :class:`~symopt.errors.CacheWarning`, and Numba compiles afresh;
- a folder that cannot be used (read-only, a path that is a file, ``/dev/null``, under
  ``/proc``) is replaced, for the process, by a private temporary folder, with one
  :class:`~symopt.errors.CacheWarning` naming both folders and the reason.  Modules the
  unusable folder already holds (a read-only warm cache) are still served: they and their
  machine code are copied into the private folder.  Only when no temporary folder can be
  made either is a :class:`~symopt.errors.CacheError` raised.

The folder is ``$SYMOPT_CACHE_DIR`` when set, else the user cache folder
(``$XDG_CACHE_HOME/symopt`` or ``~/.cache/symopt``).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib.util
import io
import os
import pickle
import pickletools
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numba
import numpy

from .errors import CacheError, CacheWarning, warn

__all__ = ["cache_dir", "configured_dir", "source_hash", "load_source", "clear",
           "discard_damaged_numba_cache"]

ENV_VAR = "SYMOPT_CACHE_DIR"

# Modules that have finished executing, by name: the only ones ever handed out.
_modules: dict[str, ModuleType] = {}
# One lock per module name (a module compiling does not hold up the loading of another),
# and one for the tables below.
_module_locks: dict[str, threading.Lock] = {}
_table_lock = threading.RLock()


# ---------------------------------------------------------------------------------------
# The folder
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Folders:
    write: Path  # where new modules are written and imported from
    read: Path | None  # an unusable configured folder whose entries are still served


_folders: dict[str, _Folders] = {}  # configured path -> the folders in use


def configured_dir() -> Path:
    """The folder the settings name: ``$SYMOPT_CACHE_DIR``, else ``$XDG_CACHE_HOME/symopt``
    or ``~/.cache/symopt`` (it may not exist or be usable: see :func:`cache_dir`)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symopt"


def cache_dir() -> Path:
    """The folder generated modules are written to: :func:`configured_dir` (created when
    missing), or, when that folder cannot be used, a private temporary folder for this
    process (announced once by a :class:`~symopt.errors.CacheWarning`).

    Raises
    ------
    CacheError
        If neither the configured folder nor a temporary folder can be used.
    """
    return _resolve().write


def _resolve(refresh: bool = False) -> _Folders:
    configured = configured_dir()
    key = str(configured)
    with _table_lock:
        folders = _folders.get(key)
        if folders is None or refresh:
            problem = _unusable(configured)
            if problem is None:
                folders = _Folders(configured, None)
            else:
                folders = _fallback(configured, problem)
            _folders[key] = folders
        return folders


def _unusable(folder: Path) -> str | None:
    """Why new files cannot be written into ``folder`` (created when missing), or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return "it exists and is not a folder"
    except OSError as exc:
        return f"it cannot be created ({exc.strerror or exc})"
    if not folder.is_dir():
        return "it is not a folder"
    try:  # permissions, a read-only file system, a full disk: try it
        fd, probe = tempfile.mkstemp(prefix=".symopt-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"files cannot be written in it ({exc.strerror or exc})"
    return None


_private: list[Path] = []  # the process's private folder, made at most once


def _fallback(configured: Path, problem: str) -> _Folders:
    if not _private:
        try:
            private = Path(tempfile.mkdtemp(prefix="symopt-cache-"))
        except OSError as exc:
            raise CacheError(
                f"the symopt cache folder {str(configured)!r} cannot be used: {problem}; and no "
                f"temporary folder can be made either ({exc}). Set {ENV_VAR} to a writable "
                "folder.") from exc
        _private.append(private)
        atexit.register(shutil.rmtree, private, ignore_errors=True)
    private = _private[0]
    readable = configured.is_dir()
    warn(f"the symopt cache folder {str(configured)!r} cannot be used: {problem}. Compiled "
         f"kernels are kept in {str(private)!r} for this process only"
         f"{' (the modules the folder already holds are still used)' if readable else ''}; "
         f"set {ENV_VAR} to a writable folder to keep them.", CacheWarning)
    return _Folders(private, configured if readable else None)


# ---------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# Numba's cache files of a generated module
# ---------------------------------------------------------------------------------------
#
# Numba (numba/core/caching.py) stores a cached function of module M, defined (first
# decorator) at line L, as "M.<qualname>-L.pyXY<abiflags>.nbi" (an index: a pickled
# version string, then a pickled (source stamp, {key: data file name})) and one
# "M.<qualname>-L.pyXY<abiflags>.<n>.nbc" per compiled signature (one pickle), in the
# module's __pycache__ when it is writable, else in $NUMBA_CACHE_DIR or the user-wide
# cache folder.  tests/test_cache.py checks these names against the files Numba writes.


def _cached_function_bases(module_name: str, source: str) -> list[str]:
    """Numba's file name base of every top-level function of ``source`` (decorated: the
    first decorator's line is the function's first line)."""
    bases = []
    group_start = None
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"
    for number, line in enumerate(source.splitlines(), start=1):
        if line.startswith("@"):
            if group_start is None:
                group_start = number
        elif line.startswith(("def ", "async def ")):
            name = line.split("def ", 1)[1].split("(", 1)[0].strip()
            bases.append(f"{module_name}.{name}-{group_start or number}.{tag}")
            group_start = None
        elif line[:1].isalpha():  # any other statement ends a decorator group
            group_start = None
    return bases


def _numba_cache_folders(py_file: Path) -> list[Path]:
    """Where Numba may keep the machine code of functions defined in ``py_file``."""
    folders = [py_file.parent / "__pycache__"]
    parent = os.path.abspath(py_file.parent)
    subpath = "_".join([os.path.basename(parent), hashlib.sha1(parent.encode()).hexdigest()])
    if numba.config.CACHE_DIR:
        folders.append(Path(numba.config.CACHE_DIR) / subpath)
    try:
        from numba.misc.appdirs import AppDirs

        folders.append(Path(AppDirs(appname="numba", appauthor=False).user_cache_dir) / subpath)
    except Exception:  # pragma: no cover - an older or newer Numba: the others still count
        pass
    return folders


def _pickle_end(data: bytes, start: int) -> int:
    """Offset just past the pickle that starts at ``start``; ValueError if it is damaged.
    Reads the opcodes only: nothing is built, nothing imported."""
    stream = io.BytesIO(data)
    stream.seek(start)
    for opcode, _arg, position in pickletools.genops(stream):
        if opcode.name == "STOP":
            return position + 1
    raise ValueError("no STOP opcode")  # pragma: no cover - genops raises first


def _index_damage(index: Path) -> tuple[str | None, list[Path]]:
    """(what is wrong with the Numba index file ``index`` and its data files or None,
    the data files it names)."""
    try:
        data = index.read_bytes()
    except FileNotFoundError:
        return None, []
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})", []
    try:
        end = _pickle_end(data, 0)
        version = pickle.loads(data[:end])
        if version != numba.__version__:
            return None, []  # another Numba's index: Numba ignores it
        if _pickle_end(data, end) != len(data):
            return "has bytes after its end", []
        _stamp, overloads = pickle.loads(data[end:])
        names = [index.parent / name for name in overloads.values()]
    except Exception as exc:  # any failure to read it is damage
        return f"is damaged ({type(exc).__name__}: {exc})", []
    for path in names:
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            continue  # Numba recompiles a signature whose file is missing
        except OSError as exc:
            return f"names {path.name}, which cannot be read ({exc.strerror or exc})", names
        try:
            if _pickle_end(blob, 0) != len(blob):
                return f"names {path.name}, which has bytes after its end", names
        except Exception as exc:
            return f"names {path.name}, which is damaged ({type(exc).__name__}: {exc})", names
    return None, names


def discard_damaged_numba_cache(py_file: str | os.PathLike, source: str | None = None) -> list[str]:
    """Delete the damaged Numba cache files of the functions defined in ``py_file``
    (whose text is ``source``, read from the file when not given), so that Numba compiles
    them afresh instead of failing to load them; warn once (:class:`CacheWarning`) if any
    were found.  Returns the descriptions of what was discarded.

    Numba itself raises ``EOFError``/``UnpicklingError`` from every later compilation
    when an index (``.nbi``) or data file (``.nbc``) is truncated or overwritten.
    """
    py_file = Path(py_file)
    if source is None:
        source = py_file.read_text(encoding="utf-8")
    module_name = py_file.stem
    found = []
    for folder in _numba_cache_folders(py_file):
        if not folder.is_dir():
            continue
        for base in _cached_function_bases(module_name, source):
            index = folder / f"{base}.nbi"
            problem, data_files = _index_damage(index)
            if problem is None:
                continue
            found.append(f"{index.name} {problem}")
            for path in [index, *data_files]:
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    found[-1] += f"; could not delete {path.name} ({exc.strerror or exc})"
    if found:
        warn(f"damaged Numba cache files of {module_name} were discarded and its functions "
             f"will be compiled again: {'; '.join(found)}", CacheWarning)
    return found


def _copy_numba_cache(module_name: str, source: str, source_folder: Path,
                      target_folder: Path) -> None:
    """Copy the (undamaged) Numba cache files of a module from ``source_folder``'s
    ``__pycache__`` to ``target_folder``'s, so a read-only warm cache still serves its
    machine code (Numba stamps a cache entry with the module text's hash, not its path)."""
    origin = source_folder / "__pycache__"
    if not origin.is_dir():
        return
    target = target_folder / "__pycache__"
    for base in _cached_function_bases(module_name, source):
        index = origin / f"{base}.nbi"
        if not index.is_file():
            continue
        problem, data_files = _index_damage(index)
        if problem is not None:
            continue
        try:
            target.mkdir(exist_ok=True)
            for path in [*data_files, index]:  # the index last: it names the others
                if path.is_file():
                    shutil.copyfile(path, target / path.name)
        except OSError:
            return  # not copied: Numba compiles instead


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


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


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _module_lock(name: str) -> threading.Lock:
    with _table_lock:
        lock = _module_locks.get(name)
        if lock is None:
            lock = _module_locks[name] = threading.Lock()
        return lock


def load_source(source: str, kind: str = "k") -> ModuleType:
    """Import ``source`` as a cached module and return it.

    The same text always gives the same module name, so within one process the
    module is imported once, and across processes Numba reuses the machine code it
    cached beside the file.  Only a module that has finished executing is returned:
    threads asking for a module another thread is executing wait for it.

    Raises
    ------
    CacheError
        If no folder can be written (see :func:`cache_dir`).
    """
    key = source_hash(source)
    name = f"symopt_{kind}_{key}"
    module = _modules.get(name)
    if module is not None:
        return module
    with _module_lock(name):
        module = _modules.get(name)
        if module is not None:
            return module
        text = f"# symopt cache key: {key}\n{source}"
        path = _place(name, text)
        discard_damaged_numba_cache(path, text)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # Numba's cache finds the module here when it reloads
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        _modules[name] = module  # published complete
        return module


def _place(name: str, text: str) -> Path:
    """The path of module ``name`` holding ``text``, written if absent or different."""
    folders = _resolve()
    path = folders.write / f"{name}.py"
    if _read(path) == text:
        return path
    if folders.read is not None and _read(folders.read / f"{name}.py") == text:
        _copy_numba_cache(name, text, folders.read, folders.write)
    try:
        _write_atomic(path, text)  # absent, truncated or corrupt: (re)write it
    except OSError:
        # the folder went away or became unusable since it was checked: decide again
        folders = _resolve(refresh=True)
        path = folders.write / f"{name}.py"
        if folders.read is not None and _read(folders.read / f"{name}.py") == text:
            _copy_numba_cache(name, text, folders.read, folders.write)
        try:
            _write_atomic(path, text)
        except OSError as exc:
            raise CacheError(f"cannot write the generated module {str(path)!r}: {exc}") from exc
    return path


def clear() -> int:
    """Delete every cached kernel module (and Numba's cache of it) of the folder in use;
    return how many modules were deleted.

    Raises
    ------
    CacheError
        If files cannot be deleted (a read-only folder).
    """
    folder = cache_dir()
    count = 0
    try:
        for path in folder.glob("symopt_*.py"):
            path.unlink(missing_ok=True)
            count += 1
        pycache = folder / "__pycache__"
        if pycache.is_dir():
            for path in pycache.glob("symopt_*"):
                path.unlink(missing_ok=True)
    except OSError as exc:
        raise CacheError(f"cannot clear the symopt cache folder {str(folder)!r}: {exc}") from exc
    return count
