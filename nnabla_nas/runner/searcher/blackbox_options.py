"""The options of the black-box searchers (:mod:`.blackbox`): how a candidate is
evaluated, the benchmark table of ``evaluate: table`` and the pre-selection by a
zero-cost proxy."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, Optional

from ...config.fields import ConfigError, option
from ...contrib.nasbench201_table import COSTS as TABLE_COSTS, DATASETS, HPS, METRICS
from ...contrib.proxies import PROXIES


def _check_proxy(name: str, key: str) -> None:
    if name not in PROXIES:
        raise ConfigError(f"{key}: {PROXIES.unknown_message(name)}")


def _bound(what: str) -> Any:
    return option(None, f"evaluate table: hard bound on the table's {what}", minimum=0,
                  exclusive_minimum=True)


@dataclass(frozen=True)
class TableConfig:
    """``evaluate: table``: the benchmark file and which of its figures to read."""

    path: Optional[str] = option(None, "the NATS-Bench topology benchmark: the folder "
                                       "NATS-tss-v1_0-3ffb9-simple or the file "
                                       "NATS-tss-v1_0-3ffb9.pickle.pbz2")
    dataset: str = option("cifar10", "the benchmark's dataset", choices=DATASETS)
    hp: int = option(200, "the benchmark's training epochs", choices=HPS)
    metric: str = option("valid", "the split of the accuracy", choices=METRICS)
    max_params: Optional[float] = _bound("parameters (millions)")
    max_flops: Optional[float] = _bound("FLOPs (millions)")
    max_latency: Optional[float] = _bound("latency (ms)")

    def bounds(self) -> Dict[str, float]:
        """The bounds set, by candidate cost name (``table_params``, ...)."""
        return OrderedDict((f"table_{n}", float(getattr(self, f"max_{n}")))
                           for n in TABLE_COSTS if getattr(self, f"max_{n}") is not None)


@dataclass(frozen=True)
class PreselectConfig:
    """``preselect``: the first candidates are the best of a pool by a proxy."""

    proxy: str = option("naswot", "the zero-cost proxy that ranks the pool (main.py "
                                  "list --kind proxies)")
    keep: int = option(10, "the first candidates evaluated: the best this many of the "
                           "pool", minimum=1, maximum=10**6)
    pool: int = option(100, "architectures drawn (within the hard bounds) and scored",
                       minimum=1, maximum=10**7)

    def __post_init__(self):
        _check_proxy(self.proxy, "proxy")
        if self.keep > self.pool:
            raise ConfigError(f"keep: expected at most pool={self.pool}, got {self.keep}")


@dataclass(frozen=True)
class BlackBoxConfig:
    """Options every black-box searcher has."""

    evaluations: int = option(100, "architectures evaluated", minimum=1, maximum=10**6)
    evaluate: str = option("supernet", "the fitness of a candidate; supernet: accuracy "
                                       "with the weights inherited from a trained "
                                       "supernet; train: accuracy trained from scratch "
                                       "for train_epochs; proxy: the zero-cost proxy "
                                       "proxy, untrained; table: the benchmark's "
                                       "accuracy read from table (nasbench201)",
                           choices=("supernet", "train", "proxy", "table"))
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
    proxy: str = option("synflow", "evaluate proxy: the zero-cost proxy that is the "
                                   "fitness (main.py list --kind proxies)")
    proxy_batch: int = option(64, "evaluate proxy and preselect: training images the "
                                  "proxies see (the same for every candidate)",
                              minimum=1, maximum=4096)
    table: TableConfig = option(None, "evaluate table: the benchmark",
                                default_factory=TableConfig)
    preselect: Optional[PreselectConfig] = option(
        None, "the first candidates are the best of a random pool by a proxy: {proxy, "
              "keep, pool}; default none")
    max_draws: int = option(1000, "proposals in a row over a hard bound before the "
                                  "search stops", minimum=1, maximum=10**7)
    top_k: int = option(5, "best distinct architectures written to top_k/", minimum=1,
                        maximum=10_000)

    def __post_init__(self):
        _check_proxy(self.proxy, "proxy")
        if self.preselect is not None and self.preselect.keep > self.evaluations:
            raise ConfigError(f"preselect.keep: expected at most evaluations="
                              f"{self.evaluations}, got {self.preselect.keep}")
