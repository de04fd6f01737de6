"""The Moré–Garbow–Hillstrom unconstrained least-squares test collection.

J. J. Moré, B. S. Garbow and K. E. Hillstrom, "Testing Unconstrained
Optimization Software", ACM Transactions on Mathematical Software 7(1),
17-41, 1981 (here "MGH").

Every problem is given as a list of residual formulas ``r_1 .. r_m`` written as
plain arithmetic text in the variables ``x1 .. xn`` (``+ - * / **``, decimal
numbers, and the functions exp, log, sqrt, sin, cos, tan, atan, atan2, abs).
The objective is MGH's ``F(x) = sum_i r_i(x)**2`` (no factor 1/2); see
:attr:`TestProblem.loss`.

Data constants that MGH define by a formula (``t_i = i/29``, Biggs' ``y_i``,
the Gulf ``y_i`` ...) are written as the correctly rounded double of the exact
value (computed with mpmath), in positional decimal notation.

``fmin`` is the smallest minimum value MGH list for the problem (to the digits
the paper prints, which are truncated, e.g. ``48.9842...``); ``other_minima``
holds the further local-minimum values MGH list (plus, for trigonometric_10, the
widely reported local minimum 2.79506e-5, flagged in its notes).  ``xmin`` is a minimiser where the paper gives one; where the paper gives
only leading digits (``0.2578...``) the stored point is that minimiser refined
to double precision, and where the paper gives a set of minimisers (linear rank
1 problems, Box 3-D) one member of the set is stored; ``notes`` says which.

This module is test infrastructure: :meth:`TestProblem.residual_values`
evaluates this module's own trusted formula text with SymPy/NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import mpmath
import numpy as np

__all__ = ["TestProblem", "PROBLEMS", "get", "names"]

# Functions the formula text may call.
ALLOWED_FUNCTION_NAMES = frozenset(
    {"exp", "log", "sqrt", "sin", "cos", "tan", "atan", "atan2", "abs"}
)


@dataclass(frozen=True)
class TestProblem:
    """One MGH problem (at one size) as residual formula text."""

    __test__ = False  # not a pytest test class

    name: str
    number: int
    residuals: tuple[str, ...]
    variables: tuple[str, ...]
    x0: tuple[float, ...]
    fmin: float
    xmin: tuple[float, ...] | None
    other_minima: tuple[float, ...] = ()
    notes: str = ""

    @property
    def n(self) -> int:
        """Number of variables."""
        return len(self.variables)

    @property
    def m(self) -> int:
        """Number of residuals."""
        return len(self.residuals)

    @property
    def loss(self) -> str:
        """``F = sum r_i**2`` as formula text (MGH's convention, no 1/2)."""
        return " + ".join(f"({r})**2" for r in self.residuals)

    def residual_values(self, x) -> np.ndarray:
        """The residuals ``r_1 .. r_m`` at ``x`` (length-n sequence), as floats."""
        x = np.asarray(x, dtype=float).reshape(-1)
        if x.shape[0] != self.n:
            raise ValueError(f"{self.name}: expected {self.n} values, got {x.shape[0]}")
        fn = _lambdified(self.residuals, self.variables)
        return np.array([float(v) for v in fn(*x)], dtype=float)

    def value(self, x) -> float:
        """``F(x) = sum r_i(x)**2``."""
        r = self.residual_values(x)
        return float(np.dot(r, r))


@lru_cache(maxsize=None)
def _sympy_residuals(residuals: tuple[str, ...], variables: tuple[str, ...]):
    import sympy

    syms = sympy.symbols(variables, real=True)
    local = {str(s): s for s in syms}
    local.update(
        exp=sympy.exp, log=sympy.log, sqrt=sympy.sqrt, sin=sympy.sin,
        cos=sympy.cos, tan=sympy.tan, atan=sympy.atan, atan2=sympy.atan2,
        abs=sympy.Abs,
    )
    exprs = [sympy.sympify(r, locals=local) for r in residuals]
    return syms, exprs


@lru_cache(maxsize=None)
def _lambdified(residuals: tuple[str, ...], variables: tuple[str, ...]):
    import sympy

    syms, exprs = _sympy_residuals(residuals, variables)
    return sympy.lambdify(syms, exprs, modules="math")


# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------

def _num(v) -> str:
    """A number as positional decimal text (shortest round-trip digits)."""
    if isinstance(v, mpmath.mpf):
        v = float(v)
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e15):
        return str(int(v))
    s = np.format_float_positional(float(v), unique=True, trim="-")
    return s


def _p(v) -> str:
    """A number as text, parenthesised when negative (safe as a factor)."""
    s = _num(v)
    return f"({s})" if s.startswith("-") else s


def _x(j: int) -> str:
    return f"x{j}"


def _vars(n: int) -> tuple[str, ...]:
    return tuple(_x(j) for j in range(1, n + 1))


def _sum(terms) -> str:
    """Join terms with + / - (terms starting with '-' are subtracted)."""
    out = ""
    for t in terms:
        if not out:
            out = t
        elif t.startswith("-"):
            out += " - " + t[1:]
        else:
            out += " + " + t
    return out or "0"


def _mk(name, number, residuals, n, x0, fmin, xmin=None, other_minima=(), notes=""):
    res = tuple(residuals)
    x0 = tuple(float(v) for v in x0)
    if len(x0) != n:
        raise AssertionError(name)
    return TestProblem(
        name=name,
        number=number,
        residuals=res,
        variables=_vars(n),
        x0=x0,
        fmin=float(fmin),
        xmin=None if xmin is None else tuple(float(v) for v in xmin),
        other_minima=tuple(float(v) for v in other_minima),
        notes=notes,
    )


mpf = mpmath.mpf

# ---------------------------------------------------------------------------
# The problems
# ---------------------------------------------------------------------------


def _rosenbrock():
    return _mk("rosenbrock", 1, ["10*(x2 - x1**2)", "1 - x1"], 2, (-1.2, 1.0), 0.0, (1.0, 1.0))


def _freudenstein_roth():
    return _mk(
        "freudenstein_roth", 2,
        ["-13 + x1 + ((5 - x2)*x2 - 2)*x2", "-29 + x1 + ((x2 + 1)*x2 - 14)*x2"],
        2, (0.5, -2.0), 0.0, (5.0, 4.0), other_minima=(48.9842,),
        notes="MGH: f=0 at (5, 4); f=48.9842... at (11.41..., -0.8968...). "
        "scipy lm from x0 stops at the local minimum 48.9842.",
    )


def _powell_badly_scaled():
    return _mk(
        "powell_badly_scaled", 3,
        ["10000*x1*x2 - 1", "exp(-x1) + exp(-x2) - 1.0001"],
        2, (0.0, 1.0), 0.0, (1.0981593296998175e-05, 9.106146739866524),
        notes="MGH give xmin = (1.098...e-5, 9.106...); stored xmin refined to double precision (mpmath root of r = 0).",
    )


def _brown_badly_scaled():
    return _mk(
        "brown_badly_scaled", 4,
        ["x1 - 1000000", "x2 - 0.000002", "x1*x2 - 2"],
        2, (1.0, 1.0), 0.0, (1e6, 2e-6),
    )


def _beale():
    ys = ["1.5", "2.25", "2.625"]
    res = [f"{y} - x1*(1 - x2**{i})" for i, y in enumerate(ys, start=1)]
    return _mk("beale", 5, res, 2, (1.0, 1.0), 0.0, (3.0, 0.5))


def _jennrich_sampson(m=10):
    res = [f"{2 + 2 * i} - (exp({i}*x1) + exp({i}*x2))" for i in range(1, m + 1)]
    return _mk(
        "jennrich_sampson", 6, res, 2, (0.3, 0.4), 124.362,
        (0.2578252136703641, 0.2578252136703641),
        notes="m=10. MGH: f=124.362... at x1=x2=0.2578... (m=10); stored xmin refined to double precision (mpmath).",
    )


def _helical_valley():
    twopi = "(2*3.141592653589793)"
    res = [
        f"10*(x3 - 10*(atan2(x2, x1)/{twopi}))",
        "10*(sqrt(x1**2 + x2**2) - 1)",
        "x3",
    ]
    return _mk(
        "helical_valley", 7, res, 3, (-1.0, 0.0, 0.0), 0.0, (1.0, 0.0, 0.0),
        notes="theta(x1, x2) = atan2(x2, x1)/(2*pi), values in (-1/2, 1/2]. This equals MGH's "
        "piecewise theta except for x1 < 0, x2 < 0, where MGH's is larger by 1 (MGH's branch "
        "cut is the negative x2 axis, atan2's the negative x1 axis). Same value at x0 "
        "(theta=1/2) and near the minimiser.",
    )


def _bard():
    y = [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39]
    res = []
    for i in range(1, 16):
        u, v = i, 16 - i
        w = min(u, v)
        res.append(f"{_num(y[i - 1])} - (x1 + {u}/({v}*x2 + {w}*x3))")
    return _mk(
        "bard", 8, res, 3, (1.0, 1.0, 1.0), 8.21487e-3, None, other_minima=(17.4286,),
        notes="MGH: f=8.21487...e-3; f=17.4286... at (0.8406..., -inf, -inf) (a limit, "
        "not attained: F(0.8406, -1e8, -1e8) = 17.42869).",
    )


def _gaussian():
    y = [0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
         0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009]
    res = []
    for i in range(1, 16):
        t = (8 - i) / 2
        res.append(f"x1*exp(-x2*({_p(t)} - x3)**2/2) - {_num(y[i - 1])}")
    return _mk("gaussian", 9, res, 3, (0.4, 1.0, 0.0), 1.12793e-8, None,
               notes="MGH: f=1.12793...e-8.")


def _meyer():
    y = [34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744, 8261, 7030,
         6005, 5147, 4427, 3820, 3307, 2872]
    res = [f"x1*exp(x2/({45 + 5 * i} + x3)) - {y[i - 1]}" for i in range(1, 17)]
    return _mk("meyer", 10, res, 3, (0.02, 4000.0, 250.0), 87.9458, None,
               notes="MGH: f=87.9458....")


def _gulf(m=99):
    res = []
    for i in range(1, m + 1):
        t = mpf(i) / 100
        y = 25 + (-50 * mpmath.log(t)) ** (mpf(2) / 3)
        res.append(f"exp(-abs({_num(y)} - x2)**x3/x1) - {_num(t)}")
    return _mk(
        "gulf", 11, res, 3, (5.0, 2.5, 0.15), 0.0, (50.0, 25.0, 1.5),
        notes="MGH allow n <= m <= 100; m=99 is used (i=100 would give y=25=x2 at the "
        "minimiser, where d/dx3 |y - x2|**x3 is undefined). f_i = exp(-|y_i - x2|**x3/x1) - t_i, "
        "t_i = i/100, y_i = 25 + (-50 ln t_i)**(2/3).",
    )


def _box3d(m=10):
    res = []
    for i in range(1, m + 1):
        t = mpf(i) / 10
        c = mpmath.exp(-t) - mpmath.exp(-10 * t)
        res.append(f"exp(-{_num(t)}*x1) - exp(-{_num(t)}*x2) - x3*{_p(c)}")
    return _mk(
        "box_3d", 12, res, 3, (0.0, 10.0, 20.0), 0.0, (1.0, 10.0, 1.0),
        notes="m=10. MGH: f=0 at (1, 10, 1), (10, 1, -1) and wherever x1 = x2 and x3 = 0 "
        "(xmin stores the first).",
    )


def _powell_singular():
    res = ["x1 + 10*x2", "sqrt(5)*(x3 - x4)", "(x2 - 2*x3)**2", "sqrt(10)*(x1 - x4)**2"]
    return _mk("powell_singular", 13, res, 4, (3.0, -1.0, 0.0, 1.0), 0.0, (0.0,) * 4,
               notes="Singular Hessian at the minimiser (slow, linear convergence).")


def _wood():
    res = [
        "10*(x2 - x1**2)", "1 - x1", "sqrt(90)*(x4 - x3**2)", "1 - x3",
        "sqrt(10)*(x2 + x4 - 2)", "(x2 - x4)/sqrt(10)",
    ]
    return _mk("wood", 14, res, 4, (-3.0, -1.0, -3.0, -1.0), 0.0, (1.0,) * 4)


def _kowalik_osborne():
    y = [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246]
    u = [4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625]
    res = []
    for yi, ui in zip(y, u):
        us, u2 = _num(ui), _num(float(mpf(str(ui)) ** 2))
        res.append(f"{_num(yi)} - x1*({u2} + {us}*x2)/({u2} + {us}*x3 + x4)")
    return _mk(
        "kowalik_osborne", 15, res, 4, (0.25, 0.39, 0.415, 0.39), 3.07505e-4, None,
        other_minima=(1.02734e-3,),
        notes="MGH: f=3.07505...e-4; f=1.02734...e-3 at (+inf, -14.07..., -inf, -inf) (a limit, "
        "not attained).",
    )


def _brown_dennis(m=20):
    res = []
    for i in range(1, m + 1):
        t = mpf(i) / 5
        res.append(
            f"(x1 + {_num(t)}*x2 - {_num(mpmath.exp(t))})**2"
            f" + (x3 + x4*{_p(mpmath.sin(t))} - {_p(mpmath.cos(t))})**2"
        )
    return _mk("brown_dennis", 16, res, 4, (25.0, 5.0, -5.0, -1.0), 85822.2, None,
               notes="m=20. MGH: f=85822.2... (m=20).")


def _osborne1():
    y = [0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751,
         0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490,
         0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406]
    res = []
    for i in range(1, 34):
        t = 10 * (i - 1)
        res.append(f"{_num(y[i - 1])} - (x1 + x2*exp(-{t}*x4) + x3*exp(-{t}*x5))")
    return _mk("osborne1", 17, res, 5, (0.5, 1.5, -1.0, 0.01, 0.02), 5.46489e-5, None,
               notes="MGH: f=5.46489...e-5.")


def _biggs_exp6(m=13):
    res = []
    for i in range(1, m + 1):
        t = mpf(i) / 10
        y = mpmath.exp(-t) - 5 * mpmath.exp(-10 * t) + 3 * mpmath.exp(-4 * t)
        ts = _num(t)
        res.append(f"x3*exp(-{ts}*x1) - x4*exp(-{ts}*x2) + x6*exp(-{ts}*x5) - {_p(y)}")
    return _mk(
        "biggs_exp6", 18, res, 6, (1.0, 2.0, 1.0, 1.0, 1.0, 1.0), 0.0,
        (1.0, 10.0, 1.0, 5.0, 4.0, 3.0), other_minima=(5.65565e-3,),
        notes="m=13. MGH: f=5.65565...e-3 if m=13; f=0 at (1, 10, 1, 5, 4, 3). scipy lm from x0 "
        "reaches f=0; the 5.65565e-3 local minimum (F=5.6556499e-3, at x1 = x2 = 1.71142...) is "
        "reached from some other starts (MGH's 5.65565 is rounded, not truncated, here).",
    )


def _osborne2():
    y = [1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746,
         0.679, 0.608, 0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649,
         0.694, 0.644, 0.624, 0.661, 0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395,
         0.375, 0.372, 0.391, 0.396, 0.405, 0.428, 0.429, 0.523, 0.562, 0.607, 0.653,
         0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559, 0.597, 0.625, 0.739,
         0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054]
    res = []
    for i in range(1, 66):
        t = _num(mpf(i - 1) / 10)
        res.append(
            f"{_num(y[i - 1])} - (x1*exp(-{t}*x5) + x2*exp(-({t} - x9)**2*x6)"
            f" + x3*exp(-({t} - x10)**2*x7) + x4*exp(-({t} - x11)**2*x8))"
        )
    return _mk(
        "osborne2", 19, res, 11, (1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5),
        4.01377e-2, None, notes="MGH: f=4.01377...e-2.",
    )


def _watson(n):
    res = []
    for i in range(1, 30):
        t = _num(mpf(i) / 29)
        # sum_{j=2}^n (j-1) x_j t^(j-2), Horner form
        d = f"{n - 1}*x{n}"
        for j in range(n - 1, 1, -1):
            d = f"{j - 1}*x{j} + {t}*({d})"
        # sum_{j=1}^n x_j t^(j-1), Horner form
        s = f"x{n}"
        for j in range(n - 1, 0, -1):
            s = f"x{j} + {t}*({s})"
        res.append(f"{d} - ({s})**2 - 1")
    res.append("x1")
    res.append("x2 - x1**2 - 1")
    fmins = {6: 2.28767e-3, 9: 1.39976e-6, 12: 4.72238e-10}
    return _mk(f"watson_{n}", 20, res, n, (0.0,) * n, fmins[n], None,
               notes=f"n={n}, m=31. MGH: f=2.28767...e-3 (n=6), 1.39976...e-6 (n=9), "
               "4.72238...e-10 (n=12).")


def _extended_rosenbrock(n):
    res = []
    for i in range(1, n // 2 + 1):
        res.append(f"10*(x{2 * i} - x{2 * i - 1}**2)")
        res.append(f"1 - x{2 * i - 1}")
    return _mk(f"extended_rosenbrock_{n}", 21, res, n, (-1.2, 1.0) * (n // 2), 0.0, (1.0,) * n)


def _extended_powell(n):
    res = []
    for i in range(1, n // 4 + 1):
        a, b, c, d = 4 * i - 3, 4 * i - 2, 4 * i - 1, 4 * i
        res += [f"x{a} + 10*x{b}", f"sqrt(5)*(x{c} - x{d})", f"(x{b} - 2*x{c})**2",
                f"sqrt(10)*(x{a} - x{d})**2"]
    return _mk(f"extended_powell_{n}", 22, res, n, (3.0, -1.0, 0.0, 1.0) * (n // 4), 0.0,
               (0.0,) * n, notes="Singular Hessian at the minimiser.")


def _penalty1(n):
    res = [f"sqrt(0.00001)*(x{i} - 1)" for i in range(1, n + 1)]
    res.append(_sum(f"x{j}**2" for j in range(1, n + 1)) + " - 0.25")
    fmins = {4: 2.24997e-5, 10: 7.08765e-5}
    return _mk(f"penalty1_{n}", 23, res, n, tuple(range(1, n + 1)), fmins[n], None,
               notes=f"n={n}, m=n+1, a=1e-5. MGH: f=2.24997...e-5 (n=4), 7.08765...e-5 (n=10).")


def _penalty2(n):
    res = ["x1 - 0.2"]
    for i in range(2, n + 1):
        y = mpmath.exp(mpf(i) / 10) + mpmath.exp(mpf(i - 1) / 10)
        res.append(f"sqrt(0.00001)*(exp(x{i}/10) + exp(x{i - 1}/10) - {_num(y)})")
    e = _num(mpmath.exp(mpf(-1) / 10))
    for i in range(n + 1, 2 * n):
        res.append(f"sqrt(0.00001)*(exp(x{i - n + 1}/10) - {e})")
    res.append(_sum(f"{n - j + 1}*x{j}**2" for j in range(1, n + 1)) + " - 1")
    fmins = {4: 9.37629e-6, 10: 2.93660e-4}
    return _mk(f"penalty2_{n}", 24, res, n, (0.5,) * n, fmins[n], None,
               notes=f"n={n}, m=2n, a=1e-5. MGH: f=9.37629...e-6 (n=4), 2.93660...e-4 (n=10).")


def _variably_dimensioned(n):
    res = [f"x{i} - 1" for i in range(1, n + 1)]
    s = _sum(f"{j}*(x{j} - 1)" for j in range(1, n + 1))
    res.append(s)
    res.append(f"({s})**2")
    return _mk(f"variably_dimensioned_{n}", 25, res, n,
               tuple(1 - mpf(j) / n for j in range(1, n + 1)), 0.0, (1.0,) * n)


def _trigonometric(n):
    cs = _sum(f"cos(x{j})" for j in range(1, n + 1))
    res = [f"{n} - ({cs}) + {i}*(1 - cos(x{i})) - sin(x{i})" for i in range(1, n + 1)]
    return _mk(
        f"trigonometric_{n}", 26, res, n, (1 / n,) * n, 0.0, None,
        other_minima=(2.79506e-5,) if n == 10 else (),
        notes="MGH: f=0. For n=10, scipy lm/trf from x0 stop at the local minimum "
        "f=2.79506...e-5 (2.7950561e-5; a value reported in later literature, not one MGH list)." if n == 10
        else "MGH: f=0.",
    )


def _brown_almost_linear(n):
    s = _sum(f"x{j}" for j in range(1, n + 1))
    res = [f"x{i} + {s} - {n + 1}" for i in range(1, n)]
    res.append("*".join(f"x{j}" for j in range(1, n + 1)) + " - 1")
    return _mk(
        f"brown_almost_linear_{n}", 27, res, n, (0.5,) * n, 0.0, (1.0,) * n,
        other_minima=(1.0,),
        notes="MGH: f=0 at (a, ..., a, a**(1-n)) with n a**n - (n+1) a**(n-1) + 1 = 0 "
        "(a=1 is a root; xmin stores (1, ..., 1)); f=1 at (0, ..., 0, n+1). scipy lm from x0 "
        "reaches f=0 with an exact Jacobian but f=1 with its finite-difference Jacobian.",
    )


def _discrete_bv(n):
    h = mpf(1) / (n + 1)
    h2 = _num(h * h)
    res = []
    for i in range(1, n + 1):
        t = _num(h * i)
        terms = [f"2*x{i}"]
        if i > 1:
            terms.append(f"-x{i - 1}")
        if i < n:
            terms.append(f"-x{i + 1}")
        terms.append(f"{h2}*(x{i} + {t} + 1)**3/2")
        res.append(_sum(terms))
    x0 = tuple(float(h * j * (h * j - 1)) for j in range(1, n + 1))
    return _mk(f"discrete_boundary_value_{n}", 28, res, n, x0, 0.0, None,
               notes="h = 1/(n+1), t_i = i h, x_0 = x_{n+1} = 0.")


def _discrete_integral(n):
    h = mpf(1) / (n + 1)
    t = [h * j for j in range(n + 1)]  # t[j] = j h
    res = []
    for i in range(1, n + 1):
        a = _sum(f"{_num(t[j])}*(x{j} + {_num(t[j] + 1)})**3" for j in range(1, i + 1))
        b = _sum(f"{_num(1 - t[j])}*(x{j} + {_num(t[j] + 1)})**3" for j in range(i + 1, n + 1))
        txt = f"x{i} + {_num(h / 2)}*({_num(1 - t[i])}*({a})"
        if i < n:
            txt += f" + {_num(t[i])}*({b})"
        txt += ")"
        res.append(txt)
    x0 = tuple(float(h * j * (h * j - 1)) for j in range(1, n + 1))
    return _mk(f"discrete_integral_equation_{n}", 29, res, n, x0, 0.0, None,
               notes="h = 1/(n+1), t_i = i h.")


def _broyden_tridiagonal(n):
    res = []
    for i in range(1, n + 1):
        terms = [f"(3 - 2*x{i})*x{i}"]
        if i > 1:
            terms.append(f"-x{i - 1}")
        if i < n:
            terms.append(f"-2*x{i + 1}")
        terms.append("1")
        res.append(_sum(terms))
    return _mk(f"broyden_tridiagonal_{n}", 30, res, n, (-1.0,) * n, 0.0, None)


def _broyden_banded(n, ml=5, mu=1):
    res = []
    for i in range(1, n + 1):
        terms = [f"x{i}*(2 + 5*x{i}**2)", "1"]
        for j in range(max(1, i - ml), min(n, i + mu) + 1):
            if j != i:
                terms.append(f"-x{j}*(1 + x{j})")
        res.append(_sum(terms))
    return _mk(f"broyden_banded_{n}", 31, res, n, (-1.0,) * n, 0.0, None,
               notes="ml=5, mu=1.")


def _linear_full_rank(n, m):
    s = _sum(f"x{j}" for j in range(1, n + 1))
    c = _num(mpf(2) / m)
    res = [f"x{i} - {c}*({s}) - 1" for i in range(1, n + 1)]
    res += [f"-{c}*({s}) - 1" for _ in range(n + 1, m + 1)]
    return _mk(f"linear_full_rank_{n}_{m}", 32, res, n, (1.0,) * n, m - n, (-1.0,) * n,
               notes=f"n={n}, m={m}. MGH: f=m-n at (-1, ..., -1).")


def _linear_rank1(n, m):
    s = _sum(f"{j}*x{j}" for j in range(1, n + 1))
    res = [f"{i}*({s}) - 1" for i in range(1, m + 1)]
    fmin = mpf(m * (m - 1)) / (2 * (2 * m + 1))
    xmin = (float(mpf(3) / (2 * m + 1)),) + (0.0,) * (n - 1)
    return _mk(f"linear_rank1_{n}_{m}", 33, res, n, (1.0,) * n, fmin, xmin,
               notes=f"n={n}, m={m}. MGH: f=m(m-1)/(2(2m+1)) at any point with "
               "sum j x_j = 3/(2m+1); xmin stores one such point.")


def _linear_rank1_zero(n, m):
    s = _sum(f"{j}*x{j}" for j in range(2, n))
    res = ["-1"] + [f"{i - 1}*({s}) - 1" for i in range(2, m)] + ["-1"]
    fmin = mpf(m * m + 3 * m - 6) / (2 * (2 * m - 3))
    xmin = (0.0, float(mpf(3) / (2 * (2 * m - 3)))) + (0.0,) * (n - 2)
    return _mk(f"linear_rank1_zero_{n}_{m}", 34, res, n, (1.0,) * n, fmin, xmin,
               notes=f"n={n}, m={m}. MGH: f=(m**2+3m-6)/(2(2m-3)) at any point with "
               "sum_{j=2}^{n-1} j x_j = 3/(2m-3); xmin stores one such point. "
               "Residuals 1 and m are the constant -1.")


def _cheb_coeffs(k):
    """Coefficients c_0..c_k of the Chebyshev polynomial T_k(y)."""
    a, b = [1], [0, 1]
    if k == 0:
        return a
    for _ in range(k - 1):
        c = [0] + [2 * v for v in b]
        for idx, v in enumerate(a):
            c[idx] -= v
        a, b = b, c
    return b


def _cheb_text(k, var):
    """T_k(2*var - 1) as Horner text in y = (2*var - 1)."""
    y = f"(2*{var} - 1)"
    c = _cheb_coeffs(k)
    txt = _num(c[k])
    for p in range(k - 1, -1, -1):
        txt = f"{y}*({txt})" if c[p] == 0 else f"{_num(c[p])} + {y}*({txt})"
    return txt


def _chebyquad(n, m=None):
    m = n if m is None else m
    res = []
    for i in range(1, m + 1):
        s = " + ".join(f"({_cheb_text(i, f'x{j}')})" for j in range(1, n + 1))
        txt = f"({s})/{n}"
        if i % 2 == 0:
            txt += f" + {_num(mpf(1) / (i * i - 1))}"
        res.append(txt)
    fmins = {8: 3.51687e-3, 10: 6.50395e-3}
    return _mk(
        f"chebyquad_{n}", 35, res, n, tuple(mpf(j) / (n + 1) for j in range(1, n + 1)),
        fmins.get(n, 0.0), None,
        notes="m=n. Shifted Chebyshev T_i(2x-1); integral of T_i over [0, 1] is -1/(i**2-1) "
        "for even i, 0 for odd i. MGH: f=0 for m=n, 1<=n<=7 and n=9; f=3.51687...e-3 for "
        "m=n=8; f=6.50395...e-3 for m=n=10.",
    )


def _build() -> tuple[TestProblem, ...]:
    return (
        _rosenbrock(),
        _freudenstein_roth(),
        _powell_badly_scaled(),
        _brown_badly_scaled(),
        _beale(),
        _jennrich_sampson(10),
        _helical_valley(),
        _bard(),
        _gaussian(),
        _meyer(),
        _gulf(99),
        _box3d(10),
        _powell_singular(),
        _wood(),
        _kowalik_osborne(),
        _brown_dennis(20),
        _osborne1(),
        _biggs_exp6(13),
        _osborne2(),
        _watson(6),
        _watson(9),
        _extended_rosenbrock(10),
        _extended_powell(12),
        _penalty1(4),
        _penalty1(10),
        _penalty2(4),
        _penalty2(10),
        _variably_dimensioned(10),
        _trigonometric(10),
        _brown_almost_linear(10),
        _discrete_bv(10),
        _discrete_integral(10),
        _broyden_tridiagonal(10),
        _broyden_banded(10),
        _linear_full_rank(5, 10),
        _linear_rank1(5, 10),
        _linear_rank1_zero(5, 10),
        _chebyquad(5),
        _chebyquad(8),
    )


with mpmath.workdps(40):  # data constants: correctly rounded doubles
    PROBLEMS: tuple[TestProblem, ...] = _build()
_BY_NAME = {p.name: p for p in PROBLEMS}


def names() -> tuple[str, ...]:
    """All problem names, in MGH order."""
    return tuple(_BY_NAME)


def get(name: str) -> TestProblem:
    """The problem called ``name`` (see :func:`names`)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown test problem {name!r}; known: {', '.join(_BY_NAME)}") from None
