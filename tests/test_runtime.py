"""The runtime helpers the kernels call, against NumPy's libm (an independent oracle):
the branch-free exp and log1p that let row loops vectorise must be as accurate as
libm's and behave the same at the edges (overflow, underflow, subnormals, inf, NaN).

The helpers here are compiled without ``cache=True``: Numba keys a cached function on
its own file only, so a cached copy could keep an older ``_runtime`` inlined."""

import numpy as np
import pytest
from numba import njit

from symopt import _runtime as rt

EPS = np.finfo(float).eps


@njit
def _map_exp(a):
    out = np.empty_like(a)
    for i in range(a.size):
        out[i] = rt.exp(a[i])
    return out


@njit
def _map_log1p_unit(a):
    out = np.empty_like(a)
    for i in range(a.size):
        out[i] = rt.log1p_unit(a[i])
    return out


@njit
def _map_softplus_sigmoid(a):
    out = np.empty((2, a.size))
    for i in range(a.size):
        out[0, i] = rt.softplus(a[i])
        out[1, i] = rt.sigmoid(a[i])
    return out


def test_exp_is_within_one_ulp_of_libm_over_the_whole_normal_range():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-708, 709.7, 400_001), rng.uniform(-40, 40, 100_000),
                        [0.0, -0.0, 1e-300, -1e-300, 0.5 * np.log(2), -0.5 * np.log(2)]])
    ref = np.exp(x)
    assert np.max(np.abs(_map_exp(x) - ref) / ref) <= 1.01 * EPS


def test_exp_edges_match_libm():
    x = np.array([-np.inf, -1000.0, -746.0, -745.2, -740.0, -720.0, 709.78, 709.8, 710.0, 1e300,
                  np.inf, np.nan])
    with np.errstate(over="ignore"):
        ref = np.exp(x)
    got = _map_exp(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
    finite = np.isfinite(ref)
    # subnormal results: correct to the absolute spacing of subnormals
    np.testing.assert_allclose(got[finite], ref[finite], rtol=2 * EPS, atol=1e-322)


def test_log1p_unit_is_within_two_ulp_of_libm_on_0_1():
    e = np.concatenate([np.linspace(0, 1, 200_001), np.logspace(-300, 0, 20_001),
                        [0.41421356237309503, np.nextafter(0.41421356237309503, 1)]])
    ref = np.log1p(e)
    got = _map_log1p_unit(e)
    assert got[0] == 0.0
    assert np.max(np.abs(got[1:] - ref[1:]) / ref[1:]) <= 2 * EPS
    assert np.isnan(_map_log1p_unit(np.array([np.nan]))[0])


@pytest.mark.slow
@pytest.mark.parametrize("z", [-1e308, -800.0, -40.0, -1.0, -1e-20, 0.0, 1e-20, 1.0, 40.0, 800.0, 1e308])
def test_softplus_and_sigmoid_are_stable_and_accurate(z):
    sp, sg = _map_softplus_sigmoid(np.array([z]))[:, 0]
    ref_sp = np.logaddexp(0.0, z)
    ref_sg = np.exp(-np.logaddexp(0.0, -z))
    assert np.isfinite(sp) and np.isfinite(sg)
    assert abs(sp - ref_sp) <= 4 * EPS * abs(ref_sp) + 1e-320
    assert abs(sg - ref_sg) <= 4 * EPS * abs(ref_sg) + 1e-320


@njit
def _radd_sum(a):
    s = 0.0
    for i in range(a.size):
        s = rt.radd(s, a[i])
    return s, rt.radd(1, True), rt.radd(np.float32(0.5), 2)


def test_radd_adds_and_accepts_any_real_scalar():
    a = np.arange(1.0, 1001.0)
    total, mixed, small = _radd_sum(a)
    assert total == 500500.0 and mixed == 2.0 and small == 2.5
