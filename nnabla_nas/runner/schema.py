"""The typed schema of a run's config file (``python main.py --config FILE.yaml``).

Each section is a frozen dataclass; every field documents itself (``python main.py
list`` and the docs print these descriptions). Search spaces, searchers and datasets add
their own option classes through their registries.

It lives in the runner, the lowest layer that knows every kind of component it names;
:mod:`nnabla_nas.config` holds the generic machinery (fields, loader, descriptions).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ..config.fields import ConfigError, option
from ..config.loader import Component, component
from ..contrib.spaces import SEARCH_SPACES
from ..dataset import DATASETS
from ..utils.context import DEVICES
from .executor import EXECUTORS
from .regularizer import CostsConfig, RegularizersConfig, cost_terms
from .searcher import SEARCHERS

POSITIVE = dict(minimum=0, exclusive_minimum=True)


@dataclass(frozen=True)
class OptimizerConfig:
    """A solver with its learning-rate schedule, weight decay and gradient clipping."""

    name: str = option("sgd", "solver: sgd (with momentum) or adam",
                       choices=("sgd", "adam"))
    lr: float = option(0.025, "initial learning rate", **POSITIVE)
    schedule: str = option("cosine", "learning-rate schedule over the epochs",
                           choices=("cosine", "constant"))
    lr_min: float = option(0.001, "final learning rate of the cosine schedule", minimum=0)
    momentum: float = option(0.9, "momentum of sgd", minimum=0, maximum=1,
                             exclusive_maximum=True)
    betas: Tuple[float, float] = option((0.9, 0.999), "beta1 and beta2 of adam")
    weight_decay: float = option(3e-4, "L2 weight decay", minimum=0)
    grad_clip: float = option(5.0, "clip the gradients' global L2 norm to this; 0: off",
                              minimum=0)

    def __post_init__(self):
        if self.schedule == "cosine" and self.lr_min > self.lr:
            raise ConfigError(f"lr_min: expected at most lr={self.lr}, got {self.lr_min}")
        if not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas: expected two numbers in [0, 1), got {self.betas}")


@dataclass(frozen=True)
class ArchOptimizerConfig(OptimizerConfig):
    """The optimizer of the architecture parameters (DARTS' defaults)."""

    name: str = option("adam", "solver: sgd (with momentum) or adam",
                       choices=("sgd", "adam"))
    lr: float = option(3e-4, "learning rate", **POSITIVE)
    schedule: str = option("constant", "learning-rate schedule over the epochs",
                           choices=("cosine", "constant"))
    lr_min: float = option(0.0, "final learning rate of the cosine schedule", minimum=0)
    betas: Tuple[float, float] = option((0.5, 0.999), "beta1 and beta2 of adam")
    weight_decay: float = option(1e-3, "L2 weight decay", minimum=0)
    grad_clip: float = option(0.0, "clip the gradients' global L2 norm to this; 0: off",
                              minimum=0)


@dataclass(frozen=True)
class SearchConfig:
    """The architecture search: a space, a searcher, and how long to search."""

    space: Component = component(SEARCH_SPACES, "darts", "the search space and its size",
                                 config_attr="SearchConfig")
    searcher: Component = component(SEARCHERS, "darts", "the search algorithm")
    epochs: int = option(10, "search epochs", minimum=1, maximum=10_000)
    warmup_epochs: int = option(0, "first epochs that train the weights only", minimum=0,
                                maximum=10_000)
    batch_size: int = option(64, "batch size of both the weight and architecture steps",
                             minimum=1, maximum=65_536)
    net_optimizer: OptimizerConfig = option(None, "optimizer of the network weights",
                                            default_factory=OptimizerConfig)
    arch_optimizer: ArchOptimizerConfig = option(
        None, "optimizer of the architecture parameters",
        default_factory=ArchOptimizerConfig)
    regularizers: RegularizersConfig = option(
        None, "hardware costs added to the architecture loss",
        default_factory=RegularizersConfig)
    costs: CostsConfig = option(
        None, "costs in the architecture objective, by estimator name: {weight, bound, "
              "mode, and the estimator's options} each (main.py list --kind estimators)",
        default_factory=CostsConfig)
    workers: int = option(1, "evolution and random: candidates scored at once, each by "
                             "a worker of the executor (1: in the search's process); "
                             "the results do not depend on it", minimum=1, maximum=4096)
    executor: Component = component(EXECUTORS, "local", "evolution and random: where "
                                    "the workers run: local (processes on this "
                                    "machine) or ray (a Ray cluster)")

    def __post_init__(self):
        if self.warmup_epochs >= self.epochs:
            raise ConfigError(f"warmup_epochs: expected fewer than epochs={self.epochs}, "
                              f"got {self.warmup_epochs}")
        cost_terms(self)  # each estimator in costs or regularizers, not both
        parallel = self.workers > 1 or (self.executor is not None
                                        and self.executor.name != "local")
        if parallel and self.searcher is not None and \
                not SEARCHERS.get(self.searcher.name).scores_candidates:
            key = "workers" if self.workers > 1 else "executor"
            raise ConfigError(f"{key}: the searcher {self.searcher.name} scores no "
                              "candidates to share among workers (evolution and random "
                              f"do); expected {'1' if key == 'workers' else 'local'}")


@dataclass(frozen=True)
class TrainConfig:
    """Training the architecture found (or given) from scratch."""

    arch: Optional[str] = option(None, "arch.json to train; default: the one this "
                                       "config's search writes in the output folder")
    net: Component = component(SEARCH_SPACES, "darts", "the network built from the "
                               "architecture, and its size", config_attr="TrainConfig")
    epochs: int = option(20, "training epochs", minimum=1, maximum=10_000)
    batch_size: int = option(64, "batch size", minimum=1, maximum=65_536)
    optimizer: OptimizerConfig = option(None, "optimizer of the weights",
                                        default_factory=OptimizerConfig)
    top_k: int = option(1, "after a black-box search (evolution, random): retrain this "
                           "many of its best architectures: the best into the run "
                           "folder, top_k/arch_<r>.json into retrain/<r>/ for r >= 2",
                        minimum=1, maximum=1000)


@dataclass(frozen=True)
class RunConfig:
    """A whole run: search, training, or search then training of what it found."""

    seed: int = option(0, "seed of every random number in the run", minimum=0,
                       maximum=2**32 - 1)
    context: str = option("cpu", "device: cpu, cudnn for NVIDIA GPUs (needs the CUDA "
                          "extension), or onnxruntime-cpu (trains on NNabla's CPU, "
                          "profiles latency through ONNX Runtime)",
                          choices=tuple(DEVICES))
    device_id: int = option(0, "GPU index for the cudnn context", minimum=0, maximum=1023)
    quiet: bool = option(False, "no progress bars (for logs)")
    checkpoint_every: int = option(0, "also checkpoint every this many steps (0: after "
                                      "each epoch only); a rerun resumes from the newest",
                                   minimum=0, maximum=10**9)
    dataset: Component = component(DATASETS, "digits", "the data and its splits")
    search: Optional[SearchConfig] = option(None, "the search; omit to only train")
    train: Optional[TrainConfig] = option(None, "the retraining; omit to only search")
    plugins: Tuple[str, ...] = option((), "your own modules, imported before the rest "
                                      "of the config is validated, registering "
                                      "components it can name (e.g. [my_pkg.my_data])")

    def __post_init__(self):
        if self.search is None and self.train is None:
            raise ConfigError("search, train: expected at least one of the two sections")
        if self.search is not None and self.train is not None and self.train.arch:
            raise ConfigError("train.arch: expected no value when the config has a search "
                              "section (the architecture the search finds is trained)")
        if self.train is not None and self.train.top_k > 1:
            ranked = getattr(getattr(self.search, "searcher", None), "options", None)
            if getattr(ranked, "top_k", 0) < self.train.top_k:
                raise ConfigError(f"train.top_k: expected 1 unless the search section's "
                                  f"searcher ranks at least {self.train.top_k} "
                                  "architectures (search.searcher.top_k of evolution or "
                                  f"random), got {self.train.top_k}")
        if self.search is None and self.train.arch is None:
            raise ConfigError("train.arch: expected the path of an arch.json when the "
                              "config has no search section")
