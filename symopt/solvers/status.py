"""How a solve ended: one status enumeration, one message table, one success test.

:class:`Status` is the one list of codes of every symopt solver: the scalar and
least-squares solvers (0-10), mini-batch training (20-21), data in chunks
(:mod:`symopt.chunked`, 30-31) and the constrained methods (40-44; their ``CONVERGED``
and ``ACCEPTABLE`` are the codes 0 and 1 under the names the constrained methods use).
:data:`MESSAGES` holds each code's sentence; a few codes are worded differently for one
*family* of solvers (a constrained solve's ``MAX_ITER`` speaks of the KKT conditions, a
batch's ``INVALID_INPUT`` of NaN input), and those variants are rows of the same table,
keyed ``(code, family)``.  Success depends on the code alone (:data:`SUCCESSES`).

The module-level integers (``MAX_ITER``, ...) are plain ``int`` aliases of the members,
so compiled solvers compare with constants Numba folds; results carry ``status`` as a
plain ``int`` too (scipy's convention; ``Status(res.status)`` names it).

Examples
--------
>>> from symopt.solvers.status import Status, is_success, name
>>> Status(3).name
'MAX_ITER'
>>> is_success(Status.SUCCESS_FTOL), is_success(3)
(True, False)
>>> name(0, "constrained")
'CONVERGED'
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = [
    "Status",
    "CONTINUE",
    "SUCCESS_GTOL",
    "SUCCESS_FTOL",
    "SUCCESS_XTOL",
    "MAX_ITER",
    "LINE_SEARCH_FAILED",
    "NAN_ENCOUNTERED",
    "HESSIAN_NOT_PD",
    "INVALID_INPUT",
    "TRUST_REGION_COLLAPSED",
    "OVERFLOW",
    "PROBABLY_UNBOUNDED",
    "FIRST_MINIBATCH",
    "EPOCHS_DONE",
    "EARLY_STOPPED",
    "DATA_ERROR",
    "EVALUATION_FAILED",
    "CONVERGED",
    "ACCEPTABLE",
    "INFEASIBLE",
    "UNBOUNDED",
    "RESTORATION_FAILED",
    "STEP_FAILED",
    "SUBPROBLEM_FAILED",
    "FIRST_FAILURE",
    "FAMILIES",
    "MESSAGES",
    "SUCCESSES",
    "TABLE",
    "table",
    "row",
    "message",
    "name",
    "is_success",
    "success_mask",
]


class Status(IntEnum):
    """Every status code of symopt's solvers (values are part of the API: never renumber)."""

    #: internal: the termination test's answer "not finished, iterate again"; never reported
    CONTINUE = -1
    # the scalar and least-squares solvers: successes below FIRST_FAILURE, then failures
    SUCCESS_GTOL = 0
    SUCCESS_FTOL = 1
    SUCCESS_XTOL = 2
    MAX_ITER = 3
    LINE_SEARCH_FAILED = 4
    NAN_ENCOUNTERED = 5
    HESSIAN_NOT_PD = 6
    INVALID_INPUT = 7
    TRUST_REGION_COLLAPSED = 8
    OVERFLOW = 9
    PROBABLY_UNBOUNDED = 10
    # mini-batch training ends after a number of epochs, not on a convergence test
    EPOCHS_DONE = 20
    EARLY_STOPPED = 21
    # symopt.chunked: the data, not the numerics, stopped the solve
    DATA_ERROR = 30
    EVALUATION_FAILED = 31
    # the constrained methods (symopt.constrained)
    INFEASIBLE = 40
    UNBOUNDED = 41
    RESTORATION_FAILED = 42
    STEP_FAILED = 43
    SUBPROBLEM_FAILED = 44
    # the constrained methods' names of 0 and 1 (aliases: Status(0) is SUCCESS_GTOL)
    CONVERGED = 0
    ACCEPTABLE = 1


# Plain-int aliases: compiled code and existing callers use these (Numba folds them as
# int64 constants; an IntEnum member would be typed as an enum).
CONTINUE = Status.CONTINUE.value
SUCCESS_GTOL = Status.SUCCESS_GTOL.value
SUCCESS_FTOL = Status.SUCCESS_FTOL.value
SUCCESS_XTOL = Status.SUCCESS_XTOL.value
MAX_ITER = Status.MAX_ITER.value
LINE_SEARCH_FAILED = Status.LINE_SEARCH_FAILED.value
NAN_ENCOUNTERED = Status.NAN_ENCOUNTERED.value
HESSIAN_NOT_PD = Status.HESSIAN_NOT_PD.value
INVALID_INPUT = Status.INVALID_INPUT.value
TRUST_REGION_COLLAPSED = Status.TRUST_REGION_COLLAPSED.value
OVERFLOW = Status.OVERFLOW.value
PROBABLY_UNBOUNDED = Status.PROBABLY_UNBOUNDED.value
#: mini-batch codes form a block of their own from here, so the solvers' codes stay
#: contiguous (successes below FIRST_FAILURE, then failures)
FIRST_MINIBATCH = 20
EPOCHS_DONE = Status.EPOCHS_DONE.value
EARLY_STOPPED = Status.EARLY_STOPPED.value
DATA_ERROR = Status.DATA_ERROR.value
EVALUATION_FAILED = Status.EVALUATION_FAILED.value
CONVERGED = Status.CONVERGED.value
ACCEPTABLE = Status.ACCEPTABLE.value
INFEASIBLE = Status.INFEASIBLE.value
UNBOUNDED = Status.UNBOUNDED.value
RESTORATION_FAILED = Status.RESTORATION_FAILED.value
STEP_FAILED = Status.STEP_FAILED.value
SUBPROBLEM_FAILED = Status.SUBPROBLEM_FAILED.value

#: Codes below this one are successes (among the solvers' codes, below FIRST_MINIBATCH).
FIRST_FAILURE = MAX_ITER

#: the codes that mean the solve reached what it was asked for
SUCCESSES = frozenset({Status.SUCCESS_GTOL, Status.SUCCESS_FTOL, Status.SUCCESS_XTOL,
                       Status.EPOCHS_DONE, Status.EARLY_STOPPED})

#: the solver families whose names or messages differ for some codes
FAMILIES = (None, "constrained", "batch")

#: code -> message, and (code, family) -> the family's own wording of that code
MESSAGES: dict[Status | tuple[Status, str], str] = {
    Status.SUCCESS_GTOL:
        "Optimization terminated successfully: the gradient norm is below gtol.",
    Status.SUCCESS_FTOL:
        "Optimization terminated successfully: the relative reduction of f is below ftol "
        "(or below the rounding errors of f).",
    Status.SUCCESS_XTOL:
        "Optimization terminated successfully: the step is below xtol relative to x.",
    Status.MAX_ITER:
        "The iteration limit max_iter was reached before convergence.",
    Status.LINE_SEARCH_FAILED:
        "The line search could not find a step that decreases f sufficiently "
        "(the gradient may be inaccurate, or f is at the limit of its precision).",
    Status.NAN_ENCOUNTERED:
        "f or its gradient was NaN or Inf and the solver could not step back to finite "
        "values (or a hand-written kernel raised an exception).",
    Status.HESSIAN_NOT_PD:
        "The Hessian could not be made positive definite by adding a multiple of the "
        "identity (it may contain NaN or Inf).",
    Status.INVALID_INPUT:
        "The arrays passed to the solver have inconsistent sizes; nothing was computed.",
    Status.TRUST_REGION_COLLAPSED:
        "The trust-region radius shrank below the rounding level of x without an "
        "acceptable step (the quadratic model disagrees with f: inaccurate derivatives, "
        "or f at the limit of its precision).",
    Status.OVERFLOW:
        "f, its derivatives or the step computed from them overflowed (Inf: beyond the "
        "double range), so no convergence test can hold; rescale the problem (its "
        "variables, residuals or data) so that f stays within about 1e300.",
    Status.PROBABLY_UNBOUNDED:
        "f decreased without bound (by more than 1e20 times its starting size while still "
        "falling as fast as x grows, or to -Inf): the problem is probably unbounded below; "
        "x is where the solver stopped, not a minimiser.",
    Status.EPOCHS_DONE:
        "Mini-batch training ran the requested number of epochs.",
    Status.EARLY_STOPPED:
        "Mini-batch training stopped early: the validation loss did not improve for "
        "`patience` epochs; x is the point with the best validation loss.",
    Status.DATA_ERROR:
        "A chunk of the data could not be used; the solve stopped at the last "
        "accepted iterate.",
    Status.EVALUATION_FAILED:
        "An evaluation over the chunks failed; the solve stopped at the last "
        "accepted iterate.",
    Status.INFEASIBLE:
        "The problem looks infeasible: the solver converged to a point that locally "
        "minimises the constraint violation without reaching zero violation.",
    Status.UNBOUNDED:
        "The problem looks unbounded: at a feasible point the objective fell twelve orders "
        "of magnitude below its start value (f < -1e12 max(1, |f(x0)|)), or the iterates "
        "diverged (|x| above 1e20).",
    Status.RESTORATION_FAILED:
        "The line search could not find an acceptable step and the feasibility restoration "
        "phase could not find a less infeasible point acceptable to the filter.",
    Status.STEP_FAILED:
        "The KKT system could not be solved, even with the largest regularisation (the "
        "derivatives may be NaN or Inf).",
    Status.SUBPROBLEM_FAILED:
        "The augmented Lagrangian's bound-constrained subproblem could not be solved (its "
        "L-BFGS-B solve failed at the start).",
    # the constrained methods' wording
    (Status.CONVERGED, "constrained"):
        "Optimization terminated successfully: the KKT conditions hold to tol (stationary, "
        "feasible to constr_tol, complementary).",
    (Status.ACCEPTABLE, "constrained"):
        "Optimization terminated at an acceptable point: feasible to constr_tol and "
        "stationary to 1e3*tol, but no further progress was possible (rounding errors "
        "dominate, or the constraint gradients are dependent at the solution).",
    (Status.MAX_ITER, "constrained"):
        "The iteration limit max_iter was reached before the KKT conditions held.",
    (Status.LINE_SEARCH_FAILED, "constrained"):
        "The line search on the l1 merit function could not find a step that decreases it "
        "(the derivatives may be inaccurate, or the merit function is at the limit of its "
        "precision).",
    (Status.NAN_ENCOUNTERED, "constrained"):
        "f, the constraints or their derivatives were NaN or Inf at the start, or at every "
        "point the solver could step back to (or a hand-written kernel raised).",
    (Status.INVALID_INPUT, "constrained"):
        "The arrays passed to the solver have inconsistent sizes, or a lower bound is above "
        "its upper bound; nothing was computed.",
    # minimize_many: INVALID_INPUT is how a problem with NaN/Inf input is reported (a
    # single minimize raises InputError instead)
    (Status.INVALID_INPUT, "batch"):
        "This problem was not solved: its start x0, its parameters or its data contain "
        "NaN or Inf (or it has no data rows, or a sigma that is not > 0).",
}

#: the names a family gives a code when they differ from the member's name
_NAMES = {(Status.CONVERGED, "constrained"): "CONVERGED",
          (Status.ACCEPTABLE, "constrained"): "ACCEPTABLE"}

#: the codes each family reports (the default family: every code that is not
#: constrained-only; the constrained family: the codes shared with it and 40-44)
_FAMILY_CODES = {
    None: tuple(s for s in Status if 0 <= s < Status.INFEASIBLE),
    "constrained": (Status.CONVERGED, Status.ACCEPTABLE, Status.MAX_ITER,
                    Status.LINE_SEARCH_FAILED, Status.NAN_ENCOUNTERED, Status.INVALID_INPUT,
                    Status.INFEASIBLE, Status.UNBOUNDED, Status.RESTORATION_FAILED,
                    Status.STEP_FAILED, Status.SUBPROBLEM_FAILED),
    "batch": tuple(s for s in Status if 0 <= s < FIRST_MINIBATCH),
}


def _member(code) -> Status | None:
    try:
        return Status(int(code))
    except (TypeError, ValueError, OverflowError):
        return None


def row(code, family: str | None = None) -> tuple[str, str, bool]:
    """``(name, message, success)`` of status ``code`` as solvers of ``family`` report it
    (``None``: the scalar, least-squares, mini-batch and chunked solvers;
    ``"constrained"``; ``"batch"``: :func:`symopt.minimize_many`)."""
    member = _member(code)
    if member is None or member is Status.CONTINUE:
        return ("UNKNOWN", f"Unknown solver status {code!r}.", False)
    return (_NAMES.get((member, family), member.name),
            MESSAGES.get((member, family)) or MESSAGES[member],
            member in SUCCESSES)


def message(code, family: str | None = None) -> str:
    """The sentence describing status ``code``."""
    return row(code, family)[1]


def name(code, family: str | None = None) -> str:
    """The constant's name for status ``code``, e.g. ``"SUCCESS_GTOL"``."""
    return row(code, family)[0]


def is_success(code) -> bool:
    """Whether status ``code`` means the solver converged (or training finished)."""
    return _member(code) in SUCCESSES


def success_mask(codes: np.ndarray) -> np.ndarray:
    """:func:`is_success` of an integer array of codes, element-wise."""
    return np.isin(codes, np.fromiter(SUCCESSES, dtype=np.int64, count=len(SUCCESSES)))


def table(family: str | None = None) -> dict[int, tuple[str, str, bool]]:
    """``{code: (name, message, success)}`` of the codes ``family`` reports, derived from
    :class:`Status` and :data:`MESSAGES`."""
    return {int(code): row(code, family) for code in _FAMILY_CODES[family]}


#: code -> (NAME, message, success) of the unconstrained solvers (derived: :func:`table`)
TABLE: dict[int, tuple[str, str, bool]] = table()
