"""Test session set-up: one temporary kernel cache for the whole run.

Every test (and every subprocess a test starts, which inherits the environment)
shares this folder, so a problem's kernels compile once per run.
"""

import os
import tempfile

import pytest

_CACHE = tempfile.mkdtemp(prefix="symopt-test-cache-")
os.environ["SYMOPT_CACHE_DIR"] = _CACHE


@pytest.fixture(scope="session")
def cache_folder() -> str:
    """The session's kernel cache folder."""
    return _CACHE
