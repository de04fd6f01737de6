"""symopt called from many threads at once (issue 15, item 1): web services, Dask's threads,
notebooks with background work.

Each scenario runs in a fresh process (a subprocess), first with an empty cache folder
(cold: the problem, its kernels and the solvers' entry points are new to the folder) and
then again on that folder (warm: everything loads from disk, so the lazy loading of the
kernel and entry modules is what the threads race through).  8 threads make every call
of the scenario at once; the same calls are then made one after the other in the same
process, and every threaded result must equal the serial one exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

THREADS = 8

_SCRIPT = textwrap.dedent('''
    import json
    import sys
    import threading
    import traceback
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import symopt as so

    kind, calls, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ROSEN = "(1 - x)**2 + 100*(y - x**2)**2 + x**4/1000"
    MODEL = "a*exp(-b*t) + c"
    t = np.linspace(0.0, 4.0, 25)
    problem = so.Problem(ROSEN)
    model = so.LeastSquares.from_model(MODEL, independent="t", wrt="a b c")

    def data_y(i):
        return 2.0 * np.exp(-(0.5 + 0.01 * i) * t) + 0.3 + 0.01 * np.sin(7.0 * t + i)

    def summary(res):
        return [np.asarray(res.x).tolist(), float(res.fun), int(res.status), int(res.nit)]

    def call(i):
        x0 = [-1.2 + 0.05 * (i % 9), 1.0]
        if kind == "minimize":        # one shared problem, Newton's default path
            return summary(so.minimize(problem, x0))
        if kind == "minimize_text":   # a new Problem from the same text in every call
            return summary(so.minimize(ROSEN, x0, method="bfgs"))
        if kind == "minimize_options":  # the general path, with options
            return summary(so.minimize(problem, x0, method="lbfgs", gtol=1e-9))
        if kind == "fit":
            res = so.fit(MODEL, p0={"a": 1.0, "b": 1.0, "c": 0.0}, t=t, y=data_y(i))
            return [np.asarray(res.x).tolist(), float(res.chisqr), int(res.status)]
        if kind == "minimize_many":
            Y = np.array([data_y(i + j) for j in range(4)])
            res = so.minimize_many(model, x0=[1.0, 1.0, 0.0], data={"t": t, "y": Y},
                                   method="lm", verbose=False)
            return [res.x.tolist(), res.fun.tolist(), res.status.tolist()]
        if kind == "value_and_grad":  # a shared problem's kernels, and a new problem's
            shared = so.compile(problem).value_and_grad(x0)
            fresh = so.compile(so.Problem(ROSEN)).value_and_grad(x0)
            return [[shared[0], shared[1].tolist()], [fresh[0], fresh[1].tolist()]]
        raise ValueError(kind)

    def guarded(i):
        try:
            return call(i)
        except BaseException:
            return "raised: " + traceback.format_exc()

    start = threading.Barrier(threads)

    def threaded(chunk):
        start.wait()
        return [guarded(i) for i in chunk]

    chunks = [list(range(k, calls, threads)) for k in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        results = {}
        for chunk, outs in zip(chunks, pool.map(threaded, chunks)):
            results.update(zip(chunk, outs))
    serial = {i: guarded(i) for i in range(calls)}
    errors = sorted({r for r in results.values() if isinstance(r, str)})
    differ = [i for i in range(calls) if results[i] != serial[i]]
    print(json.dumps({"errors": errors[:3], "n_errors": sum(isinstance(r, str)
                      for r in results.values()), "differ": differ,
                      "serial_errors": sorted({r for r in serial.values()
                                               if isinstance(r, str)})[:3]}))
''')


def _run(kind: str, calls: int, folder) -> dict:
    env = dict(os.environ, SYMOPT_CACHE_DIR=str(folder))
    out = subprocess.run([sys.executable, "-c", _SCRIPT, kind, str(calls), str(THREADS)],
                         env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_KINDS = [
    ("minimize", 200),
    ("minimize_text", 24),
    ("minimize_options", 120),
    ("fit", 120),
    ("minimize_many", 40),
    ("value_and_grad", 48),
]


@pytest.mark.slow
@pytest.mark.parametrize("kind, calls", _KINDS, ids=[k for k, _ in _KINDS])
def test_threads_cold_then_warm_give_the_serial_results(kind, calls, tmp_path):
    for state in ("cold", "warm"):
        report = _run(kind, calls, tmp_path)
        assert report["serial_errors"] == [], (state, report["serial_errors"])
        assert report["n_errors"] == 0, (state, report["n_errors"], report["errors"])
        assert report["differ"] == [], (state, report["differ"])
