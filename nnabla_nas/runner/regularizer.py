"""Hardware costs as regularizers of the architecture loss.

The ``search.regularizers`` section names a weight (and optionally a bound) per cost.
A searcher adds ``weight * E[cost]`` (or, with a bound, ``weight * max(E[cost] - bound,
0)``) to its architecture loss, where ``E[cost]`` is the expected cost of the search
space under softmax(alpha) (:func:`~nnabla_nas.contrib.estimator.expected.expected_cost`),
a differentiable NNabla variable.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import nnabla as nn
import nnabla.functions as F

from ..config.fields import ConfigError, option
from ..contrib.estimator.expected import expected_cost
from ..contrib.estimator.latency import LatencyEstimator
from ..contrib.estimator.memory import MemoryEstimator
from ..contrib.model import Model


#: How each regularizer's estimator is made, by config key: (term config, context
#: name, device id) -> estimator.
ESTIMATOR_FOR = {
    "latency": lambda term, context, device_id: LatencyEstimator(
        context=context, device_id=device_id, table=term.table),
    "memory": lambda term, context, device_id: MemoryEstimator(),
}


@dataclass(frozen=True)
class PenaltyConfig:
    """One cost in the architecture loss."""

    weight: float = option(0.0, "weight of the cost in the architecture loss, per unit "
                                "of the estimator; 0: off", minimum=0)
    bound: Optional[float] = option(None, "budget in the estimator's unit: only the "
                                          "expected excess over it is penalized",
                                    minimum=0, exclusive_minimum=True)
    mode: str = option("soft", "soft: a penalty in the architecture loss (hard bounds "
                               "are for sampling searchers)", choices=("soft",))


@dataclass(frozen=True)
class LatencyPenaltyConfig(PenaltyConfig):
    """Latency in the architecture loss, in ms on the run's device."""

    table: Optional[str] = option(None, "profile table (JSON) to reuse and extend across "
                                        "runs; default: profile in memory")


@dataclass(frozen=True)
class RegularizersConfig:
    """Hardware costs added to the architecture loss."""

    latency: LatencyPenaltyConfig = option(
        None, "latency of one inference forward, in ms (LatencyEstimator)",
        default_factory=LatencyPenaltyConfig)
    memory: PenaltyConfig = option(None, "parameter count of the network (MemoryEstimator)",
                                   default_factory=PenaltyConfig)

    def __post_init__(self):
        for name in ESTIMATOR_FOR:
            term = getattr(self, name)
            if term.bound is not None and term.weight == 0:
                raise ConfigError(f"{name}.weight: expected a positive weight when a "
                                  f"bound is set, got 0")


def build_penalty(model: Model, config: RegularizersConfig,
                  inputs: Sequence[Sequence[int]], context: str = "cpu",
                  device_id: int = 0) -> Optional[Dict[str, nn.Variable]]:
    """The penalty terms of ``config`` for ``model`` (called with ``inputs``), plus their
    sum under ``'total'``; None when every weight is 0.

    Each term is an NNabla scalar differentiable with respect to the alphas; the
    expected cost itself is under ``'expected_<name>'``.
    """
    out: Dict[str, nn.Variable] = OrderedDict()
    penalties = []
    for name, estimator_cls in ESTIMATOR_FOR.items():
        term: PenaltyConfig = getattr(config, name)
        if term.weight == 0:
            continue
        cost = expected_cost(model, estimator_cls(term, context, device_id), inputs=inputs)
        out[f"expected_{name}"] = cost
        excess = cost if term.bound is None else F.relu(F.add_scalar(cost, -term.bound))
        penalties.append(F.mul_scalar(excess, term.weight))
    if not penalties:
        return None
    out["total"] = penalties[0] if len(penalties) == 1 else F.add_n(*penalties)
    return out
