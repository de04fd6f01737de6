"""Gradient descent, Newton and BFGS on Rosenbrock's function, side by side and drawn.

Prints the comparison table and writes two pictures into the current folder:

- ``paths.png``: each method's path over the (log-spaced) contours of the loss;
- ``convergence.png``: ``f - f*`` and the gradient norm per iteration, on log scales.

Run: ``python examples/rosenbrock_paths.py`` (needs ``pip install "symopt[plot]"``).
With ``SYMOPT_EXAMPLE_SMALL=1`` gradient descent is capped at 2,000 iterations.
"""

import os

import symopt as so

SMALL = os.environ.get("SYMOPT_EXAMPLE_SMALL") == "1"


def main() -> None:
    problem = so.Problem("(1 - x)**2 + 100*(y - x**2)**2")
    print(problem)
    runs = so.compare(problem, x0=[-1.2, 1.0], methods=["gd", "newton", "bfgs"],
                      history=True, max_iter=2000 if SMALL else None)
    print()
    print(runs)
    so.plot.paths(problem, runs, save="paths.png")
    so.plot.convergence(runs, f_star=0.0, save="convergence.png",
                        title="Rosenbrock from (-1.2, 1)")
    print("\nwrote paths.png and convergence.png in", os.getcwd())


if __name__ == "__main__":
    main()
