"""Hardware costs in the architecture objective: soft, multiplicative, or hard.

The ``search.regularizers`` section configures one term per cost (``latency`` in ms,
``memory`` in parameters), each in one of three modes:

* ``soft`` (additive): the objective gains ``weight * E[cost]``, or with a bound
  ``weight * max(E[cost] - bound, 0)``.
* ``multiplicative`` (ProxylessNAS/MnasNet): the loss is multiplied by
  ``(E[cost] / bound) ** weight``; a REINFORCE reward is divided by the same factor.
* ``hard``: the architecture a search returns costs at most ``bound`` (derivation
  swaps to cheaper candidates where needed, see :mod:`~nnabla_nas.runner.budget`),
  and sampling searchers reject sampled paths over it; a positive ``weight`` also
  adds the soft excess penalty, which steers gradient searchers toward the budget.

``E[cost]`` is the expected cost under softmax(alpha)
(:func:`~nnabla_nas.contrib.estimator.expected.expected_cost`), differentiable with
respect to alpha; a sampled path's exact cost comes from
:class:`~nnabla_nas.contrib.estimator.expected.PathCosts`.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence

import nnabla as nn
import nnabla.functions as F

from ..config.fields import ConfigError, option
from ..contrib.estimator import ESTIMATORS
from ..contrib.estimator.expected import PathCosts, expected_cost
from ..contrib.model import Model
from .budget import Bound

MODES = ("soft", "multiplicative", "hard")


@dataclass(frozen=True)
class PenaltyConfig:
    """One cost in the architecture objective."""

    weight: float = option(0.0, "soft: penalty per unit of the estimator; "
                                "multiplicative: exponent of (cost / bound); hard: "
                                "optional soft penalty of the excess; 0: off",
                           minimum=0)
    bound: Optional[float] = option(None, "budget in the estimator's unit (soft: only "
                                          "the excess is penalized; needed by "
                                          "multiplicative and hard)",
                                    minimum=0, exclusive_minimum=True)
    mode: str = option("soft", "soft: additive penalty; multiplicative: loss times "
                               "(cost / bound) ** weight; hard: the architecture found "
                               "stays within the bound", choices=MODES)

    def __post_init__(self):
        if self.mode in ("multiplicative", "hard") and self.bound is None:
            raise ConfigError(f"bound: expected a budget for mode {self.mode}, got none")
        if self.weight == 0 and self.mode != "hard" and self.bound is not None:
            raise ConfigError("weight: expected a positive weight when a bound is set, "
                              "got 0")

    @property
    def active(self) -> bool:
        """Whether the term takes part in the search."""
        return self.weight > 0 or self.mode == "hard"


@dataclass(frozen=True)
class LatencyPenaltyConfig(PenaltyConfig):
    """Latency of one inference forward, in ms on the run's device."""

    table: Optional[str] = option(None, "profile table (JSON) to reuse and extend across "
                                        "runs, or one imported from another device; "
                                        "default: profile in memory")


@dataclass(frozen=True)
class RegularizersConfig:
    """Hardware costs in the architecture objective."""

    latency: LatencyPenaltyConfig = option(
        None, "latency of one inference forward, in ms (LatencyEstimator)",
        default_factory=LatencyPenaltyConfig)
    memory: PenaltyConfig = option(None, "parameter count of the network (MemoryEstimator)",
                                   default_factory=PenaltyConfig)


def make_estimator(name: str, term: PenaltyConfig, context: str = "cpu",
                   device_id: int = 0):
    """The estimator of the term ``name`` from :data:`ESTIMATORS`."""
    if name == "latency":
        return ESTIMATORS.get(name)(context=context, device_id=device_id, table=term.table)
    return ESTIMATORS.get(name)()


class Regularizers:
    """The hardware terms of a search, built for ``model`` called with ``inputs``.

    Args:
        model: The supernet.
        config: The ``search.regularizers`` section.
        inputs: Input shapes the costs are estimated at.
        context: The device latency is profiled on.
        device_id: Its GPU index.

    Attributes:
        expected: ``E[cost]`` per active term, NNabla scalars of the alphas.
        costs: Exact costs of discrete paths, per active term.
        bounds: The hard bounds.
    """

    def __init__(self, model: Model, config: RegularizersConfig,
                 inputs: Sequence[Sequence[int]], context: str = "cpu", device_id: int = 0):
        self.terms: Dict[str, PenaltyConfig] = OrderedDict(
            (name, getattr(config, name)) for name in ("latency", "memory")
            if getattr(config, name).active)
        self.expected: Dict[str, nn.Variable] = OrderedDict()
        self.costs: Dict[str, PathCosts] = OrderedDict()
        for name, term in self.terms.items():
            estimator = make_estimator(name, term, context, device_id)
            self.expected[name] = expected_cost(model, estimator, inputs=inputs)
            self.costs[name] = PathCosts(model, estimator)
        self.bounds: List[Bound] = [Bound(name, self.costs[name], term.bound)
                                    for name, term in self.terms.items()
                                    if term.mode == "hard"]
        self._loss = nn.Variable(())  # a constant loss, see add_gradient
        self._penalty_only = self.objective(self._loss)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def objective(self, loss: nn.Variable) -> nn.Variable:
        """``loss`` times the multiplicative factors plus the additive penalties."""
        out = loss
        for name, term in self.terms.items():
            if term.mode == "multiplicative":
                ratio = F.mul_scalar(self.expected[name], 1.0 / term.bound)
                out = out * F.pow_scalar(ratio, term.weight)
        for name, term in self.terms.items():
            if term.mode != "multiplicative" and term.weight > 0:
                cost = self.expected[name]
                excess = cost if term.bound is None else F.relu(
                    F.add_scalar(cost, -term.bound))
                out = out + F.mul_scalar(excess, term.weight)
        return out

    def factor(self) -> float:
        """The product of the multiplicative factors at the current alphas."""
        out = 1.0
        for name, term in self.terms.items():
            if term.mode == "multiplicative":
                self.expected[name].forward()
                out *= (float(self.expected[name].d) / term.bound) ** term.weight
        return out

    def add_gradient(self, loss: float, arch_params: Mapping[str, nn.Variable]) -> None:
        """Turn the gradient of a loss, already in the alphas' ``.g``, into that of
        :meth:`objective` of the loss (whose value is ``loss``): the product rule for
        the factors, plus the penalties' gradient."""
        scale = self.factor()
        if scale != 1.0:
            for p in arch_params.values():
                p.g = p.g * scale
        self._loss.d = loss
        self._penalty_only.forward()
        self._penalty_only.backward()  # accumulates into the alphas

    def values(self) -> Dict[str, float]:
        """``expected_<name>`` per term, at the current alphas."""
        nn.forward_all(list(self.expected.values()))
        return OrderedDict((f"expected_{name}", float(v.d))
                           for name, v in self.expected.items())

    def path_costs(self, choices: Mapping[int, int]) -> Dict[str, float]:
        """The exact cost per term of the path running ``choices[id(mixed)]``."""
        return OrderedDict((name, c.of(choices)) for name, c in self.costs.items())

    def within_bounds(self, costs: Mapping[str, float]) -> bool:
        """Whether ``costs`` (as :meth:`path_costs` gives) meet every hard bound."""
        return all(costs[b.name] <= b.limit for b in self.bounds)

    def reward(self, accuracy: float, costs: Mapping[str, float]) -> float:
        """A REINFORCE reward from a path's accuracy and exact costs: divided by the
        multiplicative factors, minus the additive penalties."""
        reward = accuracy
        for name, term in self.terms.items():
            if term.mode == "multiplicative":
                reward /= (costs[name] / term.bound) ** term.weight
            elif term.weight > 0:
                excess = costs[name] if term.bound is None else max(
                    costs[name] - term.bound, 0.0)
                reward -= term.weight * excess
        return reward
