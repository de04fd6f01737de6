"""The backpropagation equations of an :func:`symopt.nn.mlp` network, evaluated with the
element-wise work fused around the matrix products.

``print(net.gradient)`` shows what a step computes; :class:`symopt.tensor.numpy_backend.Plan`
evaluates those equations one NumPy pass per line.  Here the same lines are grouped so
that each matrix product (BLAS, ``numpy.dot`` into a preallocated array) is followed by
one compiled pass that does all the element-wise work next to it:

- forward, hidden layer: ``H = act(H_prev @ W + b)`` in place (``tanh`` through NumPy's
  SIMD loop, which is faster than a scalar ``math.tanh`` in a compiled loop);
- output layer: ``Z @ W + b``, the loss and ``δ = ∂L/∂Z`` (softmax with its
  ``logsumexp`` and ``(P - Y)/B``, or the binary cross-entropy or squared error) and the
  bias gradient ``sum(δ, axis=0)`` in one pass over the logits;
- backward: ``δ_prev = (δ @ Wᵀ) ⊙ act'(H_prev)`` and its column sums (the previous bias
  gradient) in one pass after the product; ``∂L/∂W = H_prevᵀ @ δ`` straight into the
  gradient's array.

Every buffer is allocated once per batch size and reused.  The tests check this path
against hand-written NumPy backpropagation, finite differences and the NumPy plan of the
derived equations.  Compiled once per install (explicit signatures, Numba's disk cache).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from numba import njit, types

__all__ = ["FusedMLP", "ACT_CODES", "LOSS_CODES", "gather_rows", "gather_labels", "labels_within"]

#: activation name -> code of the compiled passes
ACT_CODES = {"identity": 0, "linear": 0, "tanh": 1, "sigmoid": 2, "relu": 3, "softplus": 4}
#: (loss kind, labels) -> code: softmax with integer labels, softmax one-hot, BCE, MSE
LOSS_CODES = {("classes", "int"): 0, ("classes", "onehot"): 1, ("binary", None): 2,
              ("regression", None): 3}

# error_model="numpy" everywhere: no ZeroDivisionError branch in the loops, so they vectorise
_f8, _i8 = types.float64, types.int64
_m = types.float64[:, ::1]
_v = types.float64[::1]
_iv = types.int64[::1]


@njit(types.void(_m, _v, _i8), cache=True, nogil=True, error_model="numpy")
def _bias_activation(Z, b, act):  # pragma: no cover - compiled
    """``Z = act(Z + b)`` in place (every activation but tanh, which NumPy does faster)."""
    rows, cols = Z.shape
    for i in range(rows):
        for j in range(cols):
            z = Z[i, j] + b[j]
            if act == 2:                               # sigmoid, stable both ways
                if z >= 0.0:
                    z = 1.0 / (1.0 + math.exp(-z))
                else:
                    e = math.exp(z)
                    z = e / (1.0 + e)
            elif act == 3:                             # relu
                z = z if z > 0.0 else 0.0
            elif act == 4:                             # softplus
                z = max(z, 0.0) + math.log1p(math.exp(-abs(z)))
            Z[i, j] = z


@njit(types.void(_m, _m, _v, _i8), cache=True, nogil=True, error_model="numpy")
def _mask_colsum(D, H, gb, act):  # pragma: no cover - compiled
    """``D *= act'`` written through the layer's output ``H`` (tanh: ``1 - H²``, sigmoid:
    ``H(1 - H)``, relu: ``H > 0``, softplus: ``sigmoid(z) = -expm1(-H)``), and ``gb`` =
    the column sums of the result.  One loop per activation so each vectorises."""
    rows, cols = D.shape
    for j in range(cols):
        gb[j] = 0.0
    if act == 1:
        for i in range(rows):
            for j in range(cols):
                h = H[i, j]
                d = D[i, j] * (1.0 - h * h)
                D[i, j] = d
                gb[j] += d
    elif act == 2:
        for i in range(rows):
            for j in range(cols):
                h = H[i, j]
                d = D[i, j] * (h * (1.0 - h))
                D[i, j] = d
                gb[j] += d
    elif act == 3:
        for i in range(rows):
            for j in range(cols):
                d = D[i, j] if H[i, j] > 0.0 else 0.0
                D[i, j] = d
                gb[j] += d
    elif act == 4:
        for i in range(rows):
            for j in range(cols):
                d = D[i, j] * -math.expm1(-H[i, j])
                D[i, j] = d
                gb[j] += d
    else:
        for i in range(rows):
            for j in range(cols):
                gb[j] += D[i, j]


@njit(_f8(_m, _v, _iv, _m, _i8, _v), cache=True, nogil=True, error_model="numpy")
def _output_loss(Z, b, y, Y, kind, gb):  # pragma: no cover - compiled
    """The loss of the logits ``Z + b`` (``Z`` = the last layer's product) against integer
    labels ``y`` or targets ``Y``; ``Z`` is overwritten with ``δ = ∂L/∂Z`` and ``gb`` with
    its column sums.  ``kind``: 0 softmax / integer labels, 1 softmax / one-hot, 2 binary
    cross-entropy on the logits, 3 mean squared error."""
    rows, cols = Z.shape
    for j in range(cols):
        gb[j] = 0.0
    total = 0.0
    if kind <= 1:
        inv = 1.0 / rows
        for i in range(rows):
            top = -np.inf
            for j in range(cols):
                z = Z[i, j] + b[j]
                Z[i, j] = z
                top = max(top, z)
            if not math.isfinite(top):                 # a row of -inf (or inf, nan)
                top = 0.0
            if kind == 0:
                picked = Z[i, y[i]]
            else:
                picked = 0.0
                for j in range(cols):
                    picked += Y[i, j] * Z[i, j]
            s = 0.0
            for j in range(cols):
                e = math.exp(Z[i, j] - top)            # one exp per logit: P = e/s
                Z[i, j] = e
                s += e
            total += math.log(s) + top - picked
            scale = inv / s
            for j in range(cols):
                d = Z[i, j] * scale
                if kind == 0:
                    if j == y[i]:
                        d -= inv
                else:
                    d -= Y[i, j] * inv
                Z[i, j] = d
                gb[j] += d
        return total * inv
    inv = 1.0 / (rows * cols)
    for i in range(rows):
        for j in range(cols):
            z = Z[i, j] + b[j]
            t = Y[i, j]
            if kind == 2:
                e = math.exp(-abs(z))
                total += max(z, 0.0) + math.log1p(e) - t * z
                p = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)
                d = (p - t) * inv
            else:
                r = z - t
                total += r * r
                d = 2.0 * r * inv
            Z[i, j] = d
            gb[j] += d
    return total * inv


@njit(_f8(types.float64[:, :], types.float64[:, :], _f8), cache=True, nogil=True, error_model="numpy")
def _l2(W, G, lam):  # pragma: no cover - compiled
    """``G += lam*W`` (any memory layouts); returns ``lam/2 * sum(W**2)``."""
    rows, cols = W.shape
    s = 0.0
    for i in range(rows):
        for j in range(cols):
            w = W[i, j]
            s += w * w
            G[i, j] += lam * w
    return 0.5 * lam * s


@njit(types.void(_m, _iv, _m), cache=True, nogil=True, error_model="numpy")
def gather_rows(X, idx, out):  # pragma: no cover - compiled
    """``out[:len(idx)] = X[idx]`` without a temporary."""
    cols = X.shape[1]
    for i in range(idx.size):
        r = idx[i]
        for j in range(cols):
            out[i, j] = X[r, j]


@njit(types.void(_iv, _iv, _iv), cache=True, nogil=True, error_model="numpy")
def gather_labels(y, idx, out):  # pragma: no cover - compiled
    for i in range(idx.size):
        out[i] = y[idx[i]]


@njit(types.boolean(_iv, _i8), cache=True, nogil=True, error_model="numpy")
def labels_within(y, classes):  # pragma: no cover - compiled
    """Whether every label lies in ``0..classes-1`` (``classes < 0``: no upper bound)."""
    for i in range(y.size):
        if y[i] < 0 or (classes >= 0 and y[i] >= classes):
            return False
    return True


_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_M = np.zeros((0, 0))


class FusedMLP:
    """One value-and-gradient step of an MLP (layers ``act(H @ W + b)``, a linear last
    layer into the loss), written into caller-owned gradient arrays.

    The weight-matrix gradients are computed transposed, ``∂L/∂Wᵀ = δᵀ @ H_prev`` into a
    C-ordered ``(out, in)`` array, and handed back as its transpose (an F-ordered
    ``(in, out)`` array): OpenBLAS runs the first layer's 128 x 784 x 128 product about
    8 % faster in that orientation than as ``Xᵀ @ δ`` (docs/performance.md).

    The intermediate buffers belong to the evaluator: one network object serves one
    thread at a time (build a network per thread to train several at once)."""

    def __init__(self, activation: str, kind: str, labels: str, l2: float):
        self.act = ACT_CODES[activation]
        self.loss = LOSS_CODES[(kind, labels if kind == "classes" else None)]
        self.l2 = float(l2)
        self._buffers: dict = {}

    def _buffers_for(self, batch: int, widths: tuple) -> list[np.ndarray]:
        """One ``(batch, width)`` buffer per layer (hidden outputs, then the deltas that
        overwrite the logits), cut from buffers kept for the largest batch seen."""
        key = widths
        full = self._buffers.get(key)
        if full is None or full[0].shape[0] < batch:
            full = self._buffers[key] = [np.empty((batch, w)) for w in widths] + \
                                        [np.empty((batch, w)) for w in widths[:-1]]
        return [a[:batch] for a in full]

    def __call__(self, Ws: Sequence[np.ndarray], bs: Sequence[np.ndarray], X: np.ndarray,
                 y: np.ndarray, gWs: Sequence[np.ndarray], gbs: Sequence[np.ndarray]) -> float:
        """The loss; the gradient goes into ``gWs`` (F-contiguous arrays of the weight
        matrices' shapes, see above) and ``gbs`` (C-contiguous).  ``Ws`` may be C- or
        F-contiguous.  ``y``: integer labels ``(B,)`` or targets ``(B, K)``."""
        layers = len(Ws)
        batch = X.shape[0]
        widths = tuple(W.shape[1] for W in Ws)
        bufs = self._buffers_for(batch, widths)
        Hs, Ds = bufs[:layers - 1], bufs[layers:] + [bufs[layers - 1]]
        act = self.act
        H = X
        for k in range(layers - 1):
            Z = Hs[k]
            np.dot(H, Ws[k], out=Z)
            if act == 1:
                np.add(Z, bs[k], out=Z)
                np.tanh(Z, out=Z)
            elif act:
                _bias_activation(Z, bs[k], act)
            else:
                np.add(Z, bs[k], out=Z)
            H = Z
        D = Ds[-1]
        np.dot(H, Ws[-1], out=D)
        if self.loss == 0:
            loss = _output_loss(D, bs[-1], y, _EMPTY_M, 0, gbs[-1])
        else:
            loss = _output_loss(D, bs[-1], _EMPTY_I, y, self.loss, gbs[-1])
        for k in range(layers - 1, -1, -1):
            below = X if k == 0 else Hs[k - 1]
            np.dot(Ds[k].T, below, out=gWs[k].T)
            if k:
                np.dot(Ds[k], Ws[k].T, out=Ds[k - 1])
                _mask_colsum(Ds[k - 1], Hs[k - 1], gbs[k - 1], act)
        if self.l2:
            for W, G in zip(Ws, gWs):
                loss += _l2(W, G, self.l2)
        return loss
