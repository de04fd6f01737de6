"""symopt.tensor.numpy_backend.Plan and symopt.tensor.share against the independent
reference evaluator (symopt.tensor.reference), on the formula collection of
tests/test_tensor.py: losses, gradients and Hessian-vector products."""

import numpy as np
import pytest
from test_tensor import FORMULAS, _arrays, _env

from symopt.tensor.numpy_backend import Plan
from symopt.tensor.reference import evaluate
from symopt.tensor.share import share


@pytest.mark.parametrize("name", FORMULAS)
def test_plan_equals_the_reference_evaluator(name):
    problem = FORMULAS[name]()
    arrays = _arrays(problem)
    sizes = problem.resolve_sizes({d.name: arrays[d.name] for d in problem.data},
                                  {v.name: arrays[v.name] for v in problem.variables})
    roots = [problem.loss] + [problem.gradient_formulas[v] for v in problem.variables]
    env = _env(problem, arrays)
    expected = evaluate(roots, env, sizes)
    got = Plan(roots)({leaf: env[leaf] for leaf in Plan(roots).leaves}, sizes)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", FORMULAS)
def test_sharing_the_loss_maps_leaves_values_unchanged(name):
    problem = FORMULAS[name]()
    arrays = _arrays(problem)
    sizes = problem.resolve_sizes({d.name: arrays[d.name] for d in problem.data},
                                  {v.name: arrays[v.name] for v in problem.variables})
    roots = [problem.loss] + [problem.gradient_formulas[v] for v in problem.variables]
    from symopt.tensor.ir import Map, topological

    named = [n for n in topological([problem.loss]) if isinstance(n, Map) and n.args]
    shared, _ = share(roots, named)
    env = _env(problem, arrays)
    plan = Plan(shared)
    got = plan({leaf: env[leaf] for leaf in plan.leaves}, sizes)
    for e, g in zip(evaluate(roots, env, sizes), got):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
