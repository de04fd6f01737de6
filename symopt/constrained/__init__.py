"""Constrained optimisation (being built)."""
from .constraints import Constraint, parse_constraint, parse_constraints
from .problem import ConstrainedProblem
from .kernels import ConstrainedKernels, compile_constrained
from .minimize import METHODS, minimize, solver_options
from . import abi
