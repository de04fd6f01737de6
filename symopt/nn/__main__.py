"""``python -m symopt.nn``: print a network's formula and its backpropagation equations.

    python -m symopt.nn mlp 784,128,10 --activation tanh --loss softmax [--latex]
    python -m symopt.nn derive "mean((tanh(X @ W1 + b1) @ w2 + b2 - y)**2)" \\
        --data "X=B d" --data "y=B" --wrt "W1=d h" --wrt "b1=h" --wrt "w2=h" --wrt "b2="

``derive`` takes array-formula text with the shapes of its names (``name=dims``, dims
separated by spaces, ``:int`` for integer labels, nothing for a scalar) and prints the
gradient as :class:`symopt.tensor.Problem` derives it.  (A separate entry point from
``symopt derive``, which handles scalar formulas.)
"""

from __future__ import annotations

import argparse
import sys

from ..errors import SymoptError


def _shapes(items: list[str], what: str) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SymoptError(f"--{what} {item!r}: write name=dims, e.g. 'X=B d' or 'b2='")
        name, dims = item.split("=", 1)
        if dims.endswith(":int"):
            out[name.strip()] = (dims[:-4].strip(), int)
        else:
            out[name.strip()] = dims.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m symopt.nn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("mlp", help="a multi-layer perceptron from layer sizes")
    p.add_argument("sizes", help="comma-separated layer sizes, inputs first: 784,128,10")
    p.add_argument("--activation", default="tanh")
    p.add_argument("--loss", default="softmax")
    p.add_argument("--l2", type=float, default=0.0)
    p.add_argument("--latex", action="store_true")
    d = sub.add_parser("derive", help="the gradient of array-formula text")
    d.add_argument("formula")
    d.add_argument("--data", action="append", default=[])
    d.add_argument("--wrt", action="append", default=[])
    d.add_argument("--latex", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "mlp":
            from .network import mlp

            net = mlp([int(s) for s in args.sizes.split(",")], activation=args.activation,
                      loss=args.loss, l2=args.l2)
            print("L =", net.loss)
            print()
            eq = net.gradient
        else:
            from ..tensor import Problem

            problem = Problem(args.formula, data=_shapes(args.data, "data"), wrt=_shapes(args.wrt, "wrt"))
            eq = problem.gradient
        print(eq.latex() if args.latex else eq)
    except (SymoptError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
