"""The on-disk kernel cache: content addressing, atomic files, reuse across processes."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

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


@pytest.mark.slow
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


# ---------------------------------------------------------------------------------------
# Threads: only complete modules are handed out (issue 15, item 1; see test_threads.py)
# ---------------------------------------------------------------------------------------


def test_a_module_still_executing_is_not_handed_to_other_threads(tmp_path, monkeypatch):
    import threading
    import time as _time

    monkeypatch.setenv("SYMOPT_CACHE_DIR", str(tmp_path))
    source = "import time\ntime.sleep(0.3)\nVALUE = 5\n"
    results = []

    def load():
        results.append(getattr(cache.load_source(source, kind="t"), "VALUE", None))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
        _time.sleep(0.01)
    for thread in threads:
        thread.join()
    assert results == [5] * 8
    sys.modules.pop(f"symopt_t_{cache.source_hash(source)}", None)


# ---------------------------------------------------------------------------------------
# A damaged Numba cache is never fatal (issue 15, item 4)
# ---------------------------------------------------------------------------------------

_KERNELS_AND_ENTRY = textwrap.dedent("""
    import sys, warnings
    warnings.simplefilter("always")
    import symopt as so
    p = so.Problem(sys.argv[1])
    res = so.minimize(p, [-1.2, 1.0])
    k = so.compile(p)
    stats = [k.value_kernel.stats, k.value_grad_kernel.stats, k.value_grad_hess_kernel.stats]
    hits = sum(sum(s.cache_hits.values()) for s in stats)
    print(res.success, repr(res.fun), hits)
""")


def _run(folder, formula, *prefix):
    env = dict(os.environ, SYMOPT_CACHE_DIR=str(folder))
    return subprocess.run([*prefix, sys.executable, "-c", _KERNELS_AND_ENTRY, formula], env=env,
                          capture_output=True, text=True, timeout=900)


def _damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif how == "random":
        path.write_bytes(os.urandom(max(len(data), 64)))
    else:
        path.write_bytes(b"")


@pytest.mark.slow
def test_numba_file_names_are_the_ones_symopt_checks(cache_folder):
    # if Numba renames its cache files, the damage check would look at nothing: fail here
    p = so.Problem("(1 - x)**2 + 100*(y - x**2)**2")
    assert so.minimize(p, [-1.2, 1.0]).success
    k = so.compile(p)
    k.grad_kernel, k.value_grad_hess_kernel  # compile every kernel
    written = {path.name for path in (Path(cache_folder) / "__pycache__").glob("*.nbi")}
    expected = set()
    for module in Path(cache_folder).glob("symopt_*.py"):
        bases = cache._cached_function_bases(module.stem, module.read_text())
        expected |= {f"{base}.nbi" for base in bases}
    kernel_indexes = {name for name in written if name.startswith(Path(k.source_path).stem)}
    assert len(kernel_indexes) == 4, written  # value, grad, value_grad, value_grad_hess
    assert written <= expected, written - expected
    folders = cache._numba_cache_folders(Path(k.source_path))
    assert folders[0] == Path(cache_folder) / "__pycache__"


_DAMAGE_FORMULA = "(1 - x)**2 + 100*(y - x**2)**2 + x**6/7"


@pytest.fixture(scope="module")
def warm_folder(tmp_path_factory):
    """A cache folder holding one problem's kernels and Newton's entry module, compiled
    once for every damage case (each case damages a copy)."""
    folder = tmp_path_factory.mktemp("warm-cache")
    first = _run(folder, _DAMAGE_FORMULA)
    assert first.returncode == 0, first.stderr
    return folder, first.stdout.split()[:2]


@pytest.mark.slow
@pytest.mark.parametrize("suffix", ["nbi", "nbc"])
@pytest.mark.parametrize("how", ["truncated", "random", "empty"])
def test_damaged_numba_cache_files_are_discarded_and_rebuilt(warm_folder, tmp_path, suffix, how):
    import shutil

    pristine, expected = warm_folder
    folder = tmp_path / "cache"
    shutil.copytree(pristine, folder)
    files = sorted((folder / "__pycache__").glob(f"*.{suffix}"))
    assert any(p.name.startswith("symopt_k_") for p in files)
    assert any(p.name.startswith("symopt_e_") for p in files)  # the entry module's too
    for path in files:
        _damage(path, how)
    second = _run(folder, _DAMAGE_FORMULA)  # the damaged run: recovers, with warnings
    assert second.returncode == 0, second.stderr
    assert second.stdout.split()[:2] == expected
    assert "Traceback" not in second.stderr
    assert second.stderr.count("CacheWarning: damaged Numba cache files") == 2, second.stderr
    third = _run(folder, _DAMAGE_FORMULA)  # rebuilt: loads from the cache again, silently
    assert third.returncode == 0, third.stderr
    assert third.stdout.split() == expected + ["3"], third.stdout
    assert "Warning" not in third.stderr


@pytest.mark.slow
def test_a_healthy_warm_load_warns_about_nothing(cache_folder):
    out = _run(cache_folder, "(1 - x)**2 + 100*(y - x**2)**2")
    again = _run(cache_folder, "(1 - x)**2 + 100*(y - x**2)**2")
    assert again.returncode == 0 and out.returncode == 0, again.stderr
    assert "Warning" not in again.stderr, again.stderr
    assert again.stdout.split()[2] == "3"


def test_index_check_finds_truncation_garbage_and_a_damaged_data_file(tmp_path):
    import pickle

    import numba

    index = tmp_path / "m.f-1.py311.nbi"
    data = tmp_path / "m.f-1.py311.1.nbc"
    data.write_bytes(pickle.dumps(("object code", b"\x00" * 500)))
    blob = pickle.dumps(numba.__version__) + pickle.dumps(("stamp", {"key": data.name}))
    index.write_bytes(blob)
    assert cache._index_damage(index) == (None, [data])
    index.write_bytes(blob[:-5])
    assert "damaged" in cache._index_damage(index)[0]
    index.write_bytes(blob + b"junk")
    assert "after its end" in cache._index_damage(index)[0]
    index.write_bytes(blob)
    data.write_bytes(data.read_bytes()[:100])
    assert "names m.f-1.py311.1.nbc" in cache._index_damage(index)[0]
    other = pickle.dumps("0.0.1-another-numba") + b"whatever follows"
    index.write_bytes(other)
    assert cache._index_damage(index) == (None, [])  # Numba ignores another version's index


# ---------------------------------------------------------------------------------------
# An unusable cache folder: a private temporary folder, one warning (issue 15, item 5)
# ---------------------------------------------------------------------------------------


def _unusable_paths(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    return {"a file": str(a_file), "under a file": str(a_file / "sub"), "/dev/null": "/dev/null",
            "under /proc": "/proc/symopt-cache-test"}


_FALLBACK = textwrap.dedent("""
    import os, sys, warnings
    from symopt import cache
    for folder in sys.argv[1:]:
        os.environ["SYMOPT_CACHE_DIR"] = folder
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = cache.load_source(f"VALUE = {folder!r}\\n", kind="t")
            again = cache.load_source(f"VALUE = {folder!r}\\n", kind="t")
            used = cache.cache_dir()
        assert module.VALUE == folder and again is module
        assert os.path.dirname(module.__file__) == str(used)
        print(len(caught), caught[0].category.__name__ if caught else "-",
              str(caught[0].message) if caught else "")
""")


@pytest.mark.slow
def test_unusable_folders_fall_back_to_a_private_folder_with_one_warning_each(tmp_path):
    cases = _unusable_paths(tmp_path)
    if not os.path.isdir("/proc"):
        del cases["under /proc"]
    out = subprocess.run([sys.executable, "-c", _FALLBACK, *cases.values()], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(cases)
    for folder, line in zip(cases.values(), lines):
        count, category, message = line.split(" ", 2)
        assert (count, category) == ("1", "CacheWarning"), line
        assert f"the symopt cache folder {folder!r} cannot be used" in message
        assert "symopt-cache-" in message  # names the private folder
    assert "not a folder" in lines[0] and "cannot be created" in lines[1]


@pytest.mark.slow
def test_minimize_with_the_cache_at_dev_null_warns_once_and_solves():
    out = _run("/dev/null", "(1 - x)**2 + 100*(y - x**2)**2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "True"
    assert out.stderr.count("CacheWarning") == 1, out.stderr
    assert "Traceback" not in out.stderr


def _read_only_prefix(folder):
    """A command prefix running a program with ``folder`` read-only; None if impossible."""
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o555)
        return ()
    # root writes through permission bits: a read-only bind mount in a private namespace
    probe = subprocess.run(["unshare", "-m", "sh", "-c",
                            f"mount --bind '{folder}' '{folder}' && "
                            f"mount -o remount,bind,ro '{folder}' && ! touch '{folder}/probe'"],
                           capture_output=True)
    if probe.returncode != 0:
        return None
    return ("unshare", "-m", "sh", "-c",
            f"mount --bind '{folder}' '{folder}' && mount -o remount,bind,ro '{folder}' && "
            'exec "$@"', "sh")


def _restore_writable(folder):
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)


@pytest.mark.slow
def test_read_only_warm_cache_keeps_serving_its_kernels(tmp_path):
    formula = "(1 - x)**2 + 100*(y - x**2)**2 + x**6/7"
    warm = _run(tmp_path, formula)
    assert warm.returncode == 0, warm.stderr
    prefix = _read_only_prefix(tmp_path)
    if prefix is None:
        pytest.skip("cannot make a folder read-only here")
    try:
        out = _run(tmp_path, formula, *prefix)
    finally:
        _restore_writable(tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == warm.stdout.split()[:2] + ["3"]  # kernels loaded, not compiled
    assert out.stderr.count("CacheWarning") == 1, out.stderr
    assert "cannot be used: files cannot be written in it" in out.stderr
    assert "still used" in out.stderr


@pytest.mark.slow
def test_read_only_cold_cache_compiles_into_the_private_folder(tmp_path):
    prefix = _read_only_prefix(tmp_path)
    if prefix is None:
        pytest.skip("cannot make a folder read-only here")
    try:
        out = _run(tmp_path, "(1 - x)**2 + 100*(y - x**2)**2 + x**6/9", *prefix)
    finally:
        _restore_writable(tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "True"
    assert out.stderr.count("CacheWarning") == 1, out.stderr
    assert not list(tmp_path.glob("symopt_*.py"))


def test_cache_error_only_when_no_folder_at_all_can_be_written(tmp_path, monkeypatch):
    from symopt.errors import CacheError, SymoptError

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    monkeypatch.setenv("SYMOPT_CACHE_DIR", str(a_file))
    monkeypatch.setattr(cache, "_private", [])

    def no_temporary_folder(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache.tempfile, "mkdtemp", no_temporary_folder)
    with pytest.raises(CacheError, match="no temporary folder can be made") as info:
        cache.cache_dir()
    assert isinstance(info.value, SymoptError)
    assert str(a_file) in str(info.value) and "SYMOPT_CACHE_DIR" in str(info.value)
