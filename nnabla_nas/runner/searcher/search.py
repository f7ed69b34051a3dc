"""`Searcher`: the base of every architecture search algorithm."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from ...contrib.architecture import Architecture
from ...contrib.model import Model
from ...contrib.spaces import SearchSpace
from ...dataset import DataLoader
from ..budget import BudgetError, architecture_cost, cheapest, within_budget
from ..callbacks import Callback, search_callbacks
from ..loop import EpochLoop
from ..optimizer import Optimizer
from ..regularizer import Regularizers, cost_terms
from ..run import Run


def derive_within_bounds(space: SearchSpace, model: Model, options: Any,
                         regularizers: Regularizers
                         ) -> Tuple[Architecture, Dict[str, float]]:
    """The architecture ``space`` derives from ``model``'s parameters (a supernet built
    with the space options ``options``), made to meet the hard bounds of
    ``regularizers`` (see :func:`~nnabla_nas.runner.budget.within_budget`), and its
    exact estimated cost per regularizer."""
    decisions = space.decisions(model, options) if regularizers else []
    choices = None
    if regularizers.bounds:
        choices = within_budget(decisions, regularizers.bounds)
    arch = space.derive(model, options, choices)
    picked = choices or [d.choice for d in decisions]
    costs = {name: architecture_cost(decisions, picked, c)
             for name, c in regularizers.costs.items()}
    return arch, costs


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
    every searcher    (:attr:`regularizers`); hard bounds are checked against the cheapest architecture
    of the space before anything runs, and :meth:`derive` keeps the architecture it
    returns within them. Per-epoch output (TensorBoard, ``arch.json``, pictures, the
    alpha history) is done by ``callbacks``.

    Args:
        run: The supernet, its space, the data, the ``search`` config section (whose
            ``searcher.options`` are this searcher's own ``Config``), the output
            folder, the device and the seed.
        callbacks: Per-epoch output; default :func:`~..callbacks.search_callbacks`.
    """

    phase = "search"
    Config: Any = None

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
        self.train_loader = DataLoader(data.train, config.batch_size, shuffle=True,
                                       seed=seed, augment=data.augment, drop_last=True)
        self.valid_loader = DataLoader(data.valid, config.batch_size, shuffle=True,
                                       seed=seed + 1, drop_last=True)
        self.steps_per_epoch = len(self.train_loader)
        total = self.steps_per_epoch * config.epochs
        self.net_optimizer = Optimizer(config.net_optimizer,
                                       model.get_net_parameters(grad_only=True), total)
        self.arch_optimizer = Optimizer(config.arch_optimizer,
                                        model.get_arch_parameters(grad_only=True), total)
        self.x_train, self.y_train = self.placeholders(config.batch_size)
        self.x_valid, self.y_valid = self.placeholders(config.batch_size)
        # Costs of one inference of one image: what a device budget is about.
        self.regularizers = Regularizers(model, cost_terms(config),
                                         [(1,) + tuple(data.shape)], run.device)
        self._check_budget()
        self.derived_costs: Dict[str, float] = {}
        self.build()

    @classmethod
    def check_inputs(cls, search: Any, data: Any = None, device: Any = None) -> None:
        """Check what this searcher's options need of the ``search`` config section
        (the space, files it names, with the dataset ``data`` and the run's
        ``device``) before anything is written; raise a ConfigError (or a
        BudgetError) naming the dotted key. Nothing by default."""

    def summary_values(self) -> Dict[str, Any]:
        """The search's figures for ``summary.json``, after :meth:`search`."""
        return {"search_valid_accuracy": 1 - self.history[-1]["valid_error"]}

    def decisions(self):
        """The space's decisions on the supernet's current alphas."""
        return self.space.decisions(self.model, self.space_options)

    def _check_budget(self) -> None:
        decisions = self.decisions() if self.regularizers.bounds else []
        for bound in self.regularizers.bounds:
            low = cheapest(decisions, bound.costs)
            if low > bound.limit:
                raise BudgetError(
                    f"{bound.name}.bound: {bound.limit:g} "
                    f"{bound.costs.unit} is below the cheapest architecture of the search "
                    f"space ({low:.4g} {bound.costs.unit})")

    def derive(self) -> Any:
        """The architecture the search has found so far: the space's derivation, made
        to meet the hard bounds; its exact costs are left in :attr:`derived_costs`."""
        arch, self.derived_costs = derive_within_bounds(
            self.space, self.model, self.space_options, self.regularizers)
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
        self.space.save_arch(arch, self.output.path("arch.json"))
        self.model.save_parameters(self.output.path("search_weights.h5"))
        return arch
