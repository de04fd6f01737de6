"""symopt.minimize is the one front door: constraints, array formulas and data in chunks
reach their packages through it, with the results those packages give."""

import numpy as np
import pytest

import symopt as so
from symopt import _routes
from symopt.errors import InputError


def test_constraints_given_to_minimize_solve_the_constrained_problem():
    res = so.minimize("(x - 1)**2 + (y - 2)**2", {"x": 0.0, "y": 0.0},
                      constraints=["x + y == 1", "x >= 0.5"])
    # by hand: on the line, f = (x-1)^2 + (x+1)^2 = 2x^2 + 2, increasing for x >= 0.5:
    # x = 0.5, y = 0.5, and the bound's multiplier is df/dx = 4x = 2 (active, nondegenerate)
    assert res.success
    np.testing.assert_allclose(res.x, [0.5, 0.5], atol=1e-7)
    assert len(res.multipliers) == 2 and res.constr_violation <= 1e-8


def test_problem_with_constraints_is_a_constrained_problem():
    from symopt.constrained import ConstrainedProblem

    p = so.Problem("(x - 1)**2 + (y - 2)**2", constraints=["x + y == 1"])
    assert isinstance(p, ConstrainedProblem)
    assert str(p.constraint_jacobian) == "Matrix([[1, 1]])"
    res = so.minimize(p, [0.0, 0.0])
    # Lagrange by hand: x - 1 = y - 2, x + y = 1 -> x = 0, y = 1
    np.testing.assert_allclose(res.x, [0.0, 1.0], atol=1e-8)
    assert isinstance(so.Problem("x**2"), so.Problem)


def test_array_formulas_go_to_the_tensor_solvers():
    import symopt.tensor as st

    n = st.dims("n")
    x = st.variable("x", n)
    p = st.Problem(st.sum((x - 3.0) ** 2))
    res = so.minimize(p, {"x": np.zeros(5)})
    np.testing.assert_allclose(res.x_dict["x"], np.full(5, 3.0), atol=1e-8)


def test_a_memory_map_is_read_in_chunks_to_the_in_memory_result(tmp_path):
    rng = np.random.default_rng(1)
    t = rng.standard_normal(3000)
    table = np.column_stack([t, 1.0 + 2.0 * t + 0.01 * rng.standard_normal(3000)])
    np.save(tmp_path / "t.npy", table)
    loss = so.DataLoss("(y - a - b*t)**2", data="t y", wrt="a b", reduce="mean")
    whole = so.minimize(loss, [0.0, 0.0], data={"t": table[:, 0], "y": table[:, 1]})
    mapped = np.load(tmp_path / "t.npy", mmap_mode="r")
    chunked = so.minimize(loss, [0.0, 0.0], data=mapped)
    assert chunked.success
    np.testing.assert_allclose(chunked.x, whole.x, rtol=1e-10)


@pytest.mark.parametrize("data, chunked", [
    ({"t": np.zeros(3)}, False), (np.zeros((3, 2)), False), (None, False),
    ("table.npy", True), ("x1,x2,y", False), (["a.npy", "b.npy"], True), (lambda: iter(()), True),
])
def test_which_data_are_read_in_chunks(data, chunked):
    assert _routes.is_chunked_data(data) is chunked


def test_constraints_with_data_rows_are_refused_clearly():
    loss = so.DataLoss("(y - a*t)**2", data="t y", wrt="a")
    with pytest.raises(InputError, match="data"):
        so.minimize(loss, [0.0], data={"t": np.ones(3), "y": np.ones(3)}, constraints=["a >= 0"])


@pytest.mark.slow
def test_minimize_many_with_constraints_solves_each_instance():
    # min (x - a)^2 + y^2 s.t. x + y == 1: by hand x = (1 + a)/2, y = (1 - a)/2
    problem = so.Problem("(x - a)**2 + y**2", params="a")
    res = so.minimize_many(problem, [0.0, 0.0], params=np.array([[0.0], [1.0], [3.0]]),
                           constraints=["x + y == 1"], threads=1)
    a = np.array([0.0, 1.0, 3.0])
    np.testing.assert_allclose(res.x, np.column_stack([(1 + a) / 2, (1 - a) / 2]), atol=1e-8)
