"""The method registry: one record per solver method, the only place its facts live.

A :class:`Method` row says where the compiled solver is (module and function), what kind
of problem it solves, which kernels it calls, whether it takes box bounds and a step,
which matrix it returns, and its options (:class:`Option`: keyword, ABI slot, check,
default).  Every method list, alias map, default table and entry-point table of symopt is
derived from these rows: ``symopt.METHODS``, ``symopt.solvers.METHODS``/``DEFAULTS``/
``BOUNDED_METHODS``, ``minimize``'s option checks, the entry points of
:mod:`symopt._binding`, ``compare``'s list and the command line's method help.

Adding a method is one solver module plus one :func:`register` call (see
docs/contributing.md); this module imports nothing heavy (no Numba), so reading the
registry compiles nothing.

Examples
--------
>>> from symopt.solvers import registry
>>> registry.lookup("l-bfgs").name
'lbfgs'
>>> registry.lookup("bfgs").kernels
('value', 'value_grad')
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .. import abi
from ..errors import InputError

__all__ = ["Option", "Method", "register", "unregister", "lookup", "methods", "names",
           "KINDS", "KERNEL_KINDS", "canonical"]

#: the kinds of method: what problem they take and which entry template calls them
#: ("array": the array-formula methods of symopt.tensor that only it runs, driven by
#: Hessian-vector products or a banded Hessian)
KINDS = ("scalar", "least_squares", "minibatch", "constrained", "array")
#: the kernels a method may call (``Method.kernels``); the last five are those of
#: symopt.tensor (band) and symopt.constrained
KERNEL_KINDS = ("value", "value_grad", "hessian", "hvp", "residuals", "jacobian", "band", "coo",
                "constraints", "constraints_jacobian", "lagrangian_hessian", "al_value",
                "al_value_grad")


# --- option checks: (name, value) -> the float stored in the options array ---------------

def check_nonnegative(name: str, value: Any) -> float:
    """A finite number >= 0."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not (value >= 0.0 and math.isfinite(value)):
        raise InputError(f"{name} must be finite and >= 0, got {value!r}")
    return value


def check_positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    value = check_nonnegative(name, value)
    if value == 0.0:
        raise InputError(f"{name} must be > 0")
    return value


def check_fraction(name: str, value: Any) -> float:
    """A number in (0, 1)."""
    value = check_nonnegative(name, value)
    if not 0.0 < value < 1.0:
        raise InputError(f"{name} must be in (0, 1), got {value!r}")
    return value


def _is_int(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_memory(name: str, value: Any) -> float:
    """An integer from 1 to 1000."""
    if not _is_int(value) or not 1 <= value <= 1000:
        raise InputError(f"{name} must be an integer from 1 to 1000, got {value!r}")
    return float(value)


def check_max_iter(name: str, value: Any) -> float:
    """A non-negative integer."""
    if not _is_int(value) or value < 0:
        raise InputError(f"{name} must be a non-negative integer, got {value!r}")
    return float(int(value))


def check_factor(name: str, value: Any) -> float:
    """Levenberg-Marquardt's step bound factor: a number > 0."""
    value = check_nonnegative(name, value)
    if value == 0.0:
        raise InputError("factor must be > 0 (MINPACK's default is 100)")
    return value


def check_positive_int(name: str, value: Any) -> float:
    """An integer >= 1."""
    if not _is_int(value) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return float(int(value))


def check_scale_gradient(name: str, value: Any) -> float:
    """The constrained methods' gradient scaling: ``False`` or 0 turn it off (stored as
    -1), a number > 0 is the largest scaled gradient (0: the solver's default)."""
    if value is False or (not isinstance(value, bool) and value == 0):
        return -1.0
    return check_positive(name, value)


def check_schedule(name: str, value: Any) -> float:
    """A schedule name of :data:`symopt.solvers.first_order.SCHEDULES`, as its code."""
    from .first_order import SCHEDULES

    if value not in SCHEDULES:
        raise InputError(f"schedule must be one of {', '.join(map(repr, SCHEDULES))}, got {value!r}")
    return float(SCHEDULES[value])


def _trusted(name: str, value: Any) -> float:
    return float(value)


# --- the records ------------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    """One option of a method.

    ``name`` is the keyword of :func:`symopt.minimize` (and the key in ``DEFAULTS``);
    ``slot`` its index in the options array (:mod:`symopt.abi`), or the dotted name of
    that index in a package's own ABI module (``"symopt.constrained.abi.OPT_TOL"``,
    imported only by :meth:`index`, so that reading the registry imports no package);
    ``check(name, value)``
    validates a user's value and returns the float stored; ``default`` is stored when
    the option is not given (``None``: nothing stored, the slot keeps another option's
    value); ``keyword=False`` marks an internal constant a user cannot set;
    ``refusal`` is the message given when a method that lacks the option is passed it
    (``{name}``, ``{methods}``, ``{method}`` are filled in)."""

    name: str
    slot: int | str
    check: Callable[[str, Any], float]
    default: Any
    doc: str = ""
    keyword: bool = True
    encode: Callable[[str, Any], float] = field(default=_trusted, compare=False)
    refusal: str = ""

    def index(self) -> int:
        """The slot as an integer (a dotted name is looked up in its module)."""
        if isinstance(self.slot, int):
            return self.slot
        module, _, attribute = self.slot.rpartition(".")
        return getattr(importlib.import_module(module), attribute)

    def stored_default(self) -> float:
        """The float stored for the default (trusted, not checked: 0 may mean "the
        solver's own default")."""
        return self.encode(self.name, self.default)


@dataclass(frozen=True)
class Method:
    """One solver method: everything symopt needs to know to call it.

    ``module`` (an import name) and ``function`` name the compiled solver (``solve(...)`` with the
    signature of its ``kind``: scalar methods :data:`symopt.abi.solver_sig`, least
    squares :data:`symopt.abi.ls_solver_sig`); ``kernels`` the kernels it calls
    (a subset of :data:`KERNEL_KINDS`: only those are derived and compiled); ``matrix``
    the result field its ``H_out`` goes to (``"hess"``, ``"hess_inv"`` or ``None``:
    no matrix, ``H_out`` is 0 x 0); ``options`` every option it reads, common ones
    included."""

    name: str
    module: str
    function: str
    kind: str
    kernels: tuple[str, ...]
    options: tuple[Option, ...]
    aliases: tuple[str, ...] = ()
    takes_bounds: bool = False
    takes_step: bool = False
    matrix: str | None = None
    doc: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InputError(f"method {self.name!r}: kind must be one of {', '.join(KINDS)}, "
                             f"got {self.kind!r}")
        unknown = set(self.kernels) - set(KERNEL_KINDS)
        if unknown:
            raise InputError(f"method {self.name!r}: unknown kernel kind(s) "
                             f"{', '.join(sorted(unknown))}; the kinds are {', '.join(KERNEL_KINDS)}")

    @property
    def defaults(self) -> dict[str, Any]:
        """``{option name: default}`` of the options with a default."""
        return {o.name: o.default for o in self.options if o.default is not None}

    def option(self, name: str) -> Option | None:
        """The option called ``name`` that a user may set, or ``None``."""
        for o in self.options:
            if o.name == name and o.keyword:
                return o
        return None

    @property
    def calls_hessian(self) -> bool:
        return "hessian" in self.kernels

    @property
    def qualified_module(self) -> str:
        """The solver module's import name (kept for symmetry with older callers)."""
        return self.module


# --- the registry itself ----------------------------------------------------------------

_ROWS: dict[tuple[str, str], Method] = {}  # (namespace, name) -> row; in registration order
_ALIASES: dict[tuple[str, str], str] = {}  # (namespace, alias) -> name
#: callbacks run after a change, so derived tables (the package's METHODS...) follow
_listeners: list[Callable[[], None]] = []


#: kinds with a namespace of their own: mini-batch training has its own method names
#: ("sgd", and an "adam" of its own), symopt.tensor its own "trust-ncg" (by Hessian-vector
#: products), and the constrained names never stand for an unconstrained solver
_OWN_NAMESPACE = ("minibatch", "constrained", "array")


def _namespace(kind: str) -> str:
    return kind if kind in _OWN_NAMESPACE else "full"


def _space(minibatch: bool, kind: str | None) -> str:
    return _namespace(kind) if kind is not None else ("minibatch" if minibatch else "full")


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "-")


def register(method: Method) -> Method:
    """Add ``method`` (replacing a row of the same name) and return it.

    Raises
    ------
    InputError
        If one of its aliases already names another method.
    """
    space = _namespace(method.kind)
    for alias in (method.name,) + method.aliases:
        owner = _ALIASES.get((space, _key(alias)))
        if owner is not None and owner != method.name:
            raise InputError(f"alias {alias!r} of method {method.name!r} already names "
                             f"method {owner!r}")
    if (space, method.name) in _ROWS:
        unregister(method.name, kind=method.kind)
    _ROWS[(space, method.name)] = method
    for alias in (method.name,) + method.aliases:
        _ALIASES[(space, _key(alias))] = method.name
        _ALIASES[(space, _key(alias).replace("_", "-"))] = method.name
    _changed()
    return method


def unregister(name: str, kind: str = "scalar") -> None:
    """Remove the method called ``name`` (its aliases go with it); no error if absent."""
    space = _namespace(kind)
    method = _ROWS.pop((space, name), None)
    if method is None:
        return
    for key in [k for k, v in _ALIASES.items() if k[0] == space and v == name]:
        del _ALIASES[key]
    _changed()


def on_change(callback: Callable[[], None]) -> None:
    """Call ``callback()`` after every :func:`register` / :func:`unregister`."""
    _listeners.append(callback)


def _changed() -> None:
    for callback in _listeners:
        callback()


def canonical(name: Any, minibatch: bool = False, kind: str | None = None) -> str | None:
    """The method name ``name`` (a name or alias, any case) stands for, or ``None``
    (among the scalar and least-squares methods, or those of ``kind``)."""
    if type(name) is not str:
        return None
    space = _space(minibatch, kind)
    found = _ALIASES.get((space, name))
    if found is None:
        found = _ALIASES.get((space, _key(name)))
    return found


def lookup(name: Any, minibatch: bool = False, kind: str | None = None) -> Method:
    """The row of the method ``name`` (a name or alias, any case), among the scalar and
    least-squares methods, or those of ``kind`` (``"constrained"``, ``"array"``...).

    Raises
    ------
    InputError
        For an unknown method, listing the known ones.
    """
    space = _space(minibatch, kind)
    found = canonical(name, kind=space) if space != "full" else canonical(name)
    if found is None:
        known = names(space) if space != "full" else names()
        raise InputError(f"unknown method {name!r}; choose one of {', '.join(known)}")
    return _ROWS[(space, found)]


def methods(*kinds: str) -> tuple[Method, ...]:
    """The rows of the given kinds (default: every full-batch kind), in registration order."""
    kinds = kinds or ("scalar", "least_squares")
    return tuple(m for m in _ROWS.values() if m.kind in kinds)


def names(*kinds: str) -> tuple[str, ...]:
    """The names of :func:`methods`."""
    return tuple(m.name for m in methods(*kinds))


def alias_map(*kinds: str) -> dict[str, str]:
    """``{alias: name}`` for the rows of ``kinds`` (names map to themselves)."""
    kinds = kinds or ("scalar", "least_squares")
    wanted = set(names(*kinds))
    spaces = {_namespace(kind) for kind in kinds}
    return {alias: name for (space, alias), name in _ALIASES.items()
            if name in wanted and space in spaces}


def methods_taking(option: str, *kinds: str) -> tuple[str, ...]:
    """The methods (of ``kinds``) that take the keyword ``option``."""
    return tuple(m.name for m in methods(*kinds) if m.option(option) is not None)


def keyword_options(*kinds: str) -> tuple[str, ...]:
    """Every keyword option some method of ``kinds`` takes, in first-seen order."""
    seen: dict[str, None] = {}
    for m in methods(*kinds):
        for o in m.options:
            if o.keyword:
                seen.setdefault(o.name, None)
    return tuple(seen)


def refuse(option: str, method: Method, kinds: Iterable[str] = ("scalar", "least_squares")) -> InputError:
    """The error for ``option`` given to ``method``, which does not take it."""
    takers = methods_taking(option, *kinds)
    template = ""
    for row in methods(*kinds):
        if row.name in takers:
            template = row.option(option).refusal or template
            if template:
                break
    template = template or "{name}= is an option of {methods}; method {method!r} does not take it"
    return InputError(template.format(name=option, methods=", ".join(takers), method=method.name))


# --- the built-in methods ---------------------------------------------------------------
#
# Why these values (all measured on the MGH problems in tests/test_solvers.py):
# - gtol 1e-10 (absolute, on ||g||_inf): Newton and BFGS converge superlinearly, so
#   it costs them about one iteration more than 1e-8 and gives x to ~1e-10/curvature
#   instead of ~1e-8/curvature.  When roundoff keeps ||g|| above it (large f, badly
#   scaled x), the ftol/xtol tests and the line searches' roundoff rule stop the solve
#   with a success status instead.
# - ftol 1e-15 (relative decrease of f in one iteration): about 4.5 ulps, so it fires
#   only once f has stopped changing beyond rounding; a larger value stops BFGS early
#   on problems whose minimum value is large (Freudenstein-Roth's local minimum 48.98).
# - xtol 1e-15 (step relative to ||x||_inf): x has stopped moving in floating point.
# - max_iter: Newton needs ~110 and BFGS ~150 iterations on Powell's badly scaled
#   problem, the hardest of the set; gradient descent converges linearly and needs many.
# - c1 1e-4, c2 0.9: Nocedal & Wright's standard constants for Newton-type methods.
# - max_ls 60: enough to shrink a step by more than 1e-18 (or grow it by 1e36).

_STEP_REFUSAL = ("step= sets the step length (learning rate) of {methods}; method {method!r} "
                 "takes no step")


def common_options(*, gtol=1e-10, ftol=1e-15, xtol=1e-15, max_iter: int, step=0.0,
                   step_keyword: bool = False, c1=1e-4, c2=0.9, max_ls=60) -> tuple[Option, ...]:
    """The options every scalar and least-squares method reads (``abi.OPT_GTOL`` ...
    ``OPT_MAX_LS``), with the given defaults; ``step_keyword``: a user may set ``step``."""
    return (
        Option("gtol", abi.OPT_GTOL, check_nonnegative, gtol,
               "stop when the gradient's infinity norm is at most gtol (also: tol)"),
        Option("ftol", abi.OPT_FTOL, check_nonnegative, ftol,
               "stop when the relative decrease of the loss is at most ftol"),
        Option("xtol", abi.OPT_XTOL, check_nonnegative, xtol,
               "stop when the step is at most xtol relative to x"),
        Option("max_iter", abi.OPT_MAX_ITER, check_max_iter, max_iter, "iteration limit"),
        Option("step", abi.OPT_STEP, check_positive, step,
               "a fixed step length (gd) or learning rate", keyword=step_keyword,
               refusal=_STEP_REFUSAL),
        Option("c1", abi.OPT_C1, check_nonnegative, c1, "Armijo constant", keyword=False),
        Option("c2", abi.OPT_C2, check_nonnegative, c2, "curvature constant", keyword=False),
        Option("max_ls", abi.OPT_MAX_LS, check_nonnegative, max_ls,
               "trial steps per line search", keyword=False),
    )


def _first_order_options(step: float, adam: bool = False) -> tuple[Option, ...]:
    # The fixed-step methods.  Their step is a learning rate, not searched, so defaults
    # must be safe rather than fast: momentum/Nesterov with step 1e-2 and mu 0.9 move
    # with an effective step of step / (1 - mu) = 0.1 along slowly changing gradients,
    # and the heavy ball is stable for curvature L while step * L < 2 (1 + mu), i.e.
    # L < 380 (Rosenbrock's valley, L ~ 1000 at the start, needs a smaller step); Adam's
    # 1e-3, 0.9, 0.999, 1e-8 are Kingma & Ba's.  gtol 1e-6: a constant-step method does
    # not home in to 1e-10 in any reasonable number of iterations (Adam's steps stay
    # ~step in size until its second moment forgets the early gradients); ask for it
    # with a decaying schedule.  ftol and xtol are 0 (only exact stagnation stops): a
    # momentum method slows to turn round, and their tests would stop it there; when
    # set they must hold for PATIENCE (10) iterations in a row.
    options = common_options(gtol=1e-6, ftol=0.0, xtol=0.0, max_iter=10_000, step=step,
                             step_keyword=True) + (
        Option("momentum", abi.OPT_MOMENTUM, check_fraction, 0.9,
               "momentum coefficient (adam: beta1)"),
        Option("schedule", abi.OPT_SCHEDULE, check_schedule, "constant",
               "learning-rate schedule", encode=check_schedule),
        Option("decay", abi.OPT_DECAY, check_positive, 0.0, "the schedule's rate"),
    )
    if adam:
        options += (
            Option("beta2", abi.OPT_BETA2, check_fraction, 0.999, "second-moment coefficient"),
            Option("eps", abi.OPT_EPS, check_positive, 1e-8, "denominator guard"),
        )
    return options


def _least_squares_options(max_iter: int, lm: bool) -> tuple[Option, ...]:
    # gtol 0: cosine between r and the columns of J; 0 = rely on ftol/xtol (MINPACK's
    # gtol = 0).  ftol 1e-15: relative reduction of ||r||^2 (actual and predicted),
    # ~4.5 ulps; sqrt(eps) stops badly scaled fits (Meyer, Thurber, MGH09...) digits
    # short of the solution.  xtol: trust radius (LM) / next Gauss-Newton step (GN)
    # relative to ||D x||.  step: LM's initial trust radius factor (0 = 100, MINPACK's
    # default); unused by GN.  c1, max_ls: GN's Armijo line search (c2 unused).
    options = common_options(gtol=0.0, max_iter=max_iter)
    if lm:
        options += (Option(
            "factor", abi.OPT_STEP, check_factor, None,
            "the initial trust radius is factor * ||D x0|| (MINPACK's step bound factor)",
            refusal="factor= sets the initial trust radius of Levenberg-Marquardt (method "
                    "'lm'); method {method!r} takes no factor"),)
    return options


_SCALAR_FIRST = ("value", "value_grad")
_SCALAR_SECOND = ("value", "value_grad", "hessian")


def _builtin() -> None:
    register(Method(
        "newton", "symopt.solvers.newton", "solve", "scalar", _SCALAR_SECOND, common_options(max_iter=200),
        matrix="hess", doc="modified-Cholesky Newton / Armijo backtracking"))
    register(Method(
        "bfgs", "symopt.solvers.quasi_newton", "solve", "scalar", _SCALAR_FIRST,
        common_options(max_iter=1000), matrix="hess_inv",
        doc="inverse-Hessian BFGS / strong Wolfe"))
    # L-BFGS: as BFGS; memory 10 as scipy's L-BFGS-B (N&W: 3-20 work well).  It needs a
    # few more iterations than BFGS (~1.3x on the MGH problems), hence the limit.
    register(Method(
        "lbfgs", "symopt.solvers.lbfgs", "solve", "scalar", _SCALAR_FIRST,
        common_options(max_iter=2000) + (
            Option("memory", abi.OPT_MEMORY, check_memory, 10, "stored correction pairs"),),
        aliases=("l-bfgs", "l_bfgs"), takes_bounds=True,
        doc="L-BFGS two-loop recursion / strong Wolfe (bounds: L-BFGS-B)"))
    # trust regions: as Newton; radius 1 as scipy's trust-ncg (the radius adapts in a
    # few steps; a badly scaled start may want a different one)
    radius = Option("radius", abi.OPT_RADIUS, check_positive, 1.0, "initial trust radius")
    register(Method(
        "trust-ncg", "symopt.solvers.trust_region", "solve", "scalar", _SCALAR_SECOND,
        common_options(max_iter=500) + (radius,), aliases=("trust_ncg",), matrix="hess",
        doc="Steihaug-Toint truncated CG / trust region"))
    register(Method(
        "trust-exact", "symopt.solvers.trust_region", "solve_exact", "scalar", _SCALAR_SECOND,
        common_options(max_iter=500) + (radius,), aliases=("trust_exact",), matrix="hess",
        doc="More-Sorensen nearly exact step / trust region"))
    register(Method(
        "gd", "symopt.solvers.gradient", "solve", "scalar", _SCALAR_FIRST,
        common_options(max_iter=10_000, step_keyword=True),
        aliases=("gradient_descent", "gradient-descent", "steepest_descent"),
        takes_bounds=True, takes_step=True,
        doc="-g / fixed step or Armijo backtracking (bounds: projected)"))
    register(Method(
        "momentum", "symopt.solvers.first_order", "solve_momentum", "scalar", _SCALAR_FIRST,
        _first_order_options(1e-2), aliases=("heavy-ball", "heavy_ball"),
        takes_bounds=True, takes_step=True,
        doc="heavy-ball momentum / fixed step with a schedule"))
    register(Method(
        "nesterov", "symopt.solvers.first_order", "solve_nesterov", "scalar", _SCALAR_FIRST,
        _first_order_options(1e-2), takes_bounds=True, takes_step=True,
        doc="Nesterov momentum / fixed step with a schedule"))
    register(Method(
        "adam", "symopt.solvers.first_order", "solve_adam", "scalar", _SCALAR_FIRST,
        _first_order_options(1e-3, adam=True), takes_bounds=True, takes_step=True,
        doc="Adam / fixed step with a schedule"))
    # LM's max_iter counts trial steps (MINPACK's maxfev, whose lmder1 default is
    # 100 (n + 1)); hard problems take hundreds (MGH10 Meyer 131, NIST MGH09 from start 1
    # 505 with n = 4), so the limit is a fixed, generous 2000.
    register(Method(
        "lm", "symopt.solvers.least_squares", "solve_lm", "least_squares", ("residuals", "jacobian"),
        _least_squares_options(2000, lm=True),
        aliases=("levenberg-marquardt", "levenberg_marquardt"), takes_bounds=True,
        doc="Levenberg-Marquardt (MINPACK's trust region, QR with column pivoting)"))
    register(Method(
        "gn", "symopt.solvers.least_squares", "solve_gn", "least_squares", ("residuals", "jacobian"),
        _least_squares_options(500, lm=False),
        aliases=("gauss-newton", "gauss_newton"), takes_bounds=True,
        doc="Gauss-Newton (QR) / Armijo backtracking"))
    # Mini-batch training (symopt.stochastic): the learning rates are the usual ones
    # (PyTorch, Keras); SGD has no momentum unless asked (momentum=0.9 is the common
    # choice); Adam's moments are those of Kingma & Ba (2015).
    epochs = (Option("batch_size", -1, check_positive, 32, "rows per update"),
              Option("epochs", -1, check_positive, 10, "passes over the rows"))
    register(Method(
        "sgd", "symopt.stochastic", "_epoch", "minibatch", ("value_grad",),
        (Option("step", abi.OPT_STEP, check_positive, 0.01, "learning rate"),
         Option("momentum", abi.OPT_MOMENTUM, check_nonnegative, 0.0, "momentum")) + epochs,
        takes_step=True, doc="mini-batch stochastic gradient descent"))
    register(Method(
        "adam", "symopt.stochastic", "_epoch", "minibatch", ("value_grad",),
        (Option("step", abi.OPT_STEP, check_positive, 0.001, "learning rate"),
         Option("momentum", abi.OPT_MOMENTUM, check_nonnegative, 0.9, "beta1"),
         Option("beta2", abi.OPT_BETA2, check_nonnegative, 0.999, "second-moment coefficient"),
         Option("eps", abi.OPT_EPS, check_positive, 1e-8, "denominator guard")) + epochs,
        takes_step=True, doc="mini-batch Adam"))


_builtin()


# --- the methods of the packages with their own front ends ------------------------------
#
# Their rows say the same as a scalar method's (name, aliases, module, options with their
# slots, checks and defaults); symopt.minimize routes to the package (symopt._routes),
# which reads its rows with ``lookup(name, kind=...)``.  Slots are dotted names in the
# package's ABI module, so that listing them imports nothing.


def _array_options(max_iter: int, radius: bool = False) -> tuple[Option, ...]:
    # as the scalar methods, but gtol 1e-8: a Hessian-vector-product Newton step is
    # inexact (its CG stops at a relative residual of min(0.5, sqrt(||g||))), so the last
    # digits of the gradient cost iterations the dense methods do not pay
    options = common_options(gtol=1e-8, max_iter=max_iter)
    if radius:
        options += (Option("radius", abi.OPT_RADIUS, check_positive, 1.0,
                           "initial trust radius"),)
    return options


def _array_methods() -> None:
    register(Method(
        "trust-ncg", "symopt.tensor.solvers", "trust_ncg", "array", ("value", "value_grad", "hvp"),
        _array_options(500, radius=True), aliases=("trust_ncg",),
        doc="Steihaug-Toint truncated CG on Hessian-vector products / trust region"))
    register(Method(
        "newton-cg", "symopt.tensor.solvers", "newton_cg", "array", ("value", "value_grad", "hvp"),
        _array_options(500), aliases=("newton_cg",),
        doc="truncated Newton (CG on Hessian-vector products) / Armijo backtracking"))
    register(Method(
        "banded-newton", "symopt.tensor.solvers", "banded_newton", "array",
        ("value", "value_grad", "band"), _array_options(200),
        aliases=("banded_newton",), matrix="hess_band",
        doc="Newton with the banded Hessian of a separable loss / Armijo backtracking"))
    register(Method(
        "sparse-newton", "symopt.tensor.solvers", "sparse_newton", "array",
        ("value", "value_grad", "coo"), _array_options(200),
        aliases=("sparse_newton",), matrix="hess_csr",
        doc="Newton with the CSR Hessian of a separable loss (Jacobi-preconditioned CG) / "
            "Armijo backtracking; banded-newton when the Hessian is banded"))


_CONSTRAINED_ABI = "symopt.constrained.abi."


def _constrained_options(max_iter: int, *extra: Option) -> tuple[Option, ...]:
    # tol, constr_tol: None stores 0, the solvers' own defaults (1e-8 each, scaled as
    # Ipopt's tol); max_iter: ipm and kkt count iterations, auglag outer iterations
    return (
        Option("tol", _CONSTRAINED_ABI + "OPT_TOL", check_positive, None,
               "KKT tolerance (0: 1e-8, scaled as Ipopt's)"),
        Option("constr_tol", _CONSTRAINED_ABI + "OPT_CONSTR_TOL", check_positive, None,
               "constraint violation accepted at a solution (0: 1e-8)"),
        Option("max_iter", _CONSTRAINED_ABI + "OPT_MAX_ITER", check_positive_int, max_iter,
               "iteration limit"),
        Option("scale_gradient", _CONSTRAINED_ABI + "OPT_SCALE_GRADIENT", check_scale_gradient,
               None, "largest scaled start gradient (False: no scaling)"),
    ) + extra


def _constrained_methods() -> None:
    register(Method(
        "ipm", "symopt.constrained.interior_point", "solve", "constrained",
        ("value", "value_grad", "constraints", "constraints_jacobian", "lagrangian_hessian"),
        _constrained_options(
            3000,
            Option("mu_init", _CONSTRAINED_ABI + "OPT_MU_INIT", check_positive, None,
                   "initial barrier parameter (0: 1)"),
            Option("bound_push", _CONSTRAINED_ABI + "OPT_BOUND_PUSH", check_positive, None,
                   "how far the start is pushed inside its bounds (0: 1e-2)")),
        aliases=("interior-point", "interior_point", "barrier"), takes_bounds=True,
        doc="primal-dual interior point with a filter line search (Ipopt's)"))
    register(Method(
        "auglag", "symopt.constrained.augmented_lagrangian", "solve", "constrained",
        ("value", "value_grad", "constraints", "constraints_jacobian", "al_value",
         "al_value_grad"),
        _constrained_options(
            100,
            Option("rho_init", _CONSTRAINED_ABI + "OPT_RHO_INIT", check_positive, None,
                   "initial penalty parameter (0: chosen from f and c)"),
            Option("inner_max_iter", _CONSTRAINED_ABI + "OPT_INNER_MAX_ITER",
                   check_positive_int, None, "L-BFGS-B iterations per subproblem (0: 5000)"),
            Option("memory", _CONSTRAINED_ABI + "OPT_MEMORY", check_positive_int, None,
                   "L-BFGS-B memory (0: 10)")),
        aliases=("augmented-lagrangian", "augmented_lagrangian", "al"), takes_bounds=True,
        doc="augmented Lagrangian with L-BFGS-B subproblems (derivatives only)"))
    register(Method(
        "kkt", "symopt.constrained.kkt", "solve", "constrained",
        ("value", "value_grad", "constraints", "constraints_jacobian", "lagrangian_hessian"),
        _constrained_options(200), aliases=("newton-kkt", "newton_kkt"),
        doc="Newton's method on the KKT system (equality constraints, no bounds)"))


_array_methods()
_constrained_methods()
