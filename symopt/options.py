"""One options object for every solve: :class:`SolveOptions`.

``minimize``, ``minimize_many``, ``symopt.dask``, ``compare``, ``fit`` and
``solver_options`` build one :class:`SolveOptions` from their keywords and read the
options array from it, so a keyword means the same thing, and is checked the same way,
everywhere.  Which method takes which option, its ABI slot, check and default come from
the method registry (:mod:`symopt.solvers.registry`).

Examples
--------
>>> from symopt import abi
>>> from symopt.options import SolveOptions
>>> o = SolveOptions.build("l-bfgs", memory=5, gtol=1e-8)
>>> o.method, float(o.array()[abi.OPT_MEMORY]), o.max_iter
('lbfgs', 5.0, 2000)
>>> SolveOptions.build("newton") == SolveOptions.build("newton", gtol=None)
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from . import abi
from .errors import InputError
from .solvers import registry

__all__ = ["SolveOptions", "check_seed"]

#: the options every full-batch method reads, checked first, in this order
_COMMON = ("gtol", "ftol", "xtol", "max_iter", "step", "factor")
_NUMBER_TYPES = (str, int, float, np.integer, np.floating)


@dataclass(frozen=True)
class SolveOptions:
    """The options of one solve: the method's canonical name and the options given
    (``(name, value)`` pairs, sorted, ``None`` left out).  Frozen and hashable: the
    options array (:meth:`array`) is built once per distinct value."""

    method: str
    given: tuple[tuple[str, Any], ...] = ()
    #: the method's kind (registry row), kept for the callers' checks
    kind: str = field(default="", compare=False)

    @classmethod
    def build(cls, method: Any, *, tol: Any = None, **keywords: Any) -> "SolveOptions":
        """The options of a solve of ``method`` with ``keywords`` (see :meth:`_build`);
        remembered, so a repeated solve with the same keywords checks nothing again."""
        try:
            # the types too: 1 == True, but max_iter=True is refused and max_iter=1 is not
            key = (method, tol, type(tol), tuple(keywords.items()),
                   tuple(map(type, keywords.values())))
            return _built[key]
        except KeyError:
            built = cls._build(method, tol=tol, **keywords)
            if len(_built) < 4096:
                _built[key] = built
            return built
        except TypeError:  # an unhashable value: checked (and refused) below
            return cls._build(method, tol=tol, **keywords)

    @classmethod
    def _build(cls, method: Any, *, tol: Any = None, **keywords: Any) -> "SolveOptions":
        """Check the keywords against ``method``'s registry row.

        ``tol`` is scipy's name for ``gtol``.  ``None`` means "the default".

        Raises
        ------
        InputError
            For an unknown method, an unknown option, an option ``method`` does not take
            (naming the methods that do) or a bad value.
        """
        row = registry.lookup(method)
        if tol is not None and keywords.get("gtol") is None:
            keywords["gtol"] = tol
        given = {k: v for k, v in keywords.items() if v is not None}
        known = registry.keyword_options()
        unknown = sorted(set(given) - set(known))
        if unknown:
            specific = [k for k in known if k not in _COMMON]
            raise InputError(f"unknown option(s) {', '.join(unknown)}; the method-specific "
                             f"options are {', '.join(specific)}")
        for name in sorted(given, key=lambda k: (_COMMON.index(k) if k in _COMMON else 99, k)):
            value = given[name]
            option = row.option(name)
            if option is None:
                raise registry.refuse(name, row)
            if name not in _COMMON and not isinstance(value, _NUMBER_TYPES):
                raise InputError(f"{name} must be a number (schedule: a name), got {value!r}")
            option.check(name, value)
        return cls(row.name, tuple(sorted(given.items())), row.kind)

    @property
    def row(self) -> registry.Method:
        """The method's registry row."""
        return registry.lookup(self.method)

    def get(self, name: str, default: Any = None) -> Any:
        """The value given for ``name``, else ``default``."""
        for key, value in self.given:
            if key == name:
                return value
        return default

    def array(self) -> np.ndarray:
        """The options array (``abi.N_OPTS`` floats, :mod:`symopt.abi`'s ``OPT_*``
        layout): the method's defaults with the given values.  Shared: do not modify."""
        return _array(self)[0]

    @property
    def max_iter(self) -> int:
        """The iteration limit in effect."""
        return _array(self)[1]


#: build()'s memory: (method, keywords with their types) -> SolveOptions
_built: dict[tuple, SolveOptions] = {}


def _forget() -> None:
    _built.clear()
    _array.cache_clear()


@lru_cache(maxsize=256)
def _array(options: SolveOptions) -> tuple[np.ndarray, int]:
    row = registry.lookup(options.method)
    given = dict(options.given)
    opts = np.zeros(abi.N_OPTS)
    for option in row.options:
        value = given.get(option.name) if option.keyword else None
        if value is not None:
            opts[option.slot] = option.check(option.name, value)
        elif option.default is not None and option.slot >= 0:
            opts[option.slot] = option.stored_default()
    return opts, int(opts[abi.OPT_MAX_ITER])


registry.on_change(_forget)


def check_seed(seed: Any) -> Any:
    """``seed`` if NumPy's ``default_rng`` takes it (``None``, an integer >= 0, a
    sequence of them, a ``SeedSequence`` or a ``Generator``), else an InputError."""
    if seed is None:
        return seed
    try:
        np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise InputError(f"seed must be None, a non-negative integer or a numpy "
                         f"Generator/SeedSequence, got {seed!r} ({exc})") from None
    return seed
