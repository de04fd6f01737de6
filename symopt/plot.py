"""Pictures of a descent: paths over the loss's contours, convergence curves, fits.

Needs matplotlib (``pip install "symopt[plot]"``); without it every function raises
:class:`~symopt.MissingDependencyError` naming the extra.  Every function

- draws into ``ax=`` when given (an ``Axes``; a pair of them for :func:`convergence`
  and :func:`fit`), else into a new figure;
- saves to ``save=`` when given (PNG, SVG, PDF by the extension), at ``figsize``
  inches times ``dpi`` pixels; without a display it renders with Agg, and a figure it
  made is released from pyplot after saving, so saving many never accumulates figures;
- returns the matplotlib ``Figure``, which a notebook shows.

Each method's line carries the method's name as its ``gid`` (``line.get_gid()``), so
a program can find it on the returned figure.

Examples
--------
>>> import symopt as so
>>> p = so.Problem("(1 - x)**2 + 100*(y - x**2)**2")
>>> runs = so.compare(p, [-1.2, 1.0], ["newton", "bfgs"], history=True, repeat=1)
>>> fig = so.plot.paths(p, runs)                     # doctest: +SKIP
>>> fig = so.plot.convergence(runs, f_star=0.0)      # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import InputError, MissingDependencyError

__all__ = ["paths", "convergence", "fit"]

_INSTALL = 'plotting needs matplotlib, which is not installed: pip install "symopt[plot]"'
#: default figure size in inches (times ``dpi`` gives the PNG's size in pixels)
FIGSIZE = (6.4, 4.8)
DPI = 100


# --- matplotlib, figures and saving -------------------------------------------------------


def _matplotlib():
    """The matplotlib module, or a MissingDependencyError naming the extra."""
    try:
        import matplotlib
        import matplotlib.figure  # noqa: F401
    except ImportError:
        raise MissingDependencyError(_INSTALL) from None
    return matplotlib


def _has_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _new_figure(save, figsize, dpi, ncols: int = 1, nrows: int = 1, **subplot_kw):
    """A new figure and its axes.

    Saving without a display, and before anything imported pyplot (a script, CI), the
    figure is a plain ``Figure`` on the Agg renderer that pyplot never sees.  Otherwise it
    comes from pyplot, so that ``plt.show()`` and a notebook's inline display see it; a
    saved one is then closed in pyplot after saving (:func:`_save`), so saving many never
    accumulates open figures, and a notebook still shows the returned figure once.
    """
    mpl = _matplotlib()
    if save is not None and not _has_display() and "matplotlib.pyplot" not in sys.modules:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = mpl.figure.Figure(figsize=figsize, dpi=dpi, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    else:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=figsize, dpi=dpi,
                                 layout="constrained", **subplot_kw)
    return fig, list(axes.ravel())


def _given_axes(ax, count: int, what: str) -> list:
    axes = [ax] if count == 1 and not isinstance(ax, (list, tuple, np.ndarray)) else list(np.ravel(ax))
    if len(axes) != count:
        raise InputError(f"{what} draws into {count} axes; ax= has {len(axes)}")
    for a in axes:
        if not hasattr(a, "figure") or not hasattr(a, "plot"):
            raise InputError(f"ax= must be matplotlib Axes, got {type(a).__name__}")
    return axes


def _save(fig, save, dpi, owned: bool = True) -> None:
    """Write ``fig`` to ``save`` (if given); a figure this module made is then released
    from pyplot (a no-op for one pyplot never saw)."""
    if save is None:
        return
    fig.savefig(os.fspath(save), dpi=dpi)
    if owned and "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close(fig)


# --- the runs ---------------------------------------------------------------------------------


def _runs(runs: Any) -> dict[str, Mapping]:
    """``{label: result}`` from a Comparison/dict, a single result, or a list of them."""
    if isinstance(runs, Mapping) and "x" in runs and "fun" in runs:  # one OptimizeResult
        runs = [runs]
    if isinstance(runs, Mapping):
        out = dict(runs)
    elif isinstance(runs, (list, tuple)):
        out = {}
        for i, res in enumerate(runs):
            label = str(res.get("method", f"run {i}")) if isinstance(res, Mapping) else f"run {i}"
            out[label if label not in out else f"{label} ({i})"] = res
    else:
        raise InputError("runs must be a result of symopt.minimize or symopt.compare "
                         f"(or a list of results), got {type(runs).__name__}")
    if not out:
        raise InputError("runs is empty: nothing to plot")
    for label, res in out.items():
        if not isinstance(res, Mapping) or "fun" not in res:
            raise InputError(f"runs[{label!r}] is not a symopt result ({type(res).__name__})")
        if "history" not in res:
            raise InputError(
                f"run {label!r} has no history: solve with history=True "
                "(symopt.minimize(..., history=True) or symopt.compare(..., history=True))")
    return out


# --- the loss on a grid -----------------------------------------------------------------------


def _loss_on_grid(problem, X, Y, ix: int, iy: int, fixed: np.ndarray, params, data) -> np.ndarray:
    """The loss over the grid (X, Y) of variables ``ix``, ``iy``, the others at ``fixed``,
    evaluated with numpy from the exact expression (for a data loss: summed over rows)."""
    import sympy

    from .data import data_array

    p = problem._param_array(params)
    symbols = list(problem.variables) + list(problem.parameters) + list(problem.data_symbols)
    func = sympy.lambdify(symbols, problem.expr, modules="numpy")
    values: list[Any] = [float(v) for v in fixed] + [float(v) for v in p]
    values[ix], values[iy] = X, Y
    with np.errstate(all="ignore"):
        if not problem.data_names:
            return np.broadcast_to(np.asarray(func(*values, *[]), dtype=float), X.shape).copy()
        columns = data_array(problem, data)
        Z = np.empty(X.shape)
        for row in range(X.shape[0]):  # one grid row at a time: (nx, m) temporaries
            values[ix], values[iy] = X[row][:, None], Y[row][:, None]
            out = np.asarray(func(*values, *columns), dtype=float)
            Z[row] = np.broadcast_to(out, (X.shape[1], columns.shape[1])).sum(axis=1)
        return Z


def _levels(Z: np.ndarray, floor: float, count: int, log: bool | None) -> tuple[np.ndarray, bool]:
    """Contour levels above ``floor``: log-spaced when the loss spans many orders of
    magnitude over the picture (Rosenbrock's valley), linear otherwise."""
    finite = Z[np.isfinite(Z)]
    if finite.size == 0:
        return np.array([]), False
    lo = min(float(finite.min()), floor)
    span = float(finite.max()) - lo
    if span <= 0:
        return np.array([]), False
    if log is None:
        # log levels when half the picture lies in the lowest tenth of the range (a
        # narrow valley between steep walls: Rosenbrock's median is at 5% of its range
        # over its paths, quadratic bowls' at 15-25%)
        log = float(np.median(finite)) - lo < 0.1 * span
    if log:
        return lo + np.geomspace(span * 1e-6, span, count), True
    return np.linspace(lo, lo + span, count + 2)[1:-1], False


def _window(points: np.ndarray, margin: float) -> tuple[float, float]:
    lo, hi = float(np.min(points)), float(np.max(points))
    span = hi - lo
    pad = margin * span if span > 0 else max(1.0, abs(lo)) * 0.5
    return lo - pad, hi + pad


def paths(
    problem,
    runs: Any,
    *,
    variables: Sequence[str] | None = None,
    params: Any = None,
    data: Any = None,
    ax=None,
    save: str | os.PathLike | None = None,
    levels: int = 25,
    log_levels: bool | None = None,
    margin: float = 0.15,
    resolution: int = 200,
    figsize: tuple[float, float] = FIGSIZE,
    dpi: int = DPI,
    title: str | None = None,
):
    """Each method's path over the contours of the loss.

    Parameters
    ----------
    problem : Problem
        The problem the runs solved.
    runs : Comparison, dict, OptimizeResult or list
        Results solved with ``history=True`` (their iterates, ``history["x"]``).
    variables : pair of names, optional
        The two variables on the axes (default: the problem's two variables; a problem
        with more needs them named, the others are held at the first run's solution).
    params, data : optional
        The problem's parameter values and data columns, as given to the solve.
    ax : matplotlib Axes, optional
        Draw here instead of a new figure.
    save : path, optional
        Write the figure (PNG, SVG, PDF: by the file's extension).
    levels : int
        Number of contour levels.
    log_levels : bool, optional
        Log-spaced levels above the lowest value (default: when the loss spans orders
        of magnitude over the picture, as Rosenbrock's does).
    margin : float
        Space around the paths, as a fraction of their extent.
    resolution : int
        Grid points per axis for the contours.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .problem import Problem

    if not isinstance(problem, Problem):
        raise InputError(f"paths() needs the symopt Problem the runs solved, got {type(problem).__name__}")
    runs = _runs(runs)
    if variables is None:
        if problem.n != 2:
            raise InputError(
                f"the problem has {problem.n} variable{'s' if problem.n != 1 else ''}: paths() draws "
                "two; name them with variables=('x', 'y') or plot convergence() instead")
        ix, iy = 0, 1
    else:
        names = list(variables)
        unknown = [v for v in names if v not in problem.variable_names]
        if len(names) != 2 or unknown or names[0] == names[1]:
            raise InputError(f"variables must name two different variables of {list(problem.variable_names)}, "
                             f"got {variables!r}")
        ix, iy = problem.variable_names.index(names[0]), problem.variable_names.index(names[1])
    tracks = {}
    for label, res in runs.items():
        xs = res["history"].get("x")
        if xs is None or xs.ndim != 2 or xs.shape[1] != problem.n:
            raise InputError(
                f"run {label!r} recorded no iterates of this problem's {problem.n} variables "
                "(iterates are recorded for problems with few variables); plot convergence() instead")
        tracks[label] = xs
    first = next(iter(runs.values()))
    fixed = np.asarray(first["x"], dtype=float)
    allpts = np.vstack([xs for xs in tracks.values() if len(xs)] or [fixed[None, :]])
    finite = allpts[np.all(np.isfinite(allpts[:, [ix, iy]]), axis=1)]
    if not len(finite):
        finite = fixed[None, :]
    xlim = _window(finite[:, ix], margin)
    ylim = _window(finite[:, iy], margin)
    gx = np.linspace(*xlim, resolution)
    gy = np.linspace(*ylim, resolution)
    X, Y = np.meshgrid(gx, gy)
    Z = _loss_on_grid(problem, X, Y, ix, iy, fixed, params, data)
    recorded = np.concatenate([np.asarray(r["history"]["f"], dtype=float) for r in runs.values()])
    recorded = recorded[np.isfinite(recorded)]
    floor = float(recorded.min()) if recorded.size else np.inf  # the lowest level sits below the paths
    lv, is_log = _levels(Z, floor, levels, log_levels)

    owned = ax is None
    if owned:
        fig, (ax,) = _new_figure(save, figsize, dpi)
    else:
        (ax,) = _given_axes(ax, 1, "paths()")
        fig = ax.figure
    if len(lv):
        mpl = _matplotlib()
        # colours evenly by level index, so log-spaced levels use the whole colour map
        norm = mpl.colors.BoundaryNorm(lv, ncolors=256) if len(lv) > 1 else None
        cs = ax.contour(X, Y, Z, levels=lv, cmap="viridis", norm=norm, linewidths=0.7,
                        alpha=0.8)
        cs.set_gid("contours")
    for label, xs in tracks.items():
        (line,) = ax.plot(xs[:, ix], xs[:, iy], marker=".", markersize=3, linewidth=1.2,
                          label=f"{label} ({len(xs) - 1} iterations)")
        line.set_gid(label)
        if len(xs):
            ax.plot(xs[-1, ix], xs[-1, iy], marker="*", markersize=10, color=line.get_color(),
                    linestyle="none")
    start = next((xs[0] for xs in tracks.values() if len(xs)), None)
    if start is not None:
        ax.plot(start[ix], start[iy], marker="o", color="black", linestyle="none", label="start")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel(problem.variable_names[ix])
    ax.set_ylabel(problem.variable_names[iy])
    ax.set_title(title if title is not None else
                 f"f = {_short(problem.formula)}" + (" (log-spaced contours)" if is_log else ""),
                 fontsize="medium")
    ax.legend(loc="best", fontsize="small")
    _save(fig, save, dpi, owned)
    return fig


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def convergence(
    runs: Any,
    *,
    f_star: float | None = None,
    ax=None,
    save: str | os.PathLike | None = None,
    figsize: tuple[float, float] = (9.6, 4.0),
    dpi: int = DPI,
    title: str | None = None,
):
    """``f - f*`` and the gradient norm per iteration, on log scales, for each run.

    Needs only ``history["f"]`` and ``history["gnorm"]`` (no iterates), so it serves
    problems of any size.

    Parameters
    ----------
    runs : Comparison, dict, OptimizeResult or list
        Results solved with ``history=True``.
    f_star : float, optional
        The minimum (Rosenbrock: 0).  Default: the lowest ``f`` any run recorded, so
        that run's last points are 0 and drop off the log scale.
    ax : pair of matplotlib Axes, optional
        Draw ``f - f*`` into the first and the gradient norm into the second.
    save : path, optional
        Write the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    runs = _runs(runs)
    if f_star is None:
        recorded = [np.min(r["history"]["f"]) for r in runs.values() if len(r["history"]["f"])]
        finite = [v for v in recorded if np.isfinite(v)]
        f_star = float(min(finite)) if finite else 0.0
    owned = ax is None
    if owned:
        fig, (ax_f, ax_g) = _new_figure(save, figsize, dpi, ncols=2)
    else:
        ax_f, ax_g = _given_axes(ax, 2, "convergence()")
        fig = ax_f.figure
    for label, res in runs.items():
        hist = res["history"]
        it = np.arange(len(hist["f"]))
        (lf,) = ax_f.plot(it, hist["f"] - f_star, label=label)
        lf.set_gid(label)
        (lg,) = ax_g.plot(it, hist["gnorm"], label=label, color=lf.get_color())
        lg.set_gid(label)
    ax_f.set_yscale("log")
    ax_g.set_yscale("log")
    lengths = [len(r["history"]["f"]) for r in runs.values()]
    if max(lengths) > 30 * max(min(lengths), 1):
        # gradient descent's thousands of steps beside Newton's twenty: iterations on a
        # scale linear up to 1 and logarithmic beyond, so both stay readable
        for a in (ax_f, ax_g):
            a.set_xscale("symlog", linthresh=1.0)
            a.set_xlim(0, max(lengths))
    ax_f.set_xlabel("iteration")
    ax_g.set_xlabel("iteration")
    ax_f.set_ylabel(f"f - f*   (f* = {f_star:.6g})")
    ax_g.set_ylabel("|gradient| (infinity norm)")
    ax_f.legend(loc="best", fontsize="small")
    ax_f.grid(True, which="major", alpha=0.3)
    ax_g.grid(True, which="major", alpha=0.3)
    if title:
        fig.suptitle(title)
    _save(fig, save, dpi, owned)
    return fig


def fit(
    result,
    *,
    ax=None,
    save: str | os.PathLike | None = None,
    points: int = 400,
    figsize: tuple[float, float] = FIGSIZE,
    dpi: int = DPI,
    title: str | None = None,
):
    """A fit: the data with the fitted curve above, the residuals below.

    Parameters
    ----------
    result : FitResult
        What :func:`symopt.fit` returned.
    ax : pair of matplotlib Axes, optional
        Draw data and curve into the first, residuals into the second.
    save : path, optional
        Write the figure.
    points : int
        Points on the fitted curve (a model with one independent variable).

    Returns
    -------
    matplotlib.figure.Figure

    The residuals drawn are the fit's (``result.residuals``: ``(y - model) / sigma``,
    or ``y - model`` without ``sigma``).  A model of several independent variables
    is drawn against the data row.
    """
    import sympy

    from .fit import FitResult

    if not isinstance(result, FitResult) or "_problem" not in result.__dict__:
        raise InputError("plot.fit() needs the result of symopt.fit(), "
                         f"got {type(result).__name__}")
    problem = result.__dict__["_problem"]
    data = result.__dict__["_data"]
    params = result.__dict__["_params"]
    y = np.asarray(data[problem.dependent_name], dtype=float)
    sigma = data.get("sigma")
    independent = problem.independent_names
    p = problem._param_array(params)
    symbols = list(problem.variables) + list(problem.parameters) + \
        [problem.data_symbols[problem.data_names.index(n)] for n in independent]
    model = sympy.lambdify(symbols, problem.model, modules="numpy")
    fitted = [float(v) for v in result["x"]] + [float(v) for v in p]

    owned = ax is None
    if owned:
        fig, (ax_d, ax_r) = _new_figure(save, figsize, dpi, nrows=2,
                                        gridspec_kw={"height_ratios": (3, 1)}, sharex=True)
    else:
        ax_d, ax_r = _given_axes(ax, 2, "plot.fit()")
        fig = ax_d.figure
    if len(independent) == 1:
        x = np.asarray(data[independent[0]], dtype=float)
        xlabel = independent[0]
        with np.errstate(all="ignore"):
            grid = np.linspace(np.min(x), np.max(x), points)
            curve = np.broadcast_to(np.asarray(model(*fitted, grid), dtype=float), grid.shape)
    else:
        x = np.arange(len(y), dtype=float)
        xlabel = "data row"
        cols = [np.asarray(data[n], dtype=float) for n in independent]
        with np.errstate(all="ignore"):
            grid = x
            curve = np.broadcast_to(np.asarray(model(*fitted, *cols), dtype=float), x.shape)
    if sigma is not None:
        container = ax_d.errorbar(x, y, yerr=np.asarray(sigma, dtype=float), fmt="o",
                                  markersize=3, label="data", zorder=2)
        container.lines[0].set_gid("data")
    else:
        (pts,) = ax_d.plot(x, y, "o", markersize=3, label="data", zorder=2)
        pts.set_gid("data")
    (cl,) = ax_d.plot(grid, curve, "-", label="fit", zorder=3)
    cl.set_gid("fit")
    ax_d.set_ylabel(problem.dependent_name)
    ax_d.legend(loc="best", fontsize="small")
    values = ", ".join(f"{k} = {v:.4g}" for k, v in result.x_dict.items())
    ax_d.set_title(title if title is not None else _short(f"{problem.model_text}:  {values}", 90),
                   fontsize="medium")
    r = np.asarray(result["residuals"], dtype=float)
    ax_r.axhline(0.0, color="gray", linewidth=0.8)
    (rl,) = ax_r.plot(x, r, "o", markersize=3, color=cl.get_color())
    rl.set_gid("residuals")
    ax_r.set_xlabel(xlabel)
    ax_r.set_ylabel("(y - model)/σ" if sigma is not None else "y - model")
    _save(fig, save, dpi, owned)
    return fig
