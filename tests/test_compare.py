"""compare(): every applicable method on one problem, with counts and timings."""

import pytest

import symopt as so

ROSEN = "(1 - x)**2 + 100*(y - x**2)**2"


@pytest.mark.slow
def test_compare_runs_each_method_and_times_it():
    runs = so.compare(ROSEN, [-1.2, 1.0], ["gd", "newton", "bfgs"], repeat=3)
    assert list(runs) == ["gd", "newton", "bfgs"]
    for method, res in runs.items():
        assert res.method == method
        assert res.time > 0
    # the trade-off the seed names: Newton needs far fewer iterations than GD
    assert runs["newton"].nit * 50 < runs["gd"].nit
    assert runs["newton"].nhev > 0 and runs["gd"].nhev == 0


@pytest.mark.slow
def test_default_methods_are_the_applicable_ones():
    runs = so.compare("(x - 1)**2 + (y + 2)**2", [0.0, 0.0], repeat=1)
    assert set(runs) == {"gd", "newton", "bfgs", "lbfgs", "trust-ncg", "trust-exact", "momentum", "nesterov",
                         "adam"}
    assert all(r.success for r in runs.values())


@pytest.mark.slow
def test_table_lists_every_method_with_its_counts():
    runs = so.compare(ROSEN, [-1.2, 1.0], ["newton", "bfgs"], repeat=1)
    table = runs.table()
    assert "newton" in table and "bfgs" in table and "Hess ev" in table
    assert str(runs["newton"].nit) in table
    assert "<table>" in runs._repr_html_()


def test_history_is_recorded_on_request():
    runs = so.compare(ROSEN, [-1.2, 1.0], ["newton"], history=True, repeat=1)
    assert len(runs["newton"].history["x"]) == runs["newton"].nit + 1


def test_unknown_method_and_empty_methods_are_errors():
    with pytest.raises(so.InputError, match="unknown method"):
        so.compare(ROSEN, [-1.2, 1.0], ["simplex"])
    with pytest.raises(so.InputError, match="empty"):
        so.compare(ROSEN, [-1.2, 1.0], [])


def test_parallel_compilation_is_skipped_for_a_single_method_or_no_workers():
    from symopt import _binding

    assert _binding.compile_entries_in_parallel(["newton"]) == []
    assert _binding.compile_entries_in_parallel(["gd", "newton", "bfgs"], workers=0) == []


_FRESH_COMPARE = """
import sys, time
from symopt import _binding
from symopt.compare import compare
handed = _binding.compile_entries_in_parallel(["newton", "bfgs", "gd"], workers=1)
assert handed == ["bfgs", "gd"], handed
workers = {id(_binding._compiling[m]) for m in handed}
assert len(workers) == 1
runs = compare("(1 - x)**2 + 100*(y - x**2)**2", [-1.2, 1.0], ["newton", "bfgs", "gd"], repeat=1)
assert runs["newton"].success and runs["bfgs"].success, runs
assert not _binding._compiling
# the workers' compilations are in Numba's disk cache: nothing is handed out again
assert all(_binding._entry_cached(m) for m in ("newton", "bfgs", "gd"))
assert _binding.compile_entries_in_parallel(["newton", "bfgs", "gd"], workers=1) == []
print("ok")
"""


@pytest.mark.slow
def test_methods_compiled_in_a_worker_process_are_loaded_from_its_cache(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, SYMOPT_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _FRESH_COMPARE], env=env, capture_output=True,
                         text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
