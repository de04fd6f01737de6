"""Kernels that call back into Python: how a compiled solver drives chunked evaluation.

Each kernel below has a signature of :mod:`symopt.abi` (and ``hvp(x, p, data, v, out)``)
and the same body: read a *token* from ``data[0, 0]``, re-take the GIL
(``numba.objmode``) and ask the Python evaluator registered under that token for the
result, written straight into the solver's arrays.  Their machine-code addresses go to
the solvers' entry points (:func:`symopt._binding.entry_point`) exactly like generated
kernels, so every compiled solver runs unchanged, on the driver, while an evaluation
walks the chunks (or asks Dask workers) in Python.  They are compiled once per install
and cached on disk.

An evaluation that fails (bad data found in a chunk, a lost cluster, Ctrl-C) is recorded
by the evaluator and raised here as an exception: the solver catches it around its
loop and ends with ``NAN_ENCOUNTERED`` at the last accepted iterate, and the caller
turns that into a status naming the chunk (:mod:`symopt.chunked.solve`).  After a
failure every further call returns NaN at once, without touching the data.
"""

from __future__ import annotations

import itertools
import math
import threading
import warnings

import numba
import numpy as np
from numba import njit, types

from .. import abi

__all__ = ["addresses", "hvp_sig", "register", "token_data", "unregister"]

#: hvp(x, p, data, v, out): out = H(x) v
hvp_sig = types.void(abi.vec, abi.vec, abi.mat, abi.vec, abi.vec)

VALUE, VALUE_GRAD, VALUE_GRAD_HESS, HVP = range(4)

_evaluators: dict[int, object] = {}
_tokens = itertools.count(1)
_lock = threading.Lock()


def register(callback) -> int:
    """Register ``callback(kind, x, a, b) -> f`` (``kind`` one of VALUE.. HVP; ``a`` and
    ``b`` the solver's output arrays: gradient and Hessian, or v and H v); its token."""
    with _lock:
        token = next(_tokens)
        _evaluators[token] = callback
    return token


def unregister(token: int) -> None:
    with _lock:
        _evaluators.pop(token, None)


def token_data(token: int) -> np.ndarray:
    """The ``data`` argument that routes a solver's kernel calls to ``token``."""
    return np.array([[float(token)]])


def _call(token: float, kind: int, x, a, b) -> tuple[float, int]:
    """The Python side of every callback kernel: ``(f, failed)``."""
    callback = _evaluators.get(int(token))
    if callback is None:
        return math.nan, 1
    try:
        return float(callback(kind, x, a, b)), 0
    except BaseException:  # noqa: BLE001 - the evaluator has recorded what went wrong
        return math.nan, 1


class ChunkEvaluationFailed(RuntimeError):
    """Raised inside a callback kernel to end the solve (caught by the solver)."""


@njit(cache=True)
def value(x, p, data):  # pragma: no cover - compiled
    token = data[0, 0]
    with numba.objmode(f="float64", failed="int64"):
        f, failed = _call(token, VALUE, x, x, x)
    if failed:
        raise ChunkEvaluationFailed("chunked evaluation failed")
    return f


@njit(cache=True)
def value_grad(x, p, data, g):  # pragma: no cover - compiled
    token = data[0, 0]
    with numba.objmode(f="float64", failed="int64"):
        f, failed = _call(token, VALUE_GRAD, x, g, g)
    if failed:
        raise ChunkEvaluationFailed("chunked evaluation failed")
    return f


@njit(cache=True)
def value_grad_hess(x, p, data, g, H):  # pragma: no cover - compiled
    token = data[0, 0]
    with numba.objmode(f="float64", failed="int64"):
        f, failed = _call(token, VALUE_GRAD_HESS, x, g, H)
    if failed:
        raise ChunkEvaluationFailed("chunked evaluation failed")
    return f


@njit(cache=True)
def hvp(x, p, data, v, out):  # pragma: no cover - compiled
    token = data[0, 0]
    with numba.objmode(failed="int64"):
        _, failed = _call(token, HVP, x, v, out)
    if failed:
        raise ChunkEvaluationFailed("chunked evaluation failed")


#: kind -> (dispatcher, signature); compiled on first use (then loaded from Numba's cache)
_KERNELS = {
    "value": (value, abi.value_sig),
    "value_grad": (value_grad, abi.value_grad_sig),
    "value_grad_hess": (value_grad_hess, abi.value_grad_hess_sig),
    "hvp": (hvp, hvp_sig),
}
_addresses: dict[str, int] = {}


def addresses() -> dict[str, int]:
    """Machine-code addresses of the callback kernels, by kind."""
    if not _addresses:
        from .._binding import jit_address

        with _lock:
            if not _addresses:
                found = {}
                for kind, (dispatcher, signature) in _KERNELS.items():
                    if not dispatcher.signatures:
                        with warnings.catch_warnings():
                            # objmode: Numba warns that the block holds the GIL (it must)
                            warnings.simplefilter("ignore", numba.NumbaWarning)
                            dispatcher.compile(signature)
                    found[kind] = jit_address(dispatcher, signature)
                _addresses.update(found)
    return dict(_addresses)
