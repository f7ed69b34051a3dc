"""`Searcher`: the base of every architecture search algorithm."""
from __future__ import annotations

from collections import OrderedDict
import os
from typing import Any, Dict, Mapping, Optional, Tuple

from ...contrib.model import Model
from ...contrib.spaces import SearchSpace
from ...dataset import DataLoader, DatasetSplits
from ...utils.context import Device
from ...utils.output import RunOutput
from ...visual.alphas import AlphaHistory, softmax_rows
from ...visual.images import add_image
from ..budget import BudgetError, architecture_cost, cheapest, within_budget
from ..deliver import Pictures
from ..loop import EpochLoop
from ..optimizer import Optimizer
from ..regularizer import Regularizers, cost_terms


def derive_within_bounds(space: SearchSpace, model: Model, regularizers: Regularizers
                         ) -> Tuple[Any, Dict[str, float]]:
    """The architecture ``space`` derives from ``model``'s parameters, made to meet the
    hard bounds of ``regularizers`` (see :func:`~nnabla_nas.runner.budget.within_budget`),
    and its exact estimated cost per regularizer."""
    decisions = space.decisions(model) if regularizers else []
    choices = None
    if regularizers.bounds:
        choices = within_budget(decisions, regularizers.bounds)
    arch = space.derive(model) if choices is None else space.derive(model, choices)
    picked = choices or [d.choice for d in decisions]
    costs = {name: architecture_cost(decisions, picked, c)
             for name, c in regularizers.costs.items()}
    return arch, costs


class Searcher(EpochLoop):
    """Alternates weight steps on the training split with architecture steps on the
    validation split.

    Subclasses define :meth:`train_on_batch` (one weight update from the batch in
    ``self.x_train``/``self.y_train``) and :meth:`valid_on_batch` (one architecture
    update from ``self.x_valid``/``self.y_valid``), and may build graphs in
    :meth:`build`. Each step feeds one batch of each split, then runs the architecture
    step (skipped during the warm-up epochs) and the weight step, as in DARTS.

    The cost terms of ``config.costs`` and ``config.regularizers`` are built here for
    every searcher
    (:attr:`regularizers`); hard bounds are checked against the cheapest architecture
    of the space before anything runs, and :meth:`derive` keeps the architecture it
    returns within them.

    Args:
        model: The supernet.
        space: Its search space (derives and saves the architecture).
        data: The dataset splits.
        config: The ``search`` section of the run config.
        options: The searcher's own options (its ``Config``).
        output: The run's output folder.
        seed: Seeds the data order and every epoch's random numbers.
        quiet: No progress bars.
        checkpoint_every: Also checkpoint every this many steps (0: per epoch only).
        device: The device costs are estimated on (default: the CPU).
    """

    phase = "search"
    Config: Any = None

    def __init__(self, model: Model, space: SearchSpace, data: DatasetSplits, config,
                 options, output: RunOutput, seed: int, quiet: bool = False,
                 checkpoint_every: int = 0, device: Optional[Device] = None):
        super().__init__(model, data, config.epochs, config.batch_size, output, seed, quiet,
                         checkpoint_every)
        self.device = device
        self.space = space
        self.config = config
        self.options = options
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
                                         [(1,) + tuple(data.shape)], device)
        self._check_budget()
        self.derived_costs: Dict[str, float] = {}
        self.alpha_history = AlphaHistory()
        self.pictures = Pictures(space, output)
        self.build()

    def _check_budget(self) -> None:
        decisions = self.space.decisions(self.model) if self.regularizers.bounds else []
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
        arch, self.derived_costs = derive_within_bounds(self.space, self.model,
                                                        self.regularizers)
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

    def end_epoch(self, epoch: int, metrics: Dict[str, float]) -> None:
        alphas = self.model.get_arch_parameters()
        for name, p in alphas.items():
            rows = softmax_rows(p.d)
            for row, probs in enumerate(rows):
                for i, value in enumerate(probs):
                    tag = f"alpha/{name}" + (f"/{row}" if len(rows) > 1 else "") + f"/{i}"
                    self.output.writer.add_scalar(tag, value, epoch + 1)
        arch = self.derive()
        self.space.save_arch(arch, self.output.path("arch.json"))
        costs = "".join(f", estimated {k} {v:.4g}" for k, v in self.derived_costs.items())
        self.log.info(f"search epoch {epoch + 1}: architecture {arch}{costs}")
        if alphas:
            self.alpha_history.record(epoch, alphas)
            self.alpha_history.save(self.output.path("alpha_history.json"))
            png = self.alpha_history.plot(self.output.path("pictures", "alphas.png"),
                                          self.space.candidate_names(self.model))
            add_image(self.output.writer, "alphas", png, epoch + 1)
        for path in self.pictures.draw(arch):
            if path.endswith(".png"):
                name = os.path.splitext(os.path.basename(path))[0]
                add_image(self.output.writer, f"architecture/{name}", path, epoch + 1)

    def extra_state(self) -> dict:
        return {"alpha_history": self.alpha_history.to_dict()}

    def load_extra_state(self, state: dict) -> None:
        if "alpha_history" in state:
            self.alpha_history = AlphaHistory.from_dict(state["alpha_history"])

    def search(self) -> Any:
        """Run the search (resuming from a checkpoint if one exists) and write
        ``arch.json`` and the supernet's ``search_weights.h5``; returns the architecture.
        """
        self.run()
        arch = self.derive()
        self.space.save_arch(arch, self.output.path("arch.json"))
        self.model.save_parameters(self.output.path("search_weights.h5"))
        return arch
