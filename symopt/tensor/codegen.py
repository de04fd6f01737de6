"""Array formulas -> kernel source: fused, blocked loops whose sizes are read at run time.

A kernel computes a few *outputs* (the loss, the gradient laid out in ``g``, a
Hessian-vector product, Hessian blocks in ``H``) from one DAG.  Every node of the DAG
gets a *role*:

``inline``   evaluated where it is used, element by element (element-wise maps of leaves,
             slices, one-hot and identity entries): never stored
``row``      computed for row ``i`` of its leading axis inside a loop over that axis
             (a map of computed values, ``X @ w`` by a dot per row, a reduction along an
             inner axis)
``accum``    a sum (or max/logsumexp) over the leading axis of its operands: accumulated
             row by row (``X^T r``, ``sum(...)``)
``scatter``  the adjoint of a slice: row ``i`` of its argument written to position
             ``start + step*i`` of its target (the gradient of ``x[1::2]``)

Nodes are then *fused*: a row node and the nodes that read it at the same row join one
group, and groups over the same axis that do not depend on each other merge, so that
one pass over the rows computes the loss, the gradient and (with a Hessian) the
Hessian: a logistic loss reads ``X`` once per evaluation.  Each group is a loop over
its rows, split into blocks (:data:`BLOCK_ROWS`, at most :data:`MAX_BLOCKS`) run in
parallel with ``prange``; every block keeps its own partial sums, combined in block
order, so results depend on the sizes only, never on the threads.

Inside a row, scalar work is SymPy expressions over *reads* (``X[_i, _j]``, ``y[_i]``)
and per-row results of inner loops (``sum_j X[_i, _j] w[_j]``); they are scheduled by
level (an expression that needs an inner loop's result comes after it), and each level
is printed with joint CSE.  An inner loop body is stripped of every subexpression that
does not depend on the loop's index (hoisted to the row level), so that a
``sigmoid`` of the row is computed once per row, not once per column.
"""

from __future__ import annotations

import itertools
import keyword
import re
from dataclasses import dataclass, field
from typing import Sequence

import sympy

from .. import _numba_compat
from ..codegen import KernelPrinter, _share_exponentials
from ..derivatives import joint_cse
from ._tiling import tile_body
from .ir import (
    Contract,
    Dim,
    Embed,
    Eye,
    Leaf,
    Map,
    Node,
    OneHot,
    Reduce,
    Slice,
    placeholder,
    same_dim,
    topological,
)

__all__ = ["ModuleSource", "Output", "BLOCK_ROWS", "MAX_BLOCKS", "PARTIAL_BUDGET", "int_code"]

#: Rows per block of a fused loop at least (a loop over fewer rows runs as one serial
#: block) ...
BLOCK_ROWS = 4096
#: ... and at least this many element operations per block (rows times the inner loops'
#: lengths): smaller blocks cost more in scheduling than they compute (docs/performance.md).
WORK_PER_BLOCK = 1 << 18
#: The most blocks a loop is split into, whatever the number of threads.
MAX_BLOCKS = 64
#: Floats of per-block partial sums a loop may keep (a d x d Hessian accumulator limits
#: its loop to a few blocks).
PARTIAL_BUDGET = 1 << 22
#: Rows per pass over the inner loops of a fused row loop that updates a partial sum of
#: vectors (``X^T r``): see symopt/tensor/_tiling.py; 1 turns tiling off.
TILE_ROWS = 8
#: Jam the row tile's dot products too (one pass over w for all its rows) instead of
#: running them row after row (one sequential stream from memory): docs/tensors.md
JAM_DOTS = False
#: Rows buffered per call of BLAS dsyrk in a weighted rank-k update (X^T diag(s) X).
GRAM_ROWS = 256


def _runtime_hash() -> str:
    import hashlib
    from pathlib import Path

    from .. import _numba_compat
    from . import _runtime

    digest = hashlib.sha256(Path(_runtime.__file__).read_bytes())
    digest.update(Path(_numba_compat.__file__).read_bytes())  # its intrinsics are inlined
    return digest.hexdigest()[:16]


def _tr_has_syrk() -> bool:
    from . import _runtime

    return _runtime.HAVE_SYRK

_RESERVED = frozenset({"math", "numba", "np", "abi", "_rt", "_tr", "abs", "min", "max",
                       "float", "int", "range", "len", "True", "False", "None"})
_JIT = "@numba.njit(cache=True, nogil=True, error_model='numpy')"


# --- integer code for sizes and positions ------------------------------------------------


def int_code(expr: sympy.Expr, names: dict) -> str:
    """``expr`` (integer-valued, over dims) as Python integer arithmetic."""
    expr = sympy.sympify(expr)
    if expr.is_Integer:
        return str(int(expr))
    if isinstance(expr, sympy.Symbol):
        return names.get(expr, expr.name)
    if isinstance(expr, (sympy.floor, sympy.ceiling)):
        num, den = sympy.fraction(sympy.together(expr.args[0]))
        if not den.is_Integer:
            raise ValueError(f"cannot print {expr} as integer arithmetic")
        n = int_code(num, names)
        if isinstance(expr, sympy.floor):
            return f"(({n}) // {int(den)})"
        return f"(-((-({n})) // {int(den)}))"
    num, den = sympy.fraction(sympy.together(expr))
    if den != 1:
        if not den.is_Integer:
            raise ValueError(f"cannot print {expr} as integer arithmetic")
        return f"(({int_code(sympy.expand(num), names)}) // {int(den)})"
    if expr.is_Add:
        return "(" + " + ".join(int_code(a, names) for a in expr.args) + ")"
    if expr.is_Mul:
        return "(" + "*".join(int_code(a, names) for a in expr.args) + ")"
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        return "(" + "*".join([int_code(expr.base, names)] * int(expr.exp)) + ")"
    if isinstance(expr, sympy.Max):
        return "max(" + ", ".join(int_code(a, names) for a in expr.args) + ")"
    if isinstance(expr, sympy.Min):
        return "min(" + ", ".join(int_code(a, names) for a in expr.args) + ")"
    raise ValueError(f"cannot print {expr} as integer arithmetic")


def _index_text(idx: Sequence[str]) -> str:
    return ", ".join(idx)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _used(setup: Sequence[str], code: Sequence[str]) -> list[str]:
    """The lines of ``setup`` (assignments ``name = ...``) whose names ``code`` uses,
    directly or through other kept lines: a block function builds only the views it reads
    (Numba's compile time grows with every line it types)."""
    needed = set(_NAME.findall("\n".join(code)))
    kept = []
    for line in reversed(setup):
        target = line.split("=", 1)[0].strip()
        if target in needed:
            kept.append(line)
            needed |= set(_NAME.findall(line.split("=", 1)[1]))
    return kept[::-1]


def nested(indent: str, extents: Sequence[str], body) -> list[str]:
    """Explicit loops over ``extents`` around ``body(index names)`` (a list of lines):
    Numba compiles these far faster than the array expressions they replace."""
    names = [f"_k{j}" for j in range(len(extents))]
    lines = []
    depth = indent
    for name, extent in zip(names, extents):
        lines.append(f"{depth}for {name} in range({extent}):")
        depth += "    "
    inner = ", ".join(names) if names else "0"
    lines += [depth + line for line in body(inner)]
    return lines


# --- the module --------------------------------------------------------------------------


@dataclass
class Output:
    """What a kernel writes: ``node``'s value into ``target`` (Python code of an array view
    of ``node``'s shape, or of a scalar slot such as ``_g[3]``); ``target=None`` returns
    the (scalar) value."""

    node: Node
    target: str | None


class ModuleSource:
    """The generated module of a problem: shared names, and one function per kernel."""

    def __init__(self, problem, header: Sequence[str] = ()):
        self.problem = problem
        self.header = list(header)
        self.functions: list[str] = []
        taken = set(_RESERVED)
        self.dim_names: dict[Dim, str] = {}
        for d in problem.dims:
            name = d.name if d.name not in taken and not keyword.iskeyword(d.name) else f"{d.name}_"
            while name in taken:
                name += "_"
            self.dim_names[d] = name
            taken.add(name)
        self.leaf_names: dict[Leaf, str] = {}
        from .autodiff import directions

        leaves = list(problem.variables) + list(problem.parameters) + list(problem.data)
        leaves += list(directions(problem.variables).values())
        for leaf in leaves:
            name = leaf.name
            while name in taken or keyword.iskeyword(name):
                name += "_"
            self.leaf_names[leaf] = name
            taken.add(name)
        self._counter = itertools.count()

    def fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter)}"

    def size(self, expr: sympy.Expr) -> str:
        return int_code(expr, self.dim_names)

    def shape_code(self, shape: Sequence[sympy.Expr]) -> str:
        inner = ", ".join(self.size(s) for s in shape)
        return f"({inner},)" if len(shape) == 1 else f"({inner})"

    # --- prologue: sizes and views of the inputs ---------------------------------------------
    def prologue(self, uses_v: bool) -> list[str]:
        p = self.problem
        lines = [f"    {name} = np.int64(_data[0, {k}])" for k, name in
                 ((k, self.dim_names[d]) for k, d in enumerate(p.dims))]
        offset = sympy.Integer(0)
        groups = [("_x", p.variables)] + [("_p", p.parameters)]
        if uses_v:
            from .autodiff import directions

            dirs = directions(p.variables)
            groups.append(("_v", [dirs[v] for v in p.variables]))
        for array, leaves in groups:
            offset = sympy.Integer(0)
            for leaf in leaves:
                name = self.leaf_names[leaf]
                size = sympy.Mul(*leaf.shape)
                start, stop = self.size(offset), self.size(offset + size)
                if leaf.ndim == 0:
                    lines.append(f"    {name} = {array}[{start}]")
                elif leaf.ndim == 1:
                    lines.append(f"    {name} = {array}[{start}:{stop}]")
                else:
                    lines.append(f"    {name} = {array}[{start}:{stop}].reshape({self.shape_code(leaf.shape)})")
                offset += size
        for k, leaf in enumerate(p.data):
            name = self.leaf_names[leaf]
            pointer = "_tr.i8_pointer" if leaf.dtype == "int" else "_tr.f8_pointer"
            address = f"np.int64(_data[{k + 1}, 0])"
            if leaf.ndim == 0:
                lines.append(f"    {name} = numba.carray({pointer}({address}), (1,))[0]")
            else:
                lines.append(f"    {name} = numba.carray({pointer}({address}), {self.shape_code(leaf.shape)})")
        return lines

    def add_kernel(self, name: str, args: str, doc: str, outputs: Sequence[Output],
                   uses_v: bool = False, prelude: Sequence[str] = (),
                   postlude: Sequence[str] = ()) -> None:
        """Add kernel ``name`` computing ``outputs`` (the one without a target is returned);
        ``prelude``/``postlude`` are lines before/after the computation.  The kernel is
        serial code; its loops run through :func:`symopt.tensor._runtime.run_blocks`."""
        kernel = _Kernel(self, name, outputs, uses_v)
        given = {a.strip() for a in args.split(",")}
        defaults = []
        if "_v" not in given:
            defaults.append("    _v = _x[0:0]")
        if "_g" not in given:
            defaults.append("    _g = _x[0:0]")
        if "_H" not in given:
            defaults.append("    _H = np.empty((0, 0))")
        body = defaults + list(prelude) + kernel.emit() + list(postlude)
        returned = kernel.returned()
        if returned is not None:
            body.append(f"    return {returned}")
        body = _used(self.prologue(uses_v), body) + body
        self.functions += kernel.helpers
        self.functions.append("\n".join([
            "",
            "",
            _JIT,
            f"def {name}({args}):",
            f'    """{doc}"""',
            *body,
        ]))

    def source(self) -> str:
        lines = [
            "# symopt generated array kernels: do not edit (regenerated from the formula).",
            *[f"# {h}" for h in self.header],
            # the kernels link code of symopt.tensor._runtime: a change there must change
            # the cache key of every generated module (symopt.cache keys on the text)
            f"# array runtime: {_runtime_hash()}",
            "import math",
            "",
            "import numba",
            "import numpy as np",
            "",
            "from symopt import _runtime as _rt",
            "from symopt.tensor import _runtime as _tr",
        ]
        return "\n".join(lines + self.functions) + "\n"


# --- one kernel ---------------------------------------------------------------------------


@dataclass(eq=False)
class _Group:
    domain: sympy.Expr
    members: list = field(default_factory=list)
    deps: set = field(default_factory=set)  # groups this one must follow
    index: int = 0


class _Kernel:
    """Roles, fusion groups, storage and emission of one kernel (see the module docstring)."""

    def __init__(self, module: ModuleSource, name: str, outputs: Sequence[Output],
                 uses_v: bool = False):
        self.module = module
        self.uses_v = uses_v
        self.name = name
        self.outputs = list(outputs)
        self.helpers: list[str] = []
        roots = [o.node for o in self.outputs]
        self.order = topological(roots)
        self.consumers: dict[Node, list[Node]] = {n: [] for n in self.order}
        for node in self.order:
            for arg in node.args:
                self.consumers[arg].append(node)
        self.storage: dict[Node, str] = {}     # materialised nodes -> array (or scalar) name
        self.output_of: dict[Node, str] = {}
        self.extra_outputs: list[tuple[Node, str]] = []
        for o in self.outputs:
            if o.target is None:
                continue
            if o.node in self.output_of or isinstance(o.node, Leaf):
                self.extra_outputs.append((o.node, o.target))
            else:
                self.output_of[o.node] = o.target
        self._classify()
        self._fuse()

    # --- roles ------------------------------------------------------------------------------
    def _classify(self) -> None:
        self.role: dict[Node, str] = {}
        self.outer: dict[Node, str] = {}       # Contract -> outer (loop) label
        self.targets: dict[Node, tuple] = {}  # scatter Embed -> (target node, coefficient)
        self.rest: dict[Node, Node] = {}      # target Map -> its non-scatter part (or None)
        for node in self.order:
            self.role[node] = self._role(node)
        # a Map that is a linear combination of slice adjoints (Embeds used by it alone)
        # becomes the storage those scatter into
        for node in self.order:
            if isinstance(node, Map) and self.role[node] in ("row", "inline") and node.ndim:
                self._maybe_target(node)
        for node in self.order:
            if isinstance(node, Embed) and node not in self.targets:
                self.targets[node] = (node, sympy.S.One)
                self.rest.setdefault(node, None)
        # outputs of at least one axis that are inline must be computed somewhere: a loop
        for node, target in self.output_of.items():
            if self.role[node] == "inline" and node.ndim:
                self.role[node] = "row"

    def _role(self, node: Node) -> str:
        if isinstance(node, Leaf):
            return "leaf"
        if isinstance(node, (Eye, OneHot, Slice)):
            return "inline"
        if isinstance(node, Map):
            computed = any(self.role[a] in ("row",) for a in node.args)
            return "row" if computed else "inline"
        if isinstance(node, Contract):
            outer = self._outer_label(node)
            self.outer[node] = outer
            if node.out and outer == node.out[0]:
                return "row"
            if outer not in node.out:
                return "accum"
            self.outer[node] = node.out[0]
            return "row"
        if isinstance(node, Reduce):
            return "accum" if node.axis == 0 else "row"
        if isinstance(node, Embed):
            return "scatter"
        raise TypeError(type(node).__name__)

    def _outer_label(self, node: Contract) -> str:
        def rank(k):
            op = node.args[k]
            data = isinstance(op, Leaf) and op.leaf_kind == "data"
            computed = self.role.get(op) == "row"
            return (op.ndim, data, computed, -k)

        best = max(range(len(node.args)), key=rank)
        return node.labels[best][0]

    def _maybe_target(self, node: Map) -> None:
        embeds = [k for k, a in enumerate(node.args)
                  if isinstance(a, Embed) and self.consumers[a] == [node]
                  and a not in self.output_of and node.axes[k] == tuple(range(node.ndim))]
        if not embeds:
            return
        body = sympy.expand(node.body)
        coefficients = {}
        rest = body
        for k in embeds:
            c = body.coeff(placeholder(k), 1)
            if c.free_symbols & {placeholder(j) for j in range(len(node.args))}:
                return
            coefficients[k] = c
            rest = rest - c * placeholder(k)
        rest = sympy.expand(rest)
        if rest.free_symbols & {placeholder(k) for k in embeds}:
            return
        from .ir import map_with_axes

        self.role[node] = "target"
        for k, c in coefficients.items():
            self.targets[node.args[k]] = (node, c)
        if rest == 0:
            self.rest[node] = None
        else:
            others = [k for k in range(len(node.args)) if k not in coefficients]
            renumber = {placeholder(k): placeholder(j) for j, k in enumerate(others)}
            rest_node = map_with_axes(rest.xreplace(renumber), [node.args[k] for k in others],
                                      [node.axes[k] for k in others], node.shape)
            self.rest[node] = rest_node
            if rest_node not in self.role:
                self.order.insert(self.order.index(node), rest_node)
                for arg in rest_node.args:
                    self.consumers.setdefault(arg, []).append(rest_node)
                self.consumers[rest_node] = []
                self.role[rest_node] = "row"  # computed into the target's storage

    # --- which computed nodes a node reads, and whether at the same row ---------------------
    def _row_axes(self, node: Node) -> list[tuple[Node, int | None]]:
        """``(operand, axis of the operand that runs along node's loop)`` per operand."""
        if isinstance(node, Map):
            out = []
            for arg, axes in zip(node.args, node.axes):
                out.append((arg, axes.index(0) if 0 in axes else None))
            return out
        if isinstance(node, Contract):
            r = self.outer[node]
            return [(a, lab.index(r) if r in lab else None) for a, lab in zip(node.args, node.labels)]
        if isinstance(node, Reduce):
            return [(node.args[0], 0)]
        if isinstance(node, Embed):
            return [(node.args[0], 0 if node.args[0].ndim else None)]
        return []

    def _reads(self, node: Node) -> list[tuple[Node, bool]]:
        """The computed nodes ``node``'s loop body reads (through inline nodes), each with
        whether it is read at the loop's own row (row-local)."""
        found: list[tuple[Node, bool]] = []
        stack = [(a, ra) for a, ra in self._row_axes(node)]
        seen = set()
        while stack:
            q, ra = stack.pop()
            if (q, ra) in seen:
                continue
            seen.add((q, ra))
            role = self.role[q]
            if role == "leaf":
                continue
            if role != "inline":
                found.append((q, ra == 0))
                continue
            if isinstance(q, Map):
                for arg, axes in zip(q.args, q.axes):
                    stack.append((arg, axes.index(ra) if ra is not None and ra in axes else None))
            elif isinstance(q, Slice):
                arg = q.args[0]
                if ra is None:
                    stack.append((arg, None))
                elif q.length is None:
                    stack.append((arg, ra + 1 if ra >= q.axis else ra))
                elif ra == q.axis:
                    stack.append((arg, None))  # shifted/strided along the row: not local
                else:
                    stack.append((arg, ra))
            else:
                for arg in q.args:
                    stack.append((arg, None))
        return found

    def _domain(self, node: Node) -> sympy.Expr:
        if isinstance(node, Contract):
            r = self.outer[node]
            for op, lab in zip(node.args, node.labels):
                if r in lab:
                    return op.shape[lab.index(r)]
        if isinstance(node, Reduce):
            return node.args[0].shape[0]
        if isinstance(node, Embed):
            arg = node.args[0]
            return arg.shape[0] if arg.ndim else sympy.Integer(1)
        return node.shape[0]

    # --- fusion --------------------------------------------------------------------------------
    def _fuse(self) -> None:  # noqa: C901 (one numerical loop, kept whole like its reference)
        looped = [n for n in self.order if self.role[n] in ("row", "accum", "scatter")]
        parent = {n: n for n in looped}

        def find(n):
            while parent[n] is not n:
                parent[n] = parent[parent[n]]
                n = parent[n]
            return n

        self.stored: set[Node] = set()
        deps: dict[Node, set[Node]] = {n: set() for n in looped}
        # the barrier depth of a node: how many complete passes must precede it (a sum over
        # the rows is complete only after its loop); only nodes of one depth may share a loop
        depth: dict[Node, int] = {}
        reads = {node: self._reads(node) for node in looped}
        for node in looped:
            level = 0
            for q, local in reads[node]:
                fusable = (local and self.role[q] == "row"
                           and same_dim(self._domain(q), self._domain(node)))
                level = max(level, depth.get(q, 0) + (0 if fusable else 1))
            depth[node] = level
        for node in looped:
            for q, local in reads[node]:
                if self.role[q] == "target":
                    deps[node].add(q)
                    continue
                if (local and self.role[q] == "row" and depth[q] == depth[node]
                        and same_dim(self._domain(q), self._domain(node))):
                    parent[find(q)] = find(node)
                else:
                    deps[node].add(q)
                    if self.role[q] == "row":
                        self.stored.add(q)
        # a target is written by its rest (first) and its scatters
        for embed, (target, _) in self.targets.items():
            rest = self.rest.get(target)
            if rest is not None and embed in deps:
                deps[embed].add(rest)
        groups: dict[Node, _Group] = {}
        for node in looped:
            root = find(node)
            group = groups.get(root)
            if group is None:
                group = groups[root] = _Group(self._domain(node))
            group.members.append(node)
        group_of = {n: groups[find(n)] for n in looped}
        for node in looped:
            for q in deps[node]:
                if q in group_of and group_of[q] is not group_of[node]:
                    group_of[node].deps.add(id(group_of[q]))
                elif self.role.get(q) == "target":
                    for e, (t, _) in self.targets.items():
                        if t is q and group_of.get(e) is not None and group_of[e] is not group_of[node]:
                            group_of[node].deps.add(id(group_of[e]))
        ordered = self._merge_siblings(list(dict.fromkeys(group_of[n] for n in looped)))
        self.groups = ordered
        self.group_of = {n: g for g in ordered for n in g.members}
        # row nodes read by the outputs' extra copies or by nothing in their group need storage
        for node in looped:
            if self.role[node] == "row" and node in self.output_of:
                self.stored.add(node)
        for target in [t for t, r in self.rest.items() if r is not None]:
            self.stored.add(self.rest[target])

    def _merge_siblings(self, groups: list[_Group]) -> list[_Group]:
        """Merge groups over the same axis that do not depend on each other (one pass over
        the rows instead of several), keeping a valid order."""
        by_id = {id(g): g for g in groups}

        def ancestors(g, memo):
            got = memo.get(id(g))
            if got is None:
                got = set()
                for d in g.deps:
                    if d in by_id:
                        got.add(d)
                        got |= ancestors(by_id[d], memo)
                memo[id(g)] = got
            return got

        order = self._toposort(groups)
        merged: list[_Group] = []
        for g in order:
            memo: dict = {}
            host = None
            for m in merged:
                if same_dim(m.domain, g.domain) and id(m) not in ancestors(g, memo):
                    host = m
                    break
            if host is None:
                merged.append(g)
                continue
            host.members += g.members
            host.deps |= g.deps
            host.deps.discard(id(host))
            for other in groups:
                if id(g) in other.deps:
                    other.deps.discard(id(g))
                    other.deps.add(id(host))
            by_id[id(g)] = host
        for g in merged:
            g.deps = {d for d in g.deps if by_id.get(d) is not g}
        return self._toposort(merged)

    @staticmethod
    def _toposort(groups: list[_Group]) -> list[_Group]:
        ids = {id(g) for g in groups}
        done: set[int] = set()
        out: list[_Group] = []
        pending = list(groups)
        while pending:
            progressed = False
            for g in list(pending):
                if all(d in done or d not in ids for d in g.deps):
                    out.append(g)
                    done.add(id(g))
                    pending.remove(g)
                    progressed = True
            if not progressed:  # pragma: no cover - the fusion never makes cycles
                raise RuntimeError("cyclic loop dependencies in a generated kernel")
        return out

    # --- emission -----------------------------------------------------------------------------
    def emit(self) -> list[str]:
        """The kernel's lines after its prologue: the arena (intermediates and partial
        sums), the groups run block by block, the partial sums combined, scalar outputs."""
        m = self.module
        views: list[tuple[str, str]] = []   # (name, view code of an output)
        arena: list[tuple[str, Node]] = []  # (name, node) of storage in the arena
        for node, target in list(self.output_of.items()):
            name = m.fresh("_o")
            views.append((name, target))
            self.storage[node] = name
        for node in self.order:
            if node in self.storage:
                continue
            role = self.role[node]
            if (role in ("target", "accum") or (role == "scatter" and self.targets[node][0] is node)
                    or (role == "row" and node in self.stored and node not in self.rest.values())):
                name = m.fresh("_b")
                arena.append((name, node))
                self.storage[node] = name
        for target, rest in self.rest.items():
            if rest is not None:
                self.storage[rest] = self.storage[target]
        # the layout: the same lines in the kernel and in every block function
        layout = [f"    {name} = {target}" for name, target in views]
        offset = sympy.Integer(0)
        for name, node in arena:
            size = sympy.Mul(*node.shape) if node.ndim else sympy.Integer(1)
            view = f"_arena[{m.size(offset)}:{m.size(offset + size)}]"
            if node.ndim >= 2:
                view += f".reshape({m.shape_code(node.shape)})"
            layout.append(f"    {name} = {view}")
            offset += size
        self.fixed_size = offset
        self.layout = layout
        emitters = [_GroupEmitter(self, group) for group in self.groups]
        for emitter in emitters:
            emitter.generate()
        lines = [line for e in emitters for line in e.block_count_lines()]
        region = [e.partial_region() for e in emitters] or ["0"]
        total = m.size(offset)
        lines.append(f"    _arena = np.empty({total} + max(0, {', '.join(region)}))")
        layout_at = len(lines)
        # targets: zeros unless their scatters cover them exactly (and nothing else is there)
        for node in self.order:
            if self.role[node] == "target" or (self.role[node] == "scatter" and self.targets[node][0] is node):
                if self.rest.get(node) is None and not self._covered(node):
                    name = self.storage[node]
                    if node.ndim == 2 and self.output_of.get(node, "").startswith("_H["):
                        lines.append(f"    _tr.fill_2d({name}, 0.0)")
                    else:
                        lines.append(f"    _tr.fill({name if node.ndim <= 1 else name + '.reshape(-1)'}, 0.0)")
        for emitter in emitters:
            self.helpers.append(emitter.block_function())
            lines += emitter.run_lines()
        # scalar outputs computed at the end (functions of scalar leaves and sums)
        for node, target in self.output_of.items():
            if node.ndim == 0 and self.role[node] == "inline":
                expr, names = _ScalarContext(self).scalar(node)
                lines.append(f"    {self.storage[node]}[0] = {KernelPrinter(names, vector_math=True).doprint(expr)}")
        for node, target in self.extra_outputs:
            if node.ndim == 0:
                expr, names = _ScalarContext(self).scalar(node)
                lines.append(f"    ({target})[0] = {KernelPrinter(names, vector_math=True).doprint(expr)}")
            else:
                source = self.storage.get(node) or m.leaf_names.get(node)
                lines += nested("    ", [m.size(x) for x in node.shape],
                                lambda i: [f"({target})[{i}] = {source}[{i}]"])
        rest = lines[layout_at:] + [self.returned() or ""]
        return lines[:layout_at] + _used(layout, rest) + lines[layout_at:]

    def returned(self) -> str | None:
        for o in self.outputs:
            if o.target is None:
                expr, names = _ScalarContext(self).scalar(o.node)
                return KernelPrinter(names, vector_math=True).doprint(expr)
        return None

    def _covered(self, target: Node) -> bool:
        """Whether the scatters into ``target`` write every position exactly once: same
        step ``s``, starts ``0..s-1``, each of length ``size / s`` (``x[::2]`` and
        ``x[1::2]`` of an even-sized ``x``), all along axis 0."""
        embeds = [e for e, (t, _) in self.targets.items() if t is target]
        if not embeds or any(not e.keep or e.axis != 0 for e in embeds):
            return False
        steps = {e.step for e in embeds}
        if len(steps) != 1:
            return False
        (step,) = steps
        starts = sorted(e.start for e in embeds if e.start.is_Integer)
        if len(starts) != len(embeds) or starts != list(range(step)):
            return False
        size = target.shape[0]
        return all(same_dim(e.args[0].shape[0] * step, size) for e in embeds)


class _ScalarContext:
    """Scalar (0-d) expressions at the kernel level: inline maps of scalar leaves and of
    accumulated results."""

    def __init__(self, kernel: _Kernel):
        self.kernel = kernel
        self.names: dict[sympy.Symbol, str] = {}
        for d, name in kernel.module.dim_names.items():
            self.names[d] = name

    def symbol(self, code: str) -> sympy.Symbol:
        s = sympy.Symbol(f"_s{len(self.names)}", real=True)
        self.names[s] = code
        return s

    def scalar(self, node: Node) -> tuple[sympy.Expr, dict]:
        return self._value(node), self.names

    def _value(self, node: Node) -> sympy.Expr:
        k = self.kernel
        if node in k.storage and k.role[node] != "inline":
            return self.symbol(f"{k.storage[node]}[0]")
        if isinstance(node, Leaf):
            return self.symbol(k.module.leaf_names[node])
        if isinstance(node, Map):
            return node.body.xreplace({placeholder(j): self._value(a) for j, a in enumerate(node.args)})
        if isinstance(node, Slice) and isinstance(node.args[0], Leaf) and node.args[0].ndim == 1:
            position = int_code(node.start, k.module.dim_names)
            return self.symbol(f"{k.module.leaf_names[node.args[0]]}[{position}]")
        raise ValueError(f"no scalar value for {type(node).__name__}")


class _GroupEmitter:
    """The block function of one fused group, and the kernel code that runs its blocks."""

    def __init__(self, kernel: _Kernel, group: _Group):
        self.k = kernel
        self.m = kernel.module
        self.group = group
        self.members = set(group.members)
        self.row = "_i"
        self.reads: dict[str, sympy.Symbol] = {}
        self.names: dict[sympy.Symbol, str] = {}
        for d, name in self.m.dim_names.items():
            self.names[d] = name
        self.row_exprs: list[tuple[str, object, sympy.Expr]] = []  # (kind, target, expr)
        self.loops: list[dict] = []
        self.levels: dict[sympy.Symbol, int] = {}
        self.row_values: dict[Node, sympy.Expr] = {}
        self.row_buffers: dict[Node, str] = {}
        self.buffer_levels: dict[str, int] = {}
        self.block_lines_pre: list[str] = []   # at the start of the block
        self.block_lines_post: list[str] = []  # at its end
        self.partials: list[tuple[str, Node, str]] = []  # (partial name, node, kind)
        self.counter = itertools.count()
        self.scatter_add = False

    # --- names -------------------------------------------------------------------------------
    def read(self, code: str, level: int = 0) -> sympy.Symbol:
        """The symbol of a memory read (``level``: that of the loop filling a row buffer)."""
        s = self.reads.get(code)
        if s is None:
            s = sympy.Symbol(f"_r{len(self.reads)}", real=True)
            self.reads[code] = s
            self.names[s] = code
            self.levels[s] = level
        return s

    def buffer_read(self, node: Node, inner_idx: Sequence[str]) -> sympy.Symbol:
        name = self.row_buffers[node]
        return self.read(f"{name}[{_index_text(inner_idx)}]", self.buffer_levels[name])

    def fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    # --- values -------------------------------------------------------------------------------
    def value(self, node: Node, idx: tuple[str, ...]) -> sympy.Expr:
        """``node`` at index ``idx`` (codes), as a SymPy expression of reads."""
        k = self.k
        role = k.role[node]
        if role == "leaf":
            name = self.m.leaf_names[node]
            if node.ndim == 0:
                return self.read(name)
            return self.read(f"{name}[{_index_text(idx)}]")
        if node in self.members and role == "row" and (not idx or idx[0] == self.row):
            return self.member_value(node, idx)
        if role != "inline":
            name = k.storage.get(node)
            if name is None:
                raise RuntimeError("a computed node without storage")
            if node.ndim == 0:
                return self.read(f"{name}[0]")
            return self.read(f"{name}[{_index_text(idx)}]")
        if isinstance(node, Map):
            values = {}
            for j, (arg, axes) in enumerate(zip(node.args, node.axes)):
                values[placeholder(j)] = self.value(arg, tuple("0" if a is None else idx[a] for a in axes))
            return node.body.xreplace(values)
        if isinstance(node, Slice):
            arg_idx = list(idx)
            start = self.m.size(node.start)
            if node.length is None:
                arg_idx.insert(node.axis, start)
            else:
                position = idx[node.axis]
                arg_idx[node.axis] = (f"({start} + {position})" if node.step == 1
                                      else f"({start} + {node.step}*{position})")
                if start == "0":
                    arg_idx[node.axis] = position if node.step == 1 else f"{node.step}*{position}"
            return self.value(node.args[0], tuple(arg_idx))
        if isinstance(node, OneHot):
            labels = self.m.leaf_names[node.args[0]]
            return self.read(f"(1.0 if {labels}[{idx[0]}] == {idx[1]} else 0.0)")
        if isinstance(node, Eye):
            half = len(node.base)
            cond = " and ".join(f"{idx[j]} == {idx[half + j]}" for j in range(half))
            return self.read(f"(1.0 if {cond} else 0.0)")
        raise RuntimeError(f"cannot evaluate {type(node).__name__} inline")

    def member_value(self, node: Node, idx: tuple[str, ...]) -> sympy.Expr:
        """A row member of this group at row ``_i`` (and inner index ``idx[1:]``)."""
        if node in self.row_buffers:
            return self.buffer_read(node, idx[1:])
        if isinstance(node, Map):
            if node.ndim >= 2 and self._buffered(node):
                self.fill_buffer(node)
                return self.buffer_read(node, idx[1:])
            values = {}
            for j, (arg, axes) in enumerate(zip(node.args, node.axes)):
                values[placeholder(j)] = self.value(arg, tuple("0" if a is None else idx[a] for a in axes))
            return node.body.xreplace(values)
        if node.ndim == 1:
            value = self.row_values.get(node)
            if value is None:
                value = self.row_values[node] = self.row_scalar(node)
            return value
        if node not in self.row_buffers:
            self.fill_buffer(node)
        return self.buffer_read(node, idx[1:])

    def _buffered(self, node: Node) -> bool:
        uses = [c for c in self.k.consumers.get(node, []) if c in self.members]
        return len(uses) >= 2

    # --- inner loops ------------------------------------------------------------------------------
    def loop_vars(self, labels: str) -> dict[str, str]:
        return {lab: self.fresh("_j") for lab in labels}

    def hoist(self, expr: sympy.Expr, inner: set) -> sympy.Expr:
        """Replace the subexpressions of ``expr`` that do not depend on the inner loop (no
        symbol in ``inner``) by row-level temporaries."""
        if expr.is_Atom:
            return expr
        if not (expr.free_symbols & inner) and isinstance(expr, sympy.Expr):
            return self.row_temp(expr)
        if expr.is_Mul or expr.is_Add:
            # the loop-invariant factors (terms) together make one temporary
            fixed = [a for a in expr.args if not (a.free_symbols & inner)]
            varying = [a for a in expr.args if a.free_symbols & inner]
            parts = [self.hoist(a, inner) for a in varying]
            if fixed:
                rest = expr.func(*fixed)
                parts.append(rest if rest.is_Atom else self.row_temp(rest))
            return expr.func(*parts)
        return expr.func(*[self.hoist(a, inner) for a in expr.args])

    def row_temp(self, expr: sympy.Expr) -> sympy.Symbol:
        s = sympy.Symbol(self.fresh("_h"), real=True)
        self.names[s] = s.name
        level = self.level(expr)
        self.levels[s] = level
        self.row_exprs.append(("temp", s, expr))
        return s

    def level(self, expr: sympy.Expr) -> int:
        return max((self.levels.get(s, 0) for s in expr.free_symbols), default=0)

    def inner_symbols(self, varnames: Sequence[str]) -> set:
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, varnames)) + r")\b")
        return {s for code, s in self.reads.items() if pattern.search(code)}

    def add_loop(self, loop: dict) -> None:
        """Register an inner loop: ``loop["exprs"]`` are hoisted; its level follows."""
        varnames = loop["vars"]
        inner = self.inner_symbols(varnames)
        exprs = [self.hoist(e, inner) for e in loop["exprs"]]
        loop["exprs"] = exprs
        loop["level"] = 1 + max((self.level(e) for e in exprs), default=0)
        if "result" in loop:
            self.levels[loop["result"]] = loop["level"]
        self.loops.append(loop)

    def contraction_loop(self, node: Contract, fixed: dict[str, str]) -> tuple[list, dict, sympy.Expr]:
        """Loop labels and body of a contraction with some labels fixed (the row)."""
        labels = [lab for lab in dict.fromkeys("".join(node.labels) + node.out) if lab not in fixed]
        var = dict(fixed)
        var.update(self.loop_vars("".join(labels)))
        body = sympy.S.One
        for op, lab in zip(node.args, node.labels):
            body *= self.value(op, tuple(var[c] for c in lab))
        return labels, var, body

    def _extents(self, node: Contract, labels) -> dict[str, str]:
        sizes = {}
        for op, lab in zip(node.args, node.labels):
            for c, s in zip(lab, op.shape):
                sizes.setdefault(c, self.m.size(s))
        return {c: sizes[c] for c in labels}

    def _order(self, node: Contract, labels: list[str]) -> list[str]:
        """Loop order: the innermost label runs along the last axis of the largest operand
        (contiguous reads), or of the output."""
        if len(labels) <= 1:
            return labels
        best = max(range(len(node.args)), key=lambda k: (node.args[k].ndim, -k))
        candidates = [c for c in reversed(node.labels[best]) if c in labels]
        if node.out and node.out[-1] in labels:
            inner = node.out[-1]
        elif candidates:
            inner = candidates[0]
        else:
            inner = labels[-1]
        return [c for c in labels if c != inner] + [inner]

    def row_scalar(self, node: Node) -> sympy.Expr:
        """A 1-D row member's value at row ``_i``: an inner reduction (dot, logsumexp)."""
        if isinstance(node, Contract):
            labels, var, body = self.contraction_loop(node, {self.outer(node): self.row})
            result = sympy.Symbol(self.fresh("_t"), real=True)
            self.names[result] = result.name
            self.add_loop({"kind": "dot", "vars": [var[c] for c in labels],
                           "extents": [self._extents(node, labels)[c] for c in labels],
                           "exprs": [body], "result": result})
            return result
        if isinstance(node, Reduce):
            var = self.fresh("_j")
            arg = node.args[0]
            idx = [self.row] + ["0"] * (arg.ndim - 1)
            idx[node.axis] = var
            body = self.value(arg, tuple(idx))
            result = sympy.Symbol(self.fresh("_t"), real=True)
            self.names[result] = result.name
            self.add_loop({"kind": node.op, "vars": [var], "extents": [self.m.size(arg.shape[node.axis])],
                           "exprs": [body], "result": result})
            return result
        raise RuntimeError(f"no row value for {type(node).__name__}")

    def outer(self, node: Node) -> str:
        return self.k.outer[node]

    def fill_buffer(self, node: Node) -> None:
        """A per-row buffer for a row member of 2+ axes (filled by an inner loop nest)."""
        name = self.fresh("_w")
        self.row_buffers[node] = name
        inner_shape = node.shape[1:]
        self.block_lines_pre.append(f"    {name} = np.empty({self.m.shape_code(inner_shape)})")
        if isinstance(node, Contract):
            r = self.outer(node)
            labels, var, body = self.contraction_loop(node, {r: self.row})
            order = self._order(node, labels)
            out = [var[c] for c in node.out[1:]]
            self.add_loop({"kind": "fill", "vars": [var[c] for c in order],
                           "extents": [self._extents(node, labels)[c] for c in order],
                           "exprs": [body], "target": f"{name}[{_index_text(out)}]",
                           "zero": name, "zero_extents": [self.m.size(x) for x in inner_shape],
                           "summed": len(labels) > len(out)})
            self.buffer_levels[name] = self.loops[-1]["level"]
            return
        if isinstance(node, Map):
            names = [self.fresh("_j") for _ in inner_shape]
            idx = (self.row,) + tuple(names)
            values = {}
            for j, (arg, axes) in enumerate(zip(node.args, node.axes)):
                values[placeholder(j)] = self.value(arg, tuple("0" if a is None else idx[a] for a in axes))
            self.add_loop({"kind": "fill", "vars": names,
                           "extents": [self.m.size(s) for s in inner_shape],
                           "exprs": [node.body.xreplace(values)],
                           "target": f"{name}[{_index_text(names)}]", "zero": None, "summed": False})
            self.buffer_levels[name] = self.loops[-1]["level"]
            return
        raise RuntimeError(f"no row buffer for {type(node).__name__}")

    # --- members: accumulations, stores, scatters -------------------------------------------------
    def member(self, node: Node) -> None:
        role = self.k.role[node]
        if role == "accum":
            self.accumulate(node)
        elif role == "scatter":
            self.scatter(node)
        elif role == "row" and node in self.k.stored:
            self.store(node)

    def accumulate(self, node: Node) -> None:
        partial = self.fresh("_q")
        if isinstance(node, Reduce):
            self.partials.append((partial, node, node.op))
            arg = node.args[0]
            var = self.loop_vars("".join(chr(ord("a") + j) for j in range(arg.ndim - 1)))
            names = list(var.values())
            body = self.value(arg, (self.row,) + tuple(names))
            out_idx = _index_text(names) if names else "0"
            if not names:
                self.row_exprs.append((node.op, partial, body))
            else:
                self.add_loop({"kind": f"acc_{node.op}", "vars": names,
                               "extents": [self.m.size(s) for s in arg.shape[1:]],
                               "exprs": [body], "target": partial, "index": out_idx})
            return
        weighted = self._weighted_gram(node)
        if weighted is not None:
            self.partials.append((partial, node, "syrk"))
            self.gram(node, partial, *weighted)
            return
        self.partials.append((partial, node, "sum"))
        r = self.outer(node)
        labels, var, body = self.contraction_loop(node, {r: self.row})
        if not labels:
            self.row_exprs.append(("acc", partial, body))
            return
        order = self._order(node, labels)
        out = [var[c] for c in node.out]
        if not out:  # a scalar: an inner dot, then one accumulation per row
            result = sympy.Symbol(self.fresh("_t"), real=True)
            self.names[result] = result.name
            self.add_loop({"kind": "dot", "vars": [var[c] for c in order],
                           "extents": [self._extents(node, labels)[c] for c in order],
                           "exprs": [body], "result": result})
            self.row_exprs.append(("acc", partial, result))
            return
        self.add_loop({"kind": "accumulate", "vars": [var[c] for c in order],
                       "extents": [self._extents(node, labels)[c] for c in order],
                       "exprs": [body], "target": f"{partial}[{_index_text(out)}]"})

    def _weighted_gram(self, node: Node):
        """``(A, weight body, Map)`` when ``node`` is ``sum_r A[r, a] w_r A[r, b]`` (the
        Hessian ``X^T diag(s) X`` of a model linear in its weights): one operand the 2-D
        array ``A``, the other a Map linear in ``A`` whose other arguments are row values.
        Such a sum is a symmetric rank-k update: BLAS dsyrk, half the flops of a product."""
        if not (_tr_has_syrk() and isinstance(node, Contract) and len(node.args) == 2):
            return None
        r = self.outer(node)
        (la, lb), out = node.labels, node.out
        if not (len(la) == 2 == len(lb) and la[0] == r == lb[0] and la[1] != lb[1]
                and sorted(out) == sorted(la[1] + lb[1])):  # symmetric: either order
            return None
        for A, M in (node.args, node.args[::-1]):
            if not (isinstance(A, Leaf) and A.ndim == 2 and isinstance(M, Map)
                    and self.k.role.get(M) in ("inline", "row") and A.shape == M.shape):
                continue
            slots = [k for k, (arg, axes) in enumerate(zip(M.args, M.axes))
                     if arg is A and axes == (0, 1)]
            if len(slots) != 1:
                continue
            (k,) = slots
            ph = placeholder(k)
            weight = sympy.expand(M.body).coeff(ph, 1)
            if weight == 0 or weight.has(ph) or sympy.expand(M.body - weight * ph) != 0:
                continue
            if any(1 in axes for j, axes in enumerate(M.axes) if j != k):
                continue
            return A, weight, M
        return None

    def gram(self, node: Node, partial: str, A: Leaf, weight: sympy.Expr, M: Map) -> None:
        """Accumulate ``A[r]^T w_r A[r]`` through buffered dsyrk calls (see _weighted_gram)."""
        values = {}
        for j, (arg, axes) in enumerate(zip(M.args, M.axes)):
            if arg is A:
                continue
            values[placeholder(j)] = self.value(arg, tuple("0" if a is None else self.row for a in axes))
        w = weight.xreplace(values)
        w_symbol = self.row_temp(w) if not w.is_Atom else w
        if w_symbol.is_Number:
            w_symbol = self.row_temp(w_symbol)
        name = self.m.leaf_names[A]
        cols = self.m.size(A.shape[1])
        var = self.fresh("_j")
        tag = partial
        self.block_lines_pre += [f"    _P{tag} = np.empty(({GRAM_ROWS}, {cols}))",
                                 f"    _N{tag} = np.empty(({GRAM_ROWS}, {cols}))",
                                 f"    _np{tag} = 0", f"    _nn{tag} = 0",
                                 f"    _wk{tag} = np.empty(2)"]
        self.block_lines_post_gram = getattr(self, "block_lines_post_gram", []) + [
            f"    _tr.syrk_upper(_P{tag}, _np{tag}, {partial}, 1.0, _wk{tag})",
            f"    _tr.syrk_upper(_N{tag}, _nn{tag}, {partial}, -1.0, _wk{tag})"]
        self.add_loop({"kind": "gram", "vars": [var], "extents": [cols], "exprs": [w_symbol],
                       "tag": tag, "partial": partial, "row_code": f"{name}[{self.row}, {var}]"})

    def store(self, node: Node) -> None:
        name = self.k.storage[node]
        if node.ndim == 1:
            self.row_exprs.append(("assign", f"{name}[{self.row}]", self.member_value(node, (self.row,))))
            return
        names = [self.fresh("_j") for _ in node.shape[1:]]
        value = self.member_value(node, (self.row,) + tuple(names))
        self.add_loop({"kind": "fill", "vars": names, "extents": [self.m.size(s) for s in node.shape[1:]],
                       "exprs": [value], "target": f"{name}[{_index_text([self.row] + names)}]",
                       "zero": None, "summed": False})

    def scatter(self, node: Embed) -> None:
        target, coefficient = self.k.targets[node]
        name = self.k.storage[target]
        covered = self.k._covered(target) and self.k.rest.get(target) is None
        op = "=" if covered else "+="
        if not covered:
            self.scatter_add = True
        arg = node.args[0]
        names = [self.fresh("_j") for _ in arg.shape[1:]]
        arg_idx = ([self.row] if arg.ndim else []) + names
        value = coefficient * self.value(arg, tuple(arg_idx))
        start = self.m.size(node.start)
        if node.keep:
            position = arg_idx[node.axis]
            placed = f"{start} + {node.step}*{position}" if node.step != 1 else f"{start} + {position}"
            if start == "0":
                placed = position if node.step == 1 else f"{node.step}*{position}"
            target_idx = list(arg_idx)
            target_idx[node.axis] = placed
        else:
            target_idx = list(arg_idx)
            target_idx.insert(node.axis, start)
        code = f"{name}[{_index_text(target_idx)}]"
        if not names:
            self.row_exprs.append(("assign" if covered else "add", code, value))
            return
        self.add_loop({"kind": "scatter", "vars": names, "extents": [self.m.size(s) for s in arg.shape[1:]],
                       "exprs": [value], "target": code, "op": op})

    # --- printing ---------------------------------------------------------------------------------
    def printer(self) -> KernelPrinter:
        return KernelPrinter(self.names, vector_math=True)

    def cse_lines(self, items: list[tuple[str, object, sympy.Expr]], indent: str, prefix: str) -> list[str]:
        if not items:
            return []
        printer = self.printer()
        exprs = _share_exponentials([e for _, _, e in items])
        replacements, reduced = joint_cse(exprs, prefix=prefix)
        lines = []
        for sym, e in replacements:
            self.names[sym] = sym.name
            lines.append(f"{indent}{sym.name} = {printer.doprint(e)}")
        for (kind, target, _), e in zip(items, reduced):
            text = printer.doprint(e)
            if kind == "temp":
                lines.append(f"{indent}{target.name} = {text}")
            elif kind == "acc":
                lines.append(f"{indent}_a{target} = _rt.radd(_a{target}, {text})")
            elif kind == "assign":
                lines.append(f"{indent}{target} = {text}")
            elif kind == "add":
                lines.append(f"{indent}{target} += {text}")
            elif kind == "max":
                lines.append(f"{indent}_a{target} = max(_a{target}, {text})")
            elif kind == "logsumexp":
                lines += [f"{indent}_u{target} = {text}",
                          f"{indent}if _u{target} > _m{target}:",
                          f"{indent}    _a{target} = _a{target} * math.exp(_m{target} - _u{target}) + 1.0",
                          f"{indent}    _m{target} = _u{target}",
                          f"{indent}else:",
                          f"{indent}    _a{target} += math.exp(_u{target} - _m{target})"]
        return lines

    def loop_lines(self, loop: dict, indent: str) -> list[str]:
        printer = self.printer()
        lines = []
        kind = loop["kind"]
        vars_, extents = loop["vars"], loop["extents"]
        replacements, reduced = joint_cse(_share_exponentials(loop["exprs"]), prefix=self.fresh("_e") + "_")
        for sym, _ in replacements:
            self.names[sym] = sym.name
        (body,) = reduced
        if kind == "gram":
            t, v = loop["tag"], vars_[0]
            weight = printer.doprint(body)
            lines = [f"{indent}_u = {weight}"]
            for sign, buf, count, alpha in (("_u > 0.0", f"_P{t}", f"_np{t}", "1.0"),
                                            ("_u < 0.0", f"_N{t}", f"_nn{t}", "-1.0")):
                lines += [f"{indent}if {sign}:",
                          f"{indent}    _su = math.sqrt(abs(_u))",
                          f"{indent}    for {v} in range({extents[0]}):",
                          f"{indent}        {buf}[{count}, {v}] = _su * {loop['row_code']}",
                          f"{indent}    {count} += 1",
                          f"{indent}    if {count} == {GRAM_ROWS}:",
                          f"{indent}        _tr.syrk_upper({buf}, {count}, {loop['partial']}, {alpha}, _wk{t})",
                          f"{indent}        {count} = 0"]
            return lines
        if kind in ("dot", "max", "logsumexp"):
            result = loop["result"].name
            if kind == "dot":
                lines.append(f"{indent}{result} = 0.0")
            else:
                lines.append(f"{indent}{result} = -math.inf")
        if kind == "fill" and loop.get("zero") and loop.get("summed"):
            zero = loop["zero"]
            lines += nested(indent, loop["zero_extents"], lambda i: [f"{zero}[{i}] = 0.0"])
        depth = indent
        for v, extent in zip(vars_, extents):
            lines.append(f"{depth}for {v} in range({extent}):")
            depth += "    "
        for sym, e in replacements:
            lines.append(f"{depth}{sym.name} = {printer.doprint(e)}")
        text = printer.doprint(body)
        if kind == "dot":
            lines.append(f"{depth}{result} = _rt.radd({result}, {text})")
        elif kind == "max":
            lines.append(f"{depth}{result} = max({result}, {text})")
        elif kind == "logsumexp":
            # two passes: the maximum, then the sum of exp(v - max)
            lines.append(f"{depth}{result} = max({result}, {text})")
            total = self.fresh("_z")
            lines.append(f"{indent}{total} = 0.0")
            depth2 = indent
            for v, extent in zip(vars_, extents):
                lines.append(f"{depth2}for {v} in range({extent}):")
                depth2 += "    "
            for sym, e in replacements:
                lines.append(f"{depth2}{sym.name} = {printer.doprint(e)}")
            lines.append(f"{depth2}{total} = _rt.radd({total}, math.exp({text} - {result}))")
            lines.append(f"{indent}{result} = {result} + math.log({total}) if {total} > 0.0 else {result}")
        elif kind == "fill":
            op = "+=" if loop.get("summed") else "="
            lines.append(f"{depth}{loop['target']} {op} {text}")
        elif kind == "accumulate":
            lines.append(f"{depth}{loop['target']} += {text}")
        elif kind == "scatter":
            lines.append(f"{depth}{loop['target']} {loop['op']} {text}")
        elif kind == "acc_max":
            lines.append(f"{depth}{loop['target']}[0, {loop['index']}] = max({loop['target']}[0, {loop['index']}], {text})")
        elif kind == "acc_logsumexp":
            t, i = loop["target"], loop["index"]
            lines += [f"{depth}_u = {text}",
                      f"{depth}if _u > {t}[0, {i}]:",
                      f"{depth}    {t}[1, {i}] = {t}[1, {i}] * math.exp({t}[0, {i}] - _u) + 1.0",
                      f"{depth}    {t}[0, {i}] = _u",
                      f"{depth}else:",
                      f"{depth}    {t}[1, {i}] += math.exp(_u - {t}[0, {i}])"]
        return lines

    def generate(self) -> None:
        """Generate the row body (members, levels, CSE) and the block's name."""
        for node in self.group.members:
            self.member(node)
        max_level = max([lp["level"] for lp in self.loops] + [self.level(e) for _, _, e in self.row_exprs] + [0])
        segments: list[dict] = []  # the body in pieces, for row tiling (symopt.tensor._tiling)
        for level in range(max_level + 1):
            for loop in self.loops:
                if loop["level"] == level:
                    segments.append({"kind": loop["kind"], "vars": loop["vars"],
                                     "lines": self.loop_lines(loop, "        ")})
            items = [it for it in self.row_exprs if self.level(it[2]) == level
                     and not (it[0] == "temp" and self.levels.get(it[1], 0) != level)]
            lines = self.cse_lines(items, "        ", prefix=self.fresh("_c") + "_")
            if lines:
                segments.append({"kind": "scalar", "lines": lines})
        self.body = [line for seg in segments for line in seg["lines"]]
        self.tiled = (tile_body(segments, self.row, "        ", TILE_ROWS, JAM_DOTS)
                      if TILE_ROWS > 1 else None)
        self.block = self.m.fresh("_block")
        self.nb = self.m.fresh("_nb")
        self.partial_shapes = []
        offset = sympy.Integer(0)
        for partial, node, kind in self.partials:
            lead = (2,) if kind in ("max", "logsumexp") else ()
            shape = lead + (tuple(node.shape) if node.ndim else (sympy.Integer(1),))
            size = sympy.Mul(*shape)
            self.partial_shapes.append((partial, offset, size, shape))
            offset += size
        self.partial_size = offset

    def partial_region(self) -> str:
        """Floats of the arena the group's partial sums take (all blocks)."""
        return f"{self.nb} * {self.m.size(self.partial_size)}"

    def partial_start(self, partial: str) -> str:
        """Where a partial's ``(nb, ...)`` array starts in the arena (code)."""
        m = self.m
        for name, offset, size, shape in self.partial_shapes:
            if name == partial:
                return f"{m.size(self.k.fixed_size)} + {self.nb} * {m.size(offset)}"
        raise KeyError(partial)

    def partial_views(self, indent: str, block: str) -> list[str]:
        """Block ``block``'s view of each of its partials (flat: ``_f<name>``, and shaped)."""
        m = self.m
        lines = []
        for partial, offset, size, shape in self.partial_shapes:
            start = f"{self.partial_start(partial)} + {block} * {m.size(size)}"
            flat = f"_f{partial}"
            lines.append(f"{indent}{flat} = _arena[{start}:{start} + {m.size(size)}]")
            if len(shape) == 1:
                lines.append(f"{indent}{partial} = {flat}")
            else:
                lines.append(f"{indent}{partial} = {flat}.reshape(({', '.join(m.size(x) for x in shape)}))")
        return lines

    def block_count_lines(self) -> list[str]:
        """Kernel lines fixing the group's number of blocks (a function of the sizes)."""
        m = self.m
        rows = m.size(self.group.domain)
        budget = m.size(self.partial_size) if self.partials else "0"
        # a group with a rank-k update runs as one block: BLAS's threads share that work
        most = "1" if any(kind == "syrk" for _, _, kind in self.partials) else str(MAX_BLOCKS)
        # rows per block: enough rows for WORK_PER_BLOCK element operations (a parallel
        # block of cheap rows costs more to hand out than to compute)
        work = " + ".join(["1"] + ["*".join(lp["extents"]) or "1" for lp in self.loops])
        return [f"    {self.nb} = _tr.n_blocks({rows}, max({BLOCK_ROWS}, {WORK_PER_BLOCK} // ({work})), "
                f"_tr.max_blocks({budget}, {PARTIAL_BUDGET}, {most}))"]

    def block_function(self) -> str:
        """The block function: its views, its rows, the loop over them."""
        pre, post = list(self.block_lines_pre), []
        post += getattr(self, "block_lines_post_gram", [])
        for partial, node, kind in self.partials:
            if kind in ("syrk", "sum") and node.ndim:
                pre.append(f"    _tr.fill(_f{partial}, 0.0)")
            elif kind == "sum":
                pre.append(f"    _a{partial} = 0.0")
                post.append(f"    {partial}[0] = _a{partial}")
            elif node.ndim == 0:
                pre.append(f"    _a{partial} = {'-math.inf' if kind == 'max' else '0.0'}")
                if kind == "logsumexp":
                    pre.append(f"    _m{partial} = -math.inf")
                    post.append(f"    {partial}[0, 0] = _m{partial}")
                    post.append(f"    {partial}[1, 0] = _a{partial}")
                else:
                    post.append(f"    {partial}[0, 0] = _a{partial}")
            else:
                half = self.m.size(sympy.Mul(*node.shape))
                pre += [f"    _tr.fill(_f{partial}[:{half}], -math.inf)",
                        f"    _tr.fill(_f{partial}[{half}:], 0.0)"]
        rows = self.m.size(self.group.domain)
        loop = [f"    for {self.row} in range(_lo, _hi):", *(self.body or ["        pass"])]
        if self.tiled:  # TILE_ROWS rows per pass over the inner loops, then the rest one by one
            tile_pre, tiled = self.tiled
            pre += tile_pre
            loop = [f"    _tile_hi = _lo + ((_hi - _lo) // {TILE_ROWS}) * {TILE_ROWS}",
                    f"    for {self.row} in range(_lo, _tile_hi, {TILE_ROWS}):", *tiled,
                    f"    for {self.row} in range(_tile_hi, _hi):", *self.body]
        body = pre + loop + post
        setup = _used(self.m.prologue(self.k.uses_v) + self.k.layout + self.partial_views("    ", "_b"),
                      [rows] + body)
        function = [
            "",
            "",
            _JIT,
            f"def {self.block}(_b, {self.nb}, _x, _p, _data, _v, _g, _H, _arena):",
            *setup,
            f"    _rows = {rows}",
            f"    _lo = (_b * _rows) // {self.nb}",
            f"    _hi = ((_b + 1) * _rows) // {self.nb}",
            *body,
        ]
        return "\n".join(function)

    def run_lines(self) -> list[str]:
        """Kernel lines running the blocks (in parallel through the runner compiled once
        per install) and combining the partial sums in block order."""
        nb = self.nb
        args = f"{nb}, _x, _p, _data, _v, _g, _H, _arena"
        if _numba_compat.USE_ADDRESS_OF:
            runner = "_tr.run_blocks_phased" if self.scatter_add else "_tr.run_blocks"
            lines = [f"    {runner}(_tr.address_of({self.block}), {args})"]
        else:  # public API only: the blocks one after the other, by direct calls
            lines = [f"    for _b in range({nb}):", f"        {self.block}(np.int64(_b), {args})"]
        for partial, node, kind in self.partials:
            target = self.k.storage[node]
            start = self.partial_start(partial)
            in_h = self.k.output_of.get(node, "").startswith("_H[")
            if kind == "syrk":  # the upper triangle was accumulated: sum it, then mirror
                lines.append(f"    _tr.combine_upper(_arena, {start}, {nb}, {target})")
                continue
            flat = target if node.ndim <= 1 else (target if in_h else f"{target}.reshape(-1)")
            helper = {"sum": "combine_sum", "max": "combine_max",
                      "logsumexp": "combine_logsumexp"}[kind]
            if kind == "sum" and node.ndim == 2 and in_h:
                helper = "combine_sum_2d"
            lines.append(f"    _tr.{helper}(_arena, {start}, {nb}, {flat})")
        return lines
