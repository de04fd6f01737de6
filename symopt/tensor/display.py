"""Array formulas as text (terminal, Unicode) and LaTeX, in matrix notation where a
contraction is a matrix product (``Xᵀ r``) and in index notation otherwise.

:func:`to_text` / :func:`to_latex` print one formula; :func:`equations` prints several
named formulas (a gradient, a Hessian) with their shared subexpressions given names
first, as a derivation is written by hand::

    t1 = X @ w
    δ1 = (sigmoid(t1 + b) - y)/m
    ∂L/∂w = Xᵀ @ δ1
    ∂L/∂b = sum(δ1)
"""

from __future__ import annotations

from typing import Mapping, Sequence

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from .ir import Contract, Embed, Eye, Leaf, Map, Node, OneHot, Reduce, Slice, placeholder, topological

__all__ = ["to_text", "to_latex", "equations", "Equations"]

ATOM, POWER, UNARY, PRODUCT, SUM = 100, 60, 50, 40, 30
_TOKENS = [f"QARG{chr(ord('a') + k // 26)}{chr(ord('a') + k % 26)}Q" for k in range(26 * 26)]
_FUNCTION_LATEX = {"sigmoid": r"\sigma", "softplus": r"\operatorname{softplus}"}


class _Printer:
    """Shared traversal of the text and LaTeX printers."""

    latex = False

    def __init__(self, names: Mapping[Node, str] | None = None):
        self.names = dict(names or {})

    # --- helpers -------------------------------------------------------------------------
    def wrap(self, printed: tuple[str, int], level: int) -> str:
        text, prec = printed
        if prec < level:
            return (r"\left(" + text + r"\right)") if self.latex else f"({text})"
        return text

    def name(self, name: str) -> str:
        if not self.latex:
            return name
        if name.startswith("δ"):
            return r"\delta_{" + name[1:] + "}"
        if len(name) > 1 and name[0].isalpha() and name[1:].isdigit():
            return f"{name[0]}_{{{name[1:]}}}"
        if "_" in name:
            head, tail = name.split("_", 1)
            return f"{head}_{{{tail}}}"
        return name if len(name) == 1 else r"\mathrm{" + name + "}"

    def dim(self, e: sympy.Expr) -> str:
        return sympy.latex(e) if self.latex else str(e)

    # --- dispatch ------------------------------------------------------------------------
    def print(self, node: Node, top: bool = False) -> tuple[str, int]:
        name = self.names.get(node)
        if name is not None and not top:
            return self.name(name), ATOM
        method = getattr(self, f"print_{type(node).__name__}")
        return method(node)

    def print_Leaf(self, node: Leaf):
        return self.name(node.name), ATOM

    def print_Eye(self, node: Eye):
        return "I", ATOM

    def print_OneHot(self, node: OneHot):
        labels = self.print(node.args[0])[0]
        if self.latex:
            return rf"\operatorname{{onehot}}\left({labels}, {self.dim(node.classes)}\right)", ATOM
        return f"onehot({labels}, {node.classes})", ATOM

    def print_Map(self, node: Map):
        if not node.args and node.ndim:
            value = sympy.latex(node.body) if self.latex else str(node.body)
            if self.latex:
                return rf"{value}\,\mathbf{{1}}", ATOM
            return f"fill({value}, {self.shape(node.shape)})", ATOM
        replace = {}
        args = {}
        for k, (arg, axes) in enumerate(zip(node.args, node.axes)):
            token = sympy.Symbol(_TOKENS[k])
            replace[placeholder(k)] = token
            text, prec = self.print(arg)
            suffix = self._broadcast_suffix(arg, axes, node)
            if suffix:
                text, prec = self.wrap((text, prec), ATOM) + suffix, ATOM
            args[_TOKENS[k]] = (text, prec)
        body = node.body.xreplace(replace)
        printer = (_BodyLatex if self.latex else _BodyStr)(args)
        text = printer.doprint(body)
        if self.latex:
            for fn, tex in _FUNCTION_LATEX.items():
                text = text.replace(r"\operatorname{" + fn + "}", tex)
        return text, _precedence(body)

    def _needs_suffix(self, arg, axes, node) -> bool:
        return self._broadcast_suffix(arg, axes, node) != ""

    def _broadcast_suffix(self, arg: Node, axes: tuple, node: Map) -> str:
        """``[:, None]`` where an argument is not aligned from the right (NumPy's rule)."""
        trailing = tuple(range(node.ndim - arg.ndim, node.ndim))
        if tuple(axes) == trailing or arg.ndim == 0:
            return ""
        if arg.ndim == 1 and node.ndim == 2 and axes == (0,):
            return "[:, None]" if not self.latex else r"\mathbf{1}^{T}"
        parts = ["None"] * node.ndim
        for k, a in enumerate(axes):
            if a is not None:
                parts[a] = ":"
        return "[" + ", ".join(parts) + "]" if not self.latex else ""

    def shape(self, shape) -> str:
        return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"

    def print_Contract(self, node: Contract):
        ops, labels, out = node.args, node.labels, node.out
        if len(ops) == 1:
            return self._unary_contract(ops[0], labels[0], out)
        if len(ops) == 2 and isinstance(ops[1], OneHot) and labels[0] == labels[1] and len(out) == 1:
            x = self.wrap(self.print(ops[0]), ATOM)
            lab = self.print(ops[1].args[0])[0]
            if self.latex:
                return rf"{x}_{{i,\,{lab}_i}}", ATOM
            return f"pick({x}, {lab})", ATOM
        if len(ops) == 2:
            gram = self._weighted_gram(ops, labels, out)
            if gram is not None:
                return gram
            product = self._matrix_product(ops, labels, out)
            if product is not None:
                return product
        return self._einsum(ops, labels, out)

    def _weighted_gram(self, ops, labels, out):
        """``Aᵀ diag(w) A`` for ``sum_r A[r, a] w_r A[r, b]`` (a Map linear in ``A`` whose
        other arguments run along the rows): how a Hessian of a model linear in its
        weights is written by hand."""
        (la, lb) = labels
        if not (len(la) == 2 == len(lb) and la[0] == lb[0] and la[1] != lb[1]
                and sorted(out) == sorted(la[1] + lb[1])):
            return None
        for A, M in (ops, ops[::-1]):
            if not (isinstance(M, Map) and A.ndim == 2 and M.shape == A.shape):
                continue
            slots = [k for k, (arg, axes) in enumerate(zip(M.args, M.axes))
                     if arg is A and axes == (0, 1)]
            if len(slots) != 1 or any(1 in axes for k, axes in enumerate(M.axes) if k != slots[0]):
                continue
            ph = placeholder(slots[0])
            if M.body.is_Mul and ph in M.body.args:  # keep the body's own form
                weight = sympy.Mul(*[f for f in M.body.args if f != ph])
            else:
                weight = sympy.expand(M.body).coeff(ph, 1)
            if weight == 0 or weight.has(ph) or sympy.expand(M.body - weight * ph) != 0:
                continue
            keep = [k for k in range(len(M.args)) if k != slots[0]]
            renumber = {placeholder(k): placeholder(j) for j, k in enumerate(keep)}
            w = Map.__new__(Map)  # a throwaway node for printing only (never interned)
            a_text = self.wrap(self.print(A), ATOM)
            if not weight.free_symbols & {placeholder(k) for k in keep}:
                scale = sympy.latex(weight) if self.latex else sympy.sstr(weight)
                transpose = "^{T}" if self.latex else "ᵀ @ "
                return f"{scale}*{a_text}{transpose}{a_text}" if not self.latex else \
                    f"{scale} {a_text}{transpose} {a_text}", PRODUCT
            for name, value in (("body", weight.xreplace(renumber)),
                                ("args", tuple(M.args[k] for k in keep)),
                                ("axes", tuple(tuple(0 if a == 0 else a for a in M.axes[k]) for k in keep)),
                                ("shape", (M.shape[0],))):
                object.__setattr__(w, name, value)
            w_text = self.print(w)[0]
            if self.latex:
                return rf"{a_text}^{{T}} \operatorname{{diag}}\left({w_text}\right) {a_text}", PRODUCT
            return f"{a_text}ᵀ @ diag({w_text}) @ {a_text}", PRODUCT
        return None

    def _unary_contract(self, op: Node, labels: str, out: str):
        if len(out) == len(labels) and sorted(out) == sorted(labels):
            if len(labels) == 2:
                return self.transpose(self.print(op)), ATOM
            return self._einsum([op], [labels], out)
        if len(set(labels)) == len(labels) and all(c in labels for c in out) and \
                "".join(c for c in labels if c in out) == out:
            axes = tuple(k for k, c in enumerate(labels) if c not in out)
            inner = self.print(op)[0]
            if self.latex:
                return r"\sum " + self.wrap(self.print(op), PRODUCT + 1) if len(axes) == len(labels) \
                    else rf"\operatorname{{sum}}_{{{axes[0] if len(axes) == 1 else axes}}}\left({inner}\right)", PRODUCT
            if len(axes) == len(labels):
                return f"sum({inner})", ATOM
            axis = axes[0] if len(axes) == 1 else axes
            return f"sum({inner}, axis={axis})", ATOM
        return self._einsum([op], [labels], out)

    def transpose(self, printed: tuple[str, int]) -> str:
        base = self.wrap(printed, ATOM)
        return base + ("^{T}" if self.latex else "ᵀ")

    def _matrix_product(self, ops, labels, out):
        a, b = ops
        la, lb = labels
        summed = [c for c in la if c in lb and c not in out]
        if len(summed) != 1 or len(la) > 2 or len(lb) > 2 or len(set(la)) != len(la) or len(set(lb)) != len(lb):
            if not summed and len(la) == 1 and len(lb) == 1 and out == la + lb:
                left, right = self.print(a)[0], self.print(b)[0]
                if self.latex:
                    return rf"{self.wrap(self.print(a), ATOM)}\,{self.wrap(self.print(b), ATOM)}^{{T}}", PRODUCT
                return f"outer({left}, {right})", ATOM
            return None
        (s,) = summed
        free_a = la.replace(s, "")
        free_b = lb.replace(s, "")
        if len(la) == 1 and len(lb) == 2 and free_b == out:
            a, b, la, lb, free_a, free_b = b, a, lb, la, free_b, free_a  # Xᵀ r, not r @ X
        elif free_a + free_b != out:
            if free_b + free_a == out:
                a, b, la, lb, free_a, free_b = b, a, lb, la, free_b, free_a
            else:
                return None
        left = self.print(a)
        right = self.print(b)
        left_text = self.wrap(left, PRODUCT) if la.endswith(s) else self.transpose(left)
        right_text = self.wrap(right, PRODUCT + 1) if lb.startswith(s) else self.transpose(right)
        op = r"\," if self.latex else " @ "
        return f"{left_text}{op}{right_text}", PRODUCT

    def _einsum(self, ops, labels, out):
        texts = [self.print(o)[0] for o in ops]
        if self.latex:
            summed = sorted(set("".join(labels)) - set(out))
            factors = r"\,".join(f"{self.wrap(self.print(o), ATOM)}_{{{l}}}" for o, l in zip(ops, labels))
            prefix = (r"\sum_{" + ",".join(summed) + "} ") if summed else ""
            return prefix + factors, PRODUCT
        spec = ",".join(labels) + "->" + out
        return f"einsum('{spec}', {', '.join(texts)})", ATOM

    def print_Reduce(self, node: Reduce):
        inner = self.print(node.args[0])[0]
        if self.latex:
            name = r"\operatorname{logsumexp}" if node.op == "logsumexp" else r"\max"
            return rf"{name}_{{{node.axis}}}\left({inner}\right)", ATOM
        return f"{node.op}({inner}, axis={node.axis})", ATOM

    def _slice_text(self, node, start, step, length, size) -> str:
        if length is None:
            return self.dim(start)
        stop = sympy.simplify(start + step * length)
        # the slice runs to the end when its last position is within one step of it
        left = sympy.simplify(size - start - step * (length - 1))
        to_end = left.is_Integer and 1 <= int(left) <= step
        parts = ["" if start == 0 else self.dim(start), "" if to_end else self.dim(stop)]
        text = ":".join(parts)
        if step != 1:
            text += f":{step}"
        return text

    def print_Slice(self, node: Slice):
        base = self.wrap(self.print(node.args[0]), ATOM)
        index = self._slice_text(node, node.start, node.step, node.length,
                                 node.args[0].shape[node.axis])
        prefix = ":, " * node.axis
        if self.latex:
            return f"{base}_{{[{prefix}{index}]}}", ATOM
        return f"{base}[{prefix}{index}]", ATOM

    def print_Embed(self, node: Embed):
        inner = self.print(node.args[0])[0]
        length = node.args[0].shape[node.axis] if node.keep else None
        index = self._slice_text(node, node.start, node.step, length, node.size)
        prefix = ":, " * node.axis
        if self.latex:
            return rf"\operatorname{{place}}_{{[{prefix}{index}]}}\left({inner}\right)", ATOM
        return f"place({inner}, [{prefix}{index}], {self.shape(node.shape)})", ATOM


class _LatexPrinter(_Printer):
    latex = True


#: our precedence levels on SymPy's scale (sympy.printing.precedence.PRECEDENCE)
_SYMPY_LEVEL = {ATOM: 1000, POWER: 60, UNARY: 45, PRODUCT: 45, SUM: 40}


class _BodyMixin:
    """Prints a Map body whose placeholder tokens stand for already printed arguments,
    parenthesising an argument exactly where SymPy would parenthesise an expression of
    its precedence."""

    def __init__(self, args):
        super().__init__()
        self._args = args

    def _print_Symbol(self, expr, *a, **k):
        hit = self._args.get(expr.name)
        if hit is not None:
            return hit[0]
        return super()._print_Symbol(expr, *a, **k)

    def parenthesize(self, item, level, strict=False):
        hit = self._args.get(getattr(item, "name", None)) if isinstance(item, sympy.Symbol) else None
        if hit is not None:
            text, prec = hit
            mine = _SYMPY_LEVEL.get(prec, 1000)
            if mine < level or (strict and mine <= level):
                return self._wrap_text(text)
            return text
        return super().parenthesize(item, level, strict)


class _BodyStr(_BodyMixin, StrPrinter):
    def _wrap_text(self, text):
        return f"({text})"


class _BodyLatex(_BodyMixin, LatexPrinter):
    def _wrap_text(self, text):
        return r"\left(" + text + r"\right)"

    def _print_Function(self, expr, exp=None):
        name = type(expr).__name__
        if name in _FUNCTION_LATEX:
            inner = ", ".join(self._print(a) for a in expr.args)
            head = _FUNCTION_LATEX[name] + (f"^{{{exp}}}" if exp else "")
            return rf"{head}\left({inner}\right)"
        return super()._print_Function(expr, exp)


def _precedence(body: sympy.Expr) -> int:
    if body.is_Add:
        return SUM
    if body.is_Mul:
        return UNARY if body.could_extract_minus_sign() else PRODUCT
    if body.is_Pow:
        return POWER
    if body.is_Number and body < 0:
        return UNARY
    return ATOM


def to_text(node: Node, names: Mapping[Node, str] | None = None) -> str:
    """The formula as one line of text (named nodes of ``names`` printed by name)."""
    return _Printer(names).print(node, top=True)[0]


def to_latex(node: Node, names: Mapping[Node, str] | None = None) -> str:
    """The formula in LaTeX."""
    return _LatexPrinter(names).print(node, top=True)[0]


def _name_shared(outputs: Sequence[Node], adjoint_nodes: set, given: Mapping[Node, str],
                 auto: bool = True) -> list[tuple[str, Node]]:
    """Names for the nodes used more than once among ``outputs`` (adjoints: δ1, δ2, ...;
    other intermediates t1, t2, ...), in the order they are computed; nodes in ``given``
    keep their given names (and are the only ones named when ``auto`` is false)."""
    order = topological(outputs)
    uses: dict[Node, int] = {}
    for node in order:
        for arg in node.args:
            uses[arg] = uses.get(arg, 0) + 1
    named = []
    counters = {"δ": 0, "t": 0}
    outputs_set = set(outputs)
    for node in order:
        if node in given and not isinstance(node, Leaf):
            named.append((given[node], node))
            continue
        if isinstance(node, (Leaf, Eye, OneHot)) or not auto:
            continue
        if node in outputs_set and uses.get(node, 0) == 0:
            continue
        if isinstance(node, Map) and not node.args:
            continue
        if uses.get(node, 0) >= 2 or (node in adjoint_nodes and uses.get(node, 0) >= 1
                                       and not _trivial(node)):
            prefix = "δ" if node in adjoint_nodes else "t"
            counters[prefix] += 1
            named.append((f"{prefix}{counters[prefix]}", node))
    return named


def _trivial(node: Node) -> bool:
    return isinstance(node, (Slice, Contract)) and all(isinstance(a, Leaf) for a in node.args)


class Equations:
    """Named formulas with their shared intermediates, printable as text (``str``), in a
    notebook (LaTeX) and as LaTeX source (:meth:`latex`).  Also a mapping from output
    names to formulas."""

    def __init__(self, outputs: Sequence[tuple[str, str, Node]], adjoint_nodes: set = frozenset(),
                 names: Mapping[Node, str] | None = None, auto: bool = True):
        #: (key, label, formula) of each output
        self.outputs = list(outputs)
        given = dict(names or {})
        self.intermediates = _name_shared([n for _, _, n in self.outputs], set(adjoint_nodes), given,
                                          auto)
        self.names = {node: name for name, node in self.intermediates}

    def __getitem__(self, key: str) -> Node:
        for k, _, node in self.outputs:
            if k == key:
                return node
        raise KeyError(key)

    def keys(self):
        return [k for k, _, _ in self.outputs]

    def items(self):
        return [(k, n) for k, _, n in self.outputs]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.outputs)

    def lines(self) -> list[tuple[str, str]]:
        rows = [(name, _Printer(self.names).print(node, top=True)[0])
                for name, node in self.intermediates]
        rows += [(label, _Printer(self.names).print(node, top=True)[0])
                 for _, label, node in self.outputs]
        return rows

    def __str__(self) -> str:
        rows = self.lines()
        width = max((len(a) for a, _ in rows), default=0)
        return "\n".join(f"{a.ljust(width)} = {b}" for a, b in rows)

    __repr__ = __str__

    def latex(self) -> str:
        """The equations as a LaTeX ``aligned`` block."""
        printer = _LatexPrinter(self.names)
        rows = [(printer.name(name), printer.print(node, top=True)[0]) for name, node in self.intermediates]
        rows += [(_latex_label(label), printer.print(node, top=True)[0]) for _, label, node in self.outputs]
        return r"\begin{aligned}" + r" \\ ".join(f"{a} &= {b}" for a, b in rows) + r"\end{aligned}"

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"


def _latex_label(label: str) -> str:
    if label.startswith("∂L/∂"):
        name = label[4:]
        return r"\frac{\partial L}{\partial " + _LatexPrinter().name(name) + "}"
    if label.startswith("∂²L/"):
        return r"\frac{\partial^2 L}{" + label[4:].replace("∂", r"\partial ") + "}"
    if label.startswith("H·v"):
        return r"(H v)_{" + label[4:].strip("[]") + "}"
    return label


def equations(outputs: Sequence[tuple[str, str, Node]], adjoint_nodes: set = frozenset(),
              names: Mapping[Node, str] | None = None, auto: bool = True) -> Equations:
    return Equations(outputs, adjoint_nodes, names, auto)
