"""Specification of symopt.functions: sigmoid, softplus and the function whitelist."""

from __future__ import annotations

import math
import pickle

import mpmath
import numpy as np
import pytest
import sympy
from sympy.codegen.cfunctions import expm1, log1p

from symopt.functions import (
    ALLOWED_CONSTANTS,
    ALLOWED_FUNCTIONS,
    FUNCTION_ARITY,
    sigmoid,
    softplus,
)

z = sympy.Symbol("z", real=True)
POINTS = [-30.0, -3.0, -0.5, 0.0, 0.7, 4.0, 25.0]


def closed_sigmoid(v: float) -> float:
    with mpmath.workdps(60):  # the naive formula, computed with digits to spare
        return float(1 / (1 + mpmath.exp(-mpmath.mpf(v))))


def closed_softplus(v: float) -> float:
    with mpmath.workdps(60):
        return float(mpmath.log(1 + mpmath.exp(mpmath.mpf(v))))


def value(expr: sympy.Expr, v: float) -> float:
    return float(expr.evalf(30, subs={z: v}))


def central_difference(expr: sympy.Expr, v: float, h: float = 1e-6) -> float:
    # evaluated in 30 digits, so the difference quotient carries only truncation error
    return float((expr.evalf(40, subs={z: v + h}) - expr.evalf(40, subs={z: v - h})) / (2 * h))


# ---------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------


def test_sigmoid_at_zero_is_one_half():
    assert sigmoid(0) == sympy.Rational(1, 2)


def test_softplus_at_zero_is_log_two():
    assert softplus(0) == sympy.log(2)


def test_limits_at_infinity_evaluate():
    assert sigmoid(sympy.oo) == 1 and sigmoid(-sympy.oo) == 0
    assert softplus(sympy.oo) == sympy.oo and softplus(-sympy.oo) == 0


@pytest.mark.parametrize("v", POINTS)
def test_values_match_the_defining_formulas(v):
    assert value(sigmoid(z), v) == pytest.approx(closed_sigmoid(v), rel=1e-14, abs=1e-300)
    assert value(softplus(z), v) == pytest.approx(closed_softplus(v), rel=1e-14, abs=1e-300)


def test_exact_arguments_stay_symbolic_and_evalf_to_numbers():
    assert isinstance(sigmoid(2), sigmoid)
    assert float(sigmoid(2).evalf()) == pytest.approx(closed_sigmoid(2.0), rel=1e-15)


def test_float_arguments_evaluate_immediately():
    assert isinstance(sigmoid(sympy.Float(2.0)), sympy.Float)
    assert isinstance(softplus(z).subs(z, 1.5), sympy.Float)


def test_symbolic_arguments_stay_unevaluated_under_evalf():
    assert sigmoid(z).evalf() == sigmoid(z)


def test_softplus_of_large_argument_does_not_overflow():
    assert float(softplus(1000).evalf()) == 1000.0
    assert float(softplus(sympy.Float(1e30))) == 1e30


def test_softplus_of_large_negative_argument_keeps_its_tiny_value():
    assert float(softplus(-700).evalf()) == pytest.approx(math.exp(-700), rel=1e-14)
    assert softplus(-1000).evalf() > 0


def test_sigmoid_of_large_arguments_is_accurate():
    assert float(sigmoid(1000).evalf()) == 1.0
    assert float(sigmoid(-700).evalf()) == pytest.approx(math.exp(-700), rel=1e-14)


def test_evalf_honours_the_requested_precision():
    with mpmath.workdps(50):
        expected = 1 / (1 + mpmath.exp(-mpmath.mpf(1) / 3))
        got = mpmath.mpf(str(sigmoid(sympy.Rational(1, 3)).evalf(50)))
        assert abs(got - expected) < mpmath.mpf(10) ** -48


def test_complex_arguments_evaluate():
    assert complex(sigmoid(2 * sympy.I).evalf()) == pytest.approx(1 / (1 + np.exp(-2j)))
    assert complex(softplus(sympy.I).evalf()) == pytest.approx(np.log(1 + np.exp(1j)))


def test_rewrite_as_exp_gives_the_definitions():
    assert sigmoid(z).rewrite(sympy.exp) == 1 / (1 + sympy.exp(-z))
    assert softplus(z).rewrite(sympy.exp) == sympy.log(1 + sympy.exp(z))


def test_sigmoid_rewrite_as_tanh_is_equal():
    difference = (sigmoid(z).rewrite(sympy.tanh) - sigmoid(z).rewrite(sympy.exp)).rewrite(sympy.exp)
    assert sympy.simplify(difference) == 0


def test_assumptions_for_real_arguments():
    assert sigmoid(z).is_real and sigmoid(z).is_positive and sigmoid(z).is_finite
    assert softplus(z).is_real and softplus(z).is_positive and softplus(z).is_finite
    w = sympy.Symbol("w")  # no assumptions: nothing claimed
    assert sigmoid(w).is_real is None and softplus(w).is_positive is None


# ---------------------------------------------------------------------------
# derivatives
# ---------------------------------------------------------------------------


def test_closed_form_derivatives():
    assert sympy.diff(softplus(z), z) == sigmoid(z)
    assert sympy.diff(sigmoid(z), z) == sigmoid(z) * (1 - sigmoid(z))


@pytest.mark.parametrize("f", [sigmoid, softplus])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_derivatives_match_those_of_the_definition(f, order):
    derived = sympy.diff(f(z), z, order)
    reference = sympy.diff(f(z).rewrite(sympy.exp), z, order)
    for v in POINTS:
        assert value(derived, v) == pytest.approx(value(reference, v), rel=1e-12, abs=1e-25)


@pytest.mark.parametrize("f", [sigmoid, softplus, log1p, expm1])
@pytest.mark.parametrize("v", [-2.5, -0.3, 0.0, 0.4, 3.0])
def test_first_derivative_matches_finite_differences(f, v):
    derivative = sympy.diff(f(z), z)
    assert value(derivative, v) == pytest.approx(central_difference(f(z), v), rel=1e-9)


def test_log1p_and_expm1_have_their_closed_form_derivatives():
    assert sympy.diff(log1p(z), z) == 1 / (z + 1)
    assert sympy.diff(expm1(z), z) == sympy.exp(z)
    assert sympy.diff(log1p(z), z, 3) == 2 / (z + 1) ** 3


@pytest.mark.slow
def test_third_derivative_of_a_composition():
    expr = softplus(sigmoid(z) * z)
    third = sympy.diff(expr, z, 3)
    reference = sympy.diff(expr.rewrite(sympy.exp), z, 3)
    for v in [-1.0, 0.3, 2.0]:
        assert value(third, v) == pytest.approx(value(reference, v), rel=1e-12)


def test_series_at_zero():
    assert sympy.series(sigmoid(z), z, 0, 4).removeO() == sympy.Rational(1, 2) + z / 4 - z**3 / 48


# ---------------------------------------------------------------------------
# printing, CSE, pickling, lambdify
# ---------------------------------------------------------------------------


def test_latex_uses_operatorname():
    assert sympy.latex(sigmoid(z)) == r"\operatorname{sigmoid}{\left(z \right)}"
    assert sympy.latex(softplus(z)) == r"\operatorname{softplus}{\left(z \right)}"


def test_latex_of_a_power_puts_the_exponent_on_the_name():
    assert sympy.latex(sigmoid(z) ** 2) == r"\operatorname{sigmoid}^{2}{\left(z \right)}"


def test_str_and_pretty_printing_use_the_name():
    assert str(softplus(z) + sigmoid(z)) in ("sigmoid(z) + softplus(z)", "softplus(z) + sigmoid(z)")
    assert "sigmoid(z)" in sympy.pretty(sigmoid(z), use_unicode=False)


def test_cse_extracts_repeated_sigmoid():
    expr = sympy.diff(softplus(z), z, 3)
    replacements, (reduced,) = sympy.cse(expr)
    assert any(rhs == sigmoid(z) for _, rhs in replacements)
    assert reduced.subs(list(reversed(replacements))).equals(expr)


def test_pickling_round_trips():
    expr = softplus(sigmoid(z) * 2) + sympy.diff(sigmoid(z), z, 2) + log1p(z) + expm1(z)
    assert pickle.loads(pickle.dumps(expr)) == expr


def test_lambdify_with_numpy_is_stable():
    f = sympy.lambdify(z, softplus(z) + sigmoid(z))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = f(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(out, [0.0, math.log(2) + 0.5, 1001.0])


def test_lambdify_with_mpmath_keeps_mpmath_arithmetic():
    f = sympy.lambdify(z, softplus(z), "mpmath")
    assert f(mpmath.mpf(3)) == pytest.approx(closed_softplus(3.0), rel=1e-15)


# ---------------------------------------------------------------------------
# the whitelist
# ---------------------------------------------------------------------------


def test_whitelist_contains_the_required_functions():
    required = {"exp", "log", "log1p", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan",
                "sinh", "cosh", "tanh", "erf", "abs", "sigmoid", "softplus"}
    assert required <= set(ALLOWED_FUNCTIONS)


def test_whitelist_maps_abs_to_sympy_abs_and_log1p_to_codegen_cfunction():
    x = sympy.Symbol("x", real=True)
    assert ALLOWED_FUNCTIONS["abs"](x) == sympy.Abs(x) and ALLOWED_FUNCTIONS["Abs"](-3) == 3
    assert ALLOWED_FUNCTIONS["log1p"] is log1p and ALLOWED_FUNCTIONS["expm1"] is expm1


def test_every_allowed_function_has_an_arity_and_a_derivative():
    assert set(FUNCTION_ARITY) == set(ALLOWED_FUNCTIONS)
    symbols = sympy.symbols("a b", real=True)
    for name, f in ALLOWED_FUNCTIONS.items():
        expr = f(*symbols[: FUNCTION_ARITY[name]])
        gradient = [sympy.diff(expr, s) for s in symbols]
        assert not any(g.has(sympy.Derivative) for g in gradient), name


def test_constants():
    assert ALLOWED_CONSTANTS == {"pi": sympy.pi, "e": sympy.E, "E": sympy.E,
                                 "EulerGamma": sympy.EulerGamma,
                                 "GoldenRatio": sympy.GoldenRatio, "Catalan": sympy.Catalan}


def test_float_constants_are_the_doubles_nearest_the_constants():
    from symopt.functions import FLOAT_CONSTANTS

    assert set(FLOAT_CONSTANTS) == set(ALLOWED_CONSTANTS)
    for name, value in FLOAT_CONSTANTS.items():
        assert value == float(ALLOWED_CONSTANTS[name].evalf(40)), name


def test_reserved_names_are_neither_constants_nor_functions():
    from symopt.functions import RESERVED_NAMES

    assert {"I", "oo", "zoo", "nan", "inf"} <= set(RESERVED_NAMES)
    assert not set(RESERVED_NAMES) & (set(ALLOWED_CONSTANTS) | set(ALLOWED_FUNCTIONS))


@pytest.mark.parametrize("name", sorted(ALLOWED_FUNCTIONS))
def test_float_function_agrees_with_sympy_evaluated_by_mpmath(name):
    import math

    from symopt.functions import FLOAT_FUNCTIONS

    points = {1: [-3.5, -0.7, -1e-3, 0.0, 0.4, 0.99, 2.5, 30.0],
              2: [(1.0, 2.0), (-0.5, 3.0), (2.0, -1.0), (-1.0, -1.0)]}[FUNCTION_ARITY[name]]
    for point in points:
        args = point if isinstance(point, tuple) else (point,)
        try:
            value = FLOAT_FUNCTIONS[name](*args)
        except ValueError:  # outside the real domain: SymPy's value is not real there
            exact = complex(ALLOWED_FUNCTIONS[name](*map(sympy.Float, args)).evalf(30))
            assert exact.imag != 0 or not math.isfinite(abs(exact)), (name, args)
            continue
        exact = ALLOWED_FUNCTIONS[name](*map(sympy.Float, args)).evalf(30)
        assert value == pytest.approx(float(exact), rel=1e-14, abs=1e-300), (name, args)


@pytest.mark.parametrize("inner", ["sqrt", "float power", "log"])
def test_abs_of_an_argument_not_known_real_differentiates_as_a_real_function(inner):
    # abs(x**0.5) derived to an unevaluated Derivative of re(x**0.5): a CompileError
    # (found by fuzzing); the derivative must be sign(u)*u', checked by finite differences
    from symopt.functions import RealAbs

    x = sympy.Symbol("x", real=True)
    u = {"sqrt": sympy.sqrt(x), "float power": x**0.5, "log": sympy.log(x)}[inner]
    f = ALLOWED_FUNCTIONS["abs"](u)
    assert isinstance(f, RealAbs) and str(f) == f"Abs({u})"
    d = f.diff(x)
    assert not d.has(sympy.Derivative, sympy.re, sympy.im)
    assert not d.diff(x).has(sympy.Derivative, sympy.re, sympy.im)  # the Hessian too
    for point in (0.3, 2.0, 5.0):
        h = 1e-6
        fd = (float(f.subs(x, point + h)) - float(f.subs(x, point - h))) / (2 * h)
        assert float(d.subs(x, point)) == pytest.approx(fd, rel=1e-6)


def test_real_abs_pickles_and_prints_like_abs():
    from symopt.functions import RealAbs

    x = sympy.Symbol("x", real=True)
    f = RealAbs(sympy.log(x))
    assert pickle.loads(pickle.dumps(f)) == f
    assert sympy.latex(f) == sympy.latex(sympy.Abs(sympy.log(x)))


@pytest.mark.slow
def test_kernels_of_abs_of_arguments_not_known_real_compile_and_agree_with_finite_differences():
    import symopt as so

    p = so.Problem("abs(x**0.5) + abs(log(y)) + abs(sqrt(x))*y")
    k = so.compile(p)
    point = np.array([2.0, 3.0])
    f, g, H = k.value_grad_hess(point)
    h = 1e-6
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        assert g[i] == pytest.approx((k.value(point + e) - k.value(point - e)) / (2 * h), rel=1e-6)
        assert H[i] == pytest.approx((k.grad(point + e) - k.grad(point - e)) / (2 * h), rel=1e-5,
                                     abs=1e-9)
