"""The ``symopt`` command: derive | minimize | compare | demo.

Exit codes: 0 success; 1 the solve did not succeed; 2 bad input (the message says why).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from .errors import InputError, SymoptError

DEMO_FORMULA = "(1 - x)**2 + 100*(y - x**2)**2"
DEMO_X0 = {"x": -1.2, "y": 1.0}


def _parse_assignments(text: str, what: str) -> dict[str, float] | list[float]:
    """``"x=-1.2,y=1"`` -> dict, ``"-1.2,1"`` -> list."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise InputError(f"{what} is empty; write e.g. {what} x=-1.2,y=1")
    if all("=" in item for item in items):
        out: dict[str, float] = {}
        for item in items:
            name, _, value = item.partition("=")
            out[name.strip()] = _number(value, f"{what} {name.strip()}")
        return out
    if any("=" in item for item in items):
        raise InputError(f"{what} mixes name=value and bare values: {text!r}; use one style")
    return [_number(item, what) for item in items]


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{what}: {text.strip()!r} is not a number") from None


def _names(text: str | None):
    return None if text is None else text.replace(",", " ")


def _print_derivatives(problem, latex: bool, out) -> None:
    import sympy

    if latex:
        print(f"f = {sympy.latex(problem.expr)}", file=out)
        print(f"\\nabla f = {sympy.latex(problem.gradient)}", file=out)
        print(f"\\nabla^2 f = {sympy.latex(problem.hessian)}", file=out)
        return
    names = ", ".join(problem.variable_names)
    print(f"f({names}) = {problem.formula}", file=out)
    print("\ngradient:", file=out)
    for v, g in zip(problem.variable_names, problem.gradient):
        print(f"  df/d{v} = {g}", file=out)
    print("\nHessian (upper triangle, nonzero entries):", file=out)
    entries = problem.derivatives.hessian_upper
    if not entries:
        print("  (all zero)", file=out)
    for (i, j), h in sorted(entries.items()):
        vi, vj = problem.variable_names[i], problem.variable_names[j]
        label = f"d2f/d{vi}2" if i == j else f"d2f/d{vi}d{vj}"
        print(f"  {label} = {h}", file=out)
    print("\npretty:", file=out)
    print(sympy.pretty(problem.gradient), file=out)
    print(sympy.pretty(problem.hessian), file=out)


def _cmd_derive(args) -> int:
    from .problem import Problem

    problem = Problem(args.formula, wrt=_names(args.wrt), params=_names(args.params))
    _print_derivatives(problem, args.latex, sys.stdout)
    return 0


def _problem_and_start(args):
    """The problem, start and parameter values named on a solving command's line."""
    from .problem import Problem

    params = None if args.params is None else _parse_assignments(args.params, "--params")
    if isinstance(params, list):
        raise InputError("--params needs names: --params a=1,b=2")
    problem = Problem(args.formula, wrt=_names(args.wrt), params=None if params is None else list(params))
    return problem, _parse_assignments(args.x0, "--x0"), params


def _cmd_minimize(args) -> int:
    from .minimize import minimize

    problem, x0, params = _problem_and_start(args)
    if args.plot:
        from .plot import _matplotlib

        _matplotlib()  # no matplotlib: say so before solving
    res = minimize(problem, x0, method=args.method, params=params, tol=args.tol,
                   max_iter=args.max_iter, history=bool(args.plot))
    print(f"problem : f({', '.join(problem.variable_names)}) = {problem.formula}")
    print(f"method  : {res.method}")
    print(f"status  : {res.status} ({'success' if res.success else 'FAILED'}): {res.message}")
    print(f"f       : {res.fun:.17g}")
    for name, value in res.x_dict.items():
        print(f"  {name:<6}= {value:.17g}")
    gnorm = max(abs(float(v)) for v in res.jac) if len(res.jac) else 0.0
    print(f"|grad|  : {gnorm:.3e} (infinity norm)")
    print(f"nit={res.nit} nfev={res.nfev} njev={res.njev} nhev={res.nhev}")
    if args.plot:
        _plot_runs(problem, {res.method: res}, params, args.plot)
    return 0 if res.success else 1


def _plot_runs(problem, runs, params, path) -> None:
    """The paths over the contours for two variables, else the convergence curves."""
    from . import plot

    if problem.n == 2 and all("x" in r.history for r in runs.values()):
        plot.paths(problem, runs, params=params, save=path)
        print(f"plot   : {path} (paths over the contours of f)")
    else:
        plot.convergence(runs, save=path)
        print(f"plot   : {path} (f - f* and gradient norm per iteration)")


def _cmd_compare(args) -> int:
    from .compare import compare

    problem, x0, params = _problem_and_start(args)
    methods = None if args.methods is None else [m for m in args.methods.split(",") if m.strip()]
    if args.plot:
        from .plot import _matplotlib

        _matplotlib()  # no matplotlib: say so before solving
    runs = compare(problem, x0, methods, params=params, tol=args.tol, max_iter=args.max_iter,
                   history=bool(args.plot))
    print(f"problem: f({', '.join(problem.variable_names)}) = {problem.formula}")
    print(f"start  : {dict(zip(problem.variable_names, problem._x_array(x0).tolist()))}\n")
    print(runs.table())
    if args.plot:
        print()
        _plot_runs(problem, runs, params, args.plot)
    return 0 if any(r.success for r in runs.values()) else 1


def _cmd_demo(args) -> int:
    from .compare import compare
    from .problem import Problem

    print("symopt demo: the Rosenbrock function, minimised three ways\n")
    problem = Problem(DEMO_FORMULA)
    _print_derivatives(problem, False, sys.stdout)
    print("\ncompiling kernels and solvers (cached on disk; instant next time) ...", flush=True)
    start = time.perf_counter()
    runs = compare(problem, DEMO_X0, ["gd", "newton", "bfgs"], repeat=7, history=True)
    print(f"ready in {time.perf_counter() - start:.1f} s\n")
    print(runs.table())
    print("\nx* =", {k: round(v, 10) for k, v in runs["newton"].x_dict.items()}, "(exact: x = y = 1)")
    gd, newton = runs["gd"], runs["newton"]
    print(f"Newton took {gd.nit / max(newton.nit, 1):.0f}x fewer iterations than gradient descent, "
          f"each {newton.time / max(newton.nit, 1) / (gd.time / max(gd.nit, 1)):.1f}x costlier "
          "(it solves with the exact Hessian);\nBFGS sits between: cheap steps that learn the curvature.")
    _demo_pictures(problem, runs, args.out)
    return 0 if newton.success and runs["bfgs"].success else 1


def _demo_pictures(problem, runs, folder: str) -> None:
    """The demo's pictures into ``folder``, when matplotlib is installed."""
    import os

    from .errors import MissingDependencyError
    from . import plot

    try:
        plot._matplotlib()
    except MissingDependencyError:
        print('\npictures of the paths and of the convergence: pip install "symopt[plot]" '
              "(matplotlib), then run symopt demo again")
        return
    os.makedirs(folder, exist_ok=True)
    paths = os.path.join(folder, "paths.png")
    conv = os.path.join(folder, "convergence.png")
    plot.paths(problem, runs, save=paths)
    plot.convergence(runs, f_star=0.0, save=conv)
    print(f"\npictures written to {os.path.abspath(folder)}{os.sep}: paths.png (each method's path "
          "over the contours of f), convergence.png (f - f* and |grad| per iteration)")


def _add_solve_arguments(command: argparse.ArgumentParser) -> None:
    """The arguments every solving command takes: the formula, start, parameters, options."""
    command.add_argument("formula", help='e.g. "(1 - x)**2 + 100*(y - x**2)**2"')
    command.add_argument("--x0", required=True,
                         help="start: x=-1.2,y=1 (or values in variable order: --x0=-1.2,1)")
    command.add_argument("--params", help="parameter values: a=1,b=2")
    command.add_argument("--wrt", help="variables, comma separated")
    command.add_argument("--tol", type=float, default=None, help="gradient tolerance (gtol)")
    command.add_argument("--max-iter", type=int, default=None, dest="max_iter")
    command.add_argument("--plot", metavar="FILE",
                         help="also draw the descent into FILE (.png, .svg, .pdf): paths over the "
                              "contours for 2 variables, else convergence; needs symopt[plot]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symopt",
        description="Exact derivatives and compiled solvers from a formula.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{derive,minimize,compare,demo}")

    derive = sub.add_parser("derive", help="print the gradient and Hessian of a formula")
    derive.add_argument("formula", help='e.g. "(1 - x)**2 + 100*(y - x**2)**2"')
    derive.add_argument("--wrt", help="variables, comma separated (default: all symbols but params)")
    derive.add_argument("--params", help="parameter names, comma separated")
    derive.add_argument("--latex", action="store_true", help="print LaTeX")
    derive.set_defaults(func=_cmd_derive)

    mini = sub.add_parser("minimize", help="minimise a formula and print the result")
    _add_solve_arguments(mini)
    mini.add_argument("--method", default="newton",
                      help="newton (default), bfgs, lbfgs, trust-ncg, gd, momentum, nesterov, adam; "
                           "lm or gn for least squares")
    mini.set_defaults(func=_cmd_minimize)

    comp = sub.add_parser("compare", help="run every applicable method on a formula, side by side")
    _add_solve_arguments(comp)
    comp.add_argument("--methods", help="comma separated (default: all that apply)")
    comp.set_defaults(func=_cmd_compare)

    demo = sub.add_parser("demo", help="Rosenbrock: derivatives, and GD vs Newton vs BFGS")
    demo.add_argument("--out", default="symopt-demo", metavar="DIR",
                      help="folder for the pictures (default: ./symopt-demo; needs symopt[plot])")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SymoptError as exc:
        print(f"symopt {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
