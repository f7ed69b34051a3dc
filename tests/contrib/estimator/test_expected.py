"""Expected costs under softmax(alpha): exact for one-hot alphas, gradients against
central finite differences, shared alphas of the DARTS search network."""
import doctest

import nnabla as nn
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.contrib.darts import PRIMITIVES, SearchNet
from nnabla_nas.contrib.estimator import expected as expected_module
from nnabla_nas.contrib.estimator.base import Estimator
from nnabla_nas.contrib.estimator.expected import expected_cost
from nnabla_nas.contrib.estimator.memory import MemoryEstimator
from nnabla_nas.module import MixedOp
from nnabla_nas.module.mixedop import softmax

from ...helpers import numerical_grad

ONE_HOT = 1e4  # softmax gives exactly 1 and 0 in float32


class InputSize(Estimator):
    """A cost that needs recorded input shapes, as latency does: values read."""

    unit = "values"

    def _predict(self, module):
        return float(sum(np.prod(s) for s in module.input_shapes))


def space(shared_alpha=True):
    """conv, two MixedOps (sharing one alpha, or not) and a nested MixedOp."""
    rng = np.random.RandomState(0)

    def candidates():
        return [Mo.Conv(4, 4, (3, 3), pad=(1, 1), rng=rng), Mo.Conv(4, 4, (1, 1), rng=rng),
                Mo.Identity()]

    first = MixedOp(candidates())
    second = MixedOp(candidates(), alpha=first.alpha if shared_alpha else None)
    nested = MixedOp([Mo.Sequential(Mo.Conv(4, 4, (1, 1), rng=rng), MixedOp(
        [Mo.Conv(4, 4, (3, 3), pad=(1, 1), rng=rng), Mo.Identity()])), Mo.Identity()])
    net = Mo.Sequential(Mo.Conv(3, 4, (1, 1), rng=rng), first, second, nested,
                        Mo.GlobalAvgPool(), Mo.Linear(4, 2))
    return net


def mixed_ops(net):
    return [m for _, m in net.get_modules() if isinstance(m, MixedOp)]


def alphas(net):
    unique = {}
    for m in mixed_ops(net):
        unique.setdefault(id(m.alpha), m.alpha)
    return list(unique.values())


def set_one_hot(net, pick):
    """Alphas one-hot on ``pick(number of candidates)`` and MixedOps in 'max' mode."""
    for alpha in alphas(net):
        a = np.zeros(alpha.size)
        a[pick(alpha.size)] = ONE_HOT
        alpha.d = a.reshape(alpha.shape)
    for m in mixed_ops(net):
        m.mode = "max"


def value(variable):
    variable.forward()
    return float(variable.d)


def test_docstring_example_runs():
    assert doctest.testmod(expected_module).failed == 0


@pytest.mark.parametrize("estimator", [MemoryEstimator, InputSize])
@pytest.mark.parametrize("shared_alpha", [True, False])
def test_one_hot_alphas_give_the_exact_cost_of_every_architecture(estimator, shared_alpha):
    net = space(shared_alpha)
    est = estimator()
    cost = expected_cost(net, est, inputs=[(2, 3, 5, 5)])
    seen = set()
    for k in range(3):
        set_one_hot(net, lambda n: min(k, n - 1))
        exact = est.get_estimation(net)
        assert value(cost) == exact
        seen.add(exact)
    assert len(seen) > 1  # the architectures differ, and so do (some of) their costs


def test_mixed_costs_are_the_softmax_weighted_candidate_costs():
    net = space()
    est = MemoryEstimator()
    rng = np.random.RandomState(1)
    for alpha in alphas(net):
        alpha.d = rng.randn(*alpha.shape)
    first, second, nested, inner = mixed_ops(net)
    per_op = [est.get_estimation(op) for op in first.ops]  # 148, 20, 0
    p, q, r = first.probabilities(), nested.probabilities(), inner.probabilities()
    inner_cost = 148 * r[0]
    expected = 16 + 10 + 2 * np.dot(p, per_op) + q[0] * (20 + inner_cost)
    assert value(expected_cost(net, est)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("shared_alpha", [True, False])
def test_gradient_matches_central_finite_differences(shared_alpha):
    net = space(shared_alpha)
    params = alphas(net)
    rng = np.random.RandomState(2)
    for alpha in params:
        alpha.d = rng.randn(*alpha.shape)
    cost = expected_cost(net, MemoryEstimator())
    for alpha in params:
        alpha.grad.zero()
    cost.forward()
    cost.backward()
    analytic = [np.array(a.g, dtype=np.float64) for a in params]

    def f(arrays):
        for a, v in zip(params, arrays):
            a.d = v
        return value(cost)

    numeric = numerical_grad(f, [np.array(a.d) for a in params], eps=1e-2)
    for got, want in zip(analytic, numeric):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-2)
    assert any(np.abs(g).max() > 1 for g in analytic)


def test_a_leaf_cost_function_sums_over_leaves():
    net = space()
    for alpha in alphas(net):
        alpha.d = np.zeros(alpha.shape)  # uniform
    cost = expected_cost(net, lambda module: 1.0)  # count the layers that run
    # conv, pool, linear; two MixedOps of (1 + 1 + 1) / 3 layers each; the nested one
    # runs its Sequential (1 conv + (1 + 1) / 2) or an Identity, with probability 1/2.
    assert value(cost) == pytest.approx(3 + 1 + 1 + (2 + 1) / 2, rel=1e-6)


def test_without_mixed_ops_the_cost_is_a_constant():
    net = Mo.Sequential(Mo.Conv(3, 4, (1, 1)), Mo.Linear(4, 2))
    cost = expected_cost(net, MemoryEstimator())
    assert cost.shape == () and value(cost) == 16 + 10


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="model"):
        expected_cost("net", MemoryEstimator())
    with pytest.raises(TypeError, match="cost"):
        expected_cost(Mo.Identity(), 3)


def tiny_darts(shared):
    return SearchNet(3, 4, 3, 10, num_nodes=2, multiplier=2, shared=shared,
                     rng=np.random.RandomState(0))


@pytest.mark.parametrize("shared", [True, False])
def test_darts_search_network(shared):
    net = tiny_darts(shared)
    net(nn.Variable((2, 3, 8, 8)))
    est = MemoryEstimator()
    cost = expected_cost(net, est)
    params = net.get_arch_parameters()
    assert len(alphas(net)) == len(params)  # one softmax per distinct alpha
    # Exact for every candidate chosen on every edge.
    for k in range(len(PRIMITIVES)):
        set_one_hot(net, lambda n: k)
        assert value(cost) == est.get_estimation(net)
    # The gradient of one alpha: the sum over the edges that use it.
    rng = np.random.RandomState(3)
    for p in params.values():
        p.d = 0.5 * rng.randn(*p.shape)
        p.grad.zero()
    cost.forward()
    cost.backward()
    name = "alpha_reduce/1" if shared else "cells/1/edges/1/alpha"
    alpha = params[name]
    users = [m for m in mixed_ops(net) if m.alpha is alpha]
    assert len(users) == (2 if shared else 1)  # cells 1 and 2 of 3 are reduction cells
    p = softmax(alpha.d)
    c = np.array([sum(est.get_estimation(m.ops[i]) for m in users) for i in range(len(p))])
    np.testing.assert_allclose(alpha.g, p * (c - np.dot(p, c)), rtol=1e-4, atol=1e-3)

    def f(arrays):
        alpha.d = arrays[0]
        return value(cost)

    numeric, = numerical_grad(f, [np.array(alpha.d)], eps=1e-2)
    np.testing.assert_allclose(alpha.g, numeric, rtol=1e-3, atol=0.5)
