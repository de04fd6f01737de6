"""One kernel's plan: the role of every node of its DAG, the fusion of nodes into groups
(one loop per group), the storage of intermediates and partial sums in one arena, and the
kernel's lines around the groups' blocks (see :mod:`symopt.tensor.codegen`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import sympy

from ..codegen import KernelPrinter
from ._emit import _GroupEmitter
from ._lines import Output, _used, int_code, nested
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
    placeholder,
    same_dim,
    topological,
)

if TYPE_CHECKING:
    from .codegen import ModuleSource


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
