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

The work is split by job: this module assembles a generated module (names, the prologue
that views the inputs, one function per kernel); :mod:`symopt.tensor._fusion` plans one
kernel (roles, fusion, storage); :mod:`symopt.tensor._emit` prints one fused group (its
block function and the lines that run it, with the loops' tunables such as
:data:`BLOCK_ROWS` and :data:`TILE_ROWS`); :mod:`symopt.tensor._lines` holds the text
helpers they share.  Their names are re-exported here.
"""

from __future__ import annotations

import itertools
import keyword
from typing import Sequence

import sympy

from ._emit import (  # noqa: F401 - re-exported: the loops' tunables
    BLOCK_ROWS,
    GRAM_ROWS,
    JAM_DOTS,
    MAX_BLOCKS,
    PARTIAL_BUDGET,
    TILE_ROWS,
    WORK_PER_BLOCK,
    _GroupEmitter,
)
from ._fusion import _Group, _Kernel, _ScalarContext  # noqa: F401 - re-exported
from ._lines import (  # noqa: F401 - re-exported
    _JIT,
    _RESERVED,
    Output,
    _index_text,
    _runtime_hash,
    _tr_has_syrk,
    _used,
    int_code,
    nested,
)
from .ir import (
    Dim,
    Leaf,
)

__all__ = ["ModuleSource", "Output", "BLOCK_ROWS", "MAX_BLOCKS", "PARTIAL_BUDGET", "int_code"]


# --- the module --------------------------------------------------------------------------


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
