"""symopt: formulas in, exact derivatives and compiled solvers out.

>>> import symopt as so
>>> p = so.Problem("(1 - x)**2 + 100*(y - x**2)**2")
>>> res = so.minimize(p, x0={"x": -1.2, "y": 1.0}, method="newton")
>>> res.success
True

Nothing is compiled at import: kernels compile (or load from the disk cache) on
:func:`compile` or the first :func:`minimize`; each solver compiles once per install.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import datasets, plot
from .compare import Comparison, compare
from .errors import (
    CacheError,
    CacheWarning,
    CompileError,
    FormulaError,
    FormulaWarning,
    InputError,
    MissingDependencyError,
    ProblemError,
    ShapeError,
    SymoptError,
    SymoptWarning,
)
from .fit import FitResult, FitWarning, fit
from .functions import sigmoid, softplus
from .kernels import Kernels, compile
from .many import BatchResult, minimize_many
from .minimize import minimize, solver_options
from .parsing import parse_formula
from .problem import DataLoss, LeastSquares, Problem
from .result import OptimizeResult
from .solvers.status import Status
from .vector import dot, symbols

__all__ = [
    "__version__",
    "datasets",
    "Problem",
    "LeastSquares",
    "DataLoss",
    "symbols",
    "dot",
    "sigmoid",
    "softplus",
    "fit",
    "FitResult",
    "FitWarning",
    "minimize",
    "minimize_many",
    "BatchResult",
    "compare",
    "Comparison",
    "solver_options",
    "compile",
    "Kernels",
    "OptimizeResult",
    "Status",
    "METHODS",
    "parse_formula",
    "plot",
    "SymoptError",
    "FormulaError",
    "ProblemError",
    "InputError",
    "ShapeError",
    "CompileError",
    "MissingDependencyError",
    "CacheError",
    "SymoptWarning",
    "FormulaWarning",
    "CacheWarning",
]


def __getattr__(name: str):
    # METHODS follows the method registry (symopt.solvers.registry), so a method
    # registered after import is listed too
    if name == "METHODS":
        from .solvers import registry

        return registry.names("scalar", "least_squares")
    raise AttributeError(f"module 'symopt' has no attribute {name!r}")
