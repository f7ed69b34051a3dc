"""The contract between spaces, searchers and costs, over the registries: every
registered space with every searcher, every space and every searcher with every cost
estimator (each pair of components at least once) runs a search step, derives, saves
and reloads arch.json and trains the derived network one step; and a
space of fifty lines defined here runs search and retraining from a YAML config."""
import json

import nnabla as nn
import numpy as np
import pytest
import yaml

from nnabla_nas import module as Mo
from nnabla_nas.cli import main
from nnabla_nas.config.loader import from_dict
from nnabla_nas.runner.schema import SearchConfig, TrainConfig
from nnabla_nas.contrib.architecture import Choice
from nnabla_nas.contrib.estimator.base import module_estimators
from nnabla_nas.contrib.model import Model
from nnabla_nas.contrib.spaces import SEARCH_SPACES, SearchSpace
from nnabla_nas.dataset import DatasetSplits, Split
from nnabla_nas.runner.run import Run
from nnabla_nas.runner.searcher import SEARCHERS
from nnabla_nas.runner.searcher.blackbox import BlackBoxSearcher
from nnabla_nas.runner.trainer import Trainer
from nnabla_nas.utils.output import RunOutput

SHAPE, CLASSES, BATCH = (1, 8, 8), 10, 4
#: Searchers that only evaluate architectures (no weight or architecture steps).
BLACK_BOX = [n for n in SEARCHERS.names() if issubclass(SEARCHERS.get(n), BlackBoxSearcher)]
#: The smallest black-box search: two candidates, each trained two steps.
TINY_BLACK_BOX = {"evaluate": "train", "evaluations": 2, "population": 2,
                  "sample_size": 1}


def data() -> DatasetSplits:
    rng = np.random.RandomState(0)

    def split(n):
        return Split(rng.randn(n, *SHAPE).astype(np.float32),
                     rng.randint(0, CLASSES, (n, 1)).astype(np.int32))
    return DatasetSplits(split(2 * BATCH), split(2 * BATCH), split(BATCH), CLASSES, "random")


def tiny_options(searcher):
    """Options of ``searcher`` for the smallest run (black-box searchers: two
    candidates; ``population`` and ``sample_size`` only where the searcher has them)."""
    if searcher not in BLACK_BOX:
        return {}
    fields = SEARCHERS.get(searcher).Config.__dataclass_fields__
    return {k: v for k, v in TINY_BLACK_BOX.items() if k in fields}


def smoke_searcher(tmp_path, space, searcher, cost):
    """``searcher`` on ``space``'s smallest supernet with the soft cost ``cost``, and
    its output folder."""
    nn.random.seed(0)
    search = from_dict(SearchConfig, {
        "epochs": 1, "batch_size": BATCH,
        "space": {"name": space.name, **space.smoke_options},
        "searcher": {"name": searcher, **tiny_options(searcher)},
        "costs": {cost: {"weight": 1e-3}}}, "search")
    model = space.build_search(search.space.options, SHAPE, CLASSES,
                               np.random.RandomState(0))
    output = RunOutput(str(tmp_path), {"test": "contract"}, quiet=True)
    return SEARCHERS.get(searcher)(Run(model=model, data=data(), config=search,
                                       output=output, space=space, quiet=True)), output


def pairwise(spaces, searchers, costs):
    """Triples covering every pair of (space, searcher), (space, cost) and (searcher,
    cost): each space with each searcher once, the cost rotating with both, so that
    any ``len(costs)`` consecutive spaces or searchers see every cost. What a
    searcher does with a cost does not depend on the space (and the other way round),
    so the pairs are the interactions to cover; the full product would run the same
    code paths four times over and took a third of the suite."""
    triples = [(space, searcher, costs[(i + j) % len(costs)])
               for i, space in enumerate(spaces) for j, searcher in enumerate(searchers)]
    for a, b in ((0, 1), (0, 2), (1, 2)):
        pairs = {(t[a], t[b]) for t in triples}
        wanted = len((spaces, searchers, costs)[a]) * len((spaces, searchers, costs)[b])
        if len(pairs) != wanted:  # fewer spaces or searchers than costs
            return [(sp, se, c) for sp in spaces for se in searchers for c in costs]
    return triples


def test_the_contract_grid_covers_every_pair_of_components():
    spaces, searchers, costs = SEARCH_SPACES.names(), SEARCHERS.names(), \
        list(module_estimators())
    triples = pairwise(spaces, searchers, costs)
    for xs, ys, a, b in ((spaces, searchers, 0, 1), (spaces, costs, 0, 2),
                         (searchers, costs, 1, 2)):
        assert {(t[a], t[b]) for t in triples} == {(x, y) for x in xs for y in ys}
    # with fewer spaces than costs, the rotation cannot cover the pairs: all triples
    assert len(pairwise(["s"], ["a", "b"], ["c1", "c2", "c3"])) == 6


@pytest.mark.parametrize("space_name,searcher,cost", pairwise(
    SEARCH_SPACES.names(), SEARCHERS.names(), list(module_estimators())))
def test_every_space_searcher_and_cost_search_derive_reload_and_train(
        tmp_path, space_name, searcher, cost):
    space = SEARCH_SPACES.get(space_name)
    s, output = smoke_searcher(tmp_path, space, searcher, cost)
    if searcher in BLACK_BOX:  # two candidates evaluated, the better one chosen
        arch = s.search()
        lines = [json.loads(line) for line in
                 (tmp_path / "candidates.jsonl").read_text().splitlines()]
        assert len(lines) == 2 and all(0 <= c["accuracy"] <= 1 for c in lines)
        assert dict(arch.choices) in [c["arch"] for c in lines]
        assert space.load_arch(str(tmp_path / "arch.json")) == arch
    else:
        values = s.train_step(0, 0)  # one architecture step and one weight step
        assert np.isfinite(values["loss"]) and np.isfinite(values["arch_loss"])
        arch = s.derive()
    assert set(s.derived_costs) == {cost} and np.isfinite(s.derived_costs[cost])
    path = str(tmp_path / "arch.json")
    space.save_arch(arch, path)
    loaded = space.load_arch(path)
    assert loaded == arch

    train = from_dict(TrainConfig, {"epochs": 1, "batch_size": BATCH,
                                    "net": {"name": space_name, **space.smoke_train_options}},
                      "train")
    net = space.build_train(loaded, train.net.options, SHAPE, CLASSES,
                            np.random.RandomState(0))
    trainer = Trainer(Run(model=net, data=s.data, config=train, output=output,
                          space=space, quiet=True))
    trainer.begin_epoch(0)
    assert np.isfinite(trainer.train_step(0, 0)["loss"])
    output.close()


# ---------------------------------------------------------------- a space of its own
class ChainNet(Model):
    """Conv stem, then ``depth`` layers each choosing a 3x3 conv, a 5x5 conv or a skip,
    then pooling and a linear classifier."""

    OPS = ("conv3", "conv5", "skip")

    def __init__(self, in_channels, classes, width, depth, choices=None, rng=None):
        self.stem = Mo.Conv(in_channels, width, (3, 3), pad=(1, 1), rng=rng)
        layers = []
        for i in range(depth):
            ops = [self.op(name, width, rng) for name in self.OPS]
            layers.append(Mo.MixedOp(ops, label=f"layer{i}", names=self.OPS)
                          if choices is None else ops[self.OPS.index(choices[i])])
        self.layers = Mo.Sequential(*layers)
        self.head = Mo.Sequential(Mo.GlobalAvgPool(), Mo.Linear(width, classes, rng=rng))

    @staticmethod
    def op(name, width, rng):
        if name == "skip":
            return Mo.Identity()
        k = int(name[-1])
        return Mo.Sequential(Mo.Conv(width, width, (k, k), pad=(k // 2, k // 2), rng=rng),
                             Mo.ReLU())

    def call(self, x):
        return self.head(self.layers(self.stem(x)))


class ChainSpace(SearchSpace):
    """``depth`` labelled choices among ChainNet.OPS; nothing else to write."""

    name = "chain"

    @classmethod
    def arch_options(cls, options):
        return {"depth": 3, "width": 4}

    @classmethod
    def choices(cls, arch_options):
        return [Choice(f"layer{i}", ChainNet.OPS) for i in range(arch_options["depth"])]

    @classmethod
    def build_search(cls, options, shape, num_classes, rng):
        return ChainNet(shape[0], num_classes, 4, 3, rng=rng)

    @classmethod
    def build_train(cls, arch, options, shape, num_classes, rng):
        choices = [arch.choices[c.label] for c in cls.choices(arch.options)]
        return ChainNet(shape[0], num_classes, arch.options["width"], len(choices), choices,
                        rng)


@pytest.mark.slow
@pytest.mark.parametrize("searcher", SEARCHERS.names())
def test_a_space_defined_in_a_test_searches_and_retrains_from_yaml(tmp_path, capsys,
                                                                    searcher):
    config = {"seed": 0, "quiet": True,
              "dataset": {"name": "digits", "valid_fraction": 0.3, "test_fraction": 0.3},
              "search": {"epochs": 1, "batch_size": 64, "space": {"name": "chain"},
                         "searcher": {"name": searcher, **tiny_options(searcher)}},
              "train": {"epochs": 1, "batch_size": 64, "net": {"name": "chain"}}}
    path = tmp_path / "chain.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    with SEARCH_SPACES.temporarily("chain", ChainSpace):
        assert main(["--config", str(path), "--output-path", str(out)]) == 0
    arch = json.loads((out / "arch.json").read_text())
    assert arch["space"] == "chain" and set(arch["choices"]) == {"layer0", "layer1", "layer2"}
    summary = json.loads((out / "summary.json").read_text())
    assert 0 <= summary["test_accuracy"] <= 1 and summary["search_space"] == "chain"
