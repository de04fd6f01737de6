"""Problem: a scalar array formula to minimise, its variables, parameters and data, and
its exact derivatives as array formulas (derived once, whatever the sizes)."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np
import sympy

from ..errors import ProblemError
from . import autodiff
from .binding import check_slices, evaluate_shape, resolve_dims
from .display import Equations
from .ir import Dim, Leaf, Node, Slice, shape_str, topological
from .ir import dims as make_dims
from .ops import data as make_data
from .ops import parameter as make_parameter
from .ops import variable as make_variable

__all__ = ["Problem"]


def _shape_from_text(spec: Any, dims: dict[str, Dim], even: set[str], what: str) -> tuple:
    """A shape from ``"m d"``, ``"m, d"``, ``"2*h"``, ``""`` (a scalar), a dim, an int or a
    tuple; dims named in the text are made (or reused) in ``dims``."""
    if isinstance(spec, (Dim, int)) and not isinstance(spec, bool):
        return (spec,)
    if isinstance(spec, tuple):
        return tuple(_shape_from_text(s, dims, even, what)[0] if isinstance(s, str) else s for s in spec)
    if not isinstance(spec, str):
        raise ProblemError(f"the shape of {what} must be text such as 'm d', got {spec!r}")
    tokens = [t for t in re.split(r"[\s,]+" if "," in spec or "*" not in spec else r",", spec.strip()) if t]
    out = []
    for token in tokens:
        token = token.strip()
        if re.fullmatch(r"\d+", token):
            out.append(int(token))
            continue
        from ..parsing import parse_formula

        names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", token))
        for name in names:
            if name not in dims:
                dims[name] = make_dims(name, even=name in even)
        expr = parse_formula(token, local_symbols={n: dims[n] for n in names})
        out.append(expr)
    return tuple(out)


class Problem:
    """A scalar array formula to minimise, with exact derivatives as array formulas.

    Parameters
    ----------
    loss : Node or str
        The loss: a scalar formula built from :func:`~symopt.tensor.variable`,
        :func:`~symopt.tensor.data` and :func:`~symopt.tensor.parameter` arrays, or formula
        text (then ``data``, ``wrt`` and ``params`` declare the shapes of its names).
    wrt : sequence or mapping, optional
        The variables in order.  Default: every variable of the loss, in the order they
        were declared.  With text: a mapping ``{"w": "d", "b": ""}`` of names to shapes.
    params : sequence or mapping, optional
        With text: the parameters' shapes, ``{"lam": ""}``.
    data : mapping, optional
        With text: the data arrays' shapes, ``{"X": "m d", "y": "m"}``; an integer array
        as ``("m", int)``.
    even : str, optional
        With text: names of sizes known to be even (``"n"``), so that ``x[::2]`` and
        ``x[1::2]`` have the same length.

    Examples
    --------
    >>> import symopt.tensor as st
    >>> m, d = st.dims("m d")
    >>> X, y = st.data("X", (m, d)), st.data("y", m)
    >>> w, b = st.variable("w", d), st.variable("b")
    >>> p = st.Problem(st.mean(st.softplus(X @ w + b) - y * (X @ w + b)))
    >>> print(p.gradient)
    δ1    = (-y + sigmoid(X @ w + b))/m
    ∂L/∂w = Xᵀ @ δ1
    ∂L/∂b = sum(δ1)
    """

    def __init__(self, loss: Node | str, wrt: Any = None, params: Any = None, *,
                 data: Mapping[str, Any] | None = None, even: str | Sequence[str] | None = None):
        if isinstance(loss, str):
            loss, formula = self._from_text(loss, wrt, params, data, even)
            wrt = None
        else:
            if data is not None or params is not None or even is not None:
                raise ProblemError("data=, params= and even= declare the names of formula text; "
                                   "a formula built in Python declares them with data(), "
                                   "parameter() and dims(..., even=True)")
            formula = None
        if not isinstance(loss, Node):
            raise ProblemError(f"the loss must be an array formula or text, got {type(loss).__name__}")
        if loss.ndim != 0:
            raise ProblemError(f"the loss must be a scalar, but it has shape {shape_str(loss.shape)}; "
                               "sum or average it (sum(...), mean(...))")
        self.loss = loss
        self.formula = formula if formula is not None else str(loss)
        leaves = [n for n in topological([loss]) if isinstance(n, Leaf)]
        by_name: dict[str, Leaf] = {}
        for leaf in leaves:
            other = by_name.get(leaf.name)
            if other is not None and other is not leaf:
                raise ProblemError(f"two different arrays are named {leaf.name!r}: "
                                   f"{other.leaf_kind} {shape_str(other.shape)} and "
                                   f"{leaf.leaf_kind} {shape_str(leaf.shape)}")
            by_name[leaf.name] = leaf
        declared = sorted((l for l in leaves if l.leaf_kind == "variable"), key=lambda l: l.order)
        if wrt is None:
            variables = declared
        else:
            items = [wrt] if isinstance(wrt, (Leaf, str)) else list(wrt)
            variables = []
            for item in items:
                leaf = by_name.get(item) if isinstance(item, str) else item
                if not isinstance(leaf, Leaf) or leaf.leaf_kind != "variable" or leaf not in declared:
                    raise ProblemError(f"wrt: {item!r} is not a variable of the loss; its variables "
                                       f"are {', '.join(v.name for v in declared) or 'none'}")
                if leaf in variables:
                    raise ProblemError(f"wrt: {leaf.name!r} is listed twice")
                variables.append(leaf)
            extra = [v.name for v in declared if v not in variables]
            if extra:
                raise ProblemError(f"the loss has variables {', '.join(extra)} that are not in wrt; "
                                   "declare values that are not optimised with parameter()")
        if not variables:
            raise ProblemError("the loss has no variables: declare them with variable(name, shape)")
        self.variables: tuple[Leaf, ...] = tuple(variables)
        self.parameters: tuple[Leaf, ...] = tuple(sorted(
            (l for l in leaves if l.leaf_kind == "parameter"), key=lambda l: l.order))
        self.data: tuple[Leaf, ...] = tuple(sorted(
            (l for l in leaves if l.leaf_kind == "data"), key=lambda l: l.order))
        if any(l.leaf_kind == "direction" for l in leaves):
            raise ProblemError("direction arrays belong to Hessian-vector products, not losses")
        found: set[Dim] = set()
        for node in topological([loss]):
            for s in node.shape:
                found |= {d for d in s.free_symbols if isinstance(d, Dim)}
            if isinstance(node, Slice):
                found |= {d for d in node.start.free_symbols if isinstance(d, Dim)}
        self.dims: tuple[Dim, ...] = tuple(sorted(found, key=lambda d: d.name))

    # --- text ----------------------------------------------------------------------------
    @staticmethod
    def _from_text(text, wrt, params, data, even) -> tuple[Node, str]:
        from .parse import parse_array_formula

        if wrt is None:
            raise ProblemError("formula text needs wrt={'name': 'shape', ...} to say which "
                               "names are the variables and their shapes")
        even_names = set(re.split(r"[\s,]+", even.strip())) if isinstance(even, str) else set(even or ())
        dims: dict[str, Dim] = {}
        names: dict[str, Leaf] = {}

        def declare(spec, maker, what):
            if spec is None:
                return
            if isinstance(spec, str):
                spec = {name: "" for name in re.split(r"[\s,]+", spec.strip()) if name}
            if not isinstance(spec, Mapping):
                raise ProblemError(f"{what} must be a mapping of names to shapes, e.g. "
                                   "{'X': 'm d'}")
            for name, shape in spec.items():
                dtype = float
                if isinstance(shape, tuple) and len(shape) == 2 and shape[1] in (int, float, "int", "float"):
                    shape, dtype = shape
                if name in names:
                    raise ProblemError(f"{name!r} is declared twice")
                leaf_shape = _shape_from_text(shape, dims, even_names, repr(name))
                if maker is make_data:
                    names[name] = maker(name, leaf_shape, dtype)
                else:
                    names[name] = maker(name, leaf_shape)

        declare(data, make_data, "data")
        declare(wrt, make_variable, "wrt")
        declare(params, make_parameter, "params")
        clash = sorted(set(names) & set(dims))
        if clash:
            raise ProblemError(f"{', '.join(clash)} cannot be both a size and an array")
        loss = parse_array_formula(text, names, dims)
        return loss, text.strip()

    # --- names -----------------------------------------------------------------------------
    @property
    def variable_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def data_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.data)

    def __repr__(self) -> str:
        parts = [f"{v.name}{shape_str(v.shape)}" for v in self.variables]
        return f"<symopt.tensor.Problem {self.formula!r} over {', '.join(parts)}>"

    # --- derivatives ------------------------------------------------------------------------
    @cached_property
    def adjoints(self) -> dict[Node, Node]:
        """``dL/dnode`` for every node of the loss that depends on the variables."""
        return autodiff.adjoints(self.loss, self.variables)

    @cached_property
    def gradient_formulas(self) -> dict[Leaf, Node]:
        """The gradient with respect to each variable, as a formula of its shape."""
        adj = self.adjoints
        return {v: adj.get(v) if adj.get(v) is not None else autodiff.constant(0, v.shape)
                for v in self.variables}

    @cached_property
    def gradient(self) -> Equations:
        """The gradient as equations: ``∂L/∂w = Xᵀ @ δ1`` with the shared intermediates
        (the backpropagated deltas) named first.  ``print`` it, show it in a notebook,
        ``.latex()`` for LaTeX source; ``gradient["w"]`` is the formula."""
        g = self.gradient_formulas
        return Equations([(v.name, f"∂L/∂{v.name}", g[v]) for v in self.variables],
                         set(self.adjoints.values()))

    @cached_property
    def hvp_formulas(self) -> dict[Leaf, Node]:
        """The Hessian-vector product ``H v`` per variable, in the direction arrays
        ``v_<name>`` (forward over reverse)."""
        return autodiff.hessian_vector_products(self.gradient_formulas, self.variables)

    @cached_property
    def hvp(self) -> Equations:
        """The Hessian-vector product as equations (directions ``v_<name>``)."""
        h = self.hvp_formulas
        return Equations([(v.name, f"H·v[{v.name}]", h[v]) for v in self.variables],
                         set(self.adjoints.values()))

    @cached_property
    def hessian_formulas(self) -> dict[tuple[int, int], Node]:
        """The Hessian blocks ``(a, b), a <= b`` (variable indices) that are not identically
        zero, each of shape ``variables[a].shape + variables[b].shape``."""
        return autodiff.hessian_blocks(self.gradient_formulas, self.variables)

    @cached_property
    def hessian(self) -> Equations:
        """The Hessian blocks as equations (``∂²L/∂w∂w = Xᵀ @ (...)``)."""
        rows = []
        for (a, b), block in self.hessian_formulas.items():
            va, vb = self.variables[a], self.variables[b]
            rows.append((f"{va.name},{vb.name}", f"∂²L/∂{va.name}∂{vb.name}", block))
        return Equations(rows, set(self.adjoints.values()))

    @cached_property
    def band(self):
        """The banded structure of the Hessian (:class:`symopt.tensor.sparsity.BandStructure`)
        when the loss is a sum of element-wise terms of slices of one vector variable read
        with one stride per term; :class:`~symopt.errors.ProblemError` says why not."""
        from .sparsity import band_structure

        return band_structure(self.loss, self.variables)

    @cached_property
    def sparse(self):
        """The sparse structure of the Hessian (:class:`symopt.tensor.sparse.SparseStructure`)
        when the loss is a sum of element-wise terms of shifted and strided slices of one
        vector variable (any strides, any shifts: banded or not); its ``pattern(dims, n)``
        is the CSR layout at a size.  :class:`~symopt.errors.ProblemError` says why not."""
        from .sparse import sparse_structure

        return sparse_structure(self.loss, self.variables)

    @property
    def hessian_sparsity(self) -> str:
        """Where the Hessian's nonzero entries are, for sums over shifted and strided
        slices (the text of :class:`~symopt.tensor.sparse.SparseStructure`: the
        entries each term adds, banded or CSR), or a text saying why the Hessian is not
        known to be sparse."""
        try:
            return self.sparse.describe()
        except ProblemError as exc:
            return f"dense (as far as symopt can tell: {exc})"

    # --- sizes -------------------------------------------------------------------------------
    def resolve_sizes(self, data: Mapping[str, np.ndarray] | None = None,
                      x: Mapping[str, Any] | np.ndarray | None = None,
                      params: Mapping[str, Any] | None = None,
                      dims: Mapping[Any, int] | None = None) -> dict[Dim, int]:
        """The value of every dim, read from the shapes of the data arrays, of the start
        point (a mapping of arrays; a flat vector when one dim is left) and of array
        parameters, or given in ``dims``; every slice is checked to fit."""
        equations = []
        for leaf in self.data:
            if data is not None and leaf.name in data:
                equations.append((f"data {leaf.name!r}", leaf.shape, np.shape(data[leaf.name])))
        if isinstance(x, Mapping):
            for leaf in self.variables:
                if leaf.name in x and np.ndim(x[leaf.name]) == leaf.ndim:
                    equations.append((f"x0[{leaf.name!r}]", leaf.shape, np.shape(x[leaf.name])))
        if isinstance(params, Mapping):
            for leaf in self.parameters:
                if leaf.name in params and np.ndim(params[leaf.name]) == leaf.ndim:
                    equations.append((f"params[{leaf.name!r}]", leaf.shape,
                                      np.shape(params[leaf.name])))
        if x is not None and not isinstance(x, Mapping):
            flat = np.shape(x)
            total = sympy.Add(*[sympy.Mul(*v.shape) for v in self.variables])
            equations.append(("x0 (flat)", (total,), (int(np.prod(flat)),)))
        values = resolve_dims(equations, dims, self.dims)
        check_slices([self.loss], values)
        return values

    def shapes(self, values: Mapping[Dim, int]) -> dict[str, tuple[int, ...]]:
        """Each array's shape for these sizes."""
        return {leaf.name: evaluate_shape(leaf.shape, values)
                for leaf in self.variables + self.parameters + self.data}
