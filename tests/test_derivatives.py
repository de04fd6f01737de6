"""Derivatives: compiled gradients and Hessians against independent oracles.

The oracle is a central finite difference of the *value* evaluated in 40-digit
mpmath arithmetic (so truncation and rounding errors are far below double precision),
independent of SymPy's differentiation, of CSE and of the code printer.  Rosenbrock
and a quadratic form are also checked against hand derivations.
"""

import zlib

import mpmath
import numpy as np
import pytest
import sympy

import symopt as so
from symopt.derivatives import Derivatives

# (formula, sampler for a point where the formula is smooth) - together they use
# every admitted function
FORMULAS = [
    ("(1 - x)**2 + 100*(y - x**2)**2", lambda r: r.uniform(-2, 2, 2)),
    ("exp(x*y) + log(1 + x**2)", lambda r: r.uniform(-1, 1, 2)),
    ("log1p(x**2) * sqrt(1 + y**2)", lambda r: r.uniform(-2, 2, 2)),
    ("sin(x)*cos(y) + tan(x*y/4)", lambda r: r.uniform(-1, 1, 2)),
    ("asin(x/2) + acos(y/3) + atan(x*y)", lambda r: r.uniform(-1, 1, 2)),
    ("sinh(x) * cosh(y) + tanh(x - y)", lambda r: r.uniform(-1, 1, 2)),
    ("erf(x*y) + x**4", lambda r: r.uniform(-1.5, 1.5, 2)),
    ("abs(x) + (x - y)**2", lambda r: r.uniform(0.2, 2, 2) * r.choice([-1, 1], 2)),
    ("sigmoid(x + 2*y) * softplus(x - y)", lambda r: r.uniform(-3, 3, 2)),
    ("softplus(-3*x) + softplus(2*y) + x*y", lambda r: r.uniform(-5, 5, 2)),
    ("x**2.5 + y**(-1.5) + x**(1/3)*y", lambda r: r.uniform(0.5, 2, 2)),
    ("exp(-(x**2 + y**2 + z**2)) * (x + 2*y - z)", lambda r: r.uniform(-1, 1, 3)),
    ("(x1 - 1)**2 + (x2 - x1**2)**2 + (x3 - x2**2)**2 + sin(x4)*x1", lambda r: r.uniform(-1, 1, 4)),
    ("x**x * y", lambda r: r.uniform(0.5, 2, 2)),
    ("sqrt(x**2 + y**2 + 1) - log(x**2 + 1) * atan(y)", lambda r: r.uniform(-3, 3, 2)),
    ("a*exp(-b*x) + c*x**2", lambda r: r.uniform(-1, 1, 1)),
    ("cosh(x)/sinh(y) + tanh(x)**3", lambda r: r.uniform(0.5, 1.5, 2)),
]
PARAMS = {"a": 1.3, "b": 0.7, "c": 2.1}

_MP = {
    "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
    "softplus": lambda z: mpmath.log(1 + mpmath.exp(z)),
    "Abs": abs,
    "log1p": lambda z: mpmath.log(1 + z),
}


def _problem(formula):
    params = "a b c" if formula.startswith("a*exp") else None
    return so.Problem(formula, params=params)


def _mp_value(problem):
    f = sympy.lambdify(problem.variables + problem.parameters, problem.expr, modules=[_MP, "mpmath"])
    pvals = [mpmath.mpf(PARAMS[n]) for n in problem.parameter_names]
    return lambda xs: f(*xs, *pvals)


def _fd_grad_hess(value, x):
    with mpmath.workdps(50):
        xs = [mpmath.mpf(float(v)) for v in x]
        n = len(xs)
        h = mpmath.mpf("1e-15")
        g = np.empty(n)
        H = np.empty((n, n))

        def at(*shifts):
            y = list(xs)
            for i, s in shifts:
                y[i] += s
            return value(y)

        for i in range(n):
            g[i] = float((at((i, h)) - at((i, -h))) / (2 * h))
            for j in range(n):
                H[i, j] = float((at((i, h), (j, h)) - at((i, h), (j, -h)) - at((i, -h), (j, h))
                                 + at((i, -h), (j, -h))) / (4 * h * h))
    return g, H


@pytest.mark.slow
@pytest.mark.parametrize("formula,sampler", FORMULAS, ids=[f for f, _ in FORMULAS])
def test_compiled_derivatives_match_high_precision_finite_differences(formula, sampler):
    problem = _problem(formula)
    kernels = so.compile(problem)
    value = _mp_value(problem)
    rng = np.random.default_rng(zlib.crc32(formula.encode()))  # same points in every run
    params = {n: PARAMS[n] for n in problem.parameter_names} or None
    for _ in range(3):
        x = sampler(rng)
        f, g, H = kernels.value_grad_hess(x, params)
        g_ref, H_ref = _fd_grad_hess(value, x)
        with mpmath.workdps(30):
            f_ref = float(value([mpmath.mpf(float(v)) for v in x]))
        assert f == pytest.approx(f_ref, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(H, H_ref, rtol=1e-8, atol=1e-8)
        # the separate kernels agree with the fused one, to rounding: they are CSE'd
        # separately, so an entry made by cancellation (0.0016 from terms of size 0.3)
        # may differ in its last bits relative to the gradient's size
        g_scale = 1e-13 * np.abs(g).max()
        assert kernels.value(x, params) == pytest.approx(f, rel=1e-14, abs=1e-300)
        np.testing.assert_allclose(kernels.grad(x, params), g, rtol=1e-13, atol=g_scale)
        f2, g2 = kernels.value_and_grad(x, params)
        assert f2 == pytest.approx(f, rel=1e-14, abs=1e-300)
        np.testing.assert_allclose(g2, g, rtol=1e-13, atol=g_scale)


def test_every_admitted_function_is_covered_by_the_table():
    from symopt.functions import ALLOWED_FUNCTIONS

    used = " ".join(f for f, _ in FORMULAS)
    required = ["exp", "log", "log1p", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan",
                "sinh", "cosh", "tanh", "erf", "abs", "sigmoid", "softplus"]
    for name in required:
        assert name in ALLOWED_FUNCTIONS
        assert f"{name}(" in used, name


def test_rosenbrock_matches_hand_derivation():
    p = so.Problem("(1 - x)**2 + 100*(y - x**2)**2")
    x, y = p.variables
    grad = sympy.Matrix([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])
    hess = sympy.Matrix([[2 - 400 * (y - x**2) + 800 * x**2, -400 * x], [-400 * x, 200]])
    assert sympy.simplify(p.gradient - grad) == sympy.zeros(2, 1)
    assert sympy.simplify(p.hessian - hess) == sympy.zeros(2, 2)
    f, g, H = so.compile(p).value_grad_hess([-1.2, 1.0])
    assert f == pytest.approx(24.2)
    np.testing.assert_allclose(g, [-215.6, -88.0])
    np.testing.assert_allclose(H, [[1330.0, 480.0], [480.0, 200.0]])


def test_quadratic_form_gradient_is_A_plus_At_x_and_hessian_is_A_plus_At():
    A = sympy.Matrix([[3, 1, 0], [2, 4, -1], [0, 5, 2]])
    b = sympy.Matrix([1, -2, 3])
    xs = sympy.symbols("x1:4", real=True)
    X = sympy.Matrix(xs)
    expr = (X.T * A * X)[0] / 2 - (b.T * X)[0]
    p = so.Problem(expr)
    assert p.variables == xs
    sym = (A + A.T) / 2
    assert sympy.expand(p.gradient - (sym * X - b)) == sympy.zeros(3, 1)
    assert p.hessian == sym
    x0 = np.array([0.3, -1.0, 2.0])
    _, g, H = so.compile(p).value_grad_hess(x0)
    np.testing.assert_allclose(H, np.array(sym, dtype=float))
    np.testing.assert_allclose(g, np.array(sym, dtype=float) @ x0 - np.array(b, dtype=float).ravel())


def test_hessian_is_symmetric_and_derived_once_per_upper_entry():
    p = so.Problem("x**3*y + sin(y*z) + x*z**2")
    H = p.hessian
    assert H == H.T
    assert set(p.derivatives.hessian_upper) <= {(i, j) for i in range(3) for j in range(i, 3)}


def test_structural_zeros_are_known():
    p = so.Problem("x**2 + y**2 + exp(z)")
    assert p.derivatives.hessian_sparsity == ((0, 0), (1, 1), (2, 2))
    d = Derivatives(sympy.Symbol("x", real=True) * 3, (sympy.Symbol("x", real=True),))
    assert d.hessian_sparsity == ()
    assert d.hessian == sympy.zeros(1, 1)


def test_softplus_kernel_does_not_overflow_for_large_arguments():
    k = so.compile(so.Problem("softplus(x) + sigmoid(x)"))
    f, g, H = k.value_grad_hess([800.0])
    assert f == pytest.approx(801.0)
    assert g[0] == pytest.approx(1.0)
    f, g, H = k.value_grad_hess([-800.0])
    assert f == pytest.approx(0.0, abs=1e-300)
    assert np.isfinite(g).all() and np.isfinite(H).all()
