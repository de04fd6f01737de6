"""symopt.tensor sparse (CSR) Hessians of separable losses that are not banded, and the
sparse-newton solver: the pattern comes from the terms alone; the CSR Hessian equals
finite differences of the (independently checked) gradient and the dense Hessian; the
solver reaches the published optimum of extended Rosenbrock (Moré, Garbow and Hillstrom
1981, problem 21: f* = 0 at x = 1) laid out in halves, and agrees with SciPy's BFGS."""

import numpy as np
import pytest

import symopt as so
import symopt.tensor as st
from symopt.tensor.minimize import default_method

rng = np.random.default_rng(11)


def half_rosenbrock():
    """Extended Rosenbrock with its pairs (x[i], x[i + h]): the Hessian couples entries h
    apart, so it is not banded (bandwidth h grows with n)."""
    return st.Problem("sum(100*(x[h:] - x[:h]**2)**2 + (1 - x[:h])**2)", wrt={"x": "2*h"})


def strided():
    """Terms reading x[2i] and x[i] (different strides), x[4i] and x[4i+1], and a data row."""
    return st.Problem("sum((x[::2][:k] - x[:k]**2 - c)**2) + sum(exp(x[::4]*x[1::4])) "
                      "+ lam*sum((x - 0.5)**2)", wrt={"x": "4*k"}, data={"c": "k"},
                      params={"lam": ""})


def test_pattern_is_read_from_the_terms():
    text = half_rosenbrock().hessian_sparsity
    assert text.splitlines()[0] == "sparse Hessian (CSR, not banded)"
    assert "H[h + i, i]" in text and "for i < h" in text
    text = strided().hessian_sparsity
    assert "H[2*i, i]" in text and "H[4*i, 4*i + 1]" in text
    structure = strided().sparse
    assert structure.bandwidth is None
    pattern = structure.pattern({d: 3 for d in strided().dims}, 12)
    # diagonal 12, (2i, i) for i = 1, 2 and its mirror: 4, (4i, 4i+1) for i < 3 and mirror: 6
    assert pattern.nnz == 12 + 4 + 6
    assert pattern.indptr.shape == (13,)


def test_banded_losses_keep_their_band():
    problem = st.Problem("sum(100*(x[1::2] - x[::2]**2)**2 + (1 - x[::2])**2)", wrt={"x": "n"},
                         even="n")
    assert problem.sparse.bandwidth == 1
    assert problem.hessian_sparsity.startswith("banded Hessian, bandwidth 1")


def test_csr_hessian_equals_finite_differences_and_the_dense_hessian():
    problem = strided()
    k = st.compile(problem)
    data = {"c": rng.standard_normal(3)}
    binding = k.bind(data, {"lam": 0.7}, {"x": np.zeros(12)})
    x = 0.5 * rng.standard_normal(12)
    H = k.hessian_csr(x, binding=binding)
    assert H.shape == (12, 12) and H.nnz == 22
    dense = H.toarray()
    np.testing.assert_allclose(dense, dense.T, rtol=0, atol=0)
    # central differences of the gradient (itself checked against finite differences of f
    # in test_tensor_kernels)
    eps = 1e-6
    fd = np.empty((12, 12))
    for j in range(12):
        e = np.zeros(12)
        e[j] = eps
        gp = k.grad(x + e, binding=binding)["x"]
        gm = k.grad(x - e, binding=binding)["x"]
        fd[:, j] = (gp - gm) / (2 * eps)
    np.testing.assert_allclose(dense, fd, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dense, k.hessian(x, binding=binding), rtol=1e-13, atol=1e-13)


@pytest.mark.slow
def test_csr_hessian_of_a_banded_loss_with_data_equals_the_dense_hessian():
    problem = st.Problem("sum((x[2:] - 2*x[1:n-1] + x[:n-2] - h[1:n-1])**2) + lam*sum(exp(x))",
                         data={"h": "n"}, wrt={"x": "n"}, params={"lam": ""})
    assert problem.sparse.bandwidth == 2
    k = st.compile(problem)
    binding = k.bind({"h": rng.standard_normal(9)}, {"lam": 0.3}, {"x": np.zeros(9)})
    x = rng.standard_normal(9)
    np.testing.assert_allclose(k.hessian_csr(x, binding=binding).toarray(),
                               k.hessian(x, binding=binding), rtol=1e-13, atol=1e-12)


def test_not_separable_losses_say_why():
    problem = st.Problem("sum(x[::2]*x[1::2]) + sum(x)**2", wrt={"x": "n"}, even="n")
    assert problem.hessian_sparsity.startswith("dense")
    with pytest.raises(so.ProblemError, match="constant coefficients"):
        problem.sparse
    with pytest.raises(so.ProblemError, match="constant coefficients"):
        st.minimize(problem, {"x": np.ones(8)}, "sparse-newton")


def test_default_method_by_structure():
    assert default_method(10**5, banded=True, sparse=True) == "banded-newton"
    assert default_method(10**5, banded=False, sparse=True) == "sparse-newton"
    assert default_method(10**5) == "trust-ncg"
    assert default_method(100, sparse=True) == "newton"


@pytest.mark.slow
def test_sparse_newton_reaches_the_published_optimum_at_large_n():
    problem = half_rosenbrock()
    h = 100_000
    x0 = np.concatenate([np.full(h, -1.2), np.ones(h)])  # the standard start, permuted
    res = st.minimize(problem, {"x": x0}, gtol=1e-8)
    assert res.method == "sparse-newton" and res.success, res.message
    assert res.fun < 1e-12
    np.testing.assert_allclose(res.x, 1.0, atol=1e-8)
    assert res.hess.shape == (2 * h, 2 * h) and res.hess.nnz == 4 * h
    small = st.minimize(problem, {"x": x0[h - 5:h + 5]}, "sparse-newton")
    assert small.nit == res.nit  # the pairs are independent: the same iterations at any n


@pytest.mark.slow
def test_sparse_newton_agrees_with_scipy_bfgs():
    from scipy.optimize import minimize as scipy_minimize

    problem = strided()
    k = st.compile(problem)
    data = {"c": np.array([0.3, -0.2, 0.1])}
    res = st.minimize(problem, {"x": np.zeros(12)}, "sparse-newton", data=data,
                      params={"lam": 1.0})
    assert res.success and res.method == "sparse-newton", res.message
    binding = k.bind(data, {"lam": 1.0}, {"x": np.zeros(12)})
    ref = scipy_minimize(lambda z: k.value(z, binding=binding), np.zeros(12), method="BFGS",
                         jac=lambda z: k.grad(z, binding=binding)["x"], tol=1e-12)
    np.testing.assert_allclose(res.fun, ref.fun, rtol=1e-12)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-6)
    # sparse-newton on a banded loss runs banded-newton
    banded = st.Problem("sum(100*(x[1::2] - x[::2]**2)**2 + (1 - x[::2])**2)", wrt={"x": "n"},
                        even="n")
    assert st.minimize(banded, {"x": np.tile([-1.2, 1.0], 4)}, "sparse-newton").method \
        == "banded-newton"


@pytest.mark.slow
def test_sparse_newton_reports_nan():
    problem = st.Problem("sum(log(x[h:]) + (x[:h] - x[h:])**2)", wrt={"x": "2*h"})
    res = st.minimize(problem, {"x": np.ones(10)}, "sparse-newton")
    assert not res.success and res.status != 0
    assert isinstance(res.message, str) and res.message
