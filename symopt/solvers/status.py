"""How a solve ended: one table of status codes, their names and their messages.

The codes are plain module-level integers, so compiled solvers use them as constants;
the table and the helpers below are plain Python for building the result.  Codes below
:data:`FIRST_FAILURE` are successes.
"""

from __future__ import annotations

__all__ = [
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
    "FIRST_FAILURE",
    "TABLE",
    "message",
    "name",
    "is_success",
]

#: Internal: the termination test's answer "not finished, iterate again".  Never reported.
CONTINUE = -1

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
#: Mini-batch training (symopt.stochastic) ends after a number of epochs, not on a
#: convergence test: its codes form a block of their own from here, so the solvers' codes
#: stay contiguous (successes below FIRST_FAILURE, then failures).
FIRST_MINIBATCH = 20
EPOCHS_DONE = 20
EARLY_STOPPED = 21

#: Codes below this one are successes (among the solvers' codes, below FIRST_MINIBATCH).
FIRST_FAILURE = MAX_ITER

#: code -> (NAME, message, success)
TABLE: dict[int, tuple[str, str, bool]] = {
    SUCCESS_GTOL: (
        "SUCCESS_GTOL",
        "Optimization terminated successfully: the gradient norm is below gtol.",
        True,
    ),
    SUCCESS_FTOL: (
        "SUCCESS_FTOL",
        "Optimization terminated successfully: the relative reduction of f is below ftol "
        "(or below the rounding errors of f).",
        True,
    ),
    SUCCESS_XTOL: (
        "SUCCESS_XTOL",
        "Optimization terminated successfully: the step is below xtol relative to x.",
        True,
    ),
    MAX_ITER: (
        "MAX_ITER",
        "The iteration limit max_iter was reached before convergence.",
        False,
    ),
    LINE_SEARCH_FAILED: (
        "LINE_SEARCH_FAILED",
        "The line search could not find a step that decreases f sufficiently "
        "(the gradient may be inaccurate, or f is at the limit of its precision).",
        False,
    ),
    NAN_ENCOUNTERED: (
        "NAN_ENCOUNTERED",
        "f or its gradient was NaN or Inf and the solver could not step back to finite "
        "values (or a hand-written kernel raised an exception).",
        False,
    ),
    HESSIAN_NOT_PD: (
        "HESSIAN_NOT_PD",
        "The Hessian could not be made positive definite by adding a multiple of the "
        "identity (it may contain NaN or Inf).",
        False,
    ),
    INVALID_INPUT: (
        "INVALID_INPUT",
        "The arrays passed to the solver have inconsistent sizes; nothing was computed.",
        False,
    ),
    TRUST_REGION_COLLAPSED: (
        "TRUST_REGION_COLLAPSED",
        "The trust-region radius shrank below the rounding level of x without an "
        "acceptable step (the quadratic model disagrees with f: inaccurate derivatives, "
        "or f at the limit of its precision).",
        False,
    ),
    OVERFLOW: (
        "OVERFLOW",
        "f, its derivatives or the step computed from them overflowed (Inf: beyond the "
        "double range), so no convergence test can hold; rescale the problem (its "
        "variables, residuals or data) so that f stays within about 1e300.",
        False,
    ),
    PROBABLY_UNBOUNDED: (
        "PROBABLY_UNBOUNDED",
        "f decreased without bound (by more than 1e20 times its starting size while still "
        "falling as fast as x grows, or to -Inf): the problem is probably unbounded below; "
        "x is where the solver stopped, not a minimiser.",
        False,
    ),
    EPOCHS_DONE: (
        "EPOCHS_DONE",
        "Mini-batch training ran the requested number of epochs.",
        True,
    ),
    EARLY_STOPPED: (
        "EARLY_STOPPED",
        "Mini-batch training stopped early: the validation loss did not improve for "
        "`patience` epochs; x is the point with the best validation loss.",
        True,
    ),
}


def _row(code: int) -> tuple[str, str, bool]:
    try:
        return TABLE[int(code)]
    except (KeyError, TypeError, ValueError):
        return ("UNKNOWN", f"Unknown solver status {code!r}.", False)


def message(code: int) -> str:
    """The sentence describing status ``code``."""
    return _row(code)[1]


def name(code: int) -> str:
    """The constant's name for status ``code``, e.g. ``"SUCCESS_GTOL"``."""
    return _row(code)[0]


def is_success(code: int) -> bool:
    """Whether status ``code`` means the solver converged."""
    return _row(code)[2]
