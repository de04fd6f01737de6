"""docs/errors.md, promise by promise (issue 15): each sentence in bold and each row of its
two tables is checked here, and the first tests below check that the page and this file
name the same promises, so that neither can change without the other.

A promise the code did not keep yet would be a strict xfail naming the issue item that
makes it true (``_phase2``); since phase 2 of issue 15 there are none.
"""

from __future__ import annotations

import builtins
import math
import re
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import symopt as so
from symopt import errors

DOC = (Path(__file__).resolve().parent.parent / "docs" / "errors.md").read_text(encoding="utf-8")
ROSEN = "(1 - x)**2 + 100*(y - x**2)**2"


def _flat(text: str) -> str:
    return " ".join(text.split())


def _phase2(item: int, what: str):
    return pytest.mark.xfail(strict=True, reason=f"issue 15, item {item} (phase 2): {what}")


# ---------------------------------------------------------------------------------------
# The page and this file name the same promises
# ---------------------------------------------------------------------------------------

#: each sentence the page sets in bold -> the tests that keep it
PROMISES = {
    "Mistakes in what you asked raise an exception from one small family":
        ["test_mistakes_raise_symopt_errors", "test_mistakes_still_raising_other_exceptions"],
    "Numerical trouble during a solve never raises":
        ["test_numerical_trouble_never_raises"],
    "The command line prints the message and exits with code 2":
        ["test_command_line_exit_codes"],
    "Bad text is refused with a `FormulaError` within a second":
        ["test_bad_text_is_refused_within_a_second"],
    "Many threads may call symopt at once":
        ["test_many_threads_get_the_single_thread_results"],
    "A damaged or unusable cache is never fatal":
        ["test_unusable_cache_folder_is_not_fatal", "test_damaged_numba_files_are_discarded"],
    "Codes 0–2 are successes":
        ["test_codes_0_to_2_and_only_they_are_successes", "test_a_success_is_genuine"],
    "A non-finite `x0` or parameter value is your mistake":
        ["test_non_finite_start_or_parameter_raises_input_error"],
}


def _table(title: str) -> list[list[str]]:
    """The rows of the first table after the heading ``title`` (cells without backquotes)."""
    section = DOC.split(f"## {title}", 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
        elif rows and not line.startswith("|"):
            break
    return rows[1:]  # without the header


def test_every_bold_sentence_of_the_page_is_a_promise_tested_here():
    prose = re.sub(r"```.*?```", "", DOC, flags=re.S)   # code blocks
    pieces = prose.split("`")  # odd pieces are inline code: hide those with a '*' in them
    prose = "`".join("code" if i % 2 and "*" in piece else piece for i, piece in enumerate(pieces))
    bold = {_flat(sentence).rstrip(".:") for sentence in re.findall(r"\*\*(.+?)\*\*", prose, re.S)}
    assert bold == set(PROMISES), (bold ^ set(PROMISES))


def test_every_promise_names_tests_that_exist():
    names = set(globals())
    for promise, tests in PROMISES.items():
        assert tests and set(tests) <= names, promise


def test_the_exception_table_lists_every_exception_of_symopt_errors():
    documented = {row[0] for row in _table("The exceptions")}
    defined = {name for name, value in vars(errors).items()
               if isinstance(value, type) and issubclass(value, errors.SymoptError)}
    assert documented == defined


def test_the_warning_table_lists_every_warning_of_symopt_errors():
    documented = {row[0] for row in _table("Warnings")}
    defined = {name for name, value in vars(errors).items() if isinstance(value, type)
               and issubclass(value, errors.SymoptWarning) and value is not errors.SymoptWarning}
    assert documented == defined


# ---------------------------------------------------------------------------------------
# The exceptions
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, base", [(row[0], row[1]) for row in _table("The exceptions")])
def test_each_exception_is_a_symopt_error_and_also_what_the_table_says(name, base):
    cls = getattr(errors, name)
    assert issubclass(cls, errors.SymoptError)
    also = getattr(builtins, base, None) or getattr(errors, base)
    assert issubclass(cls, also)


def test_they_live_in_symopt_errors_and_at_the_top_level():
    for row in _table("The exceptions"):
        name = row[0]
        assert getattr(so, name) is getattr(errors, name), name


def test_the_warnings_are_at_the_top_level_too():
    for name in ["SymoptWarning", *(row[0] for row in _table("Warnings"))]:
        assert getattr(so, name) is getattr(errors, name), name


def test_formula_error_points_at_the_column():
    with pytest.raises(so.FormulaError) as info:
        so.Problem("x + y.real")
    assert info.value.offset == 6  # at the attribute
    assert str(info.value).splitlines()[-2:] == ["    x + y.real", " " * (4 + 6) + "^"]


@pytest.mark.parametrize("make, needle", [
    (lambda: so.Problem("2 + 3"), "no variable"),
    (lambda: so.Problem(["x", "y"]), "scalar"),
    (lambda: so.Problem("x**2", params="a"), "'a'"),
])
def test_problem_error_for_no_variables_a_non_scalar_loss_an_unused_parameter(make, needle):
    with pytest.raises(so.ProblemError, match=needle):
        make()


@pytest.mark.parametrize("call, needle", [
    (lambda: so.minimize(ROSEN, x0={"x": 1.0, "z": 2.0}), "'z'"),       # unknown name
    (lambda: so.minimize(ROSEN, x0={"x": 1.0}), "'y'"),                 # missing name
    (lambda: so.minimize(ROSEN, x0=[float("nan"), 1.0]), "x0"),         # NaN in x0
    (lambda: so.minimize(ROSEN, x0=[1.0, float("inf")]), "x0"),         # Inf in x0
    (lambda: so.minimize(ROSEN, x0=[1.0, 1.0], method="simplex"), "unknown method"),
])
def test_input_error_for_names_non_finite_values_and_unknown_methods(call, needle):
    with pytest.raises(so.InputError, match=needle):
        call()


def test_shape_error_for_an_array_of_the_wrong_length():
    with pytest.raises(so.ShapeError):
        so.minimize(ROSEN, x0=[1.0, 1.0, 1.0])
    with pytest.raises(so.ShapeError):
        so.compile(so.Problem(ROSEN)).value(np.ones((2, 2)))


def test_compile_error_says_it_is_a_bug_to_report(monkeypatch):
    from symopt import cache

    def broken(*args, **kwargs):
        raise RuntimeError("a fault in code generation")

    monkeypatch.setattr(cache, "load_source", broken)
    with pytest.raises(so.CompileError, match="report") as info:
        so.compile(so.Problem("x**4 + 3*y**2 + x*y")).value([1.0, 2.0])
    assert isinstance(info.value, RuntimeError)


def test_cache_error_only_when_no_folder_at_all_can_be_used(tmp_path, monkeypatch):
    from symopt import cache

    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    monkeypatch.setenv("SYMOPT_CACHE_DIR", str(a_file))
    monkeypatch.setattr(cache, "_private", [])
    monkeypatch.setattr(cache.tempfile, "mkdtemp",
                        lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "denied")))
    with pytest.raises(errors.CacheError, match="SYMOPT_CACHE_DIR"):
        cache.cache_dir()


def test_missing_dependency_error_names_the_extra(monkeypatch):
    import sys

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    from symopt import plot

    with pytest.raises(so.MissingDependencyError, match=r"symopt\[plot\]") as info:
        plot._matplotlib()
    assert isinstance(info.value, ImportError)


# ---------------------------------------------------------------------------------------
# The bold promises
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda: so.Problem("(1 - x)^2"),
    lambda: so.Problem("__import__('os').system('true')"),
    lambda: so.minimize(ROSEN, x0=[1.0]),
    lambda: so.minimize(ROSEN, x0=[1.0, 1.0], method="nope"),
    lambda: so.minimize(ROSEN, x0=[1.0, 1.0], params={"a": 1.0}),
    lambda: so.compile(so.Problem(ROSEN)).value({"x": 1.0, "w": 2.0}),
    lambda: so.minimize("x**2 + y**2", [10**400, 1]),
], ids=["formula", "code", "short x0", "method", "unknown parameter", "kernel call",
        "x0 beyond a double"])
def test_mistakes_raise_symopt_errors(call):
    with pytest.raises(so.SymoptError):
        call()


@pytest.mark.parametrize("call", [
    lambda: so.minimize(so.Problem("x**2 + y**2"), [1.0, 1.0], method="lm"),
    lambda: so.minimize(so.DataLoss("(a*t - y)**2", wrt="a", data="t y"), [1.0], method="adam",
                        data={"t": np.arange(4.0), "y": np.arange(4.0)}, batch_size=2, epochs=1,
                        seed="abc"),
], ids=["lm on a Problem", "seed not an integer"])
def test_mistakes_still_raising_other_exceptions(call):
    with pytest.raises(so.SymoptError):
        call()


@pytest.mark.slow
@pytest.mark.parametrize("formula, x0, method", [
    ("sqrt(x) + (x - 2)**2", [-1.0], "newton"),       # NaN at the start
    ("log(x) + 1/x", [1e-12], "bfgs"),                 # huge gradients near a pole
    ("exp(x)", [0.0], "newton"),                       # no minimum: runs to -inf
    ("x**2/(x - 1)", [1.0], "gd"),                     # starts on a pole: Inf
    ("(1 - x)**2 + 100*(y - x**2)**2", [1e150, 1e150], "newton"),  # overflow
], ids=["NaN start", "pole", "no minimum", "Inf start", "overflow"])
def test_numerical_trouble_never_raises(formula, x0, method):
    with np.errstate(all="ignore"):
        res = so.minimize(formula, x0, method=method)
    assert isinstance(res.status, int) and isinstance(res.message, str) and res.message


def test_command_line_exit_codes(capsys):
    from symopt.cli import main

    assert main(["derive", "(1 - x)^2"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "**" in err and "Traceback" not in err
    assert main(["minimize", ROSEN, "--x0", "x=1,y=1", "--method", "nope"]) == 2
    assert "unknown method" in capsys.readouterr().err
    assert main(["minimize", ROSEN, "--x0", "x=-1.2,y=1", "--method", "gd", "--max-iter", "3"]) == 1
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.parametrize("text", [
    "__import__('os').system('true')",
    "x + exp(exp(exp(exp(3))))",
    "acos(2) + x**2",
    "**".join(["x"] * 60),
    "x**2 + nan",
    "I*x",
    "x + oo",
    "10**10**10 + x",
    "(" * 10_000 + "x" + ")" * 10_000,
    "+".join(["x"] * 30_000),
])
def test_bad_text_is_refused_within_a_second(text):
    # CPU time, so that other jobs on the machine do not count
    start = time.process_time()
    with pytest.raises(so.FormulaError):
        so.Problem(text)
    assert time.process_time() - start < 1.0


@pytest.mark.slow
def test_many_threads_get_the_single_thread_results():
    problem = so.Problem("(1 - x)**2 + 100*(y - x**2)**2 + x**4/3")
    starts = [[-1.2 + 0.1 * i, 1.0] for i in range(16)]
    serial = [so.minimize(problem, x0).x.tolist() for x0 in starts]
    threaded: dict[int, list] = {}
    barrier = threading.Barrier(8)

    def work(k):
        barrier.wait()
        for i in range(k, len(starts), 8):
            threaded[i] = so.minimize(problem, starts[i]).x.tolist()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [threaded[i] for i in range(len(starts))] == serial


def test_unusable_cache_folder_is_not_fatal(tmp_path, monkeypatch):
    from symopt import cache

    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    monkeypatch.setenv("SYMOPT_CACHE_DIR", str(a_file))
    with pytest.warns(errors.CacheWarning, match="cannot be used") as caught:
        module = cache.load_source("VALUE = 3\n", kind="t")
    assert module.VALUE == 3 and len(caught) == 1


def test_damaged_numba_files_are_discarded(tmp_path):
    from symopt import cache

    source = "import numba\n\n\n@numba.njit(cache=True)\ndef f(x):\n    return x + 1\n"
    path = tmp_path / "symopt_t_damaged.py"
    path.write_text(source)
    pycache = tmp_path / "__pycache__"
    pycache.mkdir()
    index = pycache / f"{cache._cached_function_bases(path.stem, source)[0]}.nbi"
    index.write_bytes(b"\x80\x05truncated")
    with pytest.warns(errors.CacheWarning, match="damaged"):
        found = cache.discard_damaged_numba_cache(path)
    assert len(found) == 1 and not index.exists()


@pytest.mark.parametrize("formula, x0, method, max_iter", [
    (ROSEN, [-1.2, 1.0], "newton", None),
    (ROSEN, [-1.2, 1.0], "gd", 5),
    ("sqrt(x) + (x - 2)**2", [-1.0], "newton", None),
    ("(x - 3)**2", [0.0], "bfgs", None),
])
def test_codes_0_to_2_and_only_they_are_successes(formula, x0, method, max_iter):
    res = so.minimize(formula, x0, method=method, max_iter=max_iter)
    assert res.success == (res.status in (0, 1, 2))


@pytest.mark.parametrize("case", ["overflow", "unbounded"])
def test_a_success_is_genuine(case):
    if case == "overflow":  # a success only at the true solution x = 1e200, with a finite cost
        res = so.minimize(so.LeastSquares(["x - 1e200"]), [0.0], method="lm")
        assert not res.success or (math.isfinite(res.fun) and abs(res.x[0] / 1e200 - 1) < 1e-12)
    else:  # f decreases without bound as x -> -inf: no success can be reported
        assert not so.minimize("1/x**2 + x", [-1.0], method="newton").success


@pytest.mark.parametrize("x0, params", [([float("nan"), 1.0], {"a": 1.0}),
                                        ([1.0, float("-inf")], {"a": 1.0}),
                                        ([1.0, 1.0], {"a": float("nan")})])
def test_non_finite_start_or_parameter_raises_input_error(x0, params):
    with pytest.raises(so.InputError):
        so.minimize("(a - x)**2 + 100*(y - x**2)**2", x0, params=params)


# ---------------------------------------------------------------------------------------
# Warnings
# ---------------------------------------------------------------------------------------


def test_warnings_are_symopt_warnings_and_user_warnings():
    for row in _table("Warnings"):
        cls = getattr(errors, row[0])
        assert issubclass(cls, errors.SymoptWarning) and issubclass(cls, UserWarning)


def test_formula_warning_names_both_letters_and_points_at_your_line():
    with pytest.warns(errors.FormulaWarning) as caught:
        so.Problem("(\u0430 - 1)**2 + (a - 2)**2")  # Cyrillic a, Latin a
    message = str(caught[0].message)
    assert "cyrillic small letter a" in message and "latin small letter a" in message
    assert caught[0].filename == __file__


def test_cache_warning_names_the_folder_and_the_reason(tmp_path, monkeypatch):
    from symopt import cache

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    monkeypatch.setenv("SYMOPT_CACHE_DIR", str(a_file))
    with pytest.warns(errors.CacheWarning) as caught:
        cache.cache_dir()
    message = str(caught[0].message)
    assert str(a_file) in message and "not a folder" in message
    assert caught[0].filename == __file__


def test_symopt_warnings_can_be_made_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", errors.SymoptWarning)
        with pytest.raises(errors.FormulaWarning):
            so.Problem("(\u0430 - 1)**2 + (a - 2)**2")
