"""The README's Python examples run, in order, as a user would paste them."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def python_blocks(path: pathlib.Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_readme_examples_run():
    blocks = python_blocks(ROOT / "README.md")
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own docs
    # the results the README shows are what the code gives
    assert namespace["res"].success
    assert namespace["fit"].success
    assert namespace["status"] in (0, 1, 2)


@pytest.mark.parametrize("module", ["symopt.problem", "symopt.kernels", "symopt.minimize",
                                    "symopt.derivatives", "symopt.fit", "symopt.compare",
                                    "symopt.parsing", "symopt.functions", "symopt"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
