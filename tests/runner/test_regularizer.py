"""Hardware regularizers in the DARTS architecture loss."""
import json
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
from nnabla_nas.contrib.estimator.memory import MemoryEstimator
from nnabla_nas.runner.regularizer import RegularizersConfig, build_penalty
from tests.tiny import tiny_run

ROOT = Path(__file__).resolve().parents[2]


def net():
    model = SearchNet(1, 2, 3, 10, num_nodes=2, multiplier=2, stem_multiplier=1,
                      rng=np.random.RandomState(0))
    model(nn.Variable((4, 1, 8, 8)))
    return model


def test_no_weight_no_penalty():
    assert build_penalty(net(), RegularizersConfig(), [(4, 1, 8, 8)]) is None


def test_penalty_is_weighted_expected_parameter_count_and_pushes_alphas():
    model = net()
    config = from_dict(RegularizersConfig, {"memory": {"weight": 0.5}})
    terms = build_penalty(model, config, [(4, 1, 8, 8)])
    nn.forward_all(list(terms.values()))
    expected = float(terms["expected_memory"].d)
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
    free = from_dict(RegularizersConfig, {"memory": {"weight": 1.0, "bound": 1e9}})
    terms = build_penalty(model, free, [(4, 1, 8, 8)])
    nn.forward_all(list(terms.values()))
    assert float(terms["total"].d) == 0.0


def test_a_bound_needs_a_weight():
    with pytest.raises(ConfigError, match="memory.weight: expected a positive weight"):
        from_dict(RegularizersConfig, {"memory": {"bound": 100}})


def _search(tmp_path, weight, cost="memory"):
    config = tiny_run(seed=5)
    del config["train"]
    config["search"].update(epochs=3, warmup_epochs=1)
    config["search"]["searcher"]["order"] = 1
    config["search"]["arch_optimizer"] = {"lr": 0.01}
    config["search"]["regularizers"] = {cost: {"weight": weight}}
    path = tmp_path / f"{cost}{weight}.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / f"out-{cost}{weight}"
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--config", str(path),
                             "--output-path", str(out)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "arch.json").read_text())


@pytest.mark.slow
def test_a_memory_weight_finds_a_smaller_architecture(tmp_path):
    from nnabla_nas.contrib.darts.genotype import Genotype
    from nnabla_nas.contrib.darts.network import TrainNet

    def params(arch):
        genotype = Genotype(arch["normal"], arch["normal_concat"], arch["reduce"],
                            arch["reduce_concat"])
        return MemoryEstimator().get_estimation(TrainNet(genotype, 1, 8, 3, 10))

    plain, light = params(_search(tmp_path, 0.0)), params(_search(tmp_path, 0.05))
    assert light < plain


@pytest.mark.slow
def test_a_latency_weight_finds_an_architecture_of_lower_estimated_latency(tmp_path):
    from nnabla_nas.contrib.darts.genotype import Genotype
    from nnabla_nas.contrib.darts.network import TrainNet
    from nnabla_nas.contrib.estimator.latency import LatencyEstimator

    estimator = LatencyEstimator()

    def latency(arch):
        genotype = Genotype(arch["normal"], arch["normal_concat"], arch["reduce"],
                            arch["reduce_concat"])
        model = TrainNet(genotype, 1, 8, 3, 10)
        model.apply(training=False)
        model(nn.Variable((1, 1, 8, 8)))
        return estimator.get_estimation(model)

    plain, fast = latency(_search(tmp_path, 0.0, "latency")), \
        latency(_search(tmp_path, 1.0, "latency"))
    assert fast < plain
