"""Sparse (CSR) Hessians of separable losses whose Hessian is not banded.

A separable loss (:mod:`symopt.tensor.sparsity`) is a sum of terms
``c * sum_i f(x[s_1 + a_1*i], ..., x[s_k + a_k*i], data[i])``.  When a term reads the
variable with different strides (``x[i]`` and ``x[2*i]``) or at a symbolic distance
(``x[i]`` and ``x[i + h]``), its Hessian is not banded, but its nonzero entries are still
known from the terms alone: pair ``(j, l)`` of a term at row ``i`` adds to the entries
``(s_j + a_j*i, s_l + a_l*i)`` and its mirror.  :meth:`SparseStructure.pattern` lays
them out once per size (compiled: a counting sort by row, O(entries)): the CSR ``indptr``/``indices``
of the symmetric Hessian (both triangles and the whole diagonal), and for each second
derivative the kernel ``hess_coo`` writes (term by term, row by row, pair by pair) the
CSR slots it adds into.  :func:`scatter` turns the kernel's values into the CSR values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy
from numba import njit

from ..errors import ProblemError
from .ir import Dim
from .sparsity import bandwidth, describe_terms, separable_terms

__all__ = ["SparseStructure", "Pattern", "scatter", "sparse_structure"]

#: sparse-newton factors the permuted band when that costs at most this many products
#: with the CSR Hessian (a CG step costs one), else it runs CG
BAND_WORK_FACTOR = 64.0


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
    #: band orderings computed so far, by work factor (:meth:`band_ordering`)
    _orderings: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    @property
    def ncoo(self) -> int:
        return int(self.slot1.shape[0])

    def band_ordering(self, work_factor: float | None = None):
        """A symmetric permutation that makes the Hessian narrowly banded, for the modified
        band Cholesky of ``sparse-newton`` (:mod:`symopt.tensor.solvers`): ``(perm,
        bandwidth, band_slot)`` with ``perm[i]`` the variable at position ``i`` and
        ``band_slot[k]`` the index of CSR slot ``k`` in the flat ``(n, bandwidth + 1)``
        band storage of the permuted Hessian (-1 in the upper triangle); or None when the
        ordering leaves the band so wide that a factorisation, ``n (b + 1)^2`` operations,
        costs more than ``work_factor`` (default :data:`BAND_WORK_FACTOR`) products with the
        CSR Hessian.

        The ordering is reverse Cuthill-McKee (SciPy's ``reverse_cuthill_mckee``): on a
        loss whose terms couple a few variables each (extended Rosenbrock laid out in
        halves: pairs ``x[i], x[i + h]``) it puts each term's variables next to each other,
        so the bandwidth is the term's, whatever n."""
        work_factor = BAND_WORK_FACTOR if work_factor is None else work_factor
        if work_factor not in self._orderings:
            self._orderings[work_factor] = self._band_ordering(work_factor)
        return self._orderings[work_factor]

    def _band_ordering(self, work_factor: float):
        n = self.n
        if n == 0:
            return None
        try:
            from scipy.sparse import csr_matrix
            from scipy.sparse.csgraph import reverse_cuthill_mckee
        except ImportError:  # pragma: no cover - scipy is a dependency
            return None
        graph = csr_matrix((np.ones(self.nnz), self.indices, self.indptr), shape=(n, n))
        perm = np.asarray(reverse_cuthill_mckee(graph, symmetric_mode=True), dtype=np.int64)
        position = np.empty(n, dtype=np.int64)
        position[perm] = np.arange(n)
        rows = np.repeat(np.arange(n), np.diff(self.indptr))
        pr, pc = position[rows], position[self.indices]
        bandwidth = int(np.abs(pr - pc).max())
        if n * (bandwidth + 1) ** 2 > work_factor * max(self.nnz, 1):
            return None
        band_slot = np.where(pr >= pc, pr * (bandwidth + 1) + (pr - pc), -1)
        return perm, bandwidth, band_slot


@dataclass
class SparseStructure:
    """The separable terms of a loss, for a Hessian in CSR storage."""

    terms: list
    scalars: dict = field(default_factory=dict)
    #: the bandwidth when the Hessian is also banded, else None
    bandwidth: int | None = None

    def describe(self) -> str:
        """The nonzero entries, one line per term (each with its mirror)."""
        return describe_terms(f"banded Hessian, bandwidth {self.bandwidth}"
                              if self.bandwidth is not None
                              else "sparse Hessian (CSR, not banded)", self.terms)

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
            for q, ((j, l, _), (sj, aj, sl, al)) in enumerate(zip(term.pairs, term.entries())):
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
        indptr, indices, slot1, slot2, diagonal = _layout(r, c, n)
        return Pattern(n, indptr, indices, slot1, slot2, weight, diagonal)


@njit(cache=True, nogil=True)
def _layout(r, c, n):  # pragma: no cover - compiled
    """CSR ``indptr``/``indices`` of the entries ``(r, c)``, their mirrors and the whole
    diagonal (sorted, no repeats), and the slots of ``(r, c)`` and ``(c, r)`` (-1 on the
    diagonal) and of the diagonal: a counting sort by row, then each short row sorted."""
    count = np.zeros(n + 1, dtype=np.int64)
    for k in range(r.shape[0]):
        count[r[k] + 1] += 1
        if r[k] != c[k]:
            count[c[k] + 1] += 1
    for i in range(n):
        count[i + 1] += 1
    for i in range(n):
        count[i + 1] += count[i]
    cols = np.empty(count[n], dtype=np.int64)
    fill = count[:n].copy()
    for k in range(r.shape[0]):
        cols[fill[r[k]]] = c[k]
        fill[r[k]] += 1
        if r[k] != c[k]:
            cols[fill[c[k]]] = r[k]
            fill[c[k]] += 1
    for i in range(n):
        cols[fill[i]] = i
        fill[i] += 1
    indptr = np.zeros(n + 1, dtype=np.int64)
    indices = np.empty(count[n], dtype=np.int64)
    nnz = 0
    for i in range(n):
        row = np.sort(cols[count[i]:count[i + 1]])
        for k in range(row.shape[0]):
            if k == 0 or row[k] != row[k - 1]:
                indices[nnz] = row[k]
                nnz += 1
        indptr[i + 1] = nnz
    indices = indices[:nnz].copy()
    slot1 = np.empty(r.shape[0], dtype=np.int64)
    slot2 = np.empty(r.shape[0], dtype=np.int64)
    for k in range(r.shape[0]):
        a, b = indptr[r[k]], indptr[r[k] + 1]
        slot1[k] = a + np.searchsorted(indices[a:b], c[k])
        if r[k] != c[k]:
            a, b = indptr[c[k]], indptr[c[k] + 1]
            slot2[k] = a + np.searchsorted(indices[a:b], r[k])
        else:
            slot2[k] = -1
    diagonal = np.empty(n, dtype=np.int64)
    for i in range(n):
        a, b = indptr[i], indptr[i + 1]
        diagonal[i] = a + np.searchsorted(indices[a:b], i)
    return indptr, indices, slot1, slot2, diagonal


def sparse_structure(loss, variables) -> SparseStructure:
    """The separable terms of ``loss`` (:func:`symopt.tensor.sparsity.separable_terms`, one
    walk of the formula), with the bandwidth when the Hessian is also banded."""
    terms, scalars = separable_terms(loss, variables)
    try:
        width = bandwidth(terms)
    except ProblemError:
        width = None
    return SparseStructure(terms, scalars, width)


@njit(cache=True, nogil=True)
def scatter(coo, slot1, slot2, weight, values):  # pragma: no cover - compiled
    """The CSR ``values`` from the kernel's second derivatives ``coo`` (:class:`Pattern`)."""
    for k in range(values.shape[0]):
        values[k] = 0.0
    for k in range(coo.shape[0]):
        values[slot1[k]] += weight[k] * coo[k]
        if slot2[k] >= 0:
            values[slot2[k]] += coo[k]
