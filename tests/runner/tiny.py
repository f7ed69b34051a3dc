"""A tiny classification problem for the runner tests: 3 separable classes of 2x2
one-channel "images", small networks without batch norm (the loss is then a pure
function of the weights and alpha), and a stub search space."""
from __future__ import annotations

from typing import Optional

import numpy as np

from nnabla_nas import module as Mo
from nnabla_nas.contrib.model import Model
from nnabla_nas.contrib.spaces import Choice, SearchSpace
from nnabla_nas.dataset import DatasetSplits, Split
from nnabla_nas.runner.run import Run
from nnabla_nas.utils.output import RunOutput

N = 16
SHAPE = (1, 2, 2)
CLASSES = 3


def split(n: int, seed: int, noise: float = 0.3) -> Split:
    """``n`` images around one fixed centre per class (classes in turn)."""
    centres = np.random.RandomState(1234).randn(CLASSES, 4) * 2.0
    rng = np.random.RandomState(seed)
    y = np.arange(n) % CLASSES
    x = centres[y] + noise * rng.randn(n, 4)
    return Split(x.reshape((n,) + SHAPE).astype(np.float32),
                 y.reshape(n, 1).astype(np.int32))


def splits(n: int = N) -> DatasetSplits:
    return DatasetSplits(split(n, 0), split(n, 1), split(n, 2), CLASSES, "tiny")


class SuperNet(Model):
    """Linear -> MixedOp(Linear, Linear+ReLU, Identity) -> Linear."""

    def __init__(self, seed: int = 0):
        rng = np.random.RandomState(seed)
        self.stem = Mo.Linear(4, 4, rng=rng)
        self.choice = Mo.MixedOp([Mo.Linear(4, 4, rng=rng),
                                  Mo.Sequential(Mo.Linear(4, 4, rng=rng), Mo.ReLU()),
                                  Mo.Identity()])
        self.head = Mo.Linear(4, CLASSES, rng=rng)
        # Non-uniform alpha so that the candidates' weights differ.
        self.choice.alpha.d = np.array([0.3, -0.2, 0.1], dtype=np.float32)

    def call(self, x):
        return self.head(self.choice(self.stem(x)))


class Net(Model):
    """Linear -> ReLU -> Linear, optionally with a settable ``drop_path_prob`` that
    records every value it is given."""

    def __init__(self, seed: int = 0, drop_path_prob: Optional[float] = None):
        rng = np.random.RandomState(seed)
        self.body = Mo.Sequential(Mo.Linear(4, 8, rng=rng), Mo.ReLU(),
                                  Mo.Linear(8, CLASSES, rng=rng))
        if drop_path_prob is not None:
            self.__dict__["_drop_path_prob"] = drop_path_prob
        self.__dict__["drop_path_history"] = []

    @property
    def drop_path_prob(self):
        return self.__dict__.get("_drop_path_prob")

    @drop_path_prob.setter
    def drop_path_prob(self, value):
        self.__dict__["_drop_path_prob"] = value
        self.drop_path_history.append(value)

    def call(self, x):
        return self.body(x)


class PathNet(Model):
    """The network of one architecture of :class:`SuperNet`: its stem, candidate
    ``k`` and head."""

    def __init__(self, k: int, seed: int = 0):
        net = SuperNet(seed)
        self.stem, self.op, self.head = net.stem, net.choice.ops[k], net.head

    def call(self, x):
        return self.head(self.op(self.stem(x)))


class StubSpace(SearchSpace):
    """The space of :class:`SuperNet`: its one MixedOp (unlabelled, so labelled by its
    name, ``choice``), over the candidates ``'0'``, ``'1'`` and ``'2'``; the network of
    an architecture is :class:`PathNet`."""

    name = "stub"
    CANDIDATES = ("0", "1", "2")

    @classmethod
    def arch_options(cls, options):
        return {}

    @classmethod
    def choices(cls, arch_options):
        return [Choice("choice", cls.CANDIDATES)]

    @classmethod
    def build_train(cls, arch, options, shape, num_classes, rng):
        return PathNet(cls.CANDIDATES.index(arch.choices["choice"]))


class ToySpace(StubSpace):
    """The same, with two candidates (a MixedOp of two operators named ``choice``)."""

    CANDIDATES = ("0", "1")


def run_output(path, config: Optional[dict] = None) -> RunOutput:
    return RunOutput(str(path), config or {"test": "runner"}, quiet=True)


def phase(tmp_path, model, section, data=None, space=StubSpace, **kw) -> Run:
    """The Run of a phase on the tiny problem, writing into ``tmp_path``."""
    return Run(model=model, data=data or splits(), config=section,
               output=run_output(tmp_path), seed=kw.pop("seed", 0), space=space,
               quiet=True, **kw)
