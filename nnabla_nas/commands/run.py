"""Running the phases of a config, search and train, into an output folder: what
``main.py --config FILE``, ``main.py search`` and ``main.py train`` share.

The search writes ``arch.json`` and ``search_weights.h5``; the training reads that
``arch.json`` (or the config's ``train.arch``) and writes ``weights.h5``. Both add
their figures to ``summary.json``. A phase rerun with the same config resumes from its
newest checkpoint.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import nnabla as nn
import nnabla.random
import numpy as np

from ..config.loader import to_dict
from ..contrib.model import Model, parameter_count
from ..contrib.spaces import SEARCH_SPACES
from ..dataset import DATASETS, DatasetSplits
from ..runner.arch_costs import delivered_options
from ..runner.deliver import deliver
from ..runner.hardware import bound_messages, bounds_summary, hardware_summary
from ..runner.regularizer import cost_terms, summary_figures
from ..runner.run import Run
from ..runner.schema import RunConfig
from ..runner.searcher import SEARCHERS
from ..runner.trainer import Trainer
from ..config.fields import ConfigError
from ..contrib.estimator.table import read_table_file
from ..utils.context import Device, use_context
from ..utils.interrupt import Interrupted, graceful_interrupts, stop_if_requested
from ..utils.memory import checked_build, require_fits
from ..utils.output import RunOutput, check_output_folder
from .base import USER_ERRORS, exit_status, one_line, print_values, read_input, report

#: The phases of a run, in the order they run.
PHASES = ("search", "train")


def seed_everything(seed: int) -> None:
    """Seed NumPy's and NNabla's generators (initializers, sampling, dropout)."""
    np.random.seed(seed)
    nnabla.random.seed(seed)


def load_data(config: RunConfig) -> DatasetSplits:
    """The config's dataset; a missing or malformed dataset is an ``InputError``."""
    return read_input(f"dataset {config.dataset.name}",
                      DATASETS.get(config.dataset.name).load, config.dataset.options,
                      config.seed)


def phase_run(config: RunConfig, section: Any, model: Model, data: DatasetSplits,
              output: RunOutput, space: type, device: Device,
              train_options: Any = None) -> Run:
    """The :class:`~nnabla_nas.runner.run.Run` of one phase of ``config``."""
    return Run(model=model, data=data, config=section, output=output, seed=config.seed,
               space=space, device=device, quiet=config.quiet,
               checkpoint_every=config.checkpoint_every, train_options=train_options)


def supernet(config: RunConfig, data: DatasetSplits
             ) -> Callable[[np.random.RandomState], Any]:
    """Builds the config's search supernet with a given generator."""
    space = SEARCH_SPACES.get(config.search.space.name)
    return lambda rng: space.build_search(config.search.space.options, data.shape,
                                          data.num_classes, rng)


def search_phase(config: RunConfig, data: DatasetSplits, output: RunOutput,
                 device: Optional[Device] = None) -> Dict[str, Any]:
    """Search on ``device`` (default: the config's), write ``arch.json``; return the
    search's summary figures."""
    device = device or Device(config.context, config.device_id)
    space = SEARCH_SPACES.get(config.search.space.name)
    # Its memory was checked before the run started (check_inputs).
    model = supernet(config, data)(np.random.RandomState(config.seed))
    supernet_params = parameter_count(model.get_modules())  # every candidate
    train_options, source = delivered_options(config)
    if any(t.config.active for t in cost_terms(config.search)):
        output.logger.info(f"search costs and bounds are on the network delivered for an "
                           f"architecture: {space.name} built with {source}")
    searcher = SEARCHERS.get(config.search.searcher.name)(
        phase_run(config, config.search, model, data, output, space, device,
                  train_options))
    searcher.search()
    summary = dict(search_space=space.name, searcher=config.search.searcher.name,
                   search_time_s=round(searcher.elapsed, 2),
                   **searcher.summary_values(),
                   supernet_params=supernet_params,
                   arch_path=os.path.abspath(output.path("arch.json")))
    # Estimated costs of the network delivered for the architecture found.
    summary.update(summary_figures(searcher.derived_costs, "search_arch_"))
    return summary


def train_phase(config: RunConfig, data: DatasetSplits, output: RunOutput, arch_path: str,
                device: Optional[Device] = None) -> Dict[str, Any]:
    """Train the architecture of ``arch_path`` from scratch, write ``weights.h5``, draw
    the architecture and export the network (NNP and ONNX); return the training's
    summary figures, hardware figures included, measured on ``device`` (default: the
    config's)."""
    device = device or Device(config.context, config.device_id)
    space = SEARCH_SPACES.get(config.train.net.name)
    arch = read_input("train.arch", space.load_arch, arch_path)
    seed_everything(config.seed)
    model = checked_build(f"train.net ({space.name} network)",
                          lambda rng: space.build_train(arch, config.train.net.options,
                                                        data.shape, data.num_classes, rng),
                          config.seed)
    trainer = Trainer(phase_run(config, config.train, model, data, output, space, device))
    test = trainer.train()
    summary = dict(arch_path=os.path.abspath(arch_path),
                   params=parameter_count(model.get_modules()),
                   train_time_s=round(trainer.elapsed, 2),
                   valid_accuracy=1 - trainer.history[-1]["valid_error"],
                   test_accuracy=1 - test["error"], test_loss=test["loss"])
    exported = deliver(model, space, arch, arch_path, data, output)
    summary.update(exported)
    summary.update(hardware_summary(model, data.shape, device,
                                    nnp_path=exported["nnp_path"],
                                    onnx_path=exported.get("onnx_path")))
    if config.search is not None:  # the search's bounds, on the delivered network
        bounds = bounds_summary(model, data.shape, cost_terms(config.search), device,
                                exported["nnp_path"], exported.get("onnx_path"))
        if bounds:
            summary["bounds"] = bounds
    return summary


def retrain_ranked(config: RunConfig, data: DatasetSplits, output: RunOutput,
                   device: Device) -> List[Dict[str, Any]]:
    """Retrain the architectures a black-box search ranked 2 to ``train.top_k``
    (``top_k/arch_<rank>.json``), each into ``retrain/<rank>/``, a run folder of its
    own (weights, exported network, ``summary.json``); return what each reached."""
    out = []
    for rank in range(2, config.train.top_k + 1):
        arch_path = output.path("top_k", f"arch_{rank}.json")
        if not os.path.exists(arch_path):  # fewer distinct architectures evaluated
            break
        sub = RunOutput(output.path("retrain", str(rank), ""),
                        dict(to_dict(config), retrain_rank=rank), quiet=config.quiet)
        try:
            seed_everything(config.seed)
            summary = sub.update_summary(rank=rank, **train_phase(config, data, sub,
                                                                  arch_path, device))
        finally:
            sub.close()
        out.append({"rank": rank, "folder": sub.root,
                    **{k: summary[k] for k in ("valid_accuracy", "test_accuracy")}})
        output.logger.info(f"retrained rank {rank}: test accuracy "
                           f"{summary['test_accuracy']:.4f} ({sub.root})")
    return out


def check_inputs(config: RunConfig, data: DatasetSplits,
                 phases: Sequence[str] = PHASES) -> None:
    """What can be checked of the run's inputs once the data is loaded, before anything
    is written: every batch fits its split, and a given ``train.arch`` is valid.

    Raises:
        ConfigError: naming the batch size that is larger than its split.
        InputError: for a bad ``train.arch``.
    """
    splits = []
    if "search" in phases and config.search is not None:
        for term in cost_terms(config.search):  # a profile table given to a cost
            table = getattr(term.config, "table", None)
            if table and os.path.exists(table):
                read_table_file(table)  # this device's or not: checked when it is used
        require_fits(f"search.space ({config.search.space.name} supernet)",
                     supernet(config, data), config.seed)
        SEARCHERS.get(config.search.searcher.name).check_inputs(
            config.search, data, Device(config.context, config.device_id),
            delivered_options(config)[0])
        splits += [("search.batch_size", config.search.batch_size, "train", data.train),
                   ("search.batch_size", config.search.batch_size, "valid", data.valid)]
    if "train" in phases and config.train is not None:
        splits.append(("train.batch_size", config.train.batch_size, "train", data.train))
    for key, batch, name, split in splits:
        if batch > len(split):
            raise ConfigError(f"{key}: {batch} is larger than the {name} split "
                              f"({len(split)} images), so an epoch would have no batch; "
                              f"expected at most {len(split)}")
    if "train" in phases and config.train is not None and config.train.arch:
        read_input("train.arch", SEARCH_SPACES.get(config.train.net.name).load_arch,
                   config.train.arch)


def run(config: RunConfig, output: RunOutput, phases: Sequence[str] = PHASES,
        data: Optional[DatasetSplits] = None, device: Optional[Device] = None) -> dict:
    """Run the ``phases`` the config has sections for on ``device`` (default: the
    config's); returns the summary written.

    Without a search phase, the training reads ``train.arch`` or, when the config
    has a search section, the ``arch.json`` that search wrote in the output folder.

    Args:
        config: The run.
        output: Its output folder.
        phases: The phases to run.
        data: The dataset, already loaded by :func:`load_data` right after
            :func:`seed_everything`; None loads it.
    """
    log = output.logger
    device = device or Device(config.context, config.device_id)
    if data is None:
        seed_everything(config.seed)
        data = load_data(config)
    log.info(f"dataset {data.name}: {len(data.train.x)} train, {len(data.valid.x)} valid, "
             f"{len(data.test.x)} test images of shape {data.shape}, "
             f"{data.num_classes} classes")
    summary = {"dataset": data.name, "context": config.context}
    if "search" in phases and config.search is not None:
        summary.update(search_phase(config, data, output, device))
        output.update_summary(**summary)
        stop_if_requested("stopped after the search, before the training; rerun the "
                          "same command to train")
    if "train" in phases and config.train is not None:
        arch_path = config.train.arch or output.path("arch.json")
        summary.update(train_phase(config, data, output, arch_path, device))
        if config.train.top_k > 1:
            summary["retrained"] = retrain_ranked(config, data, output, device)
        for line in bound_messages(summary.get("bounds", {})):
            log.warning(line)  # log.txt's last lines
    return output.update_summary(**summary)


def execute(config: RunConfig, root: str, overwrite: bool = False,
            phases: Sequence[str] = PHASES) -> int:
    """Run ``phases`` of ``config`` in the output folder ``root`` and print the
    summary; returns the exit status: 2 for a user's mistake, 130 or 143 for a run
    stopped by SIGINT or SIGTERM (see :mod:`nnabla_nas.utils.interrupt`), each reported
    in one line.

    Everything that can be checked (the output folder, the device, the dataset, batch
    sizes, a given ``train.arch``) is checked before anything is written, so a refused
    run leaves the output folder as it was.
    """
    plain = to_dict(config)
    try:
        with graceful_interrupts():
            check_output_folder(root, plain, overwrite)
            device = Device(config.context, config.device_id)
            with use_context(device.context):
                seed_everything(config.seed)
                data = load_data(config)
                check_inputs(config, data, phases)
            stop_if_requested("stopped before the run started; nothing was written")
            output = RunOutput(root, plain, overwrite=overwrite, quiet=config.quiet)
    except (Interrupted, *USER_ERRORS) as e:
        return report(e)
    start = time.perf_counter()
    try:
        with graceful_interrupts(), use_context(device.context):
            summary = run(config, output, phases, data, device)
    except (Interrupted, *USER_ERRORS) as e:
        output.logger.error(one_line(e))  # to log.txt, and to the console unless quiet
        if config.quiet:
            report(e)
        return exit_status(e)
    finally:
        output.close()
    print(f"done in {time.perf_counter() - start:.1f} s; results in {output.root}")
    print_values(summary)
    for line in bound_messages(summary.get("bounds", {})):  # the last lines, plainly
        print(f"warning: {line}")
    nn.clear_parameters()
    return 0
