"""What a chunk evaluation needs from a problem: :class:`ChunkModel`.

A model evaluates the problem's compiled kernels on the rows of *one chunk*, as if that
chunk were the whole dataset: ``L_c``, its gradient, its Hessian or a Hessian-vector
product.  The evaluator (:mod:`symopt.chunked.evaluate`) combines the chunks; for that a
model declares how its loss depends on the rows (``reduce``):

``"mean"``  ``L = mean over rows of l(x; row) + R(x)``.  Then ``L = sum_c m_c L_c / m``
            (``m_c`` rows in chunk ``c``, ``m`` in all): the chunk losses weighted by their
            rows; ``R`` needs no special care.
``"sum"``   ``L = sum over rows of l(x; row) + R(x)``.  Then
            ``L = sum_c (L_c - R) + R``, with ``R`` the loss of no rows
            (:meth:`ChunkModel.evaluate_empty`).

The same holds for every derivative (they are linear in ``L``).  So a model is small:
a schema check, the conversion of a chunk into what its kernels read
(:meth:`~ChunkModel.prepare`), the kernel calls, and a look for the bad value when a
chunk's loss is not finite.  :class:`DataLossModel` serves :class:`symopt.DataLoss`;
:class:`ArrayModel` the array formulas of :mod:`symopt.tensor` (issue 12).

Results of a kernel call are written into one flat vector ``out``:

===================== =============================================
kind                   ``out``
===================== =============================================
``"value"``            ``[f]``
``"value_grad"``       ``[f, g_0 .. g_{n-1}]``
``"value_grad_hess"``  ``[f, g (n), H (n*n, row-major)]``
``"hvp"``              ``[(H v)_0 .. (H v)_{n-1}]``
===================== =============================================
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError, ProblemError
from ..problem import CACHE_SLOT
from .sources import MATRIX, Chunk, ChunkError, Field

__all__ = ["KINDS", "ArrayModel", "ChunkModel", "DataLossModel", "model_for", "out_size"]

#: the kinds of evaluation, in the order of their kernel codes (:mod:`._callbacks`)
KINDS = ("value", "value_grad", "value_grad_hess", "hvp")


def out_size(kind: str, n: int) -> int:
    """Length of the flat result vector of ``kind`` for ``n`` variables."""
    return {"value": 1, "value_grad": 1 + n, "value_grad_hess": 1 + n + n * n, "hvp": n}[kind]


def first_non_finite(array: np.ndarray) -> int | None:
    """Index (along the first axis) of the first row of ``array`` holding a NaN or Inf,
    or ``None``; one cheap ``sum`` first, as :mod:`symopt.data` does."""
    if array.dtype.kind != "f" or array.size == 0:
        return None
    with np.errstate(all="ignore"):
        if np.isfinite(array.sum()):
            return None
    bad = ~np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1)
    rows = np.flatnonzero(bad)
    return int(rows[0]) if rows.size else None


class ChunkModel(abc.ABC):
    """The interface between a problem's kernels and chunked data (see the module).

    Attributes
    ----------
    n : int
        Number of variables (``x`` is flat).
    variable_names : tuple of str
    reduce : {"mean", "sum"}
    kinds : frozenset of str
        The kinds of :data:`KINDS` the problem's kernels provide.
    """

    n: int
    variable_names: tuple[str, ...]
    reduce: str
    kinds: frozenset

    @abc.abstractmethod
    def check_fields(self, fields: Mapping[str, Field]) -> None:
        """Raise a :class:`ChunkError` naming the column when a source with these fields
        cannot feed the kernels (a missing column, a non-numeric dtype, a wrong width)."""

    @abc.abstractmethod
    def prepare(self, chunk: Chunk, keep: bool) -> Any:
        """What the kernels read for ``chunk``.  With ``keep`` the result may be kept
        past the next call (a cache of resident chunks); else it may live in a scratch
        buffer reused for the next chunk."""

    @abc.abstractmethod
    def evaluate(self, kind: str, x: np.ndarray, prepared: Any, out: np.ndarray,
                 v: np.ndarray | None = None) -> None:
        """The chunk's loss (and derivatives, by ``kind``) at ``x`` into ``out``."""

    @abc.abstractmethod
    def evaluate_empty(self, kind: str, x: np.ndarray, out: np.ndarray,
                       v: np.ndarray | None = None) -> None:
        """The loss of no rows (the part added once, ``R``), for ``reduce="sum"``."""

    @abc.abstractmethod
    def view(self, prepared: Any, index: int) -> Chunk:
        """The chunk behind ``prepared`` (views of it, by column), to look for bad values
        where only the prepared chunk is kept (on a Dask worker)."""

    def bad_value(self, chunk: Chunk) -> tuple[str, int] | None:
        """``(column, row)`` of the first value of ``chunk`` that is not finite, or None."""
        for name, a in chunk.arrays.items():
            row = first_non_finite(np.asarray(a))
            if row is not None:
                return name, row
        return None

    @abc.abstractmethod
    def start(self, sample: Chunk, x0: Any) -> np.ndarray:
        """The flat start vector from ``x0``; sizes that depend on the data are learnt
        from ``sample`` (a few rows of the data), on which the model may also check
        itself.  Called once, before any other evaluation."""

    @abc.abstractmethod
    def shippable(self) -> Any:
        """What travels to Dask workers to rebuild this model there (picklable)."""


def _scratch(local: threading.local, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A per-thread buffer of at least ``shape`` (its first axis grows), viewed as ``shape``."""
    buffers = getattr(local, "buffers", None)
    if buffers is None:
        buffers = local.buffers = {}
    size = int(np.prod(shape))
    buffer = buffers.get(name)
    if buffer is None or buffer.size < size:
        buffer = buffers[name] = np.empty(max(size, 1))
    return buffer[:size].reshape(shape)


class DataLossModel(ChunkModel):
    """A :class:`symopt.DataLoss` (a loss written for one row): the kernels read a chunk as
    the ``(columns, rows)`` float64 array of :mod:`symopt.abi`.

    A chunk gives its columns by name, or as one 2-D (rows, columns) array whose columns
    are the problem's ``data_names`` in order (:data:`symopt.chunked.sources.MATRIX`).
    """

    kinds = frozenset({"value", "value_grad", "value_grad_hess"})

    def __init__(self, problem, params: Any = None):
        from ..kernels import compile as compile_kernels
        from ..problem import DataLoss

        if not isinstance(problem, DataLoss):
            raise ProblemError(
                f"chunked data feeds a loss over data rows (symopt.DataLoss) or an array "
                f"formula (symopt.tensor.Problem); got {type(problem).__name__}")
        self.problem = problem
        self.n = problem.n
        self.variable_names = tuple(problem.variable_names)
        self.reduce = problem.reduce
        self.columns = tuple(problem.data_names)
        self.params = params
        self.p = problem._param_array(params)
        self.kernels = compile_kernels(problem)
        self._local = threading.local()
        self._empty = np.empty((len(self.columns), 0))

    def shippable(self) -> Any:
        return ("dataloss", self.problem, self.params)

    def start(self, sample: Chunk, x0: Any) -> np.ndarray:
        return self.problem._x_array(x0)

    # --- schema -----------------------------------------------------------------------
    def check_fields(self, fields: Mapping[str, Field]) -> None:
        names = self.columns
        if MATRIX in fields:
            width = fields[MATRIX].tail
            if width != (len(names),):
                raise ChunkError(
                    f"the data have {width[0] if width else 1} columns, but this problem reads "
                    f"{len(names)}: {list(names)} (in this order; a 2-D array has shape "
                    "(rows, columns))", column=MATRIX)
            if fields[MATRIX].dtype.kind not in "fiub":
                raise ChunkError(f"the data have dtype {fields[MATRIX].dtype}, which is not numeric",
                                 column=MATRIX)
            return
        missing = [name for name in names if name not in fields]
        if missing:
            raise ChunkError(
                f"the data lack the column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))}; this problem reads {list(names)}",
                column=missing[0])
        for name in names:
            f = fields[name]
            if f.tail != ():
                raise ChunkError(f"column {name!r} must be 1-D (one value per row), its rows "
                                 f"have shape {f.tail}", column=name)
            if f.dtype.kind not in "fiub":
                raise ChunkError(f"column {name!r} has dtype {f.dtype}, which is not numeric",
                                 column=name)

    # --- a chunk in the kernels' layout ---------------------------------------------------
    def prepare(self, chunk: Chunk, keep: bool) -> np.ndarray:
        rows = chunk.rows
        names = self.columns
        matrix = chunk.arrays.get(MATRIX)
        if matrix is not None:
            if matrix.ndim != 2 or matrix.shape[1] != len(names):
                raise ChunkError(f"{chunk.describe()}: the chunk has shape {matrix.shape}, "
                                 f"expected (rows, {len(names)})", chunk.index, MATRIX)
            transposed = matrix.T
            if transposed.dtype == np.float64 and transposed.flags.c_contiguous:
                return transposed  # no copy (a column-major array in memory)
            out = np.empty((len(names), rows)) if keep else \
                _scratch(self._local, "data", (len(names), rows))
            np.copyto(out, transposed, casting="unsafe")
            return out
        out = np.empty((len(names), rows)) if keep else \
            _scratch(self._local, "data", (len(names), rows))
        for k, name in enumerate(names):
            column = chunk.arrays.get(name)
            if column is None:
                raise ChunkError(f"{chunk.describe()} lacks the column {name!r}", chunk.index, name)
            if column.shape != (rows,):
                raise ChunkError(f"{chunk.describe()}: column {name!r} has shape {column.shape}, "
                                 f"expected ({rows},)", chunk.index, name)
            np.copyto(out[k], column, casting="unsafe")
        return out

    def view(self, prepared: np.ndarray, index: int) -> Chunk:
        return Chunk(index, {name: prepared[k] for k, name in enumerate(self.columns)},
                     prepared.shape[1])

    def bad_value(self, chunk: Chunk) -> tuple[str, int] | None:
        matrix = chunk.arrays.get(MATRIX)
        if matrix is not None:
            row = first_non_finite(np.asarray(matrix))
            if row is None:
                return None
            bad = ~np.isfinite(np.asarray(matrix[row], dtype=np.float64))
            return self.columns[int(np.flatnonzero(bad)[0])], row
        for name in self.columns:
            row = first_non_finite(np.asarray(chunk.arrays[name]))
            if row is not None:
                return name, row
        return None

    # --- kernel calls --------------------------------------------------------------------
    def evaluate(self, kind: str, x: np.ndarray, prepared: np.ndarray, out: np.ndarray,
                 v: np.ndarray | None = None) -> None:
        n = self.n
        k = self.kernels
        if kind == "value":
            out[0] = k.value_kernel(x, self.p, prepared)
        elif kind == "value_grad":
            out[0] = k.value_grad_kernel(x, self.p, prepared, out[1:1 + n])
        elif kind == "value_grad_hess":
            out[0] = k.value_grad_hess_kernel(x, self.p, prepared, out[1:1 + n],
                                              out[1 + n:].reshape(n, n))
        else:
            raise ProblemError(f"a DataLoss has no {kind} kernel")

    def evaluate_empty(self, kind: str, x: np.ndarray, out: np.ndarray,
                       v: np.ndarray | None = None) -> None:
        self.evaluate(kind, x, self._empty, out, v)


class ArrayModel(ChunkModel):
    """An array formula of :mod:`symopt.tensor` whose data arrays share a *rows* size:
    every data array whose first axis is ``rows`` is cut into chunks along it; the loss
    must be a mean (``reduce="mean"``) or a sum (``"sum"``) over those rows plus terms
    of the variables and parameters (checked on the first chunk before a solve:
    :meth:`check_additive`).  The kernels read each chunk's arrays in place when they
    are float64 and C-contiguous (a memory map's rows are): no copy.

    Parameters
    ----------
    problem : symopt.tensor.Problem
    rows : str
        The name of the size the chunks cut (``"m"`` for ``X`` of shape ``(m, d)``).
    reduce : {"mean", "sum"}
    params : mapping, optional
    fixed : mapping of name -> array, optional
        Data arrays that are not cut (no ``rows`` axis), the same for every chunk.
    """

    def __init__(self, problem, rows: str, reduce: str, params: Any = None,
                 fixed: Mapping[str, Any] | None = None):
        if reduce not in ("mean", "sum"):
            raise ProblemError(f"reduce must be 'mean' or 'sum', got {reduce!r}")
        from symopt.tensor import compile as compile_array

        self.problem = problem
        self.reduce = reduce
        self.params = params
        self.fixed = dict(fixed or {})
        dims = {d.name: d for d in problem.dims}
        if rows not in dims:
            raise ProblemError(f"rows={rows!r} is not a size of the formula; its sizes are "
                               f"{', '.join(sorted(dims)) or 'none'}")
        self.rows_name = rows
        self.rows_dim = dims[rows]
        self.cut = tuple(leaf.name for leaf in problem.data
                         if leaf.shape and leaf.shape[0] == self.rows_dim)
        uncut = [leaf.name for leaf in problem.data if leaf.name not in self.cut]
        missing = [name for name in uncut if name not in self.fixed]
        if missing:
            raise ProblemError(f"the data array{'s' if len(missing) > 1 else ''} "
                               f"{', '.join(map(repr, missing))} have no {rows} axis to cut: "
                               "pass them as fixed={...}")
        for leaf in problem.data:
            if leaf.name in self.cut and any(self.rows_dim in s.free_symbols for s in leaf.shape[1:]):
                raise ProblemError(f"data {leaf.name!r} uses the rows size {rows} beyond its first axis")
        if not self.cut:
            raise ProblemError(f"no data array of the formula has {rows} as its first axis")
        self.columns = self.cut
        self.kernels = compile_array(problem)
        self.variable_names = tuple(v.name for v in problem.variables)
        self.kinds = frozenset({"value", "value_grad", "hvp"}
                               | ({"value_grad_hess"} if all(v.ndim <= 1 for v in problem.variables)
                                  else set()))
        self._template = None  # (binding, position of the rows size in table row 0)
        self.n = None
        self._local = threading.local()

    def shippable(self) -> Any:
        return ("array", _without_kernels(self.problem), self.rows_name, self.reduce,
                self.params, self.fixed, self._sample, self._x0)

    def check_fields(self, fields: Mapping[str, Field]) -> None:
        for name in self.cut:
            if name not in fields:
                raise ChunkError(f"the data lack the array {name!r}; the formula reads "
                                 f"{list(self.cut)} by rows", column=name)
            if fields[name].dtype.kind not in "fiub":
                raise ChunkError(f"array {name!r} has dtype {fields[name].dtype}, which is not "
                                 "numeric", column=name)
        unknown = [name for name in fields if name not in self.cut and name != MATRIX]
        if unknown:
            raise ChunkError(f"the data have the array {unknown[0]!r}, which the formula does "
                             f"not read by rows (it reads {list(self.cut)})", column=unknown[0])
        if MATRIX in fields:
            raise ChunkError("an array formula reads named arrays: give the data as "
                             "{'X': ..., 'y': ...}", column=MATRIX)

    def start(self, sample: Chunk, x0: Any) -> np.ndarray:
        """Resolve the sizes from ``sample`` (and ``x0``), keep the binding as the template
        every chunk's data table is made from, and check on the sample that the loss is
        the declared mean or sum over the rows (:meth:`check_additive`)."""
        arrays = {k: a for k, a in sample.arrays.items() if k in self.cut}
        self._sample, self._x0 = sample, x0
        binding = self.kernels.bind({**arrays, **self.fixed}, self.params, x0)
        position = [d.name for d in self.problem.dims].index(self.rows_name)
        self._template = (binding, position)
        self.n = binding.n
        self.p = binding.p
        x = np.array(binding.x(x0), dtype=np.float64)
        self.check_additive(sample, x)
        return x

    def make_x(self, x0: Any) -> np.ndarray:
        return self._template[0].x(x0)

    def prepare(self, chunk: Chunk, keep: bool) -> _ArrayChunk:
        binding, _ = self._template
        arrays = {}
        for k, leaf in enumerate(self.problem.data):
            if leaf.name not in self.cut:
                continue
            a = chunk.arrays.get(leaf.name)
            if a is None:
                raise ChunkError(f"{chunk.describe()} lacks the array {leaf.name!r}",
                                 chunk.index, leaf.name)
            expected = binding.arrays[k].shape[1:]
            if a.shape[1:] != expected or a.shape[0] != chunk.rows:
                raise ChunkError(f"{chunk.describe()}: array {leaf.name!r} has shape "
                                 f"{a.shape}, expected ({chunk.rows}, "
                                 f"{', '.join(map(str, expected))})", chunk.index, leaf.name)
            want = binding.arrays[k].dtype
            if a.dtype != want or not a.flags.c_contiguous:
                a = np.ascontiguousarray(a, dtype=want)
            arrays[leaf.name] = a
        return _ArrayChunk(arrays, chunk.rows)

    def view(self, prepared: _ArrayChunk, index: int) -> Chunk:
        return Chunk(index, dict(prepared.arrays), prepared.rows)

    def _table(self, prepared: _ArrayChunk) -> np.ndarray:
        """The data table of the array kernels for one chunk: the template's, with the
        rows size and the chunk arrays' addresses (the layout of
        :class:`symopt.tensor.kernels.Binding`)."""
        table = prepared.table
        if table is None:
            binding, position = self._template
            table = binding.table.copy()
            table[0, position] = prepared.rows
            for k, leaf in enumerate(self.problem.data):
                a = prepared.arrays.get(leaf.name)
                if a is not None and a.size:
                    table[1 + k, 0] = float(a.ctypes.data)
            prepared.table = table
        return table

    def evaluate(self, kind: str, x: np.ndarray, prepared, out: np.ndarray,
                 v: np.ndarray | None = None) -> None:
        table = self._table(prepared)
        n = self.n
        k = self.kernels
        if kind == "value":
            out[0] = k.value_kernel(x, self.p, table)
        elif kind == "value_grad":
            out[0] = k.value_grad_kernel(x, self.p, table, out[1:1 + n])
        elif kind == "value_grad_hess":
            out[0] = k.value_grad_hess_kernel(x, self.p, table, out[1:1 + n],
                                              out[1 + n:].reshape(n, n))
        elif kind == "hvp":
            k.hvp_kernel(x, self.p, table, v, out)
        else:  # pragma: no cover
            raise ProblemError(f"unknown kind {kind!r}")

    def evaluate_empty(self, kind: str, x: np.ndarray, out: np.ndarray,
                       v: np.ndarray | None = None) -> None:
        binding, _ = self._template
        empty = {leaf.name: np.empty((0,) + binding.arrays[k].shape[1:], binding.arrays[k].dtype)
                 for k, leaf in enumerate(self.problem.data) if leaf.name in self.cut}
        chunk = Chunk(-1, empty, 0)
        self.evaluate(kind, x, self.prepare(chunk, keep=True), out, v)

    def check_additive(self, chunk: Chunk, x: np.ndarray) -> None:
        """Check on up to 8 rows of ``chunk`` that the loss is the declared mean or sum
        over rows plus a term without them: the rows split in two parts must give the
        loss of all of them by the rule of ``reduce``."""
        rows = min(chunk.rows, 8)
        if rows < 2:
            return
        half = max(1, (3 * rows) // 8)  # unequal parts: 3 and 5 rows of 8
        # a point near x, not x itself: at x0 = 0 many losses do not depend on the rows
        x = x + 0.1 * (1.0 + np.abs(x)) * np.random.default_rng(0).uniform(-1, 1, x.shape)

        def part(lo, hi):
            sub = Chunk(-1, {k: np.ascontiguousarray(a[lo:hi]) for k, a in chunk.arrays.items()},
                        hi - lo)
            out = np.empty(1)
            self.evaluate("value", x, self.prepare(sub, keep=True), out)
            return out[0]

        whole, a, b = part(0, rows), part(0, half), part(half, rows)
        if self.reduce == "mean":
            combined = (half * a + (rows - half) * b) / rows
        else:
            empty = np.empty(1)
            self.evaluate_empty("value", x, empty)
            combined = (a - empty[0]) + (b - empty[0]) + empty[0]
        if not (np.isfinite(whole) and abs(combined - whole) <= 1e-9 * max(1.0, abs(whole))):
            raise ProblemError(
                f"the loss is not a {self.reduce} over the rows {self.rows_name} plus a term "
                f"without them (on {rows} rows of {chunk.describe()}: {whole!r} for all of "
                f"them, {combined!r} combined from two parts); declare reduce='"
                f"{'sum' if self.reduce == 'mean' else 'mean'}' if that is what it is, or "
                "write the loss as one")


def _without_kernels(problem):
    """A copy of ``problem`` without its compiled kernels (modules do not pickle), as
    :meth:`symopt.Problem.__getstate__` leaves them out, nor its derived formulas (cached
    properties: derived again where the copy is unpickled, in about a second); the
    kernels load from the disk cache there."""
    if CACHE_SLOT not in problem.__dict__ or hasattr(type(problem), "__getstate__") and \
            type(problem).__getstate__ is not object.__getstate__:
        return problem
    import functools

    derived = {name for name, value in vars(type(problem)).items()
               if isinstance(value, functools.cached_property)}
    copy = object.__new__(type(problem))
    copy.__dict__.update({k: v for k, v in problem.__dict__.items()
                          if k != CACHE_SLOT and k not in derived})
    return copy


class _ArrayChunk:
    """A chunk's arrays for the array kernels; the data table holding their addresses is
    made in the process that evaluates them (never pickled: addresses are local)."""

    def __init__(self, arrays: dict[str, np.ndarray], rows: int):
        self.arrays = arrays
        self.rows = rows
        self.table = None

    def __getstate__(self):
        return {"arrays": self.arrays, "rows": self.rows, "table": None}


def model_for(problem, params: Any = None, *, rows: str | None = None,
              reduce: str | None = None, fixed: Mapping[str, Any] | None = None) -> ChunkModel:
    """The :class:`ChunkModel` of ``problem``: a :class:`symopt.DataLoss` or a
    :class:`symopt.tensor.Problem` (which needs ``rows`` and ``reduce``)."""
    if isinstance(problem, ChunkModel):
        return problem
    from ..problem import DataLoss

    if isinstance(problem, DataLoss):
        if rows is not None or reduce is not None or fixed:
            raise InputError("rows=, reduce= and fixed= describe array formulas; a DataLoss "
                             "has its own reduce")
        return DataLossModel(problem, params)
    if type(problem).__module__.startswith("symopt.tensor"):
        if rows is None or reduce is None:
            raise InputError("an array formula on chunked data needs rows='m' (the size the "
                             "chunks cut) and reduce='mean' or 'sum'")
        return ArrayModel(problem, rows, reduce, params, fixed)
    raise ProblemError(
        f"chunked data feeds a loss over data rows (symopt.DataLoss) or an array formula "
        f"(symopt.tensor.Problem); got {type(problem).__name__}")
