"""Exact derivatives of array formulas, as array formulas.

- :func:`gradients`: reverse mode on the DAG (the chain rule from the loss back to the
  variables: backpropagation).  Each node's adjoint (``dL/dnode``) is an IR formula;
  a Map's local derivatives are SymPy derivatives of its body.
- :func:`jvp`: forward mode: the directional derivative of formulas along tangents of
  the variables.  A tangent may carry trailing axes of its own (a *matrix tangent*): with
  the identity as the tangent of a vector variable, the JVP of its gradient is the
  Hessian block as a formula (``X^T diag(s) X``), the identity contracted away.
- :func:`hessian_vector_products` (forward over reverse) and :func:`hessian_blocks`.

Everything is derived once per formula; no size is ever looked at.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import sympy

from ..errors import ProblemError
from .ir import (
    Contract,
    Embed,
    Eye,
    Leaf,
    Map,
    Node,
    OneHot,
    Reduce,
    Slice,
    constant,
    contract,
    elementwise,
    map_with_axes,
    placeholder,
    topological,
)
from .ops import embed, make_slice

__all__ = ["gradients", "jvp", "hessian_vector_products", "hessian_blocks", "add"]

_LABELS = "abcdefghijklmnopqrstuvwxyz"
_TANGENT_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def add(a: Node | None, b: Node | None) -> Node | None:
    """``a + b`` where None is zero."""
    if a is None:
        return b
    if b is None:
        return a
    return elementwise(lambda u, v: u + v, a, b, what="+")


def _shift(body: sympy.Expr, by: int, count: int) -> sympy.Expr:
    """The body with placeholder k renamed k + by (k < count), simultaneously."""
    if by == 0:
        return body
    temporaries = {placeholder(k): sympy.Dummy(f"s{k}") for k in range(count)}
    body = body.xreplace(temporaries)
    return body.xreplace({temporaries[placeholder(k)]: placeholder(k + by) for k in range(count)})


def _depends(order: Sequence[Node], variables: Iterable[Leaf]) -> set[Node]:
    """The nodes of ``order`` whose value depends on one of ``variables``."""
    variables = set(variables)
    out: set[Node] = set()
    for node in order:
        if node in variables or any(a in out for a in node.args):
            out.add(node)
    return out


def _labels(ndim: int) -> str:
    return _LABELS[:ndim]


def _sum_to(full: Node, arg: Node, arg_axes: tuple) -> Node:
    """The adjoint contribution ``full`` (shape of the Map's output) reduced to the shape
    of an argument placed along ``arg_axes``: summed over the output axes it is broadcast
    along."""
    out_labels = _labels(full.ndim)
    kept = [a for a in arg_axes if a is not None]
    if len(kept) == full.ndim and kept == list(range(full.ndim)) and len(arg_axes) == full.ndim:
        return full
    core = contract([full], [out_labels], "".join(out_labels[a] for a in kept))
    if len(kept) == len(arg_axes):
        return core
    positions = tuple(k for k, a in enumerate(arg_axes) if a is not None)
    return map_with_axes(placeholder(0), [core], [positions], arg.shape)


def _vjp(node: Node, G: Node, wanted: set[Node]) -> list[tuple[Node, Node]]:
    """``(argument, contribution to its adjoint)`` for the arguments of ``node`` in
    ``wanted``, given the adjoint ``G`` of ``node``."""
    out: list[tuple[Node, Node]] = []
    if isinstance(node, Map):
        n = len(node.args)
        identity = tuple(range(node.ndim))
        for k, arg in enumerate(node.args):
            if arg not in wanted:
                continue
            partial = sympy.diff(node.body, placeholder(k))
            if partial == 0:
                continue
            body = placeholder(0) * _shift(partial, 1, n)
            full = map_with_axes(body, [G, *node.args], [identity, *node.axes], node.shape)
            out.append((arg, _sum_to(full, arg, node.axes[k])))
    elif isinstance(node, Contract):
        for k, arg in enumerate(node.args):
            if arg not in wanted:
                continue
            others = [a for j, a in enumerate(node.args) if j != k]
            labels = [l for j, l in enumerate(node.labels) if j != k]
            target = node.labels[k]
            if len(set(target)) != len(target):
                raise ProblemError("differentiating a diagonal (repeated index) is not supported")
            sizes = dict(zip(target, arg.shape))
            out.append((arg, contract([G, *others], [node.out, *labels], target, sizes=sizes)))
    elif isinstance(node, Reduce):
        (arg,) = node.args
        if arg in wanted:
            k = node.axis
            rest = tuple(j for j in range(arg.ndim) if j != k)
            identity = tuple(range(arg.ndim))
            if node.op == "logsumexp":
                body = placeholder(0) * sympy.exp(placeholder(1) - placeholder(2))
            else:  # max: 1 at the maximum (every tied one)
                body = placeholder(0) * sympy.Piecewise(
                    (1, sympy.Eq(placeholder(1), placeholder(2))), (0, True))
            out.append((arg, map_with_axes(body, [G, arg, node], [rest, identity, rest],
                                           arg.shape)))
    elif isinstance(node, Slice):
        (arg,) = node.args
        if arg in wanted:
            out.append((arg, embed(G, node.axis, node.start, node.step, arg.shape[node.axis],
                                   node.length is not None)))
    elif isinstance(node, Embed):
        (arg,) = node.args
        if arg in wanted:
            length = arg.shape[node.axis] if node.keep else None
            out.append((arg, make_slice(G, node.axis, node.start, node.step, length)))
    return out


def adjoints(loss: Node, variables: Sequence[Leaf]) -> dict[Node, Node]:
    """The adjoint ``dL/dnode`` of every node of ``loss`` that depends on ``variables``
    (reverse mode; the adjoint of a variable is its gradient)."""
    if loss.ndim != 0:
        raise ProblemError(f"the loss must be a scalar, got an array of shape {loss.shape}")
    order = topological([loss])
    wanted = _depends(order, variables)
    adj: dict[Node, Node] = {loss: constant(1)}
    for node in reversed(order):
        G = adj.get(node)
        if G is None or node not in wanted or isinstance(node, Leaf):
            continue
        for arg, contribution in _vjp(node, G, wanted):
            adj[arg] = add(adj.get(arg), contribution)
    return adj


def gradients(loss: Node, variables: Sequence[Leaf]) -> dict[Leaf, Node]:
    """The gradient of the scalar ``loss`` with respect to each variable, as formulas of
    the variables' shapes (zeros where the loss does not depend on one)."""
    adj = adjoints(loss, variables)
    return {v: adj.get(v) if adj.get(v) is not None else constant(0, v.shape) for v in variables}


# --- forward mode -------------------------------------------------------------------------


def jvp(roots: Sequence[Node], tangents: dict[Leaf, Node], tangent_shape: tuple = ()) -> list[Node | None]:
    """The directional derivatives of ``roots`` along ``tangents`` (variable -> tangent of
    shape ``variable.shape + tangent_shape``); None where a root does not depend on them.
    A root's derivative has shape ``root.shape + tangent_shape``."""
    order = topological(roots)
    t = len(tangent_shape)
    tlabels = _TANGENT_LABELS[:t]
    tan: dict[Node, Node] = {}
    for node in order:
        if isinstance(node, Leaf):
            if node in tangents:
                tan[node] = tangents[node]
            continue
        if not any(a in tan for a in node.args):
            continue
        shape = node.shape + tuple(tangent_shape)
        if isinstance(node, Map):
            args = list(node.args)
            axes = list(node.axes)
            body = sympy.S.Zero
            trailing = tuple(range(node.ndim, node.ndim + t))
            for k, arg in enumerate(node.args):
                d = tan.get(arg)
                if d is None:
                    continue
                partial = sympy.diff(node.body, placeholder(k))
                if partial == 0:
                    continue
                body += partial * placeholder(len(args))
                args.append(d)
                axes.append(tuple(node.axes[k]) + trailing)
            if body != 0:
                tan[node] = map_with_axes(body, args, axes, shape)
        elif isinstance(node, Contract):
            total = None
            for k, arg in enumerate(node.args):
                d = tan.get(arg)
                if d is None:
                    continue
                ops = list(node.args)
                ops[k] = d
                labels = list(node.labels)
                labels[k] = labels[k] + tlabels
                total = add(total, contract(ops, labels, node.out + tlabels))
            if total is not None:
                tan[node] = total
        elif isinstance(node, Reduce):
            (arg,) = node.args
            d = tan[arg]
            k = node.axis
            rest = tuple(j for j in range(arg.ndim) if j != k)
            identity = tuple(range(arg.ndim))
            full_identity = tuple(range(arg.ndim + t))
            if node.op == "logsumexp":
                weight = sympy.exp(placeholder(0) - placeholder(1))
            else:
                weight = sympy.Piecewise((1, sympy.Eq(placeholder(0), placeholder(1))), (0, True))
            full = map_with_axes(weight * placeholder(2), [arg, node, d],
                                 [identity, rest, full_identity], arg.shape + tuple(tangent_shape))
            labels = _labels(arg.ndim) + tlabels
            out = "".join(c for j, c in enumerate(_labels(arg.ndim)) if j != k) + tlabels
            tan[node] = contract([full], [labels], out)
        elif isinstance(node, Slice):
            tan[node] = make_slice(tan[node.args[0]], node.axis, node.start, node.step, node.length)
        elif isinstance(node, Embed):
            tan[node] = embed(tan[node.args[0]], node.axis, node.start, node.step, node.size,
                              node.keep)
        elif isinstance(node, (Eye, OneHot)):
            continue
    return [tan.get(r) for r in roots]


def directions(variables: Sequence[Leaf]) -> dict[Leaf, Leaf]:
    """One direction leaf per variable (the ``v`` of a Hessian-vector product), of the
    variable's shape, named ``v_<name>``."""
    return {v: Leaf.make("direction", f"v_{v.name}", v.shape) for v in variables}


def hessian_vector_products(grads: dict[Leaf, Node], variables: Sequence[Leaf]) -> dict[Leaf, Node]:
    """``H v`` per variable (forward over reverse: the JVP of each gradient formula along
    the direction leaves of :func:`directions`)."""
    tangents = directions(variables)
    roots = [grads[v] for v in variables]
    out = jvp(roots, dict(tangents))
    return {v: (hv if hv is not None else constant(0, v.shape)) for v, hv in zip(variables, out)}


def hessian_blocks(grads: dict[Leaf, Node], variables: Sequence[Leaf]) -> dict[tuple[int, int], Node]:
    """The Hessian blocks ``(a, b), a <= b`` (indices into ``variables``) as formulas of
    shape ``variables[a].shape + variables[b].shape``: the JVP of gradient ``a`` with the
    identity as the tangent of variable ``b``.  Blocks that are identically zero are left
    out."""
    blocks: dict[tuple[int, int], Node] = {}
    for b, vb in enumerate(variables):
        seed = Eye.make(vb.shape) if vb.ndim else constant(1)
        roots = [grads[va] for va in variables[:b + 1]]
        derivs = jvp(roots, {vb: seed}, vb.shape)
        for a, block in enumerate(derivs):
            if block is not None and not (isinstance(block, Map) and block.body == 0):
                blocks[(a, b)] = block
    return blocks
