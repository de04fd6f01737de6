"""Sparse (CSR) Hessians of separable losses whose Hessian is not banded.

A separable loss (:mod:`symopt.tensor.sparsity`) is a sum of terms
``c * sum_i f(x[s_1 + a_1*i], ..., x[s_k + a_k*i], data[i])``.  When a term reads the
variable with different strides (``x[i]`` and ``x[2*i]``) or at a symbolic distance
(``x[i]`` and ``x[i + h]``), its Hessian is not banded, but its nonzero entries are still
known from the terms alone: pair ``(j, l)`` of a term at row ``i`` adds to the entries
``(s_j + a_j*i, s_l + a_l*i)`` and its mirror.  :meth:`SparseStructure.pattern` lays
them out once per size (NumPy, O(entries log entries)): the CSR ``indptr``/``indices``
of the symmetric Hessian (both triangles and the whole diagonal), and for each second
derivative the kernel ``hess_coo`` writes (term by term, row by row, pair by pair) the
CSR slots it adds into.  :func:`scatter` turns the kernel's values into the CSR values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy
from numba import njit

from .ir import Dim

__all__ = ["SparseStructure", "Pattern", "scatter", "sparse_structure"]


@dataclass
class Pattern:
    """The CSR layout of the Hessian at one size, and where each computed second
    derivative goes: ``values[slot1[k]] += weight[k] * coo[k]`` and, when ``slot2[k] >= 0``
    (an entry off the diagonal), ``values[slot2[k]] += coo[k]``."""

    n: int
    indptr: np.ndarray
    indices: np.ndarray
    slot1: np.ndarray
    slot2: np.ndarray
    weight: np.ndarray
    #: the CSR slot of each diagonal entry
    diagonal: np.ndarray

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    @property
    def ncoo(self) -> int:
        return int(self.slot1.shape[0])


@dataclass
class SparseStructure:
    """The separable terms of a loss, for a Hessian in CSR storage."""

    terms: list
    scalars: dict = field(default_factory=dict)
    #: the bandwidth when the Hessian is also banded, else None
    bandwidth: int | None = None

    def describe(self) -> str:
        """The nonzero entries, one line per term (each with its mirror)."""
        kind = (f"banded Hessian, bandwidth {self.bandwidth}" if self.bandwidth is not None
                else "sparse Hessian (CSR, not banded)")
        lines = [kind]
        i = sympy.Symbol("i", integer=True)
        for term in self.terms:
            entries = []
            for j, l, _ in term.pairs:
                _, _, sj, aj = term.args[j]
                _, _, sl, al = term.args[l]
                entries.append(f"H[{sympy.sstr(sj + aj * i)}, {sympy.sstr(sl + al * i)}]")
            if entries:
                lines.append(f"  {', '.join(entries)} for i < {term.length}")
        return "\n".join(lines)

    __str__ = describe

    def _repr_html_(self) -> str:  # pragma: no cover - notebooks
        return "<pre>" + self.describe() + "</pre>"

    def pattern(self, dims: dict, n: int) -> Pattern:
        """The CSR layout at the sizes ``dims`` ({Dim: int}) for ``n`` variables."""
        values = {d: int(v) for d, v in dims.items() if isinstance(d, Dim)}

        def number(expr) -> int:
            return int(sympy.sympify(expr).xreplace(values))

        rows, cols, weights = [], [], []
        for term in self.terms:
            if not term.pairs:
                continue
            length = number(term.length)
            i = np.arange(length, dtype=np.int64)
            r = np.empty((length, len(term.pairs)), dtype=np.int64)
            c = np.empty_like(r)
            w = np.ones(r.shape)
            for q, (j, l, _) in enumerate(term.pairs):
                _, _, sj, aj = term.args[j]
                _, _, sl, al = term.args[l]
                r[:, q] = number(sj) + aj * i
                c[:, q] = number(sl) + al * i
                if j != l:
                    w[:, q] = np.where(r[:, q] == c[:, q], 2.0, 1.0)
            rows.append(r.ravel())
            cols.append(c.ravel())
            weights.append(w.ravel())
        r = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
        c = np.concatenate(cols) if cols else np.empty(0, dtype=np.int64)
        weight = np.concatenate(weights) if weights else np.empty(0)
        off = r != c
        diag = np.arange(n, dtype=np.int64)
        keys = np.concatenate([r * n + c, c[off] * n + r[off], diag * n + diag])
        keys.sort()  # sort and drop repeats: np.unique hashes first, 6x slower here
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if keys.size else keys
        key_rows = keys // n
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(key_rows, minlength=n), out=indptr[1:])
        indices = (keys % n).astype(np.int64)
        slot1 = np.searchsorted(keys, r * n + c)
        slot2 = np.where(off, np.searchsorted(keys, c * n + r), -1)
        diagonal = np.searchsorted(keys, diag * n + diag)
        return Pattern(n, indptr, indices, slot1.astype(np.int64), slot2.astype(np.int64),
                       weight, diagonal.astype(np.int64))


def sparse_structure(loss, variables) -> SparseStructure:
    """The separable terms of ``loss`` (:func:`symopt.tensor.sparsity.separable_terms`),
    with the bandwidth when the Hessian is also banded."""
    from ..errors import ProblemError
    from .sparsity import band_structure, separable_terms

    terms, scalars = separable_terms(loss, variables)
    try:
        bandwidth = band_structure(loss, variables).bandwidth
    except ProblemError:
        bandwidth = None
    return SparseStructure(terms, scalars, bandwidth)


@njit(cache=True, nogil=True)
def scatter(coo, slot1, slot2, weight, values):  # pragma: no cover - compiled
    """The CSR ``values`` from the kernel's second derivatives ``coo`` (:class:`Pattern`)."""
    for k in range(values.shape[0]):
        values[k] = 0.0
    for k in range(coo.shape[0]):
        values[slot1[k]] += weight[k] * coo[k]
        if slot2[k] >= 0:
            values[slot2[k]] += coo[k]
