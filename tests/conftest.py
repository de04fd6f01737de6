"""Test session set-up: one temporary kernel cache for the whole run.

Every test (and every subprocess a test starts, which inherits the environment)
shares this folder, so a problem's kernels compile once per run.  The run is spread
over the machine's cores by pytest-xdist (``-n auto``, one file per worker at a time):
its workers inherit the folder through ``SYMOPT_TEST_CACHE`` from the controller,
which imports this module first.
"""

import os
import tempfile

import pytest

_CACHE = os.environ.get("SYMOPT_TEST_CACHE") or tempfile.mkdtemp(prefix="symopt-test-cache-")
os.environ["SYMOPT_TEST_CACHE"] = _CACHE
os.environ["SYMOPT_CACHE_DIR"] = _CACHE


@pytest.fixture(scope="session")
def cache_folder() -> str:
    """The session's kernel cache folder."""
    return _CACHE
