"""An independent NumPy evaluator of array formulas (values only): the test oracle the
compiled kernels are checked against, and a readable statement of what each node means.

Every node is evaluated to a whole NumPy array: Maps through ``sympy.lambdify`` (with
the stable NumPy forms of ``sigmoid`` and ``softplus``), contractions through
``numpy.einsum``, slices through fancy indexing.  Nothing here shares code with the
kernel generator.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import sympy

from .binding import evaluate_shape, substitution
from .ir import Contract, Dim, Embed, Eye, Leaf, Map, Node, OneHot, Reduce, Slice, placeholder, topological

__all__ = ["evaluate"]

_lambdified: dict = {}


def _body_function(body: sympy.Expr, nargs: int, dims: tuple):
    key = (body, nargs, dims)
    fn = _lambdified.get(key)
    if fn is None:
        symbols = [placeholder(k) for k in range(nargs)] + list(dims)
        fn = _lambdified[key] = sympy.lambdify(symbols, body, modules="numpy")
    return fn


def _place(value: np.ndarray, axes: tuple, ndim: int) -> np.ndarray:
    """``value`` with its axes moved to output positions ``axes`` (size-1 axes marked None
    dropped) and size-1 axes elsewhere: ready to broadcast against the output."""
    keep = [k for k, a in enumerate(axes) if a is not None]
    v = value.reshape([value.shape[k] for k in keep]) if len(keep) != value.ndim else value
    targets = [axes[k] for k in keep]
    order = np.argsort(targets)
    v = np.transpose(v, order) if len(order) > 1 else v
    shape = [1] * ndim
    for t, size in zip(sorted(targets), v.shape):
        shape[t] = size
    return v.reshape(shape)


def _positions(start: int, step: int, length: int) -> np.ndarray:
    return start + step * np.arange(length)


def evaluate(roots: Sequence[Node], env: Mapping[Leaf, np.ndarray],
             values: Mapping[Dim, int]) -> list[np.ndarray]:
    """The values of ``roots`` given the leaves' arrays ``env`` and the sizes ``values``."""
    subs = substitution(values)
    dim_symbols = tuple(sorted(values, key=str))
    dim_values = [values[d] for d in dim_symbols]
    out: dict[Node, np.ndarray] = {}
    for node in topological(roots):
        shape = evaluate_shape(node.shape, values)
        if isinstance(node, Leaf):
            value = np.asarray(env[node], dtype=np.int64 if node.dtype == "int" else float)
            if value.shape != shape:
                value = value.reshape(shape)
        elif isinstance(node, Map):
            args = [_place(out[a], ax, len(shape)) for a, ax in zip(node.args, node.axes)]
            fn = _body_function(node.body, len(args), dim_symbols)
            with np.errstate(all="ignore"):
                value = np.asarray(fn(*args, *dim_values), dtype=float)
            value = np.broadcast_to(value, shape).copy()
        elif isinstance(node, Contract):
            spec = ",".join(node.labels) + "->" + node.out
            value = np.einsum(spec, *[out[a] for a in node.args], optimize=True)
            value = np.asarray(value, dtype=float).reshape(shape)
        elif isinstance(node, Reduce):
            a = out[node.args[0]]
            if node.op == "max":
                value = a.max(axis=node.axis)
            else:
                top = a.max(axis=node.axis, keepdims=True)
                with np.errstate(all="ignore"):
                    value = (np.log(np.exp(a - top).sum(axis=node.axis, keepdims=True)) + top)
                value = value.squeeze(axis=node.axis)
        elif isinstance(node, Slice):
            a = out[node.args[0]]
            start = int(node.start.xreplace(subs))
            if node.length is None:
                value = np.take(a, start, axis=node.axis)
            else:
                length = int(sympy.simplify(node.length.xreplace(subs)))
                value = np.take(a, _positions(start, node.step, length), axis=node.axis)
        elif isinstance(node, Embed):
            g = out[node.args[0]]
            value = np.zeros(shape)
            start = int(node.start.xreplace(subs))
            index = [slice(None)] * len(shape)
            if node.keep:
                length = g.shape[node.axis]
                index[node.axis] = _positions(start, node.step, length)
            else:
                index[node.axis] = start
            value[tuple(index)] = g
        elif isinstance(node, Eye):
            base = evaluate_shape(node.base, values)
            size = math.prod(base)
            value = np.eye(size).reshape(base + base)
        elif isinstance(node, OneHot):
            labels = out[node.args[0]]
            value = (labels[:, None] == np.arange(shape[1])[None, :]).astype(float)
        else:  # pragma: no cover - every node kind is handled above
            raise TypeError(type(node).__name__)
        out[node] = np.asarray(value)
    return [out[r] for r in roots]
