"""The documentation is true to the code: its examples run and the site builds.

- Every ```python block of README.md and docs/*.md runs, page by page in one namespace,
  top to bottom, as a reader would paste them, in a temporary working folder.  A block
  written as a doctest (its first line starts with ``>>>``) is checked as a doctest.  A
  block preceded by the line ``<!-- skip: reason -->`` is not run (the convention is
  documented in docs/index.md).
- The docstring examples of the public modules pass as doctests.
- ``mkdocs build --strict`` builds the site (warnings are errors: broken links, pages
  missing from the nav, docstrings that do not render).
"""

import doctest
import importlib
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"(?P<before>[^\n]*)\n```python[ \t]*\n(?P<code>.*?)^```[ \t]*$", re.S | re.M)
SKIP_MARK = re.compile(r"^\s*<!--\s*skip:.+-->\s*$")


def python_blocks(path: pathlib.Path) -> list[tuple[int, str, bool]]:
    """``(line, code, skipped)`` of every ```python block of a Markdown file."""
    text = "\n" + path.read_text(encoding="utf-8")
    out = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start("code"))
        out.append((line, match.group("code"), bool(SKIP_MARK.match(match.group("before")))))
    return out


def run_blocks(path: pathlib.Path) -> dict:
    namespace: dict = {"__name__": f"docs_{path.stem.replace('-', '_')}"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for line, code, skipped in python_blocks(path):
        if skipped:
            continue
        where = f"{path.name}:{line}"
        if code.lstrip().startswith(">>>"):
            test = parser.get_doctest(code, namespace, where, str(path), line)
            result = runner.run(test, clear_globs=False)
            assert result.failed == 0, f"doctest block at {where} failed (output above)"
        else:
            exec(compile(code, where, "exec"), namespace)  # noqa: S102 - our own docs
    return namespace


def test_the_block_parser_finds_fences_and_skip_marks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```python\na = 1\n```\n\ntext\n<!-- skip: needs a display -->\n"
                    "```python\nraise SystemExit\n```\n\n```bash\nls\n```\n")
    assert [(c, s) for _, c, s in python_blocks(page)] == [("a = 1\n", False),
                                                           ("raise SystemExit\n", True)]
    assert run_blocks(page)["a"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # pages that save pictures write them here
    namespace = run_blocks(page)
    if page.name == "README.md":  # the results the README shows are what the code gives
        assert namespace["res"].success
        assert namespace["fit"].success


def test_readme_and_docs_have_examples():
    counts = {p.name: sum(not s for _, _, s in python_blocks(p)) for p in PAGES}
    assert counts["README.md"] >= 3
    for name in ("getting-started.md", "problems.md", "plots.md", "fitting.md", "embedding.md"):
        assert counts[name] >= 1, name


@pytest.mark.slow
@pytest.mark.parametrize("module", ["symopt.problem", "symopt.kernels", "symopt.minimize",
                                    "symopt.derivatives", "symopt.fit", "symopt.compare",
                                    "symopt.parsing", "symopt.parsing.names",
                                    "symopt.parsing.formula", "symopt.parsing.constants",
                                    "symopt.functions", "symopt.plot",
                                    "symopt"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.slow
def test_docs_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("symopt.minimize", "symopt.plot.paths", "symopt.fit", "MissingDependencyError"):
        assert name in api, name


def test_quick_start_is_the_two_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for block in re.findall(r"```bash\n(.*?)```", quick_start, re.S)
                for line in block.splitlines() if line.strip()]
    assert commands == ['pip install . && symopt demo',
                        'pip install -e ".[test]" && python -m pytest']
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'python -m pip install -e ".[test]" && python -m pytest' in ci
