"""The exceptions symopt raises: one small family under :class:`SymoptError`.

Every error a user can cause (bad formula text, a badly defined problem, inputs of
the wrong shape or with NaN) raises one of these, with a message that says what was
wrong, where, and what would be right.  Solvers never raise for numerical trouble:
they report it through ``OptimizeResult.status`` and ``message``.
"""

from __future__ import annotations

__all__ = [
    "SymoptError",
    "FormulaError",
    "ProblemError",
    "InputError",
    "ShapeError",
    "CompileError",
    "MissingDependencyError",
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


class MissingDependencyError(SymoptError, ImportError):
    """An optional dependency is needed for this feature; the message names the extra."""
