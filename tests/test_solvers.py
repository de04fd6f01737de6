"""The compiled solvers (symopt.solvers) on hand-written kernels.

The kernels here are written by hand with hand-derived derivatives (checked against
finite differences below), so these tests depend on nothing but the kernel ABI: no
SymPy, no code generation.  Literature minima are from Moré, Garbow & Hillstrom,
"Testing Unconstrained Optimization Software", ACM TOMS 7 (1981) ("MGH").

Every kernel is compiled once per session, at import (a few seconds; not cached on
disk: Numba's cache of a test module breaks when pytest imports it under another module
name).  The solvers are called from Python with the dispatchers (the slow-but-simple
way); one test checks the fast way, a small ``@njit`` wrapper that binds the kernels at
compile time.
"""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from numba import njit

from symopt import abi
from symopt.errors import InputError
from symopt.solvers import DEFAULTS, METHODS, get_solver, status

NO_PARAMS = np.zeros(0)
NO_DATA = np.zeros((0, 0))


# --- hand-written kernels ----------------------------------------------------------------
#
# Each problem is one body ``_name(x, g, H, order) -> f`` that also writes the gradient
# (order >= 1) and the full Hessian (order 2); three one-line kernels with the ABI
# signatures call it.  With order 0 the g and H arguments are placeholders, never written.
# Like symopt's generated kernels they use IEEE arithmetic (error_model="numpy").


@njit(error_model="numpy")
def _rosenbrock(x, g, H, order):
    a = x[1] - x[0] * x[0]
    b = 1.0 - x[0]
    if order >= 1:
        g[0] = -400.0 * x[0] * a - 2.0 * b
        g[1] = 200.0 * a
    if order >= 2:
        H[0, 0] = 1200.0 * x[0] * x[0] - 400.0 * x[1] + 2.0
        H[0, 1] = H[1, 0] = -400.0 * x[0]
        H[1, 1] = 200.0
    return 100.0 * a * a + b * b


@njit(error_model="numpy")
def _freudenstein_roth(x, g, H, order):
    x1, x2 = x[0], x[1]
    r1 = -13.0 + x1 + ((5.0 - x2) * x2 - 2.0) * x2
    r2 = -29.0 + x1 + ((x2 + 1.0) * x2 - 14.0) * x2
    dr1 = -3.0 * x2 * x2 + 10.0 * x2 - 2.0  # d r1 / d x2 (d r / d x1 = 1 for both)
    dr2 = 3.0 * x2 * x2 + 2.0 * x2 - 14.0
    if order >= 1:
        g[0] = 2.0 * (r1 + r2)
        g[1] = 2.0 * (r1 * dr1 + r2 * dr2)
    if order >= 2:
        H[0, 0] = 4.0
        H[0, 1] = H[1, 0] = 2.0 * (dr1 + dr2)
        H[1, 1] = 2.0 * (dr1 * dr1 + r1 * (10.0 - 6.0 * x2) + dr2 * dr2 + r2 * (6.0 * x2 + 2.0))
    return r1 * r1 + r2 * r2


BEALE_Y = np.array([1.5, 2.25, 2.625])


@njit(error_model="numpy")
def _beale(x, g, H, order):
    x1, x2 = x[0], x[1]
    f = 0.0
    if order >= 1:
        g[0] = g[1] = 0.0
    if order >= 2:
        H[0, 0] = H[0, 1] = H[1, 1] = 0.0
    for k in range(3):
        i = k + 1  # r_i = y_i - x1 (1 - x2^i)
        r = BEALE_Y[k] - x1 * (1.0 - x2**i)
        r_1 = x2**i - 1.0
        r_2 = x1 * i * x2 ** (i - 1)
        f += r * r
        if order >= 1:
            g[0] += 2.0 * r * r_1
            g[1] += 2.0 * r * r_2
        if order >= 2:
            r_12 = i * x2 ** (i - 1)
            r_22 = x1 * i * (i - 1) * x2 ** (i - 2) if i >= 2 else 0.0
            H[0, 0] += 2.0 * r_1 * r_1
            H[0, 1] += 2.0 * (r_1 * r_2 + r * r_12)
            H[1, 1] += 2.0 * (r_2 * r_2 + r * r_22)
    if order >= 2:
        H[1, 0] = H[0, 1]
    return f


@njit(error_model="numpy")
def _powell_singular(x, g, H, order):
    a = x[0] + 10.0 * x[1]
    b = x[2] - x[3]
    c = x[1] - 2.0 * x[2]
    d = x[0] - x[3]
    if order >= 1:
        g[0] = 2.0 * a + 40.0 * d**3
        g[1] = 20.0 * a + 4.0 * c**3
        g[2] = 10.0 * b - 8.0 * c**3
        g[3] = -10.0 * b - 40.0 * d**3
    if order >= 2:
        H[:, :] = 0.0
        H[0, 0] = 2.0 + 120.0 * d * d
        H[0, 1] = 20.0
        H[0, 3] = -120.0 * d * d
        H[1, 1] = 200.0 + 12.0 * c * c
        H[1, 2] = -24.0 * c * c
        H[2, 2] = 10.0 + 48.0 * c * c
        H[2, 3] = -10.0
        H[3, 3] = 10.0 + 120.0 * d * d
        for i in range(4):
            for j in range(i):
                H[i, j] = H[j, i]
    return a * a + 5.0 * b * b + c**4 + 10.0 * d**4


@njit(error_model="numpy")
def _wood(x, g, H, order):
    x1, x2, x3, x4 = x[0], x[1], x[2], x[3]
    f = (100.0 * (x2 - x1 * x1) ** 2 + (1.0 - x1) ** 2 + 90.0 * (x4 - x3 * x3) ** 2
         + (1.0 - x3) ** 2 + 10.1 * ((x2 - 1.0) ** 2 + (x4 - 1.0) ** 2)
         + 19.8 * (x2 - 1.0) * (x4 - 1.0))
    if order >= 1:
        g[0] = -400.0 * x1 * (x2 - x1 * x1) - 2.0 * (1.0 - x1)
        g[1] = 200.0 * (x2 - x1 * x1) + 20.2 * (x2 - 1.0) + 19.8 * (x4 - 1.0)
        g[2] = -360.0 * x3 * (x4 - x3 * x3) - 2.0 * (1.0 - x3)
        g[3] = 180.0 * (x4 - x3 * x3) + 20.2 * (x4 - 1.0) + 19.8 * (x2 - 1.0)
    if order >= 2:
        H[:, :] = 0.0
        H[0, 0] = 1200.0 * x1 * x1 - 400.0 * x2 + 2.0
        H[0, 1] = H[1, 0] = -400.0 * x1
        H[1, 1] = 220.2
        H[1, 3] = H[3, 1] = 19.8
        H[2, 2] = 1080.0 * x3 * x3 - 360.0 * x4 + 2.0
        H[2, 3] = H[3, 2] = -360.0 * x3
        H[3, 3] = 200.2
    return f


QUAD_A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, -0.5], [0.5, -0.5, 2.0]])
QUAD_B = np.array([1.0, -2.0, 0.5])


@njit(error_model="numpy")
def _quadratic(x, g, H, order):
    """0.5 x'Ax - b'x with A symmetric positive definite: minimiser A^{-1} b."""
    n = x.shape[0]
    f = 0.0
    for i in range(n):
        Ax_i = 0.0
        for j in range(n):
            Ax_i += QUAD_A[i, j] * x[j]
            if order >= 2:
                H[i, j] = QUAD_A[i, j]
        if order >= 1:
            g[i] = Ax_i - QUAD_B[i]
        f += 0.5 * x[i] * Ax_i - QUAD_B[i] * x[i]
    return f


@njit(error_model="numpy")
def _saddle(x, g, H, order):
    """x^2 + y^2 - 3xy + (x^4 + y^4)/4: a saddle at 0, where the Hessian [[2,-3],[-3,2]]
    is indefinite with a positive diagonal; minima -1/2 at (1, 1) and (-1, -1)."""
    u, v = x[0], x[1]
    if order >= 1:
        g[0] = 2.0 * u - 3.0 * v + u**3
        g[1] = 2.0 * v - 3.0 * u + v**3
    if order >= 2:
        H[0, 0] = 2.0 + 3.0 * u * u
        H[0, 1] = H[1, 0] = -3.0
        H[1, 1] = 2.0 + 3.0 * v * v
    return u * u + v * v - 3.0 * u * v + 0.25 * (u**4 + v**4)


@njit(error_model="numpy")
def _double_well(x, g, H, order):
    """(u^2 - 1)^2 + v^2: at |u| < 1/sqrt(3) the Hessian has a negative diagonal entry."""
    u, v = x[0], x[1]
    if order >= 1:
        g[0] = 4.0 * u * (u * u - 1.0)
        g[1] = 2.0 * v
    if order >= 2:
        H[0, 0] = 12.0 * u * u - 4.0
        H[0, 1] = H[1, 0] = 0.0
        H[1, 1] = 2.0
    return (u * u - 1.0) ** 2 + v * v


@njit(error_model="numpy")
def _barrier(x, g, H, order):
    """-log(u) - log(1 - u) + (v - 1)^2, defined only for 0 < u < 1 (NaN outside):
    minimum 2 log 2 at (1/2, 1)."""
    u, v = x[0], x[1]
    if order >= 1:
        g[0] = -1.0 / u + 1.0 / (1.0 - u)
        g[1] = 2.0 * (v - 1.0)
    if order >= 2:
        H[0, 0] = 1.0 / (u * u) + 1.0 / ((1.0 - u) * (1.0 - u))
        H[0, 1] = H[1, 0] = 0.0
        H[1, 1] = 2.0
    if u <= 0.0 or u >= 1.0:
        return np.nan
    return -math.log(u) - math.log(1.0 - u) + (v - 1.0) ** 2


@njit(error_model="numpy")
def _log_barrier(x, g, H, order):
    """u - log(u) + v^2, NaN for u < 0 and Inf at 0: minimum 1 at (1, 0).  From u = 3
    the Newton step u - u^2 lands at u = -3."""
    u, v = x[0], x[1]
    if order >= 1:
        g[0] = 1.0 - 1.0 / u
        g[1] = 2.0 * v
    if order >= 2:
        H[0, 0] = 1.0 / (u * u)
        H[0, 1] = H[1, 0] = 0.0
        H[1, 1] = 2.0
    if u < 0.0:
        return np.nan
    if u == 0.0:
        return np.inf
    return u - math.log(u) + v * v


@njit(error_model="numpy")
def _linear(x, g, H, order):
    """-u + v^2: unbounded below."""
    if order >= 1:
        g[0] = -1.0
        g[1] = 2.0 * x[1]
    if order >= 2:
        H[0, 0] = H[0, 1] = H[1, 0] = 0.0
        H[1, 1] = 2.0
    return -x[0] + x[1] * x[1]


@njit(error_model="numpy")
def _cubic(x, g, H, order):
    """u^3 + v^2: unbounded below as u -> -inf, where f overflows."""
    if order >= 1:
        g[0] = 3.0 * x[0] * x[0]
        g[1] = 2.0 * x[1]
    if order >= 2:
        H[0, 0] = 6.0 * x[0]
        H[0, 1] = H[1, 0] = 0.0
        H[1, 1] = 2.0
    return x[0] ** 3 + x[1] * x[1]


@njit(error_model="numpy")
def _raising(x, g, H, order):
    """Rosenbrock's function, raising where u > 1/2 (as a hand-written kernel might)."""
    if x[0] > 0.5:
        raise ValueError("u must be at most 1/2")
    return _rosenbrock(x, g, H, order)


@njit(error_model="numpy")
def _bad_hessian(x, g, H, order):
    """(u - 1)^2 + v^2 with a Hessian that is NaN where u < 0."""
    u, v = x[0], x[1]
    if order >= 1:
        g[0] = 2.0 * (u - 1.0)
        g[1] = 2.0 * v
    if order >= 2:
        H[0, 0] = 2.0 if u >= 0.0 else np.nan
        H[0, 1] = H[1, 0] = 0.0
        H[1, 1] = 2.0
    return (u - 1.0) ** 2 + v * v


@njit(error_model="numpy")
def _sqrt(x, g, H, order):
    """sqrt(u) + v^2: finite at u = 0 but with an infinite gradient there."""
    if order >= 1:
        g[0] = 0.5 / math.sqrt(x[0])
        g[1] = 2.0 * x[1]
    if order >= 2:
        H[0, 0] = -0.25 / x[0] ** 1.5
        H[0, 1] = H[1, 0] = 0.0
        H[1, 1] = 2.0
    return math.sqrt(x[0]) + x[1] * x[1]


@dataclass(frozen=True)
class Kernels:
    value: object
    value_grad: object
    value_grad_hess: object


def _kernels(body) -> Kernels:
    """The three ABI kernels of a problem body (``body`` is a compile-time constant)."""

    @njit(abi.value_sig, error_model="numpy")
    def value(x, p, data):
        return body(x, x, data, 0)

    @njit(abi.value_grad_sig, error_model="numpy")
    def value_grad(x, p, data, g):
        return body(x, g, data, 1)

    @njit(abi.value_grad_hess_sig, error_model="numpy")
    def value_grad_hess(x, p, data, g, H):
        return body(x, g, H, 2)

    return Kernels(value, value_grad, value_grad_hess)


ALL_BODIES = (_rosenbrock, _freudenstein_roth, _beale, _powell_singular, _wood, _quadratic,
              _saddle, _double_well, _barrier, _log_barrier, _raising, _bad_hessian, _linear,
              _cubic, _sqrt)


PROBLEMS = {body.__name__.lstrip("_"): _kernels(body) for body in ALL_BODIES}


# --- running a solver ----------------------------------------------------------------------

#: the methods without a line search (their f may rise)
FIXED_STEP = ("momentum", "nesterov", "adam")

OPTION_INDEX = {
    "gtol": abi.OPT_GTOL, "ftol": abi.OPT_FTOL, "xtol": abi.OPT_XTOL,
    "max_iter": abi.OPT_MAX_ITER, "step": abi.OPT_STEP, "c1": abi.OPT_C1,
    "c2": abi.OPT_C2, "max_ls": abi.OPT_MAX_LS,
}


def options(method: str, **overrides: float) -> np.ndarray:
    """The opts array of ``method``: its defaults, with ``overrides``."""
    values = {**DEFAULTS[method], **overrides}
    opts = np.zeros(abi.N_OPTS)
    for key, index in OPTION_INDEX.items():
        opts[index] = values[key]
    return opts


@dataclass
class Run:
    f: float
    x: np.ndarray
    g: np.ndarray
    H: np.ndarray
    info: np.ndarray
    hist: np.ndarray

    status = property(lambda self: int(self.info[abi.INFO_STATUS]))
    nit = property(lambda self: int(self.info[abi.INFO_NIT]))
    nfev = property(lambda self: int(self.info[abi.INFO_NFEV]))
    njev = property(lambda self: int(self.info[abi.INFO_NJEV]))
    nhev = property(lambda self: int(self.info[abi.INFO_NHEV]))
    nhist = property(lambda self: int(self.info[abi.INFO_NHIST]))
    success = property(lambda self: status.is_success(self.status))

    def describe(self) -> str:
        return (f"{status.name(self.status)} nit={self.nit} nfev={self.nfev} f={self.f!r} "
                f"x={self.x.tolist()} |g|={np.abs(self.g).max():.3g}")


def run(method: str, problem: str, x0, history: bool = True, **overrides: float) -> Run:
    """Solve ``problem`` from ``x0``, calling the compiled solver with the dispatchers."""
    kernels = PROBLEMS[problem]
    opts = options(method, **overrides)
    x = np.array(x0, dtype=np.float64)
    n = x.shape[0]
    hist = np.full((int(opts[abi.OPT_MAX_ITER]) + 1, 2 + n), np.nan) if history else NO_DATA
    info = np.full(abi.N_INFO, -99, dtype=np.int64)
    g = np.full(n, np.nan)
    H = np.full((n, n), 7.0)  # sentinel: gradient descent must leave it alone
    f = get_solver(method)(kernels.value, kernels.value_grad, kernels.value_grad_hess,
                           x, NO_PARAMS, NO_DATA, opts, info, hist, g, H)
    return Run(f, x, g, H, info, hist)


# --- the kernels themselves -----------------------------------------------------------------

SMOOTH = ["rosenbrock", "freudenstein_roth", "beale", "powell_singular", "wood", "quadratic",
          "saddle", "double_well", "barrier", "log_barrier", "cubic"]


@pytest.mark.parametrize("problem", SMOOTH)
def test_hand_written_derivatives_match_central_differences(problem):
    kernels = PROBLEMS[problem]
    n = 3 if problem == "quadratic" else 4 if problem in ("powell_singular", "wood") else 2
    rng = np.random.default_rng(1)
    x = rng.uniform(0.2, 0.8, n)  # inside every domain
    g, H = np.empty(n), np.empty((n, n))
    f = kernels.value_grad_hess(x, NO_PARAMS, NO_DATA, g, H)
    assert f == pytest.approx(kernels.value(x, NO_PARAMS, NO_DATA), rel=1e-14)
    h = 1e-6
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        fp, fm = (kernels.value(x + s * e, NO_PARAMS, NO_DATA) for s in (1, -1))
        gp, gm = np.empty(n), np.empty(n)
        kernels.value_grad(x + e, NO_PARAMS, NO_DATA, gp)
        kernels.value_grad(x - e, NO_PARAMS, NO_DATA, gm)
        assert g[i] == pytest.approx((fp - fm) / (2 * h), rel=1e-6, abs=1e-6)
        np.testing.assert_allclose(H[:, i], (gp - gm) / (2 * h), rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(H, H.T)


# --- literature minima ------------------------------------------------------------------------

FR_X2 = (2.0 - math.sqrt(22.0)) / 3.0  # FR's local minimum: dr1/dx2 = dr2/dx2 and r1 = -r2
FR_LOCAL = (21.0 - 3.0 * FR_X2**2 + 8.0 * FR_X2, FR_X2)
QUAD_XMIN = tuple(np.linalg.solve(QUAD_A, QUAD_B))

#: problem -> (MGH start, minimum value, minimiser, tolerance on x)
MINIMA = {
    "rosenbrock": ((-1.2, 1.0), 0.0, (1.0, 1.0), 1e-7),
    "freudenstein_roth": ((0.5, -2.0), 48.98425367924003, FR_LOCAL, 1e-6),
    "beale": ((1.0, 1.0), 0.0, (3.0, 0.5), 1e-7),
    # a singular minimiser: f ~ |x|^4, so x is only known to about f^(1/4)
    "powell_singular": ((3.0, -1.0, 0.0, 1.0), 0.0, (0.0, 0.0, 0.0, 0.0), 1e-3),
    "wood": ((-3.0, -1.0, -3.0, -1.0), 0.0, (1.0, 1.0, 1.0, 1.0), 1e-7),
    "quadratic": ((0.0, 0.0, 0.0), -0.5 * float(np.dot(QUAD_B, QUAD_XMIN)), QUAD_XMIN, 1e-7),
}


@pytest.mark.parametrize("method", ["newton", "bfgs"])
@pytest.mark.parametrize("problem", list(MINIMA))
def test_newton_and_bfgs_reach_the_literature_minimum_with_default_options(method, problem):
    x0, fmin, xmin, xtol = MINIMA[problem]
    r = run(method, problem, x0)
    assert r.success, r.describe()
    assert r.f == pytest.approx(fmin, abs=1e-12 * max(1.0, abs(fmin))), r.describe()
    np.testing.assert_allclose(r.x, xmin, atol=xtol * max(1.0, np.abs(xmin).max()), err_msg=r.describe())
    assert r.nit < DEFAULTS[method]["max_iter"] // 2


def test_newton_converges_quadratically_at_the_end():
    r = run("newton", "rosenbrock", (-1.2, 1.0))
    gnorms = r.hist[: r.nhist, 1]
    assert r.status == status.SUCCESS_GTOL and gnorms[-1] < 1e-12
    # ||g_{k+1}|| <= C ||g_k||^2 over the last steps (linear convergence would fail this)
    assert gnorms[-1] <= 1e3 * gnorms[-2] ** 2 and gnorms[-2] <= 1e3 * gnorms[-3] ** 2


def test_newton_solves_a_quadratic_in_one_step_with_its_exact_hessian_out():
    r = run("newton", "quadratic", (5.0, -3.0, 1.0))
    assert r.status == status.SUCCESS_GTOL and r.nit == 1
    np.testing.assert_allclose(r.x, QUAD_XMIN, rtol=1e-14)
    np.testing.assert_array_equal(r.H, QUAD_A)  # the unmodified Hessian at the final point


def test_bfgs_returns_its_inverse_hessian_approximation():
    r = run("bfgs", "quadratic", (5.0, -3.0, 1.0))
    assert r.success
    np.testing.assert_allclose(r.H, r.H.T, atol=1e-14)
    assert np.linalg.eigvalsh(r.H).min() > 0
    np.testing.assert_allclose(r.H, np.linalg.inv(QUAD_A), atol=0.05)


def test_gradient_descent_reaches_the_quadratic_minimum():
    r = run("gd", "quadratic", (5.0, -3.0, 1.0))
    assert r.success, r.describe()
    np.testing.assert_allclose(r.x, QUAD_XMIN, atol=1e-7)
    assert np.all(r.H == 7.0)  # gradient descent leaves H_out alone
    assert r.nhev == 0


def test_gradient_descent_makes_progress_on_rosenbrock():
    r = run("gd", "rosenbrock", (-1.2, 1.0))
    assert r.f < 1e-6, r.describe()
    assert r.status in (status.MAX_ITER, status.SUCCESS_GTOL, status.SUCCESS_FTOL)


def test_gradient_descent_with_a_fixed_step_takes_exactly_that_step():
    # on f = 0.5 x'Ax - b'x from the minimiser's translate, x_{k+1} - x* = (I - step A)(x_k - x*)
    r = run("gd", "quadratic", np.add(QUAD_XMIN, 1.0), step=0.1, max_iter=5)
    assert r.status == status.MAX_ITER and r.nit == 5
    error = np.ones(3)
    for k in range(6):
        np.testing.assert_allclose(r.hist[k, 2:] - QUAD_XMIN, error, atol=1e-12)
        error = error - 0.1 * QUAD_A @ error
    assert r.nfev == r.njev == 6  # no line search: one gradient per step


# --- Hessian modification ---------------------------------------------------------------------


@pytest.mark.parametrize("problem, x0, xmin, fmin", [
    ("saddle", (0.3, 0.1), (1.0, 1.0), -0.5),  # indefinite with a positive diagonal
    ("double_well", (0.1, 1.0), (1.0, 0.0), 0.0),  # negative diagonal entry
])
@pytest.mark.parametrize("method", ["newton", "bfgs"])
def test_indefinite_hessian_at_the_start_still_leads_downhill_to_a_minimum(method, problem, x0, xmin, fmin):
    kernels = PROBLEMS[problem]
    H0 = np.empty((2, 2))
    kernels.value_grad_hess(np.array(x0), NO_PARAMS, NO_DATA, np.empty(2), H0)
    assert np.linalg.eigvalsh(H0).min() < 0  # the premise
    r = run(method, problem, x0)
    assert r.success, r.describe()
    np.testing.assert_allclose(r.x, xmin, atol=1e-8)
    assert r.f == pytest.approx(fmin, abs=1e-14)
    assert np.all(np.diff(r.hist[: r.nhist, 0]) <= 1e-12)  # never uphill
    if method == "newton":
        assert np.linalg.eigvalsh(r.H).min() > 0  # the true Hessian at the minimum


# --- termination, counts and history -------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_counts_are_consistent(method):
    r = run(method, "rosenbrock", (-1.2, 1.0))
    assert r.nit >= 1
    assert r.nfev >= r.nit + 1 and r.njev >= r.nit + 1
    assert r.njev <= r.nfev
    if method in ("newton", "trust-ncg", "trust-exact"):
        assert r.nhev == r.nit + 1  # one Hessian per accepted point (no NaN here)
    else:
        assert r.nhev == 0
    if method == "bfgs":
        assert r.njev == r.nfev  # every trial is a value-and-gradient call
    if method == "gd":
        assert r.njev == r.nit + 1  # trials use the value-only kernel


@pytest.mark.parametrize("method", METHODS)
def test_history_records_start_and_every_iteration(method):
    x0 = (-1.2, 1.0)
    r = run(method, "rosenbrock", x0, max_iter=30)
    rows = r.hist[: r.nhist]
    assert r.nhist == r.nit + 1
    assert np.all(np.isnan(r.hist[r.nhist:]))  # nothing written past them
    np.testing.assert_array_equal(rows[0, 2:], x0)
    assert rows[0, 0] == PROBLEMS["rosenbrock"].value(np.array(x0), NO_PARAMS, NO_DATA)
    np.testing.assert_array_equal(rows[-1, 2:], r.x)
    assert rows[-1, 0] == r.f and rows[-1, 1] == np.abs(r.g).max()
    if method not in ("momentum", "nesterov", "adam"):  # fixed steps may go uphill
        assert np.all(np.diff(rows[:, 0]) <= 0.0)  # descent methods: f never increases here


def test_history_without_room_for_x_records_f_and_gradient_norm_only():
    kernels = PROBLEMS["rosenbrock"]
    hist = np.full((4, 2), np.nan)
    info = np.zeros(abi.N_INFO, np.int64)
    x = np.array([-1.2, 1.0])
    get_solver("newton")(kernels.value, kernels.value_grad, kernels.value_grad_hess, x, NO_PARAMS,
                         NO_DATA, options("newton", max_iter=3), info, hist, np.empty(2), np.empty((2, 2)))
    assert info[abi.INFO_NHIST] == 4 and not np.isnan(hist).any()


def test_no_history_array_means_no_history():
    r = run("bfgs", "rosenbrock", (-1.2, 1.0), history=False)
    assert r.success and r.nhist == 0


@pytest.mark.parametrize("method", METHODS)
def test_max_iter_reached_is_reported(method):
    r = run(method, "rosenbrock", (-1.2, 1.0), max_iter=3)
    assert r.status == status.MAX_ITER and not r.success
    assert r.nit == 3 and r.nhist == 4
    if method not in FIXED_STEP:  # a learning rate of 1e-2 overshoots Rosenbrock's valley
        assert r.f < PROBLEMS["rosenbrock"].value(np.array([-1.2, 1.0]), NO_PARAMS, NO_DATA)


@pytest.mark.parametrize("method", METHODS)
def test_max_iter_zero_only_evaluates_the_start(method):
    r = run(method, "rosenbrock", (-1.2, 1.0), max_iter=0)
    assert r.status == status.MAX_ITER and r.nit == 0 and r.nfev == 1
    np.testing.assert_array_equal(r.x, (-1.2, 1.0))
    assert r.g.tolist() == pytest.approx([-215.6, -88.0])


@pytest.mark.parametrize("method", METHODS)
def test_a_start_at_the_minimum_is_success_without_iterating(method):
    r = run(method, "rosenbrock", (1.0, 1.0))
    assert r.status == status.SUCCESS_GTOL and r.nit == 0 and r.f == 0.0


def test_loose_ftol_and_xtol_stop_early_with_their_own_status():
    assert run("gd", "rosenbrock", (-1.2, 1.0), ftol=1e-3).status == status.SUCCESS_FTOL
    assert run("gd", "rosenbrock", (-1.2, 1.0), ftol=0.0, xtol=1e-2).status == status.SUCCESS_XTOL


def test_bfgs_stops_at_the_roundoff_floor_of_f_with_a_success():
    # At FR's local minimum f = 48.98: f's rounding errors (~1e-14) hide the last
    # decreases, so BFGS cannot reach gtol = 1e-10; it must still report success.
    r = run("bfgs", "freudenstein_roth", (0.5, -2.0))
    assert r.status in (status.SUCCESS_GTOL, status.SUCCESS_FTOL, status.SUCCESS_XTOL), r.describe()
    assert run("bfgs", "freudenstein_roth", (0.5, -2.0), gtol=0.0).success


# --- NaN and Inf, unbounded problems ------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("problem, x0", [
    ("barrier", (-0.5, 0.0)),  # f is NaN at the start
    ("sqrt", (0.0, 1.0)),  # f is finite, its gradient is Inf
])
def test_non_finite_start_returns_nan_encountered_at_once(method, problem, x0):
    r = run(method, problem, x0)
    assert r.status == status.NAN_ENCOUNTERED and not r.success
    assert r.nit == 0 and r.nfev == 1 and r.nhist == 1
    np.testing.assert_array_equal(r.x, x0)


@pytest.mark.parametrize("method, problem, x0", [
    # the first trial steps leave the domain: GD and BFGS try a step of length 1
    # along -g, to u = -0.1; Newton's unit step from u = 3 goes to u = -3
    ("gd", "barrier", (0.9, 1.0)),
    ("bfgs", "barrier", (0.9, 1.0)),
    ("newton", "log_barrier", (3.0, 0.0)),
])
def test_line_search_backs_off_from_nan_and_still_converges(method, problem, x0):
    r = run(method, problem, x0)
    assert r.success, r.describe()
    xmin, fmin = ((0.5, 1.0), 2 * math.log(2.0)) if problem == "barrier" else ((1.0, 0.0), 1.0)
    np.testing.assert_allclose(r.x, xmin, atol=1e-7)
    assert r.f == pytest.approx(fmin, rel=1e-14)
    assert np.isfinite(r.hist[: r.nhist]).all()


def test_newton_reports_a_hessian_it_cannot_use():
    r = run("newton", "bad_hessian", (-1.0, 1.0))
    assert r.status == status.HESSIAN_NOT_PD and r.nit == 0 and not r.success
    assert run("bfgs", "bad_hessian", (-1.0, 1.0)).success  # BFGS never asks for it


@pytest.mark.parametrize("method", METHODS)
def test_a_kernel_that_raises_ends_the_solve_at_the_last_accepted_iterate(method):
    # Kernels are called without a try/except each (it slowed the loops down); the
    # solver catches an exception around its whole loop: the solve ends, the exception
    # never reaches the caller, and x, f, g and H_out are those of the last accepted
    # iterate, as if the iteration limit had stopped the solve there.
    r = run(method, "raising", (0.6, 0.0))  # raises at the start
    assert r.status == status.NAN_ENCOUNTERED and r.nit == 0 and math.isnan(r.f)
    np.testing.assert_array_equal(r.x, (0.6, 0.0))
    r = run(method, "raising", (-1.2, 1.0))  # raises at the first trial point with u > 1/2
    assert r.status == status.NAN_ENCOUNTERED and not r.success, r.describe()
    stopped = run(method, "rosenbrock", (-1.2, 1.0), max_iter=r.nit)
    assert stopped.status == status.MAX_ITER
    np.testing.assert_array_equal(r.x, stopped.x)
    assert r.f == stopped.f
    np.testing.assert_array_equal(r.g, stopped.g)
    np.testing.assert_array_equal(r.H, stopped.H)  # Newton's Hessian, BFGS's inverse
    assert r.nhist == r.nit + 1
    np.testing.assert_array_equal(r.hist[: r.nhist], stopped.hist[: stopped.nhist])
    if method == "newton":
        assert r.nit == 1  # an odd count: the Hessian at x was in the solver's work matrix


def test_a_kernel_that_raises_is_caught_through_the_entry_point_too():
    # the path symopt.minimize takes: kernels bound by address (symopt._binding)
    from symopt._binding import entry_point, jit_address

    kernels = PROBLEMS["raising"]
    addresses = [jit_address(kernel, signature) for kernel, signature in (
        (kernels.value, abi.value_sig), (kernels.value_grad, abi.value_grad_sig),
        (kernels.value_grad_hess, abi.value_grad_hess_sig))]
    x = np.array([-1.2, 1.0])
    info = np.zeros(abi.N_INFO, np.int64)
    g, H = np.empty(2), np.empty((2, 2))
    f = entry_point("newton")(*addresses, x, NO_PARAMS, NO_DATA, options("newton"), info,
                              NO_DATA, g, H)
    stopped = run("newton", "rosenbrock", (-1.2, 1.0), max_iter=1)
    assert info[abi.INFO_STATUS] == status.NAN_ENCOUNTERED and info[abi.INFO_NIT] == 1
    assert f == stopped.f
    np.testing.assert_array_equal(x, stopped.x)
    np.testing.assert_array_equal(H, stopped.H)


@pytest.mark.parametrize("max_iter", [1, 2, 3, 4])
def test_newton_hessian_out_is_the_hessian_at_the_final_point(max_iter):
    # the Hessians at x and at the trial point alternate between H_out and a work matrix
    r = run("newton", "rosenbrock", (-1.2, 1.0), max_iter=max_iter)
    assert r.nit == max_iter
    H = np.empty((2, 2))
    PROBLEMS["rosenbrock"].value_grad_hess(r.x, NO_PARAMS, NO_DATA, np.empty(2), H)
    np.testing.assert_array_equal(r.H, H)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("problem", ["linear", "cubic"])
def test_unbounded_loss_ends_with_a_failure_status(method, problem):
    # on -u + v^2 L-BFGS runs u off to ~4e49, where steps in v are below xtol relative
    # to ||x|| and f stops changing in floating point: the ftol and xtol tests must not
    # call that converged (the relative gradient there is 1)
    r = run(method, problem, (-0.5, 1.0))
    assert not r.success, r.describe()
    assert r.status in (status.MAX_ITER, status.LINE_SEARCH_FAILED, status.NAN_ENCOUNTERED,
                        status.PROBABLY_UNBOUNDED)
    # the fixed-step methods move by about step / (1 - momentum) per iteration
    assert r.f < (-5.0 if method in FIXED_STEP else -1e3)


# --- argument checks, status table, package -----------------------------------------------------


def test_inconsistent_array_sizes_are_refused_without_touching_memory():
    kernels = PROBLEMS["rosenbrock"]
    info = np.zeros(abi.N_INFO, np.int64)
    f = get_solver("newton")(kernels.value, kernels.value_grad, kernels.value_grad_hess,
                             np.array([-1.2, 1.0]), NO_PARAMS, NO_DATA, options("newton"),
                             info, NO_DATA, np.empty(2), np.empty((3, 3)))
    assert math.isnan(f) and info[abi.INFO_STATUS] == status.INVALID_INPUT
    assert info[abi.INFO_NFEV] == 0


def test_status_table_is_complete_and_consistent():
    codes = [status.SUCCESS_GTOL, status.SUCCESS_FTOL, status.SUCCESS_XTOL, status.MAX_ITER,
             status.LINE_SEARCH_FAILED, status.NAN_ENCOUNTERED, status.HESSIAN_NOT_PD,
             status.INVALID_INPUT, status.TRUST_REGION_COLLAPSED, status.OVERFLOW,
             status.PROBABLY_UNBOUNDED]
    solver_codes = sorted(c for c in status.TABLE if c < status.FIRST_MINIBATCH)
    assert solver_codes == sorted(codes) == list(range(len(codes)))
    for code in codes:
        assert status.name(code) == next(k for k, v in vars(status).items() if v == code and k.isupper())
        assert status.message(code).endswith(".")
        assert status.is_success(code) == (code < status.FIRST_FAILURE)
    assert status.is_success(0) and not status.is_success(status.MAX_ITER)
    assert "gtol" in status.message(status.SUCCESS_GTOL)
    assert status.name(99) == "UNKNOWN" and not status.is_success(99) and "99" in status.message(99)


def test_defaults_cover_every_method_and_option():
    assert set(DEFAULTS) == set(METHODS) == {"gd", "newton", "bfgs", "lbfgs", "trust-ncg",
                                             "trust-exact", "momentum", "nesterov", "adam"}
    method_specific = {"memory", "radius", "momentum", "beta2", "eps", "schedule", "decay"}
    for method in METHODS:
        assert set(OPTION_INDEX) <= set(DEFAULTS[method]) <= set(OPTION_INDEX) | method_specific
        assert 0 < DEFAULTS[method]["c1"] < DEFAULTS[method]["c2"] < 1


def test_get_solver_rejects_unknown_methods():
    with pytest.raises(InputError, match="newton"):
        get_solver("simplex")


@pytest.mark.slow
def test_importing_the_package_compiles_no_solver():
    code = ("import sys, symopt.solvers; "
            "print(sorted(m for m in sys.modules if m.startswith('symopt.solvers.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = eval(out.stdout)  # noqa: S307 - our own printed list
    assert not {"symopt.solvers.gradient", "symopt.solvers.newton", "symopt.solvers.quasi_newton"} & set(loaded)


# --- binding kernels inside a compiled wrapper (the fast path) ----------------------------------

_solve_newton = get_solver("newton")
_rosen = PROBLEMS["rosenbrock"]
_rosen_value, _rosen_value_grad, _rosen_value_grad_hess = _rosen.value, _rosen.value_grad, _rosen.value_grad_hess


@njit
def _newton_from_many_starts(starts, opts, f_out, status_out):
    """A compiled caller: the kernels are globals, so Numba turns them into first-class
    functions once, when it compiles this function."""
    n = starts.shape[1]
    for k in range(starts.shape[0]):
        x = starts[k].copy()
        info = np.zeros(abi.N_INFO, np.int64)
        f_out[k] = _solve_newton(_rosen_value, _rosen_value_grad, _rosen_value_grad_hess, x,
                                 np.zeros(0), np.zeros((0, 0)), opts, info, np.zeros((0, 0)),
                                 np.empty(n), np.empty((n, n)))
        status_out[k] = info[abi.INFO_STATUS]


@pytest.mark.slow
def test_solver_called_from_compiled_code_with_kernels_bound_at_compile_time():
    starts = np.array([[-1.2, 1.0], [2.0, -1.0], [0.0, 0.0], [-3.0, 4.0]])
    f_out = np.empty(4)
    status_out = np.empty(4, np.int64)
    _newton_from_many_starts(starts, options("newton"), f_out, status_out)
    assert np.all(status_out == status.SUCCESS_GTOL)
    assert np.all(f_out < 1e-20)
    direct = run("newton", "rosenbrock", starts[1])
    assert direct.f == f_out[1]


# --- the generated solve wrappers (symopt.solvers._jit.Wrapper) --------------------------------


def test_every_solve_wrapper_is_generated_from_a_declaration():
    from symopt.solvers import _jit, registry

    for row in registry.methods("scalar", "least_squares"):
        module = __import__(row.module, fromlist=["_"])
        if not row.module.startswith("symopt.solvers."):
            continue
        wrapper = getattr(module, row.function + _jit.INLINABLE).py_func  # compiles nothing
        assert "arguments_valid" in wrapper.__source__, row.name
        # compiled under the file of the module it is declared in: Numba caches it there
        declared_in = sys.modules[wrapper.__module__].__file__
        assert wrapper.__code__.co_filename == declared_in, row.name


def test_a_wrapper_allocates_its_float_work_arrays_as_views_of_one_block():
    from symopt.solvers._jit import Wrapper, wrapper_source

    source = wrapper_source("_solve", Wrapper(
        "_it", work=(("vectors", ("3", "n"), "zeros"), ("ipvt", ("n",), "int"),
                     ("matrix", ("n", "n"), "empty")), after_raise="cleanup(H_out)"))
    assert source.count("np.empty(") == 2  # the block and the int vector
    assert "work[start:stop] = 0.0" in source
    assert "obj = Objective(value, value_grad, value_grad_hess, p, data)" in source
    assert "_it(obj, x, opts, info, hist, g_out, vectors, ipvt, matrix)" in source
    assert source.index("cleanup(H_out)") < source.index("kernel_raised")
    with pytest.raises(ValueError, match="fill"):
        wrapper_source("_solve", Wrapper("_it", work=(("v", ("n",), "ones"),)))
    with pytest.raises(ValueError, match="kind"):
        wrapper_source("_solve", Wrapper("_it", kind="array"))


@pytest.mark.slow
def test_a_second_process_loads_the_generated_solvers_from_numbas_cache():
    code = ("from symopt.solvers import newton, lm, first_order\n"
            "solvers = [newton.solve, lm.solve_lm, first_order.solve_adam]\n"
            "print(sum(sum(s.stats.cache_misses.values()) for s in solvers),"
            " sum(sum(s.stats.cache_hits.values()) for s in solvers))\n")
    for _ in range(2):  # the first run may compile (unless an earlier one cached them)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
    assert out.stdout.split() == ["0", "3"], out.stdout + out.stderr
