"""`RandomSearcher`: uniformly random architectures (Li and Talwalkar, 2019, "Random
Search and Reproducibility for Neural Architecture Search", the baseline every
black-box and one-shot searcher is compared with).

Each candidate is :meth:`~nnabla_nas.contrib.spaces.SearchSpace.sample`; evaluation,
hard bounds, the journal and the outputs are those of every black-box searcher
(:mod:`.blackbox`).
"""
from __future__ import annotations

import numpy as np

from ...contrib.architecture import Architecture
from . import SEARCHERS
from .blackbox import BlackBoxSearcher


@SEARCHERS.register("random")
class RandomSearcher(BlackBoxSearcher):
    """Uniformly random architectures."""

    def propose(self, index: int, rng: np.random.RandomState) -> Architecture:
        return self.space.sample(self.arch_options, rng)
