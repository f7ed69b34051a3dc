"""`EvolutionSearcher`: regularized (aging) evolution, Real et al., 2019, "Regularized
Evolution for Image Classifier Architecture Search", https://arxiv.org/abs/1802.01548
(Algorithm 1).

The first ``population`` candidates are uniformly random architectures. Each later one
is a mutation of a parent: ``sample_size`` of the ``population`` latest candidates are
drawn without replacement, the most accurate of them is the parent, and one of its
choices changes to another candidate
(:meth:`~nnabla_nas.contrib.spaces.SearchSpace.mutate`). The population is always the
``population`` latest candidates, so the oldest ages out whatever its accuracy.
Evaluation, pre-selection, hard bounds, the journal and the outputs are those of every
black-box searcher (:mod:`.blackbox`); with ``preselect``, the population starts with
the pre-selected architectures.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config.fields import ConfigError, option
from ...contrib.architecture import Architecture
from . import SEARCHERS
from .blackbox import BlackBoxConfig, BlackBoxSearcher


@SEARCHERS.register("evolution")
class EvolutionSearcher(BlackBoxSearcher):
    """Regularized evolution: tournament selection, one mutation, oldest out."""

    @dataclass(frozen=True)
    class Config(BlackBoxConfig):
        """Options of regularized evolution."""

        population: int = option(20, "architectures alive at once (the first ones are "
                                      "random)", minimum=2, maximum=10**6)
        sample_size: int = option(5, "architectures of the population drawn per "
                                      "tournament; the most accurate is the parent",
                                  minimum=1, maximum=10**6)

        def __post_init__(self):
            super().__post_init__()
            if self.sample_size > self.population:
                raise ConfigError(f"sample_size: expected at most population="
                                  f"{self.population}, got {self.sample_size}")

    @classmethod
    def check_space(cls, options, size: int) -> None:
        if options.population > size:
            raise ConfigError(f"search.searcher.population: {options.population} is "
                              f"larger than the search space ({size} architectures); "
                              f"expected at most {size}")

    def propose(self, index: int, rng: np.random.RandomState) -> Architecture:
        population = self.options.population
        if index < population:
            return self.space.sample(self.arch_options, rng)
        alive = self.candidates[-population:]
        drawn = rng.choice(population, self.options.sample_size, replace=False)
        parent = max((alive[i] for i in sorted(drawn)), key=lambda c: c.accuracy)
        return self.space.mutate(parent.architecture(self.space, self.arch_options), rng)
