"""Constrained methods on the Hock-Schittkowski collection, side by side with scipy.

Prints four tables (run: ``python benchmarks/bench_constrained.py``; ``--quick`` for a
subset):

1. Robustness with default options: a problem is solved when the final point is feasible
   to 1e-6 and f is within 1e-6 (relative, absolute below 1) of the best known optimum.
   symopt's "auto" (the interior-point method, or the direct KKT path), its augmented
   Lagrangian, scipy's SLSQP and trust-constr given exact derivatives by
   ``sympy.lambdify`` (trust-constr also the constraints' exact Hessians).
2. Time per solve of the small problems (n <= 10): symopt.constrained.minimize (kernels
   compiled, a repeated call) against SLSQP, interleaved repeats, medians per problem;
   the median over the problems of the ratio; and the floor under minimize: the
   compiled entry called from Python, and the compiled solver in a Numba loop.
3. Many problems at once: minimize_many over a batch against the compiled single solve
   (the entry point called in a loop), time per problem.
4. Multipliers against the exactly derived ones (rational KKT solve at the published
   solution) on the problems where that derivation applies.
5. The interior point from perturbed starts, by initial barrier parameter (how the
   default mu_init was chosen).

The machine is shared: run it idle, and read the ratios (measured side by side in one
run), not the absolute times.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
import sympy

#: a private environment with CasADi (Ipopt inside): the optional peer, run as a
#: subprocess of this script (``--casadi-peer``) so that symopt's environment needs no CasADi
CASADI_PYTHON = os.environ.get("SYMOPT_CASADI_PYTHON", "/work/venvs/cons/bin/python")


def casadi_peer() -> None:
    """Run in CASADI_PYTHON: read the problems (sympy text, bounds, starts) as JSON from
    stdin, solve each with CasADi's Ipopt (exact Hessians by CasADi's AD), print per
    problem f, the largest violation and the median time of a repeated solve."""
    import casadi as ca

    functions = {name: getattr(ca, name) for name in
                 ("exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
                  "cosh", "tanh", "fabs", "erf")}
    functions["Abs"] = ca.fabs
    out = {}
    for q in json.load(sys.stdin):
        x = ca.SX.sym("x", q["n"])
        xs = sympy.symbols(q["variables"])
        lam = lambda e: sympy.lambdify([xs], sympy.sympify(e), [functions, "math"])  # noqa: E731
        f = lam(q["objective"])([x[i] for i in range(q["n"])])
        g = ca.vertcat(*[lam(c)([x[i] for i in range(q["n"])]) for c in q["constraints"]]) \
            if q["constraints"] else ca.SX(0, 1)
        solver = ca.nlpsol("s", "ipopt", {"x": x, "f": f, "g": g},
                           {"print_time": False, "ipopt": {"print_level": 0, "sb": "yes"}})
        args = dict(x0=q["x0"], lbx=q["lbx"], ubx=q["ubx"], lbg=q["lbg"], ubg=q["ubg"])
        try:
            sol = solver(**args)
            times = []
            for _ in range(q["repeats"]):
                t = time.perf_counter()
                solver(**args)
                times.append(time.perf_counter() - t)
            xv = np.array(sol["x"]).ravel()
            gv = np.array(sol["g"]).ravel()
            viol = max([0.0] + list(np.array(q["lbx"]) - xv) + list(xv - np.array(q["ubx"]))
                       + list(np.array(q["lbg"]) - gv) + list(gv - np.array(q["ubg"])))
            out[q["name"]] = [float(sol["f"]), float(viol), statistics.median(times)]
        except Exception:  # noqa: BLE001 - a failure of the peer counts as unsolved
            out[q["name"]] = [float("nan"), float("nan"), float("nan")]
    json.dump(out, sys.stdout)


if __name__ == "__main__" and "--casadi-peer" in sys.argv:
    casadi_peer()
    sys.exit(0)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from symopt import hock_schittkowski as hs  # noqa: E402
from symopt.constrained import ConstrainedProblem, abi, minimize, minimize_many  # noqa: E402
from symopt.constrained._binding import direct_entry_call  # noqa: E402
from symopt.constrained.minimize import _plan, select_method, solver_options  # noqa: E402

warnings.filterwarnings("ignore")


def solved(p: hs.HSProblem, f: float, violation: float) -> bool:
    best = p.fbest_value
    return violation <= 1e-6 and abs(f - best) <= 1e-6 * max(1.0, abs(best))


# --- scipy with lambdify'd exact derivatives ---------------------------------------------


class ScipyProblem:
    """The problem for scipy.optimize: lambdified f, gradient, constraints, Jacobians and
    (for trust-constr) the Hessians of f and of each constraint."""

    def __init__(self, p: hs.HSProblem, cp: ConstrainedProblem):
        from scipy.optimize import Bounds, NonlinearConstraint

        xs = list(cp.variables)
        self.p = p
        self.f = sympy.lambdify([xs], cp.objective, "numpy")
        self.g = sympy.lambdify([xs], list(cp.gradient), "numpy")
        self.H = sympy.lambdify([xs], cp.objective_derivatives.hessian, "numpy")
        lb = np.array([b[0] if b[0] is not None else -np.inf for b in p.bounds], float)
        ub = np.array([b[1] if b[1] is not None else np.inf for b in p.bounds], float)
        self.bounds = Bounds(lb, ub)
        self.lb, self.ub = lb, ub
        self.slsqp, self.trust = [], []
        for c in cp.constraints:
            fc = sympy.lambdify([xs], c.expr, "numpy")
            jc = sympy.lambdify([xs], [sympy.diff(c.expr, v) for v in xs], "numpy")
            hc = sympy.lambdify([xs], sympy.hessian(c.expr, xs), "numpy")
            self.trust.append(NonlinearConstraint(
                fc, c.lower, c.upper, jac=lambda x, jc=jc: np.atleast_2d(np.array(jc(x), float)),
                hess=lambda x, v, hc=hc: v[0] * np.array(hc(x), float)))
            if c.is_equality:
                self.slsqp.append({"type": "eq", "fun": lambda x, fc=fc, b=c.lower: fc(x) - b,
                                   "jac": lambda x, jc=jc: np.array(jc(x), float)})
            else:
                if c.lower > -np.inf:
                    self.slsqp.append({"type": "ineq", "fun": lambda x, fc=fc, b=c.lower: fc(x) - b,
                                       "jac": lambda x, jc=jc: np.array(jc(x), float)})
                if c.upper < np.inf:
                    self.slsqp.append({"type": "ineq", "fun": lambda x, fc=fc, b=c.upper: b - fc(x),
                                       "jac": lambda x, jc=jc: -np.array(jc(x), float)})
        self.constraints = cp.constraints
        self.xs = xs

    def violation(self, x) -> float:
        worst = max(0.0, float(np.max(self.lb - x)), float(np.max(x - self.ub)))
        for c, nc in zip(self.constraints, self.trust):
            v = float(nc.fun(x))
            worst = max(worst, c.lower - v, v - c.upper)
        return worst

    def run(self, method: str):
        from scipy.optimize import minimize as scipy_minimize

        x0 = np.array(self.p.x0, float)
        jac = lambda x: np.array(self.g(x), float)  # noqa: E731
        if method == "SLSQP":
            return scipy_minimize(self.f, x0, jac=jac, bounds=self.bounds,
                                  constraints=self.slsqp, method="SLSQP")
        return scipy_minimize(self.f, x0, jac=jac, hess=lambda x: np.array(self.H(x), float),
                              bounds=self.bounds, constraints=self.trust, method="trust-constr")


def robustness(problems, cps, peer=None):
    methods = ["symopt auto", "symopt auglag", "scipy SLSQP", "scipy trust-constr"]
    if peer is not None:
        methods.append("CasADi Ipopt")
    solved_by = {m: [] for m in methods}
    for p in problems:
        cp = cps[p.name]
        sp = ScipyProblem(p, cp)
        for method in methods:
            try:
                if method == "CasADi Ipopt":
                    f, violation, _ = peer[p.name]
                    ok = solved(p, f, violation)
                elif method.startswith("symopt"):
                    res = minimize(cp, p.x0, bounds=bounds_or_none(p),
                                   method="auto" if method.endswith("auto") else "auglag")
                    ok = solved(p, res.fun, res.constr_violation)
                else:
                    res = sp.run(method.split()[1])
                    ok = solved(p, float(sp.f(res.x)), sp.violation(res.x))
            except Exception:  # noqa: BLE001 - a failure of the peer counts as unsolved
                ok = False
            if ok:
                solved_by[method].append(p.name)
    total = len(problems)
    print(f"\n1. Robustness with defaults ({total} problems; feasible to 1e-6, f within 1e-6)")
    print(f"{'method':<22}{'solved':>8}{'share':>9}")
    for method in methods:
        k = len(solved_by[method])
        print(f"{method:<22}{k:>8}{100 * k / total:>8.1f}%")
    missed = {m: sorted(set(p.name for p in problems) - set(v)) for m, v in solved_by.items()}
    for method in methods:
        print(f"  not solved by {method}: {', '.join(missed[method]) or '-'}")
    return solved_by


def casadi_results(problems, cps, repeats: int):
    """CasADi + Ipopt on the problems, in CASADI_PYTHON; None when it is not installed."""
    if not os.path.exists(CASADI_PYTHON):
        return None
    inf = 1e20  # Ipopt's infinity
    payload = []
    for p in problems:
        cp = cps[p.name]
        lbx = [inf * -1 if b[0] is None else float(b[0]) for b in p.bounds]
        ubx = [inf if b[1] is None else float(b[1]) for b in p.bounds]
        payload.append({
            "name": p.name, "n": p.n, "variables": [str(v) for v in cp.variables],
            "objective": str(cp.objective), "constraints": [str(c.expr) for c in cp.constraints],
            "lbg": [max(c.lower, -inf) for c in cp.constraints],
            "ubg": [min(c.upper, inf) for c in cp.constraints],
            "lbx": lbx, "ubx": ubx, "x0": list(p.x0), "repeats": repeats})
    run = subprocess.run([CASADI_PYTHON, os.path.abspath(__file__), "--casadi-peer"],
                         input=json.dumps(payload), capture_output=True, text=True)
    if run.returncode != 0:
        print(f"CasADi peer failed: {run.stderr[-500:]}")
        return None
    return json.loads(run.stdout)


def bounds_or_none(p):
    return list(p.bounds) if p.has_bounds else None


def speed(problems, cps, solved_by, repeats: int, peer=None):
    """Per-problem medians of interleaved timings: symopt minimize vs SLSQP, and the
    floor under minimize: the compiled entry called from Python with its arrays
    allocated once, and the compiled solver in a Numba loop (minimize_many, one thread,
    the same start in every row)."""
    small = [p for p in problems if p.n <= 10 and p.name in solved_by["symopt auto"]
             and p.name in solved_by["scipy SLSQP"]]
    rows = []
    for p in small:
        cp = cps[p.name]
        sp = ScipyProblem(p, cp)
        bounds = bounds_or_none(p)
        minimize(cp, p.x0, bounds=bounds)  # warm: kernels compiled, plan resolved
        entry = _entry_call(p, cp, bounds)
        x0 = np.array(p.x0, float)
        loop_rows = np.tile(x0, (200, 1))
        minimize_many(cp, loop_rows[:2], bounds=bounds, threads=1)
        ours, theirs, direct, loop = [], [], [], []
        inner = 20
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(inner):
                minimize(cp, p.x0, bounds=bounds)
            ours.append((time.perf_counter() - t) / inner)
            t = time.perf_counter()
            sp.run("SLSQP")
            theirs.append(time.perf_counter() - t)
            t = time.perf_counter()
            for _ in range(inner):
                entry(x0.copy())
            direct.append((time.perf_counter() - t) / inner)
            loop.append(minimize_many(cp, loop_rows, bounds=bounds, threads=1).time / 200)
        rows.append((p.name, *(statistics.median(v) for v in (ours, theirs, direct, loop))))
    print(f"\n2. Time per solve, small problems solved by both (n <= 10; {len(rows)} problems; "
          f"medians of {repeats} interleaved repeats)")
    print("   entry: the compiled entry from Python, arrays allocated once; loop: the compiled "
          "solver in a Numba loop (minimize_many, 1 thread)")
    print(f"{'problem':<10}{'symopt us':>11}{'entry us':>10}{'loop us':>9}{'SLSQP us':>10}"
          f"{'SLSQP/symopt':>14}{'SLSQP/loop':>12}")
    for name, o, s, d, lp in rows:
        print(f"{name:<10}{o * 1e6:>11.1f}{d * 1e6:>10.1f}{lp * 1e6:>9.1f}{s * 1e6:>10.1f}"
              f"{s / o:>14.1f}{s / lp:>12.1f}")
    for label, column in (("symopt (minimize)", 1), ("entry", 3), ("loop (the floor)", 4)):
        ratios = [row[2] / row[column] for row in rows]
        print(f"median ratio SLSQP / {label}: {statistics.median(ratios):.1f}x "
              f"(min {min(ratios):.1f}x, max {max(ratios):.1f}x)")
    if peer is not None:
        ratios = [peer[name][2] / o for name, o, *_ in rows
                  if name in solved_by["CasADi Ipopt"]]
        print(f"median ratio CasADi Ipopt / symopt (minimize), the {len(ratios)} of these "
              f"it solves: {statistics.median(ratios):.1f}x (min {min(ratios):.1f}x, "
              f"max {max(ratios):.1f}x; Ipopt timed in its own process, the same repeats)")


def _entry_call(p, cp, bounds):
    """The compiled entry of the default method with its arrays allocated once."""
    method = select_method(cp, bounds is not None)
    plan = _plan(cp, method, bounds, solver_options(method))
    call = direct_entry_call(method)
    n, m = p.n, cp.m
    info = np.zeros(abi.N_INFO, np.int64)
    lam, z, c, g, kkt = np.empty(m), np.empty(n), np.empty(m), np.empty(n), np.empty(abi.N_KKT)
    p0, empty = np.empty(0), np.empty((0, 0))

    def entry(x):
        return call(*plan.addresses, x, p0, empty, plan.limits, plan.opts, info, lam, z, c, g,
                    kkt, empty)
    return entry


def perturbed(problems, cps, k: int, mu_values=(0.1, 1.0)):
    """The share solved from k starts near the standard one (x0 (1 + 0.1 N) + 0.1 N, the
    same starts for each setting), for each initial barrier parameter: how the default
    mu_init was chosen (the standard start alone lands in one basin per problem)."""
    counts = {mu: 0 for mu in mu_values}
    total = 0
    for p in problems:
        cp = cps[p.name]
        bounds = bounds_or_none(p)
        if select_method(cp, bounds is not None) != "ipm":
            continue
        rng = np.random.default_rng(p.number)
        x0 = np.array(p.x0, float)
        starts = x0 * (1 + 0.1 * rng.standard_normal((k, p.n))) + 0.1 * rng.standard_normal((k, p.n))
        best = p.fbest_value
        for mu in mu_values:
            r = minimize_many(cp, starts, bounds=bounds, method="ipm", threads=1, mu_init=mu)
            ok = (r.constr_violation <= 1e-6) & (np.abs(r.fun - best) <= 1e-6 * max(1.0, abs(best)))
            counts[mu] += int(ok.sum())
        total += k
    print(f"\n5. Interior point from {k} perturbed starts per problem ({total} solves), by mu_init")
    for mu in mu_values:
        print(f"mu_init {mu:<6g} solved {counts[mu]:>5} of {total} = {100 * counts[mu] / total:.1f}%")


def batched(problems, cps, k: int, repeats: int):
    """minimize_many over k copies (starts perturbed by 1%) against the compiled single
    solve called k times, time per problem."""
    rng = np.random.default_rng(0)
    print(f"\n3. Many problems at once: {k} starts per problem (x0 perturbed by 1%), time per "
          f"problem, medians of {repeats} interleaved repeats")
    print(f"{'problem':<10}{'single us':>11}{'batch 1 thr':>13}{'ratio':>7}{'batch all':>11}"
          f"{'ratio':>7}")
    ratios = []
    for p in problems:
        cp = cps[p.name]
        bounds = bounds_or_none(p)
        x0 = np.array(p.x0) * (1 + 0.01 * rng.standard_normal((k, p.n)))
        method = select_method(cp, bounds is not None)
        opts = solver_options(method)
        plan = _plan(cp, method, bounds, opts)
        call = direct_entry_call(method)
        empty = np.empty((0, 0))
        m = cp.m
        minimize_many(cp, x0[:4], bounds=bounds, threads=1)
        single, one, every = [], [], []
        for _ in range(repeats):
            xs = x0.copy()
            info = np.zeros(abi.N_INFO, np.int64)
            lam, z, c, g, kkt = (np.empty(m), np.empty(p.n), np.empty(m), np.empty(p.n),
                                 np.empty(abi.N_KKT))
            p0 = np.empty(0)
            t = time.perf_counter()
            for i in range(k):
                call(*plan.addresses, xs[i], p0, empty, plan.limits, plan.opts, info, lam, z, c,
                     g, kkt, empty)
            single.append((time.perf_counter() - t) / k)
            one.append(minimize_many(cp, x0, bounds=bounds, threads=1).time / k)
            every.append(minimize_many(cp, x0, bounds=bounds).time / k)
        s, b1, ba = (statistics.median(v) for v in (single, one, every))
        ratios.append(b1 / s)
        print(f"{p.name:<10}{s * 1e6:>11.1f}{b1 * 1e6:>13.1f}{b1 / s:>7.2f}{ba * 1e6:>11.1f}"
              f"{ba / s:>7.2f}")
    print(f"median batch (1 thread) / single: {statistics.median(ratios):.2f}")


def multipliers(cps):
    """Max |multiplier - exact| per method on the problems whose multipliers are
    derivable exactly (rational published x*, linear active constraints)."""
    names = ["hs028", "hs048", "hs049", "hs050", "hs051", "hs052", "hs053", "hs035", "hs076"]
    print("\n4. Multipliers against the exactly derived ones (max abs error)")
    print(f"{'problem':<10}{'auto':>12}{'ipm':>12}{'auglag':>12}")
    for name in names:
        p = hs.get(name)
        cp = cps[name]
        lam, z = exact_multipliers(p, cp)
        errors = []
        for method in ("auto", "ipm", "auglag"):
            res = minimize(cp, p.x0, bounds=bounds_or_none(p), method=method)
            errors.append(max(np.max(np.abs(res.multipliers - lam), initial=0.0),
                              np.max(np.abs(res.bound_multipliers - z), initial=0.0)))
        print(f"{name:<10}" + "".join(f"{e:>12.1e}" for e in errors))


def exact_multipliers(p, cp):
    point = {v: sympy.nsimplify(sympy.sympify(t, rational=True))
             for v, t in zip(cp.variables, p.xstar)}

    def exact(e):
        return sympy.nsimplify(e, rational=True)

    def on(value, bound):
        return bound is not None and math.isfinite(bound) and \
            sympy.nsimplify(value - sympy.nsimplify(bound)) == 0

    gradient = sympy.Matrix([sympy.diff(exact(cp.objective), v).subs(point) for v in cp.variables])
    columns, owners = [], []
    for k, c in enumerate(cp.constraints):
        value = exact(c.expr).subs(point)
        if c.is_equality or on(value, c.lower) or on(value, c.upper):
            columns.append([sympy.diff(exact(c.expr), v).subs(point) for v in cp.variables])
            owners.append(("c", k))
    for j, (lo, hi) in enumerate(p.bounds):
        if on(point[cp.variables[j]], lo) or on(point[cp.variables[j]], hi):
            columns.append([1 if i == j else 0 for i in range(cp.n)])
            owners.append(("b", j))
    A = sympy.Matrix(columns).T
    solution = (A.T * A).LUsolve(-A.T * gradient)
    lam, z = np.zeros(len(cp.constraints)), np.zeros(cp.n)
    for (kind, index), value in zip(owners, solution):
        (lam if kind == "c" else z)[index] = float(value)
    return lam, z


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset, fewer repeats")
    args = parser.parse_args()
    problems = list(hs.PROBLEMS)
    if args.quick:
        problems = [p for p in problems if p.number <= 30]
    print(f"load: {os.getloadavg()}")
    cps = {p.name: ConstrainedProblem(p.objective, p.constraints, wrt=p.variables)
           for p in hs.PROBLEMS}
    peer = casadi_results(problems, cps, repeats=3 if args.quick else 7)
    print("CasADi + Ipopt peer: " + ("yes" if peer is not None else
                                      f"not installed ({CASADI_PYTHON})"))
    solved_by = robustness(problems, cps, peer)
    speed(problems, cps, solved_by, repeats=3 if args.quick else 7, peer=peer)
    batch_names = ["hs006", "hs014", "hs028", "hs035", "hs043", "hs071", "hs076", "hs100"]
    batched([hs.get(n) for n in batch_names], cps, k=500 if args.quick else 4000,
            repeats=3 if args.quick else 5)
    multipliers(cps)
    perturbed(problems, cps, k=4 if args.quick else 12)
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
