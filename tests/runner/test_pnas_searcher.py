"""ProxylessNasSearcher on tiny problems: one path trained per step, both architecture
estimators prefer the better candidate, hard bounds hold, and a whole run from the
command line."""
import json
from dataclasses import replace
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from nnabla_nas import module as Mo
from nnabla_nas.config.loader import Component, from_dict
from nnabla_nas.contrib.model import Model
from nnabla_nas.module.mixedop import softmax
from nnabla_nas.runner.schema import ArchOptimizerConfig, OptimizerConfig, SearchConfig
from nnabla_nas.runner.searcher.pnas import ProxylessNasSearcher, rescale_pair
from nnabla_nas.utils.output import RunOutput
from tests.runner.tiny import CLASSES, StubSpace, SuperNet, ToySpace, phase, splits

ROOT = Path(__file__).resolve().parents[2]


class Toy(Model):
    """Linear -> MixedOp(Zero, Identity) -> Linear: Zero leaves the head nothing to
    classify from, so Identity is clearly the better candidate."""

    def __init__(self, seed=0):
        rng = np.random.RandomState(seed)
        self.stem = Mo.Linear(4, 4, rng=rng)
        self.choice = Mo.MixedOp([Mo.Zero(), Mo.Identity()])
        self.head = Mo.Linear(4, CLASSES, rng=rng)

    def call(self, x):
        return self.head(self.choice(self.stem(x)))


def config(epochs=1, warmup_epochs=0, batch_size=16, arch_lr=0.5, **regularizers):
    return from_dict(SearchConfig, dict(
        epochs=epochs, warmup_epochs=warmup_epochs, batch_size=batch_size,
        net_optimizer=dict(name="sgd", lr=0.2, schedule="constant", momentum=0.0,
                           weight_decay=0.0, grad_clip=0.0),
        arch_optimizer=dict(name="sgd", lr=arch_lr, momentum=0.0, weight_decay=0.0,
                            schedule="constant", grad_clip=0.0),
        regularizers=regularizers))


def searcher(tmp_path, model, search_config, **options):
    section = replace(search_config, searcher=Component(
        "proxylessnas", ProxylessNasSearcher.Config(**options)))
    space = ToySpace if isinstance(model, Toy) else StubSpace
    return ProxylessNasSearcher(phase(tmp_path, model, section, splits(64), space))


def test_configs_are_typed():
    assert isinstance(SearchConfig().net_optimizer, OptimizerConfig)
    assert isinstance(SearchConfig().arch_optimizer, ArchOptimizerConfig)


def test_a_weight_step_updates_only_the_sampled_path(tmp_path):
    model = SuperNet(0)
    s = searcher(tmp_path, model, config())
    for step in range(6):
        s.x_train.d, s.y_train.d = s.train_loader.next_batch()
        before = {k: p.d.copy() for k, p in model.get_parameters().items()}
        s.train_on_batch(step)
        k = model.choice.active_index
        for name, p in model.get_parameters().items():
            changed = not np.array_equal(p.d, before[name])
            on_path = not name.startswith("choice/") or name.startswith(f"choice/ops/{k}/")
            on_path = on_path and "alpha" not in name
            assert changed == on_path, (name, k)


@pytest.mark.parametrize("estimator", ["gradient", "reinforce"])
def test_both_estimators_move_alpha_toward_the_better_candidate(tmp_path, estimator):
    model = Toy(0)
    s = searcher(tmp_path, model, config(epochs=12, warmup_epochs=3, arch_lr=0.3),
                 estimator=estimator)
    assert softmax(model.choice.alpha.d)[1] == pytest.approx(0.5)
    s.search()
    assert softmax(model.choice.alpha.d)[1] > 0.8
    assert ToySpace.derive(model, None).choices == {"choice": "1"}


def test_binary_gate_update_keeps_the_other_candidates_probabilities():
    op = Mo.MixedOp([Mo.Identity()] * 4)
    op.alpha.d = np.array([0.5, -0.3, 1.2, 0.1])
    before = op.alpha.d.copy()
    p = softmax(before)
    op.alpha.d = before + np.array([0.0, 0.7, -0.4, 0.0])  # an update of the pair (2, 1)
    rescale_pair(op, before, (2, 1))
    q = softmax(op.alpha.d)
    np.testing.assert_allclose(q[[0, 3]], p[[0, 3]], rtol=1e-6)
    assert q[1] > p[1] and q[2] < p[2]


@pytest.mark.parametrize("estimator", ["gradient", "reinforce"])
def test_a_hard_bound_never_yields_a_path_over_budget(tmp_path, estimator):
    """Both Linear candidates cost 20 parameters; with the stem (20) and head (15) a
    bound of 40 only admits Identity, although alpha prefers the Linear ones."""
    model = SuperNet(0)
    model.choice.alpha.d = np.array([3.0, 2.0, -3.0])
    s = searcher(tmp_path, model, config(epochs=2, memory=dict(bound=40, mode="hard")),
                 estimator=estimator)
    ran = []
    graph = s._graph

    def recording(x, y, path, gates):
        ran.append(path[0][0])
        return graph(x, y, path, gates)

    s._graph = recording
    s.search()
    assert ran and set(ran) == {2}
    assert s.rejected > 0
    assert json.loads((tmp_path / "arch.json").read_text())["choices"] == {"choice": "2"}
    assert s.derived_costs["memory"] <= 40


def test_an_impossible_bound_is_refused_before_searching(tmp_path):
    from nnabla_nas.runner.budget import BudgetError
    with pytest.raises(BudgetError, match=r"search.regularizers.memory.bound: below the "
                                          r"cheapest .*: memory 35 parameters \(bound 30\)"):
        searcher(tmp_path, SuperNet(0), config(memory=dict(bound=30, mode="hard")))


TINY = {
    "seed": 2, "quiet": True,
    "dataset": {"name": "digits", "test_fraction": 0.3, "valid_fraction": 0.3},
    "search": {
        "epochs": 2, "warmup_epochs": 1, "batch_size": 128,
        "space": {"name": "proxylessnas", "stem": "small", "stem_channels": 8,
                  "head_channels": 16, "stages": [[1, 8, 1, 1], [3, 8, 2, 1],
                                                  [3, 16, 1, 2]]},
        "searcher": {"name": "proxylessnas"},
        "regularizers": {"latency": {"weight": 0.1, "bound": 1.0,
                                     "mode": "multiplicative"}},
    },
    "train": {"epochs": 2, "batch_size": 128, "net": {"name": "proxylessnas"}},
}


def test_search_then_train_from_the_command_line_writes_every_output(tmp_path):
    path = tmp_path / "pnas.yaml"
    path.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--config", str(path),
                             "--output-path", str(out)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    for key in ("test_accuracy", "search_arch_latency_ms", "estimated_latency_ms",
                "measured_latency_ms", "params", "estimated_params"):
        assert key in summary, key
    arch = json.loads((out / "arch.json").read_text())
    assert arch["space"] == "proxylessnas"
    for name in ("weights.h5", "search_weights.h5", "log.txt", "config.yaml"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").iterdir())


def test_supernet_params_count_every_candidate(tmp_path):
    from nnabla_nas.commands.run import search_phase
    from nnabla_nas.config.loader import from_dict as load
    from nnabla_nas.runner.schema import RunConfig
    from nnabla_nas.contrib.spaces import SEARCH_SPACES
    from nnabla_nas.dataset import DATASETS

    config = load(RunConfig, dict(TINY, train=None,
                                  search=dict(TINY["search"], epochs=1, warmup_epochs=0,
                                              regularizers={})))
    data = DATASETS.get("digits").load(config.dataset.options, config.seed)
    summary = search_phase(config, data, RunOutput(str(tmp_path), {}, quiet=True))
    space = SEARCH_SPACES.get("proxylessnas")
    fresh = space.build_search(config.search.space.options, data.shape, 10,
                               np.random.RandomState(0))
    # every parameter but the alphas, batch-norm statistics included (parameter_count)
    assert summary["supernet_params"] == sum(
        int(np.prod(p.shape)) for p in fresh.get_net_parameters().values())
    # ... far more than the one path of the architecture found.
    arch = space.load_arch(summary["arch_path"])
    child = space.build_train(arch, space.TrainConfig(), data.shape, 10,
                              np.random.RandomState(0))
    assert summary["supernet_params"] > 3 * sum(
        int(np.prod(p.shape)) for p in child.get_parameters().values())
