"""Networks as array formulas: activations, losses, ``mlp`` and the ``Network`` that holds a
network's formula, its backpropagation equations and fast evaluation."""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np

from .. import tensor as st
from ..errors import ProblemError, ShapeError
from ..tensor.display import Equations
from ..tensor.ir import Dim, Leaf, Node, elementwise
from ..tensor.numpy_backend import Plan
from ..tensor.share import share
from ._functions import relu as _relu

__all__ = ["tanh", "sigmoid", "relu", "softplus", "identity", "ACTIVATIONS", "mse",
           "binary_cross_entropy", "softmax_cross_entropy", "l2", "LOSSES", "Network", "mlp"]


# --- activations -------------------------------------------------------------------------------

def tanh(z: Node) -> Node:
    """``tanh(z)`` element by element (derivative ``1 - tanh(z)**2``)."""
    return st.tanh(z)


def sigmoid(z: Node) -> Node:
    """``1/(1 + exp(-z))`` element by element, evaluated stably."""
    return st.sigmoid(z)


def relu(z: Node) -> Node:
    """``max(z, 0)`` element by element.  Its derivative is taken as 1 for ``z > 0`` and
    **0 for z <= 0, including at 0** (PyTorch's and JAX's convention)."""
    return elementwise(_relu, z, what="relu")


def softplus(z: Node) -> Node:
    """``log(1 + exp(z))`` element by element, evaluated stably (derivative ``sigmoid``)."""
    return st.softplus(z)


def identity(z: Node) -> Node:
    """No activation (a linear layer)."""
    return z


#: name -> activation
ACTIVATIONS = {"tanh": tanh, "sigmoid": sigmoid, "relu": relu, "softplus": softplus,
               "identity": identity, "linear": identity}


# --- losses --------------------------------------------------------------------------------

def _targets_2d(target: Leaf, classes: Any) -> Node:
    return st.onehot(target, classes) if target.dtype == "int" else target


def mse(output: Node, target: Leaf) -> Node:
    """Mean squared error: the mean over every entry of ``(output - target)**2``."""
    if target.shape != output.shape:
        raise ShapeError(f"mse: target of shape {st.ir.shape_str(target.shape)} against output "
                         f"of shape {st.ir.shape_str(output.shape)}")
    return st.mean((output - target) ** 2)


def binary_cross_entropy(logits: Node, target: Leaf) -> Node:
    """Binary cross-entropy of ``sigmoid(logits)`` against 0/1 targets, written on the logits
    so it is stable: the mean of ``softplus(z) - y*z``."""
    if target.shape != logits.shape:
        raise ShapeError(f"binary_cross_entropy: target of shape {st.ir.shape_str(target.shape)} "
                         f"against logits of shape {st.ir.shape_str(logits.shape)}")
    return st.mean(st.softplus(logits) - target * logits)


def softmax_cross_entropy(logits: Node, target: Leaf) -> Node:
    """Softmax cross-entropy over the classes (axis 1) of ``(B, K)`` logits: the batch mean
    of ``logsumexp(z_i) - z_i[y_i]``, for integer labels ``(B,)`` (``pick``) or one-hot
    targets ``(B, K)``.  ``logsumexp`` subtracts the row maximum: no overflow."""
    lse = st.logsumexp(logits, axis=1)
    if target.dtype == "int":
        return st.mean(lse - st.pick(logits, target))
    if target.shape != logits.shape:
        raise ShapeError(f"softmax_cross_entropy: one-hot targets of shape "
                         f"{st.ir.shape_str(target.shape)} against logits of shape "
                         f"{st.ir.shape_str(logits.shape)}")
    return st.mean(lse - st.sum(target * logits, axis=1))


def l2(weights: Sequence[Node], lam: float) -> Node:
    """``lam/2 * sum(W**2)`` over ``weights`` (the L2 penalty; its gradient is ``lam*W``)."""
    return sum((st.sum(w ** 2) for w in weights[1:]), st.sum(weights[0] ** 2)) * (lam / 2)


#: name -> (loss function, output transform for predictions, kind)
LOSSES = {
    "softmax": (softmax_cross_entropy, "softmax", "classes"),
    "softmax_cross_entropy": (softmax_cross_entropy, "softmax", "classes"),
    "cross_entropy": (softmax_cross_entropy, "softmax", "classes"),
    "bce": (binary_cross_entropy, "sigmoid", "binary"),
    "binary_cross_entropy": (binary_cross_entropy, "sigmoid", "binary"),
    "mse": (mse, "identity", "regression"),
}


# --- the network --------------------------------------------------------------------------

class Network:
    """A network as formulas: ``loss`` (a scalar over a batch of ``inputs`` and
    ``target``), ``output`` (what ``predict`` returns), the layer names for printing.

    Build one with :func:`mlp`, or from your own formula, giving the sizes of its
    dimensions other than the batch (the first dimension of ``inputs``) and, to print the
    equations with layer names, ``names`` (``{node: "H1"}``; ``Z<k>`` names a layer's
    pre-activation, whose adjoint then prints as ``δ<k>``)::

        net = Network(loss, output=probabilities, inputs=X, target=y, sizes={"d": 64, "K": 10},
                      kind="classes")

    ``print(net.loss)`` shows the formula, ``print(net.gradient)`` the backpropagation
    equations, ``net.value_and_grad(weights, X, y)`` evaluates them, ``net.fit(...)``
    trains (:mod:`symopt.nn.train`).
    """

    def __init__(self, loss: Node, output: Node, inputs: Leaf, target: Leaf, *,
                 names: Mapping[Node, str] | None = None, kind: str = "regression",
                 sizes: Mapping[str, int] | None = None, activation: str | None = None):
        if not isinstance(loss, Node) or loss.ndim != 0:
            raise ProblemError("a network's loss must be a scalar array formula")
        self.loss = loss
        self.output = output
        self.inputs = inputs
        self.target = target
        self.names = dict(names or {})
        self.kind = kind
        self.activation = activation
        self.sizes = dict(sizes or {})
        self._size_cache: dict = {}
        self.problem = st.Problem(loss)
        self.variables: tuple[Leaf, ...] = self.problem.variables
        self.batch: Dim = inputs.shape[0]
        extra = [d.name for d in self.problem.data if d not in (inputs, target)]
        if extra or self.problem.parameters:
            raise ProblemError("a network's loss reads only its inputs, its target and its "
                               f"weights; it also reads {', '.join(extra) or 'parameters'}")

    def __repr__(self) -> str:
        shapes = ", ".join(f"{v.name}{st.ir.shape_str(v.shape)}" for v in self.variables)
        return f"<symopt.nn.Network {self.kind}, weights {shapes}>"

    # --- formulas ------------------------------------------------------------------------
    @cached_property
    def _shared(self) -> tuple[list[Node], dict[Node, str]]:
        """The loss, the gradient and the output with the layers' named results reused
        (``1 - H1**2`` instead of ``1 - tanh(...)**2``); names of the rewritten nodes."""
        grads = [self.problem.gradient_formulas[v] for v in self.variables]
        roots = [self.loss, *grads, self.output]
        rewritten, new = share(roots, list(self.names))
        names = {new.get(node, node): name for node, name in self.names.items()}
        adjoints = self.problem.adjoints
        layer_deltas = {}
        for node, name in self.names.items():
            if name.startswith("Z"):
                # ∂L/∂Z = ∂L/∂(H @ W): the product's adjoint is complete even where
                # Z = H @ W + b is fused into the nodes that read it
                adj = adjoints.get(_product_of(node))
                if adj is None:
                    adj = adjoints.get(node)
                if adj is not None:
                    layer_deltas[new.get(adj, adj)] = "δ" + name[1:]
        names.update(layer_deltas)
        return rewritten, names

    @cached_property
    def gradient(self) -> Equations:
        """The backpropagation equations, layer by layer, with named intermediates
        (``Z1, H1, ..., P`` forward, ``δ`` of each layer backward): ``print`` it, show it in
        a notebook (LaTeX), ``.latex()`` for LaTeX source; ``gradient["W1"]`` is a formula."""
        rewritten, names = self._shared
        grads = rewritten[1:1 + len(self.variables)]
        return Equations([(v.name, f"∂L/∂{v.name}", g) for v, g in zip(self.variables, grads)],
                         names=names, auto=False)

    # --- evaluation ----------------------------------------------------------------------
    @cached_property
    def _value_grad_plan(self) -> Plan:
        rewritten, _ = self._shared
        return Plan(rewritten[:1 + len(self.variables)])

    @cached_property
    def _loss_plan(self) -> Plan:
        return Plan([self._shared[0][0]])

    @cached_property
    def _output_plan(self) -> Plan:
        rewritten, _ = self._shared
        return Plan([rewritten[-1]])

    def shapes(self, batch: int = 1) -> dict[str, tuple[int, ...]]:
        """Each weight's shape (the layer sizes are those the network was built with)."""
        values = self._sizes(batch)
        return {v.name: st.binding.evaluate_shape(v.shape, values) for v in self.variables}

    def _sizes_key(self) -> tuple:
        """``self.sizes`` as a sorted tuple (a cache key), rebuilt only when it changed."""
        seen = self.__dict__.get("_sizes_seen")
        if seen is None or seen[0] != self.sizes:
            seen = self._sizes_seen = (dict(self.sizes), tuple(sorted(self.sizes.items())))
        return seen[1]

    def _sizes(self, batch: int) -> dict[Dim, int]:
        key = (batch, self._sizes_key())
        cached = self._size_cache.get(key)
        if cached is None:
            values = {d: self.sizes[d.name] for d in self.problem.dims if d.name in self.sizes}
            values[self.batch] = batch
            shapes = (st.binding.evaluate_shape(self.inputs.shape, values),
                      st.binding.evaluate_shape(self.target.shape, values))
            cached = self._size_cache[key] = (values, shapes)
        return cached[0]

    def _data_shapes(self, batch: int) -> tuple[tuple, tuple]:
        key = (batch, self._sizes_key())
        cached = self._size_cache.get(key)
        if cached is None:
            self._sizes(batch)
            cached = self._size_cache[key]
        return cached[1]

    def check_data(self, X: Any, y: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``X`` and ``y`` as arrays of the shapes the formula needs; a ``ShapeError`` names
        both shapes when they do not fit."""
        return self._check_data(X, y, True)

    def _check_data(self, X: Any, y: Any, labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`check_data`; ``labels=False`` leaves the range of integer labels to the
        caller (the fused step checks it as it reads them)."""
        X = np.ascontiguousarray(X, dtype=float)
        if not X.flags.writeable:          # compiled code types read-only arrays apart
            X = X.copy()
        want, want_y = self._data_shapes(X.shape[0] if X.ndim else 0)
        if X.shape != want:
            raise ShapeError(f"inputs {self.inputs.name!r} have shape {X.shape} but the network "
                             f"needs {want} (batch, {', '.join(map(str, want[1:]))})")
        if y is None:
            return X, None
        dtype = np.int64 if self.target.dtype == "int" else float
        y = np.asarray(y)
        if dtype is np.int64 and y.dtype.kind == "f":
            if not np.all(y == np.round(y)):
                raise ShapeError("integer class labels were expected, got fractional values")
        y = np.ascontiguousarray(y, dtype=dtype)
        if not y.flags.writeable:
            y = y.copy()
        if y.ndim == 1 and self.target.ndim == 2 and dtype is float:
            y = y[:, None]
        if y.shape != want_y:
            raise ShapeError(f"target {self.target.name!r} has shape {y.shape} but inputs of shape "
                             f"{X.shape} need {want_y}")
        if labels and dtype is np.int64 and y.size:
            from ._fused import labels_within  # compiled: imported on first use

            classes = self.sizes.get("K")
            if not labels_within(y.reshape(-1), -1 if classes is None else classes):
                raise ShapeError(f"class labels must lie in 0..{classes - 1}, got "
                                 f"{y.min()}..{y.max()}")
        return X, y

    def _env(self, weights: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray | None) -> dict:
        env = {v: weights[v.name] for v in self.variables}
        env[self.inputs] = X
        if y is not None:
            env[self.target] = y
        return env

    def value_and_grad(self, weights: Mapping[str, np.ndarray], X: Any, y: Any,
                       checked: bool = False) -> tuple[float, dict[str, np.ndarray]]:
        """The loss over the batch ``(X, y)`` and its gradient, as named arrays (new arrays
        at every call)."""
        fused = self._fused
        if not checked:
            X, y = self._check_data(X, y, fused is None)
        if fused is not None:
            order = self._layer_order
            ws = self._check_weights(weights)
            half = len(order) // 2
            grads = [np.empty(w.shape[::-1]).T for w in ws[:half]] + [np.empty(w.shape) for w in ws[half:]]
            f = fused(ws[:half], ws[half:], X, y, grads[:half], grads[half:])
            if f == -math.inf:                 # the step found a class label out of range
                classes = self.sizes.get("K")
                raise ShapeError(f"class labels must lie in 0..{classes - 1}, got {y.min()}..{y.max()}")
            return float(f), dict(zip(order, grads))
        out = self._value_grad_plan(self._env(weights, X, y), self._sizes(X.shape[0]))
        return float(out[0]), {v.name: g for v, g in zip(self.variables, out[1:])}

    def _value_and_grad_into(self, weights: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray,
                             grads: Sequence[np.ndarray]) -> float:
        """The loss, its gradient written into ``grads``: both in the order of
        ``_layer_order`` (``W1..WL, b1..bL`` for a fused network, whose weight-matrix
        gradients are F-contiguous, see ``_transposed``; else ``variables``); weights
        and data already checked."""
        if self._fused is not None:
            half = len(weights) // 2
            return self._fused(weights[:half], weights[half:], X, y, grads[:half], grads[half:])
        env = {v: w for v, w in zip(self.variables, weights)}
        env[self.inputs], env[self.target] = X, y
        out = self._value_grad_plan(env, self._sizes(X.shape[0]))
        for g, o in zip(grads, out[1:]):
            g[...] = o
        return float(out[0])

    @cached_property
    def _fused(self):
        """The fused evaluator of an ``mlp`` network (:mod:`symopt.nn._fused`), else None."""
        spec = getattr(self, "_mlp_spec", None)
        if spec is None:
            return None
        from ._fused import FusedMLP
        return FusedMLP(*spec)

    @cached_property
    def _layer_order(self) -> list[str]:
        """The weights' names in the order the fused evaluator takes them: ``W1..WL``, then
        ``b1..bL`` (``variables``' order for other networks)."""
        names = [v.name for v in self.variables]
        if getattr(self, "_mlp_spec", None) is None:
            return names
        layers = len(names) // 2
        return [f"W{k}" for k in range(1, layers + 1)] + [f"b{k}" for k in range(1, layers + 1)]

    @cached_property
    def _transposed(self) -> list[bool]:
        """Per name of ``_layer_order``: whether the fast path keeps that weight (and its
        gradient) transposed in memory, F-contiguous (a fused network's matrices)."""
        fused = getattr(self, "_mlp_spec", None) is not None
        return [fused and name.startswith("W") for name in self._layer_order]

    def _check_weights(self, weights: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The weights as C- (or, for a fused network, F-) contiguous float arrays in
        ``_layer_order``; a ``ShapeError``
        names a weight of the wrong shape, a ``ProblemError`` a missing one."""
        shapes = self._weight_shapes()
        out = []
        for name in self._layer_order:
            if name not in weights:
                raise ProblemError(f"weights: missing {name!r}")
            w = weights[name]
            if not (isinstance(w, np.ndarray) and w.dtype == np.float64 and
                    (w.flags.c_contiguous or (w.flags.f_contiguous and self._fused is not None))):
                w = np.ascontiguousarray(w, dtype=float)
            if w.shape != shapes[name]:
                raise ShapeError(f"weight {name!r} has shape {w.shape} but the network needs "
                                 f"{shapes[name]}")
            out.append(w)
        return out

    def _weight_shapes(self) -> dict[str, tuple[int, ...]]:
        key = ("weights", self._sizes_key())
        cached = self._size_cache.get(key)
        if cached is None:
            cached = self._size_cache[key] = self.shapes()
        return cached

    def value(self, weights: Mapping[str, np.ndarray], X: Any, y: Any) -> float:
        """The loss over ``(X, y)`` (evaluated in batches of at most 4096 rows, averaged)."""
        X, y = self.check_data(X, y)
        plan = self._loss_plan
        total = 0.0
        for start in range(0, X.shape[0], 4096):
            xb, yb = X[start:start + 4096], y[start:start + 4096]
            total += float(plan(self._env(weights, xb, yb), self._sizes(xb.shape[0]))[0]) * xb.shape[0]
        return total / max(X.shape[0], 1)

    def predict(self, weights: Mapping[str, np.ndarray], X: Any) -> np.ndarray:
        """The network's output for ``X``: class probabilities (softmax), probabilities
        (binary) or values (regression)."""
        X, _ = self.check_data(X)
        parts = [self._output_plan(self._env(weights, X[s:s + 4096], None), self._sizes(len(X[s:s + 4096])))[0]
                 for s in range(0, max(X.shape[0], 1), 4096)]
        return np.concatenate(parts) if len(parts) > 1 else np.asarray(parts[0])

    def classify(self, weights: Mapping[str, np.ndarray], X: Any) -> np.ndarray:
        """Predicted classes: the most probable class, or ``p > 0.5`` for a binary network."""
        p = self.predict(weights, X)
        if self.kind == "binary":
            return (p > 0.5).astype(np.int64)
        return np.argmax(p, axis=1)

    def accuracy(self, weights: Mapping[str, np.ndarray], X: Any, y: Any) -> float:
        """The fraction of rows classified right (labels, one-hot rows or 0/1 targets)."""
        y = np.asarray(y)
        if self.kind == "classes" and y.ndim == 2:
            y = np.argmax(y, axis=1)
        pred = self.classify(weights, X)
        return float(np.mean(pred.reshape(y.shape) == y))

    def init(self, seed: int = 0, scale: str = "glorot") -> dict[str, np.ndarray]:
        """Initial weights: Glorot-uniform matrices (He-uniform for relu), zero biases."""
        rng = np.random.default_rng(seed)
        weights = {}
        for name, shape in self.shapes().items():
            if len(shape) == 2:
                fan_in, fan_out = shape
                limit = np.sqrt(6.0 / fan_in) if self.activation == "relu" else np.sqrt(6.0 / (fan_in + fan_out))
                weights[name] = rng.uniform(-limit, limit, shape)
            else:
                weights[name] = np.zeros(shape)
        return weights

    def fit(self, X: Any, y: Any, **options: Any):
        """Train the network: see :func:`symopt.nn.train.fit`."""
        from .train import fit
        return fit(self, X, y, **options)


def _product_of(node: Node) -> Node | None:
    """The ``X @ W`` inside a fused ``X @ W + b``."""
    for arg in node.args:
        if isinstance(arg, st.ir.Contract) and any(isinstance(a, Leaf) and a.leaf_kind == "variable"
                                                   for a in arg.args):
            return arg
    return None


def mlp(sizes: Sequence[int], activation: str = "tanh", loss: str = "softmax", *,
        l2: float = 0.0, labels: str = "int") -> Network:
    """A multi-layer perceptron as a formula: ``sizes = [d, h1, ..., K]`` (inputs, hidden
    layers, outputs), layers ``H_l = activation(H_{l-1} @ W_l + b_l)``, the last one linear
    and fed to ``loss`` (``"softmax"``, ``"bce"`` or ``"mse"``), plus ``l2/2 * sum(W**2)``
    over the weight matrices when ``l2 > 0``.  ``labels="int"`` (class indices ``(B,)``) or
    ``"onehot"`` (``(B, K)``) for softmax cross-entropy.

    The sizes are symbols in the formula (``d``, ``h1``, ``K``; the batch is ``B``): one
    formula and one set of derivatives serve every layer size.

    Examples
    --------
    >>> from symopt import nn
    >>> net = nn.mlp([4, 3, 2], activation="tanh")
    >>> print(net.loss)
    sum(logsumexp(tanh(X @ W1 + b1) @ W2 + b2, axis=1) - pick((tanh(X @ W1 + b1) @ W2 + b2), y))/B
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ProblemError(f"mlp needs at least an input and an output size, all >= 1; got {sizes}")
    if activation not in ACTIVATIONS:
        raise ProblemError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
    if loss not in LOSSES:
        raise ProblemError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")
    if labels not in ("int", "onehot"):
        raise ProblemError(f"labels must be 'int' or 'onehot', got {labels!r}")
    act = ACTIVATIONS[activation]
    loss_fn, transform, kind = LOSSES[loss]
    layers = len(sizes) - 1
    dim_names = ["d"] + [f"h{k}" for k in range(1, layers)] + ["K"]
    dims = [Dim(n, integer=True, positive=True) for n in dim_names]
    batch = Dim("B", integer=True, positive=True)
    X = st.data("X", (batch, dims[0]))
    names: dict[Node, str] = {}
    H: Node = X
    weights = []
    for k in range(1, layers + 1):
        W = st.variable(f"W{k}", (dims[k - 1], dims[k]))
        b = st.variable(f"b{k}", dims[k])
        weights.append(W)
        Z = H @ W + b
        names[Z] = f"Z{k}"
        if k < layers:
            H = act(Z)
            if H is not Z:
                names[H] = f"H{k}"
    if kind == "classes" and labels == "int":
        y = st.data("y", batch, dtype=int)
    else:
        y = st.data("Y", (batch, dims[-1]))
    L = loss_fn(Z, y)
    if l2:
        L = L + l2_penalty(weights, l2)
    if transform == "softmax":
        output = st.softmax(Z, axis=1)
    elif transform == "sigmoid":
        output = st.sigmoid(Z)
    else:
        output = Z
    if output is not Z:
        names[output] = "P"
    if kind == "classes" and labels == "int":
        names[st.onehot(y, dims[-1])] = "Y"
    net = Network(L, output, X, y, names=names, kind=kind, activation=activation,
                  sizes={n: s for n, s in zip(dim_names, sizes)})
    # the layers as the fused evaluator (symopt.nn._fused) takes them
    net._mlp_spec = (activation, kind, labels, float(l2))
    return net


l2_penalty = l2
