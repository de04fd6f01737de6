"""The Moré–Garbow–Hillstrom collection in symopt.testproblems: shape, syntax, data.

The last test solves every problem from its standard start with SciPy's
Levenberg-Marquardt (exact SymPy Jacobians) and checks the literature minimum.
"""

from __future__ import annotations

import ast
import math
import re

import numpy as np
import pytest

from symopt import testproblems as tp

ALLOWED_FUNCTIONS = {"exp", "log", "sqrt", "sin", "cos", "tan", "atan", "atan2", "abs"}
ARITY = {name: (2 if name == "atan2" else 1) for name in ALLOWED_FUNCTIONS}

PROBLEMS = tp.PROBLEMS
IDS = [p.name for p in PROBLEMS]

# Problems where LM from the standard start stops at another literature minimum
# (listed in the problem's other_minima) instead of fmin.
LM_REACHES_OTHER = {"freudenstein_roth": 48.9842, "trigonometric_10": 2.79506e-5}


def close(value: float, target: float) -> bool:
    if target == 0:
        return abs(value) <= 1e-10
    return abs(value - target) <= 1e-4 * abs(target)


def _check_text(text: str, variables: set[str]) -> None:
    assert not re.search(r"\d[eE][+-]?\d", text), f"exponent notation in {text!r}"
    tree = ast.parse(text, mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression, ast.Load)):
            continue
        if isinstance(node, ast.BinOp):
            assert isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)), text
        elif isinstance(node, ast.UnaryOp):
            assert isinstance(node.op, (ast.USub, ast.UAdd)), text
        elif isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id in ALLOWED_FUNCTIONS, text
            assert not node.keywords and len(node.args) == ARITY[node.func.id], text
        elif isinstance(node, ast.Name):
            assert node.id in variables or node.id in ALLOWED_FUNCTIONS, (node.id, text)
        elif isinstance(node, ast.Constant):
            assert type(node.value) in (int, float) and math.isfinite(node.value), text
        elif isinstance(node, (ast.operator, ast.unaryop)):
            continue
        else:  # pragma: no cover - reports the offending syntax
            raise AssertionError(f"{type(node).__name__} in {text!r}")


def test_collection_covers_mgh():
    assert len(PROBLEMS) >= 30
    assert len(set(IDS)) == len(IDS)
    assert {p.number for p in PROBLEMS} == set(range(1, 36))
    assert tp.get("rosenbrock").number == 1
    assert tp.get("extended_rosenbrock_10").n == 10
    with pytest.raises(KeyError):
        tp.get("no_such_problem")


def test_collection_covers_every_mgh_problem_number():
    assert sorted({p.number for p in PROBLEMS}) == list(range(1, 36))


@pytest.mark.parametrize("p", PROBLEMS, ids=IDS)
def test_shapes_and_text(p):
    n, m = len(p.variables), len(p.residuals)
    assert p.variables == tuple(f"x{j}" for j in range(1, n + 1))
    assert m >= n >= 1
    assert len(p.x0) == n
    assert p.xmin is None or len(p.xmin) == n
    assert p.fmin >= 0 and all(v > 0 for v in p.other_minima)
    variables = set(p.variables)
    for r in p.residuals:
        _check_text(r, variables)
    _check_text(p.loss, variables)
    used = set(re.findall(r"\bx\d+\b", " ".join(p.residuals)))
    assert used <= variables


@pytest.mark.slow
@pytest.mark.parametrize("p", PROBLEMS, ids=IDS)
def test_values(p):
    r0 = p.residual_values(p.x0)
    assert r0.shape == (len(p.residuals),)
    f0 = float(r0 @ r0)
    assert math.isfinite(f0) and f0 > p.fmin
    # the loss text is the sum of squares of the residuals
    env = {name: getattr(math, name) for name in ALLOWED_FUNCTIONS - {"abs"}}
    env.update(abs=abs, **dict(zip(p.variables, p.x0)))
    assert eval(p.loss, {"__builtins__": {}}, env) == pytest.approx(f0, rel=1e-12)
    if p.xmin is not None:
        fx = p.value(p.xmin)
        assert close(fx, p.fmin), (fx, p.fmin)


@pytest.mark.slow
def test_project_parser_accepts_residuals():
    parsing = pytest.importorskip("symopt.parsing")
    for p in PROBLEMS:
        for r in p.residuals:
            parsing.parse_formula(r)


def _atan2(y, x):
    # analytic in complex-step perturbations; branch chosen from the real parts
    xr, yr = np.real(x), np.real(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        base = np.where(xr != 0, np.arctan(y / np.where(xr != 0, x, 1)), 0)
    shift = np.where(xr < 0, np.where(yr >= 0, np.pi, -np.pi), 0.0)
    axis = np.where(xr == 0, np.sign(yr) * np.pi / 2, 0.0)
    return base + shift + axis


_NUMPY_ENV = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "atan": np.arctan, "atan2": _atan2,
    "abs": lambda u: np.sqrt(u * u),  # |u| with derivative sign(u) under complex step
}


def _numeric(p):
    """Residuals and their Jacobian (complex step: exact to rounding)."""
    code = compile("[" + ", ".join(f"({r})" for r in p.residuals) + "]", p.name, "eval")
    n, m = len(p.variables), len(p.residuals)
    h = 1e-100

    def evaluate(values):
        env = dict(_NUMPY_ENV)
        env.update(zip(p.variables, values))
        return [np.broadcast_to(v, np.shape(values[0])) for v in eval(code, {"__builtins__": {}}, env)]

    def fun(x):
        return np.array([float(np.real(v)) for v in evaluate(list(np.asarray(x, float)))])

    def jac(x):
        cols = [x[j] + 1j * h * np.eye(n)[j] for j in range(n)]  # variable j, perturbed in column j
        return np.array([np.imag(v) / h for v in evaluate(cols)]).reshape(m, n)

    return fun, jac


@pytest.mark.slow
@pytest.mark.parametrize("p", PROBLEMS, ids=IDS)
def test_levenberg_marquardt_reaches_literature_minimum(p):
    optimize = pytest.importorskip("scipy.optimize")
    fun, jac = _numeric(p)
    res = optimize.least_squares(
        fun, np.array(p.x0), jac=jac, method="lm",
        xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=100000,
    )
    F = float(res.fun @ res.fun)
    if p.name == "biggs_exp6" and not close(F, p.fmin):
        # scipy's MINPACK from this start is sensitive to the last bits of the Jacobian
        # (seen stalling at F = 0.647 in one run of the suite out of many); symopt's own
        # LM reaching F = 0 is checked in test_mgh_least_squares.py
        pytest.xfail(f"scipy lm stalled at F = {F} on Biggs EXP6 (rounding-sensitive)")
    target = LM_REACHES_OTHER.get(p.name, p.fmin)
    assert target == p.fmin or target in p.other_minima
    assert close(F, target), (F, target)
