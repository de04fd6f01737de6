"""The operations array formulas are written with: leaves, products, reductions,
indexing, the element-wise vocabulary and sums over an index.

Everything here builds :mod:`symopt.tensor.ir` nodes; shapes are checked as the
formula is written (symbolic sizes), and again when data are bound (actual sizes).
"""

from __future__ import annotations

import builtins
import numbers
from typing import Any

import numpy as np
import sympy

from ..errors import FormulaError, ProblemError, ShapeError
from ..functions import ALLOWED_FUNCTIONS, FUNCTION_ARITY
from .ir import (
    Contract,
    Dim,
    Embed,
    IndexSymbol,
    Leaf,
    Map,
    Node,
    OneHot,
    Reduce,
    Slice,
    _make,
    as_dim,
    as_node,
    as_shape,
    contract,
    elementwise,
    is_index,
    map_with_axes,
    placeholder,
    same_dim,
    shape_str,
)

__all__ = [
    "variable", "data", "parameter", "matmul", "dot", "outer", "sum", "mean", "logsumexp",
    "max", "softmax", "pick", "onehot", "getitem", "make_slice", "embed", "FUNCTIONS",
]

_LEAF_KINDS = ("variable", "data", "parameter", "direction")


def _leaf(kind: str, name: str, shape: Any, dtype: Any = "float") -> Leaf:
    from ..parsing import is_safe_name

    if not is_safe_name(name):
        raise FormulaError(f"{name!r} cannot name a {kind}: use letters, digits and '_' "
                           "(not first), not a keyword or a function name")
    if dtype in ("float", float, np.float64, "float64", "f8"):
        dtype = "float"
    elif dtype in ("int", int, np.int64, "int64", "i8"):
        dtype = "int"
    else:
        raise ProblemError(f"dtype of {name!r} must be float or int, got {dtype!r}")
    if dtype == "int" and kind != "data":
        raise ProblemError(f"only data can be integer ({name!r} is a {kind})")
    return Leaf.make(kind, name, as_shape(shape), dtype)


def variable(name: str, shape: Any = ()) -> Leaf:
    """A variable (what is optimised) of ``shape``: ``w = variable("w", d)``; a scalar by
    default.

    Examples
    --------
    >>> from symopt.tensor import dims, variable
    >>> d = dims("d")
    >>> variable("w", d).shape
    (d,)
    """
    return _leaf("variable", name, shape)


def data(name: str, shape: Any = (), dtype: Any = float) -> Leaf:
    """A data array of ``shape`` (``dtype=int`` for integer class labels), bound at solve
    time: ``X = data("X", (m, d))``."""
    return _leaf("data", name, shape, dtype)


def parameter(name: str, shape: Any = ()) -> Leaf:
    """A parameter: a value given at solve time (``params=``), never optimised; changing it
    never recompiles."""
    return _leaf("parameter", name, shape)


# --- products ---------------------------------------------------------------------------


def matmul(a: Any, b: Any) -> Node:
    """``a @ b`` with NumPy's rules for vectors and matrices: ``(m, k) @ (k, n)``,
    ``(m, k) @ (k,)``, ``(k,) @ (k, n)`` and ``(k,) @ (k,)`` (the dot product)."""
    a, b = as_node(a), as_node(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"@ needs arrays, got shapes {shape_str(a.shape)} and "
                         f"{shape_str(b.shape)}; use * to scale by a scalar")
    if a.ndim > 2 or b.ndim > 2:
        raise ShapeError(f"@ of shapes {shape_str(a.shape)} and {shape_str(b.shape)}: only "
                         "vectors and matrices are supported")
    la = "ij"[-a.ndim:] if a.ndim == 2 else "j"
    lb = "jk" if b.ndim == 2 else "j"
    out = (la[0] if a.ndim == 2 else "") + ("k" if b.ndim == 2 else "")
    if not same_dim(a.shape[-1], b.shape[0]):
        raise ShapeError(f"{_name(a)} @ {_name(b)}: shapes {shape_str(a.shape)} and "
                         f"{shape_str(b.shape)} do not align ({a.shape[-1]} against {b.shape[0]})")
    return contract([a, b], [la, lb], out, what="@")


def _name(node: Node) -> str:
    return node.name if isinstance(node, Leaf) else "(...)"


def dot(a: Any, b: Any) -> Node:
    """The dot product of two vectors (``a @ b``)."""
    a, b = as_node(a), as_node(b)
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"dot needs two vectors, got shapes {shape_str(a.shape)} and "
                         f"{shape_str(b.shape)}")
    return matmul(a, b)


def outer(a: Any, b: Any) -> Node:
    """The outer product ``a_i b_j`` of two vectors."""
    a, b = as_node(a), as_node(b)
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"outer needs two vectors, got shapes {shape_str(a.shape)} and "
                         f"{shape_str(b.shape)}")
    return contract([a, b], ["i", "j"], "ij", what="outer")


# --- reductions ---------------------------------------------------------------------------


def _axes(node: Node, axis: Any, what: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(node.ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise ProblemError(f"{what}: axis must be an int, a tuple of ints or None, got {a!r}")
        k = int(a) + (node.ndim if a < 0 else 0)
        if not 0 <= k < node.ndim:
            raise ShapeError(f"{what}: axis {a} is out of range for shape {shape_str(node.shape)}")
        if k in out:
            raise ProblemError(f"{what}: axis {a} is repeated")
        out.append(k)
    return tuple(sorted(out))


def sum(x: Any, axis: Any = None) -> Node:  # noqa: A001 - numpy's name
    """The sum over ``axis`` (an int, a tuple, or None for all), or over an index:
    ``sum(term, (i, lo, hi))`` is ``term`` summed for ``i = lo, ..., hi`` (both ends
    included, as SymPy's ``Sum``), where ``term`` reads arrays at ``x[a*i + c]``."""
    if isinstance(axis, tuple) and len(axis) == 3 and isinstance(axis[0], IndexSymbol):
        return index_sum(x, *axis)
    x = as_node(x)
    if x.ndim == 0 and axis is None:
        return x
    axes = _axes(x, axis, "sum")
    labels = "".join(chr(ord("a") + k) for k in range(x.ndim))
    out = "".join(c for k, c in enumerate(labels) if k not in axes)
    return contract([x], [labels], out, what="sum")


def mean(x: Any, axis: Any = None) -> Node:
    """The mean over ``axis`` (None: over every element)."""
    x = as_node(x)
    axes = _axes(x, axis, "mean")
    count = sympy.Mul(*[x.shape[k] for k in axes])
    return elementwise(lambda s: s / count, sum(x, axis))


def _reduce(op: str, x: Any, axis: Any) -> Node:
    x = as_node(x)
    if x.ndim == 0:
        return x
    axes = _axes(x, axis, op)
    result = x
    for k in sorted(axes, reverse=True):  # one axis at a time (exact for both ops)
        shape = result.shape[:k] + result.shape[k + 1:]
        result = _make(Reduce, (op, result, k), shape=shape, args=(result,), op=op, axis=k)
    return result


def logsumexp(x: Any, axis: Any = None) -> Node:
    """``log(sum(exp(x)))`` along ``axis`` (None: all), computed stably (the maximum is
    subtracted first); its derivative is the softmax."""
    return _reduce("logsumexp", x, axis)


def max(x: Any, axis: Any = None) -> Node:  # noqa: A001 - numpy's name
    """The largest element along ``axis``.  Its derivative is 1 at the maximum (at every
    tied maximum: a subgradient only when there is no tie) and 0 elsewhere."""
    return _reduce("max", x, axis)


def softmax(x: Any, axis: int = -1) -> Node:
    """``exp(x - logsumexp(x, axis))`` along ``axis``."""
    x = as_node(x)
    (k,) = _axes(x, axis, "softmax")
    lse = logsumexp(x, k)
    axes = tuple(j for j in range(x.ndim) if j != k)
    return map_with_axes(sympy.exp(placeholder(0) - placeholder(1)), [x, lse],
                         [tuple(range(x.ndim)), axes], x.shape)


def onehot(labels: Leaf, classes: Any) -> Node:
    """The ``(m, classes)`` one-hot matrix of integer ``labels``."""
    return OneHot.make(labels, as_dim(classes, "the number of classes"))


def pick(x: Any, labels: Leaf) -> Node:
    """``x[i, labels[i]]`` for every row ``i`` of the ``(m, K)`` array ``x`` (integer data
    ``labels`` of shape ``(m,)``): the log-probability of each row's class."""
    x = as_node(x)
    if x.ndim != 2:
        raise ShapeError(f"pick needs an (m, K) array, got shape {shape_str(x.shape)}")
    if not isinstance(labels, Leaf) or labels.dtype != "int" or labels.ndim != 1:
        raise ProblemError("pick needs integer labels: data(name, m, dtype=int)")
    if not same_dim(labels.shape[0], x.shape[0]):
        raise ShapeError(f"pick: labels of shape {shape_str(labels.shape)} for an array of shape "
                         f"{shape_str(x.shape)}")
    return contract([x, onehot(labels, x.shape[1])], ["ik", "ik"], "i", what="pick")


# --- indexing -----------------------------------------------------------------------------


def _index_value(value: Any, what: str) -> sympy.Expr:
    if isinstance(value, bool):
        raise ProblemError(f"{what}: a boolean is not an index")
    if isinstance(value, (numbers.Integral, np.integer)):
        return sympy.Integer(int(value))
    if isinstance(value, sympy.Expr):
        bad = [s for s in value.free_symbols if not isinstance(s, (Dim, IndexSymbol))]
        if bad:
            raise ProblemError(f"{what}: {value} uses {', '.join(map(str, bad))}; indices are "
                               "integers, dims and summation indices (symopt.tensor.index)")
        if not value.is_integer and value.is_integer is not None:
            raise ProblemError(f"{what}: {value} is not an integer")
        return value
    raise ProblemError(f"{what}: an index must be an int, a dim expression or a summation "
                       f"index, got {type(value).__name__}")


def make_slice(x: Node, axis: int, start: sympy.Expr, step: int, length) -> Node:
    """The :class:`~symopt.tensor.ir.Slice` node (``length=None``: one position)."""
    if length is None:
        shape = x.shape[:axis] + x.shape[axis + 1:]
    else:
        shape = x.shape[:axis] + (length,) + x.shape[axis + 1:]
    if length is not None and length == x.shape[axis] and start == 0 and step == 1:
        return x
    return _make(Slice, (x, axis, start, step, length), shape=shape, args=(x,), axis=axis,
                 start=start, step=step, length=length)


def embed(g: Node, axis: int, start: sympy.Expr, step: int, size: sympy.Expr,
          keep: bool) -> Node:
    """The :class:`~symopt.tensor.ir.Embed` node: ``g`` at positions ``start + step*j`` of
    zeros of ``size`` along ``axis``."""
    if keep:
        if start == 0 and step == 1 and same_dim(g.shape[axis], size):
            return g
        shape = g.shape[:axis] + (size,) + g.shape[axis + 1:]
    else:
        shape = g.shape[:axis] + (size,) + g.shape[axis:]
    return _make(Embed, (g, axis, start, step, size, keep), shape=shape, args=(g,), axis=axis,
                 start=start, step=step, size=size, keep=keep)


def _definitely_negative(e: sympy.Expr) -> bool:
    return bool(e.is_negative)


def getitem(x: Node, key: Any) -> Node:
    """``x[key]``: integer positions (negative ones count from the end), dim expressions,
    summation indices (``x[2*i + 1]``), slices with positive steps (``x[1:]``,
    ``x[::2]``, ``x[1:n-1]``), ``None`` for a new axis of size 1."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        raise ProblemError("'...' is not supported in array formulas: write every axis")
    if builtins.sum(k is not None for k in key) > x.ndim:
        raise ShapeError(f"too many indices ({len(key)}) for shape {shape_str(x.shape)}")
    result = x
    axis = 0
    new_axes = []
    for k in key:
        if k is None:
            new_axes.append(axis + len(new_axes))
            continue
        size = result.shape[axis]
        if isinstance(k, slice):
            step = 1 if k.step is None else k.step
            if isinstance(step, bool) or not isinstance(step, (numbers.Integral, np.integer)) or step <= 0:
                raise ProblemError(f"slice steps must be positive integers, got {k.step!r}")
            step = int(step)
            start = sympy.Integer(0) if k.start is None else _index_value(k.start, "slice start")
            stop = size if k.stop is None else _index_value(k.stop, "slice stop")
            if is_index(start) or is_index(stop):
                raise ProblemError("a summation index may not appear in a slice: write x[a*i + c]")
            if start.is_Integer and start < 0:
                start = size + start
            if stop.is_Integer and stop < 0:
                stop = size + stop
            length = sympy.ceiling((stop - start) / step)
            length = sympy.simplify(length)
            if _definitely_negative(length):
                raise ShapeError(f"the slice {_slice_text(k)} of an axis of size {size} is empty "
                                 "or reversed")
            if _definitely_negative(start) or _definitely_negative(size - stop):
                raise ShapeError(f"the slice {_slice_text(k)} reaches outside an axis of size {size}")
            result = make_slice(result, axis, start, step, length)
            axis += 1
            continue
        position = _index_value(k, "index")
        if position.is_Integer and position < 0:
            position = size + position
        if position.is_Integer and (position < 0 or (size.is_Integer and position >= size)):
            raise ShapeError(f"index {k} is out of range for an axis of size {size}")
        if not is_index(position) and _definitely_negative(size - 1 - position):
            raise ShapeError(f"index {k} is out of range for an axis of size {size}")
        result = make_slice(result, axis, position, 1, None)
    if new_axes:
        ndim = result.ndim + len(new_axes)
        shape = list(result.shape)
        for a in new_axes:
            shape.insert(a, sympy.Integer(1))
        kept = [a for a in range(ndim) if a not in new_axes]
        result = map_with_axes(placeholder(0), [result], [tuple(kept)], tuple(shape))
    return result


def _slice_text(k: slice) -> str:
    parts = ["" if v is None else str(v) for v in (k.start, k.stop, k.step)]
    return "[" + ":".join(parts if k.step is not None else parts[:2]) + "]"


# --- sums over an index ---------------------------------------------------------------------


def index_sum(term: Any, i: IndexSymbol, lo: Any, hi: Any) -> Node:
    """``term`` summed for ``i = lo .. hi`` (inclusive), lowered to slices: each ``x[a*i + c]``
    becomes ``x[a*lo + c :: a]`` of length ``hi - lo + 1``, the term becomes an element-wise
    formula over those vectors, and the sum a sum over them."""
    lo = _index_value(lo, "lower end of the sum")
    hi = _index_value(hi, "upper end of the sum")
    if is_index(lo) or is_index(hi):
        raise ProblemError("the ends of an index sum may not depend on a summation index")
    length = sympy.simplify(hi - lo + 1)
    if length.is_negative:
        raise ShapeError(f"the sum over {i} from {lo} to {hi} is empty")
    term = as_node(term)
    lifted, has_axis = _Lift(i, lo, length).lift(term)
    if not has_axis:
        return elementwise(lambda t: t * length, term)
    return sum(lifted, 0)


class _Lift:
    """Rewrites a formula that depends on index ``i`` into one with a new leading axis of
    ``length`` (``i = lo + j``)."""

    def __init__(self, i: IndexSymbol, lo: sympy.Expr, length: sympy.Expr):
        self.i, self.lo, self.length = i, lo, length
        self.memo: dict[Node, tuple[Node, bool]] = {}

    def lift(self, node: Node) -> tuple[Node, bool]:
        done = self.memo.get(node)
        if done is None:
            done = self.memo[node] = self._lift(node)
        return done

    def _lift(self, node: Node) -> tuple[Node, bool]:
        i = self.i
        if isinstance(node, Slice):
            inner, inner_axis = self.lift(node.args[0])
            depends = node.start.has(i)
            if depends and inner_axis:
                raise ProblemError(f"nested subscripts that both depend on {i} are not supported")
            if depends:
                if node.length is not None:
                    raise ProblemError(f"the index {i} may not appear in a slice")
                a, c = _affine(node.start, i)
                moved = make_slice(inner, node.axis, a * self.lo + c, a, self.length)
                return _move_axis_to_front(moved, node.axis), True
            if inner_axis:
                return make_slice(inner, node.axis + 1, node.start, node.step, node.length), True
            return node, False
        if isinstance(node, Map):
            if node.body.has(i):
                raise ProblemError(f"the index {i} may appear only inside subscripts (x[{i}])")
            lifted = [self.lift(a) for a in node.args]
            if not any(h for _, h in lifted):
                return node, False
            shape = (self.length,) + node.shape
            axes = [((0,) if h else ()) + tuple(None if a is None else a + 1 for a in ax)
                    for (_, h), ax in zip(lifted, node.axes)]
            return map_with_axes(node.body, [n for n, _ in lifted], axes, shape), True
        if isinstance(node, Contract):
            lifted = [self.lift(a) for a in node.args]
            if not any(h for _, h in lifted):
                return node, False
            labels = [("Z" if h else "") + lab for (_, h), lab in zip(lifted, node.labels)]
            return contract([n for n, _ in lifted], labels, "Z" + node.out), True
        if isinstance(node, Reduce):
            inner, h = self.lift(node.args[0])
            if not h:
                return node, False
            return _reduce_one(node.op, inner, node.axis + 1), True
        if isinstance(node, Embed):
            inner, h = self.lift(node.args[0])
            if not h:
                return node, False
            return embed(inner, node.axis + 1, node.start, node.step, node.size, node.keep), True
        return node, False  # leaves, Eye, OneHot: independent of the index


def _reduce_one(op: str, x: Node, axis: int) -> Node:
    shape = x.shape[:axis] + x.shape[axis + 1:]
    return _make(Reduce, (op, x, axis), shape=shape, args=(x,), op=op, axis=axis)


def _affine(expr: sympy.Expr, i: IndexSymbol) -> tuple[int, sympy.Expr]:
    """``(a, c)`` with ``expr = a*i + c``, ``a`` a positive integer."""
    poly = sympy.expand(expr)
    a = poly.coeff(i, 1)
    c = sympy.expand(poly - a * i)
    if c.has(i) or not a.is_Integer:
        raise ProblemError(f"the subscript {expr} must be a*{i} + c with an integer a")
    if a <= 0:
        raise ProblemError(f"the subscript {expr} runs backwards; only a*{i} + c with a > 0 "
                           "is supported")
    return int(a), c


def _move_axis_to_front(x: Node, axis: int) -> Node:
    if axis == 0:
        return x
    labels = "".join(chr(ord("a") + k) for k in range(x.ndim))
    out = labels[axis] + labels[:axis] + labels[axis + 1:]
    return contract([x], [labels], out)


# --- the element-wise vocabulary ------------------------------------------------------------


def _function(name: str, fn):
    arity = FUNCTION_ARITY.get(name, 1)

    if arity == 1:
        def apply(x):
            if isinstance(x, Node):
                return elementwise(fn, x, what=name)
            return fn(x)
    else:
        def apply(*xs):
            if len(xs) != arity:
                raise ProblemError(f"{name} takes {arity} arguments, got {len(xs)}")
            if builtins.any(isinstance(v, Node) for v in xs):
                return elementwise(fn, *xs, what=name)
            return fn(*xs)
    apply.__name__ = name
    apply.__doc__ = f"``{name}`` element by element (SymPy's ``{name}`` on scalars)."
    return apply


#: name -> element-wise function over array formulas (and SymPy scalars)
FUNCTIONS = {name: _function(name, fn) for name, fn in ALLOWED_FUNCTIONS.items()}
