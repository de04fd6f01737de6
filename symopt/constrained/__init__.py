"""Constrained optimisation (placeholder while the package is built)."""
from .constraints import Constraint, parse_constraint, parse_constraints
