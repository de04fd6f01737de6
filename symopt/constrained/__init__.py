"""Constrained optimisation: minimise an objective subject to equality and inequality
constraints written as formulas, with exact derivatives.

>>> from symopt.constrained import minimize
>>> res = minimize("(x - 1)**2 + (y - 2)**2", {"x": 0, "y": 0},
...                constraints=["x + y == 1", "x >= 0.5"])
>>> res.success, [round(float(v), 6) for v in res.x]
(True, [0.5, 0.5])

- :mod:`.constraints`: constraint text and SymPy relations -> ``cl <= c(x) <= cu``;
- :class:`ConstrainedProblem`: the objective, the constraints, their exact derivatives
  (constraint Jacobian, Hessian of the Lagrangian) and their display;
- :func:`compile_constrained`: the compiled kernels (:mod:`.abi` lists their signatures);
- the compiled methods: :mod:`.interior_point` (``"ipm"``, the default),
  :mod:`.augmented_lagrangian` (``"auglag"``), :mod:`.kkt` (``"kkt"``, the direct KKT path
  of equality-constrained problems); each a Numba function with the explicit signature
  :data:`.abi.solver_sig`, callable from user ``@numba.njit`` code;
- :func:`minimize` and :func:`minimize_many` (many problems at once, in parallel).

Nothing is compiled at import: a method compiles (or loads from Numba's disk cache) on
first use.
"""

from . import abi
from .constraints import Constraint, parse_constraint, parse_constraints
from .kernels import ConstrainedKernels, compile_constrained
from .many import ConstrainedBatchResult, minimize_many
from .minimize import METHODS, minimize, select_method, solver_options
from .problem import BoundConstraint, ConstrainedProblem
from .status import TABLE as STATUS

__all__ = [
    "abi",
    "Constraint",
    "parse_constraint",
    "parse_constraints",
    "ConstrainedProblem",
    "BoundConstraint",
    "ConstrainedKernels",
    "compile_constrained",
    "minimize",
    "minimize_many",
    "ConstrainedBatchResult",
    "METHODS",
    "select_method",
    "solver_options",
    "STATUS",
]
