"""Chunk sources over arrays in memory and NumPy memory maps, split by rows
(:class:`ArrayChunks`); a memory map is read so that resident memory stays at about a
chunk."""

from __future__ import annotations

import itertools
import mmap
import os
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ._base import (
    Chunk,
    ChunkError,
    ChunkSource,
    _arrays_of,
    _field_of,
    _row_bytes,
    _splits,
    check_arrays,
)


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
