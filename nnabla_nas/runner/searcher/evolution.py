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

Children are proposed in rounds of ``round_size``: every child of a round is drawn from
the population as it was when the round began, and the round's results join it in
proposal order once all are in. So a round's children can be scored at once by that
many workers (``search.workers``), and since the round size is an option of its own,
never the number of workers, a seed gives the same search with one worker or many.
``round_size: 1`` is Algorithm 1 exactly (each child sees every earlier result). The
default, 8, is a compromise reasoned from the algorithm, not tuned: it keeps up to 8
workers busy (one machine's cores, or a small cluster; 1, 2, 4 or 8 workers divide it,
so none waits idle at a round's end), while a child misses at most the 7 results of
its own round, fewer than a third of the default population of 20, so selection still
works on a population that ages one candidate at a time rather than generation by
generation (``round_size`` = ``population`` would be a generational algorithm). Real
et al. ran the algorithm asynchronously on 450 workers with a population of 100, where
each child missed far more results than that. The first ``population`` candidates are
random and depend on no result: they are all scored at once.
"""
from __future__ import annotations

import math
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
        round_size: int = option(8, "children proposed from the same population, "
                                    "scored at once by up to that many workers "
                                    "(1: one child at a time); independent of "
                                    "search.workers", minimum=1, maximum=10**6)

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

    def ready_before(self, index: int) -> int:
        """0 for the random first ``population``; for a child, every candidate
        before its round."""
        population, size = self.options.population, self.options.round_size
        if index < population:
            return 0
        return population + (index - population) // size * size

    def propose(self, index: int, rng: np.random.RandomState) -> Architecture:
        """A random architecture for the first ``population`` candidates; else the
        mutation of a tournament's winner among the ``population`` latest candidates
        before the round (a failed candidate ages like the others but never wins)."""
        population = self.options.population
        if index < population:
            return self.space.sample(self.arch_options, rng)
        alive = self.candidates[:self.ready_before(index)][-population:]
        drawn = rng.choice(population, self.options.sample_size, replace=False)
        parent = max((alive[i] for i in sorted(drawn)), key=fitness)
        return self.space.mutate(parent.architecture(self.space, self.arch_options), rng)


def fitness(candidate) -> float:
    """What a tournament ranks by: the accuracy, below any for a failed candidate."""
    return -math.inf if candidate.accuracy is None else candidate.accuracy
