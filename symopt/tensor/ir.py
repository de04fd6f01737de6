"""The array IR: an expression DAG over arrays whose sizes are symbols.

Every node has a ``shape``, a tuple of SymPy expressions over *dims* (positive integer
symbols made by :func:`dims`) and integers.  Nodes are immutable and interned: building
the same node twice gives the same object, so common subexpressions are shared by
construction and equality is identity.

Node kinds (each a class below):

``Leaf``      a variable, data array, parameter or direction (a tangent input of a
              Hessian-vector product), named, of a declared shape
``Map``       an element-wise function of its arguments, broadcast to one shape; the
              body is a SymPy expression in placeholder symbols ``_a0, _a1, ...`` (one
              per argument), so the whole scalar vocabulary (and SymPy's calculus)
              applies element by element.  Each argument comes with an *axes map*: the
              output axis each of its axes runs along (``None``: a size-1 axis
              broadcast).  A Map with no arguments is a constant (scalar or filled).
``Contract``  a sum of products over index labels (Einstein notation, as
              ``numpy.einsum``): matrix products, transposes, sums over axes, outer
              products, traces
``Reduce``    a non-linear reduction along one axis: ``logsumexp``, ``max``
``Slice``     an affine slice ``a[start : start + step*length : step]`` along one axis
              (``length=None``: a single index, the axis dropped)
``Embed``     the adjoint of a slice: the argument placed at those positions of an array
              of zeros
``Eye``       the identity tensor ``delta`` of a shape (the seed of a matrix tangent)
``OneHot``    ``1.0`` where the column equals an integer label, else ``0.0``

Maps are flattened on construction (a Map argument of a Map is inlined into its body),
so an element-wise chain is one node whose body SymPy differentiates as a whole:
``softplus(z) - y*z`` is one Map over ``z`` and ``y``, and its derivative in ``z`` is
``sigmoid(z) - y``.
"""

from __future__ import annotations

import itertools
import numbers
import weakref
from functools import lru_cache
from typing import Any, Iterable, Sequence

import sympy

from ..errors import ProblemError, ShapeError

__all__ = [
    "Node", "Leaf", "Map", "Contract", "Reduce", "Slice", "Embed", "Eye", "OneHot",
    "Dim", "dims", "index", "placeholder", "shape_str", "same_dim", "elementwise",
    "constant", "contract", "as_node", "broadcast_to", "is_index", "topological",
]

_interned: "weakref.WeakValueDictionary[tuple, Node]" = weakref.WeakValueDictionary()
_order = itertools.count()


# --- dims, indices and placeholders ----------------------------------------------------


class Dim(sympy.Symbol):
    """A symbolic size: a positive integer symbol (``even=True``: known to be even, so
    that ``x[::2]`` and ``x[1::2]`` have the same length ``n/2``)."""


def dims(names: str, *, even: bool = False) -> Dim | tuple[Dim, ...]:
    """Symbolic sizes: ``m, d = dims("m d")`` (one name: one dim, not a tuple).

    Sizes are positive integers known at solve time (read from the data, or from the
    start point); formulas, their derivatives and the compiled kernels do not depend on
    them.  ``even=True`` declares the sizes even (checked at solve time).

    Examples
    --------
    >>> from symopt.tensor import dims
    >>> m, d = dims("m d")
    >>> n = dims("n", even=True)
    >>> (n / 2).is_integer
    True
    """
    from ..parsing import parse_names

    items = parse_names(names)
    made = tuple(Dim(name, integer=True, positive=True, **({"even": True} if even else {}))
                 for name in items)
    return made[0] if len(made) == 1 and not any(c in names for c in ", ") else made


class IndexSymbol(sympy.Symbol):
    """A summation index (``i = index("i")``): ``x[i + 1]`` and ``sum(..., (i, lo, hi))``."""


def index(names: str) -> IndexSymbol | tuple[IndexSymbol, ...]:
    """Summation indices: ``i = index("i")`` for ``x[2*i + 1]`` inside
    ``sum(term, (i, 0, h - 1))``."""
    from ..parsing import parse_names

    items = parse_names(names)
    made = tuple(IndexSymbol(name, integer=True) for name in items)
    return made[0] if len(made) == 1 else made


def is_index(expr: Any) -> bool:
    return isinstance(expr, sympy.Basic) and any(isinstance(s, IndexSymbol)
                                                 for s in expr.free_symbols)


_PLACEHOLDERS: list[sympy.Symbol] = []


def placeholder(k: int) -> sympy.Symbol:
    """The placeholder symbol of argument ``k`` of a Map body (``_a0, _a1, ...``)."""
    while len(_PLACEHOLDERS) <= k:
        _PLACEHOLDERS.append(sympy.Symbol(f"_a{len(_PLACEHOLDERS)}", real=True))
    return _PLACEHOLDERS[k]


def _is_placeholder(s: sympy.Basic) -> bool:
    return isinstance(s, sympy.Symbol) and s.name.startswith("_a") and s.name[2:].isdigit()


# --- shapes ---------------------------------------------------------------------------


def as_dim(value: Any, what: str = "a size") -> sympy.Expr:
    """A size as a SymPy expression: an int >= 0, a dim, or an expression of dims."""
    if isinstance(value, bool):
        raise ProblemError(f"{what} must be an integer or a dim, got {value!r}")
    if isinstance(value, numbers.Integral):
        if value < 0:
            raise ShapeError(f"{what} must be >= 0, got {value}")
        return sympy.Integer(int(value))
    if isinstance(value, sympy.Expr):
        bad = [s for s in value.free_symbols if not isinstance(s, Dim)]
        if bad:
            raise ProblemError(f"{what} {value} uses {', '.join(map(str, bad))}, which "
                               "are not dims; make sizes with symopt.tensor.dims(...)")
        if value.is_Integer and value < 0:
            raise ShapeError(f"{what} must be >= 0, got {value}")
        return value
    raise ProblemError(f"{what} must be an integer or a dim (symopt.tensor.dims), "
                       f"got {type(value).__name__}")


def as_shape(shape: Any) -> tuple[sympy.Expr, ...]:
    """A shape from ``(m, d)``, ``m``, ``"m d"``-free forms: a dim, an int or a tuple."""
    if shape is None or shape == ():
        return ()
    if isinstance(shape, (numbers.Integral, sympy.Expr)) and not isinstance(shape, bool):
        return (as_dim(shape),)
    if isinstance(shape, (tuple, list)):
        return tuple(as_dim(s, f"axis {k} of the shape") for k, s in enumerate(shape))
    raise ProblemError(f"a shape must be a dim, an int or a tuple of them, got {shape!r}")


def shape_str(shape: Sequence[sympy.Expr]) -> str:
    """``(m, d)``; ``()`` for a scalar; ``(n,)`` for a vector."""
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(s) for s in shape) + ")"


@lru_cache(maxsize=4096)
def same_dim(a: sympy.Expr, b: sympy.Expr) -> bool:
    """Whether two sizes are equal for every value of the dims (as far as SymPy can
    tell: ``ceiling((n - 1)/2)`` equals ``n/2`` for an even ``n``)."""
    if a == b:
        return True
    difference = sympy.simplify(a - b)
    return difference == 0


def _broadcast(shapes: Sequence[tuple], what: str) -> tuple[tuple, list[tuple]]:
    """NumPy broadcasting of symbolic shapes: the output shape and, per input, the axes
    map (output axis of each input axis; ``None`` for a size-1 axis broadcast)."""
    ndim = max((len(s) for s in shapes), default=0)
    out: list[sympy.Expr] = []
    for k in range(ndim):
        size = sympy.Integer(1)
        for s in shapes:
            j = k - (ndim - len(s))
            if j < 0:
                continue
            d = s[j]
            if d == 1:
                continue
            if size == 1:
                size = d
            elif not same_dim(size, d):
                hint = ""
                if (size.has(sympy.floor, sympy.ceiling) or d.has(sympy.floor, sympy.ceiling)):
                    hint = ("; if the size is even, declare it so: dims('n', even=True) "
                            "(formula text: even='n')")
                raise ShapeError(f"{what}: shapes {', '.join(shape_str(t) for t in shapes)} "
                                 f"cannot be broadcast together ({size} against {d} on an "
                                 f"axis that aligns from the right){hint}")
        out.append(size)
    maps = []
    for s in shapes:
        offset = ndim - len(s)
        maps.append(tuple(None if (s[j] == 1 and out[j + offset] != 1) else j + offset
                          for j in range(len(s))))
    return tuple(out), maps


# --- nodes ------------------------------------------------------------------------------


class Node:
    """A node of the array IR (see the module docstring).  Build nodes with the
    functions of :mod:`symopt.tensor` and Python operators, not the constructors."""

    __slots__ = ("shape", "args", "order", "__weakref__")
    kind = "node"

    shape: tuple
    args: tuple

    # identity semantics: interned nodes are equal iff they are the same object
    __hash__ = object.__hash__

    def __eq__(self, other):  # noqa: D105 - element-wise comparison is not offered
        return self is other

    def __ne__(self, other):
        return self is not other

    @property
    def ndim(self) -> int:
        return len(self.shape)

    # numpy must not broadcast its scalars over a Node as an object array
    __array_ufunc__ = None

    def __bool__(self):
        raise ProblemError("an array formula has no truth value (comparisons and `if` on "
                           "formulas are not supported)")

    def __len__(self):
        raise ProblemError(f"an array formula of shape {shape_str(self.shape)} has a symbolic "
                           "length; use .shape")

    def __iter__(self):
        raise ProblemError("array formulas cannot be iterated over; index them (x[i], x[1:]) "
                           "or sum over an index (symopt.tensor.sum(term, (i, lo, hi)))")

    # --- arithmetic ---------------------------------------------------------------------
    def __add__(self, other):
        return elementwise(lambda a, b: a + b, self, other, what="+")

    def __radd__(self, other):
        return elementwise(lambda a, b: a + b, other, self, what="+")

    def __sub__(self, other):
        return elementwise(lambda a, b: a - b, self, other, what="-")

    def __rsub__(self, other):
        return elementwise(lambda a, b: a - b, other, self, what="-")

    def __mul__(self, other):
        return elementwise(lambda a, b: a * b, self, other, what="*")

    def __rmul__(self, other):
        return elementwise(lambda a, b: a * b, other, self, what="*")

    def __truediv__(self, other):
        return elementwise(lambda a, b: a / b, self, other, what="/")

    def __rtruediv__(self, other):
        return elementwise(lambda a, b: a / b, other, self, what="/")

    def __pow__(self, other):
        return elementwise(lambda a, b: a ** b, self, other, what="**")

    def __rpow__(self, other):
        return elementwise(lambda a, b: a ** b, other, self, what="**")

    def __neg__(self):
        return elementwise(lambda a: -a, self, what="-")

    def __pos__(self):
        return self

    def __abs__(self):
        return elementwise(sympy.Abs, self, what="abs")

    def __matmul__(self, other):
        from .ops import matmul

        return matmul(self, other)

    def __rmatmul__(self, other):
        from .ops import matmul

        return matmul(other, self)

    @property
    def T(self) -> "Node":  # noqa: N802 - numpy's name
        """The transpose (axes reversed; a vector or scalar is its own transpose)."""
        if self.ndim < 2:
            return self
        labels = "".join(chr(ord("a") + k) for k in range(self.ndim))
        return contract([self], [labels], labels[::-1])

    def __getitem__(self, key):
        from .ops import getitem

        return getitem(self, key)

    def sum(self, axis=None) -> "Node":
        from .ops import sum as _sum

        return _sum(self, axis)

    def mean(self, axis=None) -> "Node":
        from .ops import mean

        return mean(self, axis)

    # --- display ---------------------------------------------------------------------------
    def __str__(self) -> str:
        from .display import to_text

        return to_text(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self} : {shape_str(self.shape)}>"

    def _repr_latex_(self) -> str:
        from .display import to_latex

        return f"$\\displaystyle {to_latex(self)}$"


def _make(cls, key: tuple, **fields) -> Node:
    """The interned node of ``cls`` with ``key`` (built from ``fields`` if new)."""
    full = (cls,) + key
    node = _interned.get(full)
    if node is not None:
        return node
    node = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(node, name, value)
    object.__setattr__(node, "order", next(_order))
    _interned[full] = node
    return node


class Leaf(Node):
    """A named input: ``kind`` is ``"variable"``, ``"data"``, ``"parameter"`` or
    ``"direction"``; ``dtype`` is ``"float"`` or ``"int"`` (integer labels)."""

    __slots__ = ("name", "leaf_kind", "dtype")
    kind = "leaf"

    @staticmethod
    def make(leaf_kind: str, name: str, shape: tuple, dtype: str = "float") -> "Leaf":
        return _make(Leaf, (leaf_kind, name, shape, dtype), shape=shape, args=(),
                     name=name, leaf_kind=leaf_kind, dtype=dtype)


class Map(Node):
    """``body(_a0, _a1, ...)`` element by element, arguments broadcast by ``axes``."""

    __slots__ = ("body", "axes")
    kind = "map"


class Contract(Node):
    """``einsum(",".join(labels) + "->" + out, *args)``."""

    __slots__ = ("labels", "out")
    kind = "contract"


class Reduce(Node):
    """``op`` (``"logsumexp"`` or ``"max"``) of ``args[0]`` along ``axis``."""

    __slots__ = ("op", "axis")
    kind = "reduce"


class Slice(Node):
    """``args[0]`` at positions ``start + step*j`` along ``axis``, ``j < length``;
    ``length is None``: the single position ``start``, the axis dropped."""

    __slots__ = ("axis", "start", "step", "length")
    kind = "slice"


class Embed(Node):
    """The adjoint of :class:`Slice`: ``args[0]`` placed at positions ``start + step*j``
    along ``axis`` of zeros of size ``size`` (``keep=False``: ``args[0]`` lacks that axis)."""

    __slots__ = ("axis", "start", "step", "size", "keep")
    kind = "embed"


class Eye(Node):
    """The identity tensor of ``base`` shape: shape ``base + base``, 1 where the first
    half of the index equals the second half."""

    __slots__ = ("base",)
    kind = "eye"

    @staticmethod
    def make(base: tuple) -> "Eye":
        return _make(Eye, (base,), shape=base + base, args=(), base=base)


class OneHot(Node):
    """``(m, classes)``: 1.0 at ``[i, labels[i]]``, else 0.0 (``labels`` integer data)."""

    __slots__ = ("classes",)
    kind = "onehot"

    @staticmethod
    def make(labels: Leaf, classes: sympy.Expr) -> "OneHot":
        if not (isinstance(labels, Leaf) and labels.dtype == "int" and labels.ndim == 1):
            raise ProblemError("one-hot labels must be 1-D integer data "
                               "(symopt.tensor.data(name, m, dtype=int))")
        shape = labels.shape + (classes,)
        return _make(OneHot, (labels, classes), shape=shape, args=(labels,), classes=classes)


# --- constants and element-wise maps ---------------------------------------------------


def _scalar_value(value: Any, what: str) -> sympy.Expr:
    """A Python/NumPy number or a SymPy expression of dims, as a SymPy number."""
    if isinstance(value, bool):
        raise ProblemError(f"{what}: booleans are not numbers here")
    if isinstance(value, numbers.Number):
        if isinstance(value, complex) and value.imag != 0:
            raise ProblemError(f"{what}: complex numbers are not supported")
        if isinstance(value, numbers.Integral):
            return sympy.Integer(int(value))
        import math

        if not math.isfinite(float(value)):
            raise ProblemError(f"{what}: the constant {value!r} is not finite")
        return sympy.Float(float(value))
    if isinstance(value, sympy.Expr):
        bad = [s for s in value.free_symbols if not isinstance(s, Dim)]
        if bad:
            raise ProblemError(
                f"{what}: {value} uses the SymPy symbol(s) {', '.join(map(str, bad))}; in an "
                "array formula, use symopt.tensor.variable/parameter/data for named values")
        return value
    raise ProblemError(f"{what}: cannot use a {type(value).__name__} in an array formula")


def constant(value: Any, shape: tuple = ()) -> Map:
    """A constant (a number, or an expression of dims), filled to ``shape``."""
    value = _scalar_value(value, "constant")
    return _map_node(value, [], [], tuple(shape))


def as_node(value: Any, what: str = "operand") -> Node:
    if isinstance(value, Node):
        return value
    return constant(value)


def _map_node(body: sympy.Expr, args: list, axes: list, shape: tuple) -> Node:
    """The interned Map (or the argument itself when the body is just it)."""
    if (len(args) == 1 and body == placeholder(0) and args[0].shape == shape
            and axes[0] == tuple(range(len(shape)))):
        return args[0]
    key = (body, tuple(args), tuple(axes), shape)
    return _make(Map, key, shape=shape, args=tuple(args), body=body, axes=tuple(axes))


def elementwise(fn, *operands, what: str = "element-wise operation", shape=None) -> Node:
    """``fn`` applied element by element to ``operands`` (Nodes or numbers), broadcast
    NumPy-style; ``fn`` receives SymPy placeholders (or the numbers themselves) and
    returns the body.  Map arguments are inlined, so chains become one Map."""
    nodes = [op for op in operands if isinstance(op, Node)]
    if not nodes:
        values = [_scalar_value(op, what) for op in operands]
        return constant(fn(*values)) if shape is None else constant(fn(*values), shape)
    shapes = [n.shape for n in nodes] + ([tuple(shape)] if shape is not None else [])
    out_shape, maps = _broadcast(shapes, what)
    args: list[Node] = []
    axes: list[tuple] = []
    slots: dict[tuple, sympy.Symbol] = {}

    def slot(arg: Node, arg_axes: tuple) -> sympy.Symbol:
        key = (arg, arg_axes)
        sym = slots.get(key)
        if sym is None:
            sym = slots[key] = placeholder(len(args))
            args.append(arg)
            axes.append(arg_axes)
        return sym

    values = []
    it = iter(maps)
    for op in operands:
        if not isinstance(op, Node):
            values.append(_scalar_value(op, what))
            continue
        op_axes = next(it)
        if isinstance(op, Map):
            replace = {}
            for k, (inner, inner_axes) in enumerate(zip(op.args, op.axes)):
                composed = tuple(None if a is None else op_axes[a] for a in inner_axes)
                replace[placeholder(k)] = slot(inner, composed)
            values.append(op.body.xreplace(replace))
        else:
            values.append(slot(op, op_axes))
    body = sympy.sympify(fn(*values))
    if not isinstance(body, sympy.Expr) or body.is_Relational or isinstance(body, sympy.logic.boolalg.Boolean):
        raise ProblemError(f"{what}: the result is not a number-valued expression")
    if body.has(sympy.zoo, sympy.nan) or body in (sympy.oo, -sympy.oo):
        raise ProblemError(f"{what}: the result is not finite ({body})")
    return _canonical_map(body, args, axes, out_shape)


def _canonical_map(body: sympy.Expr, args: list, axes: list, shape: tuple) -> Node:
    """Drop arguments the body no longer uses and renumber the placeholders in order."""
    used = body.free_symbols
    keep = [k for k in range(len(args)) if placeholder(k) in used]
    if len(keep) != len(args) or keep != list(range(len(keep))):
        renumber = {placeholder(k): placeholder(j) for j, k in enumerate(keep)}
        body = body.xreplace(renumber)
        args = [args[k] for k in keep]
        axes = [axes[k] for k in keep]
    return _map_node(body, args, axes, shape)


def map_with_axes(body: sympy.Expr, args: Sequence[Node], axes: Sequence[tuple],
                  shape: tuple) -> Node:
    """A Map with explicit axes maps (used by differentiation, where arguments are placed
    along chosen output axes); Map arguments are inlined as in :func:`elementwise`."""
    new_args: list[Node] = []
    new_axes: list[tuple] = []
    slots: dict[tuple, sympy.Symbol] = {}

    def slot(arg, arg_axes):
        key = (arg, arg_axes)
        sym = slots.get(key)
        if sym is None:
            sym = slots[key] = placeholder(len(new_args))
            new_args.append(arg)
            new_axes.append(arg_axes)
        return sym

    replace = {}
    for k, (arg, arg_axes) in enumerate(zip(args, axes)):
        if isinstance(arg, Map):
            inner_replace = {}
            for j, (inner, inner_axes) in enumerate(zip(arg.args, arg.axes)):
                composed = tuple(None if a is None else arg_axes[a] for a in inner_axes)
                inner_replace[placeholder(j)] = slot(inner, composed)
            replace[placeholder(k)] = arg.body.xreplace(inner_replace)
        else:
            replace[placeholder(k)] = slot(arg, tuple(arg_axes))
    # substitute simultaneously (placeholders of the old and new numbering overlap)
    temporaries = {placeholder(k): sympy.Dummy(f"t{k}") for k in range(len(args))}
    body = body.xreplace(temporaries).xreplace({temporaries[s]: v for s, v in replace.items()})
    return _canonical_map(body, new_args, new_axes, tuple(shape))


def broadcast_to(node: Node, shape: tuple, axes: tuple) -> Node:
    """``node`` repeated along the axes of ``shape`` not in ``axes`` (node axis k runs
    along output axis ``axes[k]``)."""
    return map_with_axes(placeholder(0), [node], [axes], shape)


def is_zero(node: Node | None) -> bool:
    return node is None or (isinstance(node, Map) and node.body == 0)


def scalar_value(node: Node) -> sympy.Expr | None:
    """The constant value of a Map without arguments (a constant or a fill), else None."""
    if isinstance(node, Map) and not node.args:
        return node.body
    return None


# --- contractions -----------------------------------------------------------------------


def _relabel(labels: Sequence[str], out: str) -> tuple[tuple[str, ...], str]:
    mapping: dict[str, str] = {}
    for lab in itertools.chain(*labels, out):
        if lab not in mapping:
            mapping[lab] = chr(ord("a") + len(mapping)) if len(mapping) < 26 else chr(ord("A") + len(mapping) - 26)
    return tuple("".join(mapping[c] for c in s) for s in labels), "".join(mapping[c] for c in out)


def contract(operands: Sequence[Node], labels: Sequence[str], out: str,
             what: str = "contraction", sizes: dict | None = None) -> Node:
    """``einsum`` of ``operands`` with index ``labels`` into ``out`` (simplified: constants
    and scalars pulled out as factors, identities substituted, pure relabellings of a
    single operand flattened)."""
    operands = [as_node(o) for o in operands]
    labels = [str(s) for s in labels]
    if len(operands) != len(labels):
        raise ProblemError(f"{what}: {len(operands)} operands but {len(labels)} label groups")
    sizes = dict(sizes or {})
    for op, labs in zip(operands, labels):
        if len(labs) != op.ndim:
            raise ShapeError(f"{what}: an operand of shape {shape_str(op.shape)} got "
                             f"{len(labs)} index labels")
        for lab, size in zip(labs, op.shape):
            known = sizes.get(lab)
            if known is None:
                sizes[lab] = size
            elif not same_dim(known, size):
                raise ShapeError(f"{what}: shapes {', '.join(shape_str(o.shape) for o in operands)} "
                                 f"do not match ({known} against {size})")
    for lab in out:
        if lab not in sizes:
            raise ProblemError(f"{what}: output label {lab!r} is on no operand")
    factor = sympy.S.One
    keep_ops: list[Node] = []
    keep_labels: list[str] = []
    scalars: list[Node] = []
    for op, labs in zip(operands, labels):
        value = scalar_value(op)
        if value is not None:
            factor *= value  # a constant (fill): a factor, its labels stay as sizes
            keep_ops.append(None)
            keep_labels.append(labs)
            continue
        if op.ndim == 0:
            scalars.append(op)
            continue
        keep_ops.append(op)
        keep_labels.append(labs)
    if factor == 0:
        return constant(0, tuple(sizes[lab] for lab in out))
    # labels carried only by constant fills: each multiplies by its size (or broadcasts)
    live_ops = [(o, l) for o, l in zip(keep_ops, keep_labels) if o is not None]
    live_labels = set("".join(l for _, l in live_ops))
    for lab in set("".join(l for o, l in zip(keep_ops, keep_labels) if o is None)):
        if lab not in live_labels and lab not in out:
            factor *= sizes[lab]
    ops = [o for o, _ in live_ops]
    labs = [l for _, l in live_ops]
    ops, labs, trace = _substitute_identities(ops, labs, out, sizes)
    factor *= trace
    ops, labs = _flatten_relabellings(ops, labs)
    missing = [lab for lab in out if lab not in "".join(labs)]
    core_out = "".join(lab for lab in out if lab not in missing)
    core = _contract_core(ops, labs, core_out, sizes)
    if missing or factor != 1 or scalars:
        # broadcast along labels no operand carries any more; scale by the factor
        args = ([core] if core is not None else []) + scalars
        axes = ([tuple(out.index(lab) for lab in core_out)] if core is not None else [])
        axes += [()] * len(scalars)
        body = factor * sympy.Mul(*[placeholder(k) for k in range(len(args))])
        return map_with_axes(body, args, axes, tuple(sizes[lab] for lab in out))
    return core


def _contract_core(ops, labs, out, sizes) -> Node | None:
    if not ops:
        return None
    if len(ops) == 1 and labs[0] == out:
        return ops[0]
    new_labels, new_out = _relabel(labs, out)
    shape = tuple(sizes[lab] for lab in out)
    return _make(Contract, (tuple(ops), new_labels, new_out), shape=shape, args=tuple(ops),
                 labels=new_labels, out=new_out)


def _substitute_identities(ops, labs, out, sizes):
    """Contract each identity (Eye) with the operands sharing its labels: ``X_ij I_ja``
    is ``X_ia``.  A pair of the identity whose both labels are output labels stays (a
    diagonal structure, e.g. the Hessian ``2 I`` of ``sum(w**2)``).  Returns the
    operands, their labels and the factor of labels summed over nothing but the
    identity (a trace: the size)."""
    ops, labs = list(ops), list(labs)
    factor = sympy.S.One
    changed = True
    while changed:
        changed = False
        for k, op in enumerate(ops):
            if not isinstance(op, Eye):
                continue
            half = len(op.base)
            pairs = list(zip(labs[k][:half], labs[k][half:]))
            for idx, (p, q) in enumerate(pairs):
                rest = pairs[:idx] + pairs[idx + 1:]
                if p == q:
                    old = new = p
                elif q not in out:
                    old, new = q, p
                elif p not in out:
                    old, new = p, q
                else:
                    continue
                for j in range(len(labs)):
                    if j != k:
                        labs[j] = labs[j].replace(old, new)
                rest = [(a.replace(old, new), b.replace(old, new)) for a, b in rest]
                elsewhere = "".join(l for j, l in enumerate(labs) if j != k)
                elsewhere += "".join(a + b for a, b in rest) + out
                if new not in elsewhere:
                    factor *= sizes[p]
                if rest:
                    ops[k] = Eye.make(tuple(sizes[a] for a, _ in rest))
                    labs[k] = "".join(a for a, _ in rest) + "".join(b for _, b in rest)
                else:
                    del ops[k]
                    del labs[k]
                changed = True
                break
            if changed:
                break
    return ops, labs, factor


def _flatten_relabellings(ops, labs):
    """Inline operands that are themselves a single-operand Contract without summation
    (a transpose), so that ``X.T @ r`` is one contraction ``X_ij r_i -> j``."""
    new_ops, new_labs = [], []
    for op, lab in zip(ops, labs):
        if (isinstance(op, Contract) and len(op.args) == 1 and len(op.out) == len(op.labels[0])
                and set(op.out) == set(op.labels[0]) and len(set(op.out)) == len(op.out)):
            mapping = dict(zip(op.out, lab))
            new_ops.append(op.args[0])
            new_labs.append("".join(mapping[c] for c in op.labels[0]))
        else:
            new_ops.append(op)
            new_labs.append(lab)
    return new_ops, new_labs


# --- graph utilities --------------------------------------------------------------------


def topological(roots: Iterable[Node]) -> list[Node]:
    """Every node reachable from ``roots``, arguments before the nodes that use them."""
    order: list[Node] = []
    seen: set[int] = set()
    for root in roots:
        if root is None or id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for arg in reversed(node.args):
                if id(arg) not in seen:
                    stack.append((arg, False))
    return order


def leaves(roots: Iterable[Node]) -> list[Leaf]:
    return [n for n in topological(roots) if isinstance(n, Leaf)]
