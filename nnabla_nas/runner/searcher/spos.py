"""`SposTrainer`: single-path one-shot supernet training (Guo et al., 2020, "Single
Path One-Shot Neural Architecture Search with Uniform Sampling", ECCV,
https://arxiv.org/abs/1904.00420).

Every step trains one path: one candidate per labelled choice, drawn uniformly (the
space's :meth:`~nnabla_nas.contrib.spaces.SearchSpace.sample`, which also keeps the
space's own rules), from the step's seeded generator. Under hard bounds only paths
within them are trained (the paper's constrained uniform sampling). The trained
supernet (``supernet.h5``, ``supernet.json``) is then searched by ``evolution`` or
``random``.
"""
from __future__ import annotations

from typing import List

from ...contrib.architecture import Architecture
from . import SEARCHERS
from .oneshot import OneShotTrainer


@SEARCHERS.register("spos")
class SposTrainer(OneShotTrainer):
    """One uniformly sampled path per step."""

    trainer_name = "spos"

    def step_paths(self, step: int) -> List[Architecture]:
        return [self.sample(self.step_rng(step))]
