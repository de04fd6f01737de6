"""Large problems with array formulas (symopt.tensor): logistic regression with 1,000
features over 100,000 rows, and the extended Rosenbrock function of a million variables.

The formulas are written once over symbolic sizes; their exact gradients print as
equations; the kernels compile once and read their sizes from the data.

Run:  python examples/large_problems.py      (SYMOPT_EXAMPLE_SMALL=1: small sizes)
"""

import os
import sys
import time

import numpy as np

import symopt.tensor as st

SMALL = os.environ.get("SYMOPT_EXAMPLE_SMALL") == "1"


def logistic_regression(rows: int, features: int) -> bool:
    m, d = st.dims("m d")
    X, y = st.data("X", (m, d)), st.data("y", m)
    w, b = st.variable("w", d), st.variable("b")
    z = X @ w + b
    problem = st.Problem(st.mean(st.softplus(z) - y * z) + 1e-4 * st.sum(w ** 2))
    print("logistic regression:", problem.formula)
    print(problem.gradient, "\n")

    rng = np.random.default_rng(0)
    Xv = rng.standard_normal((rows, features))
    truth = rng.standard_normal(features) / np.sqrt(features)
    yv = (rng.random(rows) < 1 / (1 + np.exp(-(Xv @ truth + 0.3)))).astype(float)
    start = {"w": np.zeros(features), "b": 0.0}
    for method in ("newton", "trust-ncg"):
        t = time.perf_counter()
        res = st.minimize(problem, start, method, data={"X": Xv, "y": yv}, gtol=1e-8)
        print(f"  {method:9s} {res.message} {res.nit} iterations, {time.perf_counter() - t:.1f} s, "
              f"loss {res.fun:.8f}, max |gradient| {np.abs(res.jac).max():.1e}")
        if not res.success:
            return False
    # the optimality condition, checked independently with NumPy
    w_hat, b_hat = res.x_dict["w"], res.x_dict["b"]
    r = 1 / (1 + np.exp(-(Xv @ w_hat + b_hat))) - yv
    gradient = np.r_[Xv.T @ r / rows + 2e-4 * w_hat, r.mean()]
    print(f"  NumPy's gradient at the solution: {np.abs(gradient).max():.1e}\n")
    return np.abs(gradient).max() < 1e-7


def extended_rosenbrock(n: int) -> bool:
    problem = st.Problem("sum(100*(x[1::2] - x[::2]**2)**2 + (1 - x[::2])**2)", wrt={"x": "n"},
                         even="n")
    print("extended Rosenbrock:", problem.formula)
    print(problem.gradient, "\n")
    t = time.perf_counter()
    res = st.minimize(problem, {"x": np.tile([-1.2, 1.0], n // 2)}, gtol=1e-6)
    error = np.abs(res.x - 1).max()
    print(f"  n = {n:,}: {res.method}, {res.message} {res.nit} iterations, {res.nhev} "
          f"Hessian-vector products, {time.perf_counter() - t:.2f} s, max |x - 1| = {error:.1e}")
    return res.success and error < 1e-6


def main() -> int:
    ok = logistic_regression(*((2_000, 50) if SMALL else (100_000, 1_000)))
    ok = extended_rosenbrock(10_000 if SMALL else 1_000_000) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
