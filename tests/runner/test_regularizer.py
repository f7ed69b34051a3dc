"""Cost terms (search.costs, and the older search.regularizers) in the DARTS
architecture loss."""
import subprocess
import sys
from pathlib import Path

import nnabla as nn
import numpy as np
import pytest
import yaml

from nnabla_nas.config.fields import ConfigError
from nnabla_nas.config.loader import from_dict
from nnabla_nas.contrib.darts import SearchNet
from nnabla_nas.contrib.darts.space import genotype_of
from nnabla_nas.contrib.estimator.base import module_estimators
from nnabla_nas.contrib.spaces import load_architecture
from nnabla_nas.contrib.estimator.memory import MemoryEstimator
from nnabla_nas.runner.regularizer import CostsConfig, Regularizers, RegularizersConfig
from tests.tiny import tiny_run

ROOT = Path(__file__).resolve().parents[2]


def net():
    model = SearchNet(1, 2, 3, 10, num_nodes=2, multiplier=2, stem_multiplier=1,
                      rng=np.random.RandomState(0))
    model(nn.Variable((4, 1, 8, 8)))
    return model


#: Every registered estimator a search can use as a cost.
COSTS = list(module_estimators())


def regularizers(model, section=RegularizersConfig, **config):
    """The cost terms ``config`` of ``section`` (the older ``regularizers`` by default,
    or ``CostsConfig``), built for ``model``."""
    terms = section.from_yaml(config, f"search.{section.section}").terms()
    return Regularizers(model, terms, [(4, 1, 8, 8)])


def penalty(regs):
    """The objective of a zero loss: the penalty alone."""
    total = regs.objective(nn.Variable.from_numpy_array(np.zeros(())))
    total.forward()
    return total


def test_no_weight_no_penalty():
    regs = regularizers(net())
    assert not regs and regs.values() == {}
    loss = nn.Variable(())
    assert regs.objective(loss) is loss


@pytest.mark.parametrize("name", COSTS)
def test_every_estimator_is_a_soft_penalty_and_a_hard_bound(name):
    model = net()
    soft = regularizers(model, CostsConfig, **{name: {"weight": 0.5}})
    expected = soft.values()[f"expected_{name}"]
    assert expected > 0
    assert float(penalty(soft).d) == pytest.approx(0.5 * expected, rel=1e-5)
    hard = regularizers(model, CostsConfig, **{name: {"bound": 1e9, "mode": "hard"}})
    assert [b.name for b in hard.bounds] == [f"search.costs.{name}"]
    choices = {id(m): 0 for m in hard.costs[name].mixed}
    assert hard.within_bounds(hard.path_costs(choices))


@pytest.mark.parametrize("name", COSTS)
def test_both_sections_give_the_same_terms(name):
    """The older spelling and search.costs are the same terms for the same name."""
    if name not in RegularizersConfig.LEGACY:
        with pytest.raises(ConfigError, match=rf"search.regularizers.{name}: unknown key"):
            RegularizersConfig.from_yaml({name: {}}, "search.regularizers")
        return
    old = RegularizersConfig.from_yaml({name: {"weight": 1.0}}, "search.regularizers")
    new = CostsConfig.from_yaml({name: {"weight": 1.0}}, "search.costs")
    assert old[name] == new[name]
    assert [t.key for t in old.terms()] == [f"search.regularizers.{name}"]


def test_penalty_is_weighted_expected_parameter_count_and_pushes_alphas():
    model = net()
    regs = regularizers(model, memory={"weight": 0.5})
    terms = {"total": penalty(regs)}
    expected = regs.values()["expected_memory"]
    assert float(terms["total"].d) == pytest.approx(0.5 * expected)
    # uniform-ish alphas: between the smallest (all parameter-free) and the supernet
    assert 0 < expected < MemoryEstimator().get_estimation(model)
    for p in model.get_arch_parameters().values():
        p.grad.zero()
    terms["total"].backward()
    # Gradient descent moves alpha toward cheaper candidates: the costliest
    # (sep_conv_5x5) is pushed down, the free ones (none, skip_connect) up.
    grad = model.alpha_normal[0].g  # PRIMITIVES order: none, max, avg, skip, sep3, sep5
    assert grad[5] > 0 and grad[0] < 0 and grad[3] < 0


def test_bound_penalizes_only_the_excess():
    model = net()
    assert float(penalty(regularizers(model, memory={"weight": 1.0, "bound": 1e9})).d) == 0
    regs = regularizers(model, memory={"weight": 2.0, "bound": 100})
    excess = regs.values()["expected_memory"] - 100
    assert excess > 0
    assert float(penalty(regs).d) == pytest.approx(2.0 * excess, rel=1e-5)


def test_multiplicative_factor_scales_the_loss_and_its_gradient():
    model = net()
    regs = regularizers(model, memory={"weight": 0.5, "bound": 1000,
                                       "mode": "multiplicative"})
    cost = regs.values()["expected_memory"]
    loss = nn.Variable.from_numpy_array(np.full((), 2.0))
    objective = regs.objective(loss)
    objective.forward()
    assert float(objective.d) == pytest.approx(2.0 * (cost / 1000) ** 0.5, rel=1e-5)
    assert regs.factor() == pytest.approx((cost / 1000) ** 0.5, rel=1e-5)
    # add_gradient from the gradient of the loss alone (here: none) gives the
    # objective's gradient: loss * d factor.
    arch = model.get_arch_parameters()
    for p in arch.values():
        p.grad.zero()
    objective.backward()
    direct = [p.g.copy() for p in arch.values()]
    for p in arch.values():
        p.grad.zero()
    regs.add_gradient(2.0, arch)
    for g, p in zip(direct, arch.values()):
        np.testing.assert_allclose(p.g, g, rtol=1e-4, atol=1e-7)


def test_reward_divides_by_factors_and_subtracts_penalties():
    model = net()
    factor = regularizers(model, memory={"weight": 0.1, "bound": 50.0,
                                         "mode": "multiplicative"})
    assert factor.reward(0.9, {"memory": 100.0}) == pytest.approx(0.9 / 2.0 ** 0.1)
    penalty = regularizers(model, memory={"weight": 1e-3})
    assert penalty.reward(0.9, {"memory": 100.0}) == pytest.approx(0.9 - 0.1)
    excess = regularizers(model, memory={"weight": 1e-3, "bound": 40.0})
    assert excess.reward(0.9, {"memory": 100.0}) == pytest.approx(0.9 - 0.06)


@pytest.mark.parametrize("term, match", [
    ({"bound": 100}, "memory.weight: expected a positive weight"),
    ({"weight": 1, "mode": "multiplicative"}, "memory.bound: expected a budget for mode "
                                              "multiplicative"),
    ({"mode": "hard"}, "memory.bound: expected a budget for mode hard"),
    ({"weight": 1, "mode": "firm"}, "memory.mode: expected a string one of"),
])
def test_bad_terms_name_the_key(term, match):
    with pytest.raises(ConfigError, match="search.regularizers." + match):
        RegularizersConfig.from_yaml({"memory": term}, "search.regularizers")
    with pytest.raises(ConfigError, match="search.costs." + match):
        CostsConfig.from_yaml({"memory": term}, "search.costs")


@pytest.mark.parametrize("section, message", [
    ({"costs": {"latncy": {"weight": 1}}},
     "search.costs.latncy: unknown estimator 'latncy'; did you mean 'latency'? "
     "Valid names: "),
    ({"costs": {"latency_graph": {"weight": 1}}},
     "search.costs.latency_graph: estimator 'latency_graph' does not price modules"),
    ({"regularizers": {"latncy": {"weight": 1}}},
     "search.regularizers.latncy: unknown key; valid keys here are: latency, memory"),
    ({"costs": {"memory": {"weight": 1, "table": "t.json"}}},
     "search.costs.memory.table: unknown key; valid keys here are: weight, bound, mode"),
    ({"costs": {"memory": {"weight": 1}}, "regularizers": {"memory": {"weight": 2}}},
     "search.costs.memory: also set in search.regularizers.memory"),
    ({"costs": ["memory"]}, "search.costs: expected a mapping of estimator names"),
])
def test_bad_cost_sections_name_the_key(section, message):
    from nnabla_nas.runner.schema import RunConfig

    config = tiny_run()
    config["search"].update(section)
    with pytest.raises(ConfigError) as e:
        from_dict(RunConfig, config)
    assert str(e.value).startswith(message)


def test_both_sections_together_when_they_name_different_costs():
    from nnabla_nas.config.loader import to_dict
    from nnabla_nas.runner.schema import RunConfig
    from nnabla_nas.runner.regularizer import cost_terms

    config = tiny_run()
    config["search"].update(costs={"memory": {"weight": 1.0}},
                            regularizers={"latency": {"weight": 0.5, "table": "t.json"}})
    search = from_dict(RunConfig, config).search
    assert [(t.name, t.key) for t in cost_terms(search)] == [
        ("latency", "search.regularizers.latency"), ("memory", "search.costs.memory")]
    # written back as given (the output folder's config.yaml)
    assert to_dict(search)["costs"] == {"memory": {"weight": 1.0, "bound": None,
                                                   "mode": "soft"}}
    assert to_dict(search)["regularizers"]["latency"]["table"] == "t.json"


def test_hard_bound_without_weight_is_a_pure_constraint():
    regs = regularizers(net(), memory={"bound": 500, "mode": "hard"})
    assert regs and [b.name for b in regs.bounds] == ["search.regularizers.memory"]
    loss = nn.Variable(())
    assert regs.objective(loss) is loss


def _search(tmp_path, weight, cost="memory"):
    config = tiny_run(seed=5)
    del config["train"]
    config["search"].update(epochs=3, warmup_epochs=1)
    config["search"]["searcher"]["order"] = 1
    config["search"]["arch_optimizer"] = {"lr": 0.01}
    if weight is not None:
        config["search"]["regularizers"] = {cost: {"weight": weight}}
    path = tmp_path / f"{cost}{weight}.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / f"out-{cost}{weight}"
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--config", str(path),
                             "--output-path", str(out)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    return genotype_of(load_architecture(out / "arch.json"))


@pytest.fixture(scope="module")
def plain_arch(tmp_path_factory):
    """The architecture the tiny search finds without any regularizer."""
    return _search(tmp_path_factory.mktemp("plain"), None)


@pytest.mark.slow
def test_a_memory_weight_finds_a_smaller_architecture(tmp_path, plain_arch):
    from nnabla_nas.contrib.darts.network import TrainNet

    def params(genotype):
        return MemoryEstimator().get_estimation(TrainNet(genotype, 1, 8, 3, 10))

    assert params(_search(tmp_path, 0.05)) < params(plain_arch)


@pytest.mark.slow
def test_a_latency_weight_finds_an_architecture_of_lower_estimated_latency(tmp_path,
                                                                         plain_arch):
    from nnabla_nas.contrib.darts.network import TrainNet
    from nnabla_nas.contrib.estimator.latency import LatencyEstimator

    estimator = LatencyEstimator()

    def latency(genotype):
        model = TrainNet(genotype, 1, 8, 3, 10)
        model.apply(training=False)
        model(nn.Variable((1, 1, 8, 8)))
        return estimator.get_estimation(model)

    assert latency(_search(tmp_path, 10.0, "latency")) < latency(plain_arch)
