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

Candidates are scored by ``search.workers`` workers of the executor
``search.executor`` (:mod:`~nnabla_nas.runner.executor`): in the search's own process
by default, else by processes on this machine or Ray actors. Scoring a candidate is a
function of the candidate, its index and the run's seed only
(:func:`~nnabla_nas.runner.candidate.score`), and a subclass says which earlier
candidates a proposal may depend on (:meth:`BlackBoxSearcher.ready_before`), so the
same seed gives the same candidates, accuracies and choice with any number of workers.
A candidate whose worker died twice is recorded as failed and never chosen.

Every candidate is appended to the journal ``candidates.jsonl``
(:mod:`~nnabla_nas.runner.journal`) in candidate order, by the search's process alone,
from which a rerun continues; at the end the
search writes ``arch.json`` (the most accurate candidate), the ``top_k`` best distinct
candidates as ``top_k/arch_<rank>.json``, ``pareto.csv`` and ``pareto.png`` (the
non-dominated front of accuracy and costs) and one TensorBoard HParams row per
candidate.
"""
from __future__ import annotations

import dataclasses
import json
import os
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
from ..executor import EXECUTORS, Executor, Outcome, reraise
from ..journal import NAME as JOURNAL, Candidate, read_journal, write_journal
from ..pareto import pareto_front, plot_pareto, write_pareto_csv
from ..regularizer import Regularizers, cost_terms
from ..run import Run
from ..supernet import META, WEIGHTS, read_supernet
from . import SEARCHERS
from .search import Searcher, check_bounds


class CandidatesFailed(RuntimeError):
    """No candidate of the search could be scored (each one's worker died twice)."""


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


def executor_of(search: Any) -> Component:
    """The executor of the ``search`` config section (``local`` when unset)."""
    if search.executor is not None:
        return search.executor
    return Component("local", EXECUTORS.get("local").Config())


class BlackBoxSearcher(Searcher):
    """Proposes architectures and evaluates them; see the module docstring."""

    Config = BlackBoxConfig
    scores_candidates = True

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
        executor = executor_of(search)
        EXECUTORS.get(executor.name).check(executor.options, search.workers,
                                           "search.executor")
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
        self.retried = 0  # candidates retried after their worker died, in this process
        self.supernet_path: Optional[str] = None

    # ----------------------------------------------------------- for subclasses
    def propose(self, index: int, rng: np.random.RandomState) -> Architecture:
        """The architecture to evaluate as candidate ``index``, from ``rng`` and the
        first :meth:`ready_before` ``(index)`` candidates (:attr:`candidates`)."""
        raise NotImplementedError

    def ready_before(self, index: int) -> int:
        """How many candidates must be scored before candidate ``index`` is proposed
        (its proposal may read those and no others). 0: proposals depend on no
        result, every candidate may be scored at once."""
        return 0

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
                # The trainer's own options; its one supernet has no workers.
                config = dataclasses.replace(
                    self.config, searcher=Component(o.supernet, trainer_cls.Config()),
                    workers=1, executor=None)
                trainer = trainer_cls(dataclasses.replace(self._run, config=config))
                path = trainer.train_supernet()
        read_supernet(path, self.space.name, self.space_options, "search.searcher."
                      + ("supernet_path" if o.supernet_path else "supernet"))
        self.model.load_parameters(path)
        self.supernet_path = os.path.abspath(path)

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

    def candidate_job(self) -> C.CandidateJob:
        """What scoring any candidate of this search needs (after
        :meth:`prepare_supernet`), for this process or a worker."""
        o, device = self.options, self._run.device
        return C.CandidateJob(
            space=self.space, space_options=self.space_options,
            arch_options=self.arch_options, data=self.data, batch_size=self.batch_size,
            seed=self.seed, evaluate=o.evaluate, bn_batches=o.bn_batches,
            train_epochs=o.train_epochs, optimizer=self.config.net_optimizer,
            supernet=self.supernet_path, device=(device.name, device.device_id))

    def evaluate_candidate(self, arch: Architecture, index: int) -> float:
        """Validation accuracy of ``arch`` (candidate ``index``), scored in this
        process (:func:`~nnabla_nas.runner.candidate.score`)."""
        return C.score(self.candidate_job(), self, index, arch.choices)

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
        executor, workers = executor_of(self.config), self.config.workers
        if len(self.candidates) < self.options.evaluations:  # else start no worker
            if workers > 1 or executor.name != "local":
                self.log.info(f"search: {workers} workers ({executor.name} executor)")
            with EXECUTORS.get(executor.name)(self.candidate_job(), workers,
                                              executor.options, evaluator=self,
                                              log=self.log) as pool:
                try:
                    self.evaluate_all(pool, journal)
                finally:
                    self.retried += pool.retried
        self.elapsed = sum(c.seconds for c in self.candidates)
        return self.finish()

    def evaluate_all(self, pool: Executor, journal: str) -> None:
        """Propose and score the remaining candidates on ``pool``, each proposed once
        the candidates it depends on are in (:meth:`ready_before`), and append them to
        :attr:`candidates` and the ``journal`` in candidate order.

        An architecture already scored (``evaluate: supernet``) takes the accuracy
        recorded for it instead of being scored again; without workers this is what
        scoring it would give, as scoring is a function of the architecture.
        """
        total = self.options.evaluations
        reuse = self.options.evaluate == "supernet"
        known = {json.dumps(c.arch, sort_keys=True): c for c in self.candidates
                 if c.accuracy is not None}
        proposed: Dict[int, Any] = {}  # index -> (arch, costs, draws)
        scored: Dict[int, Candidate] = {}  # out of order, until their turn
        following = len(self.candidates)
        while len(self.candidates) < total:
            done = len(self.candidates)
            if requested() is not None:
                raise Interrupted(requested(), f"search stopped after {done} of {total} "
                                  f"candidates, journal in {journal}; rerun the same "
                                  "command to resume from it")
            while following < total and pool.free > 0 and \
                    self.ready_before(following) <= done:
                arch, costs, draws = proposed[following] = self.draw(following)
                key = json.dumps(dict(arch.choices), sort_keys=True)
                if reuse and key in known:
                    scored[following] = self.candidate(Outcome(
                        following, known[key].accuracy), *proposed.pop(following))
                else:
                    pool.submit(following, arch.choices)
                following += 1
            if done not in scored:
                for outcome in pool.wait():
                    reraise(outcome)
                    scored[outcome.index] = self.candidate(
                        outcome, *proposed.pop(outcome.index))
            while len(self.candidates) in scored:
                c = scored.pop(len(self.candidates))
                if c.accuracy is not None:
                    known.setdefault(json.dumps(c.arch, sort_keys=True), c)
                self.candidates.append(c)
                write_journal(journal, self.candidates)
                self.log_candidate(c)

    def candidate(self, outcome: Outcome, arch: Architecture, costs: Dict[str, float],
                  draws: int) -> Candidate:
        """The journal's record of a scored (or failed) candidate."""
        accuracy = None if outcome.accuracy is None else float(outcome.accuracy)
        return Candidate(outcome.index, dict(arch.choices), accuracy, dict(costs),
                         round(outcome.seconds, 4), draws, outcome.failure)

    def log_candidate(self, c: Candidate) -> None:
        """One log line for candidate ``c``."""
        total = self.options.evaluations
        shown = "".join(f", {k} {v:.4g}" for k, v in c.costs.items())
        if c.accuracy is None:
            self.log.warning(f"candidate {c.index + 1}/{total}: failed, {c.failed}"
                             f"{shown}")
            return
        self.log.info(f"candidate {c.index + 1}/{total}: accuracy {c.accuracy:.4f}"
                      f"{shown} ({c.seconds:.2f} s, {c.draws} draws)")

    # ---------------------------------------------------------------- outputs
    def scored(self) -> List[Candidate]:
        """The candidates that were scored (all but the failed ones), in order."""
        return [c for c in self.candidates if c.accuracy is not None]

    def ranked(self) -> List[Candidate]:
        """The distinct architectures evaluated, most accurate first (earlier first
        among equals)."""
        seen, out = set(), []
        for c in sorted(self.scored(), key=lambda c: (-c.accuracy, c.index)):
            key = json.dumps(c.arch, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(c)
        return out

    def finish(self) -> Architecture:
        """Write arch.json, top_k/, pareto.csv and .png and the HParams rows; return
        the chosen architecture (every candidate is within every bound)."""
        ranked = self.ranked()
        if not ranked:
            raise CandidatesFailed(f"search: every one of the {len(self.candidates)} "
                                   f"candidates failed ({self.candidates[-1].failed}); "
                                   f"see {JOURNAL}")
        self.chosen = ranked[0]
        names = list(self.arch_costs.names)
        scored = self.scored()
        points = [[c.costs[n] for n in names] for c in scored]
        self.front = pareto_front([c.accuracy for c in scored], points)
        arch_of = lambda c: c.architecture(self.space, self.arch_options)  # noqa: E731
        for rank, c in enumerate(ranked[:self.options.top_k], 1):
            self.space.save_arch(arch_of(c), self.output.path("top_k", f"arch_{rank}.json"))
        rows = [OrderedDict([("index", c.index), ("accuracy", c.accuracy),
                             *((n, c.costs[n]) for n in names), ("seconds", c.seconds),
                             ("arch", json.dumps(c.arch))]) for c in scored]
        write_pareto_csv(self.output.path("pareto.csv"), rows, self.front)
        units, bounds = self.arch_costs.units, self.arch_costs.bounds
        plot_pareto(self.output.path("pareto.png"), [c.accuracy for c in scored],
                    {n: [p[i] for p in points] for i, n in enumerate(names)}, units,
                    bounds, self.front)
        self.write_hparams()
        self.derived_costs = dict(self.chosen.costs)
        arch = arch_of(self.chosen)
        self.space.save_arch(arch, self.output.path("arch.json"))
        self.log.info(f"search: chose candidate {self.chosen.index} (accuracy "
                      f"{self.chosen.accuracy:.4f}); the front has {len(self.front)} of "
                      f"{len(scored)} scored candidates")
        return arch

    def write_hparams(self) -> None:
        """One TensorBoard HParams row per candidate: its choices, accuracy and costs."""
        writer = self.output.writer
        for c in self.scored():
            metrics = {"hparam/accuracy": c.accuracy}
            metrics.update((f"hparam/{n}", v) for n, v in c.costs.items())
            writer.add_hparams(dict(c.arch), metrics, name=f"candidate_{c.index:05d}")
        writer.flush()

    def summary_values(self) -> Dict[str, Any]:
        return OrderedDict(search_valid_accuracy=self.chosen.accuracy,
                           candidates=len(self.candidates),
                           chosen_candidate=self.chosen.index,
                           pareto_front_size=len(self.front),
                           rejected_draws=sum(c.draws - 1 for c in self.candidates),
                           failed_candidates=len(self.candidates) - len(self.scored()),
                           retried_candidates=self.retried)
