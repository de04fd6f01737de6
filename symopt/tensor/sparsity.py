"""The Hessian's sparsity for sums over shifted and strided slices, and its band.

Many large problems are *separable*: the loss is a linear combination of terms

    sum_i f_t(x[s_1 + a*i], ..., x[s_k + a*i], data[i], parameters)

(extended and chained Rosenbrock, discretised boundary-value problems, sums of residuals of
neighbouring unknowns).  Row ``i`` of a term touches the variable at ``k`` positions, so
it adds the second derivatives ``d2 f / d a_j d a_l`` at the entries
``(s_j + a*i, s_l + a*i)``: with one step ``a`` per term every entry lies within
``max |s_j - s_l|`` of the diagonal, and the Hessian is banded with that bandwidth, a
constant whatever n.  :func:`band_structure` finds the terms, their pairs and the
bandwidth from the loss formula (no Hessian formula is needed); the band kernel
(:mod:`symopt.tensor.kernels`) fills the lower band row by row; the banded Newton solver
(:mod:`symopt.tensor.solvers`) factors it in O(n b^2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from ..errors import ProblemError
from .ir import Contract, Leaf, Map, Node, Slice, placeholder, topological

__all__ = ["Term", "BandStructure", "band_structure", "separable_terms", "bandwidth",
           "describe_terms"]


@dataclass
class Term:
    """One separable term: ``coefficient * sum_i body(args at row i)``."""

    coefficient: sympy.Expr
    body: sympy.Expr
    length: sympy.Expr
    #: per Map argument: ("var", variable, start, step), ("row", node, start, step) for
    #: data read at row i, or ("scalar", node) for a 0-d value
    args: list = field(default_factory=list)
    #: (j, l, second derivative) for j <= l over the variable arguments
    pairs: list = field(default_factory=list)

    def entries(self):
        """The Hessian entries of the pairs, ``(s_j, a_j, s_l, a_l)`` each: row ``i`` of the
        term adds to ``H[s_j + a_j*i, s_l + a_l*i]`` (and its mirror)."""
        for j, l, _ in self.pairs:
            _, _, sj, aj = self.args[j]
            _, _, sl, al = self.args[l]
            yield sj, aj, sl, al


def describe_terms(header: str, terms) -> str:
    """``header``, then the nonzero entries one line per term (each with its mirror):
    ``H[2*i, 2*i], H[2*i + 1, 2*i] for i < n/2``."""
    lines = [header]
    i = sympy.Symbol("i", integer=True)
    for term in terms:
        entries = [f"H[{sympy.sstr(sj + aj * i)}, {sympy.sstr(sl + al * i)}]"
                   for sj, aj, sl, al in term.entries()]
        if entries:
            lines.append(f"  {', '.join(entries)} for i < {term.length}")
    return "\n".join(lines)


def bandwidth(terms) -> int:
    """The bandwidth of the Hessian of ``terms`` (:func:`separable_terms`), or
    :class:`ProblemError` saying why it is not banded."""
    width = 0
    for term in terms:
        if len({arg[3] for arg in term.args if arg[0] == "var"}) > 1:
            raise ProblemError("a term reads the variable with different strides: its Hessian "
                               "is not banded")
        for sj, _, sl, _ in term.entries():
            offset = sympy.simplify(sj - sl)
            if not offset.is_Integer:
                raise ProblemError("two slices of a term are a symbolic distance apart: "
                                   "the Hessian is not banded")
            width = max(width, abs(int(offset)))
    return width


@dataclass
class BandStructure:
    """The separable terms of a loss and the bandwidth of its Hessian."""

    terms: list
    bandwidth: int
    #: the scalars the terms' coefficients use (Dummy -> node: parameters, constants)
    scalars: dict = field(default_factory=dict)

    def describe(self, names: dict | None = None) -> str:
        """The nonzero entries, one line per term: ``H[2i, 2i], H[2i+1, 2i] (i < n/2)``."""
        return describe_terms(f"banded Hessian, bandwidth {self.bandwidth}", self.terms)


def _linear_terms(node: Node, x: Leaf, scalars: dict) -> list[tuple[sympy.Expr, Node]] | None:
    """``node`` as ``sum_t c_t * node_t``; a coefficient may use scalars that do not depend
    on ``x`` (parameters, constants), recorded in ``scalars`` (Dummy -> node)."""
    if isinstance(node, Map) and node.ndim == 0:
        fixed = {}
        for k, arg in enumerate(node.args):
            if arg.ndim == 0 and x not in topological([arg]):
                dummy = sympy.Dummy(f"c{len(scalars)}")
                scalars[dummy] = arg
                fixed[placeholder(k)] = dummy
        body = sympy.expand(node.body.xreplace(fixed))
        varying = [k for k in range(len(node.args)) if placeholder(k) not in fixed]
        out = []
        rest = body
        for k in varying:
            c = body.coeff(placeholder(k), 1)
            if any(c.has(placeholder(j)) for j in varying):
                return None
            rest -= c * placeholder(k)
            if c != 0:
                inner = _linear_terms(node.args[k], x, scalars)
                if inner is None:
                    return None
                out += [(c * ci, ni) for ci, ni in inner]
        if any(sympy.expand(rest).has(placeholder(j)) for j in varying):
            return None
        return out
    return [(sympy.S.One, node)]


def separable_terms(loss: Node, variables) -> tuple[list, dict]:
    """The separable terms of ``loss`` in one vector variable (any strides and shifts) and
    the scalars their coefficients use, or :class:`ProblemError` saying why not."""
    vector = [v for v in variables if v.ndim >= 1]
    if len(variables) != 1 or len(vector) != 1 or vector[0].ndim != 1:
        raise ProblemError("a sparse Hessian needs a problem of one vector variable")
    (x,) = vector
    scalars: dict = {}
    parts = _linear_terms(loss, x, scalars)
    if parts is None:
        raise ProblemError("the loss is not a sum of terms with constant coefficients")
    terms = []
    for coefficient, node in parts:
        if x not in topological([node]):
            continue  # a term that does not depend on the variable
        if not (isinstance(node, Contract) and len(node.args) == 1 and node.out == ""
                and len(node.labels[0]) == 1 and isinstance(node.args[0], Map)):
            raise ProblemError("a term is not a sum over one axis of an element-wise formula")
        m = node.args[0]
        term = Term(coefficient, m.body, m.shape[0])
        variable_slots = []
        for k, (arg, axes) in enumerate(zip(m.args, m.axes)):
            depends = x in topological([arg])
            if arg.ndim == 0 and not depends:
                term.args.append(("scalar", arg))
                continue
            if axes != (0,):
                raise ProblemError("a term reads an array along an axis other than its sum's")
            base, start, step = arg, sympy.Integer(0), 1
            if isinstance(arg, Slice):
                if arg.axis != 0 or arg.length is None:
                    raise ProblemError("a term reads a variable at a single fixed position")
                base, start, step = arg.args[0], arg.start, arg.step
                while isinstance(base, Slice) and base.axis == 0 and base.length is not None:
                    # a slice of a slice: x[s::a][t::b] reads x[s + a*t + a*b*i]
                    start, step = base.start + base.step * start, base.step * step
                    base = base.args[0]
            if not isinstance(base, Leaf):
                raise ProblemError("a term reads a computed array; only slices of inputs are "
                                   "separable")
            if base is x:
                term.args.append(("var", x, start, step))
                variable_slots.append(k)
            elif base.leaf_kind in ("data", "parameter"):
                term.args.append(("row", base, start, step))
            else:
                raise ProblemError(f"a term reads {base.name!r}, which is neither the variable "
                                   "nor an input")
        for a, j in enumerate(variable_slots):
            for l in variable_slots[a:]:
                d2 = sympy.diff(m.body, placeholder(j), placeholder(l))
                if d2 != 0:
                    term.pairs.append((j, l, d2))
        terms.append(term)
    if not terms:
        raise ProblemError("the loss does not depend on its variable through separable terms")
    return terms, scalars


def band_structure(loss: Node, variables) -> BandStructure:
    """The separable terms of ``loss`` and the bandwidth of the Hessian in the flat vector
    of ``variables`` (one vector variable), or :class:`ProblemError` saying why not."""
    terms, scalars = separable_terms(loss, variables)
    return BandStructure(terms, bandwidth(terms), scalars)
