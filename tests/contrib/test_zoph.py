"""The ``zoph`` search space: its cells, the space contract on a tiny config, and its
example with the DARTS and ProxylessNAS searchers."""
import itertools

import numpy as np
import pytest

from nnabla_nas.config.fields import ConfigError
from nnabla_nas.contrib.spaces import SEARCH_SPACES
from nnabla_nas.contrib.zoph import OPS, ZophSpace, block_label
from tests.contrib import space_checks as checks

SHAPE = (1, 8, 8)
TINY = ZophSpace.SearchConfig(**ZophSpace.smoke_options)
TRAIN = ZophSpace.TrainConfig(stem_channels=4, channels=4)


def test_registered_with_the_eight_candidates_of_every_block():
    assert SEARCH_SPACES.get("zoph") is ZophSpace
    assert len(OPS) == 8 and {"none", "skip_connect"} <= set(OPS)
    choices = ZophSpace.choices(ZophSpace.arch_options(TINY))
    assert [c.label for c in choices] == ["cell0/block0", "cell0/block1", "cell1/block0",
                                          "cell1/block1"]
    assert all(c.candidates == OPS for c in choices)


def test_random_architecture_trains_and_leaves_out_none_blocks():
    arch, model = checks.check_random_architecture_trains(ZophSpace, TINY, TRAIN, SHAPE)
    none = ZophSpace.sample(arch.options, np.random.RandomState(0)).replace(
        {c: "none" for c in arch.choices})
    empty = ZophSpace.build_train(none, TRAIN, SHAPE, 10, np.random.RandomState(0))
    assert [len(c.ops) for c in empty.cells] == [0, 0]
    assert checks.forward(empty, SHAPE).shape == (2, 10)
    kept = [sum(arch.choices[block_label(c, b)] != "none" for b in range(2))
            for c in (0, 1)]
    assert [len(c.ops) for c in model.cells] == kept


def test_supernet_derive_save_load_mutate(tmp_path):
    model = checks.check_supernet_modes(ZophSpace, TINY, SHAPE)
    assert [c.out_channels for c in model.cells] == [4 * 4, 8 * 4]  # reduce doubles
    checks.check_derive_save_load_mutate(ZophSpace, TINY, model, tmp_path)


def test_size_agrees_with_counting():
    options = ZophSpace.arch_options(ZophSpace.SearchConfig(reducing=[False], blocks=2))
    labels = [c.label for c in ZophSpace.choices(options)]
    count = sum(ZophSpace.is_valid(ZophSpace.sample(options, np.random.RandomState(0))
                                   .replace(dict(zip(labels, names))))
                for names in itertools.product(OPS, repeat=len(labels)))
    assert ZophSpace.size(options) == count == 64


@pytest.mark.parametrize("space, message", [
    ({"reducing": []}, r"search\.space\.reducing: expected a list of 1 to 16"),
    ({"reducing": [True, 1]}, r"search\.space\.reducing\[1\]: expected a boolean"),
    ({"blocks": 0}, r"search\.space\.blocks: expected an integer >= 1"),
    ({"channels": 4096}, r"search\.space\.channels: expected an integer >= 1 and <= 2048"),
])
def test_bad_options_name_the_key(space, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        checks.search_options("zoph", **space)


def test_too_many_reductions_for_the_images_are_refused():
    with pytest.raises(ValueError, match="reducing: 4 reducing cells leave no pixel"):
        ZophSpace.build_search(ZophSpace.SearchConfig(reducing=[True] * 4), SHAPE, 10,
                               np.random.RandomState(0))


@pytest.mark.parametrize("options, message", [
    ({"reducing": [False], "blocks": 0}, "blocks: expected an int in"),
    ({"reducing": "yes", "blocks": 1}, "reducing: expected a list"),
])
def test_bad_arch_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        ZophSpace.choices(options)


@pytest.mark.slow
@pytest.mark.parametrize("searcher", ["darts", "proxylessnas"])
def test_example_searches_and_trains(tmp_path, searcher):
    arch, _ = checks.run_example("examples/zoph/digits.yaml", searcher, tmp_path / "out",
                                 "search.space.channels=4", "search.space.blocks=2",
                                 "train.net.channels=4")
    assert arch["space"] == "zoph" and len(arch["choices"]) == 4
