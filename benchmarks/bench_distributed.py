"""Data beyond memory and beyond one machine (issue 16), side by side in one run.

Logistic regression, m rows x d features (default 2e6 x 100: X is 1.6 GB), labels 0/1,
L2 penalty as scikit-learn's default C = 1:

    loss(w, b) = mean(softplus(X w + b) - y (X w + b)) + |w|^2 / (2 C m)

whose minimiser is scikit-learn's LogisticRegression(C=1) coefficients.  Sections:

1. reference   scikit-learn LogisticRegression(lbfgs, tight tol) in memory: the
               coefficients every other row must reach (max relative difference <= 1e-6)
2. dask        LocalCluster(2 single-thread worker processes), X and y as Dask arrays in
               ``--chunks`` row chunks, persisted on the workers:
               dask-ml LogisticRegression with the lbfgs and newton solvers (admm with
               --admm: ~10 minutes) against symopt.chunked.minimize on the same cluster
               (L-BFGS; Newton with --newton).  Target: symopt <= 0.25 x dask-ml's
               fastest solver.
3. memory map  X and y saved as .npy and memory-mapped, streamed: "prefetch" (the
               default: 4 MB chunks copied with pread by a reader thread into a ring of
               small buffers while the kernels work on the chunk before), "madvise"
               (64 MB chunks read through the mapping, 1/8 of the data kept resident
               between passes that alternate direction, older chunks dropped with
               madvise(MADV_DONTNEED); "madvise:0" drops every chunk after use), "pread"
               (64 MB chunks copied into one buffer on the evaluating thread), against
               symopt on the same arrays in memory; each run in a fresh
               process, timed after the kernels are loaded, with its peak resident
               memory above the process's resident memory before the fit (VmHWM reset
               through /proc/self/clear_refs).  Targets: <= 1.5 x in-memory time, peak
               <= 25% of the data size.  The file is in the page cache (written by this
               script): what is measured is the streaming, not the disk.
4. overhead    one value+gradient evaluation through the Dask path with 8, 64 and 512
               chunks against the same evaluation in memory (one chunk, this process).

Rows are timed interleaved (each repeat runs every row once), medians reported; the
machine's load average is printed with each section.

The loss is an array formula of ``symopt.tensor`` (issue 12).  Until that package is
merged, point --tensor at a checkout that has it; it is then imported by extending
``symopt.__path__`` (here and on the workers), nothing else is taken from it.

Run:  python benchmarks/bench_distributed.py --tensor /work/wt/tensor
      [--rows 2000000] [--features 100] [--chunks 8] [--repeats 3] [--newton] [--admm]
      [--data-dir /tmp/symopt-bench-distributed] [--sections reference,dask,memmap,overhead]

Needs dask[distributed], dask-ml and scikit-learn (the peers' rows are skipped without
them).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # see benchmarks/bench_dataloss.py

import numpy as np

C = 1.0


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def use_tensor(path: str | None) -> None:
    """Make ``symopt.tensor`` importable from the checkout at ``path``."""
    import symopt

    if path:
        package = os.path.join(os.path.abspath(path), "symopt")
        if package not in symopt.__path__:
            symopt.__path__.append(package)
    import symopt.tensor


def tensor_plugin(path: str | None):
    """A Dask worker plugin doing :func:`use_tensor` in every worker (restarted ones too)."""
    from distributed import WorkerPlugin

    class TensorPath(WorkerPlugin):
        def setup(self, worker):
            use_tensor(path)

    return TensorPath()


def problem(rows: int):
    import symopt.tensor as st

    m, d = st.dims("m d")
    X, y = st.data("X", (m, d)), st.data("y", m)
    w, b = st.variable("w", d), st.variable("b")
    z = X @ w + b
    return st.Problem(st.mean(st.softplus(z) - y * z) + (1.0 / (2 * C * rows)) * st.sum(w * w))


def data_files(folder: str, rows: int, features: int, seed: int = 0) -> tuple[str, str]:
    """X.npy and y.npy in ``folder`` (made once, in blocks, and reused)."""
    os.makedirs(folder, exist_ok=True)
    x_path, y_path = os.path.join(folder, "X.npy"), os.path.join(folder, "y.npy")
    meta = os.path.join(folder, "meta.json")
    want = {"rows": rows, "features": features, "seed": seed}
    if os.path.exists(meta):
        with open(meta) as handle:
            if json.load(handle) == want:
                return x_path, y_path
    rng = np.random.default_rng(seed)
    coef = rng.standard_normal(features) / math.sqrt(features)
    X = np.lib.format.open_memmap(x_path, mode="w+", dtype=np.float64, shape=(rows, features))
    y = np.lib.format.open_memmap(y_path, mode="w+", dtype=np.float64, shape=(rows,))
    block = 100_000
    for lo in range(0, rows, block):
        hi = min(lo + block, rows)
        X[lo:hi] = rng.standard_normal((hi - lo, features))
        z = X[lo:hi] @ coef + 0.3
        y[lo:hi] = rng.random(hi - lo) < 1.0 / (1.0 + np.exp(-z))
    X.flush()
    y.flush()
    del X, y
    with open(meta, "w") as handle:
        json.dump(want, handle)
    return x_path, y_path


def _rows_of(path: str, lo: int, hi: int) -> np.ndarray:
    """Rows lo:hi of the .npy file at ``path`` (run on a worker)."""
    return np.array(np.load(path, mmap_mode="r")[lo:hi])


def dask_arrays(x_path: str, y_path: str, rows: int, features: int, chunks: int):
    """X and y as Dask arrays of ``chunks`` row chunks, each read by a worker from the .npy
    files (as Dask users load data: on the workers, not through the scheduler), persisted."""
    import dask
    import dask.array as da
    import distributed

    step = -(-rows // chunks)
    bounds = [(lo, min(lo + step, rows)) for lo in range(0, rows, step)]
    load = dask.delayed(_rows_of, pure=True)
    dX = da.concatenate([da.from_delayed(load(x_path, lo, hi), (hi - lo, features), np.float64)
                         for lo, hi in bounds]).persist()
    dy = da.concatenate([da.from_delayed(load(y_path, lo, hi), (hi - lo,), np.float64)
                         for lo, hi in bounds]).persist()
    distributed.wait([dX, dy])
    return dX, dy


def rel_error(x: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(x - ref)) / np.max(np.abs(ref)))


def median(values):
    return statistics.median(values) if values else math.nan


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


# --------------------------------------------------------------------------------------
# 1. reference
# --------------------------------------------------------------------------------------

def reference(X, y) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, solver="lbfgs", tol=1e-12, max_iter=10_000)
    seconds, _ = timed(lambda: model.fit(X, y))
    return np.concatenate([model.coef_[0], model.intercept_]), seconds


# --------------------------------------------------------------------------------------
# 2. Dask: dask-ml against symopt on one LocalCluster
# --------------------------------------------------------------------------------------

def section_dask(args, paths, ref, prob):
    import distributed

    import symopt.chunked as sc

    print(f"\n== 2. Dask: LocalCluster(2 workers x 1 thread), {args.chunks} chunks "
          f"(load {load_average()})")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        client.register_plugin(tensor_plugin(args.tensor))
        dX, dy = dask_arrays(*paths, args.rows, args.features, args.chunks)
        x0 = {"w": np.zeros(args.features), "b": 0.0}
        runs = {}

        def symopt_fit(method):
            res = sc.minimize(prob, x0, {"X": dX, "y": dy}, method, rows="m", reduce="mean",
                              client=client)
            return res.x, f"{res.nit} it, {res.passes} passes, status {res.status}"

        def dask_ml_fit(solver):
            from dask_ml.linear_model import LogisticRegression

            model = LogisticRegression(C=C, solver=solver, tol=1e-8, max_iter=1000)
            model.fit(dX, dy)
            return np.concatenate([np.ravel(model.coef_), np.ravel(model.intercept_)]), ""

        try:
            import dask_ml  # noqa: F401
            peers = ["lbfgs", "newton"] + (["admm"] if args.admm else [])
        except ImportError:
            print("dask-ml is not installed: its rows are skipped")
            peers = []
        rows = [(f"dask-ml {s}", lambda s=s: dask_ml_fit(s)) for s in peers]
        rows += [("symopt lbfgs (Dask)", lambda: symopt_fit("lbfgs"))]
        if args.newton:
            rows += [("symopt newton (Dask)", lambda: symopt_fit("newton"))]
        symopt_fit("lbfgs")  # warm: kernels compiled (or loaded) on the driver and workers
        for repeat in range(args.repeats):
            for name, fn in rows:
                if repeat and name.endswith("admm"):
                    continue
                seconds, (x, note) = timed(fn)
                runs.setdefault(name, []).append((seconds, rel_error(x, ref), note))
        print(f"{'row':24s} {'median s':>9s} {'runs':>22s} {'rel. error':>11s}  notes")
        for name, values in runs.items():
            times = [v[0] for v in values]
            print(f"{name:24s} {median(times):9.2f} {', '.join(f'{t:.2f}' for t in times):>22s} "
                  f"{values[-1][1]:11.1e}  {values[-1][2]}")
        peer_times = [median([v[0] for v in runs[n]]) for n in runs if n.startswith("dask-ml")]
        ours = [median([v[0] for v in runs[n]]) for n in runs if n.startswith("symopt")]
        if peer_times and ours:
            ratio = min(ours) / min(peer_times)
            print(f"symopt fastest / dask-ml fastest = {ratio:.3f}  (target <= 0.25)  "
                  f"load {load_average()}")
        return runs


# --------------------------------------------------------------------------------------
# 3. memory map: a fresh process per run
# --------------------------------------------------------------------------------------

def _rss() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in bytes."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value, _ = line.split()
                values[key[:-1]] = int(value) * 1024
    return values["VmRSS"], values["VmHWM"]


def child(args) -> None:
    """One timed fit in this fresh process; prints a JSON line."""
    use_tensor(args.tensor)
    import symopt.chunked as sc

    x_path, y_path = data_files(args.data_dir, args.rows, args.features)
    mode = args.child
    if mode == "memory":
        X, y = np.load(x_path), np.load(y_path)
        data = sc.ArrayChunks({"X": X, "y": y})
    else:
        X, y = np.load(x_path, mmap_mode="r"), np.load(y_path, mmap_mode="r")
        read, _, keep = mode.partition(":")
        data = sc.ArrayChunks({"X": X, "y": y}, read=read,
                              **({"keep": float(keep)} if keep else {}))
    prob = problem(args.rows)
    x0 = {"w": np.zeros(args.features), "b": 0.0}
    # warm: load the kernels (and the callback kernels, the entry) on a few rows
    few = {"X": np.ascontiguousarray(X[:1000]), "y": np.ascontiguousarray(y[:1000])}
    sc.minimize(prob, x0, few, args.method, rows="m", reduce="mean", max_iter=2)
    baseline, _ = _rss()
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    seconds, res = timed(lambda: sc.minimize(prob, x0, data, args.method, rows="m",
                                             reduce="mean"))
    _, peak = _rss()
    print(json.dumps({"seconds": seconds, "baseline": baseline, "peak": peak, "reset": reset,
                      "x": res.x.tolist(), "nit": res.nit, "passes": res.passes,
                      "chunks": res.chunks, "status": res.status}))


def section_memmap(args, ref, data_bytes):
    print(f"\n== 3. memory map vs in memory, {args.method} (load {load_average()})")
    modes = ["memory", "prefetch", "madvise", "madvise:0", "pread"]  # madvise:0 keeps no pages
    runs = {mode: [] for mode in modes}
    for _ in range(args.repeats):
        for mode in modes:  # each run in a fresh process: its first pass maps the file
            command = [sys.executable, __file__, "--child", mode, "--rows", str(args.rows),
                       "--features", str(args.features), "--data-dir", args.data_dir,
                       "--method", args.method]
            if args.tensor:
                command += ["--tensor", args.tensor]
            out = subprocess.run(command, capture_output=True, text=True, check=False)
            lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
            if out.returncode or not lines:
                print(f"{mode}: failed\n{out.stdout}\n{out.stderr}")
                continue
            runs[mode].append(json.loads(lines[-1]))
    base = median([r["seconds"] for r in runs["memory"]])
    print(f"{'row':11s} {'median s':>9s} {'x memory':>9s} {'peak above start':>17s} "
          f"{'% of data':>10s} {'chunks':>7s} {'rel. error':>11s}  runs (s)")
    for mode, values in runs.items():
        if not values:
            continue
        seconds = median([r["seconds"] for r in values])
        peak = median([r["peak"] - r["baseline"] for r in values])
        runs_text = ", ".join(f"{r['seconds']:.2f}" for r in values)
        print(f"{mode:11s} {seconds:9.2f} {seconds / base:9.2f} {peak / 2**20:14.0f} MB "
              f"{100 * peak / data_bytes:9.1f}% {values[-1]['chunks']:7d} "
              f"{rel_error(np.array(values[-1]['x']), ref):11.1e}  {runs_text}")
    print(f"(data {data_bytes / 2**20:.0f} MB; targets: streamed <= 1.5 x memory, peak <= 25% "
          f"of the data; load {load_average()})")
    return runs


# --------------------------------------------------------------------------------------
# 4. per-evaluation overhead of the Dask path
# --------------------------------------------------------------------------------------

def section_overhead(args, paths, X, y, prob):
    import distributed

    import symopt.chunked as sc
    from symopt.chunked.distributed import DaskEvaluator
    from symopt.chunked.evaluate import Evaluator

    print(f"\n== 4. one value+gradient evaluation: Dask path vs in memory (load {load_average()})")
    x0 = {"w": np.full(X.shape[1], 0.01), "b": 0.1}
    memory_model = sc.model_for(prob, rows="m", reduce="mean")
    memory_source = sc.ArrayChunks({"X": X, "y": y})
    x = memory_model.start(memory_source.sample(), x0)
    memory = Evaluator(memory_model, memory_source, verbose=False)
    counts = [8, 64, 512]
    times = {"memory": []} | {n: [] for n in counts}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        client.register_plugin(tensor_plugin(args.tensor))
        evaluators = {}
        for n in counts:
            dX, dy = dask_arrays(*paths, args.rows, args.features, n)
            model = sc.model_for(prob, rows="m", reduce="mean")
            source = sc.as_source({"X": dX, "y": dy})
            model.start(source.sample(), x0)
            evaluators[n] = DaskEvaluator(model, source, client)
            evaluators[n].evaluate("value_grad", x)  # warm: kernels on the workers
        memory.evaluate("value_grad", x)
        for _ in range(max(args.repeats, 5)):
            times["memory"].append(timed(lambda: memory.evaluate("value_grad", x))[0])
            for n in counts:
                times[n].append(timed(lambda n=n: evaluators[n].evaluate("value_grad", x))[0])
        reference = memory.evaluate("value_grad", x)
        agree = max(rel_error(evaluators[n].evaluate("value_grad", x), reference) for n in counts)
        for ev in evaluators.values():
            ev.close()
    base = median(times["memory"])
    print(f"{'chunks':>8s} {'median ms':>10s} {'overhead ms':>12s} {'x memory':>9s}")
    print(f"{'memory':>8s} {1e3 * base:10.1f} {'':>12s} {1.0:9.2f}")
    for n in counts:
        t = median(times[n])
        print(f"{n:8d} {1e3 * t:10.1f} {1e3 * (t - base):12.1f} {t / base:9.2f}")
    print(f"(largest relative difference from the in-memory evaluation: {agree:.1e}; "
          f"load {load_average()})")
    return times


# --------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--method", default="lbfgs", help="symopt's method in section 3")
    parser.add_argument("--newton", action="store_true", help="also symopt newton on Dask")
    parser.add_argument("--admm", action="store_true", help="also dask-ml admm (slow)")
    parser.add_argument("--tensor", default=None, help="a checkout with symopt/tensor")
    parser.add_argument("--data-dir", default="/tmp/symopt-bench-distributed")
    parser.add_argument("--sections", default="reference,dask,memmap,overhead")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    use_tensor(args.tensor)
    sections = args.sections.split(",")
    print(f"logistic regression {args.rows:,} x {args.features}; load {load_average()}; "
          f"{os.cpu_count()} cores")
    x_path, y_path = data_files(args.data_dir, args.rows, args.features)
    X, y = np.load(x_path), np.load(y_path)
    data_bytes = X.nbytes + y.nbytes
    prob = problem(args.rows)
    print(f"\n== 1. reference: scikit-learn LogisticRegression(C={C}, lbfgs, tol 1e-12) in memory")
    ref, seconds = reference(X, y)
    print(f"scikit-learn: {seconds:.2f} s")
    if "dask" in sections:
        section_dask(args, (x_path, y_path), ref, prob)
    if "overhead" in sections:
        section_overhead(args, (x_path, y_path), X, y, prob)
    if "memmap" in sections:
        del X
        section_memmap(args, ref, data_bytes)


if __name__ == "__main__":
    main()
