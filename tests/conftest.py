"""Test session set-up: one kernel cache for the whole run (kept for the next run of
the same sources in the same checkout: see :func:`_session_cache`).

Every test (and every subprocess a test starts, which inherits the environment)
shares this folder, so a problem's kernels compile once per run.  The run is spread
over the machine's cores by pytest-xdist (``-n auto``, one file per worker at a time):
its workers inherit the folder through ``SYMOPT_TEST_CACHE`` from the controller,
which imports this module first.
"""

import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

_PACKAGE = Path(__file__).resolve().parent.parent / "symopt"
_OLD_CACHE_DAYS = 2


def _session_cache() -> str:
    """The kernel cache folder of a run of this checkout: one per checkout folder and
    content of the package's sources (and Python), so that a second run of unchanged
    sources loads the kernels and entry points the first compiled, while an edit, or
    another checkout (a fresh clone in CI), starts from an empty cache.  Folders not
    used for two days are removed.  ``SYMOPT_TEST_FRESH_CACHE=1`` asks for an empty one."""
    if os.environ.get("SYMOPT_TEST_FRESH_CACHE") == "1":
        return tempfile.mkdtemp(prefix="symopt-test-cache-")
    digest = hashlib.sha256(f"{_PACKAGE}\n{sys.version}".encode())
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    root = Path(tempfile.gettempdir())
    folder = root / f"symopt-test-cache-{digest.hexdigest()[:20]}"
    folder.mkdir(exist_ok=True)
    os.utime(folder)
    for old in root.glob("symopt-test-cache-*"):
        try:
            if old != folder and time.time() - old.stat().st_mtime > _OLD_CACHE_DAYS * 86400:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:  # another run removed it first
            pass
    return str(folder)


_CACHE = os.environ.get("SYMOPT_TEST_CACHE") or _session_cache()
os.environ["SYMOPT_TEST_CACHE"] = _CACHE
os.environ["SYMOPT_CACHE_DIR"] = _CACHE


@pytest.fixture(scope="session")
def cache_folder() -> str:
    """The session's kernel cache folder."""
    return _CACHE
