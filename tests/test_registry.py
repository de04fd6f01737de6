"""The method registry (symopt.solvers.registry): one row per method, every table derived.

The proof of the one-place claim: a toy fixed-step gradient method, written here, is
registered through the registry alone and solves a problem through ``minimize``,
``minimize_many`` and ``compare``; then it is removed again.
"""

import importlib
import math
import sys

import numba
import numpy as np
import pytest

import symopt as so
from symopt import abi
from symopt.minimize import BOUNDED_METHODS
from symopt.options import SolveOptions
from symopt.solvers import registry
from symopt.solvers.status import MAX_ITER, NAN_ENCOUNTERED, SUCCESS_GTOL


@numba.njit(abi.solver_sig, nogil=True, error_model="numpy")
def toy_solve(value, value_grad, value_grad_hess, x, p, data, opts, info, hist, g_out, H_out):
    """Fixed-step gradient descent: x <- x - step g until ||g||_inf <= gtol."""
    step = opts[abi.OPT_STEP]
    gtol = opts[abi.OPT_GTOL]
    max_iter = int(opts[abi.OPT_MAX_ITER])
    info[:] = 0
    f = value_grad(x, p, data, g_out)
    info[abi.INFO_NFEV] = 1
    info[abi.INFO_NJEV] = 1
    status = MAX_ITER
    k = 0
    while k < max_iter:
        if not math.isfinite(f):
            status = NAN_ENCOUNTERED
            break
        if np.max(np.abs(g_out)) <= gtol:
            status = SUCCESS_GTOL
            break
        x -= step * g_out
        f = value_grad(x, p, data, g_out)
        info[abi.INFO_NFEV] += 1
        info[abi.INFO_NJEV] += 1
        k += 1
    info[abi.INFO_NIT] = k
    info[abi.INFO_STATUS] = status
    return f


TOY = registry.Method(
    "toy-gd", __name__, "toy_solve", "scalar", ("value", "value_grad"),
    registry.common_options(gtol=1e-8, max_iter=5000, step=0.1, step_keyword=True),
    aliases=("toy_gd", "toy"), takes_step=True, doc="fixed-step gradient descent (a test)")

QUADRATIC = "(x - 1)**2 + 2*(y + 0.5)**2"


@pytest.fixture
def toy():
    registry.register(TOY)
    yield TOY
    registry.unregister(TOY.name)


def test_a_registered_method_solves_through_minimize(toy):
    res = so.minimize(QUADRATIC, [3.0, 2.0], method="toy")
    assert res.success and res.method == "toy-gd"
    np.testing.assert_allclose(res.x, [1.0, -0.5], atol=1e-8)
    res = so.minimize(QUADRATIC, [3.0, 2.0], method="TOY_GD", step=0.05, gtol=1e-10)
    assert res.success and np.abs(res.jac).max() <= 1e-10


def test_a_registered_method_solves_through_minimize_many(toy):
    starts = np.array([[3.0, 2.0], [-1.0, 0.0], [0.0, 5.0]])
    res = so.minimize_many(QUADRATIC, starts, method="toy-gd")
    assert res.success.all()
    np.testing.assert_allclose(res.x, [[1.0, -0.5]] * 3, atol=1e-8)


def test_a_registered_method_solves_through_compare(toy):
    runs = so.compare(QUADRATIC, [3.0, 2.0], ["toy-gd", "newton"], repeat=1)
    assert runs["toy-gd"].success
    np.testing.assert_allclose(runs["toy-gd"].x, runs["newton"].x, atol=1e-8)


def test_registering_updates_the_derived_tables(toy):
    assert "toy-gd" in so.METHODS
    assert "toy-gd" in so.solvers.METHODS and "toy-gd" in so.solvers.DEFAULTS
    from symopt.compare import applicable_methods

    assert "toy-gd" in applicable_methods(so.Problem(QUADRATIC))
    registry.unregister("toy-gd")
    m = sys.modules["symopt.minimize"]

    assert "toy-gd" not in m.METHODS and "toy-gd" not in so.solvers.METHODS
    with pytest.raises(so.InputError, match="unknown method 'toy'"):
        so.minimize(QUADRATIC, [3.0, 2.0], method="toy")


def test_every_table_agrees_with_the_registry():
    from symopt import solvers
    from symopt.solvers import least_squares
    from symopt.stochastic import MINIBATCH_DEFAULTS

    m = sys.modules["symopt.minimize"]
    rows = registry.methods()
    assert m.METHODS == tuple(r.name for r in rows)
    assert set(solvers.METHODS) == {r.name for r in rows if r.kind == "scalar"}
    assert set(least_squares.METHODS) == {r.name for r in rows if r.kind == "least_squares"}
    assert BOUNDED_METHODS == {r.name for r in rows if r.takes_bounds}
    assert set(solvers.BOUNDED_METHODS) == {r.name for r in rows
                                            if r.takes_bounds and r.kind == "scalar"}
    assert set(solvers.HESSIAN_METHODS) == {r.name for r in rows if "hessian" in r.kernels}
    assert set(MINIBATCH_DEFAULTS) == set(registry.names("minibatch")) == {"sgd", "adam"}
    for r in rows:
        for alias in (r.name,) + r.aliases:
            assert registry.lookup(alias) is r


def test_an_option_a_method_does_not_take_names_the_methods_that_do():
    with pytest.raises(so.InputError, match="memory= is an option of lbfgs; method 'bfgs'"):
        SolveOptions.build("bfgs", memory=5)
    with pytest.raises(so.InputError, match="radius= is an option of trust-ncg, trust-exact"):
        so.minimize(QUADRATIC, [1.0, 1.0], method="newton", radius=2.0)


def test_solve_options_are_hashable_and_equal_by_value():
    a = SolveOptions.build("lbfgs", memory=5, tol=1e-8)
    b = SolveOptions.build("l-bfgs", gtol=1e-8, memory=5)
    assert a == b and hash(a) == hash(b) and a.array() is b.array()
    assert float(a.array()[abi.OPT_GTOL]) == 1e-8


def test_an_alias_of_another_method_cannot_be_registered():
    bad = registry.Method("other", __name__, "toy_solve", "scalar", ("value_grad",),
                          registry.common_options(max_iter=10), aliases=("bfgs",))
    with pytest.raises(so.InputError, match="already names method 'bfgs'"):
        registry.register(bad)
    assert registry.lookup("bfgs").name == "bfgs"


def test_a_row_with_an_unknown_kind_or_kernel_is_refused():
    with pytest.raises(so.InputError, match="kind must be one of"):
        registry.Method("x", __name__, "f", "quantum", (), ())
    with pytest.raises(so.InputError, match="unknown kernel kind"):
        registry.Method("x", __name__, "f", "scalar", ("third_derivative",), ())


@pytest.mark.parametrize("method", ["lm", "gn", "levenberg-marquardt"])
def test_a_least_squares_method_on_a_scalar_loss_says_how_to_write_residuals(method):
    with pytest.raises(so.InputError, match="residuals") as info:
        so.minimize(so.Problem("x**2 + y**2"), [1.0, 1.0], method=method)
    assert "so.LeastSquares" in str(info.value)


@pytest.mark.parametrize("options, message", [
    (dict(gtol=[1e-8]), "gtol must be a number"),      # unhashable: checked uncached
    (dict(max_iter=True), "max_iter must be a non-negative integer"),  # True == 1, refused
    (dict(schedule=["cosine"]), "schedule must be a number"),
])
def test_bad_option_values_are_input_errors(options, message):
    so.minimize(QUADRATIC, [1.0, 1.0], method="momentum", max_iter=1)  # 1 is fine
    with pytest.raises(so.InputError, match=message):
        so.minimize(QUADRATIC, [1.0, 1.0], method="momentum", **options)


# --- the rows of the packages with their own front ends -----------------------------------


def test_constrained_and_array_rows_live_in_their_own_namespaces():
    assert registry.names("constrained") == ("ipm", "auglag", "kkt")
    assert registry.names("array") == ("trust-ncg", "newton-cg", "banded-newton", "sparse-newton")
    # their names never stand for an unconstrained in-memory solver...
    assert registry.canonical("ipm") is None and registry.canonical("newton-cg") is None
    assert "ipm" not in so.METHODS and "newton-cg" not in so.METHODS
    # ...and symopt.tensor's trust-ncg is a row of its own (Hessian-vector products)
    assert registry.lookup("trust-ncg").kernels != registry.lookup("trust-ncg", kind="array").kernels
    assert registry.lookup("barrier", kind="constrained").name == "ipm"
    with pytest.raises(so.InputError, match="ipm, auglag, kkt"):
        registry.lookup("sqp", kind="constrained")


def test_reading_the_rows_imports_no_package():
    import subprocess

    code = ("import sys, symopt; from symopt.solvers import registry; "
            "[o.slot for m in registry.methods(*registry.KINDS) for o in m.options]; "
            "print(any(k in sys.modules for k in ('symopt.constrained', 'symopt.tensor', "
            "'symopt.chunked')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_constrained_rows_agree_with_the_constrained_package():
    # symopt.constrained.minimize reads its names, aliases, slots, checks and defaults
    # from these rows; the solvers' own fallbacks (an options slot left 0) must agree
    from symopt.constrained import abi as cabi

    cmin = importlib.import_module("symopt.constrained.minimize")
    rows = {m.name: m for m in registry.methods("constrained")}
    assert tuple(rows) == tuple(cmin.METHODS)
    for alias, name in registry.alias_map("constrained").items():
        assert cmin._canonical(alias) == name
    for name, module in (("ipm", "interior_point"), ("auglag", "augmented_lagrangian"),
                         ("kkt", "kkt")):
        solver = importlib.import_module(f"symopt.constrained.{module}")
        assert rows[name].defaults["max_iter"] == solver.DEFAULT_MAX_ITER
        opts = cmin._options(name, None, None, None, ())
        assert opts[cabi.OPT_MAX_ITER] == solver.DEFAULT_MAX_ITER and opts[cabi.OPT_TOL] == 0.0
    opts = cmin._options("auglag", 1e-6, None, None, (("memory", 5), ("scale_gradient", False)))
    assert opts[cabi.OPT_TOL] == 1e-6 and opts[cabi.OPT_MEMORY] == 5
    assert opts[cabi.OPT_SCALE_GRADIENT] == -1.0
    with pytest.raises(so.InputError, match="mu_init= is an option of ipm; method 'kkt'"):
        cmin._options("kkt", None, None, None, (("mu_init", 0.1),))
    with pytest.raises(so.InputError, match="max_iter"):
        cmin._options("ipm", None, None, 0, ())


def test_array_rows_give_symopt_tensor_its_names_defaults_and_checks():
    tmin = importlib.import_module("symopt.tensor.minimize")
    from symopt.tensor.solvers import DEFAULTS

    assert tmin.HVP_METHODS == ("trust-ncg", "newton-cg") and tmin.BAND_METHODS == ("banded-newton",)
    assert DEFAULTS["trust-ncg"]["radius"] == 1.0 and DEFAULTS["banded-newton"]["max_iter"] == 200
    opts = tmin._options("trust-ncg", None, None, None, None, {"radius": 2.0})
    assert opts[abi.OPT_RADIUS] == 2.0 and opts[abi.OPT_GTOL] == 1e-8 and opts[abi.OPT_MAX_ITER] == 500
    with pytest.raises(so.InputError, match="radius"):
        tmin._options("newton-cg", None, None, None, None, {"radius": 2.0})
    with pytest.raises(so.InputError, match="gtol"):
        tmin._options("newton-cg", -1.0, None, None, None, {})
    assert tmin._ALIASES["sparse_newton"] == "sparse-newton" and tmin._ALIASES["l-bfgs"] == "lbfgs"


def test_chunked_data_takes_every_scalar_method():
    from symopt.chunked.solve import FULL_BATCH_METHODS

    assert FULL_BATCH_METHODS == registry.names("scalar")
