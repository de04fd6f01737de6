"""minimize over chunked data: the compiled solver on the driver, evaluations over chunks.

The solver is symopt's own compiled solver for the method, called through its entry
point (:func:`symopt._binding.entry_point`) with the callback kernels of
:mod:`symopt.chunked._callbacks` in place of generated ones: each time the solver asks
for the loss (gradient, Hessian), the evaluator walks the chunks
(:class:`symopt.chunked.evaluate.Evaluator`) or asks the Dask workers
(:class:`symopt.chunked.distributed.DaskEvaluator`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import abi
from .._binding import entry_point, no_hessian_address
from ..errors import InputError
from ..minimize import _ALIASES, HISTORY_X_MAX_N, _canonical_method, solver_options
from ..result import OptimizeResult
from ..solvers import HESSIAN_METHODS, registry
from ..solvers import status as _status
from . import _callbacks
from .evaluate import EvaluationStopped, Evaluator, callback_for
from .model import ChunkModel, model_for
from .sources import ChunkError, ChunkSource, DaskChunks, as_source

__all__ = ["DATA_ERROR", "FULL_BATCH_METHODS", "minimize", "status_message"]

#: statuses (symopt.solvers.status): a chunk held bad data (or could not be read), the
#: message names it; the evaluation was stopped from outside (Ctrl-C, a lost cluster)
DATA_ERROR, EVALUATION_FAILED = _status.DATA_ERROR, _status.EVALUATION_FAILED

#: the methods that run on chunked data through callback kernels: every scalar method of
#: the registry (least squares and mini-batch training have their own paths)
FULL_BATCH_METHODS = registry.names("scalar")
_MATRIX_NAMES = {"newton": "hess", "trust-ncg": "hess", "trust-exact": "hess", "bfgs": "hess_inv"}


def status_message(code: int) -> str:
    return _status.message(code)


def begin(model: ChunkModel, source: ChunkSource, x0: Any) -> np.ndarray:
    """The schema checked against the model, then the flat start vector (the model learns
    its sizes from a few rows of the data)."""
    sample = source.sample()  # a factory's fields are known once it has yielded a chunk
    model.check_fields(source.fields)
    return model.start(sample, x0)


def _evaluator(model: ChunkModel, source: ChunkSource, client: Any, verbose: bool | None):
    if isinstance(source, DaskChunks):
        from .distributed import DaskEvaluator, current_client

        client = client if client is not None else current_client()
        if client is not None:
            return DaskEvaluator(model, source, client, verbose=verbose)
    elif client is not None:
        raise InputError("client= runs evaluations on a Dask cluster: give the data as a Dask "
                         "array or DataFrame")
    return Evaluator(model, source, verbose=verbose)


def minimize(
    problem: Any,
    x0: Any,
    data: Any,
    method: str = "newton",
    params: Any = None,
    *,
    rows: str | None = None,
    reduce: str | None = None,
    fixed: Mapping[str, Any] | None = None,
    chunk_rows: int | None = None,
    n_chunks: int | None = None,
    client: Any = None,
    tol: float | None = None,
    gtol: float | None = None,
    ftol: float | None = None,
    xtol: float | None = None,
    max_iter: int | None = None,
    step: float | None = None,
    bounds: Any = None,
    history: bool = False,
    memory: int | None = None,
    radius: float | None = None,
    momentum: float | None = None,
    beta2: float | None = None,
    eps: float | None = None,
    schedule: str | None = None,
    decay: float | None = None,
    batch_size: int | None = None,
    epochs: int | None = None,
    seed: Any = None,
    verbose: bool | None = None,
) -> OptimizeResult:
    """Minimise a loss over data in chunks: larger than memory, or on a Dask cluster.

    Parameters
    ----------
    problem : symopt.DataLoss or symopt.tensor.Problem
        The loss.  An array formula also needs ``rows`` (the size the chunks cut,
        e.g. ``"m"``) and ``reduce`` (``"mean"`` or ``"sum"`` over those rows).
    x0, params
        As for :func:`symopt.minimize`.
    data
        What :func:`symopt.chunked.as_source` accepts: arrays (split by
        ``chunk_rows`` / ``n_chunks``), a memory map or a path to an ``.npy`` file, a
        list of ``.npy``/``.npz`` chunk files, a function returning an iterable of chunks,
        Parquet files, a Dask array / dict of Dask arrays / Dask DataFrame, or a
        :class:`~symopt.chunked.ChunkSource`.
    method : str
        A full-batch method of :func:`symopt.minimize` (``"newton"``, ``"lbfgs"``,
        ``"trust-ncg"``, ...), each evaluation a pass over the chunks; or, with
        ``batch_size``/``epochs``, ``"sgd"`` or ``"adam"`` mini-batch training
        (:func:`symopt.chunked.minibatch.minimize_minibatch`).
    client : distributed.Client, optional
        With Dask data: the cluster (default: the current client, if any; without one,
        the blocks are computed one by one here).
    fixed : mapping, optional
        Array formulas: data arrays without the ``rows`` axis.
    tol, gtol, ftol, xtol, max_iter, step, bounds, history, memory, radius, momentum,
    beta2, eps, schedule, decay
        As for :func:`symopt.minimize`.
    batch_size, epochs, seed
        Mini-batch training.
    verbose : bool, optional
        Progress bar over the chunks of a long pass (``None``: after 2 s of a pass).

    Returns
    -------
    OptimizeResult
        As :func:`symopt.minimize`, plus ``chunks``, ``rows``, ``passes`` (complete
        passes over the data), ``data_seconds`` (time in passes), and on Dask
        ``workers_lost`` (workers that left during the fit; their chunks were
        recomputed by Dask and the fit went on).  A chunk with bad data found during
        the solve ends it with status :data:`DATA_ERROR` and a message naming the
        chunk and the column; bad data found before (schema, data in memory) raises
        :class:`~symopt.chunked.ChunkError`.
    """
    if not isinstance(method, str):
        raise InputError(f"method must be a name, got {method!r}")
    if batch_size is not None or epochs is not None or method.lower() == "sgd":
        from .minibatch import minimize_minibatch

        full_batch_only = {"tol": tol, "gtol": gtol, "ftol": ftol, "xtol": xtol,
                           "max_iter": max_iter, "bounds": bounds, "memory": memory,
                           "radius": radius, "schedule": schedule, "decay": decay}
        given = sorted(k for k, v in full_batch_only.items() if v is not None)
        if given or history:
            raise InputError(f"{', '.join(given + (['history'] if history else []))} do not "
                             "apply to mini-batch training (batch_size=/epochs=/method='sgd')")
        return minimize_minibatch(problem, x0, data, method.lower(), params, rows=rows,
                                  reduce=reduce, fixed=fixed, chunk_rows=chunk_rows,
                                  n_chunks=n_chunks, batch_size=batch_size, epochs=epochs,
                                  seed=seed, step=step, momentum=momentum, beta2=beta2, eps=eps,
                                  verbose=verbose)
    if seed is not None:
        raise InputError("seed= shuffles mini-batches: give batch_size= or epochs=")
    model = model_for(problem, params, rows=rows, reduce=reduce, fixed=fixed)
    source = as_source(data, chunk_rows, n_chunks)
    method = method.lower().replace("_", "-")
    hvp_entry = _hvp_entry(method) if "hvp" in model.kinds else None
    if hvp_entry is None:
        method = _ALIASES.get(method) or _canonical_method(method)
        if method not in FULL_BATCH_METHODS:
            raise InputError(f"method {method!r} does not run on chunked data; the methods that "
                             f"do are {', '.join(FULL_BATCH_METHODS)} (newton-cg with array "
                             "formulas; sgd/adam mini-batch)")
        if method in HESSIAN_METHODS and "value_grad_hess" not in model.kinds:
            raise InputError(f"method {method!r} needs the Hessian, which this problem's kernels "
                             "do not give (matrix variables); use 'lbfgs'")
    if tol is not None and gtol is None:
        gtol = tol
    x = begin(model, source, x0)
    if hvp_entry is not None:
        opts = _hvp_options(method, gtol, ftol, xtol, max_iter, radius, step=step,
                            bounds=bounds, memory=memory, momentum=momentum, beta2=beta2,
                            eps=eps, schedule=schedule, decay=decay)
    else:
        opts = solver_options(method, gtol=gtol, ftol=ftol, xtol=xtol, max_iter=max_iter,
                              step=step, bounds=bounds, variable_names=_names(model),
                              memory=memory, radius=radius, momentum=momentum, beta2=beta2,
                              eps=eps, schedule=schedule, decay=decay)
    if bounds is not None:
        n = model.n
        np.clip(x, opts[abi.N_OPTS:abi.N_OPTS + n], opts[abi.N_OPTS + n:], out=x)
    evaluator = _evaluator(model, source, client, verbose)
    try:
        return _solve(method, model, evaluator, x, opts, history, int(opts[abi.OPT_MAX_ITER]),
                      hvp_entry)
    finally:
        evaluator.close()


def _names(model: ChunkModel) -> list[str]:
    names = list(model.variable_names)
    if len(names) == model.n:
        return names
    return [f"x[{i}]" for i in range(model.n)]


def _hvp_entry(method: str):
    """The compiled entry of a Hessian-vector-product method (``newton-cg``, and
    ``trust-ncg`` without a matrix) from :mod:`symopt.tensor`, or None."""
    try:
        from symopt.tensor.minimize import HVP_METHODS, hvp_entry_point
    except ImportError:
        return None
    return hvp_entry_point(method) if method in HVP_METHODS else None


def _hvp_options(method: str, gtol, ftol, xtol, max_iter, radius, **unused) -> np.ndarray:
    given = sorted(k for k, v in unused.items() if v is not None)
    if given:
        raise InputError(f"method {method!r} (Hessian-vector products) takes no "
                         f"{', '.join(given)}")
    from symopt.tensor.minimize import _options

    return _options(method, gtol, ftol, xtol, max_iter, {} if radius is None else {"radius": radius})


def _solve(method: str, model: ChunkModel, evaluator, x: np.ndarray, opts: np.ndarray,
           history: bool, max_iter: int, hvp_entry=None) -> OptimizeResult:
    n = model.n
    failure: list[BaseException] = []
    callback = callback_for(evaluator.evaluate, n, failure.append)
    token = _callbacks.register(callback)
    try:
        kernels = _callbacks.addresses()
        if hvp_entry is not None:
            hess, entry = kernels["hvp"], hvp_entry
        else:
            hess = kernels["value_grad_hess"] if method in HESSIAN_METHODS else no_hessian_address()
            entry = entry_point(method)
        info = np.zeros(abi.N_INFO, dtype=np.int64)
        hist = np.empty((max_iter + 1, 2 + n if n <= HISTORY_X_MAX_N else 2)) if history \
            else np.empty((0, 0))
        g = np.empty(n)
        H = np.empty((n, n)) if method in _MATRIX_NAMES and hvp_entry is None else np.empty((0, 0))
        started = time.perf_counter()
        fun = entry(kernels["value"], kernels["value_grad"], hess, x,
                    np.empty(0), _callbacks.token_data(token), opts, info, hist, g, H)
        seconds = time.perf_counter() - started
    finally:
        _callbacks.unregister(token)
    for exc in failure:
        if isinstance(exc, KeyboardInterrupt):
            raise exc
    counts = info.tolist()
    code = counts[abi.INFO_STATUS]
    message = status_message(code)
    if failure:
        exc = failure[0]
        stopped = exc.error if isinstance(exc, EvaluationStopped) else exc
        if isinstance(stopped, ChunkError) or isinstance(exc, EvaluationStopped):
            code = DATA_ERROR
            message = f"{status_message(DATA_ERROR)} {stopped}"
        else:
            code = EVALUATION_FAILED
            message = f"{status_message(EVALUATION_FAILED)} {type(stopped).__name__}: {stopped}"
        fun = float("nan")
    elif counts[abi.INFO_NIT] == 0 and code == _status.NAN_ENCOUNTERED \
            and not np.isfinite(x).all():
        from ..problem import check_finite_values

        check_finite_values(x, _names(model), "x0")
    res = OptimizeResult(
        x=x, fun=float(fun), jac=g, nit=counts[abi.INFO_NIT], nfev=counts[abi.INFO_NFEV],
        njev=counts[abi.INFO_NJEV], nhev=counts[abi.INFO_NHEV], status=code, message=message,
        success=code < _status.FIRST_FAILURE and not failure, method=method,
        chunks=evaluator.source.n_chunks, rows=evaluator.total_rows, passes=evaluator.passes,
        data_seconds=evaluator.seconds, seconds=seconds,
    )
    if method in _MATRIX_NAMES and hvp_entry is None:
        res[_MATRIX_NAMES[method]] = H
    if history:
        rows = counts[abi.INFO_NHIST]
        res["history"] = {"f": hist[:rows, 0].copy(), "gnorm": hist[:rows, 1].copy()}
        if hist.shape[1] > 2:
            res["history"]["x"] = hist[:rows, 2:].copy()
    extra = getattr(evaluator, "report", None)
    if extra is not None:
        res.update(extra())
        lost = res.get("workers_lost")
        if lost:
            res["message"] += (f" {len(lost)} worker{'s' if len(lost) > 1 else ''} left the "
                               "cluster during the fit; Dask recomputed their chunks and the "
                               "fit went on.")
    if len(model.variable_names) == n:
        res._set_variable_names(model.variable_names)
    return res
