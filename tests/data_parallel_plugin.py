"""A plugin the data-parallel tests (tests/test_data_parallel.py) name in their
configs (``plugins: [tests.data_parallel_plugin]``), run through ``main.py`` under
``mpirun``:

* the dataset ``blobs``: 1x4x4 images around one centre per class (3 classes), from
  the seed;
* the space ``mlp``: a supernet of linear layers and two MixedOps, without batch norm,
  so its loss is a function of the weights and alphas only and a global batch split
  over ranks computes what one process computes on the whole batch;
* the searcher ``darts_crash``: DARTS whose rank ``crash_rank`` raises at step
  ``crash_step`` (a rank failing in the middle of a search);
* the searcher ``darts_hang``: DARTS whose rank 0, at step ``hang_step``, creates the
  file ``marker`` and sleeps, so that the test can ``kill -9`` the job at a known
  point; when ``marker`` exists already it is plain DARTS (the rerun).
"""
import os
import time
from dataclasses import dataclass

import numpy as np

from nnabla_nas import module as Mo
from nnabla_nas.config.fields import option
from nnabla_nas.contrib.model import Model
from nnabla_nas.contrib.spaces import SEARCH_SPACES, Choice, SearchSpace
from nnabla_nas.dataset import DATASETS, DatasetSplits, Split
from nnabla_nas.runner.searcher import SEARCHERS
from nnabla_nas.runner.searcher.darts import DartsSearcher

SHAPE, CLASSES, WIDTH = (1, 4, 4), 3, 8
CANDIDATES = ("linear", "linear_relu", "skip")


@DATASETS.register("blobs")
class Blobs:
    """1x4x4 images: a fixed centre per class plus Gaussian noise."""

    @dataclass(frozen=True)
    class Config:
        """Options of ``blobs``."""

        images: int = option(60, "images in all, split 40/20/40 into train, valid, test",
                             minimum=10)

    @staticmethod
    def load(config: "Blobs.Config", seed: int) -> DatasetSplits:
        centres = np.random.RandomState(1234).randn(CLASSES, 16) * 1.5
        rng = np.random.RandomState(seed)
        y = np.arange(config.images) % CLASSES
        x = (centres[y] + 0.5 * rng.randn(config.images, 16)).astype(np.float32)
        x, y = x.reshape((-1,) + SHAPE), y.reshape(-1, 1).astype(np.int32)
        a, b = int(0.4 * len(x)), int(0.6 * len(x))
        return DatasetSplits(Split(x[:a], y[:a]), Split(x[a:b], y[a:b]),
                             Split(x[b:], y[b:]), CLASSES, "blobs")


def candidates(rng):
    return [Mo.Linear(WIDTH, WIDTH, rng=rng),
            Mo.Sequential(Mo.Linear(WIDTH, WIDTH, rng=rng), Mo.ReLU()), Mo.Identity()]


class SuperNet(Model):
    """Linear -> MixedOp -> MixedOp -> Linear (no batch statistics anywhere)."""

    def __init__(self, rng):
        self.stem = Mo.Linear(16, WIDTH, rng=rng)
        self.first = Mo.MixedOp(candidates(rng), label="first", names=CANDIDATES, rng=rng)
        self.second = Mo.MixedOp(candidates(rng), label="second", names=CANDIDATES,
                                 rng=rng)
        self.head = Mo.Linear(WIDTH, CLASSES, rng=rng)

    def call(self, x):
        return self.head(self.second(self.first(self.stem(x))))


class Net(Model):
    """The network of one architecture of :class:`SuperNet`."""

    def __init__(self, arch, rng):
        ops = dict(zip(CANDIDATES, range(3)))
        self.stem = Mo.Linear(16, WIDTH, rng=rng)
        self.first = candidates(rng)[ops[arch.choices["first"]]]
        self.second = candidates(rng)[ops[arch.choices["second"]]]
        self.head = Mo.Linear(WIDTH, CLASSES, rng=rng)

    def call(self, x):
        return self.head(self.second(self.first(self.stem(x))))


@SEARCH_SPACES.register("mlp")
class MlpSpace(SearchSpace):
    """Two choices among a linear layer, one with a ReLU, and a skip."""

    name = "mlp"

    @classmethod
    def arch_options(cls, options):
        return {}

    @classmethod
    def choices(cls, arch_options):
        return [Choice("first", CANDIDATES), Choice("second", CANDIDATES)]

    @classmethod
    def build_search(cls, options, shape, num_classes, rng):
        return SuperNet(rng)

    @classmethod
    def build_train(cls, arch, options, shape, num_classes, rng):
        return Net(arch, rng)


@SEARCHERS.register("darts_crash")
class CrashingDarts(DartsSearcher):
    """DARTS, except that one rank raises at one step."""

    @dataclass(frozen=True)
    class Config(DartsSearcher.Config):
        """DARTS' options and where to fail."""

        crash_rank: int = option(1, "the rank that raises", minimum=0)
        crash_step: int = option(1, "the step (0-based) at which it raises", minimum=0)

    def train_on_batch(self, step):
        if self.comm.rank == self.options.crash_rank and step == self.options.crash_step:
            raise RuntimeError(f"injected failure at step {step}")
        return super().train_on_batch(step)


@SEARCHERS.register("darts_hang")
class HangingDarts(DartsSearcher):
    """DARTS whose rank 0 stops at one step until killed, the first time only."""

    @dataclass(frozen=True)
    class Config(DartsSearcher.Config):
        """DARTS' options and where to wait."""

        hang_step: int = option(1, "the step (0-based) at which rank 0 waits", minimum=0)
        marker: str = option("", "created when rank 0 starts waiting; if it exists, "
                                 "nobody waits")

    def train_on_batch(self, step):
        if self.comm.rank == 0 and step == self.options.hang_step \
                and not os.path.exists(self.options.marker):
            open(self.options.marker, "w").close()
            time.sleep(600)  # until the test kills the job
        return super().train_on_batch(step)
