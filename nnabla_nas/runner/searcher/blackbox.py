"""`BlackBoxSearcher`: what the searchers that only evaluate architectures share
(:mod:`.evolution`, :mod:`.random_search`).

Such a searcher proposes architectures (:meth:`BlackBoxSearcher.propose`, the one thing
a subclass writes) and scores each with a fitness, higher is better, in one of four
ways (``evaluate``, see :mod:`~nnabla_nas.runner.candidate`):

* ``supernet``: validation accuracy with the weights inherited from a trained
  supernet, batch-norm statistics re-estimated first. The supernet is trained by the
  trainer ``supernet`` names (``spos`` or ``fairnas``, for ``search.epochs`` with
  ``search.net_optimizer``) in the run folder, or read from ``supernet_path``.
* ``train``: validation accuracy, each trained from scratch for ``train_epochs``.
* ``proxy``: the zero-cost proxy ``proxy`` of the untrained delivered network on
  ``proxy_batch`` training images (training-free search; nothing is trained).
* ``table``: the benchmark's accuracy of the architecture, read from a NATS-Bench
  topology benchmark (``table``, the ``nasbench201`` space only,
  :mod:`~nnabla_nas.contrib.nasbench201_table`); its costs ``table_params``,
  ``table_flops`` and ``table_latency`` are recorded with every candidate and may be
  bounded (``table.max_params``, ...). Nothing is trained: an evaluation is a lookup.

With ``preselect: {proxy, keep, pool}``, the first ``keep`` candidates are the
``keep`` best of ``pool`` architectures drawn at random (within the hard bounds) by the
proxy, ranked once before the search (the zero-cost warm-up of Abdelfattah et al.,
2021): random search then evaluates only pre-selected architectures when ``keep`` is
``evaluations``, and evolution starts from them. The ranking is written to
``preselect.json``.

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
(:mod:`~nnabla_nas.runner.journal`; its ``accuracy`` is the fitness) in candidate
order, by the search's process alone, from which a rerun continues; at the end the
search writes ``arch.json`` (the fittest candidate), the ``top_k`` best distinct
candidates as ``top_k/arch_<rank>.json``, ``pareto.csv`` and ``pareto.png`` (the
non-dominated front of fitness and costs) and one TensorBoard HParams row per
candidate.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ...config.fields import ConfigError
from ...config.loader import Component
from ...contrib.architecture import Architecture
from ...contrib.nasbench201_table import COSTS as TABLE_COSTS, SPACE as TABLE_SPACE, \
    open_table
from ...contrib.proxies import Batch
from ...contrib.spaces import SEARCH_SPACES
from ...utils.files import write_json
from ...utils.interrupt import Interrupted, requested
from .. import candidate as C
from ..arch_costs import ArchCosts
from ..budget import BudgetError
from ..executor import EXECUTORS, CandidatesFailed, Executor, Outcome, reraise
from ..journal import NAME as JOURNAL, Candidate, read_journal, write_journal
from ..pareto import pareto_front, plot_pareto, write_pareto_csv
from ..regularizer import Regularizers, cost_terms
from ..run import Run
from ..supernet import META, WEIGHTS, read_supernet
from . import SEARCHERS
from .blackbox_options import BlackBoxConfig, PreselectConfig, TableConfig
from .search import Searcher, check_bounds

#: The ranking of the pre-selection, in the run folder.
PRESELECT = "preselect.json"
#: The recorded proxy score of an architecture whose score is not finite.
WORST_SCORE = -sys.float_info.max

__all__ = ["BlackBoxSearcher", "BlackBoxConfig", "PreselectConfig", "TableConfig",
           "CandidatesFailed", "PRESELECT", "WORST_SCORE"]


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
        if options.evaluate == "table":
            cls.open_table(space.name, options)
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

    @staticmethod
    def open_table(space_name: str, options: Any):
        """``evaluate: table``: the benchmark of ``options.table``, opened and checked.

        Raises:
            ConfigError: one line naming the key: a space without a table, no path, or
                a file that is not the NAS-Bench-201 space's benchmark.
        """
        if space_name != TABLE_SPACE:
            raise ConfigError(f"search.searcher.evaluate: table holds results of the "
                              f"{TABLE_SPACE} space only, not of {space_name}; expected "
                              "supernet, train or proxy")
        t = options.table
        if not t.path:
            raise ConfigError("search.searcher.table.path: expected the NATS-Bench "
                              "topology benchmark (the folder NATS-tss-v1_0-3ffb9-simple"
                              " or the file NATS-tss-v1_0-3ffb9.pickle.pbz2) with "
                              "evaluate: table, got none")
        return open_table(t.path, t.dataset, t.hp, t.metric, "search.searcher.table.path")

    def __init__(self, run: Run, callbacks=None):
        super().__init__(run, callbacks=())
        self._run = run
        self.arch_options = self.space.arch_options(self.space_options)
        self.check_space(self.options, self.space.size(self.arch_options))
        self.candidates: List[Candidate] = []
        self.chosen: Optional[Candidate] = None
        self.front: List[int] = []
        self.preselected: List[Architecture] = []
        self._proxy_batch: Optional[Batch] = None
        self.table = self.open_table(self.space.name, self.options) \
            if self.options.evaluate == "table" else None
        # Every cost of a candidate: the estimators' and the table's.
        table_costs = [f"table_{n}" for n in TABLE_COSTS] if self.table else []
        self.cost_names = list(self.arch_costs.names) + table_costs
        self.units = OrderedDict(self.arch_costs.units)
        self.units.update(zip(table_costs, TABLE_COSTS.values()))
        self.bounds = OrderedDict(self.arch_costs.bounds)
        if self.table:
            self.bounds.update(self.options.table.bounds())
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
        delivers for it (:class:`~nnabla_nas.runner.arch_costs.ArchCosts`), and with
        ``evaluate: table`` the table's costs (``table_params``, ...)."""
        costs = self.arch_costs.costs(arch) if self.arch_costs else OrderedDict()
        if self.table is not None:
            costs.update((f"table_{n}", v) for n, v in self.table.entry(arch).costs.items())
        return costs

    def draw(self, index: int):
        """Candidate ``index``'s architecture within every hard bound, its costs and
        the number of draws: a pre-selected one (:meth:`preselect`) or a proposal; the
        generator is seeded by the run's seed and ``index`` only, so a resumed search
        draws what the interrupted one would have."""
        if index < len(self.preselected):
            arch = self.preselected[index]
            return arch, self.costs(arch), 1
        rng = self.proposal_rng(self.seed, index)
        return self.within_bounds(lambda: self.propose(index, rng), f"candidate {index}")

    @staticmethod
    def proposal_rng(seed: int, index: int) -> np.random.RandomState:
        """The generator of candidate ``index``'s proposals in a run seeded ``seed``."""
        return np.random.RandomState([seed, index, 1])

    def within_bounds(self, propose: Callable[[], Architecture], what: str):
        """``(architecture, its costs, draws)``: the first of ``propose()``'s
        architectures within every hard bound."""
        for draws in range(1, self.options.max_draws + 1):
            arch = propose()
            costs = self.costs(arch)
            if all(costs[n] <= limit for n, limit in self.bounds.items()):
                return arch, costs, draws
        raise BudgetError(f"search.searcher.max_draws: {self.options.max_draws} "
                          f"proposals in a row for {what} were over a hard bound; raise "
                          "it or loosen the bounds")

    # ---------------------------------------------------------- zero-cost proxies
    def proxy_batch(self) -> Batch:
        """The ``proxy_batch`` training images every proxy score sees (drawn with the
        run's seed)."""
        if self._proxy_batch is None:
            train = self.data.train
            n = min(self.options.proxy_batch, len(train))
            picked = np.random.RandomState([self.seed, 0, 3]).choice(len(train), n,
                                                                     replace=False)
            self._proxy_batch = Batch(train.x[picked], train.y[picked])
        return self._proxy_batch

    def proxy_score(self, arch: Architecture, proxy: str) -> float:
        """The proxy ``proxy`` of ``arch``'s untrained delivered network (initial
        weights seeded by the run's seed, so equal architectures score equally). A
        score that is not finite ranks last and is recorded as :data:`WORST_SCORE`
        (JSON has no infinity): e.g. ``naswot`` of a cell whose output does not depend
        on its input is minus infinity."""
        value = C.proxy_score(self.space, arch, self.arch_costs.options, self.data.shape,
                              self.data.num_classes, self.proxy_batch(), proxy, self.seed)
        return value if math.isfinite(value) else WORST_SCORE

    def preselect(self) -> List[Architecture]:
        """With ``preselect``: the ``keep`` best distinct architectures by its proxy of
        ``pool`` drawn uniformly within the hard bounds (seeded by the run's seed; a
        resumed search ranks the same pool again), written to ``preselect.json``; the
        first candidates of the search."""
        p = self.options.preselect
        if p is None or len(self.candidates) >= p.keep:
            return []
        started = time.perf_counter()
        rng = np.random.RandomState([self.seed, 0, 2])
        scored: Dict[str, Any] = OrderedDict()
        for n in range(p.pool):
            arch, _, _ = self.within_bounds(
                lambda: self.space.sample(self.arch_options, rng), f"pre-selection {n}")
            key = json.dumps(dict(arch.choices), sort_keys=True)
            if key not in scored:
                scored[key] = (arch, self.proxy_score(arch, p.proxy))
        ranked = sorted(scored.values(), key=lambda a: -a[1])  # stable: first drawn first
        write_json(self.output.path(PRESELECT), OrderedDict(
            proxy=p.proxy, pool=p.pool, keep=p.keep, distinct=len(ranked),
            ranked=[OrderedDict(arch=dict(a.choices), describe=self.space.describe(a),
                                score=v) for a, v in ranked]))
        self.log.info(f"preselect: the {min(p.keep, len(ranked))} best of {p.pool} "
                      f"architectures ({len(ranked)} distinct) by {p.proxy} "
                      f"({time.perf_counter() - started:.1f} s)")
        return [a for a, _ in ranked[:p.keep]]

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
        """The fitness of ``arch`` (candidate ``index``) by ``evaluate``: from the
        table or a proxy here, else scored as a worker would
        (:func:`~nnabla_nas.runner.candidate.score`)."""
        if self.options.evaluate == "table":
            return self.table.entry(arch).accuracy
        if self.options.evaluate == "proxy":
            return self.proxy_score(arch, self.options.proxy)
        return C.score(self.candidate_job(), self, index, arch.choices)

    # ---------------------------------------------------------------- search
    def search(self) -> Architecture:
        """Evaluate ``evaluations`` candidates (continuing the journal), write the
        outputs and return the chosen architecture."""
        self.prepare_supernet()
        journal = self.output.path(JOURNAL)
        self.candidates = read_journal(journal, self.space, self.arch_options,
                                       self.cost_names)
        if self.candidates:
            self.log.info(f"search: resumed from {JOURNAL} ({len(self.candidates)} of "
                          f"{self.options.evaluations} candidates done)")
        self.preselected = self.preselect()
        executor, workers = executor_of(self.config), self.config.workers
        if self.options.evaluate in ("table", "proxy"):
            executor, workers = Component("local", EXECUTORS.get("local").Config()), 1
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

        An architecture already scored takes the fitness recorded for it instead of
        being scored again (except with ``evaluate: train``, whose score depends on the
        candidate's seed); this is what scoring it would give, as the score is a
        function of the architecture. ``table`` and ``proxy`` fitnesses are computed
        here, in the search's process: they take a fraction of a second.
        """
        total = self.options.evaluations
        reuse = self.options.evaluate != "train"
        here = self.options.evaluate in ("table", "proxy")
        lines: List[str] = []  # the journal's lines so far, each made once
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
                elif here:
                    started = time.perf_counter()
                    fitness = self.evaluate_candidate(arch, following)
                    scored[following] = self.candidate(Outcome(
                        following, fitness, time.perf_counter() - started),
                        *proposed.pop(following))
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
                write_journal(journal, self.candidates, lines)
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
        self.log.info(f"candidate {c.index + 1}/{total}: {self.fitness_name} "
                      f"{c.accuracy:.4g}{shown} ({c.seconds:.2f} s, {c.draws} draws)")

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
        names = self.cost_names
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
        units, bounds = self.units, self.bounds
        plot_pareto(self.output.path("pareto.png"), [c.accuracy for c in scored],
                    {n: [p[i] for p in points] for i, n in enumerate(names)}, units,
                    bounds, self.front)
        self.write_hparams()
        self.derived_costs = {n: self.chosen.costs[n] for n in self.arch_costs.names}
        arch = arch_of(self.chosen)
        self.space.save_arch(arch, self.output.path("arch.json"))
        self.log.info(f"search: chose candidate {self.chosen.index} ({self.fitness_name} "
                      f"{self.chosen.accuracy:.4g}); the front has {len(self.front)} of "
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

    @property
    def fitness_name(self) -> str:
        """What a candidate's fitness is: ``accuracy``, or the proxy's name."""
        return self.options.proxy if self.options.evaluate == "proxy" else "accuracy"

    def summary_values(self) -> Dict[str, Any]:
        key = {"proxy": "search_proxy_score", "table": "search_table_accuracy"}.get(
            self.options.evaluate, "search_valid_accuracy")
        extra = OrderedDict()
        if self.options.evaluate == "proxy":
            extra["proxy"] = self.options.proxy
        if self.table is not None:
            t = self.options.table
            extra["table"] = OrderedDict(path=t.path, dataset=t.dataset, hp=t.hp,
                                         metric=t.metric)
            extra.update((f"search_arch_table_{n}_{unit.lower()}",
                          self.chosen.costs[f"table_{n}"])
                         for n, unit in TABLE_COSTS.items())
        if self.options.preselect is not None:
            extra["preselected"] = len(self.preselected)
        return OrderedDict([(key, self.chosen.accuracy)], **extra,
                           candidates=len(self.candidates),
                           chosen_candidate=self.chosen.index,
                           pareto_front_size=len(self.front),
                           rejected_draws=sum(c.draws - 1 for c in self.candidates),
                           failed_candidates=len(self.candidates) - len(self.scored()),
                           retried_candidates=self.retried)
