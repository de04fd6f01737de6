"""symopt.nn: networks as formulas, their gradients against hand-written NumPy
backpropagation and finite differences, the printed backpropagation equations."""

import numpy as np
import pytest

from symopt import ShapeError, nn

rng = np.random.default_rng(42)

ACT = {
    "tanh": (np.tanh, lambda z, h: 1 - h * h),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, h: h * (1 - h)),
    "relu": (lambda z: np.maximum(z, 0), lambda z, h: (z > 0).astype(float)),
    "softplus": (lambda z: np.logaddexp(0, z), lambda z, h: 1 / (1 + np.exp(-z))),
}


def backprop(weights, X, y, activation, loss, l2=0.0):
    """Hand-written forward and backward pass of an MLP (the independent oracle)."""
    f, df = ACT[activation]
    L = len(weights) // 2
    Hs, Zs = [X], []
    for k in range(1, L + 1):
        Z = Hs[-1] @ weights[f"W{k}"] + weights[f"b{k}"]
        Zs.append(Z)
        if k < L:
            Hs.append(f(Z))
    Z = Zs[-1]
    B = X.shape[0]
    if loss == "softmax":
        Y = np.eye(Z.shape[1])[y] if y.ndim == 1 else y
        top = Z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(Z - top).sum(axis=1)) + top[:, 0]
        value = np.mean(lse - (Y * Z).sum(axis=1))
        P = np.exp(Z - lse[:, None])
        delta = (P - Y) / B
    elif loss == "bce":
        value = np.mean(np.logaddexp(0, Z) - y * Z)
        delta = (1 / (1 + np.exp(-Z)) - y) / y.size
    else:
        value = np.mean((Z - y) ** 2)
        delta = 2 * (Z - y) / y.size
    grads = {}
    for k in range(L, 0, -1):
        grads[f"W{k}"] = Hs[k - 1].T @ delta + l2 * weights[f"W{k}"]
        grads[f"b{k}"] = delta.sum(axis=0)
        if k > 1:
            delta = (delta @ weights[f"W{k}"].T) * df(Zs[k - 2], Hs[k - 1])
    value += sum(l2 / 2 * np.sum(weights[f"W{k}"] ** 2) for k in range(1, L + 1))
    return value, grads


NETWORKS = {
    "tanh softmax int": ([5, 4, 3], "tanh", "softmax", "int", 0.0),
    "tanh softmax one-hot": ([5, 4, 3], "tanh", "softmax", "onehot", 0.0),
    "relu bce, two hidden, l2": ([5, 6, 4, 2], "relu", "bce", "int", 0.03),
    "sigmoid mse": ([3, 4, 2], "sigmoid", "mse", "int", 0.0),
    "softplus softmax, l2": ([4, 3, 3, 4], "softplus", "softmax", "int", 0.1),
    "logistic regression (no hidden layer)": ([6, 1], "tanh", "bce", "int", 0.0),
    "tanh softmax, wide layers, l2": ([5, 20, 18, 17], "tanh", "softmax", "int", 0.01),
    "relu mse, wide output": ([3, 4, 19], "relu", "mse", "int", 0.0),
}


def _data(sizes, loss, labels, B=11):
    X = rng.standard_normal((B, sizes[0]))
    if loss == "softmax":
        y = rng.integers(0, sizes[-1], B)
        return X, (np.eye(sizes[-1])[y] if labels == "onehot" else y)
    if loss == "bce":
        return X, (rng.random((B, sizes[-1])) < 0.5).astype(float)
    return X, rng.standard_normal((B, sizes[-1]))


@pytest.mark.parametrize("name", NETWORKS)
def test_gradient_equals_hand_backprop_and_finite_differences(name):
    sizes, act, loss, labels, l2 = NETWORKS[name]
    net = nn.mlp(sizes, activation=act, loss=loss, labels=labels, l2=l2)
    X, y = _data(sizes, loss, labels)
    w = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in net.init(1).items()}
    f, g = net.value_and_grad(w, X, y)
    f_ref, g_ref = backprop(w, X, y, act, loss, l2)
    assert f == pytest.approx(f_ref, rel=1e-12)
    for k in g_ref:
        assert np.max(np.abs(g[k] - g_ref[k])) <= 1e-10 * np.max(np.abs(g_ref[k])) + 1e-15, k
    # central differences in a random direction
    v = {k: rng.standard_normal(a.shape) for k, a in w.items()}
    h = 1e-6
    fp = net.value_and_grad({k: w[k] + h * v[k] for k in w}, X, y)[0]
    fm = net.value_and_grad({k: w[k] - h * v[k] for k in w}, X, y)[0]
    directional = sum(np.sum(g[k] * v[k]) for k in w)
    assert (fp - fm) / (2 * h) == pytest.approx(directional, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", NETWORKS)
def test_fused_step_equals_the_plan_of_the_derived_equations(name):
    """An ``mlp`` step runs the fused evaluator (symopt.nn._fused); the NumPy plan of the
    printed equations is its independent check, and buffers reused across batch sizes
    leave no trace."""
    sizes, act, loss, labels, l2 = NETWORKS[name]
    net = nn.mlp(sizes, activation=act, loss=loss, labels=labels, l2=l2)
    assert net._fused is not None
    w = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in net.init(2).items()}
    for B in (13, 5, 13):
        X, y = _data(sizes, loss, labels, B=B)
        f, g = net.value_and_grad(w, X, y)
        out = net._value_grad_plan(net._env(w, *net.check_data(X, y)), net._sizes(B))
        assert f == pytest.approx(float(out[0]), rel=1e-13)
        for v, ref in zip(net.variables, out[1:]):
            assert np.max(np.abs(g[v.name] - ref)) <= 1e-12 * np.max(np.abs(ref)) + 1e-16, v.name


def test_each_call_returns_new_gradient_arrays_and_checks_weight_shapes():
    net = nn.mlp([4, 3, 2])
    w = net.init(0)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 2, 6)
    _, g1 = net.value_and_grad(w, X, y)
    kept = {k: a.copy() for k, a in g1.items()}
    net.value_and_grad(w, 2 * X, y)
    assert all(np.array_equal(g1[k], kept[k]) for k in kept)
    with pytest.raises(ShapeError, match=r"'W2'.*\(2, 3\).*\(3, 2\)"):
        net.value_and_grad({**w, "W2": np.ones((2, 3))}, X, y)
    f_int, _ = net.value_and_grad({k: a.astype(np.float32) for k, a in w.items()}, X, y)
    assert np.isfinite(f_int)


def test_the_formula_stays_visible():
    net = nn.mlp([4, 3, 2], activation="tanh")
    assert str(net.loss) == ("sum(logsumexp(tanh(X @ W1 + b1) @ W2 + b2, axis=1) - "
                             "pick((tanh(X @ W1 + b1) @ W2 + b2), y))/B")
    assert [v.name for v in net.variables] == ["W1", "b1", "W2", "b2"]
    assert net.shapes() == {"W1": (4, 3), "b1": (3,), "W2": (3, 2), "b2": (2,)}


def test_relu_derivative_is_zero_at_zero():
    net = nn.mlp([2, 2, 1], activation="relu", loss="mse")
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    # W1 = 0, b1 = 0: every hidden unit sits exactly at the kink
    w = {"W1": np.zeros((2, 2)), "b1": np.zeros(2), "W2": np.ones((2, 1)), "b2": np.zeros(1)}
    _, g = net.value_and_grad(w, X, np.ones((2, 1)))
    assert np.all(g["W1"] == 0) and np.all(g["b1"] == 0)


def test_same_formula_serves_any_layer_sizes():
    net = nn.mlp([3, 2, 2])
    w = {"W1": rng.standard_normal((7, 5)), "b1": np.zeros(5), "W2": rng.standard_normal((5, 4)),
         "b2": np.zeros(4)}
    net.sizes.update(d=7, h1=5, K=4)
    X, y = rng.standard_normal((9, 7)), rng.integers(0, 4, 9)
    f, g = net.value_and_grad(w, X, y)
    f_ref, g_ref = backprop(w, X, y, "tanh", "softmax")
    assert f == pytest.approx(f_ref) and np.allclose(g["W1"], g_ref["W1"], rtol=1e-12, atol=0)


def test_bad_shapes_name_both_shapes():
    net = nn.mlp([4, 3, 2])
    w = net.init(0)
    with pytest.raises(ShapeError, match=r"\(5, 3\).*\(5, 4\)"):
        net.value_and_grad(w, np.ones((5, 3)), np.zeros(5, int))
    with pytest.raises(ShapeError, match=r"\(4,\).*\(5, 4\).*\(5,\)"):
        net.value_and_grad(w, np.ones((5, 4)), np.zeros(4, int))
    with pytest.raises(ShapeError, match="0..1"):
        net.value_and_grad(w, np.ones((5, 4)), np.full(5, 2))
    for bad in ([0, 1, 0, -1, 1], [0, 1, 0, 1, 7]):      # found inside the compiled step
        with pytest.raises(ShapeError, match=r"0\.\.1.*got -?\d"):
            net.value_and_grad(w, np.ones((5, 4)), np.array(bad))
        with pytest.raises(ShapeError, match="0..1"):
            net.value(w, np.ones((5, 4)), np.array(bad))


# --- the backpropagation equations, line by line against the hand derivation ----------------

HAND_DERIVATION = """\
Z1     = X @ W1 + b1
H1     = tanh(Z1)
Z2     = H1 @ W2 + b2
P      = exp(Z2 - logsumexp(Z2, axis=1)[:, None])
Y      = onehot(y, K)
δ2     = (P - Y)/B
δ1     = (δ2 @ W2ᵀ)*(1 - H1**2)
∂L/∂W1 = Xᵀ @ δ1
∂L/∂b1 = sum(δ1, axis=0)
∂L/∂W2 = H1ᵀ @ δ2
∂L/∂b2 = sum(δ2, axis=0)"""


def test_backprop_equations_of_a_two_layer_network():
    net = nn.mlp([4, 3, 2], activation="tanh", loss="softmax")
    assert str(net.gradient) == HAND_DERIVATION
    latex = net.gradient._repr_latex_()
    assert r"\delta_{1} &= \delta_{2}\,W_{2}^{T} \left(1 - H_{1}^{2}\right)" in latex
    assert r"\frac{\partial L}{\partial W_{1}} &= X^{T}\,\delta_{1}" in latex


def test_each_printed_line_evaluates_to_the_hand_derivation():
    """Every named intermediate of the printed equations equals the quantity of the same
    name in a hand-written forward/backward pass."""
    from symopt.tensor.numpy_backend import Plan

    net = nn.mlp([4, 3, 2], activation="tanh", loss="softmax")
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 2, 6)
    w = {k: v + 0.2 for k, v in net.init(3).items()}
    Z1 = X @ w["W1"] + w["b1"]
    H1 = np.tanh(Z1)
    Z2 = H1 @ w["W2"] + w["b2"]
    P = np.exp(Z2) / np.exp(Z2).sum(axis=1, keepdims=True)
    Y = np.eye(2)[y]
    d2 = (P - Y) / 6
    d1 = (d2 @ w["W2"].T) * (1 - H1 ** 2)
    hand = {"Z1": Z1, "H1": H1, "Z2": Z2, "P": P, "Y": Y, "δ2": d2, "δ1": d1,
            "∂L/∂W1": X.T @ d1, "∂L/∂b1": d1.sum(0), "∂L/∂W2": H1.T @ d2, "∂L/∂b2": d2.sum(0)}
    eq = net.gradient
    nodes = [node for _, node in eq.intermediates] + [node for _, _, node in eq.outputs]
    labels = [name for name, _ in eq.intermediates] + [label for _, label, _ in eq.outputs]
    env = {leaf: {"X": X, "y": y, **w}[leaf.name] for leaf in Plan(nodes).leaves}
    values = Plan(nodes)(env, net._sizes(6))
    assert labels == list(hand)
    for label, value in zip(labels, values):
        np.testing.assert_allclose(value, hand[label], rtol=1e-12, atol=1e-15, err_msg=label)


def test_command_line_prints_formula_and_equations(capsys):
    from symopt.nn.__main__ import main

    assert main(["mlp", "4,3,2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("L = sum(logsumexp(") and out.rstrip().endswith(HAND_DERIVATION.splitlines()[-1])
    assert main(["derive", "mean((X @ w - y)**2)", "--data", "X=B d", "--data", "y=B", "--wrt", "w=d"]) == 0
    assert "∂L/∂w = Xᵀ @ δ1" in capsys.readouterr().out
    assert main(["derive", "mean(X @ w", "--data", "X=B d", "--wrt", "w=d"]) == 2
    assert "never closed" in capsys.readouterr().err


@pytest.mark.slow
def test_compiled_array_kernels_agree_with_the_numpy_plan_for_relu():
    """relu and its step print into the Numba kernels of symopt.tensor.compile too."""
    import symopt.tensor as st

    net = nn.mlp([3, 6, 2], activation="relu", l2=0.01)
    X, y = rng.standard_normal((60, 3)), rng.integers(0, 2, 60)
    w = net.init(1)
    kernels = st.compile(net.problem)
    f, g = kernels.value_and_grad(w, binding=kernels.bind({"X": X, "y": y}, dims={"h1": 6, "K": 2}))
    f_plan, g_plan = net.value_and_grad(w, X, y)
    assert f == pytest.approx(f_plan, rel=1e-13)
    for k in g_plan:
        np.testing.assert_allclose(g[k], g_plan[k], rtol=1e-12, atol=1e-15)


def test_a_network_from_your_own_formula():
    import symopt.tensor as st

    B, d, K = st.dims("B d K")
    X, y = st.data("X", (B, d)), st.data("y", B, dtype=int)
    W, c = st.variable("W", (d, K)), st.variable("c", K)
    Z = X @ W + c
    loss = nn.softmax_cross_entropy(Z, y) + nn.l2([W], 0.1)
    net = nn.Network(loss, output=st.softmax(Z, axis=1), inputs=X, target=y, sizes={"d": 3, "K": 4},
                     kind="classes", names={Z: "Z1"})
    Xv, yv = rng.standard_normal((10, 3)), rng.integers(0, 4, 10)
    w = {"W": rng.standard_normal((3, 4)), "c": rng.standard_normal(4)}
    f, g = net.value_and_grad(w, Xv, yv)
    f_ref, g_ref = backprop({"W1": w["W"], "b1": w["c"]}, Xv, yv, "tanh", "softmax", l2=0.1)
    assert f == pytest.approx(f_ref, rel=1e-12)
    np.testing.assert_allclose(g["W"], g_ref["W1"], rtol=1e-11)
    assert "∂L/∂W = 0.1*W + Xᵀ @ δ1" in str(net.gradient)
    assert net.predict(w, Xv).sum(axis=1) == pytest.approx(np.ones(10))


def test_your_own_network_trains_through_the_plan_like_its_mlp_twin():
    """A formula written by hand (no fused evaluator) trains through the NumPy plan of
    its equations; the same network built by ``mlp`` trains through the fused step: the
    same seed gives the same weights."""
    import symopt.tensor as st

    B, d, h1, K = st.dims("B d h1 K")
    X, y = st.data("X", (B, d)), st.data("y", B, dtype=int)
    W1, b1 = st.variable("W1", (d, h1)), st.variable("b1", h1)
    W2, b2 = st.variable("W2", (h1, K)), st.variable("b2", K)
    Z2 = st.tanh(X @ W1 + b1) @ W2 + b2
    own = nn.Network(nn.softmax_cross_entropy(Z2, y), output=st.softmax(Z2, axis=1), inputs=X,
                     target=y, sizes={"d": 4, "h1": 5, "K": 3}, kind="classes")
    twin = nn.mlp([4, 5, 3])
    assert own._fused is None and twin._fused is not None
    Xt, yt = rng.standard_normal((30, 4)), rng.integers(0, 3, 30)
    w = twin.init(4)
    a = own.fit(Xt, yt, method="nesterov", lr=0.1, epochs=3, batch_size=7, seed=2, weights=w)
    b = twin.fit(Xt, yt, method="nesterov", lr=0.1, epochs=3, batch_size=7, seed=2, weights=w)
    for k in w:
        np.testing.assert_allclose(a.weights[k], b.weights[k], rtol=1e-11, atol=1e-14)


def test_compiled_tanh_and_exp_are_within_a_few_ulp_of_mpmath():
    """The branch-free tanh and exp of the fused step (symopt.nn._fused), checked against
    mpmath at 120 bits, and at the edges: NaN stays NaN, ±inf, underflow, the switch
    between tanh's two forms at |x| = 0.625."""
    import mpmath
    from numba import njit

    from symopt.nn._fused import exp_nonpositive, tanh

    @njit
    def both(x, t):
        a, b = np.empty_like(x), np.empty_like(t)
        for i in range(x.size):
            a[i] = tanh(x[i])
        for i in range(t.size):
            b[i] = exp_nonpositive(t[i])
        return a, b

    r = np.random.default_rng(3)
    x = np.concatenate([r.standard_normal(1500) * 3, r.uniform(-1, 1, 500), r.uniform(-1e-4, 1e-4, 100),
                        [0.625, -0.625, np.nextafter(0.625, 0), 19.9, 25.0, 1e-300, 5e-324]])
    t = np.concatenate([-r.exponential(3, 1500), -r.uniform(0, 708, 500), [0.0, -708.0]])
    th, ex = both(x, t)
    with mpmath.workdps(36):
        for v, got in zip(x, th):
            want = float(mpmath.tanh(mpmath.mpf(float(v))))
            assert abs(got - want) <= 3 * np.spacing(abs(want)), v
        for v, got in zip(t, ex):
            want = float(mpmath.exp(mpmath.mpf(float(v))))
            assert abs(got - want) <= 3 * np.spacing(want), v
    th, ex = both(np.array([np.nan, np.inf, -np.inf, 0.0]), np.array([np.nan, -np.inf, -800.0, 1.0]))
    assert np.isnan(th[0]) and th[1] == 1.0 and th[2] == -1.0 and th[3] == 0.0
    assert np.isnan(ex[0]) and ex[1] == 0.0 and ex[2] == 0.0 and ex[3] == np.inf


def test_weights_in_either_memory_order_give_the_same_step():
    """The compiled step takes each weight matrix C- or F-ordered (the training path keeps
    them F-ordered), writable or read-only; any mix gives the hand-written backpropagation."""
    net = nn.mlp([5, 4, 6, 3], l2=0.01)
    w = net.init(1)
    X, y = _data([5, 4, 6, 3], "softmax", "int")
    f_ref, g_ref = backprop(w, X, y, "tanh", "softmax", l2=0.01)
    for order in ("CCC", "FCF", "FFF", "CFC"):
        mixed = dict(w)
        for k, o in zip((1, 2, 3), order):
            mixed[f"W{k}"] = np.asfortranarray(w[f"W{k}"]) if o == "F" else np.ascontiguousarray(w[f"W{k}"])
        if order == "FCF":                              # read-only arrays are taken too
            for k in ("W1", "b2"):
                mixed[k] = mixed[k].copy(order="K")
                mixed[k].setflags(write=False)
        Xo, yo = X, y
        if order == "CFC":                              # and read-only data
            Xo, yo = X.copy(), y.copy()
            Xo.setflags(write=False)
            yo.setflags(write=False)
        f, g = net.value_and_grad(mixed, Xo, yo)
        assert f == pytest.approx(f_ref, rel=1e-12)
        for k in g_ref:
            np.testing.assert_allclose(g[k], g_ref[k], rtol=1e-10, atol=1e-14)
