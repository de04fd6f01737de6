"""Neural networks as array formulas (issue 13): activations, losses, :func:`mlp`, the
backpropagation equations symopt derives for them, and training (see docs/networks.md).

    >>> from symopt import nn
    >>> net = nn.mlp([4, 3, 2], activation="tanh", loss="softmax")
    >>> print(net.gradient)
    Z1     = X @ W1 + b1
    H1     = tanh(Z1)
    Z2     = H1 @ W2 + b2
    P      = exp(Z2 - logsumexp(Z2, axis=1)[:, None])
    Y      = onehot(y, K)
    δ2     = (P - Y)/B
    δ1     = (δ2 @ W2ᵀ)*(1 - H1**2)
    ∂L/∂W1 = Xᵀ @ δ1
    ∂L/∂b1 = sum(δ1, axis=0)
    ∂L/∂W2 = H1ᵀ @ δ2
    ∂L/∂b2 = sum(δ2, axis=0)
"""

from __future__ import annotations

from .network import (
    ACTIVATIONS,
    LOSSES,
    Network,
    binary_cross_entropy,
    identity,
    l2,
    mlp,
    mse,
    relu,
    sigmoid,
    softmax_cross_entropy,
    softplus,
    tanh,
)

__all__ = ["Network", "mlp", "tanh", "sigmoid", "relu", "softplus", "identity", "mse",
           "binary_cross_entropy", "softmax_cross_entropy", "l2", "ACTIVATIONS", "LOSSES"]
