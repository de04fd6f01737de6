"""Chunk sources: data rows in chunks, read in a fixed order, behind one small interface.

A :class:`ChunkSource` knows its *fields* (name -> dtype and the shape of one row: a
column is ``()``, a matrix of k columns ``(k,)``) and, where it can tell without reading
the data, the number of rows of every chunk.  Iterating it yields :class:`Chunk` s in a
fixed order; each holds arrays whose first axis is the chunk's rows.  Nothing here knows
about problems or kernels: :mod:`symopt.chunked.model` turns a chunk into what a kernel
reads.

The sources (in :mod:`symopt.chunked.in_memory` and :mod:`symopt.chunked.external`;
the shared parts in :mod:`symopt.chunked._base`):

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

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

# the names the rest of the package imports from here
from ._base import (  # noqa: F401
    DEFAULT_CHUNK_BYTES,
    MATRIX,
    Chunk,
    ChunkError,
    ChunkSource,
    Field,
    _arrays_of,
    check_arrays,
    merge_fields,
)
from .external import (  # noqa: F401
    DaskChunks,
    FactoryChunks,
    FileChunks,
    ParquetChunks,
    is_dask_collection,
)
from .in_memory import ArrayChunks

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
