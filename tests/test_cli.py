"""The symopt command, run as users run it: in a subprocess, checking output and exit code."""

import os
import subprocess
import sys

import pytest

ROSEN = "(1 - x)**2 + 100*(y - x**2)**2"


def run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "symopt.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ))


@pytest.mark.slow
def test_derive_prints_gradient_and_hessian():
    out = run("derive", ROSEN)
    assert out.returncode == 0, out.stderr
    assert "df/dx = -400*x*(-x**2 + y) + 2*x - 2" in out.stdout
    assert "d2f/dxdy = -400*x" in out.stdout
    assert "d2f/dy2 = 200" in out.stdout


@pytest.mark.slow
def test_derive_latex_with_wrt_and_params():
    out = run("derive", "a*x**2 + b*exp(-x)", "--wrt", "x", "--params", "a,b", "--latex")
    assert out.returncode == 0, out.stderr
    assert "\\nabla f" in out.stdout and "e^{- x}" in out.stdout


def test_derive_with_constraints_shows_the_jacobian_and_the_lagrangian_hessian():
    from symopt.cli import main

    out = run("derive", "(x - 1)**2 + (y - 2)**2", "--constraint", "x + y == 1",
              "--constraint", "x**2 + y**2 <= 2")
    assert out.returncode == 0, out.stderr
    # by hand: J = [[1, 1], [2x, 2y]], Hessian of L = f + l1 (x + y) + l2 (x^2 + y^2) = (2 + 2 l2) I
    text = out.stdout
    assert "x**2 + y**2 <= 2" in text and "constraint Jacobian" in text
    assert "2⋅x  2⋅y" in text and "2⋅λ₂ + 2" in text
    assert main(["derive", "x**2", "--constraint", "x >="]) == 2


def test_derive_an_array_formula_with_shapes_prints_its_equations():
    out = run("derive", "mean(softplus(X @ w + b) - y*(X @ w + b))", "--data", "X=m d",
              "--data", "y=m", "--wrt", "w=d", "--wrt", "b=")
    assert out.returncode == 0, out.stderr
    # by hand: dL/dw = X^T (sigmoid(Xw + b) - y)/m, dL/db = sum((sigmoid(Xw + b) - y)/m)
    assert "δ1    = (-y + sigmoid(X @ w + b))/m" in out.stdout
    assert "∂L/∂w = Xᵀ @ δ1" in out.stdout and "∂L/∂b = sum(δ1)" in out.stdout
    bad = run("derive", "X @ w", "--wrt", "w=d", "--wrt", "y")
    assert bad.returncode == 2 and "--wrt 'w=d'" in bad.stderr


@pytest.mark.slow
def test_minimize_prints_the_result_and_exits_zero():
    out = run("minimize", ROSEN, "--x0", "x=-1.2,y=1", "--method", "newton")
    assert out.returncode == 0, out.stderr
    assert "success" in out.stdout
    assert "x     = 1" in out.stdout or "x     = 0.99999" in out.stdout


@pytest.mark.slow
def test_minimize_with_params_and_positional_x0():
    out = run("minimize", "a*x**2 + b*exp(-x)", "--x0=1", "--params", "a=1,b=2")
    assert out.returncode == 0, out.stderr
    # minimum where 2*a*x = b*exp(-x): x = W(1) = 0.567143...
    assert "x     = 0.567143" in out.stdout


@pytest.mark.slow
def test_minimize_exits_one_when_the_solve_fails():
    out = run("minimize", ROSEN, "--x0", "x=-1.2,y=1", "--method", "gd", "--max-iter", "3")
    assert out.returncode == 1
    assert "FAILED" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("args,needle", [
    (("derive", "__import__('os').system('echo pwned')"), "not allowed"),
    (("derive", "x +* y"), "syntax"),
    (("derive", "foo(x)"), "unknown function 'foo'"),
    (("minimize", ROSEN, "--x0", "x=1,z=2"), "unknown variable 'z'"),
    (("minimize", ROSEN, "--x0", "x=abc,y=1"), "not a number"),
    (("minimize", ROSEN, "--x0", "x=1,y=1", "--method", "simplex"), "unknown method"),
])
def test_bad_input_exits_two_with_a_message_and_no_traceback(args, needle):
    out = run(*args)
    assert out.returncode == 2
    assert needle in out.stderr
    assert "Traceback" not in out.stderr
    assert "pwned" not in out.stdout


@pytest.mark.slow
def test_demo_compares_three_methods(tmp_path):
    folder = tmp_path / "pictures"
    out = run("demo", "--out", str(folder))
    assert out.returncode == 0, out.stderr
    for method in ("gd", "newton", "bfgs"):
        assert f"\n{method} " in out.stdout
    assert "d2f/dxdy = -400*x" in out.stdout
    pytest.importorskip("matplotlib")
    assert f"pictures written to {folder}" in out.stdout
    assert {p.name for p in folder.iterdir()} == {"paths.png", "convergence.png"}


@pytest.mark.slow
def test_compare_prints_a_table_of_methods():
    out = run("compare", ROSEN, "--x0", "x=-1.2,y=1", "--methods", "newton,bfgs")
    assert out.returncode == 0, out.stderr
    assert "newton" in out.stdout and "bfgs" in out.stdout and "per iter" in out.stdout


# ---------------------------------------------------------------------------------------
# Hardening (issue 15): bad input exits 2 with a message, never a traceback
# ---------------------------------------------------------------------------------------


@pytest.fixture
def refused(capsys):
    """Run the command in this process (faster than a subprocess; the argument handling
    is the same); expect exit code 2, ``needle`` in the message and no traceback."""
    from symopt.cli import main

    def check(*args, needle):
        code = main(list(args))
        out = capsys.readouterr()
        assert code == 2, (code, out.out, out.err)
        assert needle in out.err, out.err
        assert "Traceback" not in out.err
        return out

    return check


def test_plot_into_a_missing_folder_exits_two_before_solving(refused, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "no-such-folder" / "descent.png"
    out = refused("minimize", ROSEN, "--x0", "x=-1.2,y=1", "--plot", str(target),
                  needle="does not exist")
    assert out.out == ""  # refused before solving


@pytest.mark.parametrize("name, needle", [("descent.xyz", "'.xyz' is not a picture format"),
                                          ("descent", "has no extension")])
def test_plot_with_an_unknown_extension_exits_two(refused, tmp_path, name, needle):
    pytest.importorskip("matplotlib")
    out = refused("compare", ROSEN, "--x0", "x=-1.2,y=1", "--plot", str(tmp_path / name),
                  needle=needle)
    assert ".png" in out.err and ".svg" in out.err


@pytest.mark.slow
def test_formula_beginning_with_a_minus_is_the_formula():
    out = run("minimize", "-exp(-(x - 1)**2)", "--x0", "x=0.5")
    assert out.returncode == 0, out.stderr
    assert "x     = 1" in out.stdout or "x     = 0.99999" in out.stdout
    out = run("derive", "-x**3")
    assert out.returncode == 0, out.stderr
    assert "df/dx = -3*x**2" in out.stdout


@pytest.mark.slow
def test_option_value_beginning_with_a_minus_is_the_value():
    out = run("minimize", ROSEN, "--x0", "-1.2,1")
    assert out.returncode == 0, out.stderr
    assert "success" in out.stdout


def test_protect_dashes_moves_only_what_is_not_an_option():
    from symopt.cli import _protect_dashes, build_parser

    parser = build_parser()
    assert _protect_dashes(parser, ["minimize", "-x**2", "--x0", "-1,2", "--method", "bfgs"]) == [
        "minimize", "--x0=-1,2", "--method", "bfgs", "--", "-x**2"]
    assert _protect_dashes(parser, ["minimize", "x**2", "--x0=1"]) == ["minimize", "x**2", "--x0=1"]
    assert _protect_dashes(parser, ["derive", "-h"]) == ["derive", "-h"]
    assert _protect_dashes(parser, ["derive", "--latex", "--", "-x"]) == ["derive", "--latex", "--", "-x"]
    assert _protect_dashes(parser, ["demo", "--out", "-weird"]) == ["demo", "--out", "-weird"]


@pytest.mark.parametrize("args", [
    ("--x0", "x=1,y=2,x=3", "--params", "a=1"),   # was accepted silently: x = 3
    ("--x0", "x=1,y=1", "--params", "a=1,a=2"),
])
def test_a_name_given_twice_exits_two(refused, args):
    refused("minimize", "a*x**2 + y**2", *args, needle="twice")


@pytest.mark.parametrize("method", ["lm", "gn", "levenberg_marquardt"])
def test_least_squares_method_on_a_formula_exits_two_saying_what_it_needs(refused, method):
    # was an AttributeError traceback from inside minimize
    out = refused("minimize", "x**2 + y**2", "--x0", "x=1,y=1", "--method", method,
                  needle="least-squares method")
    assert "symopt.LeastSquares" in out.err and "newton" in out.err


def test_compare_with_a_least_squares_method_exits_two(refused):
    refused("compare", ROSEN, "--x0", "x=1,y=1", "--methods", "newton,lm",
            needle="--methods lm")


@pytest.mark.parametrize("args, needle", [
    (("minimize", "x + exp(exp(exp(exp(3))))", "--x0", "x=1"),   # ran 300 s in SymPy
     "the constant exp(exp(exp(3))) overflows a double"),
    (("minimize", "acos(2) + x**2", "--x0", "x=1"), "the constant acos(2) is not a finite real"),
    (("derive", "**".join(["x"] * 60)), "nested too deeply"),      # was a RecursionError
    (("derive", "x**2 + nan"), "'nan' is 'not a number'"),
])
def test_hostile_constants_nesting_and_reserved_names_exit_two_quickly(refused, args, needle):
    import time

    start = time.process_time()
    refused(*args, needle=needle)
    assert time.process_time() - start < 5
