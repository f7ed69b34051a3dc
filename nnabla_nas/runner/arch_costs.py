"""The cost of an architecture: what each cost of a search estimates of the network the
user gets for it.

A search prices architectures in one place, :class:`ArchCosts`: the network of an
architecture is built as the run delivers it (the space's ``build_train`` with the
train section's options, see :func:`delivered_options`), called once on one input in
inference mode, and priced by every cost's estimator, built for the run's device
with the cost's options (``search.costs.<name>``). So the cost of an architecture
in a search, its hard bounds and ``main.py estimate`` of the delivered network are
the same figure.

Networks are built per architecture and memoized by architecture (a few tenths of a
second each on a CPU once the functions are profiled). Gradient and sampling
searchers also need per-candidate costs, which come from the supernet
(:class:`~nnabla_nas.contrib.estimator.expected.PathCosts`) at the search's sizes;
:meth:`ArchCosts.scale` gives the factor that brings them to the delivered network's
figure at one architecture (see :class:`~nnabla_nas.runner.regularizer.Regularizers`).

Example::

    costs = ArchCosts(space, train_options, data.shape, data.num_classes,
                      cost_terms(config.search), device)
    costs.costs(arch)           # {"latency": 1.86, ...} on the delivered network
    costs.within_bounds(arch)   # every hard bound met
    costs.cheapest([arch])      # {"latency": (1.21, cheapest architecture found)}
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import nnabla as nn
import nnabla.random
import numpy as np

from ..contrib.architecture import Architecture
from ..contrib.estimator import ESTIMATORS
from ..contrib.estimator.base import build_graph
from ..contrib.model import Model
from ..contrib.spaces import SEARCH_SPACES
from ..module import training_mode
from ..utils.context import Device
from .regularizer import CostTerm

#: Networks built at most by :meth:`ArchCosts.cheapest` by default.
CHEAPEST_BUILDS = 64


def delivered_options(config: Any) -> Tuple[Any, str]:
    """The options of the network a run delivers for the architectures its search
    finds, and where they come from: the train section's ``train.net`` options when
    the config retrains this search's space, else the space's default train options
    (what ``main.py estimate`` builds for a search-only config)."""
    space = SEARCH_SPACES.get(config.search.space.name)
    train = config.train
    if train is not None and train.net is not None and train.net.name == space.name:
        return train.net.options, "train.net"
    return space.TrainConfig(), f"the default train options of space {space.name}"


class ArchCosts:
    """The costs of architectures of ``space``, on the network built from each with
    ``options`` (the space's ``TrainConfig``: the delivered network) for inputs of
    ``shape`` (C, H, W) and ``num_classes`` classes.

    Args:
        space: A :class:`~nnabla_nas.contrib.spaces.SearchSpace` subclass.
        options: The space's train options of the networks to price.
        shape: One input sample (C, H, W); costs are of one inference at batch 1.
        num_classes: Classes of the classifier.
        terms: The cost terms (:func:`~nnabla_nas.runner.regularizer.cost_terms`);
            those that are off are left out.
        device: The device estimators are built for (default: the CPU).
        seed: Seeds the weights of the networks built (no cost depends on them).

    Attributes:
        names: The priced costs, by estimator name, in the terms' order.
        units: The unit of each.
        keys: The dotted config key of each (``search.costs.latency``).
        bounds: The hard bounds, by estimator name.
        built: How many networks were built so far.
    """

    def __init__(self, space: type, options: Any, shape: Sequence[int], num_classes: int,
                 terms: Sequence[CostTerm], device: Optional[Device] = None,
                 seed: int = 0):
        device = device or Device()
        active = [t for t in terms if t.config.active]
        self.space, self.options, self.device, self.seed = space, options, device, seed
        self.shape, self.num_classes = tuple(int(s) for s in shape), int(num_classes)
        self.names: List[str] = [t.name for t in active]
        self.keys: Dict[str, str] = OrderedDict((t.name, t.key) for t in active)
        self.estimators = OrderedDict(
            (t.name, ESTIMATORS.get(t.name).from_config(t.config, device)) for t in active)
        self.units: Dict[str, str] = OrderedDict(
            (name, e.unit) for name, e in self.estimators.items())
        self.bounds: Dict[str, float] = OrderedDict(
            (t.name, float(t.config.bound)) for t in active if t.config.mode == "hard")
        self.built = 0
        self._memo: Dict[str, Dict[str, float]] = {}

    def __bool__(self) -> bool:
        return bool(self.names)

    def network(self, arch: Architecture) -> Model:
        """The network of ``arch`` as delivered, in inference mode, called once on one
        input (so estimators know its shapes). NumPy's and NNabla's global random
        states are left as they were: pricing never shifts a run's random streams."""
        state = np.random.get_state(), nnabla.random.prng.get_state()
        try:
            model = self.space.build_train(arch, self.options, self.shape,
                                           self.num_classes,
                                           np.random.RandomState(self.seed))
            with training_mode(model, False):
                build_graph(model, [(1,) + self.shape])
        finally:
            np.random.set_state(state[0])
            nnabla.random.prng.set_state(state[1])
        self.built += 1
        return model

    def costs(self, arch: Architecture) -> Dict[str, float]:
        """Every cost of ``arch``'s delivered network, by estimator name (memoized per
        architecture)."""
        key = arch.key()
        if key not in self._memo:
            model = self.network(arch)
            with training_mode(model, False), nn.auto_forward(False):
                self._memo[key] = OrderedDict(
                    (name, float(e.get_estimation(model)))
                    for name, e in self.estimators.items())
        return OrderedDict(self._memo[key])

    def over(self, arch: Architecture) -> Dict[str, Tuple[float, float]]:
        """The hard bounds ``arch`` exceeds: ``{name: (cost, bound)}``."""
        costs = self.costs(arch) if self.bounds else {}
        return OrderedDict((name, (costs[name], limit)) for name, limit in
                           self.bounds.items() if costs[name] > limit)

    def within_bounds(self, arch: Architecture) -> bool:
        """Whether ``arch``'s delivered network meets every hard bound."""
        return not self.over(arch)

    def cheapest(self, starts: Iterable[Architecture], names: Optional[Sequence[str]] = None,
                 max_builds: int = CHEAPEST_BUILDS
                 ) -> Dict[str, Tuple[float, Architecture]]:
        """Per cost of ``names`` (default: the bounded ones), the cheapest architecture
        found and its cost: the cheapest of ``starts``, improved by greedy descent (one
        label changed at a time to its cheapest valid candidate, until no change
        lowers the cost or ``max_builds`` more networks were built).

        The result is an upper bound of the space's least cost, and that least cost
        itself for a space whose costs add up over its labels and whose rules couple
        no labels, provided the descent finishes within ``max_builds``.
        """
        starts = list(starts)
        if not starts:
            raise ValueError("ArchCosts.cheapest: starts: expected at least one "
                             "architecture")
        out: Dict[str, Tuple[float, Architecture]] = OrderedDict()
        for name in (self.bounds if names is None else names):
            limit = self.built + max_builds
            best = min(starts, key=lambda a: self.costs(a)[name])
            low = self.costs(best)[name]
            improved = True
            while improved and self.built < limit:
                improved = False
                for choice in self.space.choices(dict(best.options)):
                    for candidate in choice.candidates:
                        if candidate == best.choices[choice.label] or self.built >= limit:
                            continue
                        trial = best.replace({choice.label: candidate})
                        if not self.space.is_valid(trial):
                            continue
                        cost = self.costs(trial)[name]
                        if cost < low:
                            best, low, improved = trial, cost, True
            out[name] = (low, best)
        return out

    def describe(self, costs: Dict[str, float]) -> str:
        """``costs`` in one line with their units: ``latency 1.86 ms, memory 9.1e+04
        parameters``."""
        return ", ".join(f"{name} {value:.4g} {self.units[name]}"
                         for name, value in costs.items())
