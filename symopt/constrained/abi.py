"""The constrained kernels and the constrained solver calling convention.

Kernels (the shared arguments ``x, p, data`` as in :mod:`symopt.abi`):

======================================================  ==================================
``f = value(x, p, data)``                               :data:`symopt.abi.value_sig`
``f = value_grad(x, p, data, g_out)``                   :data:`symopt.abi.value_grad_sig`
``constraints(x, p, data, c_out)``                      ``c_out``: float64[m]
``constraints_jacobian(x, p, data, c_out, J_out)``      ``J_out``: float64[m, n], dense
``lagrangian_hessian(x, p, data, lam, obj_factor, H_out)``
                                                        ``H_out = obj_factor * H_f +
                                                        sum_i lam[i] * H_ci``, both triangles
``f = al_value(z, q, data)``, ``f = al_value_grad(z, q, data, g_out)``
                                                        the augmented Lagrangian, below
======================================================  ==================================

The constraint kernels have the signatures of the residual kernels of least squares
(:data:`symopt.abi.residuals_sig`, :data:`symopt.abi.residuals_jacobian_sig`).

The augmented Lagrangian of a problem with ``n`` variables, ``m`` constraints of which
``mi`` are inequalities (``cl < cu``) is a function of ``z = (x, s)``, ``s`` one slack per
inequality (in constraint order), and of ``q = (p, lam, rho)``::

    L_A(z; q) = f(x) + sum_i lam_i r_i + rho/2 sum_i r_i**2,
    r_i = c_i(x) - cl_i   (equality i),   r_i = c_i(x) - s_k   (k-th inequality, i)

so that bounds ``cl <= s <= cu`` on the slacks and box bounds on ``x`` are all the
augmented Lagrangian method's subproblem has: what L-BFGS-B solves.

Solver calling convention (every constrained method)::

    f = solve(value, value_grad, constraints, constraints_jacobian, lagrangian_hessian,
              al_value, al_value_grad, x, p, data, limits, opts, info, lam_out, z_out,
              c_out, g_out, kkt_out, hist)

``x``        in: the start; out: the final iterate
``limits``   float64[2n + 2m]: ``xl, xu, cl, cu`` one after the other (+-inf: open)
``opts``     float64[N_OPTS], laid out by the ``OPT_*`` indices below (0: the default)
``info``     int64[N_INFO], the ``INFO_*`` indices of :mod:`symopt.abi`
``lam_out``  float64[m]: the constraint multipliers (sign convention below)
``z_out``    float64[n]: the bound multipliers, one per variable (same convention)
``c_out``    float64[m]: ``c(x)`` at the final iterate
``g_out``    float64[n]: the gradient of ``f`` at the final iterate
``kkt_out``  float64[N_KKT]: the KKT residuals at the final iterate, ``KKT_*`` below
``hist``     float64[rows, 4 + n] to record (f, infeasibility, stationarity, mu, x) per
             iteration, or float64[0, 0] to record nothing

A method uses only some kernels; the others may be stand-ins (:mod:`._binding`).

**Sign convention of the multipliers** (as Ipopt's): the Lagrangian is
``L = f(x) + lam . c(x) + z . x``, and at a solution ``grad f + J^T lam + z = 0``.
A multiplier is ``>= 0`` when the *upper* bound of its constraint is active, ``<= 0``
when the *lower* bound is, free for an equality, and 0 for an inactive constraint; it
is the sensitivity ``lam_i = -d f* / d b_i`` of the optimal value to the active bound
``b_i``.
"""

from __future__ import annotations

from numba import types

from .. import abi as _abi
from ..abi import f8, ivec, mat, vec

# --- kernels ----------------------------------------------------------------------------

constraints_sig = _abi.residuals_sig
constraints_jacobian_sig = _abi.residuals_jacobian_sig
lagrangian_hessian_sig = types.void(vec, vec, mat, vec, f8, mat)
al_value_sig = _abi.value_sig
al_value_grad_sig = _abi.value_grad_sig

ConstraintsFn = types.FunctionType(constraints_sig)
ConstraintsJacobianFn = types.FunctionType(constraints_jacobian_sig)
LagrangianHessianFn = types.FunctionType(lagrangian_hessian_sig)

#: kernel name -> signature, in the order the solvers take them
KERNELS = {
    "value": _abi.value_sig,
    "value_grad": _abi.value_grad_sig,
    "constraints": constraints_sig,
    "constraints_jacobian": constraints_jacobian_sig,
    "lagrangian_hessian": lagrangian_hessian_sig,
    "al_value": al_value_sig,
    "al_value_grad": al_value_grad_sig,
}

# --- solvers ----------------------------------------------------------------------------

solver_sig = f8(_abi.ValueFn, _abi.ValueGradFn, ConstraintsFn, ConstraintsJacobianFn,
                LagrangianHessianFn, _abi.ValueFn, _abi.ValueGradFn,
                vec, vec, mat, vec, vec, ivec, vec, vec, vec, vec, vec, mat)
#: the same with the seven kernels given by address (the entry points of :mod:`._binding`)
entry_sig = f8(types.intp, types.intp, types.intp, types.intp, types.intp, types.intp,
               types.intp, vec, vec, mat, vec, vec, ivec, vec, vec, vec, vec, vec, mat)

OPT_TOL = 0             # KKT tolerance (scaled, as Ipopt's tol); default 1e-8
OPT_MAX_ITER = 1        # iteration limit (ipm, kkt: iterations; auglag: outer iterations)
OPT_CONSTR_TOL = 2      # absolute constraint violation accepted at a solution (1e-8)
OPT_MU_INIT = 3         # ipm: initial barrier parameter (1)
OPT_BOUND_PUSH = 4      # ipm: how far the start is pushed inside its bounds (1e-2)
OPT_SCALE_GRADIENT = 5  # ipm: gradient-based scaling: rows with a larger start gradient
                        # than this are scaled down to it (100); < 0 turns scaling off
OPT_RHO_INIT = 6        # auglag: initial penalty parameter (0: chosen from f and c)
OPT_INNER_MAX_ITER = 7  # auglag: L-BFGS-B iterations per subproblem (5000)
OPT_MEMORY = 8          # auglag: L-BFGS-B memory (10)
OPT_MAX_INNER_TOTAL = 9  # auglag: all L-BFGS-B iterations together (500000)
N_OPTS = 16

INFO_STATUS = _abi.INFO_STATUS
INFO_NIT = _abi.INFO_NIT
INFO_NFEV = _abi.INFO_NFEV     # objective evaluations
INFO_NJEV = _abi.INFO_NJEV     # objective gradient evaluations
INFO_NHEV = _abi.INFO_NHEV     # Lagrangian Hessian evaluations
INFO_NHIST = _abi.INFO_NHIST
INFO_NCEV = 6                  # constraint (and Jacobian) evaluations
INFO_NINNER = 7                # auglag: L-BFGS-B iterations in all; ipm: restoration steps
N_INFO = _abi.N_INFO

KKT_STATIONARITY = 0    # ||grad f + J^T lam + z||_inf
KKT_FEASIBILITY = 1     # largest violation of a constraint or bound (absolute)
KKT_COMPLEMENTARITY = 2  # largest |multiplier * distance to its active bound|
KKT_SIGN = 3            # largest multiplier of the wrong sign (0 at a KKT point)
KKT_MU = 4              # ipm: the final barrier parameter; auglag: the final penalty
N_KKT = 8
