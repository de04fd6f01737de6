"""OptimizeResult: what a solve returns, with scipy's field names."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

__all__ = ["OptimizeResult"]

_ORDER = ("success", "status", "message", "fun", "x", "nit", "nfev", "njev", "nhev", "jac",
          "hess", "hess_inv", "method")


class OptimizeResult(dict):
    """The result of a solve: a dict whose keys are also attributes (as in scipy).

    Attributes
    ----------
    x : ndarray
        The solution, in the problem's variable order.
    x_dict : dict
        The solution keyed by variable name.
    fun : float
        The loss at ``x``.
    jac : ndarray
        The gradient at ``x``.
    hess, hess_inv : ndarray
        The Hessian at ``x`` (Newton), or BFGS's inverse-Hessian approximation.
    nit, nfev, njev, nhev : int
        Iterations and evaluations of the loss, gradient and Hessian.
    status : int
        A code of :class:`symopt.solvers.status.Status` (``0..2`` mean converged), as a
        plain ``int``; ``Status(res.status).name`` names it.
    message : str
        The status in words.
    success : bool
        Whether the solver converged.
    history : dict of ndarray, optional
        With ``history=True``: ``"f"`` and ``"gnorm"`` (infinity norm of the
        gradient) per iteration, starting at ``x0``, and ``"x"`` the iterates (for
        problems of at most 100 variables).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            if name == "x_dict" and "_names" in self.__dict__:
                return dict(zip(self.__dict__["_names"], self["x"].tolist()))
            raise AttributeError(name) from None

    def _set_variable_names(self, names) -> None:
        """Names of the entries of ``x``: ``x_dict`` is built from them on access."""
        self.__dict__["_names"] = names

    __setattr__ = dict.__setitem__
    __delattr__ = dict.__delitem__

    def __dir__(self):
        return list(self.keys()) + list(super().__dir__())

    def _display_items(self) -> list[tuple[str, Any]]:
        keys = [k for k in _ORDER if k in self] + sorted(k for k in self if k not in _ORDER)
        items = [(k, self[k]) for k in keys]
        if "_names" in self.__dict__ and "x_dict" not in self:
            items.append(("x_dict", self.x_dict))
        return items

    def __repr__(self) -> str:
        items = self._display_items()
        keys = [k for k, _ in items]
        width = max(map(len, keys)) + 1 if keys else 0
        lines = []
        for key, value in items:
            text = _value_text(key, value, precision=10)
            text = text.replace("\n", "\n" + " " * (width + 2))
            lines.append(f"{key.rjust(width)}: {text}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """A two-column table (notebooks); long arrays and dicts are shortened."""
        rows = []
        for key, value in self._display_items():
            text = _value_text(key, value, precision=8)
            rows.append(f"<tr><th style='text-align:left'>{html.escape(key)}</th>"
                        f"<td style='text-align:left'><pre style='margin:0'>{html.escape(text)}"
                        "</pre></td></tr>")
        return "<table>" + "".join(rows) + "</table>"


#: arrays, dicts and lists longer than this are shown by their first and last entries
_DISPLAY_ITEMS = 20


def _value_text(key: str, value: Any, precision: int) -> str:
    """One field of a result as short text: history as its arrays' shapes, long arrays
    and dicts by their first and last entries."""
    if key == "history" and isinstance(value, dict):
        return "{" + ", ".join(f"{k}: array{v.shape}" for k, v in value.items()) + "}"
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=precision, threshold=_DISPLAY_ITEMS, edgeitems=3)
    if isinstance(value, dict) and len(value) > _DISPLAY_ITEMS:
        items = list(value.items())
        head = ", ".join(f"{k!r}: {v!r}" for k, v in items[:3])
        tail = ", ".join(f"{k!r}: {v!r}" for k, v in items[-3:])
        return f"{{{head}, ..., {tail}}} ({len(items)} entries)"
    if isinstance(value, (list, tuple)) and len(value) > _DISPLAY_ITEMS:
        return f"[{', '.join(map(repr, value[:3]))}, ..., {', '.join(map(repr, value[-3:]))}] ({len(value)} entries)"
    return repr(value)
