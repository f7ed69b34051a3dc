"""Costs in the architecture objective: any registered estimator, soft, multiplicative
or hard.

``search.costs`` names estimators of
:data:`~nnabla_nas.contrib.estimator.ESTIMATORS` (``main.py list --kind estimators``),
each with a term in one of three modes and the estimator's own options::

    search:
      costs:
        latency: {weight: 0.1, bound: 2.0, mode: hard, table: profile.json}
        memory: {weight: 1.0e-6}

* ``soft`` (additive): the objective gains ``weight * E[cost]``, or with a bound
  ``weight * max(E[cost] - bound, 0)``.
* ``multiplicative`` (ProxylessNAS/MnasNet): the loss is multiplied by
  ``(E[cost] / bound) ** weight``; a REINFORCE reward is divided by the same factor.
* ``hard``: the architecture a search returns costs at most ``bound`` (derivation
  swaps to cheaper candidates where needed, see :mod:`~nnabla_nas.runner.budget`),
  and sampling searchers reject sampled paths over it; a positive ``weight`` also
  adds the soft excess penalty, which steers gradient searchers toward the budget.

A term with weight 0 that is not hard is off. Costs are in the estimator's unit.
``search.regularizers`` is the older spelling, for the two built-in costs only
(:class:`RegularizersConfig`); a config may use both sections, but not for the same
estimator.

``E[cost]`` is the expected cost under softmax(alpha)
(:func:`~nnabla_nas.contrib.estimator.expected.expected_cost`), differentiable with
respect to alpha; a sampled path's exact cost comes from
:class:`~nnabla_nas.contrib.estimator.expected.PathCosts`.
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence

import nnabla as nn
import nnabla.functions as F

from ..config.fields import ConfigError, option
from ..config.loader import from_dict
from ..contrib.estimator import ESTIMATORS
from ..contrib.estimator.base import module_estimators
from ..contrib.estimator.expected import PathCosts, expected_cost
from ..contrib.model import Model
from ..utils.context import Device
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


_COST_CONFIGS: Dict[type, type] = {}


def cost_config(estimator: type) -> type:
    """The config class of ``estimator`` as a cost: the fields of
    :class:`PenaltyConfig` (weight, bound, mode) and of the estimator's own
    ``Config``, checked by both."""
    if estimator not in _COST_CONFIGS:
        options = estimator.Config

        def __post_init__(self):
            PenaltyConfig.__post_init__(self)
            check = getattr(options, "__post_init__", None)
            if check is not None:
                check(self)

        _COST_CONFIGS[estimator] = dataclasses.make_dataclass(
            f"{estimator.__name__}Cost", [], bases=(options, PenaltyConfig), frozen=True,
            namespace={"__post_init__": __post_init__,
                       "__doc__": f"{estimator.__name__} as a cost, in {estimator.unit}."})
    return _COST_CONFIGS[estimator]


class CostTerm(NamedTuple):
    """One cost of a search: the estimator's name, the dotted key the config gives it
    (``search.costs.latency``, for messages) and its :func:`cost_config`."""

    name: str
    key: str
    config: PenaltyConfig


class CostsConfig(Mapping[str, PenaltyConfig]):
    """``search.costs``: cost terms by estimator name (a read-only mapping of
    :func:`cost_config` objects), validated from YAML by :meth:`from_yaml`."""

    #: The config key of the section.
    section = "costs"

    def __init__(self, terms: Optional[Mapping[str, PenaltyConfig]] = None):
        self._terms = dict(terms or {})

    @classmethod
    def allowed(cls) -> List[str]:
        """The estimator names the section accepts."""
        return list(module_estimators())

    @classmethod
    def unknown(cls, key: str, name: Any) -> ConfigError:
        if name in ESTIMATORS:
            return ConfigError(f"{key}: estimator {name!r} does not price modules, so it "
                               f"cannot be a cost; valid names: {', '.join(cls.allowed())}")
        return ConfigError(f"{key}: {ESTIMATORS.unknown_message(name, cls.allowed())}")

    @classmethod
    def from_yaml(cls, data: Any, key: str) -> "CostsConfig":
        """Validate parsed YAML, ``{estimator name: {weight, bound, mode, options}}``.

        Raises:
            ConfigError: naming the dotted key of an unknown estimator (with the
                closest valid name) or of a bad value.
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError(f"{key}: expected a mapping of estimator names to cost "
                              f"terms, got {data!r}")
        terms = OrderedDict()
        for name, term in data.items():
            if name not in cls.allowed():
                raise cls.unknown(f"{key}.{name}", name)
            terms[name] = from_dict(cost_config(ESTIMATORS.get(name)), term,
                                    f"{key}.{name}")
        return cls(terms)

    def terms(self, prefix: str = "search") -> List[CostTerm]:
        """The terms, with their dotted keys under ``prefix``."""
        return [CostTerm(name, f"{prefix}.{self.section}.{name}", config)
                for name, config in self._terms.items()]

    def __getitem__(self, name: str) -> PenaltyConfig:
        return self._terms[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._terms)

    def __len__(self) -> int:
        return len(self._terms)

    def __hash__(self) -> int:  # frozen, as the config dataclasses holding it
        return hash(tuple(self._terms.items()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._terms!r})"


class RegularizersConfig(CostsConfig):
    """``search.regularizers``, the older spelling of ``search.costs`` for the two
    built-in costs: ``latency`` (ms) and ``memory`` (parameters)."""

    section = "regularizers"
    #: The one place the legacy section's names are written.
    LEGACY = ("latency", "memory")

    @classmethod
    def allowed(cls) -> List[str]:
        return list(cls.LEGACY)

    @classmethod
    def unknown(cls, key: str, name: Any) -> ConfigError:
        return ConfigError(f"{key}: unknown key; valid keys here are: "
                           f"{', '.join(cls.LEGACY)}")


def cost_terms(search: Any, prefix: str = "search") -> List[CostTerm]:
    """The cost terms of a ``search`` config section: its ``regularizers``, then its
    ``costs``.

    Raises:
        ConfigError: for an estimator set in both sections.
    """
    both = [name for name in search.costs if name in search.regularizers]
    if both:
        raise ConfigError(f"{prefix}.costs.{both[0]}: also set in {prefix}.regularizers."
                          f"{both[0]}; set each cost once (regularizers is the older "
                          "spelling of costs)")
    return search.regularizers.terms(prefix) + search.costs.terms(prefix)


class Regularizers:
    """The cost terms of a search, built for ``model`` called with ``inputs``; each
    term's estimator is made by its ``from_config`` for ``device``.

    Args:
        model: The supernet.
        terms: The search's cost terms (:func:`cost_terms`); those that are off are
            left out.
        inputs: Input shapes the costs are estimated at.
        device: The run's device (default: the CPU).

    Attributes:
        terms: The active terms' configs, by estimator name.
        expected: ``E[cost]`` per active term, NNabla scalars of the alphas.
        costs: Exact costs of discrete paths, per active term.
        bounds: The hard bounds, named by their config keys.
    """

    def __init__(self, model: Model, terms: Sequence[CostTerm],
                 inputs: Sequence[Sequence[int]], device: Optional[Device] = None):
        device = device or Device()
        active = [t for t in terms if t.config.active]
        self.terms: Dict[str, PenaltyConfig] = OrderedDict((t.name, t.config)
                                                           for t in active)
        self.expected: Dict[str, nn.Variable] = OrderedDict()
        self.costs: Dict[str, PathCosts] = OrderedDict()
        self._scales: Dict[str, nn.Variable] = OrderedDict()
        for name, term in self.terms.items():
            estimator = ESTIMATORS.get(name).from_config(term, device)
            scale = self._scales[name] = nn.Variable((), need_grad=False)
            scale.d = 1.0
            self.expected[name] = expected_cost(model, estimator, inputs=inputs) * scale
            self.costs[name] = PathCosts(model, estimator)
        hard = [t for t in active if t.config.mode == "hard"]
        self.bounds: List[Bound] = [Bound(t.key, self.costs[t.name], t.config.bound)
                                    for t in hard]
        self._bounded = [t.name for t in hard]
        self._loss = nn.Variable(())  # a constant loss, see add_gradient
        self._penalty_only = self.objective(self._loss)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def rescale(self, factors: Mapping[str, float]) -> None:
        """Multiply the costs of the terms named in ``factors`` (expected and exact
        path costs alike) by their factor instead of the previous one: a search brings
        the supernet's costs, at the search's sizes, to the figures of the network it
        delivers (see :mod:`~nnabla_nas.runner.arch_costs`)."""
        for name, factor in factors.items():
            self._scales[name].d = float(factor)
            self.costs[name].scale = float(factor)

    def scales(self) -> Dict[str, float]:
        """The current factor of each term (1 until :meth:`rescale`)."""
        return OrderedDict((name, c.scale) for name, c in self.costs.items())

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
        if self._penalty_only is self._loss:  # no penalty (hard bounds only)
            return
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
        return all(costs[name] <= b.limit for name, b in zip(self._bounded, self.bounds))

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


def summary_figures(costs: Mapping[str, float], prefix: str) -> Dict[str, float]:
    """``{prefix}<summary_key>`` for each estimator's cost in ``costs`` (by name), as
    ``summary.json`` reports them; estimators without a summary key are left out."""
    keys = {name: ESTIMATORS.get(name).summary_key for name in costs}
    return OrderedDict((f"{prefix}{keys[name]}", round(value, 4))
                       for name, value in costs.items() if keys[name])
