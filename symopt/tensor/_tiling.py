"""Row tiling of a fused row loop (unroll-and-jam): a few rows per pass over the inner loops.

A fused logistic value+gradient reads row ``i`` of ``X`` twice per row: once for the dot
``z_i = x_i . w`` and once for the update ``q += r_i x_i`` of the gradient's partial sum.
Both inner loops are vectorised, but the update loads and stores all of ``q`` for every
row, so the loop is bound by loads and stores, not by memory (docs/performance.md).
Tiled, the update of ``TILE`` rows is one pass (unroll-and-jam):
``q[j] = q[j] + r_i X[i, j] + r_{i+1} X[i+1, j] + ...``, one load and one store of
``q[j]`` per tile instead of per row.  The rows' dots and scalar work run first, row after
row, in a loop over the tile: each row streams from memory in order (the hardware
prefetcher follows one stream), and the update re-reads the tile from cache.  Jamming the
dots too (``jam_dots``: ``w`` read once per tile) makes ``TILE`` streams, which measured
slower from memory (docs/tensors.md, Performance).

Python evaluates ``q + a + b`` as ``(q + a) + b``: every partial sum receives the rows'
terms in the same order as untiled, and each row's dots and scalar work are the untiled
code, so the result is the untiled kernel's up to the summation order of the vectorised
(``radd``, reassociable) dots, which LLVM fixes when it compiles the kernel:
deterministic for given sizes, whatever the threads.  Only the update is copied ``TILE``
times, so tiling adds little code to compile.

The transformation works on the printed row body, split into *segments* by
:class:`symopt.tensor._emit._GroupEmitter`: a scalar segment (one level's CSE'd row
statements) or an inner loop of kind ``dot`` or ``accumulate`` over one index.  Any other
shape (buffers, scatters, Gram updates, nested inner loops) is left untiled.
"""

from __future__ import annotations

import re

__all__ = ["TILE", "tile_body"]

#: Rows per tile by default (the kernels use symopt.tensor._emit.TILE_ROWS)
TILE = 32

_ASSIGNED = re.compile(r"^\s*([A-Za-z_]\w*) = ")
_ACCUMULATOR = re.compile(r"^_[am]_q\d+$")  # a block's scalar partial sums: shared by rows
_PARTIAL_UPDATE = re.compile(r"^(\s*)(_q\d+\[[^\]]*\]) \+= (.+)$")
_NAME = re.compile(r"\b[A-Za-z_]\w*\b")
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


def _defined(seg) -> set[str]:
    names = set()
    for line in seg["lines"]:
        match = _ASSIGNED.match(line)
        if match and not _ACCUMULATOR.match(match.group(1)):
            names.add(match.group(1))
    return names


def _used(seg) -> set[str]:
    return {name for line in seg["lines"] for name in _NAME.findall(line)}


def _units(segments, jam_dots: bool):
    """The tile's passes, in order: ``("rows", [segments])`` run row by row in a loop over
    the tile's rows, ``("jam", segment)`` jammed (one pass for all the tile's rows)."""
    units = []
    for seg in segments:
        if seg["kind"] == "accumulate" or (jam_dots and seg["kind"] == "dot"):
            units.append(("jam", seg))
        elif units and units[-1][0] == "rows":
            units[-1][1].append(seg)
        else:
            units.append(("rows", [seg]))
    return units


def tile_body(segments, row: str, indent: str, tile: int = TILE, jam_dots: bool = False):
    """``(block lines, body)``: the lines that allocate the tile's small arrays (at the
    start of a block) and the body of a loop over ``tile`` rows ``row, row+1, ...``
    (``row`` steps by ``tile``); ``None`` when the segments are not of a tileable shape.

    The partial-sum updates are jammed: each row's statements once per pass, its
    temporaries renamed ``name__r``.  Everything else, a row's dot products and its
    scalar work (``exp``, ``log``, ...), runs row after row in one loop over the tile's
    rows, before the update: each row is then read from memory in one sequential stream
    (the update re-reads the tile from cache), and the code Numba compiles grows little.
    With ``jam_dots`` the dots are jammed too (``w`` read once per tile, but ``tile``
    rows streamed at once: slower from memory, see docs/tensors.md).  Values that cross
    from a row loop to a jammed pass go through arrays of ``tile`` floats (``_T<name>``)."""
    if tile < 2 or not _tileable(segments, row):
        return None
    units = _units(segments, jam_dots)
    unit_segs = [segs if kind == "rows" else [segs] for kind, segs in units]
    defined = [set().union(*(_defined(seg) for seg in segs)) for segs in unit_segs]
    used = [set().union(*(_used(seg) for seg in segs)) for segs in unit_segs]
    crossing = sorted({name for k, names in enumerate(defined) for name in names
                       if any(name in used[j] for j in range(len(units)) if j != k)})
    rename = _renamer(set().union(*defined), row)
    row_in_loop = re.compile(rf"\b{re.escape(row)}\b")
    pre = [f"    _T{name} = np.empty({tile})" for name in crossing]
    inner = indent + "    "
    out = [f"{indent}{row}__{r} = {row}" + (f" + {r}" if r else "") for r in range(tile)]
    for (kind, _), segs, names, uses in zip(units, unit_segs, defined, used):
        imports = [name for name in crossing if name in uses and name not in names]
        exports = [name for name in crossing if name in names]
        if kind == "rows":
            out += [f"{indent}for _tile_r in range({tile}):",
                    f"{inner}{row}_t = {row} + _tile_r"]
            out += [f"{inner}{name} = _T{name}[_tile_r]" for name in imports]
            out += ["    " + row_in_loop.sub(f"{row}_t", line) for seg in segs for line in seg["lines"]]
            out += [f"{inner}_T{name}[_tile_r] = {name}" for name in exports]
            continue
        seg = segs[0]
        lines = seg["lines"]
        out += [f"{indent}{name}__{r} = _T{name}[{r}]" for name in imports for r in range(tile)]
        head = next(k for k, line in enumerate(lines) if line.lstrip().startswith("for "))
        init, loop, body = lines[:head], lines[head], lines[head + 1:]
        out += [rename(line, r) for r in range(tile) for line in init]
        out.append(loop)
        if seg["kind"] == "dot":
            out += [rename(line, r) for r in range(tile) for line in body]
        else:
            update = _PARTIAL_UPDATE.match(body[-1])
            out += [rename(line, r) for r in range(tile) for line in body[:-1]]
            depth, target, term = update.groups()
            terms = " + ".join(f"({rename(term, r)})" for r in range(tile))
            out.append(f"{depth}{target} = {target} + {terms}")
        out += [f"{indent}_T{name}[{r}] = {name}__{r}" for name in exports for r in range(tile)]
    return pre, out
