"""Reuse of named element-wise results inside other element-wise formulas.

Formulas fuse element-wise chains into one Map (``tanh(X @ W1 + b1)`` is one node), and a
derivative's Map recomputes what it needs: the backpropagated ``δ2*(1 - tanh(t1 + b1)**2)``
evaluates ``tanh`` again.  :func:`share` rewrites a set of formulas so that the bodies of
chosen Maps (a network's layers ``H1 = tanh(Z1)``, its probabilities ``P``) are read from
those nodes wherever they occur: ``δ2*(1 - H1**2)``.  The result prints as a derivation is
written by hand and is what the NumPy backend evaluates (``tanh`` once per element).

The rewritten nodes are not interned (they live outside the formula cache), and nothing
else in :mod:`symopt.tensor` sees them.
"""

from __future__ import annotations

from typing import Sequence

import sympy

from .ir import Map, Node, placeholder, topological

__all__ = ["share"]


def _copy(node: Node, args: tuple, **changes) -> Node:
    new = object.__new__(type(node))
    for cls in type(node).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name != "__weakref__" and hasattr(node, name):
                object.__setattr__(new, name, getattr(node, name))
    object.__setattr__(new, "args", tuple(args))
    for name, value in changes.items():
        object.__setattr__(new, name, value)
    return new


def _substitute(node: Map, candidate: Map, replacement: Node) -> tuple | None:
    """``node``'s body and arguments with ``candidate``'s body read from
    ``replacement`` (the rewritten candidate), or None where it does not occur."""
    if candidate.shape != node.shape or not candidate.args:
        return None
    remap = {}
    for k, (arg, axes) in enumerate(zip(candidate.args, candidate.axes)):
        for j, (a, ax) in enumerate(zip(node.args, node.axes)):
            if a is arg and ax == axes:
                remap[placeholder(k)] = placeholder(j)
                break
        else:
            return None
    pattern = candidate.body.xreplace(remap)
    if pattern == node.body:
        return None
    # the named result becomes argument 0, so it prints first: (P - Y)/B, not (-Y + P)/B
    shift = {placeholder(k): placeholder(k + 1) for k in range(len(node.args))}
    fresh = placeholder(0)
    old_body = node.body.xreplace(shift)
    pattern = pattern.xreplace(shift)
    body = _replace(old_body, pattern, fresh)
    if body is None:
        body = _replace(sympy.factor_terms(old_body), pattern, fresh)
    if body is None:
        return None
    args = [replacement] + list(node.args)
    axes = [tuple(range(node.ndim))] + list(node.axes)
    used = body.free_symbols
    keep = [k for k in range(len(args)) if placeholder(k) in used]
    renumber = {placeholder(k): placeholder(i) for i, k in enumerate(keep)}
    return body.xreplace(renumber), [args[k] for k in keep], [axes[k] for k in keep]


def _replace(body: sympy.Expr, pattern: sympy.Expr, fresh: sympy.Symbol) -> sympy.Expr | None:
    """``body`` with ``pattern`` replaced by ``fresh``, also where the pattern is a sum
    whose terms are part of a larger sum (``a + b - c`` with ``a + b`` -> ``Z - c``)."""
    terms = set(pattern.args) if pattern.is_Add else None

    def query(e):
        return e == pattern or (terms is not None and e.is_Add and terms <= set(e.args))

    def value(e):
        if e == pattern:
            return fresh
        return fresh + sympy.Add(*[a for a in e.args if a not in terms])

    new = body.replace(query, value)
    return None if new == body else new


def share(roots: Sequence[Node], named: Sequence[Node]) -> tuple[list[Node], dict[Node, Node]]:
    """``roots`` rewritten so that every Map body containing the body of a Map in
    ``named`` reads that node instead; returns the new roots and the map from each old
    node to its rewritten version (the named ones included)."""
    candidates = sorted((n for n in named if isinstance(n, Map)),
                        key=lambda n: -sympy.count_ops(n.body))
    order = topological(list(named) + list(roots))
    new: dict[Node, Node] = {}
    done: set[Node] = set()
    for node in order:
        done.add(node)
        args = tuple(new.get(a, a) for a in node.args)
        if isinstance(node, Map):
            body, margs, maxes = node.body, list(node.args), list(node.axes)
            for cand in candidates:
                if cand is node or cand not in done:
                    continue
                current = _copy(node, tuple(margs), body=body, axes=tuple(maxes))
                hit = _substitute(current, cand, new.get(cand, cand))
                if hit is not None:
                    body, margs, maxes = hit
            margs = [new.get(a, a) for a in margs]
            if body != node.body:
                tidy = sympy.factor_terms(body)
                if sympy.count_ops(tidy) <= sympy.count_ops(body):
                    body = tidy
            if body != node.body or tuple(margs) != node.args:
                new[node] = _copy(node, tuple(margs), body=body, axes=tuple(maxes))
        elif args != node.args:
            new[node] = _copy(node, args)
    return [new.get(r, r) for r in roots], new
