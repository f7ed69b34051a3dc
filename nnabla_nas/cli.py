"""The command line: ``python main.py --config FILE.yaml [--output-path DIR] [key=value]``.

A run validates the whole config before building anything, then searches, retrains
what it found (or a given ``arch.json``), and writes its results to the output folder.
A user's mistake ends with one line naming the key or file and exit status 2; no
traceback.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import List, Optional

import nnabla as nn
import nnabla.random
import numpy as np

from .config.fields import ConfigError
from .config.loader import apply_overrides, from_dict, read_yaml, to_dict
from .config.schema import RunConfig
from .contrib.estimator.table import ProfileTableError
from .contrib.spaces import SEARCH_SPACES
from .dataset import DATASETS
from .runner.budget import BudgetError
from .runner.checkpoint import CheckpointError
from .runner.hardware import hardware_summary
from .runner.loop import parameter_count
from .runner.meter import NonFiniteError
from .runner.searcher import SEARCHERS
from .runner.trainer import Trainer
from .utils.context import DeviceError, make_context, use_context
from .utils.output import OutputError, RunOutput



class InputError(RuntimeError):
    """A file the run reads (dataset, arch.json) is missing or malformed."""


USER_ERRORS = (ConfigError, DeviceError, OutputError, CheckpointError, NonFiniteError,
               InputError, ProfileTableError, BudgetError)


def _read_input(what: str, load, *args):
    """Call a loader of user files, turning its file errors into :class:`InputError`."""
    try:
        return load(*args)
    except (OSError, ValueError) as e:
        raise InputError(f"{what}: {e}") from None


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="main.py", description="Search an architecture and/or train one, as the "
        "config says.", epilog="Any config value can be overridden by its dotted key, "
        "e.g. search.epochs=2 dataset.valid_fraction=0.3")
    parser.add_argument("--config", required=True, help="the run's YAML config file")
    parser.add_argument("--output-path", default=None,
                        help="output folder (default: output/<config file name>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run in an output folder that holds a different "
                        "run's config (only the files runs write are removed)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides by dotted key")
    return parser.parse_args(argv)


def load_config(path: str, overrides: List[str]) -> RunConfig:
    """Read, override and validate a config file."""
    return from_dict(RunConfig, apply_overrides(read_yaml(path), overrides))


def seed_everything(seed: int) -> None:
    """Seed NumPy's and NNabla's generators (initializers, sampling, dropout)."""
    np.random.seed(seed)
    nnabla.random.seed(seed)


def run(config: RunConfig, output: RunOutput) -> dict:
    """Search and/or train as ``config`` says; returns the summary written."""
    log = output.logger
    seed_everything(config.seed)
    data = _read_input(f"dataset {config.dataset.name}",
                       DATASETS.get(config.dataset.name).load, config.dataset.options,
                       config.seed)
    log.info(f"dataset {data.name}: {len(data.train.x)} train, {len(data.valid.x)} valid, "
             f"{len(data.test.x)} test images of shape {data.shape}, "
             f"{data.num_classes} classes")
    summary = {"dataset": data.name, "context": config.context}
    arch_path = config.train.arch if config.train is not None else None
    if config.search is not None:
        space = SEARCH_SPACES.get(config.search.space.name)
        rng = np.random.RandomState(config.seed)
        model = space.build_search(config.search.space.options, data.shape,
                                   data.num_classes, rng)
        searcher_cls = SEARCHERS.get(config.search.searcher.name)
        searcher = searcher_cls(model, space, data, config.search,
                                config.search.searcher.options, output, config.seed,
                                config.quiet, config.checkpoint_every, config.context,
                                config.device_id)
        searcher.search()
        arch_path = output.path("arch.json")
        summary.update(search_space=space.name, searcher=config.search.searcher.name,
                       search_time_s=round(searcher.elapsed, 2),
                       search_valid_accuracy=1 - searcher.history[-1]["valid_error"],
                       supernet_params=parameter_count(
                           model.get_net_parameters(grad_only=True)),
                       arch_path=os.path.abspath(arch_path))
        # Exact estimated costs of the architecture found, at the supernet's sizes.
        units = {"latency": "latency_ms", "memory": "params"}
        summary.update((f"search_arch_{units[k]}", round(v, 4))
                       for k, v in searcher.derived_costs.items())
        output.update_summary(**summary)
    if config.train is not None:
        space = SEARCH_SPACES.get(config.train.net.name)
        arch = _read_input("train.arch", space.load_arch, arch_path)
        seed_everything(config.seed)
        model = space.build_train(arch, config.train.net.options, data.shape,
                                  data.num_classes, np.random.RandomState(config.seed))
        trainer = Trainer(model, data, config.train, output, config.seed, config.quiet,
                          config.checkpoint_every)
        test = trainer.train()
        summary.update(arch_path=os.path.abspath(arch_path),
                       params=parameter_count(model.get_parameters(grad_only=True)),
                       train_time_s=round(trainer.elapsed, 2),
                       valid_accuracy=1 - trainer.history[-1]["valid_error"],
                       test_accuracy=1 - test["error"], test_loss=test["loss"])
        summary.update(hardware_summary(model, data.shape, config.context,
                                        config.device_id))
    return output.update_summary(**summary)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the process exit status."""
    args = parse_args(argv)
    nn.logger.setLevel(logging.WARNING)  # NNabla logs every file it saves at INFO
    try:
        config = load_config(args.config, args.overrides)
        ctx = make_context(config.context, config.device_id)
        name = os.path.splitext(os.path.basename(args.config))[0]
        output = RunOutput(args.output_path or os.path.join("output", name),
                           to_dict(config), overwrite=args.overwrite, quiet=config.quiet)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        with use_context(ctx):
            summary = run(config, output)
    except USER_ERRORS as e:
        output.logger.error(f"error: {e}")  # to log.txt, and to the console unless quiet
        if config.quiet:
            print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        output.close()
    print(f"done in {time.perf_counter() - start:.1f} s; results in {output.root}")
    for k, v in summary.items():
        print(f"  {k}: {v:.6g}" if isinstance(v, float) else f"  {k}: {v}")
    nn.clear_parameters()
    return 0
