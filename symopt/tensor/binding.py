"""Sizes and values at solve time: the dims read from the data and the start point, the
flat vector of variables, the parameters, and the checks that the arrays fit the
formula (a :class:`~symopt.errors.ShapeError` naming both shapes when they do not).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping, Sequence

import numpy as np
import sympy

from ..errors import InputError, ShapeError
from .ir import Dim, Leaf, Node, Slice, shape_str, topological

__all__ = ["resolve_dims", "evaluate_shape", "check_slices", "flatten", "unflatten",
           "as_array", "sizes_of"]


def substitution(values: Mapping[Dim, int]) -> dict:
    """``values`` as a SymPy substitution (integers as SymPy Integers)."""
    return {d: sympy.Integer(v) for d, v in values.items()}


def evaluate_shape(shape: Sequence[sympy.Expr], values: Mapping[Dim, int]) -> tuple[int, ...]:
    subs = substitution(values)
    out = []
    for s in shape:
        v = s.xreplace(subs) if not s.is_Integer else s
        if not v.is_Integer:
            v = sympy.simplify(v)
        if not v.is_Integer:
            raise ShapeError(f"the size {s} is not determined (unknown dims in it)")
        out.append(int(v))
    return tuple(out)


def _solve_one(expr: sympy.Expr, actual: int, values: dict) -> tuple[Dim, int] | None:
    """The one unknown dim of ``expr = actual``, when ``expr`` is affine in it."""
    unknown = [s for s in expr.free_symbols if isinstance(s, Dim) and s not in values]
    if len(unknown) != 1:
        return None
    (dim,) = unknown
    e = sympy.expand(expr.xreplace(substitution(values)))
    a = e.coeff(dim, 1)
    c = e - a * dim
    if c.has(dim) or not a.is_number or a == 0:
        return None
    value = (actual - c) / a
    return dim, value


def resolve_dims(equations: Sequence[tuple[str, tuple, tuple]], given: Mapping[Any, int] | None,
                 all_dims: Sequence[Dim]) -> dict[Dim, int]:
    """The value of every dim from ``equations`` ``(what, declared shape, actual shape)``
    and ``given`` values (``{"n": 1000}`` or ``{dim: 1000}``).  Raises
    :class:`ShapeError` naming the array when a shape does not fit."""
    by_name = {d.name: d for d in all_dims}
    values: dict[Dim, int] = {}
    for key, v in (given or {}).items():
        dim = by_name.get(key) if isinstance(key, str) else key
        if dim is None or dim not in all_dims:
            raise InputError(f"dims: {key!r} is not a size of this problem; its sizes are "
                             f"{', '.join(sorted(by_name)) or 'none'}")
        if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)) or v < 1:
            raise InputError(f"dims: the size {key} must be a positive integer, got {v!r}")
        values[dim] = int(v)
    for what, declared, actual in equations:
        if len(declared) != len(actual):
            raise ShapeError(f"{what} has shape {tuple(actual)}, but the formula declares "
                             f"{len(declared)} axes {shape_str(declared)}")
    pending = [(what, e, a, declared, actual) for what, declared, actual in equations
               for e, a in zip(declared, actual)]
    progress = True
    while progress:
        progress = False
        for what, e, a, declared, actual in pending:
            solved = _solve_one(e, a, values)
            if solved is None:
                continue
            dim, value = solved
            if not (value.is_Integer and value >= 1):
                raise ShapeError(f"{what} has shape {tuple(actual)}, which does not fit its "
                                 f"declared shape {shape_str(declared)} for any positive "
                                 f"integer {dim}")
            values[dim] = int(value)
            progress = True
    for what, declared, actual in equations:
        for e, a in zip(declared, actual):
            v = sympy.simplify(e.xreplace(substitution(values)))
            if not v.is_Integer:
                continue
            if int(v) != a:
                bound = ", ".join(f"{d} = {values[d]}" for d in sorted(e.free_symbols & set(values),
                                                                       key=str))
                raise ShapeError(f"{what} has shape {tuple(actual)} but the formula needs "
                                 f"{shape_str(declared)}" + (f" = {evaluate_shape(declared, values)} "
                                                              f"(with {bound} from the other arrays)"
                                                              if bound else ""))
    missing = [d.name for d in all_dims if d not in values]
    if missing:
        raise ShapeError(f"the size{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                         "cannot be read from the data or the start point; give "
                         f"dims={{{', '.join(repr(m) + ': ...' for m in missing)}}}")
    for d, v in values.items():
        if d.is_even and v % 2:
            raise ShapeError(f"the size {d} is declared even but is {v}")
    return values


def check_slices(roots: Sequence[Node], values: Mapping[Dim, int]) -> None:
    """Every slice and index of the formula stays inside its array for these sizes."""
    subs = substitution(values)
    for node in topological(roots):
        if not isinstance(node, Slice):
            continue
        size = int(node.args[0].shape[node.axis].xreplace(subs))
        start = node.start.xreplace(subs)
        if node.length is None:
            if not (start.is_Integer and 0 <= int(start) < size):
                raise ShapeError(f"the index {node.start} = {start} is outside an axis of size {size}")
            continue
        length = sympy.simplify(node.length.xreplace(subs))
        if not (start.is_Integer and length.is_Integer):
            raise ShapeError(f"the slice at {node.start} of length {node.length} is not determined")
        start, length = int(start), int(length)
        if length < 0 or start < 0 or (length > 0 and start + node.step * (length - 1) >= size):
            raise ShapeError(f"the slice starting at {node.start} = {start} with step {node.step} "
                             f"and length {node.length} = {length} reaches outside an axis of "
                             f"size {size}")


def as_array(value: Any, leaf: Leaf, what: str) -> np.ndarray:
    """``value`` as a C-contiguous float64 (or int64 for integer data) array, checked finite.
    Arrays of the right type are used as they are (no copy)."""
    dtype = np.int64 if leaf.dtype == "int" else np.float64
    try:
        a = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - anything numpy refuses
        raise InputError(f"{what}: cannot convert to an array ({exc})") from None
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise InputError(f"{what}: expected numbers, got an array of {a.dtype}")
    if leaf.dtype == "int":
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
                raise InputError(f"{what}: integer labels expected, got non-integer values")
        a = np.ascontiguousarray(a, dtype=dtype)
    else:
        a = np.ascontiguousarray(a, dtype=dtype)
        if a.size and not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a))[0]
            raise InputError(f"{what}: contains NaN or Inf (first at index {tuple(bad.tolist())})")
    return a


def sizes_of(variables: Sequence[Leaf], values: Mapping[Dim, int]) -> list[int]:
    return [math.prod(evaluate_shape(v.shape, values)) for v in variables]


def flatten(variables: Sequence[Leaf], given: Any, values: Mapping[Dim, int], what: str = "x0",
            check_finite: bool = True) -> np.ndarray:
    """The variables laid end to end (C order) from a mapping of arrays or a flat vector."""
    sizes = sizes_of(variables, values)
    total = sum(sizes)
    if isinstance(given, Mapping):
        names = {v.name: v for v in variables}
        unknown = [k for k in given if k not in names]
        if unknown:
            raise InputError(f"{what}: {', '.join(map(repr, unknown))} "
                             f"{'is not a variable' if len(unknown) == 1 else 'are not variables'}; "
                             f"the variables are {', '.join(names)}")
        missing = [k for k in names if k not in given]
        if missing:
            raise InputError(f"{what}: no value for {', '.join(missing)}")
        out = np.empty(total)
        at = 0
        for v, size in zip(variables, sizes):
            shape = evaluate_shape(v.shape, values)
            a = np.asarray(given[v.name], dtype=float)
            if a.shape != shape:
                if a.ndim == 0 and shape != ():
                    a = np.full(shape, float(a))  # a scalar fills the variable
                else:
                    raise ShapeError(f"{what}[{v.name!r}] has shape {a.shape}, but {v.name} has "
                                     f"shape {shape_str(v.shape)} = {shape}")
            out[at:at + size] = a.reshape(-1)
            at += size
    else:
        out = np.array(given, dtype=float).reshape(-1) if not np.isscalar(given) else np.array([float(given)])
        if out.shape[0] != total:
            raise ShapeError(f"{what} has {out.shape[0]} entries, but the variables "
                             f"{', '.join(f'{v.name}{shape_str(v.shape)}' for v in variables)} "
                             f"have {total}")
    if check_finite and not np.isfinite(out).all():
        raise InputError(f"{what} contains NaN or Inf")
    return out


def unflatten(variables: Sequence[Leaf], x: np.ndarray, values: Mapping[Dim, int]) -> dict[str, Any]:
    """Each variable's part of the flat vector ``x``, as an array of its shape (a float for a
    scalar); views, not copies."""
    out: dict[str, Any] = {}
    at = 0
    for v in variables:
        shape = evaluate_shape(v.shape, values)
        size = math.prod(shape)
        part = x[at:at + size]
        out[v.name] = float(part[0]) if shape == () else part.reshape(shape)
        at += size
    return out
