"""How a constrained solve ended: the constrained methods' view of
:mod:`symopt.solvers.status` (the one enumeration and message table).

The codes that mean the same as the unconstrained solvers' keep their numbers
(``MAX_ITER``, ``LINE_SEARCH_FAILED``, ``NAN_ENCOUNTERED``, ``INVALID_INPUT``); 0 and 1
are called ``CONVERGED`` and ``ACCEPTABLE`` here; the codes only constrained methods
report are 40-44.  Names and messages come from the shared table's ``"constrained"``
family.
"""

from __future__ import annotations

from ..solvers import status as _status
from ..solvers.status import (
    ACCEPTABLE,
    CONTINUE,
    CONVERGED,
    INFEASIBLE,
    INVALID_INPUT,
    LINE_SEARCH_FAILED,
    MAX_ITER,
    NAN_ENCOUNTERED,
    RESTORATION_FAILED,
    STEP_FAILED,
    SUBPROBLEM_FAILED,
    UNBOUNDED,
    is_success,
)

__all__ = ["CONTINUE", "CONVERGED", "ACCEPTABLE", "MAX_ITER", "LINE_SEARCH_FAILED",
           "NAN_ENCOUNTERED",
           "INVALID_INPUT", "INFEASIBLE", "UNBOUNDED", "RESTORATION_FAILED",
           "STEP_FAILED", "SUBPROBLEM_FAILED", "TABLE", "row", "message", "name",
           "is_success"]

FAMILY = "constrained"

#: code -> (NAME, message, success) of the codes a constrained solve reports (derived)
TABLE: dict[int, tuple[str, str, bool]] = _status.table(FAMILY)


def row(code: int) -> tuple[str, str, bool]:
    """``(name, message, success)`` of status ``code``."""
    return _status.row(code, FAMILY)


def message(code: int) -> str:
    """The sentence describing status ``code``."""
    return _status.message(code, FAMILY)


def name(code: int) -> str:
    """The constant's name for status ``code``."""
    return _status.name(code, FAMILY)
