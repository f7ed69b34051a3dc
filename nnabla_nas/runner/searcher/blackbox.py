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

Every candidate is appended to the journal ``candidates.jsonl``
(:mod:`~nnabla_nas.runner.journal`; its ``accuracy`` is the fitness), from which a
rerun continues; at the end the search writes ``arch.json`` (the fittest candidate),
the ``top_k`` best distinct candidates as ``top_k/arch_<rank>.json``, ``pareto.csv``
and ``pareto.png`` (the non-dominated front of fitness and costs) and one TensorBoard
HParams row per candidate.
"""
from __future__ import annotations

import dataclasses
import json
import math
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
           "PRESELECT", "WORST_SCORE"]


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

    # ----------------------------------------------------------- for subclasses
    def propose(self, index: int, rng: np.random.RandomState) -> Architecture:
        """The architecture to evaluate as candidate ``index``, from ``rng`` and the
        candidates evaluated so far (:attr:`candidates`)."""
        raise NotImplementedError

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
        """The fitness of ``arch`` (candidate ``index``) by ``evaluate``."""
        seed = C.candidate_seed(self.seed, index)
        if self.options.evaluate == "table":
            return self.table.entry(arch).accuracy
        if self.options.evaluate == "proxy":
            return self.proxy_score(arch, self.options.proxy)
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
                                       self.cost_names)
        if self.candidates:
            self.log.info(f"search: resumed from {JOURNAL} ({len(self.candidates)} of "
                          f"{self.options.evaluations} candidates done)")
        self.preselected = self.preselect()
        known = {json.dumps(c.arch, sort_keys=True): c for c in self.candidates}
        lines: List[str] = []  # the journal's lines so far, each made once
        total = self.options.evaluations
        for index in range(len(self.candidates), total):
            if requested() is not None:
                raise Interrupted(requested(), f"search stopped after {index} of {total} "
                                  f"candidates, journal in {journal}; rerun the same "
                                  "command to resume from it")
            arch, costs, draws = self.draw(index)
            started = time.perf_counter()
            key = json.dumps(dict(arch.choices), sort_keys=True)
            # Only training from scratch depends on the candidate's index (its seed).
            accuracy = known[key].accuracy if key in known and \
                self.options.evaluate != "train" else \
                self.evaluate_candidate(arch, index)
            c = Candidate(index, dict(arch.choices), float(accuracy), dict(costs),
                          round(time.perf_counter() - started, 4), draws)
            known.setdefault(key, c)
            self.candidates.append(c)
            write_journal(journal, self.candidates, lines)
            shown = "".join(f", {k} {v:.4g}" for k, v in costs.items())
            self.log.info(f"candidate {index + 1}/{total}: {self.fitness_name} "
                          f"{accuracy:.4g}"
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
        names = self.cost_names
        points = [[c.costs[n] for n in names] for c in self.candidates]
        self.front = pareto_front([c.accuracy for c in self.candidates], points)
        arch_of = lambda c: c.architecture(self.space, self.arch_options)  # noqa: E731
        for rank, c in enumerate(ranked[:self.options.top_k], 1):
            self.space.save_arch(arch_of(c), self.output.path("top_k", f"arch_{rank}.json"))
        rows = [OrderedDict([("index", c.index), ("accuracy", c.accuracy),
                             *((n, c.costs[n]) for n in names), ("seconds", c.seconds),
                             ("arch", json.dumps(c.arch))]) for c in self.candidates]
        write_pareto_csv(self.output.path("pareto.csv"), rows, self.front)
        units, bounds = self.units, self.bounds
        plot_pareto(self.output.path("pareto.png"), [c.accuracy for c in self.candidates],
                    {n: [p[i] for p in points] for i, n in enumerate(names)}, units,
                    bounds, self.front)
        self.write_hparams()
        self.derived_costs = {n: self.chosen.costs[n] for n in self.arch_costs.names}
        arch = arch_of(self.chosen)
        self.space.save_arch(arch, self.output.path("arch.json"))
        self.log.info(f"search: chose candidate {self.chosen.index} ({self.fitness_name} "
                      f"{self.chosen.accuracy:.4g}); the front has {len(self.front)} of "
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
                           rejected_draws=sum(c.draws - 1 for c in self.candidates))
