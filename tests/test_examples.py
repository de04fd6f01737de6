"""Every script in examples/ runs, as examples/README.md promises.

Each ``examples/*.py`` runs in a subprocess, in a fresh temporary working folder, with
``SYMOPT_EXAMPLE_SMALL=1`` (the convention: small data, short runs) and a time limit,
and must exit with 0.  Scripts added later are picked up without touching this file.
"""

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).resolve().parent.parent / "examples").glob("*.py"))
#: files a script promises to write into its working folder
OUTPUTS = {"rosenbrock_paths.py": ["paths.png", "convergence.png"]}
TIMEOUT = 300


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    env = {**os.environ, "SYMOPT_EXAMPLE_SMALL": "1", "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, f"{script.name} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    for name in OUTPUTS.get(script.name, []):
        assert (tmp_path / name).stat().st_size > 1000, name


def test_examples_folder_documents_its_convention():
    readme = EXAMPLES[0].parent / "README.md" if EXAMPLES else None
    assert readme is not None and "SYMOPT_EXAMPLE_SMALL=1" in readme.read_text()
