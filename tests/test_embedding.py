"""Kernels and solvers called from a user's own @numba.njit code (as the README shows)."""

import numba
import numpy as np
import pytest

import symopt as so
from symopt import abi
from symopt.solvers import get_solver


@pytest.fixture(scope="module")
def kernels():
    return so.compile(so.Problem("(1 - x)**2 + 100*(y - x**2)**2"))


@pytest.mark.slow
def test_user_njit_function_calls_a_kernel(kernels):
    value_grad = kernels.value_grad_kernel

    @numba.njit
    def gradient_norm_along_line(x0, direction, steps):
        p = np.empty(0)
        data = np.empty((0, 0))
        g = np.empty(2)
        out = np.empty(steps)
        x = np.empty(2)
        for k in range(steps):
            t = k / steps
            x[0] = x0[0] + t * direction[0]
            x[1] = x0[1] + t * direction[1]
            value_grad(x, p, data, g)
            out[k] = np.sqrt(g[0] ** 2 + g[1] ** 2)
        return out

    norms = gradient_norm_along_line(np.array([-1.2, 1.0]), np.array([2.2, 0.0]), 11)
    for k, nrm in enumerate(norms):
        g = kernels.grad([-1.2 + k / 11 * 2.2, 1.0])
        assert nrm == pytest.approx(np.hypot(*g))


@pytest.mark.slow
def test_readme_example_user_njit_function_calls_a_solver(kernels):
    value, value_grad, value_grad_hess = (kernels.value_kernel, kernels.value_grad_kernel,
                                          kernels.value_grad_hess_kernel)
    newton = get_solver("newton")

    @numba.njit
    def solve_from(x0, opts):
        p = np.empty(0)
        data = np.empty((0, 0))
        g = np.empty(2)
        value_grad(x0, p, data, g)
        x = x0.copy()
        info = np.zeros(abi.N_INFO, np.int64)
        H = np.empty((2, 2))
        f = newton(value, value_grad, value_grad_hess, x, p, data, opts, info,
                   np.empty((0, 0)), g, H)
        return x, f, info[abi.INFO_STATUS], info[abi.INFO_NIT]

    x, f, status, nit = solve_from(np.array([-1.2, 1.0]), so.solver_options("newton"))
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-8)
    assert status in (0, 1, 2) and nit > 0
    ref = so.minimize(kernels.problem, [-1.2, 1.0], method="newton")
    np.testing.assert_allclose(x, ref.x)
    assert nit == ref.nit


@pytest.mark.slow
def test_user_njit_loop_solves_many_starts_with_a_solver(kernels):
    """The same compiled solver inside the user's own loop over problems."""
    value, value_grad, value_grad_hess = (kernels.value_kernel, kernels.value_grad_kernel,
                                          kernels.value_grad_hess_kernel)
    bfgs = get_solver("bfgs")

    @numba.njit
    def solve_all(starts, opts):
        p = np.empty(0)
        data = np.empty((0, 0))
        out = np.empty_like(starts)
        statuses = np.empty(starts.shape[0], np.int64)
        for k in range(starts.shape[0]):
            x = starts[k].copy()
            info = np.zeros(abi.N_INFO, np.int64)
            bfgs(value, value_grad, value_grad_hess, x, p, data, opts, info, np.empty((0, 0)),
                 np.empty(2), np.empty((2, 2)))
            out[k] = x
            statuses[k] = info[abi.INFO_STATUS]
        return out, statuses

    starts = np.random.default_rng(0).uniform(-2, 2, (20, 2))
    xs, statuses = solve_all(starts, so.solver_options("bfgs"))
    assert np.all(statuses <= 2)
    np.testing.assert_allclose(xs, 1.0, atol=1e-6)


def test_kernels_carry_the_abi_signatures(kernels):
    assert kernels.value_kernel.signatures == [abi.value_sig.args]
    assert kernels.value_grad_hess_kernel.signatures == [abi.value_grad_hess_sig.args]
