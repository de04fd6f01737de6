"""Python text shared by the array-kernel code generators: integer code for sizes and
positions, loop nests, the names a generated module reserves, the pruning of set-up lines a
function does not read, and the description of a kernel's outputs (see
:mod:`symopt.tensor.codegen`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import sympy

from .ir import (
    Node,
)


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


@dataclass
class Output:
    """What a kernel writes: ``node``'s value into ``target`` (Python code of an array view
    of ``node``'s shape, or of a scalar slot such as ``_g[3]``); ``target=None`` returns
    the (scalar) value."""

    node: Node
    target: str | None
