"""The ``proxylessnas`` search space: registration, config validation, and a two-step
search and retraining on digits-sized inputs."""
import nnabla as nn
import nnabla.solvers as S
import numpy as np
import pytest

from nnabla_nas.config.fields import ConfigError
from nnabla_nas.config.loader import from_dict
from nnabla_nas.contrib.pnas.blocks import IMAGENET_STAGES
from nnabla_nas.contrib.architecture import Architecture
from nnabla_nas.contrib.pnas.network import SearchNet, TrainNet
from nnabla_nas.contrib.pnas.space import ProxylessSpace, genotype_of
from nnabla_nas.contrib.spaces import SEARCH_SPACES, SearchSpace
from nnabla_nas.runner.schema import RunConfig

DIGITS = {"stem": "small", "width_multiplier": 0.5, "head_channels": 64,
          "stages": [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 2, 2], [6, 64, 2, 2]]}
SHAPE, CLASSES = (1, 8, 8), 10


def search_options(**space):
    config = from_dict(RunConfig, {"dataset": {"name": "digits"},
                                   "search": {"space": {"name": "proxylessnas", **space}}})
    return config.search.space.options


def test_registered_under_its_name():
    assert SEARCH_SPACES.get("proxylessnas") is ProxylessSpace
    assert issubclass(ProxylessSpace, SearchSpace) and ProxylessSpace.name == "proxylessnas"


def test_defaults_are_the_paper_backbone():
    options = ProxylessSpace.SearchConfig()
    assert options.stages == IMAGENET_STAGES and options.stem == "imagenet"
    assert (options.width_multiplier, options.stem_channels, options.head_channels) == \
        (1.0, 32, 1280)
    assert ProxylessSpace.TrainConfig().dropout == 0.1


def test_stages_from_yaml_lists_become_tuples():
    options = search_options(**DIGITS)
    assert options.stages == ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 2, 2), (6, 64, 2, 2))
    assert ProxylessSpace.SearchConfig(stages=[[6, 8, 1, 1]]).stages == ((6, 8, 1, 1),)


@pytest.mark.parametrize("space, message", [
    ({"stages": [[1, 16, 1, 1], [6, 24, 2, 3]]},
     r"search\.space\.stages\[1\]\[3\]: expected a stride of 1 or 2, got 3"),
    ({"stages": [[1, 16, 1]]}, r"search\.space\.stages\[0\]: expected a list of 4"),
    ({"stages": [[1, 16, 1, "2"]]}, r"search\.space\.stages\[0\]\[3\]: expected an int"),
    ({"stages": [[5, 16, 1, 1]]}, r"search\.space\.stages\[0\]\[0\]: expected an "
                                  r"expansion in \[1, 3, 6\]"),
    ({"stages": []}, r"search\.space\.stages: expected a non-empty list"),
    ({"stages": 3}, r"search\.space\.stages: expected a list"),
    ({"stem": "cifar"}, r"search\.space\.stem: expected a string one of"),
    ({"width_multiplier": 0}, r"search\.space\.width_multiplier: expected a number > 0"),
    ({"head_channels": 0}, r"search\.space\.head_channels: expected an integer >= 1"),
    ({"dropout": 1.0}, r"search\.space\.dropout: expected a number >= 0 and < 1"),
    ({"blocks": 3}, r"search\.space\.blocks: unknown key"),
])
def test_bad_search_config_names_the_key(space, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        search_options(**space)


@pytest.mark.parametrize("net, message", [
    ({"dropout": -0.5}, r"train\.net\.dropout: expected a number >= 0"),
    ({"stages": [[1, 16, 1, 1]]}, r"train\.net\.stages: unknown key"),
])
def test_bad_train_config_names_the_key(net, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        from_dict(RunConfig, {"dataset": {"name": "digits"},
                              "train": {"net": {"name": "proxylessnas", **net}}})


def test_direct_construction_is_validated_too():
    with pytest.raises(ConfigError, match=r"^stages\[0\]\[2\]: expected positive repeats"):
        ProxylessSpace.SearchConfig(stages=[[6, 8, 0, 1]])


def test_decisions_are_the_searched_blocks_in_derivation_order():
    model = ProxylessSpace.build_search(search_options(**DIGITS), SHAPE, CLASSES,
                                        np.random.RandomState(0))
    for op, k in zip(model.mixed_ops(), [2, 6, 0, 5, 1, 6]):
        op.alpha.d = np.eye(len(op.ops))[k] * 3.0
    options = search_options(**DIGITS)
    decisions = ProxylessSpace.decisions(model, options)
    assert [d.name for d in decisions] == [f"block{i}" for i in range(1, 7)]
    assert [d.mixed for d in decisions] == [(op,) for op in model.mixed_ops()]
    assert [d.choice for d in decisions] == [2, 6, 0, 5, 1, 6]
    assert [d.allowed for d in decisions] == [tuple(range(len(names)))
                                              for names in model.op_names()]
    for d in decisions:
        np.testing.assert_allclose(np.exp(d.scores), d.mixed[0].probabilities())
    choices = [d.choice for d in decisions]
    assert ProxylessSpace.derive(model, options, choices) == \
        ProxylessSpace.derive(model, options)


def _steps(model, params, n=2, batch=8):
    """``n`` SGD steps on ``params`` over fresh graphs (each draws its own paths in
    'sample' mode); returns the losses."""
    solver = S.Sgd(0.1)
    solver.set_parameters(params)
    rng = np.random.RandomState(0)
    losses = []
    for _ in range(n):
        x = nn.Variable.from_numpy_array(rng.randn(batch, *SHAPE).astype(np.float32))
        t = nn.Variable.from_numpy_array(rng.randint(0, CLASSES, (batch, 1)))
        loss = model.loss(model(x), t)
        loss.forward()
        solver.zero_grad()
        loss.backward()
        solver.update()
        losses.append(float(loss.d))
    return losses


def test_two_step_search_then_retrain(tmp_path):
    nn.random.seed(0)
    space = SEARCH_SPACES.get("proxylessnas")
    model = space.build_search(search_options(**DIGITS), SHAPE, CLASSES,
                               np.random.RandomState(0))
    assert isinstance(model, SearchNet) and model.mode == "sample"
    alpha_before = [p.d.copy() for p in model.get_arch_parameters().values()]
    stem_before = model.stem[0].W.d.copy()
    # weight steps train the drawn paths; architecture steps the alphas
    assert all(np.isfinite(_steps(model, model.get_net_parameters(grad_only=True))))
    assert all(np.isfinite(_steps(model, model.get_arch_parameters())))
    assert not np.array_equal(stem_before, model.stem[0].W.d)
    assert any(not np.array_equal(a, p.d) for a, p in
               zip(alpha_before, model.get_arch_parameters().values()))

    options = search_options(**DIGITS)
    arch = space.derive(model, options)
    assert isinstance(arch, Architecture) and genotype_of(arch) == model.genotype()
    assert genotype_of(space.derive(model, options, [0] * len(model.mixed_ops()))
                       ).searched_ops == ("k3_e3",) * 6
    path = tmp_path / "arch.json"
    space.save_arch(arch, str(path))
    loaded = space.load_arch(str(path))
    assert loaded == arch and str(loaded) == str(arch)

    train = space.build_train(loaded, ProxylessSpace.TrainConfig(dropout=0.2), SHAPE,
                              CLASSES, np.random.RandomState(0))
    assert isinstance(train, TrainNet) and train.genotype == genotype_of(arch)
    assert train.classifier.W.shape == (64, CLASSES) and train.stem[0].W.shape[:2] == (16, 1)
    before = train.stem[0].W.d.copy()
    assert all(np.isfinite(_steps(train, train.get_parameters(grad_only=True))))
    assert not np.array_equal(before, train.stem[0].W.d)
