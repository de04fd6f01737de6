"""ConstrainedProblem -> kernel source text (the kernels of :mod:`symopt.constrained.abi`).

Built on :mod:`symopt.codegen`'s printer and module scaffolding (``_Module``, ``_Body``):
the same readable, straight-line code with one CSE per kernel.  The Hessian of the
Lagrangian is one kernel over ``obj_factor * H_f + sum_i lam_i H_ci``, with one CSE
over the objective's and every constraint's second derivatives together; the
constraint Jacobian is written dense (structural zeros as constants), with its
sparsity in the header.
"""

from __future__ import annotations

from typing import Sequence

import sympy

from ..codegen import KernelPrinter, _Body, _Module
from .problem import ConstrainedProblem

__all__ = ["constrained_kernels_source"]


def _fill(kind: str, target: str, shape: tuple[int, int], nonzero: Sequence[tuple[int, int]],
          symmetric: bool) -> tuple[list[str], list[str]]:
    """The lines around a matrix kernel whose body writes the ``nonzero`` entries of
    ``target``: ``zeros`` before it (one bulk store when there are more zero entries than
    rows: Numba lowers every constant-index store on its own), and for a symmetric matrix
    whose upper triangle is written, ``mirror`` after it."""
    rows, cols = shape
    written = set(nonzero)
    if symmetric:
        zero = [(i, j) for i in range(rows) for j in range(i, cols) if (i, j) not in written]
        count = sum(1 if i == j else 2 for i, j in zero)
        singles = [(a, b) for i, j in zero for a, b in ([(i, j)] if i == j else [(i, j), (j, i)])]
        mirror = [f"    {target}[{j}, {i}] = {target}[{i}, {j}]" for i, j in nonzero if i != j]
    else:
        singles = [(i, j) for i in range(rows) for j in range(cols) if (i, j) not in written]
        count = len(singles)
        mirror = []
    if count > rows:
        zeros = [f"    {target}[:, :] = 0.0"]
    else:
        zeros = [f"    {target}[{i}, {j}] = 0.0" for i, j in singles]
    return zeros, mirror


def constrained_kernels_source(problem: ConstrainedProblem) -> str:
    """The source of the kernel module of a constrained problem (without the cache-key
    header line)."""
    n, m = problem.n, problem.m
    constraints = problem.general_constraints
    parts = [f"minimise {problem.formula}"] + [f"  s.t. {c.relation_text()}"
                                               for c in problem.constraints]
    module = _Module(problem.variables, problem.parameters, (), "\n".join(parts),
                     "constrained problem")
    # extra local names: multipliers, the objective factor, slacks and the AL's parameters
    lam = [sympy.Symbol(f"lam{i}", real=True) for i in range(m)]
    sigma = sympy.Symbol("obj_factor", real=True)
    inequalities = [i for i, c in enumerate(constraints) if not c.is_equality]
    slack = {i: sympy.Symbol(f"slack{k}", real=True) for k, i in enumerate(inequalities)}
    rho = sympy.Symbol("rho", real=True)
    for i, s in enumerate(lam):
        module.names.add(s, f"l{i}_")
    module.names.add(sigma, "sigma_")
    for k, i in enumerate(inequalities):
        module.names.add(slack[i], f"s{k}_")
    module.names.add(rho, "rho_")
    printer = module.printer = KernelPrinter(module.names.local)
    local = module.names.local
    n_params = len(problem.parameters)

    def emit(exprs, targets):
        body = _Body(printer, list(exprs))
        return body.once + [f"    {t} = {e}" for t, e in zip(targets, body.reduced)]

    f = problem.objective
    grad = list(problem.objective_derivatives.gradient_entries)
    c_exprs = [c.expr for c in constraints]
    jac = [(i, j, e) for i, d in enumerate(problem.constraint_derivatives)
           for j, e in enumerate(d.gradient_entries) if e != 0]
    g_targets = [f"_g[{j}]" for j in range(n)]
    c_targets = [f"_c[{i}]" for i in range(m)]

    def add(name, args, doc, body):
        module.add(name, args, f"{name}_sig", doc, body, lazy=True)

    add("value", "_x, _p, _data", "The objective.", emit([f], ["_f"]) + ["    return _f"])
    add("value_grad", "_x, _p, _data, _g", "The objective; its gradient into _g.",
        emit([f] + grad, ["_f"] + g_targets) + ["    return _f"])
    add("constraints", "_x, _p, _data, _c", "The general constraints' values c(x), into _c.",
        emit(c_exprs, c_targets) if m else ["    return"])
    zeros, _ = _fill("J", "_J", (m, n), [(i, j) for i, j, _ in jac], False)
    add("constraints_jacobian", "_x, _p, _data, _c, _J",
        "c(x) into _c and its Jacobian (m x n, dense) into _J.",
        (zeros + emit(c_exprs + [e for _, _, e in jac],
                      c_targets + [f"_J[{i}, {j}]" for i, j, _ in jac])) if m else ["    return"])
    upper = problem.lagrangian_hessian_upper(lam, sigma)
    keys = sorted(upper)
    zeros, mirror = _fill("H", "_H", (n, n), keys, True)
    lam_loads = [f"    {local[s]} = _lam[{i}]" for i, s in enumerate(lam)]
    add("lagrangian_hessian", "_x, _p, _data, _lam, _obj_factor, _H",
        "obj_factor * H_f + sum_i lam[i] * H_ci, both triangles, into _H.",
        lam_loads + [f"    {local[sigma]} = _obj_factor"] + zeros
        + emit([upper[k] for k in keys], [f"_H[{i}, {j}]" for i, j in keys]) + mirror)

    # the augmented Lagrangian of z = (x, slacks), q = (p, lam, rho)
    residual = [c.expr - (slack[i] if i in slack else sympy.Float(c.lower))
                for i, c in enumerate(constraints)]
    al = f + sum((lam[i] * r + rho / 2 * r**2 for i, r in enumerate(residual)), sympy.S.Zero)
    weight = [lam[i] + rho * r for i, r in enumerate(residual)]
    al_grad = list(grad)
    for i, j, e in jac:
        al_grad[j] = al_grad[j] + weight[i] * e
    al_grad += [-weight[i] for i in inequalities]
    al_loads = ([f"    {local[slack[i]]} = _x[{n + k}]" for k, i in enumerate(inequalities)]
                + [f"    {local[s]} = _p[{n_params + i}]" for i, s in enumerate(lam)]
                + [f"    {local[rho]} = _p[{n_params + m}]"])
    add("al_value", "_x, _p, _data",
        "The augmented Lagrangian of z = (x, slacks) for q = (p, lam, rho).",
        al_loads + emit([al], ["_f"]) + ["    return _f"])
    add("al_value_grad", "_x, _p, _data, _g",
        "The augmented Lagrangian; its gradient in z = (x, slacks) into _g.",
        al_loads + emit([al] + al_grad, ["_f"] + [f"_g[{j}]" for j in range(n + len(slack))])
        + ["    return _f"])

    nnz = len(jac)
    return module.source([
        "# kernel signatures: symopt.constrained.abi",
        f"# general constraints: {m} ({len(inequalities)} inequalities, slack variables "
        f"s0.. of the augmented Lagrangian in that order)",
        f"# constraint Jacobian: {nnz} of {m * n} entries structurally nonzero",
        f"# Hessian of the Lagrangian: {len(keys)} of {n * (n + 1) // 2} upper-triangle entries "
        "structurally nonzero",
        f"# augmented Lagrangian: z = (x[0:{n}], slacks x[{n}:{n + len(inequalities)}]), "
        f"q = (p[0:{n_params}], lam p[{n_params}:{n_params + m}], rho p[{n_params + m}])",
    ])
