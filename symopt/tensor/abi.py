"""The kernel kinds array problems add to :mod:`symopt.abi`, and their first-class
function types.

``hvp(x, p, data, v, out)``: ``out = H(x) v``, the Hessian-vector product.

The HVP-driven solvers (:mod:`symopt.tensor.solvers`) take the calling convention of
:data:`symopt.abi.solver_sig` with an ``HvpFn`` in place of the Hessian kernel, and their
entry points (:mod:`symopt.tensor.minimize`) the kernels' addresses, as
:data:`symopt.abi.entry_sig`.
"""

from __future__ import annotations

from numba import types

from .. import abi
from .._binding import _function_from_address

__all__ = ["hvp_sig", "HvpFn", "hvp_fn", "band_fn", "hvp_solver_sig"]

#: hvp(x, p, data, v, out): out = H(x) v
hvp_sig = types.void(abi.vec, abi.vec, abi.mat, abi.vec, abi.vec)
HvpFn = types.FunctionType(hvp_sig)
#: hvp_fn(address): the HVP kernel at ``address`` as a first-class function (compiled code)
hvp_fn = _function_from_address(HvpFn)
#: band_fn(address): a ``hess_band(x, p, data, band)`` kernel (the signature of
#: :data:`symopt.abi.grad_sig`) as a first-class function
band_fn = _function_from_address(abi.GradFn)
#: the HVP solvers' signature
hvp_solver_sig = types.float64(abi.ValueFn, abi.ValueGradFn, HvpFn, abi.vec, abi.vec, abi.mat,
                               abi.vec, abi.ivec, abi.mat, abi.vec, abi.mat)
