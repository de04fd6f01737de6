"""Optimizer updates as compiled loops: one pass over a weight array reads the gradient
and the optimizer's state and writes the new weights into a second buffer, updating the
state in place, and reports whether every new weight is finite.  Compiled once per
install (Numba's disk cache), explicit signatures.

Writing into a second buffer (the caller swaps the two) keeps the weights of the previous
step intact, so a step that produces NaN or Inf can hand back the last finite weights
without copying weights at every step.
"""

from __future__ import annotations

import math

from numba import njit, types

_f8 = types.float64
_v = types.float64[::1]


# error_model="numpy": a float division without Python's ZeroDivisionError check, whose
# branch kept these loops from vectorising (5x slower, docs/performance.md); finiteness
# is gathered as an integer OR, which vectorises too.

@njit(types.boolean(_v, _v, _v, _v, _v, _f8, _f8, _f8, _f8, _f8, _f8), cache=True, nogil=True,
      error_model="numpy")
def adam(w, g, m, v, out, lr, b1, b2, c1, c2, eps):  # pragma: no cover - compiled
    bad = 0
    step = lr / c1
    for i in range(w.size):
        gi = g[i]
        mi = b1 * m[i] + (1.0 - b1) * gi
        vi = b2 * v[i] + (1.0 - b2) * gi * gi
        m[i] = mi
        v[i] = vi
        x = w[i] - step * mi / (math.sqrt(vi / c2) + eps)
        out[i] = x
        bad |= not (abs(x) < math.inf)
    return bad == 0


@njit(types.boolean(_v, _v, _v, _v, _f8, _f8, types.boolean), cache=True, nogil=True,
      error_model="numpy")
def sgd(w, g, vel, out, lr, momentum, nesterov):  # pragma: no cover - compiled
    bad = 0
    if momentum == 0.0:
        for i in range(w.size):
            x = w[i] - lr * g[i]
            out[i] = x
            bad |= not (abs(x) < math.inf)
        return bad == 0
    for i in range(w.size):
        gi = g[i]
        vi = momentum * vel[i] + gi
        vel[i] = vi
        d = gi + momentum * vi if nesterov else vi
        x = w[i] - lr * d
        out[i] = x
        bad |= not (abs(x) < math.inf)
    return bad == 0
