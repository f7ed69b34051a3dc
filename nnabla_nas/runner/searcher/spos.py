"""`SposTrainer`: single-path one-shot supernet training (Guo et al., 2020, "Single
Path One-Shot Neural Architecture Search with Uniform Sampling", ECCV,
https://arxiv.org/abs/1904.00420).

Every step trains one path: one candidate per labelled choice, drawn uniformly (the
space's :meth:`~nnabla_nas.contrib.spaces.SearchSpace.sample`, which also keeps the
space's own rules), from the step's seeded generator. Under hard bounds only paths
within them are trained (the paper's constrained uniform sampling). The trained
supernet (``supernet.h5``, ``supernet.json``) is then searched by ``evolution`` or
``random``.

Uniform sampling trains each candidate on about one step in the number of its
choice's candidates, and the shared layers see another path at every step, so a
supernet needs several times the steps of one network: on the digits example's
space (MobileNetV2 blocks of 6-7 candidates), one fixed path reaches a training loss
of 0.9 in 16 steps, while SPOS stays at chance (ln 10) for about 150 steps and
reaches 1.2 after 800 (the paper trains its supernet 120 ImageNet epochs).
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
