"""The backpropagation equations of an :func:`symopt.nn.mlp` network, evaluated with the
element-wise work fused around the matrix products.

``print(net.gradient)`` shows what a step computes; :class:`symopt.tensor.numpy_backend.Plan`
evaluates those equations one NumPy pass per line.  Here the whole step is one compiled
function (:func:`_step`): each matrix product is ``numpy.dot`` into a preallocated array
inside Numba (BLAS through SciPy), followed by one compiled pass that does all the
element-wise work next to it:

- forward, hidden layer: ``H = act(H_prev @ W + b)`` in place (``tanh`` by a branch-free
  rational/exponential form that vectorises, :func:`tanh`, a few ulp);
- output layer: ``Z @ W + b``, the loss and ``δ = ∂L/∂Z`` (softmax with its
  ``logsumexp`` and ``(P - Y)/B``, or the binary cross-entropy or squared error) and the
  bias gradient ``sum(δ, axis=0)`` in one pass over the logits;
- backward: ``δ_prev = (δ @ Wᵀ) ⊙ act'(H_prev)`` and its column sums (the previous bias
  gradient) in one pass after the product; ``∂L/∂W = H_prevᵀ @ δ`` straight into the
  gradient's array.

Python is entered once per step.  Every buffer is allocated once per batch size and
reused.  The tests check this path against hand-written NumPy backpropagation, finite
differences and the NumPy plan of the derived equations, and ``tanh``/``exp`` against
mpmath.  Compiled once per install (Numba's disk cache; ``_step`` once per network depth).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from llvmlite import ir as llvmir
from numba import njit, types
from numba.extending import intrinsic

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


@intrinsic
def _f64_from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits`` (a bitcast: vectorises)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvmir.DoubleType())

    return sig, codegen


# tanh(x) for |x| < 0.625: x + x^3 P(x^2)/Q(x^2) (Cephes' tanh, relative error ~3e-16);
# above: (1 - e)/(1 + e) with e = exp(-2|x|) from Cephes' exp (a Pade form on the reduced
# argument |r| <= ln2/2, scaled by 2^k through the exponent bits).  No call and no branch
# in the element loop: both forms are computed and one selected, so the loop vectorises.
_TP0, _TP1, _TP2 = -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3
_TQ0, _TQ1, _TQ2 = 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3
_EP0, _EP1, _EP2 = 1.26177193074810590878e-4, 3.02994407707441961300e-2, 9.99999999999999999910e-1
_EQ0, _EQ1, _EQ2, _EQ3 = (3.00198505138664455042e-6, 2.52448340349684104192e-3,
                          2.27265548208155028766e-1, 2.00000000000000000009e0)
_LOG2E = 1.4426950408889634
_LN2_HI, _LN2_LO = 6.93145751953125e-1, 1.42860682030941723212e-6


@njit(types.UniTuple(_f8, 2)(_f8), inline="always", cache=True, error_model="numpy")
def _exp_parts(t):  # pragma: no cover - compiled
    """``(u, v)`` with ``exp(t) = u / v`` for ``-708 <= t <= 0`` (a few ulp; branch-free)."""
    k = math.floor(t * _LOG2E + 0.5)
    r = (t - k * _LN2_HI) - k * _LN2_LO
    r2 = r * r
    p = r * ((_EP0 * r2 + _EP1) * r2 + _EP2)
    q = ((_EQ0 * r2 + _EQ1) * r2 + _EQ2) * r2 + _EQ3
    return (q + p) * _f64_from_bits((np.int64(k) + 1023) << 52), q - p


@njit(_f8(_f8), inline="always", cache=True, error_model="numpy")
def exp_nonpositive(t):  # pragma: no cover - compiled
    """``exp(t)`` for ``t <= 0`` within a few ulp, branch-free (for vectorised loops; 0 below
    -708 instead of a subnormal); ``t > 0`` gives ``inf``, NaN stays NaN."""
    c = t if t > -708.0 else -708.0                    # (NaN: any finite value)
    c = c if c < 0.0 else 0.0
    u, v = _exp_parts(c)
    e = u / v if t >= -708.0 else 0.0
    return e if t <= 0.0 else (math.inf if t > 0.0 else t)


@njit(_f8(_f8), inline="always", cache=True, error_model="numpy")
def tanh(x):  # pragma: no cover - compiled
    """``tanh(x)`` in float64 within a few ulp, branch-free and with one division (for
    vectorised loops); NaN stays NaN, ``±inf`` gives ``±1``."""
    a = abs(x)
    s = x * x
    q = ((s + _TQ0) * s + _TQ1) * s + _TQ2
    small_num = x * q + x * s * ((_TP0 * s + _TP1) * s + _TP2)      # small = small_num / q
    t = -2.0 * min(a, 20.0)                            # tanh(20) = 1 in float64
    t = t if t == t else -2.0                          # NaN: any finite value (`small` is NaN)
    u, v = _exp_parts(t)                               # e = exp(t) = u / v
    big_num = v - u                                    # (1 - e)/(1 + e) = (v - u)/(v + u)
    big_num = big_num if x >= 0.0 else -big_num
    if a >= 0.625:                                     # (NaN: the small form, NaN)
        return big_num / (v + u)
    return small_num / q


@njit(types.void(_m, _v, _i8), cache=True, nogil=True, error_model="numpy")
def _bias_activation(Z, b, act):  # pragma: no cover - compiled
    """``Z = act(Z + b)`` in place; one loop per activation so that each vectorises."""
    rows, cols = Z.shape
    if act == 1:
        for i in range(rows):
            for j in range(cols):
                Z[i, j] = tanh(Z[i, j] + b[j])
        return
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
    cross-entropy on the logits, 3 mean squared error.  An integer label outside
    ``0..cols-1`` returns ``-inf`` at once (a loss is never ``-inf`` otherwise)."""
    rows, cols = Z.shape
    for j in range(cols):
        gb[j] = 0.0
    total = 0.0
    if kind <= 1:
        inv = 1.0 / rows
        if kind == 0:
            for i in range(rows):
                if y[i] < 0 or y[i] >= cols:           # a label out of range: -inf, no reads
                    return -np.inf
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
                e = exp_nonpositive(Z[i, j] - top)     # one exp per logit: P = e/s
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


@njit(cache=True, nogil=True, error_model="numpy")
def _step(Ws, flip, bs, X, y, Y, kind, act, l2, gWs, gbs, Hs, Ds):  # pragma: no cover - compiled
    """One value-and-gradient step, all of it compiled (Python is entered once per step).

    Per layer ``k`` (tuples of equal length ``L``): ``Ws[k]`` is the weight matrix ``W``
    (``(in, out)``, ``flip[k] == 0``) or its transpose (``(out, in)``, ``flip[k] == 1``),
    both C-contiguous; ``gWs[k]`` receives ``∂L/∂Wᵀ`` (``(out, in)``, C-contiguous:
    ``δᵀ @ H_prev``, the faster orientation of the first layer's product);
    ``Hs[k]`` (k < L-1) the hidden outputs, ``Ds[k]`` the deltas (``Ds[L-1]`` first holds
    the logits).  The products are ``numpy.dot`` into those buffers (BLAS through SciPy)."""
    layers = len(Ws)
    H = X
    for k in range(layers):
        Z = Hs[k] if k < layers - 1 else Ds[k]
        if flip[k]:
            np.dot(H, Ws[k].T, Z)
        else:
            np.dot(H, Ws[k], Z)
        if k < layers - 1:
            _bias_activation(Z, bs[k], act)
            H = Z
    loss = _output_loss(Ds[layers - 1], bs[layers - 1], y, Y, kind, gbs[layers - 1])
    for k in range(layers - 1, -1, -1):
        below = X if k == 0 else Hs[k - 1]
        np.dot(Ds[k].T, below, gWs[k])
        if k:
            if flip[k]:
                np.dot(Ds[k], Ws[k], Ds[k - 1])
            else:
                np.dot(Ds[k], Ws[k].T, Ds[k - 1])
            _mask_colsum(Ds[k - 1], Hs[k - 1], gbs[k - 1], act)
    if l2 != 0.0:
        for k in range(layers):
            W, G = Ws[k], gWs[k]
            if flip[k]:
                loss += _l2(W, G, l2)
            else:
                loss += _l2(W, G.T, l2)
    return loss


_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_M = np.zeros((0, 0))
_FLIPS = {}


class FusedMLP:
    """One value-and-gradient step of an MLP (layers ``act(H @ W + b)``, a linear last
    layer into the loss), written into caller-owned gradient arrays.

    The weight-matrix gradients are computed transposed, ``∂L/∂Wᵀ = δᵀ @ H_prev`` into a
    C-ordered ``(out, in)`` array, and handed back as its transpose (an F-ordered
    ``(in, out)`` array): OpenBLAS runs the first layer's 128 x 784 x 128 product about
    8 % faster in that orientation than as ``Xᵀ @ δ`` (docs/performance.md).

    The whole step is one compiled call (:func:`_step`, compiled once per network depth).
    The intermediate buffers belong to the evaluator: one network object serves one
    thread at a time (build a network per thread to train several at once)."""

    def __init__(self, activation: str, kind: str, labels: str, l2: float):
        self.act = ACT_CODES[activation]
        self.loss = LOSS_CODES[(kind, labels if kind == "classes" else None)]
        self.l2 = float(l2)
        self._buffers: dict = {}

    def _buffers_for(self, batch: int, widths: tuple) -> tuple[tuple, tuple]:
        """``(Hs, Ds)``: a ``(batch, width)`` buffer per layer for the hidden outputs (the
        last one unused) and one for the deltas (the last one first holds the logits),
        cut from buffers kept for the largest batch seen."""
        kept = self._buffers.get(widths)
        if kept is None or kept[0][0].shape[0] < batch:        # (the old cuts go with them)
            kept = self._buffers[widths] = ([np.empty((batch, w)) for w in widths * 2], {})
        full, cuts = kept
        cut = cuts.get(batch)
        if cut is None:
            n = len(widths)
            cut = cuts[batch] = (tuple(a[:batch] for a in full[:n]), tuple(a[:batch] for a in full[n:]))
        return cut

    def __call__(self, Ws: Sequence[np.ndarray], bs: Sequence[np.ndarray], X: np.ndarray,
                 y: np.ndarray, gWs: Sequence[np.ndarray], gbs: Sequence[np.ndarray]) -> float:
        """The loss; the gradient goes into ``gWs`` (F-contiguous arrays of the weight
        matrices' shapes, see above) and ``gbs`` (C-contiguous).  ``Ws`` may be C- or
        F-contiguous.  ``y``: integer labels ``(B,)`` or targets ``(B, K)``."""
        flips = tuple(not W.flags.c_contiguous for W in Ws)
        flip = _FLIPS.get(flips)
        if flip is None:
            flip = _FLIPS[flips] = np.array(flips, dtype=np.int64)
        Hs, Ds = self._buffers_for(X.shape[0], tuple(W.shape[1] for W in Ws))
        Wt = tuple(_writable(W.T if f else W) for W, f in zip(Ws, flips))
        bs = tuple(_writable(b) for b in bs)
        gWt = tuple(G.T for G in gWs)
        if self.loss == 0:
            return _step(Wt, flip, bs, X, y, _EMPTY_M, 0, self.act, self.l2, gWt, tuple(gbs), Hs, Ds)
        return _step(Wt, flip, bs, X, _EMPTY_I, y, self.loss, self.act, self.l2, gWt, tuple(gbs), Hs, Ds)


def _writable(a: np.ndarray) -> np.ndarray:
    """``a``, or a C-ordered copy of it when it is read-only: Numba types a read-only array
    apart from a writable one, and the layers' tuples must hold one type."""
    return a if a.flags.writeable else a.copy()
