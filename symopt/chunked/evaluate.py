"""Chunked evaluation: the loss and its derivatives over every chunk, summed in a fixed
order.

:class:`Evaluator` walks the chunks of a source one at a time, evaluates the model's
kernels on each (:mod:`symopt.chunked.model`) and combines the chunk results by the
model's ``reduce`` rule.  Only a chunk (and, for a source in memory, what was made from
it) is held at a time, so memory stays at a few chunks whatever the data size.

The chunk results are added along a fixed binary tree over the chunk indices
(:class:`TreeSum`; :func:`tree_nodes` and :func:`tree_root` are the same tree when its
subtrees are summed in several places, as on Dask workers): the sum depends on the
chunk layout only, never on timing or on which worker held which chunk, and it is
bit-for-bit the same locally and on Dask.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .._progress import Progress
from ..errors import InputError
from .model import ChunkModel, out_size
from .sources import Chunk, ChunkError, ChunkSource, FactoryChunks

__all__ = [
    "PROGRESS_AFTER_SECONDS",
    "Evaluator",
    "TreeSum",
    "combine_chunk",
    "tree_nodes",
    "tree_root",
]

#: show a progress bar over the chunks of a pass once it has run this long
PROGRESS_AFTER_SECONDS = 2.0


class TreeSum:
    """A sum of per-chunk vectors grouped as the binary tree whose node ``(level, k)`` is
    the sum of chunks ``k 2^level .. (k + 1) 2^level - 1``: pairs of chunks first, then
    pairs of pairs, ...  Chunks may be added in any order (two siblings are added as
    soon as both are there), so the result depends on the number of chunks only; in
    order (or in reverse) at most about log2(chunks) vectors are held."""

    def __init__(self):
        self.nodes: dict[tuple[int, int], np.ndarray] = {}

    def add(self, index: int, value: np.ndarray, level: int = 0) -> None:
        """Add chunk ``index``'s vector (or a complete node of the tree at ``level``);
        the vector is taken over: do not reuse it."""
        while True:
            other = self.nodes.pop((level, index ^ 1), None)
            if other is None:
                self.nodes[(level, index)] = value
                return
            left, right = (value, other) if index % 2 == 0 else (other, value)
            left += right
            value, index, level = left, index // 2, level + 1

    def result(self, n_chunks: int) -> np.ndarray | None:
        """The sum over chunks ``0 .. n_chunks - 1`` (``None`` when nothing was added)."""
        if not self.nodes:
            return None
        return tree_root(self.nodes, n_chunks)


def tree_nodes(partials: dict[int, np.ndarray], n_chunks: int) -> dict[tuple[int, int], np.ndarray]:
    """The complete nodes of the tree of :class:`TreeSum` that the chunks in
    ``partials`` (index -> vector) make: what a worker holding these chunks sends."""
    tree = TreeSum()
    for index in sorted(partials):
        tree.add(index, partials[index])
    return tree.nodes


def tree_root(nodes: dict[tuple[int, int], np.ndarray], n_chunks: int) -> np.ndarray:
    """The sum over all chunks from complete nodes (:func:`tree_nodes` of every worker):
    a node that is not there is the sum of its children, a node without a right child
    (past the last chunk) is its left child."""
    top = 0
    while (1 << top) < n_chunks:
        top += 1

    def node(level: int, k: int) -> np.ndarray:
        value = nodes.get((level, k))
        if value is not None:
            return value
        if level == 0:
            raise KeyError(f"chunk {k} is missing from the reduction")
        left = node(level - 1, 2 * k)
        if (2 * k + 1) << (level - 1) >= n_chunks:
            return left
        total = left.copy()
        total += node(level - 1, 2 * k + 1)
        return total

    return node(top, 0)


def combine_chunk(reduce: str, rows: int, out: np.ndarray, empty: np.ndarray | None) -> None:
    """Turn a chunk's loss vector into its share of the sum over chunks, in place:
    ``m_c L_c`` for a mean, ``L_c - R`` for a sum (``empty``: ``R``, or None when the
    model adds nothing once)."""
    if reduce == "mean":
        out *= rows
    elif empty is not None:
        out -= empty


def finish(reduce: str, total_rows: int, total: np.ndarray, empty: np.ndarray | None) -> None:
    """The loss of the whole data from the sum of the chunks' shares, in place."""
    if reduce == "mean":
        total *= 1.0 / total_rows
    elif empty is not None:
        total += empty


class PassProgress:
    """A progress bar over the chunks of one pass, shown when the pass is expected to
    run longer than :data:`PROGRESS_AFTER_SECONDS` (timed from the end of its first chunk,
    which may include compiling the kernels), or always (``verbose=True``)."""

    def __init__(self, verbose: bool | None, total: int | None, kind: str):
        self.verbose = verbose
        self.total = total
        self.desc = f"symopt {kind.replace('_', '+')}"
        self.first_done = None
        self.bar = None

    def update(self, done: int) -> None:
        if self.verbose is False:
            return
        now = time.perf_counter()
        if self.bar is None:
            if self.first_done is None:
                self.first_done = now
                if not self.verbose:
                    return
            elapsed = now - self.first_done
            left = (self.total - done) if self.total else 0
            expected = elapsed + (elapsed / max(done - 1, 1)) * left if done > 1 else 0.0
            if not (self.verbose or expected > PROGRESS_AFTER_SECONDS
                    or elapsed > PROGRESS_AFTER_SECONDS):
                return
            self.bar = Progress(self.total or done, self.desc, "chunk", initial=done)
        self.bar.update(done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class EvaluationStopped(Exception):
    """A pass ended early: bad data in a chunk, or an error reading it (``error``)."""

    def __init__(self, error: BaseException, chunk: int | None):
        super().__init__(str(error))
        self.error = error
        self.chunk = chunk


class Evaluator:
    """Evaluates a model over the chunks of a source, one chunk at a time.

    Parameters
    ----------
    model : ChunkModel
    source : ChunkSource
    verbose : bool or None
        Progress bar over the chunks of a pass: ``None`` shows it once a pass has run
        :data:`PROGRESS_AFTER_SECONDS`; ``True`` always; ``False`` never.

    Attributes
    ----------
    passes : int
        Complete passes over the data so far.
    counts : dict
        Evaluations by kind.
    seconds : float
        Time spent in passes.
    """

    def __init__(self, model: ChunkModel, source: ChunkSource, verbose: bool | None = None):
        self.model = model
        self.source = source
        self.verbose = verbose
        self.passes = 0
        self.counts = {kind: 0 for kind in ("value", "value_grad", "value_grad_hess", "hvp")}
        self.seconds = 0.0
        self._resident: dict[int, Any] = {}
        self.check_schema()

    # --- before any solve -----------------------------------------------------------------
    def check_schema(self) -> None:
        """The source's fields against the model, and, for data in memory, every chunk
        converted once (so that a NaN or a bad column is reported before a solve)."""
        source = self.source
        if isinstance(source, FactoryChunks) and not source.fields:
            source.first()
        self.model.check_fields(source.fields)
        if source.resident:
            for chunk in source:
                self._resident[chunk.index] = self._prepare_checked(chunk)
            if source.rows == 0:
                raise InputError("the dataset is empty (0 rows)")
        elif source.rows == 0:
            raise InputError("the dataset is empty (0 rows)")

    def _prepare_checked(self, chunk: Chunk) -> Any:
        bad = self.model.bad_value(chunk)
        if bad is not None:
            raise _bad_value_error(chunk, *bad)
        return self.model.prepare(chunk, keep=True)

    @property
    def total_rows(self) -> int | None:
        return self.source.rows

    # --- one pass ---------------------------------------------------------------------------
    def evaluate(self, kind: str, x: np.ndarray, v: np.ndarray | None = None) -> np.ndarray:
        """The loss (and derivatives, by ``kind``) over all the data at ``x``, as the flat
        vector of :func:`symopt.chunked.model.out_size`; NaN entries when a chunk's result
        is not finite at this ``x`` (a numerical event: the solver backs off).

        Raises :class:`EvaluationStopped` when a chunk holds bad data."""
        model = self.model
        size = out_size(kind, model.n)
        empty = None
        if model.reduce == "sum":
            empty = np.empty(size)
            model.evaluate_empty(kind, x, empty, v)
        tree = TreeSum()
        rows_seen = []
        started = time.perf_counter()
        progress = PassProgress(self.verbose, self.source.n_chunks, kind)
        finite = True
        source = self.source
        try:
            for chunk in source.passes():
                try:
                    if chunk.rows == 0:
                        tree.add(chunk.index, np.zeros(size))
                        rows_seen.append((chunk.index, 0))
                        continue
                    prepared = self._resident.get(chunk.index)
                    if prepared is None:
                        prepared = model.prepare(chunk, keep=False)
                    out = np.empty(size)
                    model.evaluate(kind, x, prepared, out, v)
                    if not _finite(kind, out):
                        if not source.resident:
                            bad = model.bad_value(chunk)
                            if bad is not None:
                                raise _bad_value_error(chunk, *bad)
                        finite = False
                        break  # the loss is not finite here: no need to read further
                    combine_chunk(model.reduce, chunk.rows, out, empty)
                    tree.add(chunk.index, out)
                    rows_seen.append((chunk.index, chunk.rows))
                finally:
                    chunk.done()
                progress.update(len(rows_seen))
        except ChunkError as exc:
            raise EvaluationStopped(exc, exc.chunk) from exc
        finally:
            progress.close()
            self.seconds += time.perf_counter() - started
        self.counts[kind] += 1
        if not finite:
            return np.full(size, math.nan)
        self.passes += 1
        rows_seen.sort()
        try:
            source.note_rows([rows for _, rows in rows_seen])
        except ChunkError as exc:
            raise EvaluationStopped(exc, None) from exc
        total = tree.result(len(rows_seen))
        total_rows = int(sum(rows for _, rows in rows_seen))
        if total is None or total_rows == 0:
            raise EvaluationStopped(InputError("the dataset is empty (0 rows)"), None)
        finish(model.reduce, total_rows, total, empty)
        return total

    def describe(self) -> str:
        return self.source.describe()

    def close(self) -> None:
        """Give back what the source keeps between passes (a memory map's pages)."""
        self.source.release()


def _finite(kind: str, out: np.ndarray) -> bool:
    return bool(np.isfinite(out[0])) if kind != "hvp" else bool(np.isfinite(out).all())


def _bad_value_error(chunk: Chunk, column: str, row: int) -> ChunkError:
    value = None
    try:
        a = chunk.arrays.get(column)
        if a is not None:
            value = a[row]
        else:  # a column of the matrix field
            from .sources import MATRIX

            value = None if MATRIX not in chunk.arrays else chunk.arrays[MATRIX][row]
    except Exception:  # noqa: BLE001 - only for the message
        value = None
    where = f"row {row}"
    if chunk.start is not None:
        where += f" of the chunk (row {chunk.start + row} of the data)"
    shown = f" (value {float(value)!r})" if value is not None and np.ndim(value) == 0 else ""
    return ChunkError(f"{chunk.describe()}: column {column!r} is not finite at {where}{shown}; "
                      "remove or fill such rows", chunk.index, column, row)


def callback_for(evaluate: Callable[[str, np.ndarray, np.ndarray | None], np.ndarray], n: int,
                 on_failure: Callable[[BaseException], None]):
    """The Python function a callback kernel calls (:mod:`symopt.chunked._callbacks`):
    runs ``evaluate(kind, x, v)`` and writes the result into the solver's arrays.
    After a failure (recorded by ``on_failure``) it raises at once, without
    evaluating."""
    from . import _callbacks as cb

    kinds = {cb.VALUE: "value", cb.VALUE_GRAD: "value_grad",
             cb.VALUE_GRAD_HESS: "value_grad_hess", cb.HVP: "hvp"}
    state = {"failed": False}

    def callback(code: int, x: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        if state["failed"]:
            raise RuntimeError("the evaluation failed before")
        kind = kinds[code]
        try:
            if kind == "hvp":
                b[:] = evaluate(kind, x, a)
                return 0.0
            out = evaluate(kind, x, None)
        except BaseException as exc:
            state["failed"] = True
            on_failure(exc)
            raise
        if kind == "value_grad":
            a[:] = out[1:1 + n]
        elif kind == "value_grad_hess":
            a[:] = out[1:1 + n]
            b[:, :] = out[1 + n:].reshape(n, n)
        return out[0]

    return callback
