"""ActivationEstimator: the peak bytes of one inference as the graph replay counts
them, exact per path of a search space, and an additive upper bound for the expected
costs and derivation's knapsack."""
import doctest

import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.contrib.estimator import activation as activation_module
from nnabla_nas.contrib.estimator.activation import ActivationEstimator
from nnabla_nas.contrib.estimator.base import active_modules
from nnabla_nas.contrib.estimator.expected import PathCosts
from nnabla_nas.contrib.estimator.memory import MemoryEstimator
from tests.contrib.estimator.helpers import called
from tests.contrib.estimator.test_flops import tiny_pnas

F32 = 4


def test_docstring_example_runs():
    assert doctest.testmod(activation_module).failed == 0


def test_a_chain_peaks_at_its_largest_pair_of_neighbours():
    # conv 3->8 on 8x8 (2048 B out), pool to 4x4 (512 B), conv 8->16 (1024 B): the
    # peak is the first conv's output while the pool writes its own.
    net = called(Mo.Sequential(Mo.Conv(3, 8, (3, 3), pad=(1, 1)),
                               Mo.AvgPool((2, 2), stride=(2, 2)),
                               Mo.Conv(8, 16, (3, 3), pad=(1, 1))), 1, 3, 8, 8)
    est = ActivationEstimator()
    assert est.get_estimation(net) == F32 * (8 * 64 + 8 * 16)
    assert est.unit == "bytes" and est.summary_key == "activation_bytes"
    assert not est.additive
    # the additive part: every buffer written, an upper bound of the peak
    assert est.total(active_modules(net)) == F32 * (8 * 64 + 8 * 16 + 16 * 16)


def test_path_costs_are_the_exact_peak_of_each_path_and_bounded_by_the_sum():
    net = tiny_pnas("sample")
    est = ActivationEstimator()
    costs = PathCosts(net, est, inputs=[(1, 3, 8, 8)])
    rng = np.random.RandomState(0)
    for _ in range(5):
        choices = {id(m): int(rng.randint(len(m.ops))) for m in costs.mixed}
        exact = costs.of(choices)
        for m in costs.mixed:  # the same path, as deployed: no training-only gates
            m.select(choices[id(m)])
            m.alpha.need_grad = False
        called(net, 1, 3, 8, 8)
        assert exact == MemoryEstimator().activation_bytes(net) > 0
        upper = costs.fixed + sum(costs.candidates(m)[choices[id(m)]] for m in costs.mixed)
        assert exact <= upper
        for m in costs.mixed:
            m.select(None)
            m.alpha.need_grad = True


@pytest.mark.parametrize("mode", ["max", "sample"])
def test_modes_and_selections_are_restored_after_pricing_a_path(mode):
    net = tiny_pnas(mode)
    costs = PathCosts(net, ActivationEstimator(), inputs=[(1, 3, 8, 8)])
    before = [(m.mode, m.selected) for m in costs.mixed]
    costs.of({id(m): 0 for m in costs.mixed})
    assert [(m.mode, m.selected) for m in costs.mixed] == before
