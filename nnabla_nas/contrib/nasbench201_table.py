"""The benchmark results of NAS-Bench-201 cells, read from the NATS-Bench topology
benchmark a user has (Dong et al., 2021, "NATS-Bench: Benchmarking NAS Algorithms for
Architecture Topology and Size"), through its own API, the ``nats_bench`` package
(``pip install 'nnabla-nas[nasbench]'``).

NATS-Bench's topology search space (``tss``) is NAS-Bench-201's: the same 15,625 cells
in the same network (C = 16, N = 5), each trained on CIFAR-10, CIFAR-100 and
ImageNet16-120 for 12 and for 200 epochs. Its files come in two forms, both read here
as ``nats_bench.create(path, "tss", fast_mode=..., verbose=False)`` reads them:

* the folder ``NATS-tss-v1_0-3ffb9-simple`` (fast mode): ``meta.pickle.pbz2`` lists
  the architecture strings, and ``<index>.pickle.pbz2`` holds one architecture's
  results, read when it is first asked for;
* the single file ``NATS-tss-v1_0-3ffb9.pickle.pbz2``, read whole at once.

Both are bz2-compressed pickles, which ``nats_bench`` unpickles: use benchmark files
from their authors only, as for any pickle. NAS-Bench-201's own ``.pth`` files
(``nas_201_api``) need PyTorch and are not read; NATS-Bench's ``tss`` holds the same
results.

What a table gives for an architecture (:meth:`BenchmarkTable.entry`): its accuracy
on the chosen ``dataset`` after ``hp`` epochs, on the validation or test split
(``metric``; CIFAR-10's validation figures are those of the network trained on its
training half, ``cifar10-valid`` in the API, its test figures those of the one trained
on training and validation, ``cifar10``), averaged over the benchmark's trials; and
its costs, ``params`` (millions), ``flops`` (millions) and ``latency`` (ms, the
benchmark authors' measurement).
"""
from __future__ import annotations

import functools
import os
import pickle
import re
from collections import OrderedDict
from dataclasses import dataclass
from itertools import product
from typing import Dict, List, Tuple

from ..config.fields import ConfigError
from .architecture import Architecture
from .nasbench201 import OPS, LABELS, arch_str, parse_arch_str

#: The space whose architectures the tables hold.
SPACE = "nasbench201"
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
#: Training epochs of the benchmark's two settings.
HPS = (12, 200)
METRICS = ("valid", "test")
#: The costs of a table, with their units.
COSTS = OrderedDict(params="M", flops="MFLOPs", latency="ms")
#: The file name of the folder form's list of architectures, and of one architecture.
META = "meta.pickle.pbz2"
ENTRY = re.compile(r"^(\d+)\.pickle\.pbz2$")
#: What reading a damaged file raises inside ``nats_bench`` (bz2, pickle, its checks).
DAMAGED = (OSError, EOFError, pickle.UnpicklingError, ValueError, KeyError, TypeError,
           AttributeError, IndexError, AssertionError, MemoryError)


@dataclass(frozen=True)
class Entry:
    """One architecture's row of a table.

    Attributes:
        accuracy: On the table's dataset and split, 0 to 1.
        costs: ``params`` (millions), ``flops`` (millions), ``latency`` (ms).
    """

    accuracy: float
    costs: Dict[str, float]


@functools.lru_cache(maxsize=1)
def all_arch_strings() -> Tuple[str, ...]:
    """The 15,625 architecture strings of NAS-Bench-201."""
    return tuple(arch_str(dict(zip(LABELS, ops))) for ops in product(OPS, repeat=len(LABELS)))


def _api_keys(dataset: str, metric: str) -> Tuple[str, str]:
    """``(dataset name in the API, key of get_more_info)`` of a dataset and split."""
    if dataset == "cifar10":
        return ("cifar10-valid", "valid-accuracy") if metric == "valid" else \
            ("cifar10", "test-accuracy")
    return dataset, f"{metric}-accuracy"


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."


class BenchmarkTable:
    """A NATS-Bench topology benchmark opened for one dataset, ``hp`` and metric.

    Args:
        path: The ``-simple`` folder or the ``.pickle.pbz2`` file.
        dataset: One of :data:`DATASETS`.
        hp: One of :data:`HPS`.
        metric: ``valid`` or ``test``.
        key: The dotted config key of ``path``, which starts every error message.

    Raises:
        ConfigError: one line naming ``key`` and the problem: ``nats_bench`` is not
            installed, no such file, a damaged file, a benchmark of another space,
            or results without the dataset or ``hp``.
    """

    def __init__(self, path: str, dataset: str, hp: int, metric: str,
                 key: str = "table.path"):
        self.path, self.dataset, self.hp, self.metric = path, dataset, int(hp), metric
        self.key = key
        self._data, self._accuracy = _api_keys(dataset, metric)
        self._memo: Dict[int, Entry] = {}
        try:
            import nats_bench
        except ImportError:
            self.fail("evaluate: table reads the benchmark through the nats_bench "
                      "package, which is not installed: pip install "
                      "'nnabla-nas[nasbench]' (or pip install nats_bench)")
        if not os.path.exists(path):
            self.fail(f"no such file or folder: {path}")
        fast = os.path.isdir(path)
        if fast and not os.path.isfile(os.path.join(path, META)):
            self.fail(f"{path} is a folder without {META}: not a NATS-Bench topology "
                      "benchmark folder (NATS-tss-v1_0-3ffb9-simple)")
        try:
            self.api = nats_bench.create(path, "tss", fast_mode=fast, verbose=False)
        except DAMAGED as e:
            self.fail(f"{path} is not a readable NATS-Bench topology benchmark "
                      f"(damaged or another format: {type(e).__name__}: {_short(e)})")
        self._check_space()
        self.indexes = self._stored_indexes(fast)
        if not self.indexes:
            self.fail(f"{path} holds the architecture list but no results")
        self.entry_at(self.indexes[0])  # the dataset and hp are there

    def fail(self, problem: str) -> None:
        raise ConfigError(f"{self.key}: {problem}")

    def _check_space(self) -> None:
        archs = list(getattr(self.api, "meta_archs", None) or [])
        for a in archs[:1]:
            try:
                parse_arch_str(a)
            except ValueError:
                self.fail(f"{self.path} is a benchmark of another search space (its "
                          f"first architecture is {str(a)[:60]!r}, not a NAS-Bench-201 "
                          "cell); evaluate: table reads NATS-Bench's topology "
                          "benchmark (tss, NATS-tss-v1_0-3ffb9)")
        expected = all_arch_strings()
        if len(archs) != len(expected) or set(archs) != set(expected):
            self.fail(f"{self.path} lists {len(archs)} architectures, not the "
                      f"{len(expected)} NAS-Bench-201 cells: not the topology benchmark "
                      "or a damaged one")

    def _stored_indexes(self, fast: bool) -> List[int]:
        if not fast:
            return sorted(self.api.evaluated_indexes)
        return sorted(int(m.group(1)) for m in map(ENTRY.match, os.listdir(self.path))
                      if m)

    def index(self, arch: Architecture) -> int:
        """The benchmark's index of ``arch``."""
        return self.api.query_index_by_arch(arch_str(arch.choices))

    def entry(self, arch: Architecture) -> Entry:
        """The table's accuracy and costs of ``arch``.

        Raises:
            ConfigError: naming the architecture when the table has no results for
                it (a partial or damaged file).
        """
        return self.entry_at(self.index(arch))

    def entry_at(self, index: int) -> Entry:
        """The row of the architecture of ``index``."""
        if index not in self._memo:
            self._memo[index] = self._read(index)
        return self._memo[index]

    def _read(self, index: int) -> Entry:
        arch = self.api.meta_archs[index]
        what = f"{self.dataset} after {self.hp} epochs"
        try:
            info = self.api.get_more_info(index, self._data, hp=str(self.hp),
                                          is_random=False)
            # The record get_more_info read (get_cost_info would deep-copy it first).
            cost = self.api.arch2infos_dict[index][str(self.hp)].get_compute_costs(
                self._data)
        except DAMAGED as e:
            self._missing(index, arch, e)
        if self._accuracy not in info:
            self.fail(f"{self.path} has no {self.metric} accuracy on {what} for "
                      f"architecture {index}")
        values = [info[self._accuracy], cost.get("params"), cost.get("flops"),
                  cost.get("latency")]
        if any(not isinstance(v, (int, float)) or v != v for v in values):
            self.fail(f"{self.path}: architecture {index} lacks a figure of {what} "
                      f"(accuracy, params, flops, latency: {values})")
        accuracy, params, flops, latency = (float(v) for v in values)
        return Entry(accuracy / 100.0, OrderedDict(
            params=params, flops=flops, latency=latency * 1000.0))

    def _missing(self, index: int, arch: str, error: BaseException) -> None:
        """Name what the table lacks for the architecture of ``index``."""
        stored = self.api.arch2infos_dict.get(index)
        if stored is not None and str(self.hp) not in stored:
            self.fail(f"{self.path} has no results after {self.hp} epochs (it has "
                      f"{', '.join(sorted(stored))}); expected hp among "
                      f"{', '.join(map(str, HPS))} that it holds")
        if stored is not None:
            names = stored[str(self.hp)].get_dataset_names()
            if self._data not in names:
                self.fail(f"{self.path} has no {self._data} results for architecture "
                          f"{index} (it has {', '.join(names)})")
        self.fail(f"{self.path} has no readable results for architecture {index} "
                  f"{arch} ({type(error).__name__}: {_short(error)})")


@functools.lru_cache(maxsize=4)
def _open(path: str, stamp: Tuple[float, int], dataset: str, hp: int, metric: str,
          key: str) -> BenchmarkTable:
    return BenchmarkTable(path, dataset, hp, metric, key)


def open_table(path: str, dataset: str, hp: int, metric: str,
               key: str = "table.path") -> BenchmarkTable:
    """A :class:`BenchmarkTable` of ``path`` (``~`` expanded), shared by the callers
    in this process while the file is unchanged (a run checks it before it starts and
    then reads it)."""
    path = os.path.expanduser(path)
    try:
        stat = os.stat(path)
        stamp = (stat.st_mtime, stat.st_size)
    except OSError:
        stamp = (0.0, -1)
    return _open(os.path.abspath(path), stamp, dataset, int(hp), metric, key)


__all__ = ["BenchmarkTable", "Entry", "open_table", "all_arch_strings", "COSTS",
           "DATASETS", "HPS", "METRICS", "SPACE"]
