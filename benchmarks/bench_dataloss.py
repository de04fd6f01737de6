"""Loss over data rows: symopt's row-sum kernels against the alternatives, side by side.

Logistic loss with 10 features and an intercept (labels 0/1, mean over rows):

    row loss  softplus(z) - y*z,   z = b + w0*x0 + ... + w9*x9

value and gradient over 1e5, 1e6 and 1e7 rows, in one run:

* symopt    the generated value_grad kernel (blocks of rows in prange, fixed-order combine;
            the row loop vectorised: symopt._runtime's exp/log1p, reassociable accumulation)
* numba     a hand-written Numba prange loop, fused (one exp per row), same blocks, as a
            user writes it: math.exp/math.log1p (libm, scalar) and strict IEEE sums
* lambdify  sympy.lambdify(value and gradient, "numpy") over whole columns, then sums
* jax       jax.jit(jax.value_and_grad(loss)) on the CPU, float64 (skipped without jax)
* floor     a plain parallel sum over the same data array (the memory-bandwidth floor)

Then time per row (ns) at each size, the speed-up from 1 to 2 threads, and peak memory
for 1e7 rows against the size of the data (ru_maxrss in a fresh subprocess).
Medians of repeated calls; ratios are symopt time / other time (< 1: symopt faster).

Run:  python benchmarks/bench_dataloss.py [--sizes 1e5,1e6,1e7] [--repeat 7]

OpenMP workers spin-wait by default; on a machine shared with other busy processes a
spinning worker holds a core that the thread it waits for needs, and every parallel
region stalls for a scheduler time slice (measured here: 17-60 ms for a call that takes
0.35 ms).  This script therefore sets OMP_WAIT_POLICY=passive unless it is set already
(NUMBA_THREADING_LAYER=workqueue avoids the stall too); the header says which.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # see the docstring; before numba

import numba
import numpy as np
import sympy
from numba import njit, prange

import symopt as so
from symopt.codegen import BLOCK_ROWS, MAX_BLOCKS

K = 10


def problem() -> so.DataLoss:
    b, y = so.symbols("b y")
    w, x = so.symbols(f"w0:{K}"), so.symbols(f"x0:{K}")
    z = b + so.dot(w, x)
    return so.DataLoss(so.softplus(z) - y * z, data=[*x, "y"], wrt=[b, *w], reduce="mean")


def make_data(rows: int, seed: int = 0) -> np.ndarray:
    """The kernel layout: (K + 1, rows), columns x0..x9 then y."""
    rng = np.random.default_rng(seed)
    data = np.empty((K + 1, rows))
    z = np.full(rows, 0.3)
    for j, w in enumerate(np.linspace(-1, 1, K)):  # column by column: small temporaries
        rng.standard_normal(out=data[j])
        z += w * data[j]
    data[K] = rng.random(rows) < 1 / (1 + np.exp(-z))
    return data


@njit(inline="always")
def _hand_block(theta, data, start, stop, out):
    k = data.shape[0] - 1
    f = 0.0
    acc = np.zeros(k + 1)
    for i in range(start, stop):
        z = theta[0]
        for j in range(k):
            z += theta[j + 1] * data[j, i]
        e = math.exp(-abs(z))              # one exp per row, shared by f and the gradient
        sig = 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)
        y = data[k, i]
        f += max(z, 0.0) + math.log1p(e) - y * z
        r = sig - y
        acc[0] += r
        for j in range(k):
            acc[j + 1] += r * data[j, i]
    out[0] = f
    out[1:] = acc


@njit(parallel=True, fastmath=False, error_model="numpy")
def hand_value_grad(theta, data, g, block_rows=BLOCK_ROWS):
    """Hand-written: the same fixed blocks in prange, one exp per row, fixed-order combine."""
    rows = data.shape[1]
    nb = max(1, min(rows // block_rows, MAX_BLOCKS))
    part = np.empty((nb, theta.shape[0] + 1))
    for b in prange(nb):
        _hand_block(theta, data, b * rows // nb, (b + 1) * rows // nb, part[b])
    total = np.zeros(theta.shape[0] + 1)
    for b in range(nb):
        total += part[b]
    g[:] = total[1:] / rows
    return total[0] / rows


@njit(parallel=True)
def floor_sum(data):
    """The memory-bandwidth floor: read every number of the data once."""
    s = 0.0
    flat = data.ravel()
    for i in prange(flat.shape[0]):
        s += flat[i]
    return s


def lambdify_value_grad(loss: so.DataLoss):
    symbols = list(loss.variables) + list(loss.data_symbols)
    fn = sympy.lambdify(symbols, [loss.expr] + list(loss.derivatives.gradient_entries), "numpy", cse=True)
    # softplus/sigmoid: symopt's functions evaluate with NumPy through their _imp_

    def value_grad(theta, data):
        out = fn(*theta, *data)
        rows = data.shape[1]
        return np.sum(out[0]) / rows, np.array([np.sum(o) for o in out[1:]]) / rows

    return value_grad


def jax_value_grad():
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    import jax.numpy as jnp

    def loss(theta, X, y):
        z = theta[0] + X @ theta[1:]
        return jnp.mean(jax.nn.softplus(z) - y * z)

    fn = jax.jit(jax.value_and_grad(loss))

    def prepare(data):
        return jnp.asarray(np.ascontiguousarray(data[:K].T)), jnp.asarray(data[K])

    def call(theta, prepared):
        f, g = fn(jnp.asarray(theta), *prepared)
        g.block_until_ready()
        return float(f), np.asarray(g)

    return prepare, call


def median_time(fn, repeat: int) -> float:
    fn()  # warm-up (compilation)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def interleaved(contenders: dict, repeat: int) -> tuple[dict, dict]:
    """Median and minimum time of each contender, measured round-robin (one call of each
    per round), so that every contender sees the same machine load."""
    for fn in contenders.values():
        fn()  # warm-up (compilation)
    times = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return ({name: statistics.median(t) for name, t in times.items()},
            {name: min(t) for name, t in times.items()})


def single_thread(fn):
    def call():
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            fn()
        finally:
            numba.set_num_threads(threads)
    return call


def peak_memory(rows: int) -> str:
    """Peak resident memory of a fresh process: before and after building the data, and
    after the value_grad and value_grad_hess kernels ran over it."""
    code = f"""
import numpy as np, sys
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from bench_dataloss import problem, make_data
import symopt as so
loss = problem(); k = so.compile(loss)
theta = np.zeros(loss.n); p = np.empty(0); g = np.empty(loss.n); H = np.empty((loss.n, loss.n))
small = make_data(10); k.value_grad_kernel(theta, p, small, g); k.value_grad_hess_kernel(theta, p, small, g, H)
def hwm():  # peak resident set of this process (VmHWM; ru_maxrss survives exec on Linux)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
base = hwm()
data = make_data({rows})
with_data = hwm()
k.value_grad_kernel(theta, p, data, g); k.value_grad_hess_kernel(theta, p, data, g, H)
after = hwm()
print(data.nbytes, base, with_data, after)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    nbytes, base, with_data, after = map(int, out.stdout.split())
    # make_data's temporaries raise the peak while building; the kernels' own growth is
    # what they add beyond that peak
    return (f"data {nbytes / 2**20:.0f} MiB; process peak {after / 2**20:.0f} MiB "
            f"(before the data {base / 2**20:.0f} MiB, after building it {with_data / 2**20:.0f} MiB); "
            f"value_grad + value_grad_hess added {(after - with_data) / 2**20:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e5,1e6,1e7")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]

    loss = problem()
    kernels = so.compile(loss)
    kernel = kernels.value_grad_kernel
    lam = lambdify_value_grad(loss)
    jx = jax_value_grad()
    theta = np.linspace(-0.5, 0.5, loss.n)
    p = np.empty(0)
    g = np.empty(loss.n)
    g2 = np.empty(loss.n)
    threads = numba.get_num_threads()
    print(f"logistic loss, {K} features + intercept; value and gradient; {threads} threads; "
          f"median of {args.repeat}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; "
          f"layer {numba.threading_layer() if hasattr(numba, 'threading_layer') else '?'}; "
          "machine shared with other jobs (figures are noisy)")
    header = (f"{'rows':>9} {'symopt':>9} {'ns/row':>7} | {'/numba':>7} {'/lambdify':>9} "
              f"{'/jax':>6} {'/floor':>7} | {'1->2 thr':>8}")
    print(header)
    print("-" * len(header))
    minima = []
    for rows in sizes:
        data = make_data(rows)
        repeat = args.repeat if rows < 5_000_000 else max(3, args.repeat // 2)
        f_ref = kernel(theta, p, data, g)
        f_hand = hand_value_grad(theta, data, g2)
        assert abs(f_ref - f_hand) <= 1e-12 * abs(f_ref) and np.allclose(g, g2, rtol=1e-9, atol=1e-15)
        f_lam, g_lam = lam(theta, data)
        assert abs(f_lam - f_ref) <= 1e-10 * abs(f_ref) and np.allclose(g_lam, g, rtol=1e-8, atol=1e-14)
        contenders = {
            "symopt": lambda: kernel(theta, p, data, g),
            "numba": lambda: hand_value_grad(theta, data, g2),
            "lambdify": lambda: lam(theta, data),
            "floor": lambda: floor_sum(data),
            "symopt 1 thread": single_thread(lambda: kernel(theta, p, data, g)),
        }
        prepared = None
        if jx is not None:
            prepare, call = jx
            prepared = prepare(data)
            f_jax, g_jax = call(theta, prepared)
            assert abs(f_jax - f_ref) <= 1e-10 * abs(f_ref) and np.allclose(g_jax, g, rtol=1e-8, atol=1e-14)
            contenders["jax"] = lambda: call(theta, prepared)
        med, low = interleaved(contenders, repeat)
        t = med["symopt"]
        jax_text = f"{t / med['jax']:6.2f}" if "jax" in med else "   n/a"
        print(f"{rows:>9.0e} {t * 1e3:>7.2f}ms {t / rows * 1e9:>7.2f} | "
              f"{t / med['numba']:>7.2f} {t / med['lambdify']:>9.3f} {jax_text} "
              f"{t / med['floor']:>7.2f} | {med['symopt 1 thread'] / t:>7.2f}x")
        minima.append((rows, low))
        del data
        prepared = None
    print()
    print("the same from the fastest call of each (min instead of median: less sensitive to the")
    print("other jobs on the machine, which stall a parallel region when they hold a core):")
    print(header)
    for rows, low in minima:
        t = low["symopt"]
        jax_text = f"{t / low['jax']:6.2f}" if "jax" in low else "   n/a"
        print(f"{rows:>9.0e} {t * 1e3:>7.2f}ms {t / rows * 1e9:>7.2f} | "
              f"{t / low['numba']:>7.2f} {t / low['lambdify']:>9.3f} {jax_text} "
              f"{t / low['floor']:>7.2f} | {low['symopt 1 thread'] / t:>7.2f}x")
    print()
    print("where parallel blocks pay off (hand-written loop; serial = one block, "
          "parallel = two blocks on two threads):")
    print(f"{'rows':>7} {'serial':>10} {'parallel':>10} {'ratio':>6}")
    for rows in (512, 1024, 2048, 4096, 8192, 32768):
        data = make_data(rows)
        med, _ = interleaved({"serial": lambda: hand_value_grad(theta, data, g2, 1 << 40),
                              "parallel": lambda: hand_value_grad(theta, data, g2, rows // 2)}, 51)
        t_serial, t_par = med["serial"], med["parallel"]
        print(f"{rows:>7} {t_serial * 1e6:>8.1f}us {t_par * 1e6:>8.1f}us {t_par / t_serial:>6.2f}")
    if not args.no_memory:
        print("peak memory, 1e7 rows:", peak_memory(max(sizes)))


if __name__ == "__main__":
    main()
