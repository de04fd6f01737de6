"""The emitter of one fused group: a row's scalar work (SymPy expressions over reads,
joint CSE by level), its inner loops (dots, accumulations, buffers, scatters, BLAS rank-k
updates), row tiling (:mod:`symopt.tensor._tiling`), and the block function and the kernel
lines that run its blocks in parallel and combine their partial sums in block order (see
:mod:`symopt.tensor.codegen`).  The tunables of the generated loops live here."""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Sequence

import sympy

from .. import _numba_compat
from ..codegen import KernelPrinter, _share_exponentials
from ..derivatives import joint_cse
from ._lines import _JIT, _index_text, _tr_has_syrk, _used, nested
from ._tiling import tile_body
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
)

if TYPE_CHECKING:
    from ._fusion import _Group, _Kernel


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
TILE_ROWS = 32
#: Jam the row tile's dot products too (one pass over w for all its rows) instead of
#: running them row after row (one sequential stream from memory): docs/tensors.md
JAM_DOTS = False
#: Rows buffered per call of BLAS dsyrk in a weighted rank-k update (X^T diag(s) X).
GRAM_ROWS = 256


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
