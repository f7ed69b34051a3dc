"""`FairNasTrainer`: strict-fairness supernet training (Chu et al., 2021, "FairNAS:
Rethinking Evaluation Fairness of Weight Sharing Neural Architecture Search", ICCV,
https://arxiv.org/abs/1907.01845).

Every step draws, for every labelled choice, a random permutation of its candidates,
and trains ``n`` paths on the same batch, path ``j`` running the ``j``-th candidate of
every permutation; the gradients of the ``n`` paths are summed (the paper's Algorithm
1 accumulates them) before ONE update. So every candidate of every choice is trained
exactly once per step and receives the same number of updates.

Choices with different numbers of candidates (a ProxylessNAS block where ``skip`` is
not allowed has 6, the others 7): ``n`` is the largest count, and a choice with ``c <
n`` candidates runs its permutation in the first ``c`` paths and, in the remaining
``n - c``, the first ``n - c`` candidates of a second, independent permutation. Each
of its candidates runs at least once per step, and over steps every candidate of it
runs equally often in expectation (``n / c`` times per step), though not exactly.

Paths are not checked against the space's own rules or hard bounds: fairness needs
every candidate; what is searched afterwards is.
"""
from __future__ import annotations

from typing import List

from ...contrib.architecture import Architecture
from . import SEARCHERS
from .oneshot import OneShotTrainer


def fair_orders(counts: List[int], rng) -> List[List[int]]:
    """Per choice of ``counts[i]`` candidates, the candidate it runs in each of the
    ``max(counts)`` paths of a step (see the module docstring)."""
    n = max(counts)
    orders = []
    for c in counts:
        order = list(rng.permutation(c))
        while len(order) < n:
            order.extend(rng.permutation(c)[:n - len(order)])
        orders.append([int(k) for k in order])
    return orders


@SEARCHERS.register("fairnas")
class FairNasTrainer(OneShotTrainer):
    """Every candidate of every choice once per step; one update per step."""

    trainer_name = "fairnas"

    def step_paths(self, step: int) -> List[Architecture]:
        labels = list(self.candidates)
        orders = fair_orders([len(self.candidates[label]) for label in labels],
                             self.step_rng(step))
        return [self.architecture({label: order[j] for label, order in zip(labels, orders)})
                for j in range(len(orders[0]))]
