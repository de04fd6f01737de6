"""Data columns -> the ``data`` array of the kernel ABI, validated.

Kernels read data as one C-contiguous float64 array of shape ``(n_columns, n_rows)``
(:mod:`symopt.abi`), column ``k`` being the problem's ``data_names[k]``.  This module
builds that array from what users have - a mapping of 1-D arrays (a dict, a pandas
DataFrame), a NumPy structured array, or a plain 2-D array of shape ``(n_rows,
n_columns)`` whose columns are in the problem's ``data_names`` order - and says exactly what is wrong when it cannot: a missing or unknown column,
columns of different lengths, a non-numeric column, NaN or Inf (naming the column and the
first bad row), an empty dataset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError, ShapeError

if TYPE_CHECKING:  # pragma: no cover
    from .problem import Problem

__all__ = ["data_array", "EMPTY_DATA", "WEIGHT_COLUMN", "SIGMA", "given_columns", "weights"]

EMPTY_DATA = np.empty((0, 0))
#: name of the internal data column holding the weights 1/sigma of a model fit (a name
#: formula text can never use, so it never clashes with the user's symbols); users give
#: the column "sigma" instead, and :func:`weights` turns it into the weights
WEIGHT_COLUMN = "_w"
SIGMA = "sigma"


def given_columns(names) -> tuple[list[str], set[str]]:
    """``(wanted, allowed)``: the columns a user must give for a problem reading the data
    columns ``names`` (every one but the weights), and those they may give (``sigma``
    too when the problem reads weights)."""
    wanted = [name for name in names if name != WEIGHT_COLUMN]
    return wanted, set(wanted) | ({SIGMA} if WEIGHT_COLUMN in names else set())


def weights(sigma: np.ndarray | None, rows: int, strict: bool = True) -> np.ndarray:
    """The weights column ``1 / sigma`` (ones without ``sigma``).  A ``sigma`` not > 0
    raises :class:`InputError` naming the row when ``strict``, and otherwise gives a NaN
    weight (a batch reports such a problem as not solved instead of raising); the
    compiled fast path of :func:`symopt.fit` does the same division in its entry."""
    if sigma is None:
        return np.ones(rows)
    positive = sigma > 0
    if strict:
        if not positive.all():
            row = int(np.flatnonzero(~positive)[0])
            raise InputError(f"sigma must be > 0; row {row} has {sigma[row]!r}")
        return 1.0 / sigma
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(positive, 1.0 / sigma, np.nan)


def _columns(data: Any) -> dict[str, Any]:
    if isinstance(data, np.ndarray) and data.dtype.names:  # a structured array
        return {name: data[name] for name in data.dtype.names}
    if hasattr(data, "columns") and hasattr(data, "__getitem__"):  # a DataFrame
        return {str(name): data[name] for name in data.columns}
    if hasattr(data, "keys") and hasattr(data, "__getitem__"):
        return {str(name): data[name] for name in data.keys()}
    raise InputError(
        f"data must be a mapping of column name -> 1-D array (a dict or a DataFrame), a "
        f"structured array, or a 2-D array with one column per data column; "
        f"got {type(data).__name__}"
    )


def _column(name: str, values: Any) -> np.ndarray:
    try:
        column = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"data column {name!r} is not numeric{_first_non_number(values)}") from None
    if column.ndim != 1:
        raise ShapeError(f"data column {name!r} must be 1-D, got shape {column.shape}")
    _check_finite(name, column)
    return column


def _first_non_number(values: Any) -> str:
    try:
        for row, value in enumerate(values):
            try:
                float(value)
            except (TypeError, ValueError):
                return f": row {row} holds {value!r}"
    except TypeError:
        pass
    return ""


def _check_finite(name: str, column: np.ndarray) -> None:
    # np.isfinite(column.sum()) is one cheap pass that is finite for almost all data;
    # only then look for the first bad row
    with np.errstate(all="ignore"):
        total = column.sum()
    if np.isfinite(total):
        return
    finite = np.isfinite(column)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise InputError(
            f"data column {name!r} is not finite at row {row} (value {column[row]!r}); "
            "remove or fill such rows before fitting"
        )


def _matrix(problem: "Problem", data: np.ndarray) -> np.ndarray:
    """The kernel data array from a 2-D array of shape (rows, columns) whose columns are
    the problem's data columns in order.  A Fortran-ordered float64 array (or the
    transpose of a C-ordered (columns, rows) array) is used without a copy."""
    names = problem.data_names
    if WEIGHT_COLUMN in names:
        raise InputError("a model fit takes its data as a mapping: {'x': ..., 'y': ...}")
    if data.ndim != 2:
        raise ShapeError(f"data must be 2-D (rows, columns) or a mapping, got shape {data.shape}")
    if data.shape[1] != len(names):
        raise ShapeError(
            f"data has {data.shape[1]} columns, but this problem reads {len(names)}: "
            f"{list(names)} (in this order; a 2-D array has shape (rows, columns))"
        )
    if data.shape[0] == 0:
        raise InputError("the dataset is empty (0 rows)")
    try:
        out = np.ascontiguousarray(data.T, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("data is not numeric") from None
    for k, name in enumerate(names):
        _check_finite(name, out[k])
    return out


def data_array(problem: "Problem", data: Any) -> np.ndarray:
    """The ``(n_columns, n_rows)`` data array of ``problem`` from ``data``."""
    names = problem.data_names
    if not names:
        if data is not None and len(_columns(data)):
            raise InputError("this problem reads no data columns, but data was given")
        return EMPTY_DATA
    if isinstance(data, np.ndarray) and not data.dtype.names:
        return _matrix(problem, data)
    wanted, allowed = given_columns(names)
    if data is None:
        raise InputError(f"this problem reads the data columns {wanted}: pass data={{...}}")
    columns = _columns(data)
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
    sigma = None
    if SIGMA in columns:
        sigma = _column(SIGMA, columns[SIGMA])
        lengths[SIGMA] = sigma.shape[0]
    if len(set(lengths.values())) > 1:
        raise ShapeError(f"data columns have different lengths: {lengths}")
    rows = next(iter(lengths.values()))
    if rows == 0:
        raise InputError("the dataset is empty (0 rows)")
    out = np.empty((len(names), rows))
    for k, name in enumerate(names):
        if name == WEIGHT_COLUMN:
            out[k] = weights(sigma, rows)
        else:
            out[k] = arrays[name]
    return out
