"""symopt.plot draws what the solves recorded; notebook displays stay valid and bounded.

The figures are checked through their data (the Line2D arrays on the returned figure's
axes) against the results' histories and the fit's data, and through the PNG they write
(read back with matplotlib.image).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import symopt as so
from symopt import plot
from symopt.result import OptimizeResult

mpl = pytest.importorskip("matplotlib")
import matplotlib.image  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

ROSEN = "(1 - x)**2 + 100*(y - x**2)**2"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture(scope="module")
def rosen():
    return so.Problem(ROSEN)


@pytest.fixture(scope="module")
def runs(rosen):
    return so.compare(rosen, x0=[-1.2, 1.0], methods=["gd", "newton", "bfgs"], history=True,
                      repeat=1)


@pytest.fixture(scope="module")
def decay():
    t = np.linspace(0.0, 4.0, 25)
    y = 2.5 * np.exp(-1.3 * t) + 0.3 + 0.02 * np.cos(5 * t)
    sigma = np.full_like(t, 0.02)
    return t, y, sigma


def lines_by_gid(fig):
    out = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_gid():
                out.setdefault(line.get_gid(), []).append(line)
    return out


def png_shape(path):
    assert os.path.getsize(path) > 1000
    return matplotlib.image.imread(path).shape[:2]


# --- paths ----------------------------------------------------------------------------------


def test_paths_png_has_the_asked_size_and_draws_every_iterate(rosen, runs, tmp_path):
    out = tmp_path / "paths.png"
    fig = so.plot.paths(rosen, runs, save=out, figsize=(5, 4), dpi=80)
    assert png_shape(out) == (320, 400)
    lines = lines_by_gid(fig)
    for method, res in runs.items():
        (line,) = lines[method]
        np.testing.assert_array_equal(line.get_xdata(), res.history["x"][:, 0])
        np.testing.assert_array_equal(line.get_ydata(), res.history["x"][:, 1])
        assert len(line.get_xdata()) == res.nit + 1


def test_paths_window_holds_every_path_with_a_margin(rosen, runs):
    fig = so.plot.paths(rosen, runs, margin=0.1)
    ax = fig.axes[0]
    pts = np.vstack([r.history["x"] for r in runs.values()])
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    span_x, span_y = np.ptp(pts[:, 0]), np.ptp(pts[:, 1])
    assert x0 == pytest.approx(pts[:, 0].min() - 0.1 * span_x)
    assert x1 == pytest.approx(pts[:, 0].max() + 0.1 * span_x)
    assert y0 == pytest.approx(pts[:, 1].min() - 0.1 * span_y)
    assert y1 == pytest.approx(pts[:, 1].max() + 0.1 * span_y)


def test_rosenbrock_contours_are_log_spaced_above_the_lowest_value(rosen, runs):
    fig = so.plot.paths(rosen, runs, levels=12)
    (contours,) = [c for c in fig.axes[0].collections if c.get_gid() == "contours"]
    levels = np.asarray(contours.levels)
    lowest = min(float(r.history["f"].min()) for r in runs.values())
    steps = levels - lowest
    assert len(levels) == 12 and np.all(steps > 0)
    np.testing.assert_allclose(steps[1:] / steps[:-1], steps[1] / steps[0], rtol=1e-9)
    assert steps[-1] / steps[0] > 1e5
    # a convex bowl gets linear levels
    bowl = so.Problem("x**2 + y**2")
    res = so.minimize(bowl, [1.0, 2.0], method="gd", history=True, step=0.1)
    fig = so.plot.paths(bowl, res, levels=10)
    (contours,) = [c for c in fig.axes[0].collections if c.get_gid() == "contours"]
    np.testing.assert_allclose(np.diff(contours.levels), np.diff(contours.levels)[0])


@pytest.mark.slow
def test_saved_figures_are_not_left_open_in_pyplot(rosen, runs, tmp_path):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    fig = so.plot.convergence(runs, save=tmp_path / "c.png")
    assert len(plt.get_fignums()) == before and fig.axes
    shown = so.plot.convergence(runs)              # not saved: pyplot keeps it for show()
    assert shown.number in plt.get_fignums()
    mine, ax = plt.subplots()
    so.plot.paths(rosen, runs, ax=ax, save=tmp_path / "p.png")  # the caller's figure stays
    assert mine.number in plt.get_fignums()


@pytest.mark.slow
def test_paths_into_a_given_axes_with_parameters(tmp_path):
    q = so.Problem("a*(x - 1)**2 + b*(y + 2)**2 + x*y", params="a b")
    res = so.minimize(q, [0.0, 0.0], params={"a": 2.0, "b": 3.0}, history=True)
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    assert so.plot.paths(q, res, ax=ax, params={"a": 2.0, "b": 3.0}) is fig
    (line,) = lines_by_gid(fig)["newton"]
    np.testing.assert_array_equal(line.get_xdata(), res.history["x"][:, 0])


@pytest.mark.slow
def test_paths_of_a_problem_with_many_variables_needs_two_named(runs):
    p3 = so.Problem("(x - 1)**2 + (y - 2)**2 + (z - 3)**2 + x*y*z/10")
    res = so.minimize(p3, [0.0, 0.0, 0.0], method="bfgs", history=True)
    with pytest.raises(so.InputError, match="variables="):
        so.plot.paths(p3, res)
    fig = so.plot.paths(p3, res, variables=("x", "z"))
    (line,) = lines_by_gid(fig)["bfgs"]
    np.testing.assert_array_equal(line.get_ydata(), res.history["x"][:, 2])
    with pytest.raises(so.InputError, match="history=True"):
        so.plot.paths(p3, so.minimize(p3, [0.0, 0.0, 0.0]), variables=("x", "y"))


# --- convergence ----------------------------------------------------------------------------


@pytest.mark.slow
def test_convergence_lines_are_f_minus_fstar_and_gradient_norm(runs, tmp_path):
    out = tmp_path / "conv.png"
    fig = so.plot.convergence(runs, f_star=0.0, save=out)
    assert png_shape(out) == (400, 960)
    ax_f, ax_g = fig.axes
    assert ax_f.get_yscale() == "log" and ax_g.get_yscale() == "log"
    lines = lines_by_gid(fig)
    for method, res in runs.items():
        lf, lg = lines[method]
        assert lf.axes is ax_f and lg.axes is ax_g
        np.testing.assert_array_equal(lf.get_xdata(), np.arange(res.nit + 1))
        np.testing.assert_array_equal(lf.get_ydata(), res.history["f"] - 0.0)
        np.testing.assert_array_equal(lg.get_ydata(), res.history["gnorm"])
    # gradient descent's 10,000 steps beside Newton's ~20: a log-like iteration axis
    assert ax_f.get_xscale() == "symlog"


def test_convergence_default_fstar_is_the_lowest_recorded_f(runs):
    fig = so.plot.convergence({"newton": runs["newton"], "bfgs": runs["bfgs"]})
    f_star = min(runs["newton"].history["f"].min(), runs["bfgs"].history["f"].min())
    lf = lines_by_gid(fig)["bfgs"][0]
    np.testing.assert_array_equal(lf.get_ydata(), runs["bfgs"].history["f"] - f_star)
    assert f"{f_star:.6g}" in fig.axes[0].get_ylabel()


def test_large_problems_record_no_iterates_and_still_plot_convergence(monkeypatch):
    # iterates are recorded up to HISTORY_X_MAX_N variables (100); lowered here to 2 so
    # that a cheap 3-variable problem stands for a large one
    import importlib

    monkeypatch.setattr(importlib.import_module("symopt.minimize"), "HISTORY_X_MAX_N", 2)
    p = so.Problem("(x - 1)**2 + (y - 2)**2 + (z - 3)**2 + x*y*z/10")
    res = so.minimize(p, [0.0, 0.0, 0.0], method="gd", history=True)
    assert set(res.history) == {"f", "gnorm"}
    assert res.history["f"].shape == (res.nit + 1,)
    fig = so.plot.convergence(res, f_star=0.0)
    (lf, lg) = lines_by_gid(fig)["gd"]
    np.testing.assert_array_equal(lg.get_ydata(), res.history["gnorm"])
    with pytest.raises(so.InputError, match="convergence"):
        so.plot.paths(p, res, variables=("x", "y"))
    monkeypatch.undo()
    assert so.minimize(p, [0.0, 0.0, 0.0], method="gd", history=True).history["x"].shape[1] == 3


def test_plots_of_runs_without_history_say_how_to_get_one(rosen):
    res = so.minimize(rosen, [-1.2, 1.0])
    with pytest.raises(so.InputError, match="history=True"):
        so.plot.convergence(res)
    with pytest.raises(so.InputError):
        so.plot.convergence(42)


# --- fit --------------------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_fit_plot_shows_the_data_the_curve_and_the_residuals(decay, weighted, tmp_path):
    t, y, sigma = decay
    fit = so.fit("a*exp(-b*t) + c", p0={"a": 1, "b": 1, "c": 0}, t=t, y=y,
                 sigma=sigma if weighted else None)
    out = tmp_path / "fit.png"
    fig = so.plot.fit(fit, save=out)
    assert png_shape(out) == (480, 640)
    lines = lines_by_gid(fig)
    (data,) = lines["data"]
    np.testing.assert_array_equal(data.get_xdata(), t)
    np.testing.assert_array_equal(data.get_ydata(), y)
    (res,) = lines["residuals"]
    np.testing.assert_array_equal(res.get_ydata(), fit.residuals)
    a, b, c = fit.x
    expected = (y - (a * np.exp(-b * t) + c)) / (sigma if weighted else 1.0)
    np.testing.assert_allclose(res.get_ydata(), expected, rtol=1e-9, atol=1e-12)
    (curve,) = lines["fit"]
    cx, cy = curve.get_xdata(), curve.get_ydata()
    assert cx[0] == t.min() and cx[-1] == t.max()
    np.testing.assert_allclose(cy, a * np.exp(-b * cx) + c, rtol=1e-12)


def test_fit_plot_needs_a_fit_result(runs):
    with pytest.raises(so.InputError, match="symopt.fit"):
        so.plot.fit(runs["newton"])


# --- without matplotlib -----------------------------------------------------------------------


def test_without_matplotlib_plots_name_the_extra(monkeypatch, rosen, runs, capsys, tmp_path):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for call in (lambda: so.plot.paths(rosen, runs), lambda: so.plot.convergence(runs)):
        with pytest.raises(so.MissingDependencyError, match=r"symopt\[plot\]"):
            call()
    from symopt import cli

    folder = tmp_path / "demo"
    cli._demo_pictures(rosen, runs, str(folder))
    assert "symopt[plot]" in capsys.readouterr().out
    assert not folder.exists()
    # --plot says so before solving, with the bad-input exit code
    assert cli.main(["minimize", ROSEN, "--x0", "x=-1.2,y=1", "--plot",
                     str(tmp_path / "m.png")]) == 2
    err = capsys.readouterr()
    assert "symopt[plot]" in err.err and "method" not in err.out
    assert not (tmp_path / "m.png").exists()


# --- command line ------------------------------------------------------------------------------


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "symopt", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env=dict(os.environ))


@pytest.mark.slow
def test_cli_minimize_and_compare_write_their_plots(tmp_path):
    out = run_cli("minimize", ROSEN, "--x0", "x=-1.2,y=1", "--plot", "m.png", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "m.png" in out.stdout and "paths" in out.stdout
    assert png_shape(tmp_path / "m.png") == (480, 640)
    out = run_cli("compare", "x**2 + y**2 + z**4 + x*z", "--x0", "1,1,1", "--methods",
                  "newton,bfgs", "--plot", "c.svg", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "convergence" in out.stdout or "per iteration" in out.stdout
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")


# --- notebook displays -------------------------------------------------------------------------


def balanced(latex: str) -> bool:
    depth = 0
    for i, ch in enumerate(latex):
        if ch in "{}" and i and latex[i - 1] == "\\":
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0 and latex.count("\\begin{") == latex.count("\\end{")


def test_problem_latex_shows_formula_gradient_hessian(rosen):
    latex = rosen._repr_latex_()
    assert latex.startswith("$") and latex.endswith("$") and balanced(latex)
    assert "f(x, y)" in latex and "\\nabla f = " in latex and "\\nabla^2 f = " in latex
    assert "1200 x^{2} - 400 y + 2" in latex


def test_problem_latex_with_parameters_and_awkward_names():
    q = so.Problem("a*my_var_2**2 + b*exp(-w10)", params="a b")
    latex = q._repr_latex_()
    assert balanced(latex)
    assert "f(my_{var 2}, w_{10};\\, a, b)" in latex
    assert "my_var" not in latex  # names are typeset, never raw underscores


@pytest.mark.parametrize("n, shown", [(8, True), (9, False), (30, False)])
def test_problem_latex_hessian_only_up_to_8_variables(n, shown):
    chain = " + ".join(f"(w{i} - w{i + 1})**2" for i in range(n - 1)) + " + w0**4"
    p = so.Problem(chain)
    latex = p._repr_latex_()
    assert balanced(latex)
    assert ("\\nabla^2 f = " in latex) is shown
    if not shown:
        nonzeros = n + 2 * (n - 1)  # tridiagonal
        assert f"{n} \\times {n}" in latex and f"{nonzeros} structural nonzeros" in latex
    assert ("\\nabla f = " in latex) is (n <= 20)


@pytest.mark.slow
def test_problem_latex_of_a_long_sum_is_bounded():
    p = so.Problem(" + ".join(f"(w{i} - {i})**2*exp(w{i}/10)" for i in range(60)))
    latex = p._repr_latex_()
    assert balanced(latex) and len(latex) < 2500
    assert "\\dots" in latex and "(60 terms)" in latex and "\\ldots" in latex


def test_model_latex_shows_model_and_residual_without_internal_names():
    m = so.LeastSquares.from_model("a*exp(-t/tau) + c", independent="t", wrt="a tau c")
    latex = m._repr_latex_()
    assert balanced(latex)
    assert "m{\\left(t \\right)} = a e^{- \\frac{t}{\\tau}} + c" in latex
    assert "\\sigma_i" in latex and "_w" not in latex
    ls = so.LeastSquares([f"x{i} - {i}*y" for i in range(20)])
    latex = ls._repr_latex_()
    assert balanced(latex) and "(20 residuals)" in latex


def test_result_html_escapes_and_shortens():
    res = OptimizeResult(x=np.arange(500.0), fun=1.0, message="a < b & c", success=False,
                         status=4, nit=3, jac=np.zeros(500))
    res._set_variable_names([f"w{i}" for i in range(500)])
    text = res._repr_html_()
    assert "a &lt; b &amp; c" in text and "a < b" not in text
    assert "(500 entries)" in text and len(text) < 3000
    assert "&#x27;w0&#x27;: 0.0" in text


def test_comparison_and_fit_html(runs, decay):
    table = runs._repr_html_()
    assert table.count("<tr") == 4 and "per iteration" in table
    for method in runs:
        assert f"<td>{method}</td>" in table
    t, y, _ = decay
    fit = so.fit("a*exp(-b*t) + c", p0={"a": 1, "b": 1, "c": 0}, t=t, y=y)
    html = fit._repr_html_()
    assert html.count("<tr>") == 4  # header and one row per parameter
    assert "<code>a*exp(-b*t) + c</code>" in html and "dof = 22" in html


@pytest.mark.slow
def test_paths_of_a_model_fitted_to_data_sum_the_loss_over_rows(decay):
    t, y, sigma = decay
    model = so.LeastSquares.from_model("a*exp(-b*t) + 0.3", independent="t", wrt="a b")
    data = {"t": t, "y": y, "sigma": sigma}
    res = so.minimize(model, [1.0, 1.0], method="lm", data=data, history=True)
    fig = so.plot.paths(model, res, data=data)
    (line,) = lines_by_gid(fig)["lm"]
    np.testing.assert_array_equal(line.get_xdata(), res.history["x"][:, 0])
    # the contoured loss is the compiled kernel's, 0.5 * sum(((y - model)/sigma)**2)
    k = so.compile(model)
    X, Y = np.meshgrid([0.5, 2.5, 4.0], [0.2, 1.3])
    Z = plot._loss_on_grid(model, X, Y, 0, 1, res.x, None, data)
    expected = [[k.value([a, b], data=data) for a in X[0]] for b in Y[:, 0]]
    np.testing.assert_allclose(Z, expected, rtol=1e-10)
