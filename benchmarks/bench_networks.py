"""Neural networks (symopt.nn) against hand-written NumPy backpropagation and JAX/optax,
side by side (issue 13's targets).

Sections:

1. one value-and-gradient step of a 784-128-10 tanh MLP, softmax cross-entropy with
   integer labels, batch 128: symopt's ``value_and_grad`` (the derived equations as one
   compiled step, symopt.nn._fused) and the same step as the training loop calls it (no
   checks, gradients preallocated) against hand-written NumPy backpropagation and JAX
   ``jit(value_and_grad)``;
2. one epoch of Adam over 60,000 x 784 synthetic rows at batch 128 (469 steps, shuffled):
   ``net.fit(method="adam", epochs=1)`` against the same loop hand-written in NumPy and
   JAX + optax (a jitted step, the batches drawn in Python as symopt does);
3. set-up: ``nn.mlp`` + the first value and gradient (derive, share, load the compiled
   step from Numba's cache) in a fresh process; then other layer sizes on the same
   network object (nothing compiled).

Rows are timed interleaved (each repeat times every row once, in a random order drawn
afresh for every repeat, seeded); medians are reported and
ratios are symopt / other (< 1: symopt faster).  Every row runs on the same number of
cores, ``--threads`` (default 1): the process pins itself to that many cores
(``os.sched_setaffinity``, before NumPy and JAX load) and sets the BLAS thread counts to
match.  Pinning is what binds JAX: XLA's CPU client sizes its thread pools from the
cores the process may run on, and ``XLA_FLAGS`` (``--xla_cpu_multi_thread_eigen=false``)
alone left JAX using a second core.  The ``cpu/wall`` column (process CPU time over wall
time of each row) shows how many cores a row kept busy.  A multi-threaded BLAS on a
loaded 2-core machine can be 50x slower than one thread, which would measure the
machine, not the code.

The step section also times the floor every row shares: the two large matrix products
alone (``X @ W1`` and ``Xᵀ @ δ1``, 128 x 784 x 128 each, ``numpy.dot`` into preallocated
arrays), and prints each row's time above that floor.  JAX rows are skipped when JAX (or
optax) is missing.

Run:  python benchmarks/bench_networks.py [--repeat 15] [--threads 1] [--cpus 0,1] [--sections 1,2,3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time


def _option(name: str, default: str) -> str:
    for k, a in enumerate(sys.argv):
        if a == name and k + 1 < len(sys.argv):
            return sys.argv[k + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return default


THREADS = _option("--threads", "1")
CPUS = [int(c) for c in _option("--cpus", ",".join(map(str, range(int(THREADS))))).split(",")]
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, CPUS)
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = THREADS
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=" + ("false" if THREADS == "1" else "true"))

import numpy as np  # noqa: E402

try:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover - optional
    jax = None
try:
    import optax
except ImportError:  # pragma: no cover - optional
    optax = None

from symopt import nn  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = [784, 128, 10]


#: per row of the last interleaved() call: the fastest repeat, the median CPU time of a
#: repeat (process time: what a loaded machine disturbs least, as long as a row runs on
#: the cores it was given) and CPU time over wall time
MINIMA: dict = {}
CPU: dict = {}
BUSY: dict = {}


def interleaved(rows: dict, repeat: int) -> dict:
    for fn in rows.values():
        fn()                                   # warm: JIT compilation, plans
    times = {name: [] for name in rows}
    cpu = {name: [] for name in rows}
    names = list(rows)
    order = random.Random(0)
    for r in range(repeat):
        # a fresh random order every repeat, so each row follows every other about
        # equally often: a row run right after another that read the same arrays finds
        # them in cache, and the row that runs right after JAX's is slowed by 0.1 ms
        # (a fixed rotation kept the same neighbours and charged that to one row)
        order.shuffle(names)
        for name in names:
            fn = rows[name]
            c = time.process_time()
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    MINIMA.update({name: min(v) for name, v in times.items()})
    CPU.update({name: statistics.median(v) for name, v in cpu.items()})
    BUSY.update({name: sum(cpu[name]) / sum(times[name]) for name in rows})
    return {name: statistics.median(v) for name, v in times.items()}


def numpy_value_and_grad(W1, b1, W2, b2, X, y):
    """Hand-written forward and backward pass (the NumPy reference)."""
    H = np.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    Z -= Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    S = E.sum(axis=1)
    B = X.shape[0]
    rows = np.arange(B)
    loss = np.mean(np.log(S) - Z[rows, y])
    D = E / S[:, None]
    D[rows, y] -= 1
    D /= B
    gW2 = H.T @ D
    gb2 = D.sum(axis=0)
    D1 = (D @ W2.T) * (1 - H * H)
    return loss, (X.T @ D1, D1.sum(axis=0), gW2, gb2)


def jax_loss(params, X, y):
    W1, b1, W2, b2 = params
    Z = jnp.tanh(X @ W1 + b1) @ W2 + b2
    return jnp.mean(jax.nn.logsumexp(Z, axis=1) - jnp.take_along_axis(Z, y[:, None], axis=1)[:, 0])


def section_step(repeat: int) -> list[tuple]:
    rng = np.random.default_rng(0)
    net = nn.mlp(SIZES)
    w = net.init(0)
    X, y = rng.standard_normal((128, 784)), rng.integers(0, 10, 128)
    args = (w["W1"], w["b1"], w["W2"], w["b2"])
    out1, out2 = np.empty((128, SIZES[1])), np.empty((SIZES[0], SIZES[1]))
    out3 = np.empty((SIZES[1], SIZES[0]))
    delta1 = rng.standard_normal((128, SIZES[1]))

    def floor():
        np.dot(X, w["W1"], out=out1)
        np.dot(X.T, delta1, out=out2)

    def floor_t():
        np.dot(X, w["W1"], out=out1)
        np.dot(delta1.T, X, out=out3)

    ws = net._check_weights(w)
    gs = [np.empty(a.shape[::-1]).T for a in ws[:2]] + [np.empty(a.shape) for a in ws[2:]]
    rows = {
        "symopt": lambda: net.value_and_grad(w, X, y),
        "into": lambda: net._value_and_grad_into(ws, X, y, gs),
        "numpy": lambda: numpy_value_and_grad(*args, X, y),
        "floor": floor,
        "floor_t": floor_t,
    }
    if jax is not None:
        vg = jax.jit(jax.value_and_grad(jax_loss))
        jparams = tuple(jnp.asarray(a) for a in args)
        jX, jy = jnp.asarray(X), jnp.asarray(y)
        rows["jax"] = lambda: jax.block_until_ready(vg(jparams, jX, jy))
    t = interleaved(rows, repeat)
    labels = {"into": "  symopt, the training path's step (no checks, gradients preallocated)",
              "numpy": "  hand-written NumPy backprop", "jax": "  JAX jit(value_and_grad)",
              "floor": "  floor: X @ W1 and Xᵀ @ δ1 alone (numpy.dot, out=)",
              "floor_t": "  the same, second product as δ1ᵀ @ X (symopt's orientation)"}
    return _rows("step 784-128-10, batch 128: symopt", t, labels, floor=t["floor"])


def _rows(title: str, t: dict, labels: dict, floor: float | None = None) -> list[tuple]:
    """Table rows: name, (median, minimum, median CPU time), symopt/this by each of the
    three, cpu/wall, and with a floor, the CPU time above it and symopt's excess over
    this row's."""
    lo, cpu = MINIMA, CPU
    out = []
    for key in ["symopt"] + [k for k in labels if k in t]:
        name = title if key == "symopt" else labels[key]
        ratio = None if key == "symopt" else (t["symopt"] / t[key], lo["symopt"] / lo[key],
                                              cpu["symopt"] / cpu[key])
        above = None
        if floor is not None and not key.startswith("floor"):
            excess = cpu[key] - cpu["floor"]
            above = (excess, None if key == "symopt" or excess <= 0 else
                     (cpu["symopt"] - cpu["floor"]) / excess)
        out.append((name, (t[key], lo[key], cpu[key]), ratio, BUSY[key], above))
    return out


def numpy_adam_epoch(w, X, y, seed, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, batch=128):
    rng = np.random.default_rng(seed)
    order = rng.permutation(X.shape[0])
    m = [np.zeros_like(a) for a in w]
    v = [np.zeros_like(a) for a in w]
    w = list(w)
    for t, start in enumerate(range(0, X.shape[0], batch), 1):
        idx = order[start:start + batch]
        _, g = numpy_value_and_grad(*w, X[idx], y[idx])
        for k in range(4):
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] * g[k]
            w[k] = w[k] - (lr / (1 - b1 ** t)) * m[k] / (np.sqrt(v[k] / (1 - b2 ** t)) + eps)
    return w


def section_adam(repeat: int) -> list[tuple]:
    rng = np.random.default_rng(1)
    n = 60_000
    X = rng.standard_normal((n, 784))
    y = rng.integers(0, 10, n)
    net = nn.mlp(SIZES)
    w0 = net.init(0)
    args = [w0["W1"], w0["b1"], w0["W2"], w0["b2"]]
    rows = {
        "symopt": lambda: net.fit(X, y, method="adam", epochs=1, batch_size=128, weights=w0, seed=0),
        "numpy": lambda: numpy_adam_epoch(args, X, y, 0),
    }
    if jax is not None and optax is not None:
        opt = optax.adam(1e-3)
        vg = jax.value_and_grad(jax_loss)

        @jax.jit
        def step(params, state, xb, yb):
            f, g = vg(params, xb, yb)
            updates, state = opt.update(g, state, params)
            return optax.apply_updates(params, updates), state, f

        def jax_epoch():
            params = tuple(jnp.asarray(a) for a in args)
            state = opt.init(params)
            order = np.random.default_rng(0).permutation(n)
            for start in range(0, n, 128):
                idx = order[start:start + 128]
                params, state, _ = step(params, state, X[idx], y[idx])
            return jax.block_until_ready(params)

        step(tuple(jnp.asarray(a) for a in args), opt.init(tuple(jnp.asarray(a) for a in args)),
             X[:128], y[:128])
        step(tuple(jnp.asarray(a) for a in args), opt.init(tuple(jnp.asarray(a) for a in args)),
             X[:n % 128], y[:n % 128])             # the short last batch compiles too
        rows["jax"] = jax_epoch
    t = interleaved(rows, repeat)
    labels = {"numpy": "  hand-written NumPy loop", "jax": "  JAX jit step + optax.adam"}
    return _rows("Adam epoch 60,000 x 784, batch 128: symopt", t, labels)


SETUP = """
import time, os
t0 = time.perf_counter()
import numpy as np
from symopt import nn
t1 = time.perf_counter()
net = nn.mlp({sizes})
rng = np.random.default_rng(0)
X, y = rng.standard_normal((128, {sizes}[0])), rng.integers(0, {sizes}[-1], 128)
net.value_and_grad(net.init(0), X, y)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def section_setup(repeat: int) -> list[tuple]:
    out = []
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for sizes in (SIZES, [784, 512, 256, 10]):
        runs = []
        for _ in range(3):
            text = subprocess.run([sys.executable, "-c", SETUP.format(sizes=sizes)], env=env,
                                  capture_output=True, text=True, check=True).stdout.split()
            runs.append((float(text[0]), float(text[1])))
        imp = statistics.median(r[0] for r in runs)
        setup = statistics.median(r[1] for r in runs)
        out.append((f"set-up {'-'.join(map(str, sizes))} (derive + first step; import {imp:.2f} s)",
                    (setup, min(r[1] for r in runs), None), None, None, None))
    net = nn.mlp(SIZES)
    rng = np.random.default_rng(0)
    w = net.init(0)
    net.value_and_grad(w, rng.standard_normal((128, 784)), rng.integers(0, 10, 128))
    net.sizes.update(d=100, h1=50, K=5)
    t = time.perf_counter()
    net.value_and_grad(net.init(0), rng.standard_normal((64, 100)), rng.integers(0, 5, 64))
    elapsed = time.perf_counter() - t
    out.append(("  same network object, sizes 100-50-5 (no compilation)", (elapsed, elapsed, None), None,
                None, None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", default="1")
    parser.add_argument("--cpus", default=None, help="cores to pin to (default: the first --threads)")
    parser.add_argument("--sections", default="1,2,3")
    opts = parser.parse_args()
    sections = {int(s) for s in opts.sections.split(",")}
    print(f"load average {os.getloadavg()[0]:.2f}; threads {THREADS} on cpus {CPUS}; "
          f"JAX {'%s' % jax.__version__ if jax else 'absent'}; optax {'present' if optax else 'absent'}")
    rows = []
    if 1 in sections:
        rows += section_step(opts.repeat)
    if 2 in sections:
        rows += section_adam(max(3, opts.repeat // 5))
    if 3 in sections:
        rows += section_setup(opts.repeat)
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  {'median':>13}  {'min':>13}  {'CPU median':>13}  cpu/wall"
          "  symopt/this (median, min, CPU)   CPU above the floor (symopt's excess / this row's)")
    for name, figures, ratio, busy, above in rows:
        shown = "  ".join(("%10.3f ms" % (v * 1e3) if v < 1 else "%10.3f s " % v) if v is not None
                          else " " * 13 for v in figures)
        line = f"{name.ljust(width)}  {shown}  " + (f"{busy:8.2f}" if busy is not None else " " * 8)
        line += "  " + ", ".join(f"{r:5.2f}x" for r in ratio) if ratio else " " * 24
        if above is not None:
            line += f"   {above[0] * 1e3:8.3f} ms" + (f" ({above[1]:.2f}x)" if above[1] is not None else "")
        print(line)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
