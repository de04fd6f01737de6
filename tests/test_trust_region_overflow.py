"""The trust-region methods report an overflow in their subproblem as OVERFLOW, not as
convergence: with g.g or g.H.g beyond a double the Steihaug CG (and the More-Sorensen
step) cannot move, and the model predicts no decrease, which used to end as SUCCESS_FTOL
at the start point."""

import math

import pytest

import symopt as so

CASES = [
    ("1e200*x + 1e200*y", "g.g overflows: linear and unbounded below"),
    ("x**2 - 1e300*y", "g.g overflows: unbounded below"),
    ("1e150*x**2 + 1e150*y**2", "g.H.g overflows: the minimum at 0 is out of reach"),
]


@pytest.mark.parametrize("method", ["trust-ncg", "trust-exact"])
@pytest.mark.parametrize("formula, why", CASES)
def test_an_overflowing_subproblem_is_reported_not_called_converged(formula, why, method):
    res = so.minimize(formula, [1.0, 1.0], method=method)
    if res.success:  # trust-exact's factorisation may still reach the true minimum
        assert formula.startswith("1e150") and res.fun == 0.0, why
        return
    assert res.status == so.Status.OVERFLOW, (why, res.status, res.message)
    assert "overflow" in res.message.lower() or "inf" in res.message.lower()
    assert math.isfinite(res.fun) and res.nit == 0


def test_a_converged_trust_region_solve_still_ends_as_before():
    res = so.minimize("(1 - x)**2 + 100*(y - x**2)**2", [-1.2, 1.0], method="trust-ncg")
    assert res.success and abs(res.x[0] - 1) < 1e-6 and abs(res.x[1] - 1) < 1e-6
