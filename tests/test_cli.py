"""The symopt command, run as users run it: in a subprocess, checking output and exit code."""

import os
import subprocess
import sys

import pytest

ROSEN = "(1 - x)**2 + 100*(y - x**2)**2"


def run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "symopt.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ))


def test_derive_prints_gradient_and_hessian():
    out = run("derive", ROSEN)
    assert out.returncode == 0, out.stderr
    assert "df/dx = -400*x*(-x**2 + y) + 2*x - 2" in out.stdout
    assert "d2f/dxdy = -400*x" in out.stdout
    assert "d2f/dy2 = 200" in out.stdout


def test_derive_latex_with_wrt_and_params():
    out = run("derive", "a*x**2 + b*exp(-x)", "--wrt", "x", "--params", "a,b", "--latex")
    assert out.returncode == 0, out.stderr
    assert "\\nabla f" in out.stdout and "e^{- x}" in out.stdout


def test_minimize_prints_the_result_and_exits_zero():
    out = run("minimize", ROSEN, "--x0", "x=-1.2,y=1", "--method", "newton")
    assert out.returncode == 0, out.stderr
    assert "success" in out.stdout
    assert "x     = 1" in out.stdout or "x     = 0.99999" in out.stdout


def test_minimize_with_params_and_positional_x0():
    out = run("minimize", "a*x**2 + b*exp(-x)", "--x0=1", "--params", "a=1,b=2")
    assert out.returncode == 0, out.stderr
    # minimum where 2*a*x = b*exp(-x): x = W(1) = 0.567143...
    assert "x     = 0.567143" in out.stdout


def test_minimize_exits_one_when_the_solve_fails():
    out = run("minimize", ROSEN, "--x0", "x=-1.2,y=1", "--method", "gd", "--max-iter", "3")
    assert out.returncode == 1
    assert "FAILED" in out.stdout


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


def test_compare_prints_a_table_of_methods():
    out = run("compare", ROSEN, "--x0", "x=-1.2,y=1", "--methods", "newton,bfgs")
    assert out.returncode == 0, out.stderr
    assert "newton" in out.stdout and "bfgs" in out.stdout and "per iter" in out.stdout
