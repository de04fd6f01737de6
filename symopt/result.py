"""OptimizeResult: what a solve returns, with scipy's field names."""

from __future__ import annotations

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
        A code from :data:`symopt.STATUS` (``0..2`` mean converged).
    message : str
        The status in words.
    success : bool
        Whether the solver converged.
    history : dict of ndarray, optional
        With ``history=True``: ``"f"`` and ``"gnorm"`` (infinity norm of the
        gradient) per iteration, starting at ``x0``, and ``"x"`` the iterates.
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
            if key == "history" and isinstance(value, dict):
                text = "{" + ", ".join(f"{k}: array{v.shape}" for k, v in value.items()) + "}"
            else:
                text = np.array2string(value, precision=10, threshold=20) if isinstance(value, np.ndarray) else repr(value)
            text = text.replace("\n", "\n" + " " * (width + 2))
            lines.append(f"{key.rjust(width)}: {text}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = []
        for key, value in self._display_items():
            if key == "history" and isinstance(value, dict):
                text = ", ".join(f"{k}: {v.shape}" for k, v in value.items())
            elif isinstance(value, np.ndarray):
                text = np.array2string(value, precision=8, threshold=20)
            else:
                text = repr(value)
            rows.append(f"<tr><th style='text-align:left'>{html.escape(key)}</th>"
                        f"<td style='text-align:left'><code>{html.escape(text)}</code></td></tr>")
        return "<table>" + "".join(rows) + "</table>"
