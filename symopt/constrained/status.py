"""How a constrained solve ended: the codes, their names and their messages.

The codes that mean the same as the unconstrained solvers' keep their numbers
(:mod:`symopt.solvers.status`: ``MAX_ITER``, ``LINE_SEARCH_FAILED``, ``NAN_ENCOUNTERED``,
``INVALID_INPUT``); the
codes only constrained methods report are 40-44.  Codes below
:data:`symopt.solvers.status.FIRST_FAILURE` are successes.
"""

from __future__ import annotations

from ..solvers.status import INVALID_INPUT, LINE_SEARCH_FAILED, MAX_ITER, NAN_ENCOUNTERED

__all__ = ["CONTINUE", "CONVERGED", "ACCEPTABLE", "MAX_ITER", "LINE_SEARCH_FAILED",
           "NAN_ENCOUNTERED",
           "INVALID_INPUT", "INFEASIBLE", "UNBOUNDED", "RESTORATION_FAILED",
           "STEP_FAILED", "SUBPROBLEM_FAILED", "TABLE", "row", "message", "name",
           "is_success"]

CONTINUE = -1
CONVERGED = 0
ACCEPTABLE = 1
# 40-44: the scalar solvers use 0-8, the mini-batch methods 20-21, symopt.chunked 30-31
INFEASIBLE = 40
UNBOUNDED = 41
RESTORATION_FAILED = 42
STEP_FAILED = 43
SUBPROBLEM_FAILED = 44

#: code -> (NAME, message, success)
TABLE: dict[int, tuple[str, str, bool]] = {
    CONVERGED: (
        "CONVERGED",
        "Optimization terminated successfully: the KKT conditions hold to tol (stationary, "
        "feasible to constr_tol, complementary).",
        True,
    ),
    ACCEPTABLE: (
        "ACCEPTABLE",
        "Optimization terminated at an acceptable point: feasible to constr_tol and "
        "stationary to 1e3*tol, but no further progress was possible (rounding errors "
        "dominate, or the constraint gradients are dependent at the solution).",
        True,
    ),
    MAX_ITER: (
        "MAX_ITER",
        "The iteration limit max_iter was reached before the KKT conditions held.",
        False,
    ),
    LINE_SEARCH_FAILED: (
        "LINE_SEARCH_FAILED",
        "The line search on the l1 merit function could not find a step that decreases it "
        "(the derivatives may be inaccurate, or the merit function is at the limit of its "
        "precision).",
        False,
    ),
    NAN_ENCOUNTERED: (
        "NAN_ENCOUNTERED",
        "f, the constraints or their derivatives were NaN or Inf at the start, or at every "
        "point the solver could step back to (or a hand-written kernel raised).",
        False,
    ),
    INVALID_INPUT: (
        "INVALID_INPUT",
        "The arrays passed to the solver have inconsistent sizes, or a lower bound is above "
        "its upper bound; nothing was computed.",
        False,
    ),
    INFEASIBLE: (
        "INFEASIBLE",
        "The problem looks infeasible: the solver converged to a point that locally "
        "minimises the constraint violation without reaching zero violation.",
        False,
    ),
    UNBOUNDED: (
        "UNBOUNDED",
        "The problem looks unbounded: at a feasible point the objective fell twelve orders "
        "of magnitude below its start value (f < -1e12 max(1, |f(x0)|)), or the iterates "
        "diverged (|x| above 1e20).",
        False,
    ),
    RESTORATION_FAILED: (
        "RESTORATION_FAILED",
        "The line search could not find an acceptable step and the feasibility restoration "
        "phase could not find a less infeasible point acceptable to the filter.",
        False,
    ),
    STEP_FAILED: (
        "STEP_FAILED",
        "The KKT system could not be solved, even with the largest regularisation (the "
        "derivatives may be NaN or Inf).",
        False,
    ),
    SUBPROBLEM_FAILED: (
        "SUBPROBLEM_FAILED",
        "The augmented Lagrangian's bound-constrained subproblem could not be solved (its "
        "L-BFGS-B solve failed at the start).",
        False,
    ),
}


def row(code: int) -> tuple[str, str, bool]:
    """``(name, message, success)`` of status ``code``."""
    try:
        return TABLE[int(code)]
    except (KeyError, TypeError, ValueError):
        return ("UNKNOWN", f"Unknown solver status {code!r}.", False)


def message(code: int) -> str:
    """The sentence describing status ``code``."""
    return row(code)[1]


def name(code: int) -> str:
    """The constant's name for status ``code``."""
    return row(code)[0]


def is_success(code: int) -> bool:
    """Whether status ``code`` means the solver converged."""
    return row(code)[2]
