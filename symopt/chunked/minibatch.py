"""Mini-batch SGD and Adam over chunked data.

Each epoch visits the chunks in an order shuffled by the seeded generator (a chunk
factory's chunks come in the factory's order: it can only be read front to back) and
the rows of each chunk in a shuffled order; the rows form one stream cut into batches
of ``batch_size`` rows, so a batch may span two chunks and every batch but the epoch's
last is full.  The same seed gives the same result.

For a :class:`symopt.DataLoss` one compiled call per chunk gathers the chunk's rows into
the batch buffer and, whenever the buffer is full, calls the problem's ``value_grad``
kernel (bound by address) and updates ``x``: Python sees each chunk once per epoch.
Array formulas (:class:`~symopt.chunked.ArrayModel`) gather each batch with NumPy and
update in Python.

The loss of a batch estimates the loss of all rows as :mod:`symopt.stochastic` does:
``reduce="mean"``: the batch's loss; ``"sum"``: the rows' part scaled by ``rows / batch
rows``, the part added once left as it is.  The updates are those of
:mod:`symopt.stochastic` (heavy-ball SGD, Adam with bias correction) and the defaults
its :data:`~symopt.stochastic.MINIBATCH_DEFAULTS`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from numba import njit

from .. import abi
from .._binding import jit_address, value_grad_fn
from .._progress import Progress
from ..errors import InputError
from ..result import OptimizeResult
from ..solvers import status as _status
from ..stochastic import MINIBATCH_DEFAULTS, MINIBATCH_METHODS, PROGRESS_AFTER_SECONDS, update
from .evaluate import EvaluationStopped, Evaluator, _bad_value_error
from .model import ChunkModel, DataLossModel, model_for
from .solve import DATA_ERROR, begin, status_message
from .sources import Chunk, ChunkError, ChunkSource, DaskChunks, as_source

__all__ = ["minimize_minibatch"]

# status of a compiled stream call
_OK, _NOT_FINITE = 0, 1


@njit(cache=True, nogil=True, error_model="numpy")
def _batch_step(value_grad, x, p, batch, method, opts, row_factor, reg_data, m, v, steps, g,
                g_reg, x_prev, totals):  # pragma: no cover - compiled
    """One update from the full ``batch``; False (and ``x`` set back to ``x_prev``) when
    the batch's loss or gradient is not finite."""
    n = x.shape[0]
    f = value_grad(x, p, batch, g)
    if row_factor != 1.0:  # reduce="sum": scale the rows' part, not the regularization
        f_reg = value_grad(x, p, reg_data, g_reg)
        f = row_factor * (f - f_reg) + f_reg
        for i in range(n):
            g[i] = row_factor * (g[i] - g_reg[i]) + g_reg[i]
    finite = math.isfinite(f)
    for i in range(n):
        finite = finite and math.isfinite(g[i])
    if not finite:
        for i in range(n):
            x[i] = x_prev[i]
        return False
    for i in range(n):
        x_prev[i] = x[i]
    totals[0] += f * batch.shape[1]
    totals[1] += batch.shape[1]
    update(method, x, g, m, v, steps, opts[abi.OPT_STEP], opts[abi.OPT_MOMENTUM],
            opts[abi.OPT_BETA2], opts[abi.OPT_EPS])
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _stream(value_grad_address, x, p, data, order, batch, fill, flush, method, opts, row_factor,
            reg_data, m, v, steps, g, g_reg, x_prev, totals):  # pragma: no cover - compiled
    """Feed the rows ``order`` of ``data`` (columns, rows) into ``batch`` (columns,
    batch_size), ``fill[0]`` rows of which are already there; update ``x`` whenever it is
    full, and, with ``flush``, once more with the rows left over.  Returns _OK, or
    _NOT_FINITE (x set back to the last finite iterate)."""
    value_grad = value_grad_fn(value_grad_address)
    columns = data.shape[0]
    size = batch.shape[1]
    k = fill[0]
    for j in range(order.shape[0]):
        row = order[j]
        for c in range(columns):
            batch[c, k] = data[c, row]
        k += 1
        if k == size:
            k = 0
            if not _batch_step(value_grad, x, p, batch, method, opts, row_factor, reg_data, m, v,
                               steps, g, g_reg, x_prev, totals):
                fill[0] = 0
                return _NOT_FINITE
    fill[0] = k
    if flush and k > 0:
        fill[0] = 0
        rest = np.ascontiguousarray(batch[:, :k])
        if not _batch_step(value_grad, x, p, rest, method, opts, row_factor * size / k if row_factor != 1.0 else 1.0,
                           reg_data, m, v, steps, g, g_reg, x_prev, totals):
            return _NOT_FINITE
    return _OK


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _options(method: str, step, momentum, beta2, eps) -> np.ndarray:
    from ..stochastic import _number

    defaults = MINIBATCH_DEFAULTS[method]
    opts = np.zeros(abi.N_OPTS)
    opts[abi.OPT_STEP] = _number("step", defaults["step"] if step is None else step, 0.0, math.inf, True)
    opts[abi.OPT_MOMENTUM] = _number("momentum", defaults["momentum"] if momentum is None else momentum,
                                     0.0, 1.0)
    if method == "adam":
        opts[abi.OPT_BETA2] = _number("beta2", defaults["beta2"] if beta2 is None else beta2, 0.0, 1.0)
        opts[abi.OPT_EPS] = _number("eps", defaults["eps"] if eps is None else eps, 0.0, math.inf, True)
    elif beta2 is not None or eps is not None:
        raise InputError("beta2 and eps are options of method 'adam'")
    return opts


class _Trainer:
    """The state of a mini-batch run over the chunks of one source."""

    def __init__(self, model: ChunkModel, source: ChunkSource, x: np.ndarray, method: str,
                 opts: np.ndarray, batch_size: int, total_rows: int):
        self.model = model
        self.source = source
        self.x = x
        self.method = MINIBATCH_METHODS[method]
        self.opts = opts
        self.batch_size = batch_size
        n = x.shape[0]
        self.m = np.zeros(n)
        self.v = np.zeros(n)
        self.steps = np.zeros(1, dtype=np.int64)
        self.g = np.empty(n)
        self.g_reg = np.empty(n)
        self.x_prev = x.copy()
        self.totals = np.zeros(2)
        self.fill = np.zeros(1, dtype=np.int64)
        self.row_factor = total_rows / batch_size if model.reduce == "sum" else 1.0
        if isinstance(model, DataLossModel):
            self.address = jit_address(model.kernels.value_grad_kernel, abi.value_grad_sig)
            self.batch = np.empty((len(model.columns), batch_size))
            self.reg_data = np.empty((len(model.columns), 0))
        else:
            self.address = None
            self.pending: list[dict[str, np.ndarray]] = []
            self.pending_rows = 0

    def feed(self, chunk: Chunk, prepared: Any, order: np.ndarray, flush: bool) -> bool:
        """Rows ``order`` of ``chunk`` into the batch stream; False when a batch's loss or
        gradient was not finite."""
        if self.address is not None:
            code = _stream(self.address, self.x, self.model.p, prepared, order, self.batch,
                           self.fill, flush, self.method, self.opts, self.row_factor,
                           self.reg_data, self.m, self.v, self.steps, self.g, self.g_reg,
                           self.x_prev, self.totals)
            return code == _OK
        return self._feed_arrays(chunk, order, flush)

    def _feed_arrays(self, chunk: Chunk, order: np.ndarray, flush: bool) -> bool:
        model = self.model
        start = 0
        while start < order.shape[0] or (flush and self.pending_rows):
            take = min(self.batch_size - self.pending_rows, order.shape[0] - start)
            if take > 0:
                rows = order[start:start + take]
                self.pending.append({k: chunk.arrays[k][rows] for k in model.cut})
                self.pending_rows += take
                start += take
            full = self.pending_rows == self.batch_size
            if not full and not (flush and start >= order.shape[0] and self.pending_rows):
                break
            batch = {k: np.concatenate([p[k] for p in self.pending]) for k in model.cut}
            rows = self.pending_rows
            self.pending, self.pending_rows = [], 0
            if not self._array_step(Chunk(-1, batch, rows), rows):
                return False
        return True

    def _array_step(self, batch: Chunk, rows: int) -> bool:
        model = self.model
        n = self.x.shape[0]
        out = np.empty(1 + n)
        model.evaluate("value_grad", self.x, model.prepare(batch, keep=True), out)
        if model.reduce == "sum":
            reg = np.empty(1 + n)
            model.evaluate_empty("value_grad", self.x, reg)
            factor = self.row_factor * self.batch_size / rows
            out = factor * (out - reg) + reg
        if not np.isfinite(out).all():
            self.x[:] = self.x_prev
            return False
        self.x_prev[:] = self.x
        self.totals += (out[0] * rows, rows)
        self.g[:] = out[1:]
        update(self.method, self.x, self.g, self.m, self.v, self.steps, self.opts[abi.OPT_STEP],
                self.opts[abi.OPT_MOMENTUM], self.opts[abi.OPT_BETA2], self.opts[abi.OPT_EPS])
        return True


def minimize_minibatch(problem: Any, x0: Any, data: Any, method: str = "adam", params: Any = None,
                       *, rows: str | None = None, reduce: str | None = None,
                       fixed: Mapping[str, Any] | None = None, chunk_rows: int | None = None,
                       n_chunks: int | None = None, batch_size: int | None = None,
                       epochs: int | None = None, seed: Any = None, step: float | None = None,
                       momentum: float | None = None, beta2: float | None = None,
                       eps: float | None = None, verbose: bool | None = None) -> OptimizeResult:
    """Mini-batch SGD or Adam over chunked data (:func:`symopt.chunked.minimize` with
    ``batch_size``/``epochs`` or ``method="sgd"`` comes here).

    Parameters are those of :func:`symopt.chunked.minimize` and of
    :func:`symopt.stochastic.minimize_minibatch` (``batch_size`` default 32, ``epochs``
    10, ``seed`` for the shuffles, ``step``, ``momentum``, ``beta2``, ``eps``).

    Returns
    -------
    OptimizeResult
        ``x``; ``fun`` and ``jac`` over all the data at ``x`` (one more pass); ``nit``:
        updates; ``epochs``; ``history["loss"]``: the row-weighted mean batch loss per
        epoch; ``status`` ``EPOCHS_DONE``, ``NAN_ENCOUNTERED`` or :data:`DATA_ERROR`.
    """
    if method not in MINIBATCH_METHODS:
        raise InputError(f"batch_size and epochs apply to the mini-batch methods "
                         f"{', '.join(MINIBATCH_METHODS)}, not to method {method!r}")
    defaults = MINIBATCH_DEFAULTS[method]
    batch_size = _positive_int("batch_size", defaults["batch_size"] if batch_size is None else batch_size)
    epochs = _positive_int("epochs", defaults["epochs"] if epochs is None else epochs)
    opts = _options(method, step, momentum, beta2, eps)
    model = model_for(problem, params, rows=rows, reduce=reduce, fixed=fixed)
    source = as_source(data, chunk_rows, n_chunks)
    if isinstance(source, DaskChunks):
        raise InputError("mini-batch training over Dask data is not supported yet: use a "
                         "full-batch method (lbfgs, newton) on Dask, or give the data locally")
    x = begin(model, source, x0)
    evaluator = Evaluator(model, source, verbose=False)  # schema checks; the final pass
    if source.rows is None:
        evaluator.evaluate("value", x)  # a factory: count its rows once
    total_rows = source.rows
    if batch_size > total_rows:
        raise InputError(f"batch_size={batch_size} is larger than the {total_rows} rows; use "
                         f"batch_size <= {total_rows}")
    rng = np.random.default_rng(seed)
    trainer = _Trainer(model, source, x, method, opts, batch_size, total_rows)
    history: list[float] = []
    status = _status.EPOCHS_DONE
    message = None
    progress = None
    try:
        for epoch in range(1, epochs + 1):
            compiles_now = trainer.address is not None and not _stream.signatures
            epoch_started = time.perf_counter()
            trainer.totals[:] = 0.0
            ok = _run_epoch(trainer, evaluator, rng)
            if ok is not True:
                status, message = ok
                break
            history.append(trainer.totals[0] / trainer.totals[1])
            now = time.perf_counter()
            if progress is None and verbose is not False and epoch < epochs and not compiles_now:
                # the run's expected length from the last epoch (never one that compiled)
                expected = (now - epoch_started) * (epochs - epoch)
                if verbose or expected > PROGRESS_AFTER_SECONDS:
                    progress = Progress(epochs, f"symopt {method}", "epoch", initial=epoch - 1)
            if progress is not None:
                progress.update(epoch, f"loss={history[-1]:.6g}")
    finally:
        if progress is not None:
            progress.close()
    try:
        final = evaluator.evaluate("value_grad", x)
        fun, jac = float(final[0]), final[1:].copy()
    except EvaluationStopped as exc:
        fun, jac = math.nan, np.full(x.shape[0], math.nan)
        if status != DATA_ERROR:
            status, message = DATA_ERROR, f"{status_message(DATA_ERROR)} {exc.error}"
    finally:
        evaluator.close()
    steps = int(trainer.steps[0])
    res = OptimizeResult(
        x=x, fun=fun, jac=jac, nit=steps, nfev=steps + 1, njev=steps + 1, nhev=0, status=status,
        message=message or status_message(status), success=_status.is_success(status),
        method=method, epochs=len(history), history={"loss": np.array(history)},
        chunks=source.n_chunks, rows=total_rows,
    )
    if len(model.variable_names) == x.shape[0]:
        res._set_variable_names(model.variable_names)
    return res


def _run_epoch(trainer: _Trainer, evaluator: Evaluator, rng: np.random.Generator):
    """One epoch; True, or ``(status, message)`` when it ended the run."""
    source = trainer.source
    n = source.n_chunks
    shuffled = source.random_access and n is not None
    order = rng.permutation(n) if shuffled else None
    chunks = (source.chunk(int(i)) for i in order) if shuffled else iter(source)
    for seen, chunk in enumerate(chunks, 1):
        last = seen == n
        try:
            rows_order = rng.permutation(chunk.rows)
            prepared = evaluator._resident.get(chunk.index)
            if prepared is None:
                prepared = trainer.model.prepare(chunk, keep=False)
            if not trainer.feed(chunk, prepared, rows_order, flush=last):
                bad = trainer.model.bad_value(chunk)
                if bad is not None:
                    error = _bad_value_error(chunk, *bad)
                    return DATA_ERROR, f"{status_message(DATA_ERROR)} {error}"
                return _status.NAN_ENCOUNTERED, None
        except ChunkError as exc:
            return DATA_ERROR, f"{status_message(DATA_ERROR)} {exc}"
        finally:
            chunk.done()
    return True
