"""trust-exact's Moré-Sorensen subproblem solution in the hard case.

The hard case: ``g`` is orthogonal to the eigenvector of the most negative eigenvalue
``lam_1`` of ``H`` and ``p(-lam_1) = -(H - lam_1 I)^+ g`` lies inside the ball, so no
shift ``lam`` puts ``p(lam)`` on the boundary; the model's minimiser is
``p(-lam_1) + tau u``.  Oracles: a brute-force minimisation of the 2-D model over a
fine polar grid of the disc, and minima known in closed form.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

import symopt as so
from symopt.solvers import status
from symopt.solvers.trust_region import HARD_RTOL, more_sorensen

SADDLE = "x**2/2 - y**2/2 + y**4/4"  # a saddle at 0, minima (0, +-1) with f = -1/4


@njit(cache=False)
def _subproblem(H, g, radius):
    n = g.shape[0]
    z, q, u, w = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    L = np.zeros((n, n))
    on_boundary = more_sorensen(H, g, radius, z, q, u, w, L)
    return z, on_boundary


def model(H, g, p):
    return g @ p + 0.5 * p @ H @ p


def brute_force_model_minimum(H, g, radius):
    """The smallest model value on a polar grid of the disc of ``radius`` (an upper
    bound of the true minimum, within about 1e-5 relative of it)."""
    r = np.linspace(0.0, radius, 401)[:, None]
    theta = np.linspace(0.0, 2 * np.pi, 4001)[None, :]
    p1, p2 = r * np.cos(theta), r * np.sin(theta)
    values = (g[0] * p1 + g[1] * p2
              + 0.5 * (H[0, 0] * p1 * p1 + 2 * H[0, 1] * p1 * p2 + H[1, 1] * p2 * p2))
    return values.min()


def hard_case(angle, lam_1, lam_2, g_along_2, radius):
    """``H`` with eigenvalues ``lam_1 < 0 < lam_2`` (eigenvectors rotated by ``angle``)
    and ``g`` along the second eigenvector only."""
    c, s = np.cos(angle), np.sin(angle)
    Q = np.array([[c, -s], [s, c]])
    H = Q @ np.diag([lam_1, lam_2]) @ Q.T
    g = g_along_2 * Q[:, 1]
    return H, g, radius


HARD_CASES = [
    hard_case(0.0, -1.0, 1.0, 1.0, 1.0),  # the first step of SADDLE from (1, 0)
    hard_case(0.3, -2.0, 5.0, 1.0, 1.0),
    hard_case(2.0, -0.5, 3.0, 0.2, 0.5),
    hard_case(1.0, -1e-3, 1.0, 0.1, 10.0),  # barely negative curvature, large radius
]


@pytest.mark.slow
@pytest.mark.parametrize("H, g, radius", HARD_CASES)
def test_hard_case_step_reaches_the_boundary_and_minimises_the_model(H, g, radius):
    lam_1, vectors = np.linalg.eigh(H)
    # the premise: g has no component along the eigenvector of lam_1 < 0, and the step
    # with lam = -lam_1 (the pseudo-inverse on the other eigenvector) is inside the ball
    assert lam_1[0] < 0 and abs(g @ vectors[:, 0]) < 1e-15
    inside = -vectors[:, 1] * (g @ vectors[:, 1]) / (lam_1[1] - lam_1[0])
    assert np.linalg.norm(inside) < radius

    step, on_boundary = _subproblem(H, g, radius)
    assert on_boundary
    assert np.linalg.norm(step) == pytest.approx(radius, rel=1e-12)
    best = brute_force_model_minimum(H, g, radius)
    # Moré-Sorensen's guarantee: within a factor 1 - HARD_RTOL of the minimum (which is
    # at or below the grid's best value)
    assert model(H, g, step) <= (1 - HARD_RTOL) * best
    assert model(H, g, step) >= best - 1e-4 * abs(best)  # the grid is fine enough
    # the old answer, the step inside the ball, reduced the model by less
    assert model(H, g, step) < model(H, g, inside) - 0.1 * abs(best)


@pytest.mark.slow
def test_singular_but_not_indefinite_hessian_keeps_the_interior_step():
    # lam_1 = 0: the model is flat along the null vector, the minimum-norm minimiser is
    # inside the ball, and going to the boundary gains nothing
    H = np.array([[2.0, 0.0], [0.0, 0.0]])
    g = np.array([1.0, 0.0])
    step, on_boundary = _subproblem(H, g, 1.0)
    assert not on_boundary
    np.testing.assert_allclose(step, [-0.5, 0.0], atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("loss, x0, xmin", [
    (SADDLE, {"x": 1.0, "y": 0.0}, (0.0, 1.0)),
    (SADDLE + " + (z - 1)**2", {"x": 1.0, "y": 0.0, "z": 0.0}, (0.0, 1.0, 1.0)),
])
def test_a_start_on_a_saddles_symmetry_line_leaves_it_for_a_minimum(loss, x0, xmin):
    # on y = 0, g has no y component and y = 0 is kept by every Newton-type step built
    # from g alone: Newton and trust-ncg converge to the saddle (0, 0, ...)
    res = so.minimize(loss, x0, method="trust-exact", history=True)
    assert res.success, res.message
    assert res.fun == pytest.approx(-0.25, abs=1e-14)
    np.testing.assert_allclose(np.abs(res.x), xmin, atol=1e-6)
    assert np.linalg.eigvalsh(res.hess).min() > 0  # a minimum, not the saddle
    assert np.all(np.diff(res.history["f"]) < 0)
    assert res.history["x"][1][1] != 0.0  # the first step already left y = 0


def test_first_hard_case_step_of_the_solver_minimises_its_model():
    # the same check through the compiled solver: first step from (1, 0), radius 1
    res = so.minimize(SADDLE, {"x": 1.0, "y": 0.0}, method="trust-exact", history=True,
                      max_iter=1)
    assert res.status == status.MAX_ITER and res.nit == 1
    step = res.history["x"][1] - res.history["x"][0]
    H, g = np.diag([1.0, -1.0]), np.array([1.0, 0.0])  # the derivatives at (1, 0)
    assert np.linalg.norm(step) == pytest.approx(1.0, rel=1e-12)
    assert model(H, g, step) <= (1 - HARD_RTOL) * brute_force_model_minimum(H, g, 1.0)
