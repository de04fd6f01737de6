"""Linear regression: a squared error written for one row, minimised over all rows.

The data come from symopt.datasets.linear (a documented generator).  Newton's method
solves a least-squares loss in one step; the result matches NumPy's lstsq.
Run with SYMOPT_EXAMPLE_SMALL=1 for a quick run on small data.
"""
import os

import numpy as np

import symopt as so

small = os.environ.get("SYMOPT_EXAMPLE_SMALL") == "1"
n_rows, k = (500, 3) if small else (1_000_000, 5)
data, true_coef = so.datasets.linear(n_rows, k, noise=0.5, seed=1)

b = so.symbols("b")
w = so.symbols(f"w0:{k}")
x = so.symbols(f"x0:{k}")
loss = so.DataLoss((so.symbols("y") - b - so.dot(w, x)) ** 2, data=[*x, "y"], wrt=[b, *w],
                   reduce="mean")
res = so.minimize(loss, np.zeros(k + 1), data=data, method="newton")

X = np.column_stack([np.ones(n_rows)] + [data[f"x{j}"] for j in range(k)])
reference = np.linalg.lstsq(X, data["y"], rcond=None)[0]
residual = data["y"] - X @ res.x
r2 = 1.0 - residual.var() / data["y"].var()
print(f"rows {n_rows}, Newton iterations {res.nit}, mean squared error {res.fun:.4f}, R^2 {r2:.4f}")
print("coefficients", np.round(res.x, 4))
print("true        ", np.round(true_coef, 4))
print("max |symopt - lstsq| =", float(np.max(np.abs(res.x - reference))))
assert res.success and np.allclose(res.x, reference, atol=1e-8)
