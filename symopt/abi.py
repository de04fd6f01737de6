"""The kernel ABI: the one contract between generated kernels and compiled solvers.

Every kernel symopt generates has one of the signatures below, and every solver takes
its kernels as first-class functions of these types.  A solver never knows how a kernel
was made; codegen never knows which solver will call it.

Arguments shared by all kernels:

``x``    float64[::1]      the variables, in the problem's variable order
``p``    float64[::1]      the parameters, in the problem's parameter order (may be empty)
``data`` float64[:, ::1]   data columns, shape (n_columns, n_rows) (may be (0, 0))

Outputs are written into preallocated, C-contiguous arrays; kernels never allocate.
Only the upper triangle of a Hessian is *computed*; kernels write both triangles.
"""

from __future__ import annotations

from numba import types

f8 = types.float64
i8 = types.int64
vec = types.Array(f8, 1, "C")
mat = types.Array(f8, 2, "C")
ivec = types.Array(i8, 1, "C")

#: f = value(x, p, data)
value_sig = f8(vec, vec, mat)
#: grad(x, p, data, g_out)
grad_sig = types.void(vec, vec, mat, vec)
#: f = value_grad(x, p, data, g_out)
value_grad_sig = f8(vec, vec, mat, vec)
#: f = value_grad_hess(x, p, data, g_out, H_out)
value_grad_hess_sig = f8(vec, vec, mat, vec, mat)

ValueFn = types.FunctionType(value_sig)
GradFn = types.FunctionType(grad_sig)
ValueGradFn = types.FunctionType(value_grad_sig)
ValueGradHessFn = types.FunctionType(value_grad_hess_sig)

# --------------------------------------------------------------------------------------
# Solver calling convention (scalar minimisation).  Every method has the signature
#
#   f = solve(value, value_grad, value_grad_hess, x, p, data, opts, info, hist, g_out, H_out)
#
# x      in: the start; out: the final iterate
# opts   float64[N_OPTS] (or [N_OPTS + 2n] with bounds), laid out by the OPT_* indices below
# info   int64[N_INFO], written by the solver, laid out by the INFO_* indices
# hist   float64[max_iter + 1, 2 + n] to record (f, ||g||_inf, x) per iteration,
#        or float64[0, 0] to record nothing; row 0 is the start
# g_out  the gradient at the final iterate
# H_out  the Hessian at the final iterate (Newton) or the inverse-Hessian
#        approximation (BFGS); untouched by methods that have neither
# --------------------------------------------------------------------------------------

solver_sig = f8(ValueFn, ValueGradFn, ValueGradHessFn, vec, vec, mat, vec, ivec, mat, vec, mat)

OPT_GTOL = 0        # stop when ||g||_inf <= gtol
OPT_FTOL = 1        # stop when |f_prev - f| <= ftol * max(|f_prev|, |f|, tiny)
OPT_XTOL = 2        # stop when ||step||_inf <= xtol * (xtol + ||x||_inf)
OPT_MAX_ITER = 3    # iteration limit
OPT_STEP = 4        # gradient descent: fixed step length if > 0, else backtracking
OPT_C1 = 5          # Armijo (sufficient decrease) constant
OPT_C2 = 6          # curvature constant (strong Wolfe)
OPT_MAX_LS = 7      # maximum trial steps per line search
OPT_BOUNDS = 8      # 1.0: opts[N_OPTS:N_OPTS+n] are lower and opts[N_OPTS+n:N_OPTS+2n]
                    # upper bounds on x (+-inf where unbounded); 0.0: no bounds
OPT_MOMENTUM = 9    # momentum / Nesterov / Adam: first-moment coefficient (0: default)
OPT_BETA2 = 10      # Adam: second-moment coefficient (0: default)
OPT_EPS = 11        # Adam: denominator guard (0: default)
OPT_SCHEDULE = 12   # step-size schedule code of the first-order methods (0: constant)
OPT_DECAY = 13      # the schedule's rate (0: default)
OPT_MEMORY = 14     # L-BFGS: number of stored correction pairs (0: default)
OPT_RADIUS = 15     # trust-region methods: initial radius (0: default)
N_OPTS = 16         # scalar options; bounds, when given, follow them

INFO_STATUS = 0
INFO_NIT = 1
INFO_NFEV = 2       # evaluations of f (any kernel that returns f counts one)
INFO_NJEV = 3       # evaluations of the gradient
INFO_NHEV = 4       # evaluations of the Hessian
INFO_NHIST = 5      # rows of hist written
N_INFO = 8

# The same, with the kernels given as addresses (integers) of their compiled functions:
# the signature of the per-method entry points in :mod:`symopt._binding`.
entry_sig = f8(types.intp, types.intp, types.intp, vec, vec, mat, vec, ivec, mat, vec, mat)

# --------------------------------------------------------------------------------------
# Least squares: residual kernels and the least-squares solver calling convention.
#
#   residuals(x, p, data, r_out)                  r_out: float64[m]
#   residuals_jacobian(x, p, data, r_out, J_out)  J_out: float64[m, n], C order
#
# m is r_out.shape[0].  For a model fitted to data the kernel loops over the rows of
# ``data`` (data[k, i] is column k of row i) and m is the number of rows.
#
#   cost = solve_ls(residuals, residuals_jacobian, x, p, data, opts, info, hist,
#                   r_out, J_out)
#
# minimises cost = 0.5 * ||r(x)||^2.  opts/info/hist as for scalar solvers (OPT_STEP,
# OPT_C1, OPT_C2 unused unless documented by the method; INFO_NJEV counts Jacobians).
# r_out and J_out receive the residuals and Jacobian at the final iterate.
# --------------------------------------------------------------------------------------

residuals_sig = types.void(vec, vec, mat, vec)
residuals_jacobian_sig = types.void(vec, vec, mat, vec, mat)

ResidualsFn = types.FunctionType(residuals_sig)
ResidualsJacobianFn = types.FunctionType(residuals_jacobian_sig)

ls_solver_sig = f8(ResidualsFn, ResidualsJacobianFn, vec, vec, mat, vec, ivec, mat, vec, mat)
ls_entry_sig = f8(types.intp, types.intp, vec, vec, mat, vec, ivec, mat, vec, mat)

# --------------------------------------------------------------------------------------
# Hessian-vector product of a scalar loss:
#
#   hvp(x, p, data, v, hv_out)        hv_out = H(x) v, float64[n]
# --------------------------------------------------------------------------------------

hvp_sig = types.void(vec, vec, mat, vec, vec)
HvpFn = types.FunctionType(hvp_sig)


# --------------------------------------------------------------------------------------
# The kernel kinds, declared: name, inputs, outputs, signature.  symopt.kernels compiles
# each kernel for its spec's signature; a new kind is one spec here plus its emitter in
# symopt.codegen (and its name in the registry rows of the methods that call it).
# --------------------------------------------------------------------------------------

class KernelSpec(tuple):
    """``(name, inputs, outputs, signature)`` of one kernel kind."""

    __slots__ = ()

    def __new__(cls, name: str, inputs: tuple, outputs: tuple, signature):
        return super().__new__(cls, (name, inputs, outputs, signature))

    name = property(lambda self: self[0])
    inputs = property(lambda self: self[1])
    outputs = property(lambda self: self[2])
    signature = property(lambda self: self[3])


KERNELS = (
    KernelSpec("value", ("x", "p", "data"), ("f",), value_sig),
    KernelSpec("grad", ("x", "p", "data"), ("g",), grad_sig),
    KernelSpec("value_grad", ("x", "p", "data"), ("f", "g"), value_grad_sig),
    KernelSpec("value_grad_hess", ("x", "p", "data"), ("f", "g", "H"), value_grad_hess_sig),
    KernelSpec("hvp", ("x", "p", "data", "v"), ("hv",), hvp_sig),
    KernelSpec("residuals", ("x", "p", "data"), ("r",), residuals_sig),
    KernelSpec("residuals_jacobian", ("x", "p", "data"), ("r", "J"), residuals_jacobian_sig),
)
#: kernel name -> its spec
KERNEL_SPECS = {spec.name: spec for spec in KERNELS}
