"""Poisson regression (counts): the negative log-likelihood of one row is
exp(eta) - y*eta with eta = b + w.x (dropping log(y!), which does not depend on w).
Run with SYMOPT_EXAMPLE_SMALL=1 for a quick run on small data.
"""
import os

import numpy as np

import symopt as so

small = os.environ.get("SYMOPT_EXAMPLE_SMALL") == "1"
n_rows, k = (2_000, 3) if small else (500_000, 6)
data, true_coef = so.datasets.poisson(n_rows, k, seed=3)

loss = so.DataLoss(f"exp(b + {' + '.join(f'w{j}*x{j}' for j in range(k))}) "
                   f"- y*(b + {' + '.join(f'w{j}*x{j}' for j in range(k))})",
                   data=f"x0:{k} y", wrt=f"b w0:{k}", reduce="mean")
res = so.minimize(loss, np.zeros(k + 1), data=data, method="newton")
print(f"rows {n_rows}: Newton {res.nit} iterations, mean deviance part {res.fun:.5f}")
print("estimated", np.round(res.x, 3))
print("true     ", np.round(true_coef, 3))
assert res.success
assert np.max(np.abs(res.x - true_coef)) < (0.15 if small else 0.02)
