"""The parts every chunk source shares: :class:`Field` (a name's dtype and row shape),
:class:`Chunk` (the arrays of some rows), the :class:`ChunkSource` interface, and the
checks and row splitting the sources use.  The sources themselves are in
:mod:`symopt.chunked.in_memory` and :mod:`symopt.chunked.external`;
:func:`symopt.chunked.sources.as_source` picks one.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError

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


# Sizes and splits

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
