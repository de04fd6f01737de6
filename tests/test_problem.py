"""Problem: variables, parameters, display, and the errors a user can cause."""

import pytest
import sympy

import symopt as so


def test_variables_are_found_in_natural_order():
    p = so.Problem("w10*w2 + w1**2 + w2**2 + w10**2")
    assert p.variable_names == ("w1", "w2", "w10")


def test_wrt_fixes_the_order():
    p = so.Problem("(1 - x)**2 + 100*(y - x**2)**2", wrt="y x")
    assert p.variable_names == ("y", "x")
    assert p.gradient[0] == sympy.diff(p.expr, p.variables[0])


def test_wrt_accepts_range_syntax_lists_and_symbols():
    assert so.Problem("w0**2 + w1**2 + w2", wrt="w0:3").variable_names == ("w0", "w1", "w2")
    assert so.Problem("x*y + x**2", wrt=["x", "y"]).variable_names == ("x", "y")
    x, y = sympy.symbols("x y")
    assert so.Problem(x**2 + y**4, wrt=[y, x]).variable_names == ("y", "x")


def test_sympy_expression_symbols_become_real():
    x = sympy.Symbol("x")  # no assumptions
    p = so.Problem(sympy.Abs(x) + x**2)
    (v,) = p.variables
    assert v.is_real
    assert p.gradient[0] == sympy.sign(v) + 2 * v


def test_parameters_are_not_variables():
    p = so.Problem("a*x**2 + b*exp(-x)", wrt="x", params="a b")
    assert p.variable_names == ("x",)
    assert p.parameter_names == ("a", "b")
    q = so.Problem("a*x**2 + b*exp(-x)", params="a, b")
    assert q.variable_names == ("x",)


@pytest.mark.slow
def test_one_compilation_serves_every_parameter_value():
    q = so.Problem("a*(x - b)**2", wrt="x", params="a b")
    k = so.compile(q)
    for b in (0.5, 2.0, -3.0):
        res = so.minimize(q, x0=[10.0], params={"a": 2.0, "b": b})
        assert res.success and res.x[0] == pytest.approx(b)
    assert so.compile(q) is k
    assert k.value([1.0], [1.0, 3.0]) == pytest.approx(4.0)


def test_repr_shows_formula_gradient_and_hessian():
    p = so.Problem("(1 - x)**2 + 100*(y - x**2)**2")
    text = repr(p)
    assert "(1 - x)**2 + 100*(y - x**2)**2" in text
    assert "gradient" in text and "Hessian" in text and "400" in text


def test_latex_repr_contains_gradient_and_hessian():
    p = so.Problem("a*x**2 + b*exp(-x)", wrt="x", params="a b")
    latex = p._repr_latex_()
    assert latex.startswith("$") and latex.endswith("$")
    assert "\\nabla f" in latex and "\\nabla^2 f" in latex and "e^{- x}" in latex


def test_display_of_many_variables_is_truncated():
    p = so.Problem(" + ".join(f"(x{i} - {i})**2" for i in range(20)))
    assert "20 variables" in repr(p)
    assert len(p._repr_latex_()) < 2000


# --- errors -----------------------------------------------------------------------------

def test_loss_without_variables_is_an_error():
    with pytest.raises(so.ProblemError, match="depends on no variable"):
        so.Problem("2 + 3")
    with pytest.raises(so.ProblemError, match="depends on no variable"):
        so.Problem("a**2", params="a")


def test_non_scalar_loss_is_an_error():
    x, y = sympy.symbols("x y")
    with pytest.raises(so.ProblemError, match="scalar"):
        so.Problem(sympy.Matrix([x, y]))
    with pytest.raises(so.ProblemError, match="scalar"):
        so.Problem(["x**2", "y**2"])


def test_symbol_that_is_neither_variable_nor_parameter_is_an_error():
    with pytest.raises(so.ProblemError, match="'c'.*neither a variable"):
        so.Problem("a*x**2 + c", wrt="x", params="a")


def test_listed_variable_the_loss_does_not_use_has_zero_derivatives():
    p = so.Problem("x**2", wrt="x z")
    assert p.variable_names == ("x", "z")
    assert list(p.gradient) == [2 * p.variables[0], 0]
    res = so.minimize(p, [1.0, 5.0])
    assert res.success and res.x == pytest.approx([0.0, 5.0], abs=1e-8)


def test_loss_using_none_of_the_listed_variables_is_an_error():
    with pytest.raises(so.ProblemError, match="depends on no variable"):
        so.Problem("a**2", wrt="x", params="a")


def test_parameter_not_in_the_loss_is_an_error():
    with pytest.raises(so.ProblemError, match="parameter 'bb' does not appear"):
        so.Problem("a*x**2", params="a bb")


def test_name_both_variable_and_parameter_is_an_error():
    with pytest.raises(so.ProblemError, match="both"):
        so.Problem("a*x**2", wrt="x a", params="a")


def test_equation_is_not_a_loss():
    x = sympy.Symbol("x")
    with pytest.raises(so.ProblemError):
        so.Problem(sympy.Eq(x, 1))


def test_unsafe_text_never_reaches_sympy():
    with pytest.raises(so.FormulaError):
        so.Problem("__import__('os').system('echo pwned')")
    with pytest.raises(so.FormulaError):
        so.Problem("x.__class__")


def test_per_problem_caches_live_in_one_slot_that_is_not_pickled():
    import pickle

    from symopt.problem import CACHE_SLOT, ProblemCache, problem_cache

    p = so.Problem("(x - 1)**2 + y**2")
    before = set(vars(p))
    so.minimize(p, [0.0, 0.0])
    # beyond the slot, only derived SymPy results (cached properties) are added
    assert set(vars(p)) - before <= {CACHE_SLOT, "derivatives", "regularization_derivatives"}
    cache = problem_cache(p)
    assert isinstance(cache, ProblemCache) and cache.kernels is not None and cache.plans
    assert CACHE_SLOT not in vars(pickle.loads(pickle.dumps(p)))
