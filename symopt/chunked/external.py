"""Chunk sources over data outside this process's arrays: ``.npy``/``.npz`` files
(:class:`FileChunks`), a function returning chunks (:class:`FactoryChunks`), Parquet row
groups (:class:`ParquetChunks`) and Dask blocks or partitions (:class:`DaskChunks`)."""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, MissingDependencyError, ShapeError
from ._base import (
    MATRIX,
    Chunk,
    ChunkError,
    ChunkSource,
    Field,
    _arrays_of,
    _numeric,
    check_arrays,
    merge_fields,
)

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
