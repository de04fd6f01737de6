"""The ``symopt`` command: derive | minimize | compare | demo.

Exit codes: 0 success; 1 the solve did not succeed; 2 bad input (the message says why).

A formula may begin with ``-`` (``symopt minimize "-exp(-x**2)" --x0 x=1``) and an
option's value too (``--x0 -1.2,1``): arguments that are not options of the command are
never taken for options.
"""

from __future__ import annotations

import argparse
import os
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
            name = name.strip()
            if name in out:
                raise InputError(f"{what} gives {name!r} twice ({text!r}); give each name once")
            out[name] = _number(value, f"{what} {name}")
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
    wrt = args.wrt or []
    if args.data or any("=" in item for item in wrt):
        return _derive_array_formula(args.formula, args.data, wrt, args.latex)
    from .problem import Problem

    problem = Problem(args.formula, wrt=_names(",".join(wrt) if wrt else None),
                      params=_names(args.params), constraints=args.constraint)
    if args.constraint:  # a ConstrainedProblem shows its constraint Jacobian and Lagrangian Hessian
        print(problem._repr_latex_() if args.latex else problem)
    else:
        _print_derivatives(problem, args.latex, sys.stdout)
    return 0


def _shapes(items: list[str], option: str) -> dict[str, str]:
    """``["X=m d", "b="]`` -> ``{"X": "m d", "b": ""}`` (an empty shape: a scalar)."""
    shapes: dict[str, str] = {}
    for item in items:
        name, sep, dims = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"{option} {item!r}: write name=sizes, e.g. {option} 'X=m d' "
                             f"(sizes separated by spaces; nothing after '=' for a scalar)")
        shapes[name.strip()] = dims.strip()
    return shapes


def _derive_array_formula(formula: str, data: list[str], wrt: list[str], latex: bool) -> int:
    """An array formula (``--data``/``--wrt`` with shapes): its gradient as equations."""
    from .tensor import Problem as ArrayProblem

    if not all("=" in item for item in wrt):
        raise InputError("--wrt with an array formula gives each variable's shape: "
                         "--wrt 'w=d' --wrt 'b='")
    problem = ArrayProblem(formula, data=_shapes(data, "--data"), wrt=_shapes(wrt, "--wrt"))
    print(f"L = {problem.formula}\n")
    print(problem.gradient.latex() if latex else problem.gradient)
    return 0


def _problem_and_start(args):
    """The problem, start and parameter values named on a solving command's line."""
    from .problem import Problem

    params = None if args.params is None else _parse_assignments(args.params, "--params")
    if isinstance(params, list):
        raise InputError("--params needs names: --params a=1,b=2")
    problem = Problem(args.formula, wrt=_names(args.wrt), params=None if params is None else list(params))
    return problem, _parse_assignments(args.x0, "--x0"), params


def _check_scalar_method(method: str, option: str = "--method") -> None:
    """A formula on the command line is one scalar loss: refuse a least-squares method
    with a message that says what it needs, before anything is compiled."""
    from .solvers import registry

    name = registry.canonical(method.strip())
    if name is not None and registry.lookup(name).kind == "least_squares":
        raise InputError(
            f"{option} {method}: {method} is a least-squares method: it minimises a sum of squared "
            "residuals r1**2 + r2**2 + ... and needs the residuals themselves, while the "
            "formula here is one scalar loss. Minimise the loss with a method for scalar "
            f"losses ({', '.join(registry.names('scalar'))}), or, from Python, "
            "give the residuals: symopt.minimize(symopt.LeastSquares([\"1 - x\", "
            "\"10*(y - x**2)\"]), x0, method=\"lm\")")


def _method_help() -> str:
    """The ``--method`` help, from the method registry."""
    from .solvers import registry

    scalar = [f"{name} (default)" if name == "newton" else name for name in registry.names("scalar")]
    return f"{', '.join(scalar)}; {' or '.join(registry.names('least_squares'))} for least squares"


def _check_plot_file(path: str) -> None:
    """Before solving: matplotlib is installed, the folder exists and the extension is
    a format matplotlib writes."""
    from .plot import _matplotlib

    _matplotlib()  # no matplotlib: say so before solving
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    folder = os.path.dirname(os.path.abspath(path))
    extension = os.path.splitext(path)[1].lstrip(".").lower()
    if not os.path.isdir(folder):
        raise InputError(f"--plot {path}: the folder {folder!r} does not exist; create it first")
    if extension not in formats:
        what = f"the extension {'.' + extension!r} is not a picture format" if extension \
            else "the file name has no extension"
        raise InputError(f"--plot {path}: {what}; use one of "
                         f"{', '.join('.' + f for f in sorted(formats))}")


def _cmd_minimize(args) -> int:
    from .minimize import minimize

    _check_scalar_method(args.method)
    problem, x0, params = _problem_and_start(args)
    if args.plot:
        _check_plot_file(args.plot)
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

    try:
        if problem.n == 2 and all("x" in r.history for r in runs.values()):
            plot.paths(problem, runs, params=params, save=path)
            print(f"plot   : {path} (paths over the contours of f)")
        else:
            plot.convergence(runs, save=path)
            print(f"plot   : {path} (f - f* and gradient norm per iteration)")
    except OSError as exc:  # a folder that cannot be written, a full disk
        raise InputError(f"--plot {path}: the picture cannot be written ({exc.strerror or exc})") from exc


def _cmd_compare(args) -> int:
    from .compare import compare

    methods = None if args.methods is None else [m.strip() for m in args.methods.split(",") if m.strip()]
    for method in methods or ():
        _check_scalar_method(method, "--methods")
    problem, x0, params = _problem_and_start(args)
    if args.plot:
        _check_plot_file(args.plot)
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

    from . import plot
    from .errors import MissingDependencyError

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
    derive.add_argument("--wrt", action="append",
                        help="variables, comma separated (default: all symbols but params); "
                             "for an array formula each variable's shape: --wrt 'w=d' --wrt 'b='")
    derive.add_argument("--params", help="parameter names, comma separated")
    derive.add_argument("--constraint", action="append",
                        help="a constraint, e.g. 'x + y == 1' or 'x**2 + y**2 <= 2' (repeat for "
                             "more): also prints the constraint Jacobian and the Hessian of the Lagrangian")
    derive.add_argument("--data", action="append", default=[],
                        help="an array formula's data and its shape, e.g. --data 'X=m d' --data 'y=m'")
    derive.add_argument("--latex", action="store_true", help="print LaTeX")
    derive.set_defaults(func=_cmd_derive)

    mini = sub.add_parser("minimize", help="minimise a formula and print the result")
    _add_solve_arguments(mini)
    mini.add_argument("--method", default="newton", help=_method_help())
    mini.set_defaults(func=_cmd_minimize)

    comp = sub.add_parser("compare", help="run every applicable method on a formula, side by side")
    _add_solve_arguments(comp)
    comp.add_argument("--methods", help="comma separated (default: all that apply)")
    comp.set_defaults(func=_cmd_compare)

    demo = sub.add_parser("demo", help="Rosenbrock: derivatives, and GD vs Newton vs BFGS")
    demo.add_argument("--out", default="symopt-demo", metavar="DIR",
                      help="folder for the pictures (default: ./symopt-demo; needs symopt[plot])")
    demo.set_defaults(func=_cmd_demo)
    parser.symopt_commands = {"derive": derive, "minimize": mini, "compare": comp, "demo": demo}
    return parser


def _options_of(parser: argparse.ArgumentParser, command: str) -> tuple[set[str], set[str]]:
    """The option strings of ``command`` (with the global ones): all, and those that
    take a value."""
    everything, with_value = {"-h", "--help"}, set()
    # argparse has no public list of a parser's arguments: its _actions, read here only
    for action in parser.symopt_commands[command]._actions:
        everything.update(action.option_strings)
        if action.option_strings and action.nargs != 0:
            with_value.update(action.option_strings)
    return everything, with_value


def _protect_dashes(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``argv`` with a formula that begins with '-' moved after '--' (where argparse takes
    it as the formula) and an option value that begins with '-' joined to its option
    (``--x0=-1.2,1``): argparse takes any other word that begins with '-' for an option."""
    if not argv or argv[0] not in ("derive", "minimize", "compare"):
        return argv
    options, with_value = _options_of(parser, argv[0])

    def is_option(word: str) -> bool:
        if word.startswith("--"):
            return True  # an option, or a misspelt one argparse will name
        return word.split("=", 1)[0] in options

    out, positional, i = [argv[0]], [], 1
    while i < len(argv):
        word = argv[i]
        if word == "--":
            positional.extend(argv[i + 1:])
            break
        if word in with_value and i + 1 < len(argv) and argv[i + 1].startswith("-") \
                and not is_option(argv[i + 1]):
            out.append(f"{word}={argv[i + 1]}")
            i += 2
            continue
        if word.startswith("-") and len(word) > 1 and not is_option(word):
            positional.append(word)
        else:
            out.append(word)
        i += 1
    return out + ["--", *positional] if positional else out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_protect_dashes(parser, argv))
    try:
        return args.func(args)
    except SymoptError as exc:
        print(f"symopt {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
