"""Small generated datasets for examples and tests, with documented generators.

Each function draws a dataset from a fixed model with NumPy's ``default_rng(seed)``, so
the same arguments always give the same data on every machine (the generator's streams
are stable across NumPy versions).  Each returns ``(data, coef)``: ``data`` a dict of
1-D float64 columns ``x0 .. x{k-1}`` and ``y`` (what :func:`symopt.minimize` takes as
``data=``), and ``coef`` the true coefficients ``[b, w0, .., w{k-1}]`` (intercept first)
the data were drawn from.

Generators (``X`` has independent standard normal entries, ``z = b + X @ w``):

* :func:`linear`:   ``y = z + noise * N(0, 1)``
* :func:`logistic`: ``y ~ Bernoulli(sigmoid(z))``, labels 0 and 1
* :func:`poisson`:  ``y ~ Poisson(exp(z))``

with ``b`` and ``w`` drawn once from ``U(-1, 1)`` (scaled by ``scale``) by the same
generator, before ``X``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["linear", "logistic", "poisson"]


def _design(n_rows: int, n_features: int, seed: int, scale: float):
    if n_rows < 1 or n_features < 1:
        raise ValueError("n_rows and n_features must be at least 1")
    rng = np.random.default_rng(seed)
    coef = scale * rng.uniform(-1.0, 1.0, size=n_features + 1)
    X = rng.standard_normal((n_rows, n_features))
    z = coef[0] + X @ coef[1:]
    return rng, X, z, coef


def _columns(X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    data = {f"x{j}": np.ascontiguousarray(X[:, j]) for j in range(X.shape[1])}
    data["y"] = np.asarray(y, dtype=np.float64)
    return data


def linear(n_rows: int = 1000, n_features: int = 3, noise: float = 0.5, seed: int = 0):
    """Linear regression data: ``y = b + x @ w + noise * N(0, 1)``.

    Examples
    --------
    >>> from symopt import datasets
    >>> data, coef = datasets.linear(5, 2)
    >>> sorted(data), data["y"].shape, coef.shape
    (['x0', 'x1', 'y'], (5,), (3,))
    """
    rng, X, z, coef = _design(n_rows, n_features, seed, 2.0)
    return _columns(X, z + noise * rng.standard_normal(n_rows)), coef


def logistic(n_rows: int = 1000, n_features: int = 3, seed: int = 0, scale: float = 2.0):
    """Binary classification data: ``y = 1`` with probability ``sigmoid(b + x @ w)``,
    else ``0``."""
    rng, X, z, coef = _design(n_rows, n_features, seed, scale)
    prob = 1.0 / (1.0 + np.exp(-z))
    return _columns(X, (rng.random(n_rows) < prob).astype(np.float64)), coef


def poisson(n_rows: int = 1000, n_features: int = 3, seed: int = 0, scale: float = 0.5):
    """Count data: ``y ~ Poisson(exp(b + x @ w))``."""
    rng, X, z, coef = _design(n_rows, n_features, seed, scale)
    return _columns(X, rng.poisson(np.exp(z)).astype(np.float64)), coef
