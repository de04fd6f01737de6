"""Kernel kinds (symopt.abi.KERNELS): the Hessian-vector product, and deriving only the
kernels a method calls."""

import numpy as np
import pytest

import symopt as so
from symopt import abi

ROSEN3 = "(1 - x)**2 + 100*(y - x**2)**2 + a*x*y*z**3"


def _fd_hvp(k, x, v, *args, eps=1e-6):
    """Central differences of the gradient along v: an independent oracle for H v."""
    return (k.grad(x + eps * v, *args) - k.grad(x - eps * v, *args)) / (2 * eps)


def test_every_kernel_kind_is_declared_once():
    names = [spec.name for spec in abi.KERNELS]
    assert len(names) == len(set(names))
    assert abi.KERNEL_SPECS["hvp"].signature == abi.hvp_sig
    assert abi.KERNEL_SPECS["hvp"].inputs == ("x", "p", "data", "v")


def test_hvp_of_a_formula_matches_finite_differences():
    k = so.compile(so.Problem(ROSEN3, params="a"))
    x, v = np.array([0.3, -0.7, 1.1]), np.array([1.0, 2.0, -0.5])
    hv = k.hvp(x, v, {"a": 2.0})
    np.testing.assert_allclose(hv, _fd_hvp(k, x, v, {"a": 2.0}), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hv, k.hessian(x, {"a": 2.0}) @ v, rtol=1e-12, atol=1e-12)


def test_hvp_of_a_data_loss_matches_finite_differences():
    rng = np.random.default_rng(1)
    loss = so.DataLoss("softplus(b + w0*x0 + w1*x1) - y*(b + w0*x0 + w1*x1)", wrt="b w0 w1",
                       data="x0 x1 y", reduce="mean", regularization="0.1*(w0**2 + w1**4)")
    data = {"x0": rng.normal(size=300), "x1": rng.normal(size=300),
            "y": (rng.random(300) < 0.5).astype(float)}
    k = so.compile(loss)
    x, v = np.array([0.1, 0.5, -0.3]), np.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(k.hvp(x, v, data), _fd_hvp(k, x, v, data), rtol=1e-5, atol=1e-7)


def test_hvp_refuses_a_vector_of_the_wrong_length():
    k = so.compile(so.Problem("x**2 + y**2"))
    with pytest.raises(so.ShapeError, match="v has shape"):
        k.hvp([1.0, 1.0], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("method", ["lbfgs", "bfgs", "gd"])
def test_a_first_order_solve_does_not_derive_the_hessian(method):
    problem = so.Problem("(1 - x)**2 + 100*(y - x**2)**2 + 0.5*z**2")
    res = so.minimize(problem, [-1.2, 1.0, 1.0], method=method, max_iter=50)
    assert res.nit > 0
    assert "hessian_upper" not in problem.derivatives.__dict__


def test_a_newton_solve_after_a_first_order_one_gets_the_hessian():
    problem = so.Problem("(1 - x)**2 + 100*(y - x**2)**2")
    assert so.minimize(problem, [-1.2, 1.0], method="bfgs").success
    res = so.minimize(problem, [-1.2, 1.0], method="newton")
    assert res.success and res.nhev > 0
    np.testing.assert_allclose(res.hess, [[802.0, -400.0], [-400.0, 200.0]], rtol=1e-9)
