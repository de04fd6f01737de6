"""A two-layer neural network written as the formula of one row, trained by gradient
descent: symopt's exact gradient is backpropagation, obtained by the chain rule.

Model: yhat = c + sum_j v_j * tanh(a_j + W_j0*x0 + W_j1*x1), loss (y - yhat)**2 averaged
over rows.  The gradient symopt derives is checked against a hand-written NumPy
backpropagation at a random point before training.
Run with SYMOPT_EXAMPLE_SMALL=1 for a quick run on small data.
"""
import os

import numpy as np
import sympy

import symopt as so

small = os.environ.get("SYMOPT_EXAMPLE_SMALL") == "1"
n_rows, hidden = (400, 2) if small else (20_000, 6)

# data: a smooth function of two inputs
rng = np.random.default_rng(4)
X = rng.uniform(-2, 2, size=(n_rows, 2))
target = np.sin(X[:, 0]) * np.cos(X[:, 1]) + 0.05 * rng.standard_normal(n_rows)
data = {"x0": X[:, 0], "x1": X[:, 1], "y": target}


def network(hidden: int) -> so.DataLoss:
    """The loss of one row, as a formula."""
    x0, x1, y, c = so.symbols("x0 x1 y c")
    a = so.symbols(f"a0:{hidden}")
    v = so.symbols(f"v0:{hidden}")
    W = [so.symbols(f"W{j}_0:2") for j in range(hidden)]
    yhat = c + sum(v[j] * sympy.tanh(a[j] + W[j][0] * x0 + W[j][1] * x1) for j in range(hidden))
    variables = [c, *a, *v, *(s for row in W for s in row)]
    return so.DataLoss((y - yhat) ** 2, data=["x0", "x1", "y"], wrt=variables, reduce="mean")


def backprop(theta: np.ndarray, X: np.ndarray, y: np.ndarray, hidden: int):
    """Loss and gradient by hand: forward pass, then the chain rule backwards."""
    c, a, v = theta[0], theta[1:1 + hidden], theta[1 + hidden:1 + 2 * hidden]
    W = theta[1 + 2 * hidden:].reshape(hidden, 2)
    h = np.tanh(a + X @ W.T)                  # (rows, hidden)
    err = c + h @ v - y                       # (rows,)
    loss = np.mean(err**2)
    d_out = 2.0 * err / len(y)                # d loss / d yhat
    d_h = np.outer(d_out, v) * (1.0 - h**2)   # back through tanh
    grad = np.concatenate([[d_out.sum()], d_h.sum(0), h.T @ d_out, (d_h.T @ X).ravel()])
    return loss, grad


loss = network(hidden)
kernels = so.compile(loss)
theta = rng.normal(scale=0.5, size=loss.n)
f_symopt, g_symopt = kernels.value_and_grad(theta, data=data)
f_numpy, g_numpy = backprop(theta, X, target, hidden)
print(f"{loss.n} weights; |gradient(symopt) - backprop(numpy)|_max = "
      f"{np.max(np.abs(g_symopt - g_numpy)):.2e}")
assert abs(f_symopt - f_numpy) < 1e-12 * max(1.0, f_numpy)
assert np.allclose(g_symopt, g_numpy, rtol=1e-10, atol=1e-12)

# full-batch gradient descent with momentum: one batch of all rows per epoch (the
# mini-batch path compiles only the value and gradient kernels, never the Hessian)
res = so.minimize(loss, theta, data=data, method="sgd", batch_size=n_rows,
                  epochs=300 if small else 2000, step=0.1, momentum=0.9, verbose=not small)
print(f"gradient descent: {res.nit} iterations, mean squared error {f_symopt:.4f} -> {res.fun:.4f}")
adam = so.minimize(loss, theta, data=data, method="adam", batch_size=32,
                   epochs=20 if small else 50, step=0.01, seed=0, verbose=not small)
print(f"Adam ({adam.epochs} epochs, batch 32): mean squared error {adam.fun:.4f}")
assert res.fun < 0.5 * f_symopt and adam.fun < 0.5 * f_symopt
