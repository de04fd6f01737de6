"""Mini-batch training of a loss over data rows: SGD (with momentum) and Adam.

``minimize(loss, x0, data=..., method="adam", batch_size=256, epochs=20, seed=0)``
lands here (see :func:`minimize_minibatch`).  Each epoch shuffles the training rows
with a seeded NumPy ``Generator`` (same seed, same result), then one compiled call runs
the whole epoch: for every batch it gathers the batch's rows into a preallocated buffer,
calls the problem's ``value_grad`` kernel on it (bound by address, as the solvers bind
theirs) and updates ``x``.  Python only sees one call per epoch: enough to evaluate the
validation loss, stop early and draw a progress bar.

The loss of a batch estimates the loss of the whole training set: with
``reduce="mean"`` it is the batch mean plus the regularization; with ``reduce="sum"``
the row sum is scaled by ``rows / batch rows`` (the regularization, added once, is not
scaled), so the step size means the same thing for both.

Options use the slots of :mod:`symopt.abi` (``OPT_STEP`` the learning rate,
``OPT_MOMENTUM`` SGD's momentum or Adam's first-moment coefficient, ``OPT_BETA2``,
``OPT_EPS``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from numba import njit

from . import abi
from ._binding import jit_address, value_grad_fn
from ._progress import Progress
from .data import data_array
from .errors import InputError
from .kernels import compile
from .options import check_seed
from .problem import Problem
from .result import OptimizeResult
from .solvers import registry
from .solvers import status as _status

__all__ = ["minimize_minibatch", "MINIBATCH_METHODS", "MINIBATCH_DEFAULTS"]

#: the mini-batch methods and their codes inside the compiled epoch
MINIBATCH_METHODS = {"sgd": 0, "adam": 1}

#: Defaults, from the method registry (:mod:`symopt.solvers.registry`, which says why)
MINIBATCH_DEFAULTS = {m.name: m.defaults for m in registry.methods("minibatch")}

#: show a progress bar (with verbose=None) when the run is expected to take longer
PROGRESS_AFTER_SECONDS = 2.0


@njit(cache=True, nogil=True, error_model="numpy")
def update(method, x, g, m, v, steps, lr, beta1, beta2, eps):  # pragma: no cover - compiled
    """One mini-batch step on ``x`` from the batch gradient ``g``: SGD with heavy-ball
    momentum (``method`` 0; ``m`` the velocity) or Adam (1; ``m``, ``v`` the moments,
    bias-corrected by the step count ``steps[0]``, which it increments).  The one update
    of every mini-batch path (this module, symopt.tensor.stochastic, symopt.chunked)."""
    n = x.shape[0]
    steps[0] += 1
    if method == 0:  # SGD with heavy-ball momentum
        for i in range(n):
            m[i] = beta1 * m[i] + g[i]
            x[i] -= lr * m[i]
    else:  # Adam
        t = steps[0]
        c1 = 1.0 - beta1 ** t
        c2 = 1.0 - beta2 ** t
        for i in range(n):
            m[i] = beta1 * m[i] + (1.0 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i]
            x[i] -= lr * (m[i] / c1) / (math.sqrt(v[i] / c2) + eps)


@njit(cache=True, nogil=True, error_model="numpy")
def _epoch(value_grad_address, x, p, rows_data, order, batch_size, method, opts, row_factor,
           reg_data, m, v, steps, g, g_reg, batch, last_batch, x_prev):  # pragma: no cover
    """One epoch over the rows ``order`` of ``rows_data`` (the data row-major: shape
    (rows, columns), so gathering a shuffled row reads one or two cache lines instead of
    one per column): returns the row-weighted mean of
    the batch losses, or NaN when a batch's loss or gradient was not finite (then ``x``
    is set back to the iterate before, ``x_prev``, whose batch loss was finite).  ``steps[0]`` counts the updates (Adam's bias
    correction uses it)."""
    value_grad = value_grad_fn(value_grad_address)
    n = x.shape[0]
    columns = rows_data.shape[1]
    rows = order.shape[0]
    lr = opts[abi.OPT_STEP]
    beta1 = opts[abi.OPT_MOMENTUM]
    beta2 = opts[abi.OPT_BETA2]
    eps = opts[abi.OPT_EPS]
    total = 0.0
    start = 0
    while start < rows:
        stop = min(start + batch_size, rows)
        size = stop - start
        buffer = batch if size == batch_size else last_batch
        for j in range(size):
            row = order[start + j]
            for k in range(columns):
                buffer[k, j] = rows_data[row, k]
        f = value_grad(x, p, buffer, g)
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
            return np.nan
        for i in range(n):
            x_prev[i] = x[i]
        total += f * size
        update(method, x, g, m, v, steps, lr, beta1, beta2, eps)
        start = stop
    return total / rows


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _number(name: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    ok = (value > low if low_open else value >= low) and value < high
    if not ok:
        raise InputError(f"{name} must be in {'(' if low_open else '['}{low}, {high}), got {value!r}")
    return value


def _genuine_status(status: int, fun: float, g: np.ndarray, x: np.ndarray) -> int:
    """A success only where the loss over all rows and its gradient are finite (the batch
    losses each epoch were, but their sum over all rows may overflow): ``PROBABLY_UNBOUNDED``
    for a loss of -Inf, ``NAN_ENCOUNTERED`` for NaN, ``OVERFLOW`` for Inf."""
    if not _status.is_success(status) or (math.isfinite(fun) and np.isfinite(g).all()
                                          and np.isfinite(x).all()):
        return status
    if fun == -math.inf:
        return _status.PROBABLY_UNBOUNDED
    if math.isnan(fun) or np.isnan(g).any() or np.isnan(x).any():
        return _status.NAN_ENCOUNTERED
    return _status.OVERFLOW


def _loss_text(loss: float, val_loss: float | None) -> str:
    return f"loss={loss:.6g}" + (f" val_loss={val_loss:.6g}" if val_loss is not None else "")


def minimize_minibatch(  # noqa: C901 (checks and wiring of one training run; split when it grows)
    problem: Problem,
    x0: Any,
    method: str = "adam",
    params: Any = None,
    *,
    data: Any = None,
    batch_size: int | None = None,
    epochs: int | None = None,
    seed: Any = None,
    step: float | None = None,
    momentum: float | None = None,
    beta2: float | None = None,
    eps: float | None = None,
    validation: float | None = None,
    patience: int | None = None,
    verbose: bool | None = None,
) -> OptimizeResult:
    """Train a loss over data rows by mini-batch SGD or Adam (called by
    :func:`symopt.minimize` when ``batch_size`` or ``epochs`` is given, or for
    ``method="sgd"``).

    Parameters
    ----------
    problem : DataLoss (or any problem that reads data columns)
    x0, params, data : as for :func:`symopt.minimize`
    method : {"sgd", "adam"}
    batch_size : int
        Rows per batch (default 32); at most the number of training rows.  The last
        batch of an epoch holds the remaining rows.
    epochs : int
        Passes over the training rows (default 10).
    seed : int or numpy Generator, optional
        Seeds the shuffles (and the validation split): the same seed gives the same
        result.
    step : float
        Learning rate (SGD 0.01, Adam 0.001).
    momentum : float
        SGD: heavy-ball momentum (default 0); Adam: first-moment coefficient beta1 (0.9).
    beta2, eps : float
        Adam's second-moment coefficient (0.999) and denominator guard (1e-8).
    validation : float, optional
        Fraction of the rows held out (chosen by the seeded generator); their loss is
        reported after each epoch as ``history["val_loss"]``.
    patience : int, optional
        With ``validation``: stop when the validation loss has not improved for this
        many epochs, and return the best ``x`` seen.
    verbose : bool, optional
        Progress bar with the current loss: ``None`` (default) shows it when the run
        is expected to take more than about 2 s; ``False`` never.

    Returns
    -------
    OptimizeResult
        ``x``; ``fun`` and ``jac``: the loss and gradient over the training rows at
        ``x``; ``nit``: updates made; ``epochs``: epochs run; ``history``: ``"loss"``
        (mean batch loss per epoch) and, with validation, ``"val_loss"``; ``status``
        ``EPOCHS_DONE``, ``EARLY_STOPPED`` or ``NAN_ENCOUNTERED``.
    """
    if method not in MINIBATCH_METHODS:
        raise InputError(
            f"batch_size and epochs apply to the mini-batch methods {', '.join(MINIBATCH_METHODS)}, "
            f"not to method {method!r}"
        )
    if not problem.data_names:
        raise InputError(
            f"method {method!r} with batch_size/epochs trains a loss over data rows: "
            "use a symopt.DataLoss and pass data=..."
        )
    defaults = MINIBATCH_DEFAULTS[method]
    batch_size = _positive_int("batch_size", defaults["batch_size"] if batch_size is None else batch_size)
    epochs = _positive_int("epochs", defaults["epochs"] if epochs is None else epochs)
    opts = np.zeros(abi.N_OPTS)
    opts[abi.OPT_STEP] = _number("step", defaults["step"] if step is None else step, 0.0, math.inf, True)
    opts[abi.OPT_MOMENTUM] = _number("momentum", defaults["momentum"] if momentum is None else momentum, 0.0, 1.0)
    if method == "adam":
        opts[abi.OPT_BETA2] = _number("beta2", defaults["beta2"] if beta2 is None else beta2, 0.0, 1.0)
        opts[abi.OPT_EPS] = _number("eps", defaults["eps"] if eps is None else eps, 0.0, math.inf, True)
    elif beta2 is not None or eps is not None:
        raise InputError("beta2 and eps are options of method 'adam'")
    if patience is not None:
        patience = _positive_int("patience", patience)
        if validation is None:
            raise InputError("patience (early stopping) needs a validation split: validation=0.1")

    x = problem._x_array(x0)
    p = problem._param_array(params)
    d = data_array(problem, data)
    rng = np.random.default_rng(check_seed(seed))
    rows = d.shape[1]
    val = None
    if validation is not None:
        fraction = _number("validation", validation, 0.0, 1.0, True)
        n_val = int(round(fraction * rows))
        if n_val < 1 or n_val >= rows:
            raise InputError(
                f"validation={validation!r} of {rows} rows leaves {n_val} validation and "
                f"{rows - n_val} training rows; both need at least one"
            )
        split = rng.permutation(rows)
        val = np.ascontiguousarray(d[:, np.sort(split[:n_val])])
        d = np.ascontiguousarray(d[:, np.sort(split[n_val:])])
        rows = d.shape[1]
    if batch_size > rows:
        raise InputError(
            f"batch_size={batch_size} is larger than the {rows} training rows; "
            f"use batch_size <= {rows}"
        )

    kernels = compile(problem)
    value_grad_address = jit_address(kernels.value_grad_kernel, abi.value_grad_sig)
    # a row-major copy of the training rows: a shuffled batch is gathered from it row by
    # row (gathering from the column layout cost more than the kernel: docs/performance.md)
    rows_data = np.ascontiguousarray(d.T)
    n = x.shape[0]
    columns = d.shape[0]
    row_factor = rows / batch_size if problem.reduce == "sum" else 1.0
    last_rows = rows % batch_size
    work = dict(
        reg_data=np.empty((columns, 0)), m=np.zeros(n), v=np.zeros(n),
        steps=np.zeros(1, dtype=np.int64), g=np.empty(n), g_reg=np.empty(n),
        batch=np.empty((columns, batch_size)), last_batch=np.empty((columns, last_rows)),
        x_prev=x.copy(),
    )
    code = MINIBATCH_METHODS[method]
    history: dict[str, list[float]] = {"loss": []}
    if val is not None:
        history["val_loss"] = []
    best_val, best_x, since_best = math.inf, x.copy(), 0
    status = _status.EPOCHS_DONE
    progress = None
    started = time.perf_counter()
    epoch = 0
    try:
        for epoch in range(1, epochs + 1):
            order = rng.permutation(rows)
            compiled_now = not _epoch.signatures
            epoch_started = time.perf_counter()
            loss = _epoch(value_grad_address, x, p, rows_data, order, batch_size, code, opts,
                          row_factor, work["reg_data"], work["m"], work["v"], work["steps"],
                          work["g"], work["g_reg"], work["batch"], work["last_batch"],
                          work["x_prev"])
            if not math.isfinite(loss):
                status = _status.NAN_ENCOUNTERED
                break
            history["loss"].append(loss)
            val_loss = None
            if val is not None:
                val_loss = float(kernels.value_kernel(x, p, val))
                history["val_loss"].append(val_loss)
            now = time.perf_counter()
            if progress is None and verbose is not False and epoch < epochs and not compiled_now:
                # the run's expected length from the last epoch (never the one that compiled)
                expected = (now - started) + (now - epoch_started) * (epochs - epoch)
                if verbose or expected > PROGRESS_AFTER_SECONDS:
                    progress = Progress(epochs, f"symopt {method}", "epoch")
                    for e, past in enumerate(history["loss"][:-1], 1):
                        progress.update(e, _loss_text(past, history["val_loss"][e - 1]
                                                      if val is not None else None))
            if progress is not None:
                progress.update(epoch, _loss_text(loss, val_loss))
            if val is not None:
                if val_loss < best_val:
                    best_val, since_best = val_loss, 0
                    best_x[:] = x
                else:
                    since_best += 1
                    if patience is not None and since_best >= patience:
                        status = _status.EARLY_STOPPED
                        x[:] = best_x
                        break
    finally:
        if progress is not None:
            progress.close()
    # after NAN_ENCOUNTERED, x is the last iterate whose batch loss and gradient were finite
    # (set back by _epoch)
    if status == _status.EPOCHS_DONE and patience is not None and best_val < math.inf:
        x[:] = best_x  # early stopping keeps the best point even when it never fired
    g = np.empty(n)
    fun = float(kernels.value_grad_kernel(x, p, d, g))
    status = _genuine_status(status, fun, g, x)
    steps = int(work["steps"][0])
    res = OptimizeResult(
        x=x, fun=fun, jac=g, nit=steps, nfev=steps + 1 + len(history.get("val_loss", ())),
        njev=steps + 1, nhev=0, status=status, message=_status.message(status),
        success=_status.is_success(status), method=method,
        epochs=len(history["loss"]),
        history={key: np.array(values) for key, values in history.items()},
    )
    res._set_variable_names(problem.variable_names)
    return res
