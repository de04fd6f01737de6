"""symopt.tensor: array formulas, their shapes, their derivatives as formulas, display and
the text parser.  Derivatives are checked against finite differences of the NumPy
reference evaluator and against hand derivations; nothing here compiles kernels."""

import numpy as np
import pytest
import sympy

import symopt.tensor as st
from symopt.errors import FormulaError, ProblemError, ShapeError
from symopt.tensor.autodiff import directions
from symopt.tensor.reference import evaluate

rng = np.random.default_rng(12)


def logistic():
    m, d = st.dims("m d")
    X, y = st.data("X", (m, d)), st.data("y", m)
    w, b = st.variable("w", d), st.variable("b")
    z = X @ w + b
    return st.Problem(st.mean(st.softplus(z) - y * z)), (X, y, w, b)


def fd_gradient(f, x, eps=1e-6):
    out = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = eps
        out.flat[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return out


# --- building formulas ---------------------------------------------------------------------


def test_nodes_are_interned_so_equal_formulas_are_the_same_object():
    (m,) = (st.dims("m"),)
    x = st.variable("x", m)
    assert st.variable("x", m) is x
    assert (2 * x + 1) is (2 * x + 1)
    assert st.sum(st.exp(x)) is st.sum(st.exp(x))


def test_elementwise_chains_are_one_map_whose_derivative_sympy_takes():
    problem, (X, y, w, b) = logistic()
    g = problem.gradient_formulas
    assert str(g[w]) == "Xᵀ @ ((-y + sigmoid(X @ w + b))/m)"
    assert str(g[b]) == "sum((-y + sigmoid(X @ w + b))/m)"


def test_shapes_are_symbolic_and_mismatches_name_both_shapes():
    m, d = st.dims("m d")
    X, y = st.data("X", (m, d)), st.data("y", d)
    w = st.variable("w", m)
    assert (X @ st.variable("v", d)).shape == (m,)
    with pytest.raises(ShapeError, match=r"\(m, d\) and \(m,\)"):
        X @ w
    with pytest.raises(ShapeError, match=r"\(m,\), \(d,\)"):
        w + y
    with pytest.raises(ShapeError, match="even"):
        n = st.dims("n")
        x = st.variable("x", n)
        x[::2] - x[1::2]


def test_even_sizes_make_strided_halves_the_same_length():
    n = st.dims("n", even=True)
    x = st.variable("x", n)
    assert (x[1::2] - x[::2]).shape == (n / 2,)


def test_bad_building_blocks_are_clear_errors():
    m = st.dims("m")
    x = st.variable("x", m)
    with pytest.raises(ProblemError, match="no truth value"):
        bool(x)
    with pytest.raises(ProblemError, match="SymPy symbol"):
        x + sympy.Symbol("q")
    with pytest.raises(ProblemError, match="positive integers"):
        x[::-1]
    with pytest.raises(ShapeError, match="out of range"):
        st.variable("y", 2)[2]
    with pytest.raises(ProblemError, match="scalar"):
        st.Problem(x * 2)
    with pytest.raises(FormulaError):
        st.variable("__class__", m)


def test_index_sums_lower_to_slices():
    n = st.dims("n")
    x = st.variable("x", n)
    i = st.index("i")
    by_index = st.sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2, (i, 0, n - 2))
    by_slices = st.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    assert by_index is by_slices


def test_slices_are_checked_against_the_sizes_at_solve_time():
    n = st.dims("n")
    x = st.variable("x", n)
    i = st.index("i")
    p = st.Problem(st.sum(x[2 * i + 1] * x[2 * i], (i, 0, n - 1)))  # reads x[2n - 1]
    with pytest.raises(ShapeError, match="outside"):
        p.resolve_sizes(x={"x": np.ones(4)})


def test_sizes_are_read_from_data_and_start_and_mismatches_name_both_shapes():
    problem, _ = logistic()
    sizes = problem.resolve_sizes({"X": np.ones((5, 3)), "y": np.ones(5)})
    assert {d.name: v for d, v in sizes.items()} == {"m": 5, "d": 3}
    with pytest.raises(ShapeError, match=r"data 'y' has shape \(4,\) but the formula needs \(m,\) = \(5,\)"):
        problem.resolve_sizes({"X": np.ones((5, 3)), "y": np.ones(4)})


# --- derivatives as formulas, checked numerically -----------------------------------------------


def _env(problem, arrays):
    return {leaf: arrays[leaf.name] for leaf in problem.variables + problem.data + problem.parameters}


FORMULAS = {
    "logistic": lambda: logistic()[0],
    "softmax cross-entropy": lambda: st.Problem(
        "mean(logsumexp(X @ W + c, axis=1) - pick(X @ W + c, lab)) + 1e-3*sum(W**2)",
        data={"X": "m d", "lab": ("m", int)}, wrt={"W": "d K", "c": "K"}),
    "two-layer network": lambda: st.Problem(
        "mean((tanh(X @ W1 + b1) @ w2 + b2 - y)**2)", data={"X": "m d", "y": "m"},
        wrt={"W1": "d h", "b1": "h", "w2": "h", "b2": ""}),
    "chained rosenbrock": lambda: st.Problem(
        "sum(100*(x[i+1] - x[i]**2)**2 + (1 - x[i])**2, (i, 0, n - 2))", wrt={"x": "n"}),
    "variance": lambda: st.Problem("mean((X @ w - mean(X @ w))**2) + sum(w**4)",
                                   data={"X": "m d"}, wrt={"w": "d"}),
    "max and transpose": lambda: st.Problem("max(X.T @ y) + sum(w**2) + logsumexp(X @ w)",
                                            data={"X": "m d", "y": "m"}, wrt={"w": "d"}),
}
SIZES = {"m": 7, "d": 3, "K": 4, "h": 2, "n": 6}


def _arrays(problem):
    arrays = {}
    for leaf in problem.data + problem.variables:
        shape = tuple(SIZES[s.name] for s in leaf.shape)
        if leaf.dtype == "int":
            arrays[leaf.name] = rng.integers(0, SIZES["K"], shape)
        else:
            arrays[leaf.name] = rng.standard_normal(shape) * 0.5
    return arrays


@pytest.mark.parametrize("name", FORMULAS)
def test_gradient_hvp_and_hessian_formulas_match_finite_differences(name):
    problem = FORMULAS[name]()
    arrays = _arrays(problem)
    sizes = problem.resolve_sizes({d.name: arrays[d.name] for d in problem.data},
                                  {v.name: arrays[v.name] for v in problem.variables})
    env = _env(problem, arrays)
    flat = np.concatenate([np.ravel(arrays[v.name]) for v in problem.variables])

    def split(x):
        out, at = {}, 0
        for v in problem.variables:
            size = int(np.size(arrays[v.name]))
            out[v] = x[at:at + size].reshape(np.shape(arrays[v.name]))
            at += size
        return out

    def f(x):
        return evaluate([problem.loss], {**env, **split(x)}, sizes)[0]

    def grad(x):
        parts = evaluate([problem.gradient_formulas[v] for v in problem.variables],
                         {**env, **split(x)}, sizes)
        return np.concatenate([np.ravel(p) for p in parts])

    g = grad(flat)
    np.testing.assert_allclose(g, fd_gradient(f, flat), rtol=1e-6, atol=1e-7)
    v = rng.standard_normal(flat.size)
    dirs = directions(problem.variables)
    hv = evaluate([problem.hvp_formulas[var] for var in problem.variables],
                  {**env, **{dirs[k]: val for k, val in split(v).items()}}, sizes)
    hv = np.concatenate([np.ravel(p) for p in hv])
    eps = 1e-6
    np.testing.assert_allclose(hv, (grad(flat + eps * v) - grad(flat - eps * v)) / (2 * eps),
                               rtol=1e-5, atol=1e-6)


def test_hessian_formula_of_logistic_regression_is_the_hand_derivation():
    problem, (X, y, w, b) = logistic()
    block = problem.hessian_formulas[(0, 0)]
    Xv, wv, bv = rng.standard_normal((9, 3)), rng.standard_normal(3), 0.2
    sizes = problem.resolve_sizes({"X": Xv, "y": np.zeros(9)})
    (H,) = evaluate([block], {X: Xv, y: np.zeros(9), w: wv, b: bv}, sizes)
    s = 1 / (1 + np.exp(-(Xv @ wv + bv)))
    np.testing.assert_allclose(H, Xv.T @ np.diag(s * (1 - s)) @ Xv / 9, rtol=1e-13)
    assert "∂²L/∂w∂w = Xᵀ @ diag((1 - sigmoid(t1 + b))*sigmoid(t1 + b)/m) @ X" in str(problem.hessian)
    least_squares = st.Problem("sum((X @ w - y)**2)", data={"X": "m d", "y": "m"}, wrt={"w": "d"})
    assert str(least_squares.hessian) == "∂²L/∂w∂w = 2*Xᵀ @ X"


def test_gradient_matches_mpmath_differentiation_at_high_precision():
    import mpmath

    problem, (X, y, w, b) = logistic()
    Xv, yv = rng.standard_normal((4, 2)), np.array([0.0, 1.0, 1.0, 0.0])
    wv, bv = rng.standard_normal(2), -0.3
    sizes = problem.resolve_sizes({"X": Xv, "y": yv})
    gw, gb = evaluate([problem.gradient_formulas[w], problem.gradient_formulas[b]],
                      {X: Xv, y: yv, w: wv, b: bv}, sizes)
    mpmath.mp.dps = 40

    def loss(w0, w1, b0):
        total = 0
        for row, target in zip(Xv.tolist(), yv.tolist()):
            z = w0 * row[0] + w1 * row[1] + b0
            total += mpmath.log(1 + mpmath.exp(z)) - target * z
        return total / 4

    point = (mpmath.mpf(wv[0]), mpmath.mpf(wv[1]), mpmath.mpf(bv))
    exact = [mpmath.diff(loss, point, tuple(int(k == j) for k in range(3))) for j in range(3)]
    np.testing.assert_allclose(np.r_[gw, gb], [float(e) for e in exact], rtol=1e-13)


# --- display -----------------------------------------------------------------------------------


def test_gradient_prints_as_backpropagation_equations_in_text_and_latex():
    problem = FORMULAS["two-layer network"]()
    text = str(problem.gradient)
    assert "∂L/∂W1 = Xᵀ @ δ" in text and "∂L/∂w2 = t2ᵀ @ δ1" in text
    latex = problem.gradient.latex()
    assert latex.startswith(r"\begin{aligned}") and r"\frac{\partial L}{\partial W_{1}}" in latex
    assert problem.gradient._repr_latex_().startswith("$")
    assert "∂L/∂b2 = sum(δ1)" in text


def test_rosenbrock_gradient_is_written_with_slices():
    problem = FORMULAS["chained rosenbrock"]()
    text = str(problem.gradient)
    assert "place(" in text and "x[1:]" in text and "x[:n - 1]" in text


# --- text ---------------------------------------------------------------------------------------


def test_text_and_python_give_the_same_formula():
    m, d = st.dims("m d")
    X, y = st.data("X", (m, d)), st.data("y", m)
    w, b = st.variable("w", d), st.variable("b")
    built = st.mean(st.softplus(X @ w + b) - y * (X @ w + b))
    parsed = st.Problem("mean(softplus(X @ w + b) - y*(X @ w + b))", data={"X": "m d", "y": "m"},
                        wrt={"w": "d", "b": ""})
    assert parsed.loss is built


@pytest.mark.parametrize("text, message", [
    ("x.__class__", "attribute access"),
    ("sum(x**10**10**10)", "number too large"),
    ("sum(y)", "unknown name 'y'"),
    ("sum(x[i])", "not a size or a summation index"),
    ("sum(exp(x)[1.5])", "integers"),
    ("sum(log(x) + 1/0)", "division by zero"),
    ("__import__('os').system('true')", "only named functions"),
    ("sum(x, (x, 0, 3))", "already a name"),
    ("sum(x[" * 150 + "0" + "])" * 150, "nested too deeply"),
])
def test_hostile_or_wrong_text_is_a_formula_error_pointing_at_it(text, message):
    with pytest.raises(FormulaError, match=message):
        st.Problem(text, wrt={"x": "n"})


def test_text_shape_errors_stay_shape_errors_and_point_at_the_part():
    with pytest.raises(ShapeError, match=r"(?s)even.*\^"):
        st.Problem("sum(x[::2] - x[1::2])", wrt={"x": "n"})
