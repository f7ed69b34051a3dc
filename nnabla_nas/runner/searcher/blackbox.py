"""`BlackBoxSearcher`: what the searchers that only evaluate architectures share
(:mod:`.evolution`, :mod:`.random_search`).

Such a searcher proposes architectures (:meth:`BlackBoxSearcher.propose`, the one thing
a subclass writes) and scores each by its validation accuracy, in one of two ways
(``evaluate``, see :mod:`~nnabla_nas.runner.candidate`):

* ``supernet``: with the weights inherited from a trained supernet, batch-norm
  statistics re-estimated first. The supernet is trained by the trainer
  ``supernet`` names (``spos`` or ``fairnas``, for ``search.epochs`` with
  ``search.net_optimizer``) in the run folder, or read from ``supernet_path``.
* ``train``: trained from scratch for ``train_epochs`` each.

Hard bounds (``search.costs.<name>: {mode: hard, bound: ...}``, any number, any
cost) are checked before anything is evaluated: a proposal over a bound is drawn again
(at most ``max_draws`` times), and bounds no architecture meets stop the run before
any training, naming the cheapest cost per bound.

Every candidate is appended to the journal ``candidates.jsonl``
(:mod:`~nnabla_nas.runner.journal`), from which a rerun continues; at the end the
search writes ``arch.json`` (the most accurate candidate), the ``top_k`` best distinct
candidates as ``top_k/arch_<rank>.json``, ``pareto.csv`` and ``pareto.png`` (the
non-dominated front of accuracy and costs) and one TensorBoard HParams row per
candidate.
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from ...config.fields import ConfigError, option
from ...config.loader import Component
from ...contrib.architecture import Architecture
from ...contrib.spaces import SEARCH_SPACES
from ...utils.interrupt import Interrupted, requested
from .. import candidate as C
from ..arch_costs import ArchCosts
from ..budget import BudgetError
from ..journal import NAME as JOURNAL, Candidate, read_journal, write_journal
from ..pareto import pareto_front, plot_pareto, write_pareto_csv
from ..regularizer import Regularizers, cost_terms
from ..run import Run
from ..supernet import META, WEIGHTS, read_supernet
from . import SEARCHERS
from .search import Searcher, check_bounds


@dataclass(frozen=True)
class BlackBoxConfig:
    """Options every black-box searcher has."""

    evaluations: int = option(100, "architectures evaluated", minimum=1, maximum=10**6)
    evaluate: str = option("supernet", "supernet: accuracy with the weights inherited "
                                       "from a trained supernet; train: each trained "
                                       "from scratch for train_epochs",
                           choices=("supernet", "train"))
    supernet: str = option("spos", "evaluate supernet: the trainer of the supernet "
                                   "(for search.epochs)", choices=("spos", "fairnas"))
    supernet_path: Optional[str] = option(None, "evaluate supernet: a trained "
                                                "supernet.h5 (with its supernet.json) "
                                                "to search instead of training one")
    bn_batches: int = option(4, "evaluate supernet: training batches on which each "
                                "candidate's batch-norm statistics are re-estimated "
                                "(0: keep the supernet's)", minimum=0, maximum=10_000)
    train_epochs: int = option(1, "evaluate train: epochs of each candidate's training",
                               minimum=1, maximum=10_000)
    max_draws: int = option(1000, "proposals in a row over a hard bound before the "
                                  "search stops", minimum=1, maximum=10**7)
    top_k: int = option(5, "best distinct architectures written to top_k/", minimum=1,
                        maximum=10_000)


class BlackBoxSearcher(Searcher):
    """Proposes architectures and evaluates them; see the module docstring."""

    Config = BlackBoxConfig

    @classmethod
    def check_inputs(cls, search: Any, data: Any = None, device: Any = None,
                     train_options: Any = None) -> None:
        """Before anything is written: options against the space's size, a given
        supernet against the space, and (with ``data``) the hard bounds against the
        cheapest architectures (:func:`~.search.check_bounds`, on the network built
        with ``train_options``, default the space's)."""
        space = SEARCH_SPACES.get(search.space.name)
        options = search.searcher.options
        cls.check_space(options, space.size(space.arch_options(search.space.options)))
        if options.evaluate == "supernet" and options.supernet_path:
            read_supernet(options.supernet_path, space.name, search.space.options,
                          "search.searcher.supernet_path")
        terms = cost_terms(search)
        if data is not None and any(t.config.mode == "hard" for t in terms):
            model = space.build_search(search.space.options, data.shape, data.num_classes,
                                       np.random.RandomState(0))
            inputs = [(1,) + tuple(data.shape)]
            delivered = train_options if train_options is not None else space.TrainConfig()
            check_bounds(space, model, search.space.options,
                         Regularizers(model, terms, inputs, device),
                         ArchCosts(space, delivered, data.shape, data.num_classes, terms,
                                   device))

    @classmethod
    def check_space(cls, options: Any, size: int) -> None:
        """Options that depend on the number of architectures ``size`` (none here)."""

    def __init__(self, run: Run, callbacks=None):
        super().__init__(run, callbacks=())
        self._run = run
        self.arch_options = self.space.arch_options(self.space_options)
        self.check_space(self.options, self.space.size(self.arch_options))
        self.candidates: List[Candidate] = []
        self.chosen: Optional[Candidate] = None
        self.front: List[int] = []

    # ----------------------------------------------------------- for subclasses
    def propose(self, index: int, rng: np.random.RandomState) -> Architecture:
        """The architecture to evaluate as candidate ``index``, from ``rng`` and the
        candidates evaluated so far (:attr:`candidates`)."""
        raise NotImplementedError

    # --------------------------------------------------------------- bounds
    def costs(self, arch: Architecture) -> Dict[str, float]:
        """The estimated cost of ``arch`` per cost term, on the network the run
        delivers for it (:class:`~nnabla_nas.runner.arch_costs.ArchCosts`)."""
        return self.arch_costs.costs(arch)

    def draw(self, index: int):
        """Candidate ``index``'s architecture within every hard bound, its costs and
        the number of draws; the generator is seeded by the run's seed and ``index``
        only, so a resumed search draws what the interrupted one would have."""
        rng = np.random.RandomState([self.seed, index, 1])
        for draws in range(1, self.options.max_draws + 1):
            arch = self.propose(index, rng)
            costs = self.costs(arch)
            if all(costs[n] <= limit for n, limit in self.arch_costs.bounds.items()):
                return arch, costs, draws
        raise BudgetError(f"search.searcher.max_draws: {self.options.max_draws} "
                          f"proposals in a row for candidate {index} were over a hard "
                          "bound; raise it or loosen the bounds")

    # ------------------------------------------------------------ evaluation
    def prepare_supernet(self) -> None:
        """``evaluate: supernet``: put the trained supernet's weights in the model,
        training it first unless ``supernet_path`` is given or this run trained it."""
        o = self.options
        if o.evaluate != "supernet":
            return
        path = o.supernet_path
        if not path:
            path = self.output.path(WEIGHTS)
            if not (self._trained(path)):
                trainer_cls = SEARCHERS.get(o.supernet)
                config = dataclasses.replace(
                    self.config, searcher=Component(o.supernet, trainer_cls.Config()))
                trainer = trainer_cls(dataclasses.replace(self._run, config=config))
                path = trainer.train_supernet()
        read_supernet(path, self.space.name, self.space_options, "search.searcher."
                      + ("supernet_path" if o.supernet_path else "supernet"))
        self.model.load_parameters(path)

    def _trained(self, path: str) -> bool:
        """Whether ``path`` holds the supernet this run's trainer finished."""
        meta = self.output.read_json(META)
        return bool(meta) and meta.get("trainer") == self.options.supernet and \
            meta.get("epochs") == self.config.epochs and \
            self._valid_supernet(path)

    def _valid_supernet(self, path: str) -> bool:
        try:
            read_supernet(path, self.space.name, self.space_options, "")
        except ConfigError:
            return False
        return True

    def evaluate_candidate(self, arch: Architecture, index: int) -> float:
        """Validation accuracy of ``arch`` (candidate ``index``)."""
        seed = C.candidate_seed(self.seed, index)
        if self.options.evaluate == "supernet":
            # The same batches for every candidate: statistics differ by path only.
            return C.inherited_accuracy(self, self.space, arch, self.options.bn_batches,
                                        self.seed)
        return C.trained_accuracy(self, self.space, arch, self._build,
                                  self.config.net_optimizer, self.options.train_epochs,
                                  seed)

    def _build(self, rng: np.random.RandomState):
        return self.space.build_search(self.space_options, self.data.shape,
                                       self.data.num_classes, rng)

    # ---------------------------------------------------------------- search
    def search(self) -> Architecture:
        """Evaluate ``evaluations`` candidates (continuing the journal), write the
        outputs and return the chosen architecture."""
        self.prepare_supernet()
        journal = self.output.path(JOURNAL)
        self.candidates = read_journal(journal, self.space, self.arch_options,
                                       list(self.arch_costs.names))
        if self.candidates:
            self.log.info(f"search: resumed from {JOURNAL} ({len(self.candidates)} of "
                          f"{self.options.evaluations} candidates done)")
        known = {json.dumps(c.arch, sort_keys=True): c for c in self.candidates}
        total = self.options.evaluations
        for index in range(len(self.candidates), total):
            if requested() is not None:
                raise Interrupted(requested(), f"search stopped after {index} of {total} "
                                  f"candidates, journal in {journal}; rerun the same "
                                  "command to resume from it")
            arch, costs, draws = self.draw(index)
            started = time.perf_counter()
            key = json.dumps(dict(arch.choices), sort_keys=True)
            accuracy = known[key].accuracy if key in known and \
                self.options.evaluate == "supernet" else \
                self.evaluate_candidate(arch, index)
            c = Candidate(index, dict(arch.choices), float(accuracy), dict(costs),
                          round(time.perf_counter() - started, 4), draws)
            known.setdefault(key, c)
            self.candidates.append(c)
            write_journal(journal, self.candidates)
            shown = "".join(f", {k} {v:.4g}" for k, v in costs.items())
            self.log.info(f"candidate {index + 1}/{total}: accuracy {accuracy:.4f}"
                          f"{shown} ({c.seconds:.2f} s, {draws} draws)")
        self.elapsed = sum(c.seconds for c in self.candidates)
        return self.finish()

    # ---------------------------------------------------------------- outputs
    def ranked(self) -> List[Candidate]:
        """The distinct architectures evaluated, most accurate first (earlier first
        among equals)."""
        seen, out = set(), []
        for c in sorted(self.candidates, key=lambda c: (-c.accuracy, c.index)):
            key = json.dumps(c.arch, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(c)
        return out

    def finish(self) -> Architecture:
        """Write arch.json, top_k/, pareto.csv and .png and the HParams rows; return
        the chosen architecture (every candidate is within every bound)."""
        ranked = self.ranked()
        self.chosen = ranked[0]
        names = list(self.arch_costs.names)
        points = [[c.costs[n] for n in names] for c in self.candidates]
        self.front = pareto_front([c.accuracy for c in self.candidates], points)
        arch_of = lambda c: c.architecture(self.space, self.arch_options)  # noqa: E731
        for rank, c in enumerate(ranked[:self.options.top_k], 1):
            self.space.save_arch(arch_of(c), self.output.path("top_k", f"arch_{rank}.json"))
        rows = [OrderedDict([("index", c.index), ("accuracy", c.accuracy),
                             *((n, c.costs[n]) for n in names), ("seconds", c.seconds),
                             ("arch", json.dumps(c.arch))]) for c in self.candidates]
        write_pareto_csv(self.output.path("pareto.csv"), rows, self.front)
        units, bounds = self.arch_costs.units, self.arch_costs.bounds
        plot_pareto(self.output.path("pareto.png"), [c.accuracy for c in self.candidates],
                    {n: [p[i] for p in points] for i, n in enumerate(names)}, units,
                    bounds, self.front)
        self.write_hparams()
        self.derived_costs = dict(self.chosen.costs)
        arch = arch_of(self.chosen)
        self.space.save_arch(arch, self.output.path("arch.json"))
        self.log.info(f"search: chose candidate {self.chosen.index} (accuracy "
                      f"{self.chosen.accuracy:.4f}); the front has {len(self.front)} of "
                      f"{len(self.candidates)} candidates")
        return arch

    def write_hparams(self) -> None:
        """One TensorBoard HParams row per candidate: its choices, accuracy and costs."""
        writer = self.output.writer
        for c in self.candidates:
            metrics = {"hparam/accuracy": c.accuracy}
            metrics.update((f"hparam/{n}", v) for n, v in c.costs.items())
            writer.add_hparams(dict(c.arch), metrics, name=f"candidate_{c.index:05d}")
        writer.flush()

    def summary_values(self) -> Dict[str, Any]:
        return OrderedDict(search_valid_accuracy=self.chosen.accuracy,
                           candidates=len(self.candidates),
                           chosen_candidate=self.chosen.index,
                           pareto_front_size=len(self.front),
                           rejected_draws=sum(c.draws - 1 for c in self.candidates))
