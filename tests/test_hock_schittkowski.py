"""The Hock-Schittkowski collection is transcribed right: cross-checks by evaluation.

No solver is involved.  Every published solution is evaluated in 40-digit arithmetic
(mpmath, through SymPy) from the collection's own formula text, read by symopt's safe
parser and constraint parser:

- it satisfies every constraint and bound to the precision of its printed digits (a
  first-order bound: the sum over variables of ``|dc/dx_j|`` times one unit of the last
  printed digit of ``x*_j``, doubled for the second-order terms);
- the objective there equals the published optimal value to the digits printed (the
  same bound, plus a unit of the last digit of ``f*``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import mpmath
import pytest
import sympy

from symopt import hock_schittkowski as hs
from symopt.constrained.constraints import parse_constraints
from symopt.parsing import make_symbol, parse_formula

NAMES = hs.names()


@lru_cache(maxsize=None)
def symbolic(name: str):
    """``(symbols, objective, constraints)`` of a problem, parsed by symopt."""
    p = hs.get(name)
    symbols = [make_symbol(v) for v in p.variables]
    local = dict(zip(p.variables, symbols))
    objective = parse_formula(p.objective, local_symbols=local)
    constraints = parse_constraints(list(p.constraints), local_symbols=local)
    return symbols, objective, constraints


def at_published_point(name: str, expr: sympy.Expr) -> tuple[float, float]:
    """``(value, first-order error bound)`` of ``expr`` at the published x*, in 40-digit
    arithmetic, the bound from one unit in the last printed digit of each x*_j."""
    p = hs.get(name)
    symbols, _, _ = symbolic(name)
    point = {s: sympy.sympify(t, rational=True) for s, t in zip(symbols, p.xstar)}
    with mpmath.workdps(40):
        value = float(sympy.N(expr.subs(point), 30))
        bound = 0.0
        for s, dx in zip(symbols, p.xstar_precision()):
            if dx:
                bound += abs(float(sympy.N(expr.diff(s).subs(point), 20))) * dx
    return value, 2.0 * bound + 1e-12 * max(1.0, abs(value))


def test_the_collection_holds_at_least_60_problems_of_every_kind():
    assert len(hs.PROBLEMS) >= 60
    assert len(set(NAMES)) == len(NAMES)
    kinds = [p.kinds for p in hs.PROBLEMS]
    equality_only = sum(1 for k in kinds if "equality" in k and "inequality" not in k)
    inequality_only = sum(1 for k in kinds if "inequality" in k and "equality" not in k)
    mixed = sum(1 for k in kinds if {"equality", "inequality"} <= k)
    bounds_only = sum(1 for k in kinds if k == {"bounds"})
    linear = sum(1 for k in kinds if "linear" in k)
    nonlinear = sum(1 for k in kinds if "nonlinear" in k)
    assert min(equality_only, inequality_only, mixed, bounds_only, linear, nonlinear) >= 5, (
        equality_only, inequality_only, mixed, bounds_only, linear, nonlinear)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_published_solution_is_feasible(name):
    p = hs.get(name)
    _, _, constraints = symbolic(name)
    assert len(p.x0) == len(p.xstar) == len(p.bounds) == p.n
    for c in constraints:
        value, bound = at_published_point(name, c.expr)
        violation = max(c.lower - value, value - c.upper, 0.0)
        assert violation <= bound, (c, value, violation, bound)
    for (lo, hi), x, dx in zip(p.bounds, p.xstar_values, p.xstar_precision()):
        # one published point (HS73's x2 = -0.12e-11) is outside its bound by rounding
        slack = dx + 1e-10
        assert lo is None or x >= lo - slack
        assert hi is None or x <= hi + slack


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_objective_at_published_solution_equals_published_value(name):
    p = hs.get(name)
    _, objective, _ = symbolic(name)
    value, bound = at_published_point(name, objective)
    assert abs(value - p.fstar_value) <= bound + p.fstar_precision(), (value, p.fstar)


def test_better_optima_than_published_are_lower_and_explained():
    better = [p for p in hs.PROBLEMS if p.fbest is not None]
    assert {p.number for p in better} == {106, 112, 116}
    for p in better:
        assert p.fbest_value < p.fstar_value
        assert "not optimal" in p.notes


@pytest.mark.parametrize("number", [106, 112, 116])
def test_the_better_points_are_feasible_and_reach_fbest(number):
    """The better optima are real: ``xbest`` is feasible and its objective is ``fbest``,
    to its printed digits."""
    p = hs.get(number)
    symbols, objective, constraints = symbolic(p.name)
    point = {s: sympy.sympify(t, rational=True) for s, t in zip(symbols, p.xbest)}
    precision = [hs._precision(t) for t in p.xbest]

    def value_and_bound(expr):
        with mpmath.workdps(40):
            value = float(sympy.N(expr.subs(point), 30))
            bound = sum(abs(float(sympy.N(expr.diff(s).subs(point), 20))) * dx
                        for s, dx in zip(symbols, precision))
        return value, 2.0 * bound + 1e-12 * max(1.0, abs(value))

    f, bound = value_and_bound(objective)
    assert abs(f - p.fbest_value) <= bound + hs._precision(p.fbest)
    for c in constraints:
        value, bound = value_and_bound(c.expr)
        assert max(c.lower - value, value - c.upper, 0.0) <= bound, c


def test_published_precision_is_the_last_printed_digit():
    p = hs.get(71)
    assert p.xstar_precision() == (0.0, 1e-7, 1e-7, 1e-7)
    assert p.fstar_precision() == pytest.approx(1e-7)
    assert hs.get(4).fstar_precision() == 0.0  # "8/3": exact
    assert hs.get(65).xstar_precision() == (1e-6, 1e-6, 1e-6)  # documented inaccuracy


def test_problems_are_found_by_name_or_number():
    assert hs.get(71) is hs.get("hs071") is hs.get("HS71")
    assert hs.get(71).name == "hs071" and hs.get(71).n == 4 and hs.get(71).m == 2
    assert hs.numbers()[0] == 1 and 109 not in hs.numbers()
    with pytest.raises(KeyError, match="unknown Hock-Schittkowski problem"):
        hs.get(58)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_standard_start_is_a_point_where_the_problem_is_defined(name):
    """f and the constraints are finite at the start (clipped into the bounds, as the
    solvers do): the transcription of x0 and bounds is consistent."""
    p = hs.get(name)
    symbols, objective, constraints = symbolic(name)
    x0 = [min(max(x, lo if lo is not None else -math.inf), hi if hi is not None else math.inf)
          for x, (lo, hi) in zip(p.x0, p.bounds)]
    point = dict(zip(symbols, (sympy.Float(v, 30) for v in x0)))
    for expr in [objective] + [c.expr for c in constraints]:
        value = complex(sympy.N(expr.subs(point), 15))
        assert value.imag == 0.0 and math.isfinite(value.real), (expr, value)
