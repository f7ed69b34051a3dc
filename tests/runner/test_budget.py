"""Hard budgets: the most probable architecture within bounds, or a clear error."""
import itertools

import nnabla as nn
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.contrib.darts import SearchNet
from nnabla_nas.contrib.darts.space import DartsSpace, genotype_of
from nnabla_nas.contrib.estimator import MemoryEstimator, PathCosts
from nnabla_nas.contrib.spaces import Decision, log_probabilities
from nnabla_nas.runner.budget import (Bound, BudgetError, architecture_cost, cheapest,
                                      within_budget)


def chain(alphas):
    """MixedOps in a chain, candidates costing 20, 0 and 16 parameters."""
    ops = [Mo.MixedOp([Mo.Linear(4, 4), Mo.Identity(), Mo.Linear(4, 4, bias=False)])
           for _ in alphas]
    for op, a in zip(ops, alphas):
        op.alpha.d = np.array(a)
    model = Mo.Sequential(*ops)
    model(nn.Variable((1, 4)))
    decisions = [Decision(f"op{i}", (op,), log_probabilities(op.alpha.d), (0, 1, 2),
                          int(np.argmax(op.alpha.d))) for i, op in enumerate(ops)]
    return decisions, PathCosts(model, MemoryEstimator())


def brute_force(decisions, costs, limit):
    best = max((c for c in itertools.product(*[d.allowed for d in decisions])
                if architecture_cost(decisions, c, costs) <= limit),
               key=lambda c: sum(d.scores[k] for d, k in zip(decisions, c)))
    return list(best)


ALPHAS = [(2.0, 0.0, 1.5), (1.0, 0.5, 0.0), (3.0, -1.0, 2.9)]


def test_costs_are_exact_per_candidate():
    decisions, costs = chain(ALPHAS)
    assert costs.fixed == 0
    np.testing.assert_array_equal(costs.candidates(decisions[0].mixed[0]), [20, 0, 16])
    assert architecture_cost(decisions, [0, 1, 2], costs) == 36
    assert cheapest(decisions, costs) == 0


def test_derivation_is_kept_when_within_budget():
    decisions, costs = chain(ALPHAS)
    assert within_budget(decisions, [Bound("memory", costs, 60)]) == [0, 0, 0]


@pytest.mark.parametrize("limit", [56, 50, 40, 36, 20, 16, 0])
def test_the_result_is_within_budget_and_as_probable_as_brute_force(limit):
    decisions, costs = chain(ALPHAS)
    choices = within_budget(decisions, [Bound("memory", costs, limit)])
    assert architecture_cost(decisions, choices, costs) <= limit

    def score(c):
        return sum(d.scores[k] for d, k in zip(decisions, c))
    # Optimal up to the rounding of each candidate's cost up to a 1/1000 of the budget.
    assert score(choices) >= score(brute_force(decisions, costs, limit * (1 - 3e-3))) - 1e-9


def test_an_impossible_bound_names_the_key_and_the_cheapest_cost():
    decisions, costs = chain(ALPHAS)
    restricted = [Decision(d.name, d.mixed, d.scores, (0, 2), d.choice) for d in decisions]
    with pytest.raises(BudgetError, match=r"search.regularizers.memory.bound: no "
                                          r"architecture .* meets 40 .*cheapest possible "
                                          r"costs 48"):
        within_budget(restricted, [Bound("search.regularizers.memory", costs, 40)])


def test_two_bounds_are_met_together():
    decisions, costs = chain(ALPHAS)
    # The same cost twice, one bound tighter: the tighter one decides.
    choices = within_budget(decisions, [Bound("memory", costs, 50),
                                        Bound("latency", costs, 36)])
    assert architecture_cost(decisions, choices, costs) <= 36


def test_darts_decisions_follow_the_genotype_and_derive_takes_choices():
    model = SearchNet(1, 2, 3, 10, num_nodes=2, multiplier=2, stem_multiplier=1,
                      rng=np.random.RandomState(0))
    model(nn.Variable((2, 1, 8, 8)))
    options = DartsSpace.SearchConfig(num_nodes=2, multiplier=2)
    genotype = genotype_of(DartsSpace.derive(model, options))
    decisions = DartsSpace.decisions(model, options)
    assert len(decisions) == len(genotype.normal) + len(genotype.reduce)
    from nnabla_nas.contrib.darts.ops import PRIMITIVES
    kept = {f"{kind}/node{i // 2}/edge{j}": op for kind in ("normal", "reduce")
            for i, (op, j) in enumerate(getattr(genotype, kind))}
    assert {d.name: PRIMITIVES[d.choice] for d in decisions} == kept
    assert all(PRIMITIVES.index("none") not in d.allowed for d in decisions)
    # Each decision holds the MixedOp of its edge in every cell of its kind.
    kinds = [d.name.split("/")[0] for d in decisions]
    cells = {"normal": sum(not c.reduction for c in model.cells),
             "reduce": sum(c.reduction for c in model.cells)}
    assert [len(d.mixed) for d in decisions] == [cells[k] for k in kinds]
    assert all(m.label == d.name for d in decisions for m in d.mixed)
    skip = PRIMITIVES.index("skip_connect")
    derived = genotype_of(DartsSpace.derive(model, options, [skip] * len(decisions)))
    assert {op for op, _ in derived.normal + derived.reduce} == {"skip_connect"}
    assert [j for _, j in derived.normal] == [j for _, j in genotype.normal]
