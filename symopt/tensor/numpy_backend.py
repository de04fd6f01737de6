"""Array formulas evaluated with NumPy, whole arrays at a time: a plan made once per set
of formulas (one closure per node, matrix products through ``numpy.dot`` and so BLAS,
element-wise bodies through ``sympy.lambdify``), run for any sizes.

This is the backend of :mod:`symopt.nn` for dense layers: its cost is the matrix products
plus one NumPy pass per element-wise node, and setting it up compiles nothing.  The
compiled row-loop kernels of :mod:`symopt.tensor.kernels` serve formulas over long data
(a logistic loss over 10⁶ rows) better; a network's GEMMs are what BLAS is for.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import numpy as np
import sympy

from .binding import evaluate_shape, substitution
from .ir import Contract, Dim, Embed, Eye, Leaf, Map, Node, OneHot, Reduce, Slice, placeholder, topological

__all__ = ["Plan"]


def _numpy_modules() -> list:
    from ..functions import ALLOWED_FUNCTIONS  # noqa: F401 - sigmoid/softplus print stably

    def sigmoid(z):
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    def softplus(z):
        return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))

    return [{"sigmoid": sigmoid, "softplus": softplus}, "numpy"]


def _placer(axes: tuple, ndim: int) -> Callable[[np.ndarray], np.ndarray]:
    """A function moving an argument's axes to the output positions ``axes`` (None: a
    size-1 axis dropped) with size-1 axes elsewhere, ready to broadcast."""
    keep = [k for k, a in enumerate(axes) if a is not None]
    targets = [axes[k] for k in keep]
    identity = (len(keep) == len(axes) and targets == list(range(ndim - len(targets), ndim))
                and targets == sorted(targets))
    if identity:
        return lambda v: v
    order = list(np.argsort(targets))

    def place(v):
        if len(keep) != v.ndim:
            v = v.reshape([v.shape[k] for k in keep])
        if len(order) > 1:
            v = np.transpose(v, order)
        shape = [1] * ndim
        for t, size in zip(sorted(targets), v.shape):
            shape[t] = size
        return v.reshape(shape)
    return place


def _matrix_product(a: str, b: str, out: str) -> Callable | None:
    """``numpy.dot`` of the operands (transposed as their labels say) when the
    contraction ``a,b->out`` is a matrix or matrix-vector product, else None."""
    shared = set(a) & set(b)
    free = [c for c in a + b if c not in shared]
    if len(shared) != 1 or "".join(free) != out or len(set(a)) != len(a) or len(set(b)) != len(b) \
            or not all(len(x) in (1, 2) for x in (a, b)):
        return None
    (s,) = shared
    ta = len(a) == 2 and a[0] == s       # a is indexed [s, i]: use a.T
    tb = len(b) == 2 and b[1] == s       # b is indexed [k, s]: use b.T
    return lambda x, y: np.dot(x.T if ta else x, y.T if tb else y)


def _contraction(labels: Sequence[str], out: str) -> Callable:
    """The fastest NumPy call for one contraction: BLAS for matrix products in any
    transposition, ``sum`` for reductions, ``einsum`` otherwise."""
    if len(labels) == 2:
        product = _matrix_product(labels[0], labels[1], out)
        if product is not None:
            return product
        swapped = _matrix_product(labels[1], labels[0], out)
        if swapped is not None:
            return lambda x, y: swapped(y, x)
    if len(labels) == 1:
        (a,) = labels
        if len(set(a)) == len(a) and all(c in a for c in out):
            summed = tuple(k for k, c in enumerate(a) if c not in out)
            kept = [c for c in a if c in out]
            perm = [kept.index(c) for c in out]
            if perm == sorted(perm):
                if len(summed) == 1:
                    (axis,) = summed
                    return lambda x: np.add.reduce(x, axis=axis)
                return lambda x: x.sum(axis=summed) if summed else x
    spec = ",".join(labels) + "->" + out
    return lambda *xs: np.einsum(spec, *xs, optimize=len(xs) > 2)


def _pick(node: Contract, slot: Mapping[Node, int]):
    """``Z[i, labels[i]]`` read directly for the contraction ``ab,ab->a`` of a matrix with
    a one-hot matrix (what ``pick`` is), instead of building the one-hot matrix."""
    if len(node.args) != 2 or node.out != node.labels[0][0] or node.labels[0] != node.labels[1] \
            or len(node.labels[0]) != 2:
        return None
    ones = [k for k, a in enumerate(node.args) if isinstance(a, OneHot)]
    if len(ones) != 1:
        return None
    z = slot[node.args[1 - ones[0]]]
    labels = slot[node.args[ones[0]].args[0]]

    def pick(v):
        lab = v[labels]
        return v[z][np.arange(lab.shape[0]), lab]
    return pick


def _map_step(fn, placers, args, shape, axes):
    """The step of a Map: ``fn`` of the placed arguments, broadcast to ``shape``; the
    common cases (arguments already aligned, or one needing a placement) without the
    general loop, since a network runs a dozen of these per step."""
    ndim = len(shape)
    aligned = [tuple(ax) == tuple(range(ndim - len(ax), ndim)) and None not in ax for ax in axes]
    full = any(a and len(ax) == ndim for a, ax in zip(aligned, axes))   # fixes the result's shape
    if all(aligned) and full:
        if len(args) == 1:
            (a,) = args
            return lambda v: fn(v[a])
        if len(args) == 2:
            a, b = args
            return lambda v: fn(v[a], v[b])
        return lambda v: fn(*[v[a] for a in args])

    def run_map(v):
        r = fn(*[p(v[a]) for p, a in zip(placers, args)])
        if np.shape(r) != shape:
            r = np.broadcast_to(r, shape)
        return r
    return run_map


class Plan:
    """``roots`` evaluated from the leaves' arrays: ``Plan(roots)(env, sizes)``."""

    def __init__(self, roots: Sequence[Node]):
        self.roots = list(roots)
        self.order = topological(self.roots)
        self.slot = {node: k for k, node in enumerate(self.order)}
        self.leaves = [n for n in self.order if isinstance(n, Leaf)]
        self.dims = tuple(sorted({s for n in self.order for e in n.shape
                                  for s in sympy.sympify(e).free_symbols if isinstance(s, Dim)}
                                 | {s for n in self.order if isinstance(n, Map)
                                    for s in n.body.free_symbols if isinstance(s, Dim)}, key=str))
        self._modules = _numpy_modules()
        self._leaf_slots = [k for k, n in enumerate(self.order) if isinstance(n, Leaf)]
        self._node_slots = [k for k, n in enumerate(self.order) if not isinstance(n, Leaf)]
        self._steps: dict = {}

    def _steps_for(self, values: Mapping[Dim, int]) -> list:
        key = tuple(values[d] for d in self.dims)
        steps = self._steps.get(key)
        if steps is None:
            steps = self._steps[key] = [self._step(node, values) for node in self.order]
        return steps

    def _step(self, node: Node, values: Mapping[Dim, int]):  # noqa: C901 - one branch per node kind
        shape = evaluate_shape(node.shape, values)
        args = [self.slot[a] for a in node.args]
        if isinstance(node, Leaf):
            return None
        if isinstance(node, Map):
            body = node.body.xreplace(substitution(values))
            symbols = [placeholder(k) for k in range(len(args))]
            fn = sympy.lambdify(symbols, body, modules=self._modules)
            placers = [_placer(ax, len(shape)) for ax in node.axes]
            if not args:
                constant = np.broadcast_to(np.asarray(fn(), dtype=float), shape)
                return lambda v: constant

            return _map_step(fn, placers, args, shape, node.axes)
        if isinstance(node, Contract):
            picked = _pick(node, self.slot)
            if picked is not None:
                return picked
            fn = _contraction(node.labels, node.out)
            if len(args) == 2:
                a, b = args
                return lambda v: fn(v[a], v[b]).reshape(shape)
            if len(args) == 1:
                (a,) = args
                return lambda v: fn(v[a]).reshape(shape)
            return lambda v: np.reshape(fn(*[v[a] for a in args]), shape)
        if isinstance(node, Reduce):
            (a,) = args
            axis = node.axis
            if node.op == "max":
                return lambda v: v[a].max(axis=axis)

            def logsumexp(v):
                x = v[a]
                top = x.max(axis=axis, keepdims=True)
                if not np.isfinite(top).all():          # rows of -inf (or inf, nan) only
                    top = np.where(np.isfinite(top), top, 0.0)
                e = np.exp(x - top)
                return np.log(e.sum(axis=axis)) + top.reshape(e.shape[:axis] + e.shape[axis + 1:])
            return logsumexp
        if isinstance(node, OneHot):
            (a,) = args
            def onehot(v):
                labels = v[a]
                out = np.zeros(shape)
                out[np.arange(labels.shape[0]), labels] = 1.0
                return out
            return onehot
        if isinstance(node, Eye):
            base = evaluate_shape(node.base, values)
            eye = np.eye(math.prod(base)).reshape(base + base)
            return lambda v: eye
        subs = substitution(values)
        if isinstance(node, Slice):
            (a,) = args
            start = int(node.start.xreplace(subs))
            if node.length is None:
                return lambda v: np.take(v[a], start, axis=node.axis)
            length = int(sympy.simplify(node.length.xreplace(subs)))
            index = start + node.step * np.arange(length)
            return lambda v: np.take(v[a], index, axis=node.axis)
        if isinstance(node, Embed):
            (a,) = args
            start = int(node.start.xreplace(subs))

            def embed(v):
                g = v[a]
                value = np.zeros(shape)
                index = [slice(None)] * len(shape)
                index[node.axis] = (start + node.step * np.arange(g.shape[node.axis])) if node.keep else start
                value[tuple(index)] = g
                return value
            return embed
        raise TypeError(type(node).__name__)  # pragma: no cover

    def __call__(self, env: Mapping[Leaf, np.ndarray], values: Mapping[Dim, int]) -> list[np.ndarray]:
        """The roots' values: ``env`` maps every leaf to its array, ``values`` every dim
        to its size."""
        steps = self._steps_for(values)
        v: list = [None] * len(self.order)
        for k in self._leaf_slots:
            v[k] = env[self.order[k]]
        with np.errstate(over="ignore", under="ignore"):
            for k in self._node_slots:
                v[k] = steps[k](v)
        return [v[self.slot[r]] for r in self.roots]
