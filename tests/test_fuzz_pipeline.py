"""Fuzzing the whole path (issue 15, item 8): random small formulas with random constants
and starts go through parsing, deriving, compiling and solving, and nothing may hang or
escape as anything but a symopt error.

The pipeline runs in a worker process that the test talks to line by line, so that a
hang anywhere (SymPy, code generation, Numba, a solver) is caught by a timeout per
example and reported with the formula, instead of freezing the suite; the worker keeps
the solvers' entry points loaded between examples.

Allowed outcomes of an example: the text is refused with a ``FormulaError`` or the
problem with a ``ProblemError`` (say, a constant beyond a double, or no variable left);
or a result whose fields have the documented types and shapes, whatever its status.
Anything else (an ``AttributeError``, a ``RecursionError``, an ``OverflowError``, a
``CompileError`` - "a bug in symopt" - or a hang) fails the test.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

PER_EXAMPLE_SECONDS = 120  # a cold Numba compile on a loaded 2-core machine, with margin

_WORKER = textwrap.dedent('''
    import json
    import math
    import sys
    import traceback
    import warnings

    import numpy as np
    import symopt as so

    warnings.simplefilter("ignore")

    def check_result(res, n):
        assert isinstance(res.status, int) and isinstance(res.success, bool), res
        assert isinstance(res.message, str) and res.message, res
        assert np.shape(res.x) == (n,) and np.shape(res.jac) == (n,), res
        assert isinstance(float(res.fun), float)
        assert min(res.nit, res.nfev) >= 0
        if res.success and not (math.isfinite(res.fun) and np.all(np.isfinite(res.x))
                                and np.all(np.isfinite(res.jac))):
            return "known: success with a value or point that is not finite (item 6)"
        return "solved"

    def run(request):
        kind, texts, x0, method = request["kind"], request["texts"], request["x0"], request["method"]
        try:
            if kind == "scalar":
                problem = so.Problem(texts[0])
            else:
                problem = so.LeastSquares(texts)
        except (so.FormulaError, so.ProblemError) as exc:
            return {"outcome": "refused", "error": type(exc).__name__, "message": str(exc)[:200]}
        n = problem.n
        start = (x0 * n)[:n]
        kernels = so.compile(problem)
        try:  # the kernels are generated on first use
            value, gradient = kernels.value_and_grad(start)
            assert np.shape(gradient) == (n,)
            if kind == "scalar":
                assert np.shape(kernels.hessian(start)) == (n, n)
            res = so.minimize(problem, start, method=method, max_iter=200)
        except so.ProblemError as exc:  # a derived number beyond a double
            return {"outcome": "refused", "error": type(exc).__name__, "message": str(exc)[:200]}
        return {"outcome": check_result(res, n), "status": res.status}

    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = run(request)
        except BaseException as exc:
            answer = {"outcome": "raised", "error": type(exc).__name__,
                      "traceback": traceback.format_exc()[-3000:]}
            if isinstance(exc, so.CompileError) and ("name 'inf' is not defined" in str(exc)
                                                     or "OverflowError" in str(exc)):
                answer["outcome"] = "known: a derived number beyond a double"
        print(json.dumps(answer), flush=True)
''')


class Worker:
    """The pipeline in a process of its own, asked one example at a time."""

    def __init__(self):
        self.process = None

    def ask(self, request: dict) -> dict:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                            text=True, env=dict(os.environ))
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], PER_EXAMPLE_SECONDS)
        if not ready:
            self.close()
            pytest.fail(f"no answer within {PER_EXAMPLE_SECONDS} s (a hang?) for {request}")
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            self.process = None
            pytest.fail(f"the worker died (exit code {code}) on {request}")
        return json.loads(line)

    def close(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


# --- random formulas ------------------------------------------------------------------

_UNARY = ["exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan",
          "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf", "erfc", "abs", "sigmoid",
          "softplus"]

_constants = st.one_of(
    st.integers(-50, 50).map(str),
    st.floats(-1e3, 1e3, allow_nan=False).map(repr),
    st.sampled_from(["1e300", "1e-300", "1e100", "-1e-100", "2.5e-320", "0.0", "pi", "E",
                     "10**300", "(1/3)", "700", "710"]),
)
_leaves = st.one_of(st.sampled_from(["x", "y", "x", "y"]), _constants)


def _extend(children):
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(children, st.sampled_from(["2", "3", "-1", "0.5", "x", "(1/3)"])).map(
            lambda t: f"({t[0]})**{t[1]}"),
        st.tuples(st.sampled_from(_UNARY), children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(children, children).map(lambda t: f"atan2({t[0]}, {t[1]})"),
    )


# formulas with at least one variable (a constant loss is refused before anything else)
_formulas = st.recursive(_leaves, _extend, max_leaves=7).filter(
    lambda text: re.search(r"\b[xy]\b", text) is not None)
_starts = st.lists(st.one_of(st.floats(-5, 5, allow_nan=False), st.sampled_from([0.0, 1e-8, -1.0, 1e6])),
                   min_size=2, max_size=2)


def _check(answer: dict, request: dict) -> None:
    # The failures fuzzing found outside parsing (issue 15) are fixed and have tests of
    # their own: a derived number beyond a double (below), a success with a value that is
    # not finite (tests/test_hardening_phase2.py, tests/test_success_paths.py); the worker
    # still names them, so that a return is reported as such.
    event(answer["outcome"])
    assert answer["outcome"] in ("refused", "solved"), (
        f"{answer.get('error')} for {request}:\n{answer.get('traceback')}")


@pytest.mark.slow
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=_formulas, x0=_starts,
       method=st.sampled_from(["newton", "bfgs", "lbfgs", "trust-ncg", "trust-exact", "gd",
                               "adam"]))
def test_random_formulas_go_through_the_pipeline_or_are_refused_cleanly(worker, text, x0, method):
    request = {"kind": "scalar", "texts": [text], "x0": x0, "method": method}
    _check(worker.ask(request), request)


@pytest.mark.slow
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_formulas, min_size=1, max_size=3), x0=_starts,
       method=st.sampled_from(["lm", "gn"]))
def test_random_residuals_go_through_least_squares_or_are_refused_cleanly(worker, texts, x0, method):
    request = {"kind": "least_squares", "texts": texts, "x0": x0, "method": method}
    _check(worker.ask(request), request)


@pytest.mark.slow
def test_the_worker_reports_a_raw_exception_as_a_failure(worker):
    # the harness itself: an example the worker cannot run is reported, not swallowed
    answer = worker.ask({"kind": "scalar", "texts": ["x**2 + y**2"], "x0": [1.0, 1.0],
                         "method": "no-such-method"})
    assert answer["outcome"] == "raised" and answer["error"] == "InputError"


@pytest.mark.parametrize("make", ["atan2", "float residual", "integer residual"])
def test_derivative_constant_beyond_a_double_is_a_clear_error(make):
    import symopt as so

    problem = {"atan2": lambda: so.Problem("atan2(1e300, x) + x**2"),
               "float residual": lambda: so.LeastSquares(["x - 1", "1e200 + 0*x"]),
               "integer residual": lambda: so.LeastSquares(["x - 1", "10**300 + 0*x"])}[make]()
    # the kernel holding the number (the loss of the residuals: 0.5*1e400) is refused by
    # name, never a CompileError blaming symopt
    with pytest.raises(so.ProblemError, match="double"):
        so.compile(problem).value([1.0])
    if make == "atan2":
        with pytest.raises(so.ProblemError, match="double"):
            so.minimize(problem, [1.0], method="newton")
    else:  # lm needs only the residuals, all finite: their cost overflows, a status
        res = so.minimize(problem, [1.0], method="lm")
        assert not res.success and "overflow" in res.message
