"""Data columns -> the ``data`` array of the kernel ABI, validated.

Kernels read data as one C-contiguous float64 array of shape ``(n_columns, n_rows)``
(:mod:`symopt.abi`), column ``k`` being the problem's ``data_names[k]``.  This module
builds that array from what users have - a mapping of 1-D arrays (a dict, a pandas
DataFrame) - and says exactly what is wrong when it cannot: a missing or unknown column,
columns of different lengths, a non-numeric column, NaN or Inf (naming the column and the
first bad row), an empty dataset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError, ShapeError

if TYPE_CHECKING:  # pragma: no cover
    from .problem import Problem

__all__ = ["data_array", "EMPTY_DATA"]

EMPTY_DATA = np.empty((0, 0))
_WEIGHT = "_w"


def _columns(data: Any) -> dict[str, Any]:
    if hasattr(data, "columns") and hasattr(data, "__getitem__"):  # a DataFrame
        return {str(name): data[name] for name in data.columns}
    if hasattr(data, "keys") and hasattr(data, "__getitem__"):
        return {str(name): data[name] for name in data.keys()}
    if isinstance(data, np.ndarray) and data.dtype.names:  # a structured array
        return {name: data[name] for name in data.dtype.names}
    raise InputError(
        f"data must be a mapping of column name -> 1-D array (a dict or a DataFrame), "
        f"got {type(data).__name__}"
    )


def _column(name: str, values: Any) -> np.ndarray:
    try:
        column = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"data column {name!r} is not numeric") from None
    if column.ndim != 1:
        raise ShapeError(f"data column {name!r} must be 1-D, got shape {column.shape}")
    finite = np.isfinite(column)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise InputError(
            f"data column {name!r} is not finite at row {row} (value {column[row]!r}); "
            "remove or fill such rows before fitting"
        )
    return column


def data_array(problem: "Problem", data: Any) -> np.ndarray:
    """The ``(n_columns, n_rows)`` data array of ``problem`` from ``data``."""
    names = problem.data_names
    if not names:
        if data is not None and len(_columns(data)):
            raise InputError("this problem reads no data columns, but data was given")
        return EMPTY_DATA
    wanted = [name for name in names if name != _WEIGHT]
    if data is None:
        raise InputError(f"this problem reads the data columns {wanted}: pass data={{...}}")
    columns = _columns(data)
    allowed = set(wanted) | ({"sigma"} if _WEIGHT in names else set())
    unknown = sorted(set(columns) - allowed)
    if unknown:
        raise InputError(
            f"unknown data column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"this problem reads {sorted(allowed)}"
        )
    missing = [name for name in wanted if name not in columns]
    if missing:
        raise InputError(
            f"data is missing the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))}; this problem reads {wanted}"
        )
    arrays = {name: _column(name, columns[name]) for name in wanted}
    lengths = {name: a.shape[0] for name, a in arrays.items()}
    if "sigma" in columns:
        sigma = _column("sigma", columns["sigma"])
        lengths["sigma"] = sigma.shape[0]
    if len(set(lengths.values())) > 1:
        raise ShapeError(f"data columns have different lengths: {lengths}")
    rows = next(iter(lengths.values()))
    if rows == 0:
        raise InputError("the dataset is empty (0 rows)")
    out = np.empty((len(names), rows))
    for k, name in enumerate(names):
        if name == _WEIGHT:
            if "sigma" in columns:
                if not (sigma > 0).all():
                    row = int(np.flatnonzero(~(sigma > 0))[0])
                    raise InputError(f"sigma must be > 0; row {row} has {sigma[row]!r}")
                out[k] = 1.0 / sigma
            else:
                out[k] = 1.0
        else:
            out[k] = arrays[name]
    return out
