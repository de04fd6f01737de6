"""Mini-batch SGD and Adam over the rows of an array formula's data.

``symopt.tensor.minimize(problem, x0, data=..., method="adam", batch_size=256, epochs=5,
seed=0)`` lands here.  The data arrays share a *row dimension*: the size of their leading
axis (``X: "m d"``, ``y: "m"``), which the loss sums or averages over and which no
variable or parameter has.  The compiled kernels read their sizes at run time, so a batch
is the same value+gradient kernel on fewer rows: each epoch shuffles the rows with a
seeded NumPy ``Generator`` (same seed, same result), and one compiled call runs the whole
epoch - for every batch it gathers the batch's rows of every data array into buffers
allocated once, sets the row count in the kernel's size table and calls the kernel, then
updates ``x`` - without recompiling anything.

The options and their meanings are those of the scalar mini-batch path
(:mod:`symopt.stochastic`): ``step`` (or ``lr``) the learning rate, ``momentum`` (SGD's
heavy-ball momentum, Adam's beta1), ``beta2``, ``eps``, ``seed``, ``validation`` and
``patience``; ``history["loss"]`` holds the row-weighted mean batch loss of each epoch.

The batch loss estimates the loss over all rows: a loss that is a *mean* over rows (its
formula divides by the row count) is evaluated on the batch as it is; a loss that is a
*sum* over rows has its rows' part scaled by ``rows / batch rows`` (the part that does
not depend on the rows - the regularisation - is evaluated on zero rows and added once),
so the step size means the same thing for both.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
from numba import njit

from .. import abi
from .._binding import value_grad_fn
from ..errors import InputError
from ..result import OptimizeResult
from ..solvers import status as _status
from ..stochastic import update
from .ir import Dim, Map, topological

__all__ = ["minimize_minibatch", "row_dimension", "MINIBATCH_METHODS"]

MINIBATCH_METHODS = {"sgd": 0, "adam": 1}


def row_dimension(problem) -> tuple[Dim, bool]:
    """The row dimension of ``problem``'s data (the leading axis they share, which no
    variable or parameter has) and whether the loss is a mean over it (its formula divides
    by it); :class:`InputError` says why there is none."""
    if not problem.data:
        raise InputError("mini-batch training (batch_size/epochs) needs a loss over data rows: "
                         "the formula reads no data array")
    leading = {leaf.name: (leaf.shape[0] if leaf.ndim else None) for leaf in problem.data}
    firsts = set(leading.values())
    if len(firsts) != 1 or not isinstance(next(iter(firsts)), Dim):
        shown = ", ".join(f"{name}: {dim if dim is not None else 'scalar'}"
                          for name, dim in leading.items())
        raise InputError("mini-batch training needs data arrays whose leading axes are one "
                         f"size, the rows; the data's leading axes are {shown}")
    (m,) = firsts
    for leaf in problem.data:
        if any(m in sympy_free(s) for s in leaf.shape[1:]):
            raise InputError(f"data {leaf.name!r} has the row size {m} on an axis other than its "
                             "first: its rows cannot be batched")
    for leaf in problem.variables + problem.parameters:
        if any(m in sympy_free(s) for s in leaf.shape):
            raise InputError(f"{leaf.leaf_kind} {leaf.name!r} has the row size {m} in its shape: "
                             "a batch of rows would change it")
    mean = any(isinstance(node, Map) and m in node.body.free_symbols
               for node in topological([problem.loss]))
    return m, mean


def sympy_free(expr) -> set:
    return getattr(expr, "free_symbols", set())


@njit(cache=True, nogil=True, error_model="numpy")
def _epoch(value_grad_address, x, p, table, row_column, sources, buffers, order, batch_size,
           rows, method, opts, mean, m, v, steps, g, g_reg, x_prev):  # pragma: no cover
    """One epoch over the rows ``order``: returns the row-weighted mean batch loss, or NaN
    when a batch's loss or gradient was not finite (``x`` is then set back to the iterate
    before, ``x_prev``).  ``sources``/``buffers``: each data array as bytes per row."""
    value_grad = value_grad_fn(value_grad_address)
    n = x.shape[0]
    lr = opts[abi.OPT_STEP]
    beta1 = opts[abi.OPT_MOMENTUM]
    beta2 = opts[abi.OPT_BETA2]
    eps = opts[abi.OPT_EPS]
    total = 0.0
    count = order.shape[0]
    start = 0
    while start < count:
        stop = min(start + batch_size, count)
        size = stop - start
        for a in range(len(sources)):
            source = sources[a]
            buffer = buffers[a]
            width = source.shape[1]
            for j in range(size):
                row = order[start + j]
                for k in range(width):
                    buffer[j, k] = source[row, k]
        if mean:
            table[0, row_column] = size
            f = value_grad(x, p, table, g)
        else:  # a sum over rows: scale the rows' part to all rows, add the rest once
            table[0, row_column] = 0
            f_reg = value_grad(x, p, table, g_reg)
            table[0, row_column] = size
            f = value_grad(x, p, table, g)
            factor = rows / size
            f = factor * (f - f_reg) + f_reg
            for i in range(n):
                g[i] = factor * (g[i] - g_reg[i]) + g_reg[i]
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
    return total / count


def _as_bytes(a: np.ndarray) -> np.ndarray:
    """A C-contiguous array with rows on axis 0 as a (rows, bytes per row) uint8 view."""
    rows = a.shape[0]
    return a.reshape(rows, -1).view(np.uint8) if a.size else np.empty((rows, 0), np.uint8)


def _options(method, step, lr, momentum, beta2, eps):
    from ..stochastic import MINIBATCH_DEFAULTS, _number

    defaults = MINIBATCH_DEFAULTS[method]
    if lr is not None:
        if step is not None:
            raise InputError("give the learning rate once: step= or lr=")
        step = lr
    opts = np.zeros(abi.N_OPTS)
    opts[abi.OPT_STEP] = _number("step", defaults["step"] if step is None else step, 0.0,
                                 math.inf, True)
    opts[abi.OPT_MOMENTUM] = _number("momentum", defaults["momentum"] if momentum is None
                                     else momentum, 0.0, 1.0)
    if method == "adam":
        opts[abi.OPT_BETA2] = _number("beta2", defaults["beta2"] if beta2 is None else beta2,
                                      0.0, 1.0)
        opts[abi.OPT_EPS] = _number("eps", defaults["eps"] if eps is None else eps, 0.0,
                                    math.inf, True)
    elif beta2 is not None or eps is not None:
        raise InputError("beta2 and eps are options of method 'adam'")
    return opts, defaults


def minimize_minibatch(problem, x0: Any, method: str = "adam", *,  # noqa: C901 - wiring
                       data: Mapping[str, Any] | None = None, params: Any = None,
                       dims: Mapping[Any, int] | None = None, batch_size: int | None = None,
                       epochs: int | None = None, seed: Any = None, step: float | None = None,
                       lr: float | None = None, momentum: float | None = None,
                       beta2: float | None = None, eps: float | None = None,
                       validation: float | None = None,
                       patience: int | None = None,
                       verbose: bool | None = None) -> OptimizeResult:
    """Train an array problem by mini-batch SGD or Adam over its data rows (module
    docstring).  Returns an :class:`OptimizeResult` with ``x``, ``x_dict``, ``fun`` and
    ``jac`` over the training rows at ``x``, ``nit`` (updates), ``epochs``, ``history``
    (``"loss"`` per epoch, and ``"val_loss"`` with ``validation``) and the status
    ``EPOCHS_DONE``, ``EARLY_STOPPED`` or ``NAN_ENCOUNTERED`` (``x`` then the last iterate
    whose batch loss and gradient were finite).  ``verbose`` is accepted for the
    signature of :func:`symopt.stochastic.minimize_minibatch`; this path draws no progress
    bar."""
    from ..options import check_seed
    from ..stochastic import _genuine_status, _number, _positive_int
    from .kernels import compile as compile_kernels

    if method not in MINIBATCH_METHODS:
        raise InputError(f"batch_size and epochs apply to the mini-batch methods "
                         f"{', '.join(MINIBATCH_METHODS)}, not to method {method!r}")
    row_dim, mean = row_dimension(problem)
    opts, defaults = _options(method, step, lr, momentum, beta2, eps)
    batch_size = _positive_int("batch_size", defaults["batch_size"] if batch_size is None
                               else batch_size)
    epochs = _positive_int("epochs", defaults["epochs"] if epochs is None else epochs)
    if patience is not None:
        patience = _positive_int("patience", patience)
        if validation is None:
            raise InputError("patience (early stopping) needs a validation split: validation=0.1")
    kernels = compile_kernels(problem)
    full = kernels.bind(data, params, x0, dims)  # checks every array against the formula
    x = full.x(x0)
    arrays = dict(zip(problem.data_names, full.arrays))
    rows = full.dims[row_dim]
    rng = np.random.default_rng(check_seed(seed))
    val_binding = None
    if validation is not None:
        fraction = _number("validation", validation, 0.0, 1.0, True)
        n_val = int(round(fraction * rows))
        if n_val < 1 or n_val >= rows:
            raise InputError(f"validation={validation!r} of {rows} rows leaves {n_val} "
                             f"validation and {rows - n_val} training rows; both need at least one")
        split = rng.permutation(rows)
        held, kept = np.sort(split[:n_val]), np.sort(split[n_val:])
        val_binding = kernels.bind({k: a[held] for k, a in arrays.items()}, params, x0, dims)
        arrays = {k: np.ascontiguousarray(a[kept]) for k, a in arrays.items()}
        full = kernels.bind(arrays, params, x0, dims)
        rows = rows - n_val
    if batch_size > rows:
        raise InputError(f"batch_size={batch_size} is larger than the {rows} training rows; "
                         f"use batch_size <= {rows}")
    buffers = {k: np.zeros((batch_size,) + a.shape[1:], a.dtype) for k, a in arrays.items()}
    others = None if dims is None else {k: v for k, v in dims.items()
                                        if getattr(k, "name", k) != row_dim.name}
    batch = kernels.bind(buffers, params, x0, others)  # the size table of a batch
    row_column = list(problem.dims).index(row_dim)
    from numba.typed import List

    sources, targets = List(), List()
    for k in problem.data_names:
        sources.append(_as_bytes(arrays[k]))
        targets.append(_as_bytes(buffers[k]))
    n = x.shape[0]
    work = dict(m=np.zeros(n), v=np.zeros(n), steps=np.zeros(1, dtype=np.int64), g=np.empty(n),
                g_reg=np.empty(n), x_prev=x.copy())
    address = kernels.address("value_grad")
    code = MINIBATCH_METHODS[method]
    history: dict[str, list[float]] = {"loss": []}
    if val_binding is not None:
        history["val_loss"] = []
    best_val, best_x, since_best = math.inf, x.copy(), 0
    status = _status.EPOCHS_DONE
    g_val = np.empty(n)
    for _ in range(epochs):
        order = rng.permutation(rows)
        loss = _epoch(address, x, full.p, batch.table, row_column, sources, targets, order,
                      batch_size, float(rows), code, opts, mean, work["m"], work["v"],
                      work["steps"], work["g"], work["g_reg"], work["x_prev"])
        if not math.isfinite(loss):
            status = _status.NAN_ENCOUNTERED
            break
        history["loss"].append(loss)
        if val_binding is not None:
            val_loss = float(kernels.value_grad_kernel(x, val_binding.p, val_binding.table, g_val))
            history["val_loss"].append(val_loss)
            if val_loss < best_val:
                best_val, since_best = val_loss, 0
                best_x[:] = x
            else:
                since_best += 1
                if patience is not None and since_best >= patience:
                    status = _status.EARLY_STOPPED
                    x[:] = best_x
                    break
    if status == _status.EPOCHS_DONE and patience is not None and best_val < math.inf:
        x[:] = best_x
    g = np.empty(n)
    fun = float(kernels.value_grad_kernel(x, full.p, full.table, g))
    status = _genuine_status(status, fun, g, x)
    steps = int(work["steps"][0])
    res = OptimizeResult(x=x, fun=fun, jac=g, nit=steps,
                         nfev=steps + 1 + len(history.get("val_loss", ())), njev=steps + 1,
                         nhev=0, status=status, message=_status.message(status),
                         success=_status.is_success(status), method=method,
                         epochs=len(history["loss"]),
                         history={key: np.array(values) for key, values in history.items()})
    res["x_dict"] = full.split(x)
    res["dims"] = {d.name: v for d, v in full.dims.items()}
    res["row_dimension"] = row_dim.name
    return res
