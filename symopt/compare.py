"""compare(problem, x0): every applicable method on one problem, side by side.

The trade-off between methods - gradient descent's many cheap steps against Newton's
few costly ones - measured on the user's own problem: iterations, evaluations of f,
gradient and Hessian, final gradient norm, success, and time per solve (the median of
repeated solves, compilation excluded).
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Iterable

import numpy as np

from . import _binding, _routes
from .errors import InputError
from .minimize import _canonical_method, minimize
from .problem import LeastSquares, Problem
from .solvers import registry

__all__ = ["compare", "Comparison"]


class Comparison(dict):
    """Results of :func:`compare`: method name -> :class:`OptimizeResult`.

    Each result also has ``time``: seconds per solve (median of repeats).
    ``str(comparison)`` (and ``comparison.table()``) is the table.
    """

    def table(self) -> str:
        """The comparison as a text table."""
        header = (f"{'method':<10}{'success':>8}{'iter':>7}{'f evals':>9}{'grad ev':>9}"
                  f"{'Hess ev':>9}{'|grad|':>11}{'f':>13}{'time':>11}{'per iter':>11}")
        lines = [header, "-" * len(header)]
        for method, res in self.items():
            gnorm = float(np.max(np.abs(res.jac))) if len(res.jac) else 0.0
            per_iter = res.time / max(res.nit, 1)
            lines.append(
                f"{method:<10}{str(res.success):>8}{res.nit:>7}{res.nfev:>9}{res.njev:>9}"
                f"{res.nhev:>9}{gnorm:>11.1e}{res.fun:>13.5e}{format_time(res.time):>11}"
                f"{format_time(per_iter):>11}")
        return "\n".join(lines)

    __str__ = table

    def __repr__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        import html

        head = ["method", "success", "iterations", "f evals", "grad evals", "Hess evals",
                "|grad|", "f", "time", "per iteration"]
        rows = []
        for method, res in self.items():
            gnorm = float(np.max(np.abs(res.jac))) if len(res.jac) else 0.0
            cells = [method, str(res.success), res.nit, res.nfev, res.njev, res.nhev,
                     f"{gnorm:.1e}", f"{res.fun:.5e}", format_time(res.time),
                     format_time(res.time / max(res.nit, 1))]
            rows.append(f"<tr title='{html.escape(str(res.message), quote=True)}'>"
                        + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
                + "".join(rows) + "</table>")


def format_time(seconds: float) -> str:
    """Seconds as a short human unit (ns, µs, ms, s)."""
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def applicable_methods(problem: Problem) -> tuple[str, ...]:
    """Every method that can solve ``problem``."""
    if isinstance(problem, LeastSquares):
        return registry.names("least_squares") + registry.names("scalar")
    return registry.names("scalar")


def compare(
    problem: Problem | str,
    x0: Any,
    methods: Iterable[str] | None = None,
    *,
    params: Any = None,
    data: Any = None,
    history: bool = False,
    repeat: int = 5,
    max_time: float = 2.0,
    **options: Any,
) -> Comparison:
    """Run several methods on one problem and compare them.

    Parameters
    ----------
    problem : Problem or str
    x0, params, data : as for :func:`minimize`.
    methods : iterable of str, optional
        Default: every applicable method (``lm``, ``gn`` too for :class:`LeastSquares`).
    history : bool
        Record every iterate (for plots of the paths).
    repeat : int
        Timed solves per method after a warm-up solve (the median is reported); fewer
        when one solve takes more than ``max_time / repeat`` seconds.
    **options
        Passed to :func:`minimize` (``tol``, ``max_iter``, ...).

    Returns
    -------
    Comparison
        ``{method: OptimizeResult}``, each with a ``time`` (seconds per solve).

    Examples
    --------
    >>> import symopt as so
    >>> runs = so.compare("(1 - x)**2 + 100*(y - x**2)**2", [-1.2, 1.0], ["newton", "bfgs"])
    >>> runs["newton"].nit < runs["bfgs"].nit
    True
    """
    if not isinstance(problem, Problem):
        problem = Problem(problem)
    if methods is None:
        methods = applicable_methods(problem)
    elif isinstance(methods, str):
        methods = [methods]
    methods = [_canonical_method(m) for m in methods]
    if not methods:
        raise InputError("methods is empty: give at least one method")
    if repeat < 1:
        raise InputError(f"repeat must be at least 1, got {repeat}")
    if _routes.solver_for(problem, data, options.get("constraints")) is None:
        # solvers not in the disk cache yet compile side by side, one process per core
        _binding.compile_entries_in_parallel(methods)
    out = Comparison()
    for method in methods:
        # the first solve compiles (or loads) kernels and solver: not timed
        res = minimize(problem, x0, method=method, params=params, data=data,
                       history=history, **options)
        times = []
        budget = time.perf_counter() + max_time
        for _ in range(repeat):
            start = time.perf_counter()
            minimize(problem, x0, method=method, params=params, data=data, **options)
            end = time.perf_counter()
            times.append(end - start)
            if end > budget:
                break
        res["time"] = statistics.median(times)
        out[method] = res
    return out
