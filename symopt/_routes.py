"""Which package solves a call of :func:`symopt.minimize` / :func:`symopt.minimize_many`.

``symopt.minimize`` is the one front door.  Scalar problems over in-memory data are solved
by :mod:`symopt.minimize` itself; three kinds of call belong to packages of their own:

- constraints (``constraints=`` or a :class:`symopt.constrained.ConstrainedProblem`):
  :mod:`symopt.constrained`;
- array formulas (a :class:`symopt.tensor.Problem`): :mod:`symopt.tensor`;
- data in chunks (a memory map, a path, a list of chunk files, a function yielding
  chunks, a :class:`symopt.chunked.ChunkSource`, Dask collections): :mod:`symopt.chunked`.

A package is imported only when the call needs it: a problem cannot be an instance of a
class whose module was never imported, so the checks read ``sys.modules``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["solver_for", "many_solver_for", "is_chunked_data"]


def _instance_of(obj: Any, module: str, name: str) -> bool:
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(obj, getattr(loaded, name))


def is_constrained(problem: Any, constraints: Any) -> bool:
    return constraints is not None or _instance_of(
        problem, "symopt.constrained.problem", "ConstrainedProblem")


def is_array_formula(problem: Any) -> bool:
    return _instance_of(problem, "symopt.tensor.problem", "Problem")


def is_chunked_data(data: Any) -> bool:
    """Data that :mod:`symopt.chunked` reads chunk by chunk rather than whole."""
    if data is None:
        return False
    if _instance_of(data, "symopt.chunked.sources", "ChunkSource") or isinstance(data, np.memmap):
        return True
    if isinstance(data, (str, os.PathLike)):
        return _is_data_path(data)
    if callable(data):
        return True
    if isinstance(data, (list, tuple)) and data and all(isinstance(p, (str, os.PathLike)) for p in data):
        return True
    if type(data).__module__.startswith("dask"):
        return True
    if isinstance(data, Mapping):
        return any(isinstance(v, np.memmap) or type(v).__module__.startswith("dask")
                   for v in data.values())
    return False


def _is_data_path(path: str | os.PathLike) -> bool:
    """A path that names data in chunks: an ``.npy`` or ``.parquet`` file, or a folder
    (other text is not data, and gets ``symopt.minimize``'s own message)."""
    return os.path.splitext(os.fspath(path))[1] in (".npy", ".parquet") or os.path.isdir(path)


def _constrained(problem, x0, method, params, data, constraints, options):
    from .constrained.minimize import minimize

    if data is not None:
        raise InputError("constrained problems do not read data rows (data=); put the "
                         "values in params= instead")
    return minimize(problem, x0, constraints=constraints, params=params,
                    method="auto" if method is None else method, **options)


def _array_formula(problem, x0, method, params, data, constraints, options):
    from .tensor.minimize import minimize

    return minimize(problem, x0, method, data=data, params=params, **options)


def _chunked(problem, x0, method, params, data, constraints, options):
    from .chunked.solve import minimize

    if constraints is not None:
        raise InputError("constraints are not supported with data in chunks")
    return minimize(problem, x0, data, method="newton" if method is None else method,
                    params=params, **options)


def solver_for(problem: Any, data: Any, constraints: Any) -> Callable | None:
    """The function that solves this ``minimize`` call, or ``None`` when it is a scalar
    problem over in-memory data (``symopt.minimize``'s own path).  The function takes
    ``(problem, x0, method, params, data, constraints, options)``; ``method`` ``None``
    means the package's default."""
    if is_constrained(problem, constraints):
        return _constrained
    if is_chunked_data(data):
        return _chunked
    if is_array_formula(problem):
        return _array_formula
    return None


def _constrained_many(problem, x0, method, params, data, constraints, options):
    from .constrained.many import minimize_many

    if data is not None:
        raise InputError("constrained problems do not read data rows (data=); give the "
                         "values of each instance in params= (one row per problem)")
    return minimize_many(problem, x0, constraints=constraints, params=params,
                         method="auto" if method is None else method, **options)


def many_solver_for(problem: Any, constraints: Any) -> Callable | None:
    """As :func:`solver_for`, for ``minimize_many``: constrained problems have their own
    batched solver; everything else is ``symopt.minimize_many``'s own path."""
    if is_constrained(problem, constraints):
        return _constrained_many
    if is_array_formula(problem):
        raise InputError("minimize_many solves many small problems; an array formula is one "
                         "large problem: call symopt.minimize on it")
    return None
