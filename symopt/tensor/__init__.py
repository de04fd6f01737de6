"""Array formulas: vectors and matrices with symbolic sizes (phase 1 of issue 12).

    >>> import symopt.tensor as st
    >>> m, d = st.dims("m d")
    >>> X = st.data("X", (m, d)); y = st.data("y", m)
    >>> w = st.variable("w", d); b = st.variable("b")
    >>> z = X @ w + b
    >>> loss = st.mean(st.softplus(z) - y * z)
    >>> print(loss)
    sum(softplus(X @ w + b) - y*(X @ w + b))/m
"""

from __future__ import annotations

from .ir import Node, dims, index
from .problem import Problem
from .kernels import ArrayKernels, compile
from .minimize import minimize
from .ops import (
    FUNCTIONS as _FUNCTIONS, data, dot, logsumexp, matmul, max, mean, onehot, outer,
    parameter, pick, softmax, sum, variable,
)

globals().update(_FUNCTIONS)

__all__ = [
    "Problem", "minimize", "compile", "ArrayKernels", "Node", "dims", "index", "variable", "data", "parameter", "matmul", "dot", "outer",
    "sum", "mean", "logsumexp", "max", "softmax", "pick", "onehot", *sorted(_FUNCTIONS),
]
