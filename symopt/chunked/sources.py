"""Chunk sources: data rows in chunks, read in a fixed order, behind one small interface.

A :class:`ChunkSource` knows its *fields* (name -> dtype and the shape of one row: a
column is ``()``, a matrix of k columns ``(k,)``) and, where it can tell without reading
the data, the number of rows of every chunk.  Iterating it yields :class:`Chunk` s in a
fixed order; each holds arrays whose first axis is the chunk's rows.  Nothing here knows
about problems or kernels: :mod:`symopt.chunked.model` turns a chunk into what a kernel
reads.

The sources:

============================ ====================================================
:class:`ArrayChunks`         arrays in memory or NumPy memory maps, split by rows
                             (``np.load(path, mmap_mode="r")``); a memory map is
                             read so that resident memory stays at about a chunk
:class:`FileChunks`          a list of ``.npy`` / ``.npz`` files, one chunk each
:class:`FactoryChunks`       a function returning an iterable of chunks (dicts of
                             arrays or DataFrames): a generator, a database cursor
:class:`ParquetChunks`       Parquet files, one chunk per row group (pyarrow)
:class:`DaskChunks`          a Dask array, a dict of Dask arrays or a Dask
                             DataFrame, one chunk per block / partition
============================ ====================================================

:func:`as_source` picks one for whatever ``data=`` is.
"""

from __future__ import annotations

import abc
import itertools
import math
import mmap
import os
import queue
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, MissingDependencyError, ShapeError

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "MATRIX",
    "ArrayChunks",
    "Chunk",
    "ChunkError",
    "ChunkSource",
    "DaskChunks",
    "FactoryChunks",
    "Field",
    "FileChunks",
    "ParquetChunks",
    "as_source",
]

#: The field name of a bare 2-D array of shape (rows, columns), whose columns are a
#: problem's data columns in order (as ``symopt.minimize`` reads a 2-D ``data=``).
MATRIX = "<matrix>"

#: Rows per chunk of a memory map read through the mapping ("madvise", "map") or with
#: "pread" when none is given: about this many bytes of data per chunk.
DEFAULT_CHUNK_BYTES = 64 * 2**20


class ChunkError(InputError):
    """Data that cannot be used: a chunk with a missing or unknown column, a wrong dtype,
    mismatched lengths or a value that is not finite.  ``chunk`` is the chunk's index,
    ``column`` and ``row`` (within the chunk) name the place when known."""

    def __init__(self, message: str, chunk: int | None = None, column: str | None = None,
                 row: int | None = None):
        super().__init__(message)
        self.chunk = chunk
        self.column = column
        self.row = row


@dataclass(frozen=True)
class Field:
    """One field of a source: its dtype and the shape of one row (``()`` for a column)."""

    dtype: np.dtype
    tail: tuple[int, ...] = ()


@dataclass
class Chunk:
    """Rows ``start:start + rows`` of the data (``start`` is ``None`` when unknown):
    ``arrays[name]`` has shape ``(rows, *field.tail)``."""

    index: int
    arrays: dict[str, np.ndarray]
    rows: int
    start: int | None = None
    label: str = ""
    release: Callable[[], None] | None = field(default=None, repr=False)

    def describe(self) -> str:
        where = f" ({self.label})" if self.label else ""
        if self.start is not None and self.rows:
            where = f" (rows {self.start}..{self.start + self.rows - 1}{', ' + self.label if self.label else ''})"
        return f"chunk {self.index}{where}"

    def done(self) -> None:
        """The chunk will not be read again in this pass: give back its memory."""
        if self.release is not None:
            self.release()


def _numeric(dtype: np.dtype) -> bool:
    return dtype.kind in "fiub"


def _field_of(array: np.ndarray) -> Field:
    return Field(np.dtype(array.dtype), tuple(array.shape[1:]))


def _arrays_of(data: Any, where: str) -> dict[str, np.ndarray]:
    """The named arrays of one chunk given as a dict of arrays, a DataFrame, a structured
    array or a bare 2-D array (the :data:`MATRIX` field)."""
    if isinstance(data, np.ndarray):
        if data.dtype.names:
            return {name: data[name] for name in data.dtype.names}
        if data.ndim != 2:
            raise ChunkError(f"{where}: a chunk given as one array must be 2-D (rows, columns), "
                             f"got shape {data.shape}")
        return {MATRIX: data}
    if hasattr(data, "columns") and hasattr(data, "dtypes"):  # a pandas DataFrame
        out = {}
        for name in data.columns:
            column = data[name]
            try:
                out[str(name)] = column.to_numpy()
            except (TypeError, ValueError):  # pragma: no cover - pandas extension types
                out[str(name)] = np.asarray(column)
        return out
    if isinstance(data, Mapping):
        out = {}
        for name, values in data.items():
            array = values if isinstance(values, np.ndarray) else np.asarray(values)
            if array.ndim == 0:
                raise ChunkError(f"{where}: column {str(name)!r} is a scalar, not an array of rows",
                                 column=str(name))
            out[str(name)] = array
        return out
    raise ChunkError(f"{where}: a chunk must be a dict of arrays, a DataFrame, a structured "
                     f"array or a 2-D array, got {type(data).__name__}")


def check_arrays(arrays: Mapping[str, np.ndarray], where: str, index: int | None = None) -> int:
    """The common number of rows of ``arrays``; a :class:`ChunkError` naming the column
    when a dtype is not numeric or the lengths differ."""
    rows = None
    for name, a in arrays.items():
        if not _numeric(a.dtype):
            raise ChunkError(f"{where}: column {name!r} has dtype {a.dtype}, which is not numeric",
                             index, name)
        if a.ndim == 0:
            raise ChunkError(f"{where}: column {name!r} is a scalar", index, name)
        if rows is None:
            rows = a.shape[0]
        elif a.shape[0] != rows:
            lengths = {n: int(v.shape[0]) for n, v in arrays.items()}
            raise ChunkError(f"{where}: columns have different lengths {lengths}", index, name)
    return 0 if rows is None else int(rows)


def merge_fields(known: dict[str, Field], arrays: Mapping[str, np.ndarray], where: str,
                 index: int | None) -> None:
    """Check that a chunk's arrays have the fields already ``known`` (and add them if
    none are): the same names, dtypes that convert alike, the same row shapes."""
    fields = {name: _field_of(a) for name, a in arrays.items()}
    if not known:
        known.update(fields)
        return
    missing = sorted(set(known) - set(fields))
    extra = sorted(set(fields) - set(known))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"has the unexpected {', '.join(map(repr, extra))}")
        column = (missing or extra)[0]
        raise ChunkError(f"{where} {' and '.join(parts)} (the first chunk has "
                         f"{', '.join(map(repr, known))})", index, column)
    for name, f in fields.items():
        k = known[name]
        if f.tail != k.tail:
            raise ChunkError(f"{where}: column {name!r} has rows of shape {f.tail}, the first "
                             f"chunk {k.tail}", index, name)
        if f.dtype != k.dtype and not (_numeric(f.dtype) and _numeric(k.dtype)):
            raise ChunkError(f"{where}: column {name!r} has dtype {f.dtype}, the first chunk "
                             f"{k.dtype}", index, name)


class ChunkSource(abc.ABC):
    """Chunks of data rows, read in a fixed order.

    Attributes
    ----------
    fields : dict of name -> Field
        The schema: every chunk has these arrays (empty until known for a factory).
    chunk_rows : tuple of int or None
        Rows of each chunk, when known without reading the data (else ``None`` until a
        first pass has read them: see :meth:`note_rows`).
    resident : bool
        The chunks are arrays in memory: a chunk costs nothing to read again, and what
        is made from it may be kept between passes.
    """

    fields: dict[str, Field]
    chunk_rows: tuple[int, ...] | None = None
    resident: bool = False
    #: the chunks can be read in any order (:meth:`chunk`)
    random_access: bool = True

    @property
    def n_chunks(self) -> int | None:
        return None if self.chunk_rows is None else len(self.chunk_rows)

    @property
    def rows(self) -> int | None:
        """Total rows, when known."""
        return None if self.chunk_rows is None else int(sum(self.chunk_rows))

    def __iter__(self) -> Iterator[Chunk]:
        for i in range(self.n_chunks):
            yield self.chunk(i)

    def passes(self) -> Iterator[Chunk]:
        """The chunks of one evaluation pass, in the order cheapest to read (ascending
        unless the source says otherwise: results never depend on it)."""
        return iter(self)

    def release(self) -> None:
        """Give back memory kept between passes (a memory map's resident pages)."""

    @abc.abstractmethod
    def chunk(self, i: int) -> Chunk:
        """Chunk ``i`` (every source defines it)."""

    def sample(self, rows: int = 8) -> Chunk:
        """Up to ``rows`` rows of the first chunk that has any, as a chunk of copies (to
        learn sizes and check a formula before a solve)."""
        for chunk in self:
            try:
                if chunk.rows:
                    arrays = {k: np.array(a[:rows]) for k, a in chunk.arrays.items()}
                    return Chunk(chunk.index, arrays, min(rows, chunk.rows), chunk.start,
                                 chunk.label)
            finally:
                chunk.done()
        raise InputError("the dataset is empty (0 rows)")

    def note_rows(self, rows: Sequence[int]) -> None:
        """The row counts a complete pass has read (sources that could not tell before)."""
        if self.chunk_rows is None:
            self.chunk_rows = tuple(int(r) for r in rows)
        elif tuple(rows) != tuple(self.chunk_rows):
            raise ChunkError(
                f"the data changed between passes: {len(rows)} chunks of {sum(rows)} rows "
                f"now, {len(self.chunk_rows)} chunks of {sum(self.chunk_rows)} rows before; a "
                "chunk factory must yield the same chunks every time it is called")

    @property
    def nbytes(self) -> int | None:
        """Bytes of data, when known."""
        rows = self.rows
        if rows is None or not self.fields:
            return None
        return rows * sum(f.dtype.itemsize * int(np.prod(f.tail)) for f in self.fields.values())

    def describe(self) -> str:
        n = self.n_chunks
        rows = self.rows
        what = type(self).__name__
        if n is None:
            return f"{what} (chunks not counted yet)"
        return f"{what}: {n} chunk{'s' if n != 1 else ''}, {rows:,} rows"

    def __repr__(self) -> str:
        return f"<symopt.chunked.{self.describe()}>"


# --------------------------------------------------------------------------------------
# Arrays in memory and memory maps
# --------------------------------------------------------------------------------------

def _row_bytes(fields: Mapping[str, Field]) -> int:
    return max(1, sum(f.dtype.itemsize * int(np.prod(f.tail)) for f in fields.values()))


def _splits(rows: int, chunk_rows: int | None, n_chunks: int | None, row_bytes: int,
            default_one: bool) -> list[int]:
    """Chunk boundaries ``[0, ..., rows]``."""
    if chunk_rows is not None and n_chunks is not None:
        raise InputError("give chunk_rows or n_chunks, not both")
    if n_chunks is not None:
        if isinstance(n_chunks, bool) or not isinstance(n_chunks, (int, np.integer)) or n_chunks < 1:
            raise InputError(f"n_chunks must be a positive integer, got {n_chunks!r}")
        return [(k * rows) // n_chunks for k in range(n_chunks + 1)]
    if chunk_rows is None:
        if default_one:
            return [0, rows]
        chunk_rows = max(1, DEFAULT_CHUNK_BYTES // row_bytes)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
        raise InputError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    bounds = list(range(0, rows, int(chunk_rows))) + [rows]
    return bounds if rows else [0, 0]


def _memory_map_of(a: np.ndarray) -> np.memmap | None:
    """The read-only ``np.memmap`` that ``a`` views (the one made over the ``mmap``
    object itself, whose ``offset`` is where its first element lies in the file), if any."""
    base = a
    while base is not None:
        if isinstance(base, np.memmap) and isinstance(base.base, mmap.mmap):
            return base if getattr(base, "mode", None) == "r" else None
        base = getattr(base, "base", None)
    return None


_PAGE = mmap.PAGESIZE
_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)
_libc = None


def _madvise_dontneed(address: int, length: int) -> None:
    """Drop the pages of ``[address, address + length)`` (whole pages inside it) from this
    process: they stay in the page cache, but stop counting in its resident memory."""
    global _libc
    start = -(-address // _PAGE) * _PAGE
    stop = ((address + length) // _PAGE) * _PAGE
    if stop <= start:
        return
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    _libc.madvise(start, stop - start, _MADV_DONTNEED)


#: how the rows of a memory map are read: "prefetch" copies each chunk from the file
#: (``pread``) on a reader thread, into a few small buffers that are reused, while the
#: kernels work on the chunk before; "madvise" reads them through the mapping and drops
#: older chunks' pages from the process (``madvise(MADV_DONTNEED)``); "pread" copies
#: each chunk into one reused buffer, on the evaluating thread; "map" leaves the mapping
#: alone (every page read stays resident, up to the whole file)
MEMORY_MAP_READS = ("prefetch", "madvise", "pread", "map")
#: "prefetch": bytes per chunk when none is given (small: the buffer a chunk is copied
#: into is still in the CPU's cache when the kernels read it), and buffers in the ring
PREFETCH_CHUNK_BYTES = 4 * 2**20
PREFETCH_BUFFERS = 4


class ArrayChunks(ChunkSource):
    """Arrays that share their first axis (the rows), split into chunks of rows.

    Parameters
    ----------
    data : dict of arrays, 2-D array, structured array or DataFrame
        In memory or memory-mapped (``np.load(path, mmap_mode="r")``).  A 2-D array of
        shape (rows, columns) is one :data:`MATRIX` field.
    chunk_rows, n_chunks : int, optional
        Rows per chunk, or the number of (nearly equal) chunks.  Default: one chunk for
        arrays in memory; chunks of about 64 MB for memory maps.
    splits : sequence of int, optional
        The chunk boundaries themselves, ``[0, ..., rows]`` (uneven chunks, empty ones).
    read : {"prefetch", "madvise", "pread", "map"}
        How a memory map is read (:data:`MEMORY_MAP_READS`); default "madvise" (where
        the system has ``madvise``, else "pread"), in chunks of about 64 MB ("prefetch":
        about 4 MB) unless ``chunk_rows``/``n_chunks``/``splits`` say otherwise.
    keep : float
        With ``read="madvise"``: the fraction of the mapped data whose pages stay
        resident between passes (default 1/8).  Passes go alternately forwards and
        backwards, so a pass starts with the chunks the last one ended with, still
        mapped; older chunks' pages are dropped.
    """

    def __init__(self, data: Any, chunk_rows: int | None = None, n_chunks: int | None = None,
                 *, splits: Sequence[int] | None = None, read: str | None = None,
                 keep: float = 0.125):
        arrays = _arrays_of(data, "data")
        rows = check_arrays(arrays, "data")
        self.arrays = arrays
        self.fields = {name: _field_of(a) for name, a in arrays.items()}
        self.maps = {name: _memory_map_of(a) for name, a in arrays.items()}
        mapped = any(m is not None for m in self.maps.values())
        self.resident = not mapped
        if splits is not None:
            if chunk_rows is not None or n_chunks is not None:
                raise InputError("give splits, chunk_rows or n_chunks, not several")
            splits = [int(b) for b in splits]
            if not splits or splits[0] != 0 or splits[-1] != rows or \
                    any(b > c for b, c in itertools.pairwise(splits)):
                raise InputError(f"splits must rise from 0 to the {rows} rows, got {splits}")
            self.splits = splits
        if read is None:  # the fastest on an idle machine (docs/large-data.md, Performance)
            read = "madvise" if _MADV_DONTNEED is not None else "pread"
        if read not in MEMORY_MAP_READS:
            raise InputError(f"read must be one of {', '.join(map(repr, MEMORY_MAP_READS))}, got {read!r}")
        if read == "madvise" and _MADV_DONTNEED is None:
            raise InputError("read='madvise' needs madvise(MADV_DONTNEED), which this system lacks")
        if read in ("prefetch", "pread") and not hasattr(os, "preadv"):
            raise InputError(f"read={read!r} needs os.preadv, which this system lacks")
        self.read = read if mapped else "map"
        if splits is None:
            row_bytes = _row_bytes(self.fields)
            if self.read == "prefetch" and chunk_rows is None and n_chunks is None:
                chunk_rows = max(1, PREFETCH_CHUNK_BYTES // row_bytes)
            self.splits = _splits(rows, chunk_rows, n_chunks, row_bytes, default_one=not mapped)
        self.chunk_rows = tuple(b - a for a, b in itertools.pairwise(self.splits))
        self._buffers: dict[str, np.ndarray] = {}
        self._files: dict[str, int] = {}
        self._lock = threading.Lock()
        if not (isinstance(keep, (int, float)) and 0.0 <= keep <= 1.0):
            raise InputError(f"keep must be a fraction from 0 to 1, got {keep!r}")
        mapped_bytes = sum(a.nbytes for name, a in arrays.items() if self.maps[name] is not None)
        self.keep_bytes = int(keep * mapped_bytes)
        self._resident: list[tuple[int, dict[str, np.ndarray]]] = []  # oldest first
        self._resident_bytes = 0
        self._backwards = False

    def chunk(self, i: int) -> Chunk:
        lo, hi = self.splits[i], self.splits[i + 1]
        if self.read in ("pread", "prefetch"):
            arrays = {name: self._pread(name, a, lo, hi, self._buffers) for name, a in self.arrays.items()}
            return Chunk(i, arrays, hi - lo, lo)
        arrays = {name: a[lo:hi] for name, a in self.arrays.items()}
        release = None
        if self.read == "madvise":
            release = lambda: self._used(i, arrays)
        return Chunk(i, arrays, hi - lo, lo, release=release)

    def passes(self) -> Iterator[Chunk]:
        if self.read == "prefetch":
            return self._prefetched()
        if self.read != "madvise":
            return iter(self)
        order = range(self.n_chunks - 1, -1, -1) if self._backwards else range(self.n_chunks)
        self._backwards = not self._backwards
        return (self.chunk(i) for i in order)

    def _prefetched(self) -> Iterator[Chunk]:
        """The chunks in order, each copied from the file by a reader thread into one of
        :data:`PREFETCH_BUFFERS` buffer sets while the chunk before is evaluated (the copy
        releases the GIL).  A chunk's buffers go back to the reader when it is done."""
        free: queue.Queue = queue.Queue()
        ready: queue.Queue = queue.Queue()
        for _ in range(PREFETCH_BUFFERS):
            free.put({})
        stop = threading.Event()

        def reader() -> None:
            for i in range(self.n_chunks):
                buffers = None
                while buffers is None:
                    if stop.is_set():
                        return
                    try:
                        buffers = free.get(timeout=0.05)
                    except queue.Empty:
                        pass
                lo, hi = self.splits[i], self.splits[i + 1]
                try:
                    arrays = {name: self._pread(name, a, lo, hi, buffers)
                              for name, a in self.arrays.items()}
                except BaseException as exc:  # noqa: BLE001 - handed to the evaluating thread
                    ready.put((i, exc, None))
                    return
                ready.put((i, arrays, buffers))

        thread = threading.Thread(target=reader, name="symopt-prefetch", daemon=True)
        thread.start()
        try:
            for _ in range(self.n_chunks):
                i, arrays, buffers = ready.get()
                if isinstance(arrays, BaseException):
                    raise arrays
                lo, hi = self.splits[i], self.splits[i + 1]
                yield Chunk(i, arrays, hi - lo, lo, release=lambda b=buffers: free.put(b))
        finally:
            stop.set()
            thread.join()

    def _used(self, index: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Chunk ``index`` was read: keep its pages while the resident chunks fit in
        ``keep_bytes``, dropping the oldest others."""
        self._resident = [(i, a) for i, a in self._resident if i != index]
        self._resident.append((index, arrays))
        self._resident_bytes = sum(self._mapped_bytes(a) for _, a in self._resident)
        while self._resident and self._resident_bytes > self.keep_bytes:
            _, oldest = self._resident.pop(0)
            self._resident_bytes -= self._mapped_bytes(oldest)
            self._drop(oldest)

    def _mapped_bytes(self, arrays: Mapping[str, np.ndarray]) -> int:
        return sum(a.nbytes for name, a in arrays.items() if self.maps[name] is not None)

    def release(self) -> None:
        for _, arrays in self._resident:
            self._drop(arrays)
        self._resident, self._resident_bytes = [], 0

    def _drop(self, arrays: Mapping[str, np.ndarray]) -> None:
        for name, a in arrays.items():
            if self.maps[name] is not None and a.size and a.flags.c_contiguous:
                _madvise_dontneed(a.ctypes.data, a.nbytes)

    def _pread(self, name: str, a: np.ndarray, lo: int, hi: int,
               buffers: dict[str, np.ndarray]) -> np.ndarray:
        """Rows ``lo:hi`` of ``a`` copied from its file into ``buffers[name]`` (made, or
        grown, as needed)."""
        whole = self.maps[name]
        if whole is None or not a.flags.c_contiguous:
            return a[lo:hi]
        view = a[lo:hi]
        if not view.size:
            return view
        with self._lock:  # the prefetching reader and the evaluating thread
            fd = self._files.get(name)
            if fd is None:
                fd = self._files[name] = os.open(whole.filename, os.O_RDONLY)
        # where row lo of ``a`` lies in the file
        base_address = np.asarray(whole).__array_interface__["data"][0]
        offset = whole.offset + (view.__array_interface__["data"][0] - base_address)
        buffer = buffers.get(name)
        if buffer is None or buffer.nbytes < view.nbytes:
            buffer = buffers[name] = np.empty(view.nbytes, np.uint8)
        target = buffer[:view.nbytes]
        done = 0
        while done < view.nbytes:
            got = os.preadv(fd, [memoryview(target[done:])], offset + done)
            if got <= 0:
                raise ChunkError(f"reading rows {lo}..{hi - 1} of {whole.filename}: the file "
                                 "ended early", column=name)
            done += got
        return target.view(a.dtype).reshape(view.shape)

    def __del__(self):
        for fd in getattr(self, "_files", {}).values():
            try:
                os.close(fd)
            except OSError:  # pragma: no cover
                pass


# --------------------------------------------------------------------------------------
# Files: .npy / .npz, one chunk each
# --------------------------------------------------------------------------------------

def _npy_header(handle) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle)
    return np.lib.format.read_array_header_2_0(handle)


def _file_fields(path: Path) -> tuple[dict[str, Field], int]:
    """The fields and rows of one .npy / .npz file, from the headers only."""
    try:
        if path.suffix == ".npz":
            fields: dict[str, Field] = {}
            rows = None
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    if not member.endswith(".npy"):
                        continue
                    with archive.open(member) as handle:
                        shape, _, dtype = _npy_header(handle)
                    name = member[:-4]
                    if len(shape) == 0:
                        raise ChunkError(f"{path}: array {name!r} is a scalar", column=name)
                    if rows is not None and shape[0] != rows:
                        raise ChunkError(f"{path}: arrays have different lengths "
                                         f"({name!r} has {shape[0]} rows, others {rows})", column=name)
                    rows = shape[0]
                    fields[name] = Field(np.dtype(dtype), tuple(shape[1:]))
            return fields, rows or 0
        with open(path, "rb") as handle:
            shape, _, dtype = _npy_header(handle)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        if isinstance(exc, ChunkError):
            raise
        raise ChunkError(f"cannot read {path}: {exc}") from None
    dtype = np.dtype(dtype)
    if dtype.names:
        return {name: Field(dtype.fields[name][0]) for name in dtype.names}, shape[0]
    if len(shape) != 2:
        raise ChunkError(f"{path}: an .npy chunk must be 2-D (rows, columns) or a structured "
                         f"array, got shape {shape}")
    return {MATRIX: Field(dtype, (shape[1],))}, shape[0]


class FileChunks(ChunkSource):
    """A list of ``.npy`` / ``.npz`` files, one chunk each, read one at a time.

    An ``.npy`` file holds a 2-D array (rows, columns: the :data:`MATRIX` field) or a
    structured array (one field per column); an ``.npz`` file holds named arrays of equal
    length.  The schema and row counts come from the files' headers, before any data is
    read; every file must have the same fields.
    """

    def __init__(self, paths: Iterable[str | os.PathLike]):
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise InputError("the list of chunk files is empty")
        fields: dict[str, Field] = {}
        rows = []
        for i, path in enumerate(self.paths):
            if path.suffix not in (".npy", ".npz"):
                raise ChunkError(f"chunk {i} ({path}): chunk files must be .npy or .npz", i)
            if not path.is_file():
                raise ChunkError(f"chunk {i} ({path}): no such file", i)
            try:
                found, r = _file_fields(path)
            except ChunkError as exc:
                raise ChunkError(f"chunk {i}: {exc}", i, exc.column) from None
            merge_fields(fields, {name: np.empty((0, *f.tail), f.dtype) for name, f in found.items()},
                         f"chunk {i} ({path.name})", i)
            rows.append(r)
        self.fields = fields
        self.chunk_rows = tuple(rows)

    def chunk(self, i: int) -> Chunk:
        path = self.paths[i]
        try:
            loaded = np.load(path, allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                with loaded:
                    arrays = {name: loaded[name] for name in loaded.files}
            else:
                arrays = _arrays_of(loaded, path.name)
        except (OSError, ValueError) as exc:
            raise ChunkError(f"chunk {i} ({path}): cannot read it: {exc}", i) from None
        return Chunk(i, arrays, self.chunk_rows[i], None, label=path.name)


# --------------------------------------------------------------------------------------
# A factory of chunks
# --------------------------------------------------------------------------------------

class FactoryChunks(ChunkSource):
    """Chunks from a function: ``factory()`` returns a new iterable of chunks (dicts of
    arrays, DataFrames, structured or 2-D arrays) every time it is called, the same
    chunks in the same order.  Row counts are known after the first complete pass."""

    random_access = False

    def __init__(self, factory: Callable[[], Iterable[Any]]):
        if not callable(factory):
            raise InputError("a chunk factory must be a function returning an iterable of chunks")
        self.factory = factory
        self.fields = {}
        self.chunk_rows = None

    def first(self) -> Chunk:
        """The first chunk (to learn the schema before a solve)."""
        for chunk in self:
            return chunk
        raise InputError("the chunk factory yielded no chunks")

    def __iter__(self) -> Iterator[Chunk]:
        try:
            iterable = self.factory()
            iterator = iter(iterable)
        except Exception as exc:
            raise ChunkError(f"calling the chunk factory failed: {type(exc).__name__}: {exc}") from exc
        start = 0
        i = 0
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                return
            except ChunkError:
                raise
            except Exception as exc:
                raise ChunkError(f"chunk {i}: the chunk factory raised {type(exc).__name__}: {exc}",
                                 i) from exc
            arrays = _arrays_of(item, f"chunk {i}")
            rows = check_arrays(arrays, f"chunk {i}", i)
            merge_fields(self.fields, arrays, f"chunk {i}", i)
            yield Chunk(i, arrays, rows, start)
            start += rows
            i += 1

    def chunk(self, i: int) -> Chunk:
        for chunk in self:
            if chunk.index == i:
                return chunk
        raise IndexError(i)


# --------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------

def _pyarrow_parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError(
            "Parquet data needs pyarrow: pip install pyarrow") from None
    return pq


class ParquetChunks(ChunkSource):
    """Parquet files (a path, a folder of ``*.parquet`` files or a list), one chunk per row
    group, read with pyarrow; ``columns`` limits what is read.  Schema and row counts
    come from the files' metadata."""

    def __init__(self, paths: str | os.PathLike | Sequence[str | os.PathLike],
                 columns: Sequence[str] | None = None):
        pq = _pyarrow_parquet()
        if isinstance(paths, (str, os.PathLike)):
            root = Path(paths)
            paths = sorted(root.glob("*.parquet")) if root.is_dir() else [root]
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise InputError("no Parquet files found")
        self.columns = None if columns is None else [str(c) for c in columns]
        self.groups: list[tuple[int, int]] = []  # (file, row group)
        rows = []
        fields: dict[str, Field] = {}
        for k, path in enumerate(self.paths):
            try:
                meta = pq.ParquetFile(path)
            except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
                raise ChunkError(f"cannot read {path}: {exc}") from None
            schema = meta.schema_arrow
            found = {}
            for name in schema.names:
                if self.columns is not None and name not in self.columns:
                    continue
                try:
                    dtype = np.dtype(schema.field(name).type.to_pandas_dtype())
                except (NotImplementedError, TypeError):
                    dtype = np.dtype(object)
                found[name] = np.empty(0, dtype)
            if self.columns is not None:
                absent = [c for c in self.columns if c not in found]
                if absent:
                    raise ChunkError(f"{path.name} has no column {absent[0]!r}", column=absent[0])
            for g in range(meta.num_row_groups):
                index = len(self.groups)
                merge_fields(fields, found, f"chunk {index} ({path.name}, row group {g})", index)
                self.groups.append((k, g))
                rows.append(meta.metadata.row_group(g).num_rows)
        self.fields = fields
        self.chunk_rows = tuple(rows)
        self._open: dict[int, Any] = {}

    def chunk(self, i: int) -> Chunk:
        pq = _pyarrow_parquet()
        k, g = self.groups[i]
        handle = self._open.get(k)
        if handle is None:
            handle = self._open[k] = pq.ParquetFile(self.paths[k])
        table = handle.read_row_group(g, columns=self.columns)
        arrays = {}
        for name in table.column_names:
            column = table.column(name)
            if column.null_count:
                raise ChunkError(f"chunk {i} ({self.paths[k].name}, row group {g}): column "
                                 f"{name!r} has {column.null_count} missing values", i, name)
            arrays[name] = column.to_numpy()
        return Chunk(i, arrays, table.num_rows, None,
                     label=f"{self.paths[k].name}, row group {g}")


# --------------------------------------------------------------------------------------
# Dask
# --------------------------------------------------------------------------------------

def is_dask_collection(data: Any) -> bool:
    module = type(data).__module__
    if module.startswith("dask"):
        return True
    if isinstance(data, Mapping) and data:
        return any(type(v).__module__.startswith("dask") for v in data.values())
    return False


class DaskChunks(ChunkSource):
    """A Dask array (rows, columns: the :data:`MATRIX` field), a dict of Dask arrays
    chunked alike along the rows, or a Dask DataFrame: one chunk per block / partition.

    With a ``distributed`` client, :func:`symopt.chunked.minimize` evaluates the chunks
    on the workers where they live (:mod:`symopt.chunked.distributed`); iterated here,
    each block is computed with the current scheduler (the local way).
    """

    def __init__(self, data: Any):
        try:
            import dask  # noqa: F401
        except ImportError:  # pragma: no cover - data cannot be a Dask collection then
            raise MissingDependencyError("Dask data needs dask: pip install 'symopt[dask]'") from None
        self.collection = data
        self.kind, self.blocks, rows, self.fields = self._layout(data)
        self.chunk_rows = rows

    @staticmethod
    def _layout(data: Any):
        import dask.array as da

        if isinstance(data, da.Array):
            if data.ndim != 2:
                raise ShapeError(f"a Dask array of data must be 2-D (rows, columns), got shape {data.shape}")
            if math.isnan(data.shape[0]):
                raise ShapeError("the Dask array's row chunks are unknown: call "
                                 "compute_chunk_sizes() on it first")
            if len(data.chunks[1]) != 1:
                data = data.rechunk({1: -1})
            blocks = [data.blocks[i, 0] for i in range(data.numblocks[0])]
            return "array", blocks, tuple(int(r) for r in data.chunks[0]), \
                {MATRIX: Field(np.dtype(data.dtype), (int(data.shape[1]),))}
        if isinstance(data, Mapping):
            arrays = {str(k): v for k, v in data.items()}
            bad = [k for k, v in arrays.items() if not isinstance(v, da.Array)]
            if bad:
                raise InputError(f"data mixes Dask arrays with other arrays ({bad[0]!r}); "
                                 "give every column as a Dask array")
            first = next(iter(arrays.values()))
            row_chunks = first.chunks[0]
            fields = {}
            for name, a in arrays.items():
                if a.ndim == 0:
                    raise ChunkError(f"column {name!r} is a scalar", column=name)
                if a.shape[0] != first.shape[0]:
                    raise ChunkError(f"columns have different lengths: {name!r} has "
                                     f"{a.shape[0]} rows, others {first.shape[0]}", column=name)
                if a.chunks[0] != row_chunks or any(len(c) != 1 for c in a.chunks[1:]):
                    arrays[name] = a.rechunk((row_chunks,) + tuple(-1 for _ in a.shape[1:]))
                fields[name] = Field(np.dtype(a.dtype), tuple(int(s) for s in a.shape[1:]))
                if not _numeric(fields[name].dtype):
                    raise ChunkError(f"column {name!r} has dtype {a.dtype}, which is not numeric",
                                     column=name)
            blocks = [{name: a.blocks[(i,) + (0,) * (a.ndim - 1)] for name, a in arrays.items()}
                      for i in range(len(row_chunks))]
            return "arrays", blocks, tuple(int(r) for r in row_chunks), fields
        if hasattr(data, "partitions") and hasattr(data, "dtypes"):  # a Dask DataFrame
            fields = {}
            for name, dtype in data.dtypes.items():
                dtype = np.dtype(dtype) if not hasattr(dtype, "numpy_dtype") else dtype.numpy_dtype
                if not _numeric(dtype):
                    raise ChunkError(f"column {str(name)!r} has dtype {dtype}, which is not numeric",
                                     column=str(name))
                fields[str(name)] = Field(dtype)
            blocks = [data.partitions[i] for i in range(data.npartitions)]
            return "dataframe", blocks, None, fields
        raise InputError(f"unsupported Dask data: {type(data).__name__}")

    def sample(self, rows: int = 8) -> Chunk:
        import dask

        for i, block in enumerate(self.blocks):
            if self.chunk_rows is not None and not self.chunk_rows[i]:
                continue
            head = block.head(rows, npartitions=1, compute=False) if self.kind == "dataframe" \
                else ({k: a[:rows] for k, a in block.items()} if isinstance(block, dict) else block[:rows])
            (value,) = dask.compute(head)
            arrays = _arrays_of(value, f"chunk {i}")
            found = check_arrays(arrays, f"chunk {i}", i)
            if found:
                return Chunk(i, arrays, found, 0, label="Dask block")
        raise InputError("the dataset is empty (0 rows)")

    def chunk(self, i: int) -> Chunk:
        import dask

        (value,) = dask.compute(self.blocks[i])
        arrays = _arrays_of(value, f"chunk {i}")
        rows = check_arrays(arrays, f"chunk {i}", i)
        return Chunk(i, arrays, rows, None, label="Dask block")

    def __iter__(self) -> Iterator[Chunk]:
        n = len(self.blocks)
        rows = []
        for i in range(n):
            chunk = self.chunk(i)
            rows.append(chunk.rows)
            yield chunk
        if self.chunk_rows is None:
            self.note_rows(rows)

    @property
    def n_chunks(self) -> int:
        return len(self.blocks)


# --------------------------------------------------------------------------------------

def as_source(data: Any, chunk_rows: int | None = None, n_chunks: int | None = None) -> ChunkSource:
    """The chunk source for ``data``:

    - a :class:`ChunkSource`: itself;
    - a dict of arrays, a 2-D or structured array, a DataFrame, a memory map: an
      :class:`ArrayChunks` (``chunk_rows`` / ``n_chunks`` split it);
    - a path to an ``.npy`` file: memory-mapped, an :class:`ArrayChunks`;
    - a path to a ``.parquet`` file or a folder of them: a :class:`ParquetChunks`;
    - a list of ``.npy`` / ``.npz`` paths: a :class:`FileChunks`;
    - a function: a :class:`FactoryChunks`;
    - a Dask array, dict of Dask arrays or Dask DataFrame: a :class:`DaskChunks`.
    """
    splitting = chunk_rows is not None or n_chunks is not None
    if isinstance(data, ChunkSource):
        if splitting:
            raise InputError("chunk_rows and n_chunks split arrays; this data is already a "
                             f"chunk source ({type(data).__name__})")
        return data
    if data is None:
        raise InputError("this problem reads data: pass data=...")
    if is_dask_collection(data):
        if splitting:
            raise InputError("Dask data is split by its own chunks (rechunk it); chunk_rows "
                             "and n_chunks do not apply")
        return DaskChunks(data)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.suffix == ".npy":
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read {path}: {exc}") from None
            return ArrayChunks(array, chunk_rows, n_chunks)
        if path.suffix == ".parquet" or path.is_dir():
            if splitting:
                raise InputError("Parquet data is split by its row groups; chunk_rows and "
                                 "n_chunks do not apply")
            return ParquetChunks(path)
        raise InputError(f"{path}: give a .npy file (memory-mapped), a .parquet file or folder, "
                         "or a list of .npy/.npz chunk files")
    if isinstance(data, (list, tuple)) and data and all(isinstance(p, (str, os.PathLike)) for p in data):
        if splitting:
            raise InputError("chunk files are one chunk each; chunk_rows and n_chunks do not apply")
        suffixes = {Path(p).suffix for p in data}
        if suffixes == {".parquet"}:
            return ParquetChunks(data)
        return FileChunks(data)
    if callable(data) and not isinstance(data, (np.ndarray, Mapping)):
        if splitting:
            raise InputError("a chunk factory makes its own chunks; chunk_rows and n_chunks "
                             "do not apply")
        return FactoryChunks(data)
    return ArrayChunks(data, chunk_rows, n_chunks)
