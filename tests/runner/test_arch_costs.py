"""The cost of an architecture in a search is ``main.py estimate`` of the network built
from it (the delivered one), for every registered space and a space a test defines."""
import json

import numpy as np
import pytest

from nnabla_nas.cli import main
from nnabla_nas.config.loader import from_dict
from nnabla_nas.contrib.spaces import SEARCH_SPACES
from nnabla_nas.runner.arch_costs import ArchCosts
from nnabla_nas.runner.regularizer import CostTerm, cost_config
from nnabla_nas.contrib.estimator import ESTIMATORS
from nnabla_nas.utils.context import Device
from tests.test_contract import ChainNet, ChainSpace

CHAIN_OPS = ChainNet.OPS

SHAPE, CLASSES = (1, 8, 8), 10
#: The figures ``main.py estimate`` prints, by cost name.
ESTIMATE_KEYS = {"latency": "estimated_latency_ms", "memory": "estimated_params"}


def term(name, **values):
    config = from_dict(cost_config(ESTIMATORS.get(name)), values, f"search.costs.{name}")
    return CostTerm(name, f"search.costs.{name}", config)


def estimate(capsys, space, arch, table, tmp_path):
    path = tmp_path / f"{space.name}.json"
    space.save_arch(arch, str(path))
    overrides = [f"{k}={v}" for k, v in space.smoke_train_options.items()]
    assert main(["estimate", "--arch", str(path), "--space", space.name,
                 "--input-shape", *map(str, SHAPE), "--num-classes", str(CLASSES),
                 "--table", table, "--json", *overrides]) == 0
    return json.loads(capsys.readouterr().out)


def spaces():
    return [(name, None) for name in SEARCH_SPACES.names()] + [("chain", ChainSpace)]


@pytest.mark.parametrize("name,extra", spaces())
def test_the_cost_of_an_architecture_is_the_estimate_of_its_network(
        tmp_path, capsys, calibrated_table, name, extra):
    table = calibrated_table  # one device table on both sides: the same timings
    registered = SEARCH_SPACES.temporarily(name, extra) if extra else None
    if registered:
        registered.__enter__()
    try:
        space = SEARCH_SPACES.get(name)
        options = from_dict(space.TrainConfig, dict(space.smoke_train_options), "train.net")
        costs = ArchCosts(space, options, SHAPE, CLASSES,
                          [term("latency", weight=1.0), term("memory", weight=1.0)],
                          Device(table=table))
        search_options = from_dict(space.SearchConfig, dict(space.smoke_options), "s")
        rng = np.random.RandomState(0)
        for _ in range(2):
            arch = space.sample(space.arch_options(search_options), rng)
            ours = costs.costs(arch)
            printed = estimate(capsys, space, arch, table, tmp_path)
            for cost, key in ESTIMATE_KEYS.items():
                assert ours[cost] == pytest.approx(printed[key], rel=0.02), (cost, arch)
    finally:
        if registered:
            registered.__exit__(None, None, None)


def test_costs_are_memoized_and_bounds_checked(tmp_path):
    space = SEARCH_SPACES.get("darts")
    options = from_dict(space.TrainConfig, dict(space.smoke_train_options), "train.net")
    costs = ArchCosts(space, options, SHAPE, CLASSES,
                      [term("memory", mode="hard", bound=1.0)])
    arch = space.sample(space.arch_options(from_dict(
        space.SearchConfig, dict(space.smoke_options), "s")), np.random.RandomState(0))
    first = costs.costs(arch)
    assert costs.built == 1 and costs.costs(arch) == first and costs.built == 1
    assert not costs.within_bounds(arch)
    assert costs.over(arch) == {"memory": (first["memory"], 1.0)}


def test_cheapest_descends_to_the_least_cost_of_an_additive_space():
    with SEARCH_SPACES.temporarily("chain", ChainSpace):
        costs = ArchCosts(ChainSpace, ChainSpace.TrainConfig(), SHAPE, CLASSES,
                          [term("memory", mode="hard", bound=1e9)])
        start = ChainSpace.sample(ChainSpace.arch_options(None), np.random.RandomState(1))
        value, arch = costs.cheapest([start])["memory"]
        every = [start.replace({"layer0": x, "layer1": y, "layer2": z})
                 for x in CHAIN_OPS for y in CHAIN_OPS for z in CHAIN_OPS]
        assert value == min(costs.costs(a)["memory"] for a in every)
        assert costs.costs(arch)["memory"] == value
