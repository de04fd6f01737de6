"""The Hock-Schittkowski collection of constrained test problems.

W. Hock and K. Schittkowski, *Test Examples for Nonlinear Programming Codes*, Lecture
Notes in Economics and Mathematical Systems 187, Springer, 1981 (here "HS"), with the
corrections of K. Schittkowski, *More Test Examples for Nonlinear Programming Codes*,
LNEMS 282, Springer, 1987.

Every problem is formula text in the variables ``x1 .. xn``: an objective, a list of
constraints written as relations (``"x1*x2 >= 1"``, ``"x1 - 2*x2 == -1"``,
``"0 <= g <= 92"``, read by :mod:`symopt.constrained.constraints`), box bounds, the
standard start ``x0``, and the published solution: ``xstar`` and ``fstar`` as the text
the book prints (digits as published; closed forms such as ``"sqrt(250)"`` where HS
give one).  The precision of a published number is the unit of its last printed digit:
:meth:`HSProblem.xstar_precision` and :meth:`HSProblem.fstar_precision` derive it from
the text, so the tests check feasibility and ``f(x*) = f*`` "to the published digits"
(tests/test_hock_schittkowski.py).

Data constants the book defines by a formula (HS25's ``u_i``, HS107's ``c`` and ``d``)
are written as the correctly rounded double of the exact value, in positional decimal
notation.  Where a source encoding disagrees with the book (CUTE's HS59 objective, the
AMPL models' HS20 and HS30 comments), the book wins; ``notes`` says where a published
value was corrected and why.

The normal distribution function of HS68/HS69 is written with ``erf``:
``Phi(t) = (1 + erf(t/sqrt(2)))/2``.

Held: 101 of the book's 119 problems (1-53, 55-57, 60-66, 68, 69, 71-81, 83, 84, 86, 93,
95-98, 100-108, 110-114, 116-119).  Left out: 54 and 59 (the book's and the CUTE
formulations differ), 67 and 85 (defined by an iterative or tabulated procedure), 70,
87 (non-smooth), 88-92 (integrals of series), 99 (a recursion), 105 (235 data rows),
109 (the book's x* does not satisfy the constraints as CUTE and AMPL write them: the
last equality is off by 2.3e3), and 58, 82, 94, 115, which the book does not contain.

This module is test infrastructure and trusted text: :meth:`HSProblem.evaluate` reads
it with SymPy and mpmath for the cross-checks, independently of symopt's kernels.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

__all__ = ["HSProblem", "PROBLEMS", "get", "names", "numbers"]

Bound = tuple  # (lower or None, upper or None)


@dataclass(frozen=True, eq=False)
class HSProblem:
    """One Hock-Schittkowski problem as formula text.

    Attributes
    ----------
    number : int
        The problem's number in the book.
    objective : str
        ``f(x1, .., xn)``.
    constraints : tuple of str
        Relations, read by :func:`symopt.constrained.parse_constraints`.
    bounds : tuple of (lower, upper)
        One pair per variable, ``None`` for an open side.
    x0 : tuple of float
        The standard start.
    xstar : tuple of str
        The published solution, as printed (or a closed form).
    fstar : str
        The published optimal value, as printed (or a closed form).
    notes : str
        Sources, corrections and remarks.
    fbest : str or None
        A better optimal value than the published one, where one is known: the book's
        point is feasible but not optimal (HS106, HS112, HS116; ``notes`` gives the
        better point and how it was found).  ``None``: the published value is the best
        known.
    xbest : tuple of str or None
        The better point, where ``fbest`` is given (as found; ``notes`` says how).
    xstar_tolerance : float
        Where the published ``xstar`` is less accurate than its printed digits (HS65),
        how far it may be from a point where ``f = fstar`` (absolute, per entry).
    fstar_tolerance : float
        Where the printed ``fstar`` disagrees with ``f`` at the published ``xstar`` by
        more than its last digit (HS95, HS96), by how much at most (absolute).
    """

    __test__ = False  # not a pytest test class

    number: int
    objective: str
    constraints: tuple[str, ...]
    bounds: tuple[Bound, ...]
    x0: tuple[float, ...]
    xstar: tuple[str, ...]
    fstar: str
    notes: str = ""
    fbest: str | None = None
    xbest: tuple[str, ...] | None = None
    xstar_tolerance: float = 0.0
    fstar_tolerance: float = 0.0

    @property
    def name(self) -> str:
        """``"hs071"`` and so on."""
        return f"hs{self.number:03d}"

    @property
    def n(self) -> int:
        """Number of variables."""
        return len(self.x0)

    @property
    def variables(self) -> tuple[str, ...]:
        """``("x1", .., "xn")``."""
        return tuple(f"x{j}" for j in range(1, self.n + 1))

    @property
    def m(self) -> int:
        """Number of constraints (relations; a double-sided one counts once)."""
        return len(self.constraints)

    @property
    def bounds_dict(self) -> dict[str, tuple]:
        """The bounds by variable name, only for the bounded variables."""
        return {v: b for v, b in zip(self.variables, self.bounds) if b != (None, None)}

    @property
    def has_bounds(self) -> bool:
        return any(b != (None, None) for b in self.bounds)

    @property
    def fstar_value(self) -> float:
        """The published optimal value as a float."""
        return float(_evaluate_text(self.fstar))

    @property
    def fbest_value(self) -> float:
        """The best known optimal value: ``fbest`` when given, else ``fstar``.  What a
        solver's result is compared with."""
        return float(_evaluate_text(self.fbest or self.fstar))

    @property
    def xstar_values(self) -> tuple[float, ...]:
        """The published solution as floats."""
        return tuple(float(_evaluate_text(t)) for t in self.xstar)

    def fstar_precision(self) -> float:
        """One unit of the last printed digit of ``fstar`` (0 for a closed form), or
        :attr:`fstar_tolerance` where that is larger."""
        return max(_precision(self.fstar), self.fstar_tolerance)

    def xstar_precision(self) -> tuple[float, ...]:
        """One unit of the last printed digit of each entry of ``xstar`` (0 for an
        integer or a closed form), or :attr:`xstar_tolerance` where that is larger."""
        return tuple(max(_precision(t), self.xstar_tolerance) for t in self.xstar)

    @cached_property
    def kinds(self) -> frozenset[str]:
        """Which of ``"equality"``, ``"inequality"``, ``"bounds"`` the problem has,
        plus ``"linear"`` when every constraint is linear and ``"nonlinear"`` when one
        is not (read from the constraints, not declared)."""
        from .constrained.constraints import parse_constraints

        out = set()
        if self.has_bounds:
            out.add("bounds")
        linear = True
        for c in parse_constraints(self.constraints):
            out.add("equality" if c.is_equality else "inequality")
            if any(c.expr.diff(s).free_symbols for s in c.expr.free_symbols):
                linear = False
        if self.constraints:
            out.add("linear" if linear else "nonlinear")
        return frozenset(out)


def _evaluate_text(text: str):
    """A trusted closed form (``"sqrt(250)"``, ``"8/3"``) as an mpmath number, at 40
    digits."""
    import mpmath
    import sympy

    with mpmath.workdps(40):
        return sympy.sympify(text, rational=True).evalf(40)


_DECIMAL = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _precision(text: str) -> float:
    """One unit in the last printed digit of a decimal literal (HS print some numbers
    rounded and some truncated); 0 for an integer literal or a closed form (exact)."""
    if not _DECIMAL.match(text) or ("." not in text and "e" not in text.lower()):
        return 0.0
    exponent = Decimal(text.strip()).as_tuple().exponent
    return 10.0 ** exponent


# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------

_FREE = (None, None)


def _num(v: float) -> str:
    """A float as positional text with the shortest round-trip digits."""
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v)) if "e" not in repr(float(v)) else f"{float(v):.17f}".rstrip("0")


def _signed_terms(terms: list[tuple[float, str]]) -> str:
    """``c1*t1 + c2*t2 ...`` with signs folded (terms with a zero coefficient dropped)."""
    out = ""
    for c, t in terms:
        if c == 0:
            continue
        if t == "1":
            body = _num(abs(c))
        else:
            body = t if abs(c) == 1 else f"{_num(abs(c))}*{t}"
        if not out:
            out = body if c > 0 else f"-{body}"
        else:
            out += f" + {body}" if c > 0 else f" - {body}"
    return out or "0"


def _p(number, objective, constraints, bounds, x0, xstar, fstar, notes="", fbest=None,
       xbest=None, xstar_tolerance=0.0, fstar_tolerance=0.0):
    x0 = tuple(float(_evaluate_text(v)) if isinstance(v, str) else float(v) for v in x0)
    n = len(x0)
    if bounds is None:
        bounds = (_FREE,) * n
    bounds = tuple(tuple(b) for b in bounds)
    if len(bounds) != n or len(xstar) != n:
        raise AssertionError(f"hs{number}: sizes of x0, bounds and xstar differ")
    return HSProblem(number, objective, tuple(constraints), bounds, x0, tuple(xstar), fstar,
                     notes, fbest, None if xbest is None else tuple(xbest), xstar_tolerance,
                     fstar_tolerance)


ROSENBROCK = "100*(x2 - x1**2)**2 + (1 - x1)**2"


# ---------------------------------------------------------------------------
# The problems
# ---------------------------------------------------------------------------


def _hs001_024():
    return [
        _p(1, ROSENBROCK, [], [_FREE, (-1.5, None)], (-2, 1), ("1", "1"), "0"),
        _p(2, ROSENBROCK, [], [_FREE, (1.5, None)], (-2, 1), ("1.224370749", "1.5"),
           "0.0504261879"),
        _p(3, "x2 + 0.00001*(x2 - x1)**2", [], [_FREE, (0, None)], (10, 1), ("0", "0"), "0"),
        _p(4, "(x1 + 1)**3/3 + x2", [], [(1, None), (0, None)], (1.125, 0.125), ("1", "0"),
           "8/3"),
        _p(5, "sin(x1 + x2) + (x1 - x2)**2 - 1.5*x1 + 2.5*x2 + 1", [],
           [(-1.5, 4), (-3, 3)], (0, 0), ("-pi/3 + 1/2", "-pi/3 - 1/2"),
           "-sqrt(3)/2 - pi/3"),
        _p(6, "(1 - x1)**2", ["10*(x2 - x1**2) == 0"], None, (-1.2, 1), ("1", "1"), "0"),
        _p(7, "log(1 + x1**2) - x2", ["(1 + x1**2)**2 + x2**2 - 4 == 0"], None, (2, 2),
           ("0", "sqrt(3)"), "-sqrt(3)"),
        _p(8, "-1", ["x1**2 + x2**2 - 25 == 0", "x1*x2 - 9 == 0"], None, (2, 1),
           ("sqrt((25 + sqrt(301))/2)", "9/sqrt((25 + sqrt(301))/2)"), "-1",
           "The objective is constant: a feasibility problem. HS give four solutions "
           "(+-4.601594, +-1.955843) and the swapped pair; the one in the first quadrant "
           "is stored, in closed form."),
        _p(9, "sin(pi*x1/12)*cos(pi*x2/16)", ["4*x1 - 3*x2 == 0"], None, (0, 0),
           ("-3", "-4"), "-0.5",
           "Minimisers (12k - 3, 16k - 4) for every integer k; k = 0 is stored."),
        _p(10, "x1 - x2", ["-3*x1**2 + 2*x1*x2 - x2**2 + 1 >= 0"], None, (-10, 10),
           ("0", "1"), "-1"),
        _p(11, "(x1 - 5)**2 + x2**2 - 25", ["-x1**2 + x2 >= 0"], None, (4.9, 0.1),
           ("1.234779", "1.524679"), "-8.498464223"),
        _p(12, "0.5*x1**2 + x2**2 - x1*x2 - 7*x1 - 7*x2", ["25 - 4*x1**2 - x2**2 >= 0"],
           None, (0, 0), ("2", "3"), "-30"),
        _p(13, "(x1 - 2)**2 + x2**2", ["(1 - x1)**3 - x2 >= 0"], [(0, None), (0, None)],
           (-2, -2), ("1", "0"), "1",
           "The constraint qualification fails at x* (the gradients of the active "
           "constraints are dependent): the KKT conditions do not hold there."),
        _p(14, "(x1 - 2)**2 + (x2 - 1)**2", ["-0.25*x1**2 - x2**2 + 1 >= 0",
                                              "x1 - 2*x2 + 1 == 0"], None, (2, 2),
           ("(sqrt(7) - 1)/2", "(sqrt(7) + 1)/4"), "9 - 23*sqrt(7)/8"),
        _p(15, ROSENBROCK, ["x1*x2 - 1 >= 0", "x1 + x2**2 >= 0"], [(None, 0.5), _FREE],
           (-2, 1), ("0.5", "2"), "306.5"),
        _p(16, ROSENBROCK, ["x1 + x2**2 >= 0", "x1**2 + x2 >= 0"], [(-0.5, 0.5), (None, 1)],
           (-2, 1), ("0.5", "0.25"), "0.25"),
        _p(17, ROSENBROCK, ["x2**2 - x1 >= 0", "x1**2 - x2 >= 0"], [(-0.5, 0.5), (None, 1)],
           (-2, 1), ("0", "0"), "1"),
        _p(18, "0.01*x1**2 + x2**2", ["x1*x2 - 25 >= 0", "x1**2 + x2**2 - 25 >= 0"],
           [(2, 50), (0, 50)], (2, 2), ("sqrt(250)", "sqrt(2.5)"), "5"),
        _p(19, "(x1 - 10)**3 + (x2 - 20)**3",
           ["(x1 - 5)**2 + (x2 - 5)**2 - 100 >= 0", "-(x2 - 5)**2 - (x1 - 6)**2 + 82.81 >= 0"],
           [(13, 100), (0, 100)], (20.1, 5.84), ("14.095", "5 - sqrt(17.280975)"),
           "-6961.81381",
           "Both constraints are active: x1 = 14.095 exactly and x2 = 5 - sqrt(100 - "
           "9.095**2) = 0.84296079 as HS print it."),
        _p(20, ROSENBROCK, ["x1 + x2**2 >= 0", "x1**2 + x2 >= 0", "x1**2 + x2**2 - 1 >= 0"],
           [(-0.5, 0.5), _FREE], (-2, 1), ("0.5", "sqrt(3)/2"), "81.5 - 25*sqrt(3)",
           "The AMPL model's comment gives x2* = 1/(2 sqrt 3), which is infeasible; HS's "
           "x2* = sqrt(3)/2 is stored."),
        _p(21, "0.01*x1**2 + x2**2 - 100", ["10*x1 - x2 - 10 >= 0"], [(2, 50), (-50, 50)],
           (-1, -1), ("2", "0"), "-99.96"),
        _p(22, "(x1 - 2)**2 + (x2 - 1)**2", ["-x1 - x2 + 2 >= 0", "-x1**2 + x2 >= 0"], None,
           (2, 2), ("1", "1"), "1"),
        _p(23, "x1**2 + x2**2", ["x1 + x2 - 1 >= 0", "x1**2 + x2**2 - 1 >= 0",
                                 "9*x1**2 + x2**2 - 9 >= 0", "x1**2 - x2 >= 0",
                                 "x2**2 - x1 >= 0"],
           [(-50, 50), (-50, 50)], (3, 1), ("1", "1"), "2"),
        _p(24, "((x1 - 3)**2 - 9)*x2**3/(27*sqrt(3))",
           ["x1/sqrt(3) - x2 >= 0", "x1 + sqrt(3)*x2 >= 0", "-x1 - sqrt(3)*x2 + 6 >= 0"],
           [(0, None), (0, None)], (1, 0.5), ("3", "sqrt(3)"), "-1"),
    ]


def _hs025_objective() -> str:
    import mpmath

    terms = []
    with mpmath.workdps(40):
        for i in range(1, 100):
            u = 25 + (-50 * mpmath.log(mpmath.mpf(i) / 100)) ** (mpmath.mpf(2) / 3)
            terms.append(f"(-{_num(i / 100)} + exp(-({_num(float(u))} - x2)**x3/x1))**2")
    return " + ".join(terms)


def _hs025_048():
    return [
        _p(25, _hs025_objective(), [], [(0.1, 100), (0, 25.6), (0, 5)], (100, 12.5, 3),
           ("50", "25", "1.5"), "0",
           "u_i = 25 + (-50 log(0.01 i))**(2/3), written as correctly rounded doubles."),
        _p(26, "(x1 - x2)**2 + (x2 - x3)**4", ["(1 + x2**2)*x1 + x3**4 - 3 == 0"], None,
           (-2.6, 2, 2), ("1", "1", "1"), "0"),
        _p(27, "0.01*(x1 - 1)**2 + (x2 - x1**2)**2", ["x1 + x3**2 + 1 == 0"], None, (2, 2, 2),
           ("-1", "1", "0"), "0.04"),
        _p(28, "(x1 + x2)**2 + (x2 + x3)**2", ["x1 + 2*x2 + 3*x3 - 1 == 0"], None,
           (-4, 1, 1), ("0.5", "-0.5", "0.5"), "0"),
        _p(29, "-x1*x2*x3", ["-x1**2 - 2*x2**2 - 4*x3**2 + 48 >= 0"], None, (1, 1, 1),
           ("4", "2*sqrt(2)", "2"), "-16*sqrt(2)",
           "Other minimisers: sign changes of two of the three variables."),
        _p(30, "x1**2 + x2**2 + x3**2", ["x1**2 + x2**2 - 1 >= 0"],
           [(1, 10), (-10, 10), (-10, 10)], (1, 1, 1), ("1", "0", "0"), "1"),
        _p(31, "9*x1**2 + x2**2 + 9*x3**2", ["x1*x2 - 1 >= 0"], [(-10, 10), (1, 10), (-10, 1)],
           (1, 1, 1), ("1/sqrt(3)", "sqrt(3)", "0"), "6"),
        _p(32, "(x1 + 3*x2 + x3)**2 + 4*(x1 - x2)**2",
           ["6*x2 + 4*x3 - x1**3 - 3 >= 0", "1 - x1 - x2 - x3 == 0"],
           [(0, None)] * 3, (0.1, 0.7, 0.2), ("0", "0", "1"), "1"),
        _p(33, "(x1 - 1)*(x1 - 2)*(x1 - 3) + x3",
           ["x3**2 - x1**2 - x2**2 >= 0", "x1**2 + x2**2 + x3**2 - 4 >= 0"],
           [(0, None), (0, None), (0, 5)], (0, 0, 3), ("0", "sqrt(2)", "sqrt(2)"),
           "sqrt(2) - 6"),
        _p(34, "-x1", ["x2 - exp(x1) >= 0", "x3 - exp(x2) >= 0"],
           [(0, 100), (0, 100), (0, 10)], (0, 1.05, 2.9),
           ("log(log(10))", "log(10)", "10"), "-log(log(10))"),
        _p(35, "9 - 8*x1 - 6*x2 - 4*x3 + 2*x1**2 + 2*x2**2 + x3**2 + 2*x1*x2 + 2*x1*x3",
           ["3 - x1 - x2 - 2*x3 >= 0"], [(0, None)] * 3, (0.5, 0.5, 0.5),
           ("4/3", "7/9", "4/9"), "1/9"),
        _p(36, "-x1*x2*x3", ["72 - x1 - 2*x2 - 2*x3 >= 0"], [(0, 20), (0, 11), (0, 42)],
           (10, 10, 10), ("20", "11", "15"), "-3300"),
        _p(37, "-x1*x2*x3", ["72 - x1 - 2*x2 - 2*x3 >= 0", "x1 + 2*x2 + 2*x3 >= 0"],
           [(0, 42)] * 3, (10, 10, 10), ("24", "12", "12"), "-3456"),
        _p(38, "100*(x2 - x1**2)**2 + (1 - x1)**2 + 90*(x4 - x3**2)**2 + (1 - x3)**2 "
               "+ 10.1*((x2 - 1)**2 + (x4 - 1)**2) + 19.8*(x2 - 1)*(x4 - 1)", [],
           [(-10, 10)] * 4, (-3, -1, -3, -1), ("1", "1", "1", "1"), "0",
           "Colville's (Wood's) function under bounds."),
        _p(39, "-x1", ["x2 - x1**3 - x3**2 == 0", "x1**2 - x2 - x4**2 == 0"], None,
           (2, 2, 2, 2), ("1", "1", "0", "0"), "-1"),
        _p(40, "-x1*x2*x3*x4",
           ["x1**3 + x2**2 - 1 == 0", "x1**2*x4 - x3 == 0", "x4**2 - x2 == 0"], None,
           (0.8, 0.8, 0.8, 0.8), ("2**(-1/3)", "2**(-1/2)", "2**(-11/12)", "2**(-1/4)"),
           "-0.25"),
        _p(41, "2 - x1*x2*x3", ["x1 + 2*x2 + 2*x3 - x4 == 0"],
           [(0, 1), (0, 1), (0, 1), (0, 2)], (2, 2, 2, 2), ("2/3", "1/3", "1/3", "2"),
           "52/27"),
        _p(42, "(x1 - 1)**2 + (x2 - 2)**2 + (x3 - 3)**2 + (x4 - 4)**2",
           ["x1 - 2 == 0", "x3**2 + x4**2 - 2 == 0"], None, (1, 1, 1, 1),
           ("2", "2", "0.6*sqrt(2)", "0.8*sqrt(2)"), "28 - 10*sqrt(2)"),
        _p(43, "x1**2 + x2**2 + 2*x3**2 + x4**2 - 5*x1 - 5*x2 - 21*x3 + 7*x4",
           ["8 - x1**2 - x2**2 - x3**2 - x4**2 - x1 + x2 - x3 + x4 >= 0",
            "10 - x1**2 - 2*x2**2 - x3**2 - 2*x4**2 + x1 + x4 >= 0",
            "5 - 2*x1**2 - x2**2 - x3**2 - 2*x1 + x2 + x4 >= 0"], None, (0, 0, 0, 0),
           ("0", "1", "2", "-1"), "-44", "The Rosen-Suzuki problem."),
        _p(44, "x1 - x2 - x3 - x1*x3 + x1*x4 + x2*x3 - x2*x4",
           ["8 - x1 - 2*x2 >= 0", "12 - 4*x1 - x2 >= 0", "12 - 3*x1 - 4*x2 >= 0",
            "8 - 2*x3 - x4 >= 0", "8 - x3 - 2*x4 >= 0", "5 - x3 - x4 >= 0"],
           [(0, None)] * 4, (0, 0, 0, 0), ("0", "3", "0", "4"), "-15",
           "A nonconvex quadratic with several local minima; -15 is the global one."),
        _p(45, "2 - x1*x2*x3*x4*x5/120", [], [(0, i) for i in range(1, 6)], (2, 2, 2, 2, 2),
           ("1", "2", "3", "4", "5"), "1"),
        _p(46, "(x1 - x2)**2 + (x3 - 1)**2 + (x4 - 1)**4 + (x5 - 1)**6",
           ["x1**2*x4 + sin(x4 - x5) - 1 == 0", "x2 + x3**4*x4**2 - 2 == 0"], None,
           ("sqrt(2)/2", 1.75, 0.5, 2, 2), ("1",) * 5, "0"),
        _p(47, "(x1 - x2)**2 + (x2 - x3)**3 + (x3 - x4)**4 + (x4 - x5)**4",
           ["x1 + x2**2 + x3**3 - 3 == 0", "x2 - x3**2 + x4 - 1 == 0", "x1*x5 - 1 == 0"],
           None, (2, "sqrt(2)", -1, "2 - sqrt(2)", 0.5), ("1",) * 5, "0"),
        _p(48, "(x1 - 1)**2 + (x2 - x3)**2 + (x4 - x5)**2",
           ["x1 + x2 + x3 + x4 + x5 - 5 == 0", "x3 - 2*(x4 + x5) + 3 == 0"], None,
           (3, 5, -3, 2, -2), ("1",) * 5, "0"),
    ]


def _hs049_066():
    return [
        _p(49, "(x1 - x2)**2 + (x3 - 1)**2 + (x4 - 1)**4 + (x5 - 1)**6",
           ["x1 + x2 + x3 + 4*x4 - 7 == 0", "x3 + 5*x5 - 6 == 0"], None,
           (10, 7, 2, -3, 0.8), ("1",) * 5, "0"),
        _p(50, "(x1 - x2)**2 + (x2 - x3)**2 + (x3 - x4)**4 + (x4 - x5)**2",
           ["x1 + 2*x2 + 3*x3 - 6 == 0", "x2 + 2*x3 + 3*x4 - 6 == 0",
            "x3 + 2*x4 + 3*x5 - 6 == 0"], None, (35, -31, 11, 5, -5), ("1",) * 5, "0"),
        _p(51, "(x1 - x2)**2 + (x2 + x3 - 2)**2 + (x4 - 1)**2 + (x5 - 1)**2",
           ["x1 + 3*x2 - 4 == 0", "x3 + x4 - 2*x5 == 0", "x2 - x5 == 0"], None,
           (2.5, 0.5, 2, -1, 0.5), ("1",) * 5, "0"),
        _p(52, "(4*x1 - x2)**2 + (x2 + x3 - 2)**2 + (x4 - 1)**2 + (x5 - 1)**2",
           ["x1 + 3*x2 == 0", "x3 + x4 - 2*x5 == 0", "x2 - x5 == 0"], None, (2,) * 5,
           ("-33/349", "11/349", "180/349", "-158/349", "11/349"), "1859/349"),
        _p(53, "(x1 - x2)**2 + (x2 + x3 - 2)**2 + (x4 - 1)**2 + (x5 - 1)**2",
           ["x1 + 3*x2 == 0", "x3 + x4 - 2*x5 == 0", "x2 - x5 == 0"], [(-10, 10)] * 5,
           (2,) * 5, ("-33/43", "11/43", "27/43", "-5/43", "11/43"), "176/43"),
        _p(55, "x1 + 2*x2 + 4*x5 + exp(x1*x4)",
           ["x1 + 2*x2 + 5*x5 - 6 == 0", "x1 + x2 + x3 - 3 == 0", "x4 + x5 + x6 - 2 == 0",
            "x1 + x4 - 1 == 0", "x2 + x5 - 2 == 0", "x3 + x6 - 2 == 0"],
           [(0, 1), (0, None), (0, None), (0, 1), (0, None), (0, None)], (1, 2, 0, 0, 0, 2),
           ("0", "4/3", "5/3", "1", "2/3", "1/3"), "19/3",
           "The six linear equalities have rank 5 (they are linearly dependent)."),
        _p(56, "-x1*x2*x3",
           ["x1 - 4.2*sin(x4)**2 == 0", "x2 - 4.2*sin(x5)**2 == 0",
            "x3 - 4.2*sin(x6)**2 == 0", "x1 + 2*x2 + 2*x3 - 7.2*sin(x7)**2 == 0"], None,
           (1, 1, 1, "asin(sqrt(1/4.2))", "asin(sqrt(1/4.2))", "asin(sqrt(1/4.2))",
            "asin(sqrt(5/7.2))"),
           ("2.4", "1.2", "1.2", "asin(sqrt(4/7))", "asin(sqrt(2/7))", "asin(sqrt(2/7))",
            "pi/2"), "-3.456"),
        _p(57, _hs057_objective(), ["0.49*x2 - x1*x2 - 0.09 >= 0"],
           [(0.4, None), (-4, None)], (0.42, 5), ("0.419952675", "1.284845629"),
           "0.02845966972"),
        _p(60, "(x1 - 1)**2 + (x1 - x2)**2 + (x2 - x3)**4",
           ["x1*(1 + x2**2) + x3**4 - 4 - 3*sqrt(2) == 0"], [(-10, 10)] * 3, (2, 2, 2),
           ("1.104859024", "1.196674194", "1.535262257"), "0.03256820025"),
        _p(61, "4*x1**2 + 2*x2**2 + 2*x3**2 - 33*x1 + 16*x2 - 24*x3",
           ["3*x1 - 2*x2**2 - 7 == 0", "4*x1 - x3**2 - 11 == 0"], None, (0, 0, 0),
           ("5.326770157", "-2.118998639", "3.210464239"), "-143.6461422"),
        _p(62, "-32.174*(255*log((x1 + x2 + x3 + 0.03)/(0.09*x1 + x2 + x3 + 0.03)) "
               "+ 280*log((x2 + x3 + 0.03)/(0.07*x2 + x3 + 0.03)) "
               "+ 290*log((x3 + 0.03)/(0.13*x3 + 0.03)))",
           ["x1 + x2 + x3 - 1 == 0"], [(0, 1)] * 3, (0.7, 0.2, 0.1),
           ("0.6178126908", "0.328202223", "0.05398508606"), "-26272.51448"),
        _p(63, "1000 - x1**2 - 2*x2**2 - x3**2 - x1*x2 - x1*x3",
           ["8*x1 + 14*x2 + 7*x3 - 56 == 0", "x1**2 + x2**2 + x3**2 - 25 == 0"],
           [(0, None)] * 3, (2, 2, 2), ("3.512118414", "0.2169881741", "3.552174034"),
           "961.7151721"),
        _p(64, "5*x1 + 50000/x1 + 20*x2 + 72000/x2 + 10*x3 + 144000/x3",
           ["1 - 4/x1 - 32/x2 - 120/x3 >= 0"], [(0.00001, None)] * 3, (1, 1, 1),
           ("108.7347175", "85.12613942", "204.3247078"), "6299.842428"),
        _p(65, "(x1 - x2)**2 + (x1 + x2 - 10)**2/9 + (x3 - 5)**2",
           ["48 - x1**2 - x2**2 - x3**2 >= 0"], [(-4.5, 4.5), (-4.5, 4.5), (-5, 5)],
           (-5, 5, 0), ("3.650461821", "3.65046168", "4.6204170507"), "0.9535288567",
           "The published x* is accurate to about 1e-6, not to its printed digits: f there is "
           "0.95352921 (the minimiser is x1 = x2 = 3.6504617, x3 = 4.6204176, where f = f*).",
           xstar_tolerance=1e-6),
        _p(66, "0.2*x3 - 0.8*x1", ["x2 - exp(x1) >= 0", "x3 - exp(x2) >= 0"],
           [(0, 100), (0, 100), (0, 10)], (0, 1.05, 2.9),
           ("0.1841264879", "1.202167873", "3.327322322"), "0.5181632741"),
    ]


_HS57_A = [8, 8, 10, 10, 10, 10, 12, 12, 12, 12, 14, 14, 14, 16, 16, 16, 18, 18, 20, 20, 20,
           22, 22, 22, 24, 24, 24, 26, 26, 26, 28, 28, 30, 30, 30, 32, 32, 34, 36, 36, 38, 38,
           40, 42]
_HS57_B = [0.49, 0.49, 0.48, 0.47, 0.48, 0.47, 0.46, 0.46, 0.45, 0.43, 0.45, 0.43, 0.43, 0.44,
           0.43, 0.43, 0.46, 0.45, 0.42, 0.42, 0.43, 0.41, 0.41, 0.40, 0.42, 0.40, 0.40, 0.41,
           0.40, 0.41, 0.41, 0.40, 0.40, 0.40, 0.38, 0.41, 0.40, 0.40, 0.41, 0.38, 0.40, 0.40,
           0.39, 0.39]


def _hs057_objective() -> str:
    return " + ".join(f"({_num(b)} - x1 - (0.49 - x1)*exp(-x2*{a - 8}))**2"
                      for a, b in zip(_HS57_A, _HS57_B))


def _phi(t: str) -> str:
    """The standard normal distribution function, written with erf."""
    return f"(1 + erf(({t})/sqrt(2)))/2"


def _hs068_069(number, a, b, n, xstar, fstar):
    d = 1
    objective = f"({a}*{n} - ({b}*(exp(x1) - 1) - x3)*x4/(exp(x1) - 1 + x4))/x1"
    return _p(number, objective,
              [f"x3 - 2*{_phi('-x2')} == 0",
               f"x4 - {_phi(f'-x2 + {d}*sqrt({n})')} - {_phi(f'-x2 - {d}*sqrt({n})')} == 0"],
              [(0.0001, 100), (0, 100), (0, 2), (0, 2)], (1, 1, 1, 1), xstar, fstar,
              "Phi, the normal distribution function, is written (1 + erf(t/sqrt(2)))/2.")


def _hs068_081():
    hs74_75 = []
    for number, a, xstar, fstar in (
            (74, "0.55", ("679.9453", "1026.067", "0.1188764", "-0.3962336"), "5126.4981"),
            (75, "0.48", ("776.1592", "925.1949", "0.05110879", "-0.4288911"), "5174.4129")):
        hs74_75.append(_p(
            number, "3*x1 + 0.000001*x1**3 + 2*x2 + 0.000002/3*x2**3",
            [f"x4 - x3 + {a} >= 0", f"x3 - x4 + {a} >= 0",
             "1000*sin(-x3 - 0.25) + 1000*sin(-x4 - 0.25) + 894.8 - x1 == 0",
             "1000*sin(x3 - 0.25) + 1000*sin(x3 - x4 - 0.25) + 894.8 - x2 == 0",
             "1000*sin(x4 - 0.25) + 1000*sin(x4 - x3 - 0.25) + 1294.8 == 0"],
            [(0, 1200), (0, 1200), (-float(a), float(a)), (-float(a), float(a))], (0, 0, 0, 0), xstar, fstar))
    same_constraints = ["x1**2 + x2**2 + x3**2 + x4**2 + x5**2 - 10 == 0",
                        "x2*x3 - 5*x4*x5 == 0", "x1**3 + x2**3 + 1 == 0"]
    bounds_80 = [(-2.3, 2.3), (-2.3, 2.3), (-3.2, 3.2), (-3.2, 3.2), (-3.2, 3.2)]
    xstar_80 = ("-1.717143", "1.595709", "1.827247", "-0.7636413", "-0.7636450")
    return [
        _hs068_069(68, "0.0001", "1", "24", ("0.06785874", "3.6461717", "0.00026617",
                                              "0.8948622"), "-0.920425026"),
        _hs068_069(69, "0.1", "1000", "4", ("0.02937141", "1.1902534", "0.23394676",
                                             "0.7916678"), "-956.71288"),
        _p(71, "x1*x4*(x1 + x2 + x3) + x3",
           ["x1*x2*x3*x4 - 25 >= 0", "x1**2 + x2**2 + x3**2 + x4**2 - 40 == 0"],
           [(1, 5)] * 4, (1, 5, 5, 1), ("1", "4.7429994", "3.8211503", "1.3794082"),
           "17.0140173"),
        _p(72, "1 + x1 + x2 + x3 + x4",
           ["0.0401 - 4/x1 - 2.25/x2 - 1/x3 - 0.25/x4 >= 0",
            "0.010085 - 0.16/x1 - 0.36/x2 - 0.64/x3 - 0.64/x4 >= 0"],
           [(0.001, (5 - i) * 1e5) for i in range(1, 5)], (1, 1, 1, 1),
           ("193.4071", "179.5475", "185.0186", "168.7062"), "727.67937"),
        _p(73, "24.55*x1 + 26.75*x2 + 39*x3 + 40.50*x4",
           ["2.3*x1 + 5.6*x2 + 11.1*x3 + 1.3*x4 - 5 >= 0",
            "12*x1 + 11.9*x2 + 41.8*x3 + 52.1*x4 - 21 "
            "- 1.645*sqrt(0.28*x1**2 + 0.19*x2**2 + 20.5*x3**2 + 0.62*x4**2) >= 0",
            "x1 + x2 + x3 + x4 - 1 == 0"],
           [(0, None)] * 4, (1, 1, 1, 1), ("0.6355216", "-0.12e-11", "0.3127019",
                                           "0.05177655"), "29.894378",
           "The AMPL model's comment prints x4* = 0.5177655 (a misplaced digit: the "
           "equality then fails by 0.47); HS's 0.05177655 is stored."),
        *hs74_75,
        _p(76, "x1**2 + 0.5*x2**2 + x3**2 + 0.5*x4**2 - x1*x3 + x3*x4 - x1 - 3*x2 + x3 - x4",
           ["5 - x1 - 2*x2 - x3 - x4 >= 0", "4 - 3*x1 - x2 - 2*x3 + x4 >= 0",
            "x2 + 4*x3 - 1.5 >= 0"], [(0, None)] * 4, (0.5, 0.5, 0.5, 0.5),
           ("3/11", "23/11", "0", "6/11"), "-103/22",
           "HS print x* = (0.2727273, 2.090909, -0.26e-10, 0.5454545) and f* = -4.681818181; "
           "the exact solution of this convex QP is stored."),
        _p(77, "(x1 - 1)**2 + (x1 - x2)**2 + (x3 - 1)**2 + (x4 - 1)**4 + (x5 - 1)**6",
           ["x1**2*x4 + sin(x4 - x5) - 2*sqrt(2) == 0",
            "x2 + x3**4*x4**2 - 8 - sqrt(2) == 0"], None, (2,) * 5,
           ("1.166172", "1.182111", "1.380257", "1.506036", "0.6109203"), "0.24150513"),
        _p(78, "x1*x2*x3*x4*x5", same_constraints, None, (-2, 1.5, 2, -1, -1),
           ("-1.717142", "1.595708", "1.827248", "-0.7636429", "-0.7636435"),
           "-2.91970041"),
        _p(79, "(x1 - 1)**2 + (x1 - x2)**2 + (x2 - x3)**2 + (x3 - x4)**4 + (x4 - x5)**4",
           ["x1 + x2**2 + x3**3 - 2 - 3*sqrt(2) == 0",
            "x2 - x3**2 + x4 + 2 - 2*sqrt(2) == 0", "x1*x5 - 2 == 0"], None, (2,) * 5,
           ("1.191127", "1.362603", "1.472818", "1.635017", "1.679081"), "0.0787768209"),
        _p(80, "exp(x1*x2*x3*x4*x5)", same_constraints, bounds_80, (-2, 2, 2, -1, -1),
           xstar_80, "0.0539498478"),
        _p(81, "exp(x1*x2*x3*x4*x5) - 0.5*(x1**3 + x2**3 + 1)**2", same_constraints,
           bounds_80, (-2, 2, 2, -1, -1), xstar_80, "0.0539498478",
           "The AMPL model's comment prints x2* = 1.159571 (swapped digits); HS's 1.595709 "
           "is stored."),
    ]


_HS84_A = [-24345, -8720288.849, 150512.5253, -156.6950325, 476470.3222, 729482.8271,
           -145421.402, 2931.1506, -40.427932, 5106.192, 15711.36, -155011.1084, 4360.53352,
           12.9492344, 10236.884, 13176.786, -326669.5104, 7390.68412, -27.8986976, 16643.076,
           30988.146]

_COLVILLE_A = [[-16, 2, 0, 1, 0], [0, -2, 0, 4, 2], [-3.5, 0, 2, 0, 0], [0, -2, 0, -4, -1],
               [0, -9, -2, 1, -2.8], [2, 0, -4, 0, 0], [-1, -1, -1, -1, -1],
               [-1, -2, -3, -2, -1], [1, 2, 3, 4, 5], [1, 1, 1, 1, 1]]
_COLVILLE_B = [-40, -2, -0.25, -4, -4, -1, -40, -60, 5, 1]
_COLVILLE_C = [[30, -20, -10, 32, -10], [-20, 39, -6, -31, 32], [-10, -6, 10, -6, -10],
               [32, -31, -6, 39, -20], [-10, 32, -10, -20, 30]]
_COLVILLE_D = [4, 8, 10, 6, 2]
_COLVILLE_E = [-15, -27, -36, -18, -12]


def _hs083_098():
    def x1_times(j):  # the factor of a_k in HS84: x1 (j = 1) or x1*xj
        return "x1" if j == 1 else f"x1*x{j}"

    hs84_objective = _signed_terms([(-_HS84_A[0], "1")]
                                   + [(-_HS84_A[j], x1_times(j)) for j in range(1, 6)])
    hs84_constraints = [
        f"0 <= {_signed_terms([(_HS84_A[k + j - 1], x1_times(j)) for j in range(1, 6)])} <= {hi}"
        for k, hi in ((6, 294000), (11, 294000), (16, 277200))]
    quad = [(_COLVILLE_C[i][j], f"x{i + 1}*x{j + 1}") for i in range(5) for j in range(5)]
    hs86_objective = _signed_terms(
        [(e, f"x{j + 1}") for j, e in enumerate(_COLVILLE_E)] + quad
        + [(d, f"x{j + 1}**3") for j, d in enumerate(_COLVILLE_D)])
    hs86_constraints = [f"{_signed_terms([(a, f'x{j + 1}') for j, a in enumerate(row)])} "
                        f">= {_num(b)}" for row, b in zip(_COLVILLE_A, _COLVILLE_B)]

    def hs95_98(number, b3, b4, b1, b2, xstar, fstar, notes="", fstar_tolerance=0.0):
        return _p(number, "4.3*x1 + 31.8*x2 + 63.3*x3 + 15.8*x4 + 68.5*x5 + 4.7*x6",
                  ["17.1*x1 + 38.2*x2 + 204.2*x3 + 212.3*x4 + 623.4*x5 + 1495.5*x6 "
                   "- 169*x1*x3 - 3580*x3*x5 - 3810*x4*x5 - 18500*x4*x6 - 24300*x5*x6 "
                   f">= {b1}",
                   "17.9*x1 + 36.8*x2 + 113.9*x3 + 169.7*x4 + 337.8*x5 + 1385.2*x6 "
                   f"- 139*x1*x3 - 2450*x4*x5 - 16600*x4*x6 - 17200*x5*x6 >= {b2}",
                   f"-273*x2 - 70*x4 - 819*x5 + 26000*x4*x5 >= {b3}",
                   f"159.9*x1 - 311*x2 + 587*x4 + 391*x5 + 2198*x6 - 14000*x1*x6 >= {b4}"],
                  [(0, 0.31), (0, 0.046), (0, 0.068), (0, 0.042), (0, 0.028), (0, 0.0134)],
                  (0,) * 6, xstar, fstar, notes, fstar_tolerance=fstar_tolerance)

    x95 = ("0", "0", "0", "0", "0", "0.0033233033")
    hs95_note = ("HS print f* = 0.015619514, but f at their x* (where only x6 = 0.0033233033 "
                 "is nonzero and the first constraint is active) is 4.7 x6 = 0.01561952551: "
                 "the printed f* is off in its 8th digit (by 1.2e-8, 7e-7 relative).")
    x97 = ("0.2685649", "0", "0", "0", "0.028", "0.0134")
    return [
        _p(83, "5.3578547*x3**2 + 0.8356891*x1*x5 + 37.293239*x1 - 40792.141",
           ["0 <= 85.334407 + 0.0056858*x2*x5 + 0.0006262*x1*x4 - 0.0022053*x3*x5 <= 92",
            "90 <= 80.51249 + 0.0071317*x2*x5 + 0.0029955*x1*x2 + 0.0021813*x3**2 <= 110",
            "20 <= 9.300961 + 0.0047026*x3*x5 + 0.0012547*x1*x3 + 0.0019085*x3*x4 <= 25"],
           [(78, 102), (33, 45), (27, 45), (27, 45), (27, 45)], (78, 33, 27, 27, 27),
           ("78", "33", "29.99526", "45", "36.77581"), "-30665.53867",
           "Colville's problem 3; HS's six inequalities written as three double-sided "
           "constraints."),
        _p(84, hs84_objective, hs84_constraints,
           [(0, 1000), (1.2, 2.4), (20, 60), (9, 9.3), (6.5, 7)], (2.52, 2, 37.5, 9.25, 6.8),
           ("4.53743097", "2.4", "60", "9.3", "7"), "-5280335.133"),
        _p(86, hs86_objective, hs86_constraints, [(0, None)] * 5, (0, 0, 0, 0, 1),
           ("0.3", "0.33346761", "0.4", "0.42831010", "0.22396487"), "-32.34867897",
           "Colville's problem 1."),
        _p(93, "0.0204*x1*x4*(x1 + x2 + x3) + 0.0187*x2*x3*(x1 + 1.57*x2 + x4) "
               "+ 0.0607*x1*x4*x5**2*(x1 + x2 + x3) + 0.0437*x2*x3*x6**2*(x1 + 1.57*x2 + x4)",
           ["0.001*x1*x2*x3*x4*x5*x6 - 2.07 >= 0",
            "1 - 0.00062*x1*x4*x5**2*(x1 + x2 + x3) - 0.00058*x2*x3*x6**2*(x1 + 1.57*x2 + x4)"
            " >= 0"],
           [(0, None)] * 6, (5.54, 4.4, 12.02, 11.82, 0.702, 0.852),
           ("5.332666", "4.656744", "10.43299", "12.08230", "0.7526074", "0.87865084"),
           "135.075961"),
        hs95_98(95, "-29.08", "-78.02", "4.97", "-1.88", x95, "0.015619514", hs95_note, 2e-8),
        hs95_98(96, "-69.08", "-118.02", "4.97", "-1.88", x95, "0.015619514", hs95_note, 2e-8),
        hs95_98(97, "-29.08", "-78.02", "32.97", "25.12", x97, "3.1358091"),
        hs95_98(98, "-124.08", "-173.02", "32.97", "25.12", x97, "3.1358091"),
    ]


def _posynomial(coefficient: str, exponents) -> str:
    factors = []
    for j, e in enumerate(exponents, start=1):
        if e == 0:
            continue
        factors.append(f"x{j}" if e == 1 else f"x{j}**({e})")
    return "*".join([coefficient] + factors)


_REFINED = ("x* is the published minimiser refined to 10 digits (by scipy's trust-constr "
            "from the standard start, feasible to 1e-15): the 7 digits recalled from the "
            "book did not satisfy the constraints to their printed precision; f* is the "
            "book's.")


def _hs101_103(number, a, x7_lower, xstar, fstar, notes=""):
    f = " + ".join([
        _posynomial("10", [1, -1, 0, 2, 0, -3, a]),
        _posynomial("15", [-1, -2, 1, 1, -1, 0, "-1/2"]),
        _posynomial("20", [-2, 1, 0, -1, -2, 1, 0]),
        _posynomial("25", [2, 2, -1, 0, "1/2", -2, 1])])
    g = [
        "1 - " + " - ".join([_posynomial("0.5", ["1/2", 0, -1, 0, 0, -2, 1]),
                             _posynomial("0.7", [3, 1, -2, 0, 0, 1, "1/2"]),
                             _posynomial("0.2", [0, -1, 1, "-1/2", 0, "2/3", "1/4"])]),
        "1 - " + " - ".join([_posynomial("1.3", ["-1/2", 1, -1, 0, -1, 1, 0]),
                             _posynomial("0.8", [0, 0, 1, -1, -1, 2, 0]),
                             _posynomial("3.1", [-1, "1/2", 0, -2, -1, "1/3", 0])]),
        "1 - " + " - ".join([_posynomial("2", [1, 0, "-3/2", 0, 1, -1, "1/3"]),
                             _posynomial("0.1", [0, 1, "-1/2", 0, 1, -1, "-1/2"]),
                             _posynomial("1", [-1, 1, "1/2", 0, 1, 0, 0]),
                             _posynomial("0.65", [0, -2, 1, 0, 1, -1, 1])]),
        "1 - " + " - ".join([_posynomial("0.2", [-2, 1, 0, -1, "1/2", 0, "1/3"]),
                             _posynomial("0.3", ["1/2", 2, 1, "1/3", "-2/3", 0, "1/4"]),
                             _posynomial("0.4", [-3, -2, 1, 0, 1, 0, "3/4"]),
                             _posynomial("0.5", [0, 0, -2, 1, 0, 0, "1/2"])]),
    ]
    return _p(number, f, [f"{gi} >= 0" for gi in g] + [f"100 <= {f} <= 3000"],
              [(0.1, 10)] * 6 + [(x7_lower, 10)], (6,) * 7, xstar, fstar,
              "A geometric-programming (posynomial) problem; g5, g6 bound the objective "
              "itself, written here as one double-sided constraint. " + notes)


def _hs100_110():
    hs106_a, hs106_b = "0.0025", "0.01"
    return [
        _p(100, "(x1 - 10)**2 + 5*(x2 - 12)**2 + x3**4 + 3*(x4 - 11)**2 + 10*x5**6 "
                "+ 7*x6**2 + x7**4 - 4*x6*x7 - 10*x6 - 8*x7",
           ["127 - 2*x1**2 - 3*x2**4 - x3 - 4*x4**2 - 5*x5 >= 0",
            "282 - 7*x1 - 3*x2 - 10*x3**2 - x4 + x5 >= 0",
            "196 - 23*x1 - x2**2 - 6*x6**2 + 8*x7 >= 0",
            "-4*x1**2 - x2**2 + 3*x1*x2 - 2*x3**2 - 5*x6 + 11*x7 >= 0"], None,
           (1, 2, 0, 4, 0, 1, 1),
           ("2.330499", "1.951372", "-0.4775414", "4.365726", "-0.6244870", "1.038131",
            "1.594227"), "680.6300573"),
        _hs101_103(101, "-1/4", 0.01, ("2.856159", "0.6108230", "2.150813", "4.712874",
                                       "0.9994875", "1.347508", "0.03165277"), "1809.76476"),
        _hs101_103(102, "1/8", 0.01, ("3.896253191", "0.8093587601", "2.664385994",
                                      "4.300912875", "0.8535549352", "1.095287445",
                                      "0.02731045966"), "911.880571", _REFINED),
        _hs101_103(103, "1/2", 0.01, ("4.394104511", "0.8544687388", "2.843230314",
                                      "3.399978668", "0.7229261330", "0.8704063818",
                                      "0.02463882633"), "543.667958", _REFINED),
        _p(104, "0.4*x1**0.67*x7**(-0.67) + 0.4*x2**0.67*x8**(-0.67) + 10 - x1 - x2",
           ["1 - 0.0588*x5*x7 - 0.1*x1 >= 0", "1 - 0.0588*x6*x8 - 0.1*x1 - 0.1*x2 >= 0",
            "1 - 4*x3/x5 - 2/(x3**0.71*x5) - 0.0588*x7/x3**1.3 >= 0",
            "1 - 4*x4/x6 - 2/(x4**0.71*x6) - 0.0588*x8/x4**1.3 >= 0",
            "0.1 <= 0.4*x1**0.67*x7**(-0.67) + 0.4*x2**0.67*x8**(-0.67) + 10 - x1 - x2 <= 4.2"],
           [(0.1, 10)] * 8, (6, 3, 0.4, 0.2, 6, 6, 1, 0.5),
           ("6.465114", "2.232709", "0.6673975", "0.5957564", "5.932676", "5.527235",
            "1.013322", "0.4006682"), "3.9511634396"),
        _p(106, "x1 + x2 + x3",
           [f"1 - {hs106_a}*(x4 + x6) >= 0", f"1 - {hs106_a}*(x5 + x7 - x4) >= 0",
            f"1 - {hs106_b}*(x8 - x5) >= 0",
            "x1*x6 - 833.33252*x4 - 100*x1 + 83333.333 >= 0",
            "x2*x7 - 1250*x5 - x2*x4 + 1250*x4 >= 0",
            "x3*x8 - 1250000 - x3*x5 + 2500*x5 >= 0"],
           [(100, 10000), (1000, 10000), (1000, 10000)] + [(10, 1000)] * 5,
           (5000, 5000, 5000, 200, 350, 150, 225, 425),
           ("579.3167", "1359.943", "5110.071", "182.0174", "295.5985", "217.9799",
            "286.4162", "395.5979"), "7049.330923",
           "The heat exchanger design problem. The published point is feasible but not "
           "optimal: f = 7049.2480205 at xbest (found by scipy's SLSQP from the standard "
           "start, feasible to 4e-11), the value other codes report.",
           fbest="7049.2480205",
           xbest=("579.3066844", "1359.970668", "5109.970668", "182.0176996", "295.6011733",
                  "217.9823004", "286.4165263", "395.6011733")),
        _p(107, "3000*x1 + 1000*x1**3 + 2000*x2 + 666.667*x2**3", _hs107_constraints(),
           [(0, None), (0, None), _FREE, _FREE, (0.90909, 1.0909), (0.90909, 1.0909),
            (0.90909, 1.0909), _FREE, _FREE],
           (0.8, 0.8, 0.2, 0.2, 1.0454, 1.0454, 1.0454, 0, 0),
           ("0.6670095", "1.022388", "0.2282879", "0.1848217", "1.090900", "1.090900",
            "1.069036", "0.1066126", "-0.3387867"), "5055.011803",
           "A static power scheduling problem; c = (48.4/50.176) sin(0.25) and "
           "d = (48.4/50.176) cos(0.25) are written as correctly rounded doubles."),
        _p(108, "-0.5*(x1*x4 - x2*x3 + x3*x9 - x5*x9 + x5*x8 - x6*x7)",
           ["1 - x3**2 - x4**2 >= 0", "1 - x5**2 - x6**2 >= 0", "1 - x9**2 >= 0",
            "1 - x1**2 - (x2 - x9)**2 >= 0", "1 - (x1 - x5)**2 - (x2 - x6)**2 >= 0",
            "1 - (x1 - x7)**2 - (x2 - x8)**2 >= 0", "1 - (x3 - x5)**2 - (x4 - x6)**2 >= 0",
            "1 - (x3 - x7)**2 - (x4 - x8)**2 >= 0", "1 - x7**2 - (x8 - x9)**2 >= 0",
            "x1*x4 - x2*x3 >= 0", "x3*x9 >= 0", "-x5*x9 >= 0", "x5*x8 - x6*x7 >= 0"],
           [_FREE] * 8 + [(0, None)], (1,) * 9,
           ("0.8841292", "0.4672425", "0.03742076", "0.9992996", "0.8841292", "0.4672425",
            "0.03742076", "0.9992996", "0"), "-0.8660254038",
           "The largest hexagon of diameter 1 (Pearson); HS's g14 (x9 >= 0) is a bound."),
        _p(110, " + ".join(f"log(x{j} - 2)**2 + log(10 - x{j})**2" for j in range(1, 11))
           + " - (" + "*".join(f"x{j}" for j in range(1, 11)) + ")**0.2", [],
           [(2.001, 9.999)] * 10, (9,) * 10, ("9.35025655",) * 10, "-45.77846971"),
    ]


def _hs107_constraints() -> list[str]:
    c = _num(48.4 / 50.176 * math.sin(0.25))
    d = _num(48.4 / 50.176 * math.cos(0.25))
    y1, y2, y3, y4, y5, y6 = ("sin(x8)", "cos(x8)", "sin(x9)", "cos(x9)", "sin(x8 - x9)",
                              "cos(x8 - x9)")
    return [
        f"0.4 - x1 + 2*{c}*x5**2 - x5*x6*({d}*{y1} + {c}*{y2}) "
        f"- x5*x7*({d}*{y3} + {c}*{y4}) == 0",
        f"0.4 - x2 + 2*{c}*x6**2 + x5*x6*({d}*{y1} - {c}*{y2}) "
        f"+ x6*x7*({d}*{y5} - {c}*{y6}) == 0",
        f"0.8 + 2*{c}*x7**2 + x5*x7*({d}*{y3} - {c}*{y4}) - x6*x7*({d}*{y5} + {c}*{y6}) == 0",
        f"0.2 - x3 + 2*{d}*x5**2 + x5*x6*({c}*{y1} - {d}*{y2}) "
        f"+ x5*x7*({c}*{y3} - {d}*{y4}) == 0",
        f"0.2 - x4 + 2*{d}*x6**2 - x5*x6*({c}*{y1} + {d}*{y2}) "
        f"- x6*x7*({c}*{y5} + {d}*{y6}) == 0",
        f"-0.337 + 2*{d}*x7**2 - x5*x7*({c}*{y3} + {d}*{y4}) "
        f"+ x6*x7*({c}*{y5} - {d}*{y6}) == 0",
    ]


_HS111_C = [-6.089, -17.164, -34.054, -5.914, -24.721, -14.986, -24.100, -10.708, -26.662,
            -22.179]


def _hs111_119():
    e = [f"exp(x{j})" for j in range(1, 11)]
    total = " + ".join(e)
    hs111_objective = " + ".join(f"{e[j]}*({_num(c)} + x{j + 1} - log({total}))"
                                 for j, c in enumerate(_HS111_C))
    hs112_total = " + ".join(f"x{j}" for j in range(1, 11))
    hs112_objective = " + ".join(f"x{j + 1}*({_num(c)} + log(x{j + 1}/({hs112_total})))"
                                 for j, c in enumerate(_HS111_C))

    def equalities(v):
        return [f"{v[0]} + 2*{v[1]} + 2*{v[2]} + {v[5]} + {v[9]} - 2 == 0",
                f"{v[3]} + 2*{v[4]} + {v[5]} + {v[6]} - 1 == 0",
                f"{v[2]} + {v[6]} + {v[7]} + 2*{v[8]} + {v[9]} - 1 == 0"]

    return [
        _p(111, hs111_objective, equalities(e), [(-100, 100)] * 10, (-2.3,) * 10,
           ("-3.201212", "-1.912060", "-0.2444413", "-6.537489", "-0.7231524", "-7.267738",
            "-3.596711", "-4.017769", "-3.287462", "-2.335582"), "-47.76109026",
           "Chemical equilibrium (HS112) in the variables log(x)."),
        _p(112, hs112_objective, equalities([f"x{j}" for j in range(1, 11)]),
           [(0.000001, None)] * 10, (0.1,) * 10,
           ("0.01773548", "0.08200180", "0.8825646", "0.0007233256", "0.4907851",
            "0.0004335469", "0.01727298", "0.007765639", "0.01984929", "0.05269826"),
           "-47.707579", "Chemical equilibrium (White, Johnson and Dantzig). The published "
           "point is feasible but not optimal: f = -47.76109086 at xbest (scipy's SLSQP "
           "from the standard start, feasible to 1e-15), HS111's optimum in these variables.",
           fbest="-47.76109086",
           xbest=("0.04066808", "0.1477303540", "0.7831533545", "0.001414219754",
                  "0.4852466488", "0.0006931721651", "0.02739931049", "0.01794728008",
                  "0.03731436565", "0.09687132361")),
        _p(113, "x1**2 + x2**2 + x1*x2 - 14*x1 - 16*x2 + (x3 - 10)**2 + 4*(x4 - 5)**2 "
                "+ (x5 - 3)**2 + 2*(x6 - 1)**2 + 5*x7**2 + 7*(x8 - 11)**2 + 2*(x9 - 10)**2 "
                "+ (x10 - 7)**2 + 45",
           ["105 - 4*x1 - 5*x2 + 3*x7 - 9*x8 >= 0", "-10*x1 + 8*x2 + 17*x7 - 2*x8 >= 0",
            "8*x1 - 2*x2 - 5*x9 + 2*x10 + 12 >= 0",
            "-3*(x1 - 2)**2 - 4*(x2 - 3)**2 - 2*x3**2 + 7*x4 + 120 >= 0",
            "-5*x1**2 - 8*x2 - (x3 - 6)**2 + 2*x4 + 40 >= 0",
            "-0.5*(x1 - 8)**2 - 2*(x2 - 4)**2 - 3*x5**2 + x6 + 30 >= 0",
            "-x1**2 - 2*(x2 - 2)**2 + 2*x1*x2 - 14*x5 + 6*x6 >= 0",
            "3*x1 - 6*x2 - 12*(x9 - 8)**2 + 7*x10 >= 0"], None,
           (2, 3, 5, 5, 1, 2, 7, 3, 6, 10),
           ("2.171996", "2.363683", "8.773926", "5.095984", "0.9906548", "1.430574",
            "1.321644", "9.828726", "8.280092", "8.375927"), "24.3062091"),
        _p(114, "5.04*x1 + 0.035*x2 + 10*x3 + 3.36*x5 - 0.063*x4*x7", _hs114_constraints(),
           [(0.00001, 2000), (0.00001, 16000), (0.00001, 120), (0.00001, 5000),
            (0.00001, 2000), (85, 93), (90, 95), (3, 12), (1.2, 4), (145, 162)],
           (1745, 12000, 110, 3048, 1974, 89.2, 92.8, 8, 3.6, 145),
           ("1698.096", "15818.73", "54.10228", "3031.226", "2000", "90.11537", "95",
            "10.49336", "1.561636", "153.53535"), "-1768.80696",
           "The alkylation process (Bracken and McCormick)."),
        _p(116, "x11 + x12 + x13", _hs116_constraints(),
           [(0.1, 1), (0.1, 1), (0.1, 1), (0.0001, 0.1), (0.1, 0.9), (0.1, 0.9), (0.1, 1000),
            (0.1, 1000), (500, 1000), (0.1, 500), (1, 150), (0.0001, 150), (0.0001, 150)],
           (0.5, 0.8, 0.9, 0.1, 0.14, 0.5, 489, 80, 650, 450, 150, 150, 150),
           ("0.8037703", "0.8999860", "0.9709724", "0.09999952", "0.1908154", "0.4605717",
            "574.0803", "74.08043", "500.0162", "0.1", "20.23413", "77.34755",
            "0.00673039"), "97.588409",
           "A 3-stage membrane separation. The published point is feasible to its digits but "
           "not optimal: f = 97.5875096 at xbest (scipy's SLSQP from the standard start, "
           "feasible to 2e-14).",
           fbest="97.5875096",
           xbest=("0.8037731574", "0.8999858007", "0.9709824355", "0.1", "0.1908131762",
                  "0.4606547829", "574.0775736", "74.07757358", "500.0161602", "0.1",
                  "20.23309070", "77.34768993", "0.006728933395")),
        _p(117, *_hs117(), [(0, None)] * 15,
           (0.001,) * 6 + (60,) + (0.001,) * 8,
           ("0", "0", "5.174136", "0", "3.061093", "11.83968", "0", "0", "0.1039071", "0",
            "0.2999929", "0.3334709", "0.3999910", "0.4283145", "0.2239607"), "32.348679",
           "The dual of Colville's problem 1 (HS86)."),
        _p(118, *_hs118(), _hs118_bounds(),
           (20, 55, 15, 20, 60, 20, 20, 60, 20, 20, 60, 20, 20, 60, 20),
           ("8", "49", "3", "1", "56", "0", "1", "63", "6", "3", "70", "12", "5", "77",
            "18"), "664.8204500"),
        _p(119, *_hs119(), [(0, 5)] * 16, (10,) * 16,
           ("0.03984735", "0.7919832", "0.2028703", "0.8443579", "1.269906", "0.9347387",
            "1.681962", "0.1553009", "1.567870", "0", "0", "0", "0.6602041", "0",
            "0.6742559", "0"), "244.899698",
           "Colville's problem 7. The AMPL model's comment prints x5* = 1.126991 (scrambled "
           "digits); 1.269906 satisfies the equalities."),
    ]


def _hs114_constraints() -> list[str]:
    a, b = "0.99", "0.9"
    g1 = f"35.82 - 0.222*x10 - {b}*x9"
    g2 = f"-133 + 3*x7 - {a}*x10"
    g5 = f"1.12*x1 + 0.13167*x1*x8 - 0.00667*x1*x8**2 - {a}*x4"
    g6 = f"57.425 + 1.098*x8 - 0.038*x8**2 + 0.325*x6 - {a}*x7"
    return [
        f"{g1} >= 0", f"{g2} >= 0",
        f"-({g1}) + x9*(1/{b} - {b}) >= 0", f"-({g2}) + (1/{a} - {a})*x10 >= 0",
        f"{g5} >= 0", f"{g6} >= 0",
        f"-({g5}) + (1/{a} - {a})*x4 >= 0", f"-({g6}) + (1/{a} - {a})*x7 >= 0",
        "1.22*x4 - x1 - x5 == 0",
        "98000*x3/(x4*x9 + 1000*x3) - x6 == 0",
        "(x2 + x5)/x1 - x8 == 0",
    ]


def _hs116_constraints() -> list[str]:
    a, b, c = "0.002", "1.262626", "1.231059"
    d, e, f = "0.03475", "0.975", "0.00975"
    return [
        "x3 - x2 >= 0", "x2 - x1 >= 0",
        f"1 - {a}*x7 + {a}*x8 >= 0",
        "x11 + x12 + x13 >= 50",
        f"x13 - {b}*x10 + {c}*x3*x10 >= 0",
        f"x5 - {d}*x2 - {e}*x2*x5 + {f}*x2**2 >= 0",
        f"x6 - {d}*x3 - {e}*x3*x6 + {f}*x3**2 >= 0",
        f"x4 - {d}*x1 - {e}*x1*x4 + {f}*x1**2 >= 0",
        f"x12 - {b}*x9 + {c}*x2*x9 >= 0",
        f"x11 - {b}*x8 + {c}*x1*x8 >= 0",
        "x5*x7 - x1*x8 - x4*x7 + x4*x8 >= 0",
        f"1 - {a}*(x2*x9 + x5*x8 - x1*x8 - x6*x9) - x5 - x6 >= 0",
        "x2*x9 - x3*x10 - x6*x9 - 500*x2 + 500*x6 + x2*x10 >= 0",
        f"x2 - 0.9 - {a}*(x2*x10 - x3*x10) >= 0",
        "x11 + x12 + x13 <= 250",
    ]


def _hs117():
    b = _COLVILLE_B
    objective = _signed_terms(
        [(-b[j], f"x{j + 1}") for j in range(10)]
        + [(_COLVILLE_C[k][j], f"x{11 + k}*x{11 + j}") for j in range(5) for k in range(5)]
        + [(2 * _COLVILLE_D[j], f"x{11 + j}**3") for j in range(5)])
    constraints = []
    for j in range(5):
        terms = ([(2 * _COLVILLE_C[k][j], f"x{11 + k}") for k in range(5)]
                 + [(3 * _COLVILLE_D[j], f"x{11 + j}**2")]
                 + [(-_COLVILLE_A[k][j], f"x{k + 1}") for k in range(10)])
        constraints.append(f"{_signed_terms(terms)} >= {_num(-_COLVILLE_E[j])}")
    return objective, constraints


def _hs118():
    terms = []
    for k in range(5):
        i1, i2, i3 = 3 * k + 1, 3 * k + 2, 3 * k + 3
        terms.append(f"2.3*x{i1} + 0.0001*x{i1}**2 + 1.7*x{i2} + 0.0001*x{i2}**2 "
                     f"+ 2.2*x{i3} + 0.00015*x{i3}**2")
    constraints = []
    for j in range(1, 5):
        constraints.append(f"0 <= x{3 * j + 1} - x{3 * j - 2} + 7 <= 13")
        constraints.append(f"0 <= x{3 * j + 2} - x{3 * j - 1} + 7 <= 14")
        constraints.append(f"0 <= x{3 * j + 3} - x{3 * j} + 7 <= 13")
    for k, rhs in enumerate((60, 50, 70, 85, 100)):
        constraints.append(f"x{3 * k + 1} + x{3 * k + 2} + x{3 * k + 3} >= {rhs}")
    return " + ".join(terms), constraints


def _hs118_bounds():
    bounds = [(8, 21), (43, 57), (3, 16)]
    for _ in range(4):
        bounds += [(0, 90), (0, 120), (0, 60)]
    return bounds


_HS119_A = [(1, 1), (1, 4), (1, 7), (1, 8), (1, 16), (2, 2), (2, 3), (2, 7), (2, 10), (3, 3),
            (3, 7), (3, 9), (3, 10), (3, 14), (4, 4), (4, 7), (4, 11), (4, 15), (5, 5), (5, 6),
            (5, 10), (5, 12), (5, 16), (6, 6), (6, 8), (6, 15), (7, 7), (7, 11), (7, 13),
            (8, 8), (8, 10), (8, 15), (9, 9), (9, 12), (9, 16), (10, 10), (10, 14), (11, 11),
            (11, 13), (12, 12), (12, 14), (13, 13), (13, 14), (14, 14), (15, 15), (16, 16)]
_HS119_B = {
    1: [(1, 0.22), (2, 0.20), (3, 0.19), (4, 0.25), (5, 0.15), (6, 0.11), (7, 0.12),
        (8, 0.13), (9, 1)],
    2: [(1, -1.46), (3, -1.30), (4, 1.82), (5, -1.15), (7, 0.80), (10, 1)],
    3: [(1, 1.29), (2, -0.89), (5, -1.16), (6, -0.96), (8, -0.49), (11, 1)],
    4: [(1, -1.10), (2, -1.06), (3, 0.95), (4, -0.54), (6, -1.78), (7, -0.41), (12, 1)],
    5: [(4, -1.43), (5, 1.51), (6, 0.59), (7, -0.33), (8, -0.43), (13, 1)],
    6: [(2, -1.72), (3, -0.33), (5, 1.62), (6, 1.24), (7, 0.21), (8, -0.26), (14, 1)],
    7: [(1, 1.12), (4, 0.31), (7, 1.12), (9, -0.36), (15, 1)],
    8: [(2, 0.45), (3, 0.26), (4, -1.10), (5, 0.58), (7, -1.03), (8, 0.10), (16, 1)],
}
_HS119_C = [2.5, 1.1, -3.1, -3.5, 1.3, 2.1, 2.3, -1.5]


def _hs119():
    def q(i):
        return f"(x{i}**2 + x{i} + 1)"

    objective = " + ".join(f"{q(i)}*{q(j)}" for i, j in _HS119_A)
    constraints = [f"{_signed_terms([(c, f'x{j}') for j, c in _HS119_B[i]])} == {_num(rhs)}"
                   for i, rhs in zip(range(1, 9), _HS119_C)]
    return objective, constraints


def _build() -> tuple[HSProblem, ...]:
    problems = (_hs001_024() + _hs025_048() + _hs049_066() + _hs068_081() + _hs083_098()
                + _hs100_110() + _hs111_119())
    return tuple(sorted(problems, key=lambda p: p.number))


PROBLEMS: tuple[HSProblem, ...] = _build()
_BY_NAME = {p.name: p for p in PROBLEMS}


def names() -> tuple[str, ...]:
    """All problem names (``"hs001"`` ...), in the book's order."""
    return tuple(_BY_NAME)


def numbers() -> tuple[int, ...]:
    """All problem numbers, in order."""
    return tuple(p.number for p in PROBLEMS)


def get(name: str | int) -> HSProblem:
    """The problem ``name`` (``"hs071"``, ``"hs71"`` or ``71``)."""
    if isinstance(name, int):
        name = f"hs{name:03d}"
    key = name.lower()
    if key.startswith("hs") and key[2:].isdigit():
        key = f"hs{int(key[2:]):03d}"
    try:
        return _BY_NAME[key]
    except KeyError:
        raise KeyError(f"unknown Hock-Schittkowski problem {name!r}; known: "
                       f"{', '.join(_BY_NAME)}") from None
