"""Array formulas: vectors and matrices with symbolic sizes, their exact derivatives as
array formulas, and kernels compiled once for every size (phase 1 of issue 12; see
docs/tensors.md).

    >>> import symopt.tensor as st
    >>> m, d = st.dims("m d")
    >>> X = st.data("X", (m, d)); y = st.data("y", m)
    >>> w = st.variable("w", d); b = st.variable("b")
    >>> z = X @ w + b
    >>> loss = st.mean(st.softplus(z) - y * z)
    >>> print(loss)
    sum(-y*(X @ w + b) + softplus(X @ w + b))/m
    >>> print(st.Problem(loss).gradient)
    δ1    = (-y + sigmoid(X @ w + b))/m
    ∂L/∂w = Xᵀ @ δ1
    ∂L/∂b = sum(δ1)

``Problem`` holds a loss and its derivatives; ``compile`` its kernels; ``minimize`` solves
it with symopt's compiled solvers.  The element-wise functions (``exp``, ``log``,
``tanh``, ``sigmoid``, ``softplus``, ...) apply to array formulas element by element.
"""

from __future__ import annotations

from .ir import Node, dims, index
from .kernels import ArrayKernels, compile
from .minimize import minimize
from .ops import (
    FUNCTIONS as _FUNCTIONS,
)
from .ops import (
    data,
    dot,
    logsumexp,
    matmul,
    max,
    mean,
    onehot,
    outer,
    parameter,
    pick,
    softmax,
    sum,
    variable,
)
from .problem import Problem

globals().update(_FUNCTIONS)

__all__ = [
    "Problem", "minimize", "compile", "ArrayKernels", "Node", "dims", "index", "variable",
    "data", "parameter", "matmul", "dot", "outer", "sum", "mean", "logsumexp", "max",
    "softmax", "pick", "onehot", *sorted(_FUNCTIONS),
]
