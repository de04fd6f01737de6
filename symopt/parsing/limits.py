"""The limits on formula text (length, nesting, number size, name count): what an
untrusted formula may cost before it is refused."""

from __future__ import annotations

#: Longest formula text accepted, in characters.
MAX_FORMULA_LENGTH: int = 100_000

#: Deepest nesting accepted: levels of brackets, and levels of the syntax tree (a
#: long chain ``a + b + c + ...`` or ``a*b*c*...`` counts as one level, a power ``**``
#: as two).  SymPy's differentiation and printing recurse on the expression tree, about
#: ten Python frames per level, and a power's Hessian twice as deep: measured with the
#: default recursion limit of 1000, the worst shapes (``x*(y + x*(y + ...))``, towers
#: ``x**x**x**...``) fail beyond about 100 such levels when called from a shallow
#: stack.  60 leaves room for callers 250 frames deep (a test runner, a notebook, a
#: Dask worker).
MAX_NESTING_DEPTH: int = 60

#: Largest exact number (decimal digits) a formula may write or produce by exact
#: arithmetic on its literals: ``10**10**10`` is refused instead of hanging SymPy.
MAX_NUMBER_DIGITS: int = 1000

#: Most names :func:`parse_names` returns (``"w0:100000000"`` is refused).
MAX_NAMES: int = 100_000
