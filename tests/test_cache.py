"""The on-disk kernel cache: content addressing, atomic files, reuse across processes."""

import os
import subprocess
import sys
import textwrap

import pytest

import symopt as so
from symopt import cache


def test_cache_folder_comes_from_the_environment(cache_folder):
    assert str(cache.cache_dir()) == cache_folder


def test_generated_file_is_readable_and_named_by_content():
    p = so.Problem("(1 - x)**2 + 100*(y - x**2)**2")
    k = so.compile(p)
    text = open(k.source_path).read()
    assert os.path.basename(k.source_path).startswith("symopt_k_")
    assert "# formula:" in text and "(1 - x)**2 + 100*(y - x**2)**2" in text
    assert "x[0] = x" in text and "x[1] = y" in text
    assert "def value_grad_hess(" in text
    key = text.splitlines()[0].split(":")[1].strip()
    assert key in os.path.basename(k.source_path)


def test_same_formula_shares_one_module_and_different_ones_do_not():
    a = so.compile(so.Problem("x**2 + sin(y)"))
    b = so.compile(so.Problem("x**2 + sin(y)"))
    c = so.compile(so.Problem("x**2 + cos(y)"))
    assert a.module is b.module
    assert a.module is not c.module


def test_key_depends_on_toolchain_versions(monkeypatch):
    before = cache.source_hash("print(1)")
    monkeypatch.setattr(cache.numba, "__version__", "0.0.0-other")
    assert cache.source_hash("print(1)") != before


def test_corrupt_entry_is_rewritten_not_fatal(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMOPT_CACHE_DIR", str(tmp_path))
    source = "VALUE = 42\n"
    name = f"symopt_t_{cache.source_hash(source)}"
    (tmp_path / f"{name}.py").write_text("this is not python (")
    module = cache.load_source(source, kind="t")
    assert module.VALUE == 42
    assert (tmp_path / f"{name}.py").read_text().endswith(source)
    sys.modules.pop(name, None)


def test_no_temporary_files_are_left_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMOPT_CACHE_DIR", str(tmp_path))
    module = cache.load_source("VALUE = 7\n", kind="t")
    assert module.VALUE == 7
    assert not list(tmp_path.glob("*.tmp"))
    sys.modules.pop(module.__name__, None)


def test_second_process_loads_kernels_without_compiling(cache_folder):
    script = textwrap.dedent("""
        import symopt as so
        k = so.compile(so.Problem("exp(x) - 3*x + y**4 + x*y"))
        assert k.value([0.0, 0.0]) == 1.0
        stats = [k.value_kernel.stats, k.value_grad_kernel.stats, k.value_grad_hess_kernel.stats]
        print(sum(sum(s.cache_hits.values()) for s in stats), sum(sum(s.cache_misses.values()) for s in stats))
    """)
    env = dict(os.environ, SYMOPT_CACHE_DIR=cache_folder)
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                           check=True)
    second = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                            check=True)
    hits1, misses1 = map(int, first.stdout.split())
    hits2, misses2 = map(int, second.stdout.split())
    assert misses1 == 3 or hits1 == 3  # compiled (or already cached by an earlier run)
    assert (hits2, misses2) == (3, 0), second.stdout + second.stderr
