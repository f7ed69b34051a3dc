"""`Searcher`: the base of every architecture search algorithm."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ...contrib.architecture import Architecture
from ...contrib.model import Model
from ...contrib.spaces import Decision, SearchSpace
from ...dataset import DataLoader
from ..arch_costs import ArchCosts
from ..budget import Bound, BudgetError, architecture_cost, cheapest, option_costs, \
    within_budget
from ..callbacks import Callback, search_callbacks
from ..loop import EpochLoop
from ..optimizer import Optimizer
from ..regularizer import Regularizers, cost_terms
from ..run import Run


#: Derivations tried under hard bounds before giving up (see :func:`derive_within_bounds`).
BOUND_TRIES = 8


def align_costs(regularizers: Regularizers, arch_costs: ArchCosts,
                decisions: Sequence[Decision], choices: Sequence[int],
                arch: Architecture) -> Dict[str, float]:
    """Rescale the supernet's costs of ``regularizers`` so that the architecture
    making ``choices`` costs what its delivered network costs (``arch_costs`` of
    ``arch``); returns those costs."""
    exact = arch_costs.costs(arch)
    factors = {}
    for name, c in regularizers.costs.items():
        c.scale = 1.0
        raw = architecture_cost(decisions, choices, c)
        factors[name] = exact[name] / raw if raw > 0 and exact[name] > 0 else 1.0
    regularizers.rescale(factors)
    return exact


def derive_within_bounds(space: SearchSpace, model: Model, options: Any,
                         regularizers: Regularizers, arch_costs: ArchCosts
                         ) -> Tuple[Architecture, Dict[str, float]]:
    """The architecture ``space`` derives from ``model``'s parameters (a supernet built
    with the space options ``options``), made to meet the hard bounds of
    ``regularizers`` on its delivered network, and the costs of that network
    (``arch_costs``).

    The supernet's costs are first rescaled to the delivered network's at the
    architecture derivation gives (:func:`align_costs`). Within the bounds
    (:func:`~nnabla_nas.runner.budget.within_budget` on those costs), the delivered
    network of the result is priced; a bound it still exceeds is tightened in
    proportion and the pick made again, up to :data:`BOUND_TRIES` times.

    Raises:
        BudgetError: when no pick meets the bounds on the delivered network.
    """
    arch = space.derive(model, options)
    if not regularizers:
        return arch, {}
    decisions = space.decisions(model, options)
    align_costs(regularizers, arch_costs, decisions, [d.choice for d in decisions], arch)
    limits = {b.name: b.limit for b in regularizers.bounds}
    for _ in range(BOUND_TRIES if regularizers.bounds else 0):
        bounds = [b._replace(limit=limits[b.name]) for b in regularizers.bounds]
        low = [b for b in bounds if b.limit <= cheapest(decisions, b.costs)]
        # Below the cheapest pick by the supernet's (rescaled) costs, that pick: whether
        # it is within the bound is for the delivered network to say.
        picks = cheapest_choices(decisions, low[0]) if low else \
            within_budget(decisions, bounds)
        arch = space.derive(model, options, picks)
        over = arch_costs.over(arch)
        if not over:
            break
        names = {key: name for name, key in arch_costs.keys.items()}
        for b in regularizers.bounds:
            name = names[b.name]
            if name in over:
                cost, limit = over[name]
                limits[b.name] *= 0.99 * limit / cost
    else:
        if regularizers.bounds:
            raise BudgetError("; ".join(
                f"{arch_costs.keys[name]}.bound: the delivered network of every "
                f"architecture derived costs more than {limit:g} {arch_costs.units[name]} "
                f"(the last {cost:.4g})" for name, (cost, limit) in over.items()))
    return arch, arch_costs.costs(arch)


def cheapest_choices(decisions: Sequence[Decision], bound: Bound) -> List[int]:
    """The cheapest allowed candidate of every decision by ``bound``'s costs."""
    return [d.allowed[int(np.argmin(option_costs(d, bound.costs)[list(d.allowed)]))]
            for d in decisions]


def check_bounds(space: SearchSpace, model: Model, options: Any,
                 regularizers: Regularizers, arch_costs: ArchCosts) -> None:
    """Refuse hard bounds that no architecture found meets on the delivered network.

    Per bound, the architecture taking the cheapest candidate of every decision by
    the supernet's costs (rescaled, :func:`align_costs`) is priced as delivered and
    improved by :meth:`~nnabla_nas.runner.arch_costs.ArchCosts.cheapest`.

    With several bounds each met, they must also be met together:
    :func:`~nnabla_nas.runner.budget.within_budget` on the rescaled costs must find an
    architecture within all of them (exact up to its rounding).

    Raises:
        BudgetError: one line naming every bound below the cheapest architecture
            found, with that cheapest cost per cost (or, for bounds not met together,
            every bound with its cheapest cost).
    """
    if not regularizers.bounds:
        return
    decisions = space.decisions(model, options)
    align_costs(regularizers, arch_costs, decisions, [d.choice for d in decisions],
                space.derive(model, options))
    names = {key: name for name, key in arch_costs.keys.items()}
    below = []
    for bound in regularizers.bounds:
        name, limit = names[bound.name], arch_costs.bounds[names[bound.name]]
        start = space.derive(model, options, cheapest_choices(decisions, bound))
        value = arch_costs.costs(start)[name]
        if value > limit:
            value, _ = arch_costs.cheapest([start], [name])[name]
        if value > limit:
            below.append((bound.name, name, limit, value))
    if not below and len(regularizers.bounds) > 1:
        try:  # each bound is met: are they together?
            within_budget(decisions, regularizers.bounds)
        except BudgetError:
            below = [(b.name, names[b.name], arch_costs.bounds[names[b.name]],
                      arch_costs.cheapest([space.derive(model, options)],
                                          [names[b.name]])[names[b.name]][0])
                     for b in regularizers.bounds]
            raise BudgetError(
                f"{', '.join(f'{key}.bound' for key, _, _, _ in below)}: no architecture "
                "of the search space found meets every bound at once (the cheapest per "
                "cost: " + "; ".join(f"{name} {value:.4g} {arch_costs.units[name]} "
                                     f"(bound {limit:g})" for _, name, limit, value in below)
                + ")") from None
    if below:
        keys = ", ".join(f"{key}.bound" for key, _, _, _ in below)
        what = "; ".join(f"{name} {value:.4g} {arch_costs.units[name]} (bound {limit:g})"
                         for _, name, limit, value in below)
        raise BudgetError(f"{keys}: below the cheapest architecture of the search space "
                          f"found on the network the run delivers ({space.name} with "
                          f"the train options): {what}")


class Searcher(EpochLoop):
    """Alternates weight steps on the training split with architecture steps on the
    validation split.

    A searcher is its steps. Subclasses define :meth:`train_on_batch`, the weight step
    (one update of the network weights from the batch in
    ``self.x_train``/``self.y_train``), and :meth:`valid_on_batch`, the architecture
    step (one update of the architecture parameters from
    ``self.x_valid``/``self.y_valid``), and may build graphs in :meth:`build`. Each
    step feeds one batch of each split, then runs the architecture step (skipped
    during the warm-up epochs) and the weight step, as in DARTS.

    The cost terms of ``config.costs`` and ``config.regularizers`` are built here for
    every searcher: :attr:`arch_costs` prices an architecture on the network the run
    delivers for it (``run.train_options``, see
    :class:`~nnabla_nas.runner.arch_costs.ArchCosts`), and :attr:`regularizers` holds
    the supernet's differentiable and per-candidate costs, rescaled to that network's
    figures at the architecture derived so far. Hard bounds are on the delivered
    network: checked against the cheapest architecture found before anything runs,
    and :meth:`derive` keeps the architecture it returns within them. Per-epoch output (TensorBoard, ``arch.json``, pictures, the
    alpha history) is done by ``callbacks``.

    Args:
        run: The supernet, its space, the data, the ``search`` config section (whose
            ``searcher.options`` are this searcher's own ``Config``), the output
            folder, the device and the seed.
        callbacks: Per-epoch output; default :func:`~..callbacks.search_callbacks`.
    """

    phase = "search"
    Config: Any = None
    #: Whether it scores candidates that ``search.workers`` can share out (the
    #: black-box searchers); the others refuse ``workers`` > 1.
    scores_candidates = False

    def __init__(self, run: Run, callbacks: Optional[Sequence[Callback]] = None):
        config = run.config
        if callbacks is None:
            callbacks = search_callbacks(run.space, run.output)
        super().__init__(run, config.epochs, config.batch_size, callbacks)
        self.space = run.space
        self.config = config
        # A config built in Python rather than loaded may leave components unset:
        # then the defaults of the space's and this searcher's own options apply.
        self.space_options = (config.space.options if config.space is not None
                              else self.space.SearchConfig())
        self.options = (config.searcher.options if config.searcher is not None
                        else type(self).Config() if self.Config is not None else None)
        data, seed, model = run.data, run.seed, run.model
        self.train_loader = self.loader(data.train, shuffle=True, seed=seed,
                                        augment=data.augment)
        self.valid_loader = self.loader(data.valid, shuffle=True, seed=seed + 1)
        self.steps_per_epoch = len(self.train_loader)
        total = self.steps_per_epoch * config.epochs
        self.net_optimizer = Optimizer(config.net_optimizer,
                                       model.get_net_parameters(grad_only=True), total,
                                       run.comm)
        self.arch_optimizer = Optimizer(config.arch_optimizer,
                                        model.get_arch_parameters(grad_only=True), total,
                                        run.comm)
        self.x_train, self.y_train = self.placeholders(self.local_batch)
        self.x_valid, self.y_valid = self.placeholders(self.local_batch)
        # Costs of one inference of one image: what a device budget is about, on the
        # network the run delivers (built with run.train_options).
        terms = cost_terms(config)
        self.regularizers = Regularizers(model, terms, [(1,) + tuple(data.shape)],
                                         run.device)
        delivered = (run.train_options if run.train_options is not None
                     else self.space.TrainConfig())
        self.arch_costs = ArchCosts(self.space, delivered, data.shape, data.num_classes,
                                    terms, run.device, seed)
        self.derived_costs: Dict[str, float] = {}
        self._check_budget()
        self.build()

    def decisions(self):
        """The space's decisions on the supernet's current alphas."""
        return self.space.decisions(self.model, self.space_options)

    @classmethod
    def check_inputs(cls, search: Any, data: Any = None, device: Any = None,
                     train_options: Any = None) -> None:
        """Check what this searcher's options need of the ``search`` config section
        (the space, files it names, with the dataset ``data``, the run's ``device``
        and the ``train_options`` of the network it delivers) before anything is
        written; raise a ConfigError (or a BudgetError) naming the dotted key.
        Nothing by default."""

    def summary_values(self) -> Dict[str, Any]:
        """The search's figures for ``summary.json``, after :meth:`search`."""
        return {"search_valid_accuracy": 1 - self.history[-1]["valid_error"]}

    def _check_budget(self) -> None:
        check_bounds(self.space, self.model, self.space_options, self.regularizers,
                     self.arch_costs)

    def derive(self) -> Any:
        """The architecture the search has found so far: the space's derivation, made
        to meet the hard bounds on the delivered network; that network's estimated
        costs are left in :attr:`derived_costs`."""
        arch, self.derived_costs = derive_within_bounds(
            self.space, self.model, self.space_options, self.regularizers,
            self.arch_costs)
        return arch

    def build(self) -> None:
        """Build the graphs the steps use (called once, after the placeholders exist)."""

    def train_on_batch(self, step: int) -> Dict[str, float]:
        """One weight update; returns its metrics (``loss``, ``error``, ...)."""
        raise NotImplementedError

    def valid_on_batch(self, step: int) -> Dict[str, float]:
        """One architecture update; returns its metrics."""
        raise NotImplementedError

    def optimizers(self) -> Mapping[str, Optimizer]:
        return OrderedDict(net=self.net_optimizer, arch=self.arch_optimizer)

    def loaders(self) -> Mapping[str, DataLoader]:
        return OrderedDict(train=self.train_loader, valid=self.valid_loader)

    def step_description(self, epoch: int) -> str:
        warmup = " warm-up" if epoch < self.config.warmup_epochs else ""
        return f"search {epoch + 1}/{self.epochs}{warmup}"

    def train_step(self, epoch: int, step: int) -> Dict[str, float]:
        self.x_train.d, self.y_train.d = self.train_loader.next_batch()
        values = OrderedDict()
        if epoch >= self.config.warmup_epochs:
            self.x_valid.d, self.y_valid.d = self.valid_loader.next_batch()
            values.update((f"arch_{k}", v) for k, v in self.valid_on_batch(step).items())
        values.update(self.train_on_batch(step))
        return values

    def epoch_metrics(self, epoch: int) -> Dict[str, float]:
        return {"lr": self.net_optimizer.learning_rate((epoch + 1) * self.steps_per_epoch - 1)}

    def search(self) -> Any:
        """Run the search (resuming from a checkpoint if one exists) and write
        ``arch.json`` and the supernet's ``search_weights.h5``; returns the architecture.
        """
        self.run()
        arch = self.derive()
        if self.is_main:
            self.space.save_arch(arch, self.output.path("arch.json"))
            self.model.save_parameters(self.output.path("search_weights.h5"))
        return arch
