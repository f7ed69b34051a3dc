"""`OneShotTrainer`: what the supernet trainers of one-shot search share (``spos``,
``fairnas``): paths as architectures, seeded per step, one graph per path, the
supernet files, and a quick pick of an architecture for the search-then-train chain.

A one-shot trainer does not learn architecture parameters: it trains the weights of a
weight-sharing supernet on paths (architectures of the space, run through
:meth:`~nnabla_nas.contrib.spaces.SearchSpace.fixed`), so that black-box searchers
(``evolution``, ``random``) can later rank architectures by the weights they inherit.
It writes the trained supernet as ``supernet.h5`` (NNabla parameters) and
``supernet.json`` with :func:`~nnabla_nas.runner.supernet.write_supernet`: the contract
those searchers read (:mod:`nnabla_nas.runner.supernet`).

Randomness: the paths of step ``s`` come from ``RandomState([seed, s])``, so they are
the same in a resumed run as in an uninterrupted one without any state to save.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import nnabla as nn
import numpy as np

from ...config.fields import ConfigError, option
from ...contrib.architecture import Architecture
from ...contrib.spaces import labelled_ops
from ...module import training_mode
from ..budget import within_budget
from ..candidate import arch_indices
from ..meter import check_finite
from ..supernet import WEIGHTS, write_supernet
from .search import Searcher

@dataclass(frozen=True)
class OneShotConfig:
    """Options every one-shot supernet trainer has."""

    max_draws: int = option(100, "hard bounds: uniform draws of a path before the step "
                                 "trains the architecture derivation gives within "
                                 "budget instead", minimum=1, maximum=100_000)
    derive_samples: int = option(8, "architecture.json of the plain chain: uniform "
                                    "architectures compared on the validation split",
                                 minimum=1, maximum=10_000)
    derive_batches: int = option(2, "validation batches each of those is scored on",
                                 minimum=1, maximum=10_000)


class OneShotTrainer(Searcher):
    """Trains a supernet path by path; subclasses choose the paths of a step
    (:meth:`step_paths`) and how their gradients combine (one update per step).

    Requires a space with labelled choices (MixedOps). Hard bounds
    (``search.costs.<name>.mode: hard``) restrict training to paths within them, as
    SPOS's constrained sampling (see :meth:`within_bounds`).
    """

    #: The name the trainer has in ``supernet.json`` (its SEARCHERS key).
    trainer_name = ""
    Config: Any = OneShotConfig

    def __init__(self, run: Any, callbacks: Optional[list] = None):
        # No per-epoch architecture output: the supernet is searched afterwards.
        super().__init__(run, [] if callbacks is None else callbacks)

    def build(self) -> None:
        self.groups = labelled_ops(self.model)
        if not self.groups:
            raise ConfigError(
                f"search.space.name: space {self.space.name!r} has no labelled choices "
                f"(MixedOps), so the {self.trainer_name} supernet trainer has no paths "
                "to train")
        self.arch_options = self.space.arch_options(self.space_options)
        self.candidates: Dict[str, Tuple[str, ...]] = OrderedDict(
            (label, tuple(ops[0].names)) for label, ops in self.groups.items())
        for p in self.model.get_arch_parameters().values():
            p.need_grad = False  # alphas are not trained (fixed() also turns them off)
        self.rejected = 0

    # ------------------------------------------------------------------ paths
    def step_rng(self, step: int, stream: int = 0) -> np.random.RandomState:
        """The generator of ``step`` (``stream`` 1 for the validation path)."""
        return np.random.RandomState([self.seed % 2 ** 32, int(step), stream])

    def architecture(self, indices: Dict[str, int]) -> Architecture:
        """The path running candidate ``indices[label]`` of every label."""
        return Architecture(self.space.name, self.arch_options,
                            {label: self.candidates[label][k]
                             for label, k in indices.items()})

    def choices_of(self, arch: Architecture) -> Dict[int, int]:
        """``{id(mixed): candidate index}`` of ``arch``, as path costs take them."""
        return arch_indices(self.groups, arch)

    def path_costs(self, arch: Architecture) -> Dict[str, float]:
        """The exact cost of ``arch`` per cost term of the search."""
        return self.regularizers.path_costs(self.choices_of(arch))

    def within_bounds(self, arch: Architecture) -> bool:
        """Whether ``arch`` meets every hard bound (always, without bounds)."""
        return not self.regularizers.bounds or self.regularizers.within_bounds(
            self.path_costs(arch))

    def sample(self, rng: np.random.RandomState) -> Architecture:
        """A uniformly random architecture (the space's own :meth:`sample`) within the
        hard bounds: redrawn up to ``max_draws`` times, then the architecture
        derivation gives within budget."""
        for _ in range(self.options.max_draws):
            arch = self.space.sample(self.arch_options, rng)
            if self.within_bounds(arch):
                return arch
            self.rejected += 1
        decisions = self.decisions()
        return self.space.derive(self.model, self.space_options,
                                 within_budget(decisions, self.regularizers.bounds))

    def step_paths(self, step: int) -> List[Architecture]:
        """The paths trained at ``step``, in order."""
        raise NotImplementedError

    # ------------------------------------------------------------------ graphs
    def path_graph(self, arch: Architecture, x: nn.Variable, y: nn.Variable
                   ) -> Tuple[nn.Variable, nn.Variable]:
        """Loss and error of the supernet running ``arch`` on ``x``, ``y``."""
        with self.space.fixed(self.model, arch):
            out = self.model(x)
        loss = self.model.loss(out, y)
        error = self.model.metrics(out, y)["error"]
        loss.persistent = error.persistent = True
        return loss, error

    def train_path(self, arch: Architecture) -> Tuple[float, float]:
        """Forward and backward of ``arch`` on the training batch; the weights'
        gradients accumulate (nothing is updated). Returns loss and error."""
        loss, error = self.path_graph(arch, self.x_train, self.y_train)
        nn.forward_all([loss, error], clear_no_need_grad=True)
        loss.backward(clear_buffer=True)
        return float(loss.d), float(error.d)

    # ------------------------------------------------------------------ steps
    def train_on_batch(self, step: int) -> Dict[str, float]:
        """One update from the gradients of every path of :meth:`step_paths`, summed;
        ``loss`` and ``error`` are the paths' means."""
        self.net_optimizer.zero_grad()
        results = [self.train_path(arch) for arch in self.step_paths(step)]
        values = OrderedDict(loss=float(np.mean([r[0] for r in results])),
                             error=float(np.mean([r[1] for r in results])),
                             paths=float(len(results)))
        check_finite(values, f"search step {step + 1}, weight step")
        values["lr"] = self.net_optimizer.update(step)
        return values

    def valid_on_batch(self, step: int) -> Dict[str, float]:
        """No architecture update: the loss and error of one uniformly sampled path on
        the validation batch, to watch the supernet generalize (logged as
        ``arch_loss`` and ``arch_error``), in inference mode."""
        with training_mode(self.model, False):  # running statistics, left unchanged
            loss, error = self.path_graph(self.sample(self.step_rng(step, 1)),
                                          self.x_valid, self.y_valid)
        nn.forward_all([loss, error], clear_buffer=True)
        return OrderedDict(loss=float(loss.d), error=float(error.d))

    def reference_path(self) -> Architecture:
        """The path evaluated after each epoch: drawn once from the run's seed, so
        that the epochs' validation figures compare."""
        return self.sample(np.random.RandomState([self.seed % 2 ** 32, 2 ** 31]))

    def evaluate(self, split, name: str) -> Dict[str, float]:
        """Loss and error of :meth:`reference_path` with the supernet's weights."""
        self.reset_eval_graphs()
        try:
            with self.space.fixed(self.model, self.reference_path()):
                return super().evaluate(split, name)
        finally:
            self.reset_eval_graphs()

    def epoch_metrics(self, epoch: int) -> Dict[str, float]:
        metrics = super().epoch_metrics(epoch)
        if self.regularizers.bounds:
            metrics["rejected_paths"] = float(self.rejected)
        return metrics

    def extra_state(self) -> dict:
        return {"rejected": self.rejected}

    def load_extra_state(self, state: dict) -> None:
        self.rejected = int(state.get("rejected", 0))

    # ------------------------------------------------------- the architecture
    def derive(self) -> Architecture:
        """A quick pick for the plain search-then-train chain: of ``derive_samples``
        seeded uniform architectures within the hard bounds, the one with the lowest
        error on ``derive_batches`` validation batches with the supernet's weights
        (running batch-norm statistics as trained). The ``evolution`` and ``random``
        searchers search a trained supernet properly (re-estimated statistics, many
        more candidates)."""
        rng = np.random.RandomState([self.seed % 2 ** 32, 2 ** 31 - 1])
        archs = [self.sample(rng) for _ in range(self.options.derive_samples)]
        batches = [self.valid_loader.next_batch()
                   for _ in range(self.options.derive_batches)]
        x, y = self.placeholders(len(batches[0][0]))
        scores = []
        with training_mode(self.model, False):
            for arch in archs:
                loss, error = self.path_graph(arch, x, y)
                errors = []
                for xb, yb in batches:
                    x.d, y.d = xb, yb
                    nn.forward_all([loss, error], clear_buffer=True)
                    errors.append(float(error.d))
                scores.append(np.mean(errors))
        # Each rank scored its part of the batches: the means over the ranks.
        (scores,) = self.comm.allreduce_mean([scores])
        best, best_error = archs[0], np.inf
        for arch, score in zip(archs, scores):
            if score < best_error:
                best, best_error = arch, float(score)
        self.derived_costs = dict(self.path_costs(best))
        return best

    def train_supernet(self) -> str:
        """Train the supernet (resuming from a checkpoint if one exists) and write
        ``supernet.h5`` and then ``supernet.json`` in the run folder; returns the
        parameters' path. Writes no ``arch.json``: the black-box searchers call this."""
        self.run()
        if not self.is_main:
            return self.output.path(WEIGHTS)
        return write_supernet(self.model, self.output.path(WEIGHTS), self.space.name,
                              self.space_options, self.trainer_name, self.epochs)

    def search(self) -> Architecture:
        """:meth:`train_supernet`, then ``arch.json`` (see :meth:`derive`) and
        ``search_weights.h5``; returns the architecture."""
        self.train_supernet()
        arch = self.derive()
        if self.is_main:
            self.space.save_arch(arch, self.output.path("arch.json"))
            self.model.save_parameters(self.output.path("search_weights.h5"))
        return arch
