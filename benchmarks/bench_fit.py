"""One curve fit, side by side: ``a*exp(-b*t) + c`` to 20 points.

- symopt: ``so.fit`` (LM, statistics included) and ``so.minimize(model, method="lm")``;
- ``scipy.optimize.least_squares(method="lm")`` with a ``sympy.lambdify`` Jacobian
  (what people do today), and ``scipy.optimize.curve_fit``;
- a straightforward hand-written Numba Levenberg-Marquardt (normal equations with
  Marquardt's diagonal scaling; the speed limit, not a robust solver);
- so.fit's one compiled call (LM, chi-square, covariance) alone, called from Python with
  its inputs ready: what so.fit costs besides is its Python (inputs, the result);
- the solvers alone, without Python: symopt's compiled LM (kernels bound by address)
  and the hand-written LM of ``bench_many.py`` (3x3 Cholesky, stopping on symopt's
  default tolerances: the tighter limit), each called 2000 times in a loop inside one
  ``@njit`` function, so that only the solve is timed.

Run: ``python benchmarks/bench_fit.py``.  Medians of 15 repeats, interleaved (each repeat
times every row once, so that other jobs on the machine weigh on all rows alike).
"""

from __future__ import annotations

import statistics
import sys
import timeit

import numba
import numpy as np
import scipy.optimize
import sympy
from bench_many import hand_lm as hand_lm_cholesky

import symopt as so
from symopt._binding import residuals_fn, residuals_jacobian_fn
from symopt.compare import format_time
from symopt.kernels import compile as compile_kernels
from symopt.minimize import data_array
from symopt.solvers import least_squares

REPEAT = 15
T = np.linspace(0.0, 4.0, 20)
Y = 2.5 * np.exp(-1.3 * T) + 0.4 + 0.01 * np.random.default_rng(0).standard_normal(20)
P0 = np.array([1.0, 1.0, 0.0])


@numba.njit(cache=True)
def hand_lm(p, t, y, max_iter=200):
    """Levenberg-Marquardt on J^T J + lambda diag(J^T J), hand-derived Jacobian."""
    m = t.shape[0]
    r = np.empty(m)
    J = np.empty((m, 3))
    A = np.empty((3, 3))
    g = np.empty(3)
    trial = np.empty(3)
    lam = 1e-3

    def cost_at(q):
        s = 0.0
        for i in range(m):
            e = y[i] - (q[0] * np.exp(-q[1] * t[i]) + q[2])
            s += e * e
        return 0.5 * s

    cost = cost_at(p)
    for it in range(max_iter):
        for i in range(m):
            e = np.exp(-p[1] * t[i])
            r[i] = y[i] - (p[0] * e + p[2])
            J[i, 0] = -e
            J[i, 1] = p[0] * t[i] * e
            J[i, 2] = -1.0
        for a in range(3):
            s = 0.0
            for i in range(m):
                s += J[i, a] * r[i]
            g[a] = s
            for b in range(3):
                s = 0.0
                for i in range(m):
                    s += J[i, a] * J[i, b]
                A[a, b] = s
        if np.max(np.abs(g)) < 1e-12:
            break
        while True:
            M = A.copy()
            for a in range(3):
                M[a, a] *= 1.0 + lam
            step = np.linalg.solve(M, -g)
            for a in range(3):
                trial[a] = p[a] + step[a]
            c = cost_at(trial)
            if c < cost:
                p[:] = trial
                cost = c
                lam = max(lam / 10.0, 1e-15)
                break
            lam *= 10.0
            if lam > 1e15:
                return cost, it
        if np.max(np.abs(step)) < 1e-15 * (1e-15 + np.max(np.abs(p))):
            break
    return cost, it


LOOP = 2000


def solver_loops():
    """``(symopt_loop, hand_loop)``: njit functions running a solve ``number`` times."""
    solve_lm = least_squares.solve_lm

    @numba.njit
    def symopt_loop(residuals, residuals_jacobian, x0, p, data, opts, info, hist, r, J, number):
        f = residuals_fn(residuals)
        fj = residuals_jacobian_fn(residuals_jacobian)
        x = x0.copy()
        total = 0.0
        for _ in range(number):
            x[:] = x0
            total += solve_lm(f, fj, x, p, data, opts, info, hist, r, J)
        return total

    @numba.njit
    def hand_loop(x0, t, y, number):
        x = x0.copy()
        total = 0.0
        for _ in range(number):
            x[:] = x0
            total += hand_lm_cholesky(x, t, y, 200)[0]
        return total

    return symopt_loop, hand_loop


def main() -> None:
    print(f"symopt {so.__version__}, numba {numba.__version__}, scipy {scipy.__version__}; "
          f"fit of a*exp(-b*t) + c to {T.size} points, medians of {REPEAT} interleaved repeats\n")
    model = so.LeastSquares.from_model("a*exp(-b*t) + c", independent="t", wrt="a b c")
    data = {"t": T, "y": Y}
    fit = so.fit("a*exp(-b*t) + c", p0={"a": 1.0, "b": 1.0, "c": 0.0}, t=T, y=Y)
    res = so.minimize(model, P0, method="lm", data=data)
    hand_lm(P0.copy(), T, Y)

    a, b, c, t = sympy.symbols("a b c t")
    expr = a * sympy.exp(-b * t) + c
    f_l = sympy.lambdify([(a, b, c), t], expr, "numpy")
    J_l = sympy.lambdify([(a, b, c), t], [sympy.diff(expr, v) for v in (a, b, c)], "numpy")
    resid = lambda q: Y - f_l(q, T)  # noqa: E731
    jac = lambda q: -np.column_stack([np.broadcast_to(col, T.shape) for col in J_l(q, T)])  # noqa: E731
    ref = scipy.optimize.least_squares(resid, P0, jac=jac, method="lm")

    symopt_loop, hand_loop = solver_loops()
    addresses = compile_kernels(model).residual_addresses
    loop_args = (*addresses, P0, np.empty(0), data_array(model, data), so.solver_options("lm"),
                 np.zeros(8, np.int64), np.empty((0, 0)), np.empty(T.size), np.empty((T.size, 3)))
    symopt_loop(*loop_args, 1)
    hand_loop(P0, T, Y, 1)

    # so.fit's one compiled call (LM + statistics) alone, called from Python with its
    # inputs prepared: the rest of so.fit's time is Python (inputs, result)
    fit_module = sys.modules["symopt.fit"]
    plan = fit_module._model_plans[("a*exp(-b*t) + c", ("t",), ("a", "b", "c"), None, "y")]
    entry = fit_module._fit_entry_point()
    d0 = np.array((T, Y, Y))
    outs = (np.empty(T.size), np.empty((T.size, 3)), np.empty(3), np.empty((3, 3)), np.empty(3))

    def entry_call():
        d = d0.copy()  # the entry fills the weights row
        return entry(plan[1], plan[2], P0.copy(), np.empty(0), d, plan[3], *outs, 4)

    # (name, function, calls per timing, solves per call, parameters found)
    cases = [
        ("symopt so.fit (LM + statistics)",
         lambda: so.fit("a*exp(-b*t) + c", p0={"a": 1.0, "b": 1.0, "c": 0.0}, t=T, y=Y),
         2000, 1, fit.x),
        ("symopt so.minimize(model, 'lm')",
         lambda: so.minimize(model, P0, method="lm", data=data), 2000, 1, res.x),
        ("hand-written Numba LM", lambda: hand_lm(P0.copy(), T, Y), 2000, 1, None),
        ("scipy least_squares lm + lambdify",
         lambda: scipy.optimize.least_squares(resid, P0, jac=jac, method="lm"), 100, 1, ref.x),
        ("scipy curve_fit", lambda: scipy.optimize.curve_fit(
            lambda t, a, b, c: a * np.exp(-b * t) + c, T, Y, p0=P0), 100, 1, None),
        ("so.fit's compiled call alone, from Python", entry_call, 2000, 1, None),
        ("  (its input copies, subtracted)", lambda: (d0.copy(), P0.copy(), np.empty(0)),
         2000, 1, None),
        ("symopt LM solver alone (njit loop)", lambda: symopt_loop(*loop_args, LOOP), 1, LOOP,
         None),
        ("hand-written LM (bench_many) alone (njit loop)", lambda: hand_loop(P0, T, Y, LOOP), 1,
         LOOP, None),
    ]
    # interleaved: every repeat times each case once, so that a change of the machine's
    # load (other jobs) affects all rows alike; then the median of each row
    times: list[list[float]] = [[] for _ in cases]
    for _ in range(REPEAT):
        for k, (_, fn, number, solves, _) in enumerate(cases):
            times[k].append(timeit.timeit(fn, number=number) / number / solves)
    medians = [statistics.median(ts) for ts in times]
    medians[5] -= medians[6]
    rows = [(name, t_, x) for (name, *_, x), t_ in zip(cases, medians)]
    del rows[6]
    t_solver, t_hand = medians[7], medians[8]
    base = rows[1][1]
    print(f"{'':48}{'time/fit':>11}{'vs minimize lm':>16}")
    for name, t_, x in rows:
        print(f"{name:48}{format_time(t_):>11}{t_ / base:15.2f}x")
    print(f"\nso.fit is {rows[3][1] / rows[0][1]:.1f}x faster than scipy least_squares + lambdify "
          f"(target >= 20x); minimize(lm) is {base / rows[2][1]:.2f}x the hand-written Numba LM "
          f"called from Python")
    print(f"inside njit: the symopt LM solver is {t_solver / t_hand:.2f}x the hand-written LM "
          f"(target <= 1.5x)")
    print(f"parameters agree with scipy to {np.max(np.abs(fit.x - ref.x) / np.abs(ref.x)):.1e} (relative)")


if __name__ == "__main__":
    main()
