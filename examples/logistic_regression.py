"""Logistic regression on a generated dataset: Newton (iteratively reweighted least
squares, in a handful of iterations) and mini-batch Adam, with accuracy on held-out rows.

The loss of one row with label y in {0, 1} and score z = b + w.x is
softplus(z) - y*z, the negative log-likelihood; symopt prints softplus stably.
Run with SYMOPT_EXAMPLE_SMALL=1 for a quick run on small data.
"""
import os

import numpy as np

import symopt as so

small = os.environ.get("SYMOPT_EXAMPLE_SMALL") == "1"
n_rows, k = (2_000, 4) if small else (200_000, 10)
data, true_coef = so.datasets.logistic(n_rows, k, seed=2)
train = {c: v[: n_rows * 3 // 4] for c, v in data.items()}
test = {c: v[n_rows * 3 // 4:] for c, v in data.items()}

b, y = so.symbols("b y")
w = so.symbols(f"w0:{k}")
x = so.symbols(f"x0:{k}")
z = b + so.dot(w, x)
loss = so.DataLoss(so.softplus(z) - y * z, data=[*x, "y"], wrt=[b, *w], reduce="mean",
                   regularization=1e-4 * so.dot(w, w))


def accuracy(coef, columns):
    score = coef[0] + sum(coef[1 + j] * columns[f"x{j}"] for j in range(k))
    return float(np.mean((score > 0) == (columns["y"] > 0.5)))


newton = so.minimize(loss, np.zeros(k + 1), data=train, method="newton")
print(f"Newton: {newton.nit} iterations, loss {newton.fun:.5f}, "
      f"test accuracy {accuracy(newton.x, test):.3f}")
adam = so.minimize(loss, np.zeros(k + 1), data=train, method="adam", batch_size=64,
                   epochs=5 if small else 3, step=0.02, seed=0, verbose=not small)
print(f"Adam:   {adam.epochs} epochs, loss {adam.fun:.5f}, "
      f"test accuracy {accuracy(adam.x, test):.3f}")
print("true coefficients  ", np.round(true_coef, 3))
print("Newton coefficients", np.round(newton.x, 3))
assert newton.success and newton.nit <= 10
assert adam.fun < newton.fun + 0.01
