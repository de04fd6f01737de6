"""Row tiling of a fused row loop (unroll-and-jam): a few rows per pass over the inner loops.

A fused logistic value+gradient reads row ``i`` of ``X`` twice per row: once for the dot
``z_i = x_i . w`` and once for the update ``q += r_i x_i`` of the gradient's partial sum.
Both inner loops are vectorised, but the update loads and stores all of ``q`` for every
row, so the loop is bound by loads and stores, not by memory (docs/performance.md).
Tiled, ``TILE`` rows share one pass: the dots of rows ``i .. i+TILE-1`` read ``w`` once,
and the update becomes ``q[j] = q[j] + r_i X[i, j] + r_{i+1} X[i+1, j] + ...``, one load
and one store of ``q[j]`` per tile instead of per row.

Python evaluates ``q + a + b`` as ``(q + a) + b``: every partial sum receives the rows'
terms in the same order as untiled, and each row's scalar work is the untiled code with
its temporaries renamed, so the result is the untiled kernel's up to the summation order
of the vectorised (``radd``, reassociable) dots, which LLVM fixes when it compiles the
kernel: deterministic for given sizes, whatever the threads.

The transformation works on the printed row body, split into *segments* by
:class:`symopt.tensor.codegen._GroupEmitter`: a scalar segment (one level's CSE'd row
statements) or an inner loop of kind ``dot`` or ``accumulate`` over one index.  Any other
shape (buffers, scatters, Gram updates, nested inner loops) is left untiled.
"""

from __future__ import annotations

import re

__all__ = ["TILE", "tile_body"]

#: Rows per tile by default (the kernels use symopt.tensor.codegen.TILE_ROWS)
TILE = 8

_ASSIGNED = re.compile(r"^\s*([A-Za-z_]\w*) = ")
_ACCUMULATOR = re.compile(r"^_[am]_q\d+$")  # a block's scalar partial sums: shared by rows
_PARTIAL_UPDATE = re.compile(r"^(\s*)(_q\d+\[[^\]]*\]) \+= (.+)$")
_ACC_TARGET = re.compile(r"\b(_[am]_q\d+|_q\d+)\b(?= =|\[[^\]]*\] \+=)")


def _row_names(segments) -> set[str]:
    names = set()
    for seg in segments:
        for line in seg["lines"]:
            match = _ASSIGNED.match(line)
            if match and not _ACCUMULATOR.match(match.group(1)):
                names.add(match.group(1))
    return names


def _renamer(names: set[str], row: str):
    """``rename(line, r)``: the row's temporaries and its index, suffixed ``__r``."""
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(names | {row}))) + r")\b")

    def rename(line: str, r: int) -> str:
        return pattern.sub(lambda m: f"{m.group(1)}__{r}", line)

    return rename


def _tileable(segments, row: str) -> bool:
    if not any(seg["kind"] == "accumulate" for seg in segments):
        return False  # nothing to share: the dots alone already run at the memory's pace
    owner: dict[str, int] = {}
    for k, seg in enumerate(segments):
        if seg["kind"] not in ("scalar", "dot", "accumulate"):
            return False
        if seg["kind"] != "scalar" and len(seg.get("vars", ())) != 1:
            return False
        if seg["kind"] == "accumulate":
            match = _PARTIAL_UPDATE.match(seg["lines"][-1])
            if match is None or re.search(rf"\b{re.escape(row)}\b", match.group(2)):
                return False
        for line in seg["lines"]:
            stripped = line.strip()
            if " += " in stripped and seg["kind"] != "accumulate":
                return False  # a scatter-add or other in-place update: order matters
            for target in _ACC_TARGET.findall(line):
                if owner.setdefault(target, k) != k:
                    return False  # one partial fed from two segments: its order would change
    return True


def tile_body(segments, row: str, indent: str, tile: int = TILE) -> list[str] | None:
    """The body of a loop over ``tile`` rows ``row, row+1, ...`` (``row`` steps by
    ``tile``), or ``None`` when the segments are not of a tileable shape."""
    if tile < 2 or not _tileable(segments, row):
        return None
    rename = _renamer(_row_names(segments), row)
    out = [f"{indent}{row}__{r} = {row}" + (f" + {r}" if r else "") for r in range(tile)]
    for seg in segments:
        lines = seg["lines"]
        if seg["kind"] == "scalar":
            out += [rename(line, r) for r in range(tile) for line in lines]
            continue
        head = next(k for k, line in enumerate(lines) if line.lstrip().startswith("for "))
        init, loop, inner = lines[:head], lines[head], lines[head + 1:]
        out += [rename(line, r) for r in range(tile) for line in init]
        out.append(loop)
        if seg["kind"] == "dot":
            out += [rename(line, r) for r in range(tile) for line in inner]
            continue
        update = _PARTIAL_UPDATE.match(inner[-1])
        out += [rename(line, r) for r in range(tile) for line in inner[:-1]]
        depth, target, term = update.groups()
        terms = " + ".join(f"({rename(term, r)})" for r in range(tile))
        out.append(f"{depth}{target} = {target} + {terms}")
    return out
