"""The exceptions symopt raises: one small family under :class:`SymoptError`.

Every error a user can cause (bad formula text, a badly defined problem, inputs of
the wrong shape or with NaN) raises one of these, with a message that says what was
wrong, where, and what would be right.  Solvers never raise for numerical trouble:
they report it through ``OptimizeResult.status`` and ``message``.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = [
    "SymoptError",
    "FormulaError",
    "ProblemError",
    "InputError",
    "ShapeError",
    "CompileError",
    "CacheError",
    "MissingDependencyError",
    "SymoptWarning",
    "FormulaWarning",
    "CacheWarning",
    "warn",
]


class SymoptError(Exception):
    """Base class of every error symopt raises on purpose."""


class FormulaError(SymoptError, ValueError):
    """Formula text that is unsafe, malformed, or uses a name that is not allowed.

    Attributes
    ----------
    text : str
        The formula text as given.
    offset : int or None
        Column (0-based) of the offending part, when known.
    """

    def __init__(self, message: str, text: str | None = None, offset: int | None = None):
        self.text = text
        self.offset = offset
        if text is not None and offset is not None and "\n" not in text and len(text) <= 200:
            message = f"{message}\n    {text}\n    {' ' * offset}^"
        super().__init__(message)


class ProblemError(SymoptError, ValueError):
    """A problem that cannot be built: no variables, a non-scalar loss, an unknown name, ..."""


class InputError(SymoptError, ValueError):
    """A value passed at solve time is wrong: unknown or missing names, NaN or Inf."""


class ShapeError(InputError):
    """An array has the wrong length or shape."""


class CompileError(SymoptError, RuntimeError):
    """Generating or compiling kernels failed (a bug in symopt: please report it)."""


class CacheError(SymoptError, OSError):
    """The kernel cache cannot be used at all: its folder is unusable and no private
    temporary folder can be made either (an unusable folder alone only warns, with
    :class:`CacheWarning`, and symopt carries on in a temporary folder)."""


class MissingDependencyError(SymoptError, ImportError):
    """An optional dependency is needed for this feature; the message names the extra."""


class SymoptWarning(UserWarning):
    """Base class of the warnings symopt issues: something works, but not as you may think."""


class FormulaWarning(SymoptWarning):
    """Formula text that parses but is probably not what was meant (e.g. two look-alike
    letters of different scripts, Cyrillic 'а' and Latin 'a', in one formula)."""


class CacheWarning(SymoptWarning):
    """The kernel cache needed repair (damaged files discarded) or could not be used (a
    private temporary folder is used instead); the message says which folder and why."""


def warn(message: str, category: type[Warning]) -> None:
    """Issue a warning attributed to the first caller outside the symopt package (the
    user's line that led to it), not to symopt's own code."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        level += 1
        frame = frame.f_back
    warnings.warn(message, category, stacklevel=level)
