"""Training a :class:`~symopt.nn.Network`: mini-batch SGD (plain, momentum, Nesterov) and
Adam over shuffled batches, learning-rate schedules, a validation split with early
stopping, and full-batch L-BFGS / Newton-CG through :func:`symopt.tensor.minimize`.

Every step evaluates the network's derived loss and gradient (the backpropagation
equations ``print(net.gradient)`` shows).  Shuffling draws from ``numpy.random`` seeded by
``seed``: a run is repeatable for a given seed (and BLAS thread count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import ProblemError
from ..solvers import status as _status

__all__ = ["fit", "TrainResult", "OPTIMIZERS", "SCHEDULES"]


@dataclass
class TrainResult:
    """The outcome of :func:`fit`: ``weights`` (named arrays), ``history`` (per epoch:
    ``loss``, ``lr``, and with validation data ``val_loss``, ``val_accuracy``), ``status``
    and ``message`` (symopt's status table), ``success``, ``epochs`` run, ``nit`` (steps),
    ``fun`` (the last training loss), ``best_epoch`` (early stopping)."""

    weights: dict[str, np.ndarray]
    history: dict[str, list[float]]
    status: int
    message: str
    success: bool
    epochs: int
    nit: int
    fun: float
    best_epoch: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"TrainResult(status={self.status} {self.message!r}, epochs={self.epochs}, "
                f"nit={self.nit}, fun={self.fun:.6g})")


# --- optimizers: one small class per rule, state kept as flat vectors ------------------------
#
# ``step(w, g, lr, t, out)`` takes every weight as one flat vector (the named weights are
# views into it), writes the new weights into the flat buffer ``out`` in one compiled
# pass (symopt.nn._updates) and returns whether they are all finite; ``w`` is untouched.

class _SGD:
    def __init__(self, lr, momentum=0.0, nesterov=False, **_):
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.velocity: np.ndarray | None = None

    def step(self, w, g, lr, t, out):
        from . import _updates

        if self.velocity is None:
            self.velocity = np.zeros(w.size)
        return _updates.sgd(w, g, self.velocity, out, lr, self.momentum, self.nesterov)


class _Adam:
    def __init__(self, lr, beta1=0.9, beta2=0.999, eps=1e-8, **_):
        self.b1, self.b2, self.eps = float(beta1), float(beta2), float(eps)
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None

    def step(self, w, g, lr, t, out):
        from . import _updates

        if self.m is None:
            self.m, self.v = np.zeros(w.size), np.zeros(w.size)
        c1, c2 = 1 - self.b1 ** t, 1 - self.b2 ** t
        return _updates.adam(w, g, self.m, self.v, out, lr, self.b1, self.b2, c1, c2, self.eps)


#: name -> (optimizer class, its fixed options)
OPTIMIZERS: dict[str, tuple[type, dict]] = {
    "sgd": (_SGD, {}),
    "momentum": (_SGD, {"momentum": 0.9}),
    "nesterov": (_SGD, {"momentum": 0.9, "nesterov": True}),
    "adam": (_Adam, {}),
}
_FULL_BATCH = ("lbfgs", "newton-cg", "trust-ncg", "bfgs")
_DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 1e-3}


# --- learning-rate schedules: epoch -> factor ----------------------------------------------

def _constant(epoch, epochs, **_):
    return 1.0


def _step(epoch, epochs, step_size=10, gamma=0.5, **_):
    return gamma ** (epoch // step_size)


def _exponential(epoch, epochs, gamma=0.95, **_):
    return gamma ** epoch


def _cosine(epoch, epochs, **_):
    return 0.5 * (1 + math.cos(math.pi * epoch / max(epochs, 1)))


#: name -> factor(epoch, epochs, **schedule_options) multiplying the base learning rate
SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": _constant, "step": _step, "exponential": _exponential, "cosine": _cosine,
}


def _schedule(schedule: Any, options: Mapping[str, Any]) -> Callable[[int, int], float]:
    if schedule is None:
        return lambda e, n: 1.0
    if callable(schedule):
        return lambda e, n: float(schedule(e))
    if schedule not in SCHEDULES:
        raise ProblemError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)} "
                           "or pass a function of the epoch")
    fn = SCHEDULES[schedule]
    return lambda e, n: fn(e, n, **options)


# --- the training loop ---------------------------------------------------------------------

def _split(X, y, validation_split, validation_data, seed):
    if validation_data is not None:
        return X, y, validation_data[0], validation_data[1]
    if not validation_split:
        return X, y, None, None
    if not 0 < validation_split < 1:
        raise ProblemError(f"validation_split must lie in (0, 1), got {validation_split}")
    order = np.random.default_rng(seed).permutation(X.shape[0])
    n_val = max(1, int(round(validation_split * X.shape[0])))
    val, train = order[:n_val], order[n_val:]
    return X[train], y[train], X[val], y[val]


class _Flat:
    """The weights as one flat vector with named views into it (the optimizers update the
    vector in one pass; the network reads the views).  A weight marked ``transposed`` is
    stored as its transpose and viewed F-contiguous (what the fused step writes fastest)."""

    def __init__(self, names, shapes, transposed):
        self.names = list(names)
        sizes = [int(np.prod(shape)) for shape in shapes]
        self.vector = np.empty(sum(sizes))
        self.views, start = [], 0
        for shape, size, flip in zip(shapes, sizes, transposed):
            block = self.vector[start:start + size]
            self.views.append(block.reshape(shape[::-1]).T if flip else block.reshape(shape))
            start += size

    def named(self) -> dict[str, np.ndarray]:
        return dict(zip(self.names, self.views))


class _Batches:
    """Mini-batches gathered into buffers allocated once (``X[idx]`` without a temporary)."""

    def __init__(self, X, y, batch_size):
        from ._fused import gather_labels, gather_rows

        self.X, self.y = X, y
        self.Xb = np.empty((min(batch_size, X.shape[0]),) + X.shape[1:])
        self.yb = np.empty((self.Xb.shape[0],) + y.shape[1:], dtype=y.dtype)
        self._rows = gather_rows if X.ndim == 2 else None
        self._y = gather_labels if (y.ndim == 1 and y.dtype == np.int64) else \
            (gather_rows if y.ndim == 2 and y.dtype == np.float64 else None)

    def __call__(self, idx):
        n = idx.shape[0]
        if self._rows is None:
            Xb = self.X[idx]
        else:
            Xb = self.Xb[:n]
            self._rows(self.X, idx, Xb)
        if self._y is None:
            yb = self.y[idx]
        else:
            yb = self.yb[:n]
            self._y(self.y, idx, yb)
        return Xb, yb


def _epoch(net, opt, w, spare, grad, batches, order, batch_size, lr, t):
    """One pass over the batches of ``order``: the new weights, the spare buffers, the
    step count, the summed loss, whether everything stayed finite, and (loss, weights) of
    the last step whose loss was finite (those weights are intact: updates go to the
    spare buffers, which then swap with the weights)."""
    total, finite = 0.0, None
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        Xb, yb = batches(idx)
        f = net._value_and_grad_into(w.views, Xb, yb, grad.views)
        if not math.isfinite(f):
            return w, spare, t, total, False, finite
        t += 1
        total += f * len(idx)
        finite = (f, w)
        if not opt.step(w.vector, grad.vector, lr, t, spare.vector):
            return w, spare, t, total, False, finite
        w, spare = spare, w
    return w, spare, t, total, True, finite


def _buffers(net, weights) -> tuple[_Flat, _Flat, _Flat]:
    """The weights copied into a flat vector, a spare one and one for the gradient."""
    start = net._check_weights(weights)
    layout = (net._layer_order, [a.shape for a in start], net._transposed)
    w, spare, grad = _Flat(*layout), _Flat(*layout), _Flat(*layout)
    for flat in (w, spare):
        flat.shown = [v.name for v in net.variables]
    for view, a in zip(w.views, start):
        view[...] = a
    return w, spare, grad


def _copy(w: _Flat) -> dict[str, np.ndarray]:
    """Independent C-ordered copies, named in the order of ``w.shown`` (the network's
    variables: W1, b1, W2, b2)."""
    named = w.named()
    return {k: named[k].copy() for k in w.shown}


def _validate(net, w, Xv, yv, history) -> tuple[float, str]:
    val = net.value(w, Xv, yv)
    history["val_loss"].append(val)
    text = f" val_loss={val:.4g}"
    if "val_accuracy" in history:
        acc = net.accuracy(w, Xv, yv)
        history["val_accuracy"].append(acc)
        text += f" val_acc={acc:.3f}"
    return val, text


def _check_run(method, batch_size, epochs) -> None:
    if method not in OPTIMIZERS:
        raise ProblemError(f"unknown method {method!r}; choose from "
                           f"{', '.join(list(OPTIMIZERS) + list(_FULL_BATCH))}")
    if batch_size < 1 or epochs < 0:
        raise ProblemError(f"batch_size must be >= 1 and epochs >= 0, got {batch_size} and {epochs}")


def fit(net, X: Any, y: Any, *, method: str = "adam", epochs: int = 10, batch_size: int = 128,
        lr: float | None = None, schedule: Any = None, schedule_options: Mapping[str, Any] | None = None,
        seed: int = 0, shuffle: bool = True, weights: Mapping[str, np.ndarray] | None = None,
        validation_split: float = 0.0, validation_data: tuple | None = None,
        patience: int | None = None, min_delta: float = 0.0, restore_best: bool = True,
        progress: bool = False, max_iter: int | None = None, **options: Any) -> TrainResult:
    """Train ``net`` on ``(X, y)``.

    Parameters
    ----------
    method : ``"adam"`` (default), ``"sgd"``, ``"momentum"``, ``"nesterov"`` (mini-batch), or
        ``"lbfgs"``, ``"newton-cg"`` (full batch, :func:`symopt.tensor.minimize`'s compiled
        solvers; ``max_iter`` iterations).
    epochs, batch_size : passes over the data and rows per step (the last batch of an epoch
        may be smaller).
    lr : the base learning rate (default 1e-3 for Adam, 0.1 for SGD, 0.05 with momentum).
    schedule : ``"constant"``, ``"step"`` (``step_size``, ``gamma``), ``"exponential"``
        (``gamma``), ``"cosine"`` or a function ``epoch -> factor``; options in
        ``schedule_options``.
    seed : shuffling (and the validation split, and the initial weights when ``weights``
        is not given).
    validation_split / validation_data : the last fraction of a seeded permutation of the
        rows, or ``(X_val, y_val)``: ``val_loss`` (and ``val_accuracy`` for classifiers) per
        epoch in the history and on the progress bar.
    patience : stop when ``val_loss`` has not improved by ``min_delta`` for this many
        epochs; ``restore_best`` returns the weights of the best epoch.
    progress : show a progress bar over the epochs.
    **options : the optimizer's (``momentum``, ``beta1``, ``beta2``, ``eps``) or, full
        batch, :func:`symopt.tensor.minimize`'s.

    A loss or gradient that is NaN or Inf ends the run with status ``NAN_ENCOUNTERED``,
    the last weights whose (batch) loss was finite and that loss as ``fun``; bad shapes
    raise :class:`symopt.ShapeError`.
    """
    X, y = net.check_data(X, y)
    w = {k: np.array(v, dtype=float) for k, v in (weights or net.init(seed)).items()}
    missing = [v.name for v in net.variables if v.name not in w]
    if missing:
        raise ProblemError(f"weights: missing {', '.join(missing)}")
    if method in _FULL_BATCH:
        return _full_batch(net, X, y, w, method, max_iter, options)
    _check_run(method, batch_size, epochs)
    X, y, Xv, yv = _split(X, y, validation_split, validation_data, seed)
    if Xv is not None:
        Xv, yv = net.check_data(Xv, yv)
    cls, fixed = OPTIMIZERS[method]
    opt = cls(lr, **{**fixed, **options})
    base_lr = _DEFAULT_LR[method] if lr is None else float(lr)
    factor = _schedule(schedule, schedule_options or {})
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    history: dict[str, list[float]] = {"loss": [], "lr": []}
    if Xv is not None:
        history["val_loss"] = []
        if net.kind != "regression":
            history["val_accuracy"] = []
    bar = None
    if progress:
        from .._progress import Progress
        bar = Progress(epochs, "training", "epoch")
    status, t, best, best_epoch, best_w, since = _status.EPOCHS_DONE, 0, math.inf, None, None, 0
    w, spare, grad = _buffers(net, w)
    last, last_w = math.nan, w
    batches = _Batches(X, y, batch_size)
    epoch = 0
    try:
        for epoch in range(1, epochs + 1):
            lr_now = base_lr * factor(epoch - 1, epochs)
            order = rng.permutation(n) if shuffle else np.arange(n)
            w, spare, t, total, ok, finite = _epoch(net, opt, w, spare, grad, batches, order, batch_size,
                                                    lr_now, t)
            if finite is not None:
                last, last_w = finite
            if not ok:
                status = _status.NAN_ENCOUNTERED
                break
            history["loss"].append(total / n)
            history["lr"].append(lr_now)
            text = f"loss={total / n:.4g}"
            if Xv is not None:
                val, more = _validate(net, w.named(), Xv, yv, history)
                text += more
                if val < best - min_delta:
                    best, best_epoch, since = val, epoch, 0
                    best_w = _copy(w)
                else:
                    since += 1
                if not math.isfinite(val):
                    status = _status.NAN_ENCOUNTERED
                    break
            if bar is not None:
                bar.update(epoch, text)
            if patience is not None and Xv is not None and since >= patience:
                status = _status.EARLY_STOPPED
                break
    finally:
        if bar is not None:
            bar.close()
    final = _copy(last_w if status == _status.NAN_ENCOUNTERED else w)
    if status == _status.EARLY_STOPPED and restore_best and best_w is not None:
        final = best_w
    name, message, success = _status.TABLE[status]
    if status == _status.NAN_ENCOUNTERED:
        message = (f"the loss or its gradient became NaN or Inf at step {t + 1} (epoch {epoch}); "
                   "the weights are the last ones whose batch loss was finite, `fun` that loss "
                   "(try a smaller lr)")
    return TrainResult(weights=final, history=history, status=status, message=message, success=success,
                       epochs=len(history["loss"]), nit=t, fun=last, best_epoch=best_epoch)


def _full_batch(net, X, y, w, method, max_iter, options) -> TrainResult:
    from .. import tensor as st

    dims = {d: net.sizes[d.name] for d in net.problem.dims if d.name in net.sizes}
    res = st.minimize(net.problem, w, method=method, data={net.inputs.name: X, net.target.name: y},
                      dims=dims, max_iter=max_iter, **options)
    weights = {k: np.array(v, dtype=float).reshape(np.shape(w[k])) for k, v in res.x_dict.items()}
    return TrainResult(weights=weights, history={"loss": [float(res.fun)]}, status=int(res.status),
                       message=str(res.message), success=bool(res.success), epochs=0,
                       nit=int(res.nit), fun=float(res.fun), extra={"result": res})
