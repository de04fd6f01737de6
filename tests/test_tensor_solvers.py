"""symopt.tensor.solvers: the line-search and trust-region drivers report what the scalar
solvers of symopt.solvers report (the same status rules: genuine_status, OVERFLOW where
the model overflows), and sparse-newton takes Newton's iterations on separable losses
whose Hessian is not banded, checked against published optima (Moré, Garbow and
Hillstrom 1981: extended Rosenbrock, problem 21, and extended Powell singular, problem 22,
f* = 0) and against banded-newton on the same problem laid out with a band."""

import numpy as np
import pytest

import symopt as so
import symopt.tensor as st
from symopt.solvers import status


def both(scalar_formula, array_formula, x0, method, **options):
    """The scalar path's and the array path's results on the same loss of two variables."""
    scalar = so.minimize(scalar_formula, [x0, x0], method=method, **options)
    array = st.minimize(st.Problem(array_formula, wrt={"x": "n"}), {"x": np.full(2, x0)},
                        method, **options)
    return scalar, array


@pytest.mark.slow  # compiles the trust-ncg solver (about 20 s)
def test_an_overflowing_model_reports_overflow_as_the_scalar_trust_region_does():
    scalar, array = both("1e300*(x**2 + y**2)", "1e300*sum(x**2)", 1e3, "trust-ncg")
    assert scalar.status == status.OVERFLOW
    assert array.status == status.OVERFLOW and not array.success and array.nit == 0


@pytest.mark.slow  # compiles the trust-ncg solver (about 20 s)
def test_trust_ncg_takes_the_scalar_trust_ncgs_steps():
    """The same Steihaug CG and radius rules as symopt.solvers.trust_region (a dense
    matrix there, Hessian-vector products here): the same iterates on 2-D Rosenbrock."""
    scalar = so.minimize("100*(y - x**2)**2 + (1 - x)**2", [-1.2, 1.0], method="trust-ncg",
                         gtol=1e-8)
    problem = st.Problem("sum(100*(x[1::2] - x[::2]**2)**2 + (1 - x[::2])**2)",
                         wrt={"x": "n"}, even="n")
    array = st.minimize(problem, {"x": np.array([-1.2, 1.0])}, "trust-ncg", gtol=1e-8)
    assert array.success and (array.nit, array.nfev) == (scalar.nit, scalar.nfev)
    np.testing.assert_allclose(array.x, scalar.x, rtol=1e-14)
    np.testing.assert_allclose(array.x, 1.0, atol=1e-10)  # the minimiser (1, 1)


@pytest.mark.slow  # compiles the trust-ncg solver (about 20 s)
def test_a_runaway_is_probably_unbounded_as_on_the_scalar_path():
    # the loop stops at max_iter; genuine_status sees f fall 1e36 below its start while it
    # still falls as fast as x grows (the driver used to report MAX_ITER)
    scalar, array = both("-x**3 - y**3", "sum(-x**3)", 1.0, "trust-ncg", max_iter=200)
    assert scalar.status == status.PROBABLY_UNBOUNDED
    assert array.status == status.PROBABLY_UNBOUNDED and not array.success


@pytest.mark.slow
def test_a_fake_convergence_is_not_reported_as_success():
    """On a linear loss of slope 1e200 g.g overflows, the Steihaug step is zero and the
    model predicts no decrease: that is not convergence (f is unbounded below).  The
    scalar trust-ncg reports SUCCESS_FTOL at the start here (a change request)."""
    problem = st.Problem("sum(1e200*x)", wrt={"x": "n"})
    res = st.minimize(problem, {"x": np.ones(2)}, "trust-ncg")
    assert res.status == status.OVERFLOW and not res.success, res.message
    # the curvature g.H.g overflows (1e150 * 4e300): the scalar trust-ncg takes a zero step
    # and reports SUCCESS_FTOL at f = 2e150; here no step can be computed, and it says so
    steep = st.minimize(st.Problem("sum(1e150*x**2)", wrt={"x": "n"}), {"x": np.ones(2)},
                        "trust-ncg")
    assert steep.status == status.OVERFLOW and not steep.success
    # newton-cg: every trial of the line search along -g overflows f to -Inf
    assert not st.minimize(problem, {"x": np.ones(2)}, "newton-cg").success
    # a runaway on the line-search driver: f falls to -3e209, then overflows
    res = st.minimize(st.Problem("sum(-x**3)", wrt={"x": "n"}), {"x": np.ones(3)}, "newton-cg")
    assert not res.success and res.fun < -1e100


def rosenbrock_halves():
    return st.Problem("sum(100*(x[h:] - x[:h]**2)**2 + (1 - x[:h])**2)", wrt={"x": "2*h"})


def powell_quarters():
    """Extended Powell singular (MGH 22) with its four variables a quarter apart: the
    Hessian couples x[i], x[q+i], x[2q+i], x[3q+i], not banded; singular at the optimum."""
    return st.Problem("sum((x[:q] + 10*x[q:2*q])**2 + 5*(x[2*q:3*q] - x[3*q:])**2 "
                      "+ (x[q:2*q] - 2*x[2*q:3*q])**4 + 10*(x[:q] - x[3*q:])**4)",
                      wrt={"x": "4*q"})


@pytest.mark.slow
def test_sparse_newton_takes_the_banded_newton_iterations_on_rosenbrock():
    h = 100_000
    x0 = np.concatenate([np.full(h, -1.2), np.ones(h)])  # the standard start, in halves
    res = st.minimize(rosenbrock_halves(), {"x": x0}, "sparse-newton", gtol=1e-8)
    assert res.success and res.method == "sparse-newton", res.message
    assert res.fun < 1e-12
    np.testing.assert_allclose(res.x, 1.0, atol=1e-8)
    pairs = st.Problem("sum(100*(x[1::2] - x[::2]**2)**2 + (1 - x[::2])**2)", wrt={"x": "n"},
                       even="n")
    band = st.minimize(pairs, {"x": np.tile([-1.2, 1.0], h)}, "banded-newton", gtol=1e-8)
    # the reordered CSR Hessian is the band of the interleaved layout: the same Newton steps
    assert res.nit == band.nit <= 21
    assert res.nhev == res.nit + 1 - (res.nit > 0)  # one Hessian per step, no CG products


@pytest.mark.slow
def test_sparse_newton_reaches_the_extended_powell_optimum():
    q = 2_500
    x0 = np.repeat([3.0, -1.0, 0.0, 1.0], q)  # the standard start, in quarters
    problem = powell_quarters()
    res = st.minimize(problem, {"x": x0}, "sparse-newton", gtol=1e-10)
    assert res.success and res.method == "sparse-newton", res.message
    assert res.fun < 1e-10  # f* = 0 at x* = 0 (2,500 blocks, each below 1e-13)
    np.testing.assert_allclose(res.x, 0.0, atol=1e-3)  # singular Hessian: x* to f**(1/4)
    interleaved = st.Problem("sum((x[::4] + 10*x[1::4])**2 + 5*(x[2::4] - x[3::4])**2 "
                             "+ (x[1::4] - 2*x[2::4])**4 + 10*(x[::4] - x[3::4])**4)",
                             wrt={"x": "4*q"})
    band = st.minimize(interleaved, {"x": np.tile([3.0, -1.0, 0.0, 1.0], q)},
                       "banded-newton", gtol=1e-10)
    assert band.success and abs(band.nit - res.nit) <= 1
    assert problem.sparse.pattern({d: q for d in problem.dims}, 4 * q).band_ordering()[1] <= 3


@pytest.mark.slow
def test_sparse_newton_falls_back_to_cg_when_the_band_is_wide(monkeypatch):
    """With no affordable band ordering sparse-newton runs Jacobi-preconditioned truncated
    CG on the CSR Hessian: it still reaches the MGH 21 optimum, in more iterations (the
    first negative curvature of any 2 x 2 block truncates the whole step)."""
    from symopt.tensor import sparse

    problem = rosenbrock_halves()
    h = 500
    x0 = np.concatenate([np.full(h, -1.2), np.ones(h)])
    factored = st.minimize(problem, {"x": x0}, "sparse-newton", gtol=1e-8)
    monkeypatch.setattr(sparse, "BAND_WORK_FACTOR", 0.0)
    assert problem.sparse.pattern({d: h for d in problem.dims}, 2 * h).band_ordering() is None
    res = st.minimize(problem, {"x": x0}, "sparse-newton", gtol=1e-8)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, 1.0, atol=1e-8)
    assert factored.nit == 21 and res.nit > factored.nit  # CG: 32 here


def test_band_ordering_puts_each_terms_variables_together():
    problem = rosenbrock_halves()
    pattern = problem.sparse.pattern({d: 6 for d in problem.dims}, 12)
    perm, width, band_slot = pattern.band_ordering()
    assert width == 1 and sorted(perm) == list(range(12))
    position = np.empty(12, dtype=int)
    position[perm] = np.arange(12)
    assert all(abs(position[i] - position[i + 6]) == 1 for i in range(6))
    # every lower-triangle CSR entry has one band slot, the upper ones none
    assert (band_slot >= 0).sum() == 12 + 6 and len(set(band_slot[band_slot >= 0])) == 18
