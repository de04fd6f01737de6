"""Chunked evaluation on a Dask cluster: the chunks stay on the workers.

:class:`DaskEvaluator` has the interface of :class:`symopt.chunked.evaluate.Evaluator`.
Set-up, once per fit: each block of the Dask collection is converted on the worker that
holds it into what the kernels read (:meth:`ChunkModel.prepare`) and kept there
(persisted futures; nothing is gathered); the chunks are grouped by the worker holding
them.  Then every evaluation is

1. one task per worker over its chunks (they are bundled into one object on their
   worker at set-up, so the task has one dependency and runs there):
   the model's kernels on each chunk, then the complete subtrees of the fixed summation
   tree those chunks cover (:func:`symopt.chunked.evaluate.tree_nodes`);
2. the subtrees back to the driver, which adds them along the same tree
   (:func:`~symopt.chunked.evaluate.tree_root`): the result depends on the chunk layout
   only, bit-for-bit the same as the local evaluator's.

The solver loop stays on the driver.  The problem travels to the workers pickled, once
per process (a memo keyed by the pickle's hash, as :mod:`symopt.dask` does), so a
worker loads or compiles the kernels once per fit and never per task; with a shared
``SYMOPT_CACHE_DIR`` they come from the disk cache.

A worker lost during a fit: Dask recomputes the chunks it held from their graph and
reruns its task elsewhere; the evaluation, and the fit, go on.  The evaluator notices
that a task ran on another worker than planned, asks the scheduler which workers are
gone, records them (``result.workers_lost``) and regroups the chunks.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import pickle
import threading
import time
from typing import Any

import numpy as np

from ..errors import InputError, MissingDependencyError
from .evaluate import EvaluationStopped, combine_chunk, finish, tree_nodes, tree_root
from .model import ChunkModel, out_size
from .sources import Chunk, ChunkError, DaskChunks, _arrays_of, check_arrays

__all__ = ["DaskEvaluator", "current_client", "worker_stats"]

_memo: dict[str, ChunkModel] = {}
_stats = {"models_loaded": 0, "tasks": 0, "chunks_evaluated": 0}
_memo_lock = threading.Lock()
_evaluations = itertools.count()


def current_client():
    """The current ``distributed`` client, or None."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def worker_stats() -> dict[str, int]:
    """This process's counts: ``models_loaded`` (kernel loads or compilations: once per
    problem per process), ``tasks`` and ``chunks_evaluated``.  On the workers:
    ``client.run(symopt.chunked.distributed.worker_stats)``."""
    return dict(_stats)


class _Shipped:
    """A model as it travels to the workers: the pickle of what rebuilds it, and its hash."""

    def __init__(self, model: ChunkModel):
        self.payload = pickle.dumps(model.shippable(), protocol=pickle.HIGHEST_PROTOCOL)
        self.key = hashlib.sha256(self.payload).hexdigest()[:24]

    def __dask_tokenize__(self):
        return self.key

    def load(self) -> ChunkModel:
        model = _memo.get(self.key)
        if model is None:
            with _memo_lock:
                model = _memo.get(self.key)
                if model is None:
                    model = _rebuild(pickle.loads(self.payload))
                    _memo[self.key] = model
                    _stats["models_loaded"] += 1
        return model


def _rebuild(spec: tuple) -> ChunkModel:
    from .model import ArrayModel, DataLossModel

    if spec[0] == "dataloss":
        return DataLossModel(spec[1], spec[2])
    if spec[0] == "array":
        _, problem, rows, reduce, params, fixed, sample, x0 = spec
        model = ArrayModel(problem, rows, reduce, params, fixed)
        model.start(sample, x0)
        return model
    raise ValueError(f"unknown model {spec[0]!r}")  # pragma: no cover


def _use_worker_threads() -> None:
    """Kernels running on a worker use as many threads as the worker has (not every
    core of the machine: two single-thread workers on two cores would run four)."""
    import numba
    from distributed import get_worker

    with contextlib.suppress(ValueError):  # outside a worker: leave Numba as it is
        threads = get_worker().state.nthreads
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _convert(block: Any, shipped: _Shipped, index: int) -> Any:
    """A block of the collection as what the kernels read (on the worker holding it)."""
    model = shipped.load()
    where = f"chunk {index}"
    arrays = _arrays_of(block, where)
    rows = check_arrays(arrays, where, index)
    chunk = Chunk(index, arrays, rows, None, label="Dask block")
    try:
        model.check_fields({name: _field(a) for name, a in arrays.items()})
        # NaN and Inf are looked for only when a chunk's loss is not finite: a scan here
        # would cost a pass over all the data
        return _Prepared(model.prepare(chunk, keep=True), rows)
    except ChunkError as exc:
        return _BadChunk(f"chunk {index}: {exc}" if not str(exc).startswith("chunk") else str(exc),
                         index, exc.column)


def _field(a: np.ndarray):
    from .sources import Field

    return Field(np.dtype(a.dtype), tuple(a.shape[1:]))


class _Prepared:
    """A converted chunk kept on its worker."""

    def __init__(self, data: Any, rows: int):
        self.data = data
        self.rows = rows


class _BadChunk:
    """A chunk whose data cannot be used: reported at the first evaluation."""

    def __init__(self, message: str, index: int, column: str | None = None, row: int | None = None):
        self.message = message
        self.index = index
        self.column = column
        self.row = row


def _bundle(*chunks: Any) -> list:
    """A worker's chunks as one object (made where they are: no copy), so that an
    evaluation task depends on one key per worker, not one per chunk."""
    return list(chunks)


def _evaluate_group(shipped: _Shipped, kind: str, x: np.ndarray, v: np.ndarray | None,
                    indices: tuple[int, ...], n_chunks: int, chunks: list) -> dict:
    """One worker's share of an evaluation: the complete subtrees over its chunks."""
    _use_worker_threads()
    model = shipped.load()
    size = out_size(kind, model.n)
    empty = None
    if model.reduce == "sum":
        empty = np.empty(size)
        model.evaluate_empty(kind, x, empty, v)
    partials = {}
    rows = {}
    reply = {"kind": kind, "empty": empty, "finite": True, "error": None}
    for index, chunk in zip(indices, chunks):
        if isinstance(chunk, _BadChunk):
            reply["error"] = (chunk.message, chunk.index, chunk.column, chunk.row)
            break
        rows[index] = chunk.rows
        if chunk.rows == 0:
            partials[index] = np.zeros(size)
            continue
        out = np.empty(size)
        model.evaluate(kind, x, chunk.data, out, v)
        _stats["chunks_evaluated"] += 1
        if not (np.isfinite(out[0]) if kind != "hvp" else np.isfinite(out).all()):
            view = model.view(chunk.data, index)
            bad = model.bad_value(view)
            if bad is not None:
                from .evaluate import _bad_value_error

                exc = _bad_value_error(view, *bad)
                reply["error"] = (str(exc), index, exc.column, exc.row)
            reply["finite"] = False
            break
        combine_chunk(model.reduce, chunk.rows, out, empty)
        partials[index] = out
    with _memo_lock:
        _stats["tasks"] += 1
    reply["nodes"] = tree_nodes(partials, n_chunks) if reply["finite"] and not reply["error"] else {}
    reply["rows"] = rows
    try:
        from distributed import get_worker

        worker = get_worker()
        reply["worker"] = (worker.address, worker.id)
    except Exception:  # noqa: BLE001 - run outside a worker
        reply["worker"] = (None, None)
    return reply


class DaskEvaluator:
    """Evaluates a model over the blocks of a Dask collection on the workers holding
    them (see the module).  Attributes as :class:`~symopt.chunked.evaluate.Evaluator`,
    plus ``workers_lost`` (addresses of workers that left during the fit) and
    ``regroupings``."""

    def __init__(self, model: ChunkModel, source: DaskChunks, client: Any,
                 verbose: bool | None = None):
        try:
            import distributed  # noqa: F401
        except ImportError:  # pragma: no cover - there is no client without it
            raise MissingDependencyError("Dask clusters need dask[distributed]") from None
        if not isinstance(source, DaskChunks):
            raise InputError("a Dask evaluation needs Dask data")
        self.model = model
        self.source = source
        self.client = client
        self.verbose = verbose
        self.passes = 0
        self.counts = {kind: 0 for kind in ("value", "value_grad", "value_grad_hess", "hvp")}
        self.seconds = 0.0
        self.workers_lost: list[str] = []
        self.regroupings = 0
        self.setup_seconds = 0.0
        self._shipped = _Shipped(model)
        self._futures: list[Any] = []
        self._bundles: list[Any] = []
        started = time.perf_counter()
        model.check_fields(source.fields)
        self._prepare_on_workers()
        self.setup_seconds = time.perf_counter() - started

    # --- set-up -------------------------------------------------------------------------------
    def _prepare_on_workers(self) -> None:
        client = self.client
        import dask

        blocks = [dask.delayed(dict)(**block) if isinstance(block, dict) else block
                  for block in self.source.blocks]
        blocks = client.compute(blocks)  # futures; persisted data is not copied
        self._futures = [client.submit(_convert, block, self._shipped, i, pure=False)
                         for i, block in enumerate(blocks)]
        del blocks  # the converted chunks keep what they need
        self._group()

    def _group(self) -> None:
        """Group the chunks by the worker holding them (one task per group)."""
        client = self.client
        from distributed import wait

        wait(self._futures)
        holders = client.who_has(self._futures)
        groups: dict[str, list[int]] = {}
        for i, future in enumerate(self._futures):
            where = holders.get(future.key) or [None]
            groups.setdefault(min(where, key=str), []).append(i)
        self.groups = [(worker, tuple(indices)) for worker, indices in sorted(
            groups.items(), key=lambda item: item[1][0])]
        self._bundles = [
            client.submit(_bundle, *[self._futures[i] for i in indices], pure=False,
                          workers=None if worker is None else [worker], allow_other_workers=True)
            for worker, indices in self.groups]
        wait(self._bundles)
        info = client.scheduler_info()
        self._workers = {address: w.get("id") for address, w in info.get("workers", {}).items()}

    # --- one evaluation ---------------------------------------------------------------------
    def evaluate(self, kind: str, x: np.ndarray, v: np.ndarray | None = None) -> np.ndarray:
        client = self.client
        n_chunks = len(self._futures)
        started = time.perf_counter()
        number = next(_evaluations)
        futures = []
        try:
            for g, (_, indices) in enumerate(self.groups):
                futures.append(client.submit(
                    _evaluate_group, self._shipped, kind, x, v, indices, n_chunks,
                    self._bundles[g], pure=False, key=f"symopt-chunked-{kind}-{number}-{g}"))
            replies = client.gather(futures)
        except BaseException:
            client.cancel(futures)
            raise
        finally:
            self.seconds += time.perf_counter() - started
        self.counts[kind] += 1
        self._check_placement(replies)
        nodes: dict = {}
        rows: dict[int, int] = {}
        finite = True
        empty = None
        for reply in replies:
            if reply["error"] is not None:
                message, index, column, row = reply["error"]
                raise EvaluationStopped(ChunkError(message, index, column, row), index)
            finite = finite and reply["finite"]
            nodes.update(reply["nodes"])
            rows.update(reply["rows"])
            if reply["empty"] is not None:
                empty = reply["empty"]
        size = out_size(kind, self.model.n)
        if not finite:
            return np.full(size, math.nan)
        try:
            self.source.note_rows([rows[i] for i in range(n_chunks)])
        except ChunkError as exc:
            raise EvaluationStopped(exc, None) from exc
        total_rows = sum(rows.values())
        if total_rows == 0:
            raise EvaluationStopped(InputError("the dataset is empty (0 rows)"), None)
        total = tree_root(nodes, n_chunks).copy()
        finish(self.model.reduce, total_rows, total, empty)
        self.passes += 1
        return total

    def _check_placement(self, replies: list[dict]) -> None:
        """Regroup (and record the workers that are gone) when a task ran elsewhere than
        planned: a worker was lost and Dask moved its chunks."""
        moved = False
        for (planned, _), reply in zip(self.groups, replies):
            address, worker_id = reply["worker"]
            if address is None:
                continue
            if address != planned or self._workers.get(address) != worker_id:
                moved = True
        if not moved:
            return
        before = dict(self._workers)
        self._group()
        self.regroupings += 1
        for address, worker_id in before.items():
            if self._workers.get(address) != worker_id and address not in self.workers_lost:
                self.workers_lost.append(address)

    # --- the rest of the Evaluator interface -------------------------------------------------
    @property
    def total_rows(self) -> int | None:
        return self.source.rows

    def report(self) -> dict:
        """Fields for the result."""
        return {"workers_lost": list(self.workers_lost), "setup_seconds": self.setup_seconds,
                "workers": len(self._workers)}

    def close(self) -> None:
        """Let the converted chunks go on the workers."""
        futures, self._futures = self._futures + self._bundles, []
        self._bundles = []
        if futures:
            with contextlib.suppress(Exception):  # a client already closed
                self.client.cancel(futures)
