"""Running the phases of a config, search and train, into an output folder: what
``main.py --config FILE``, ``main.py search`` and ``main.py train`` share.

The search writes ``arch.json`` and ``search_weights.h5``; the training reads that
``arch.json`` (or the config's ``train.arch``) and writes ``weights.h5``. Both add
their figures to ``summary.json``. A phase rerun with the same config resumes from its
newest checkpoint.

Started by ``mpirun -n N``, the run is data-parallel over the N processes (see
:mod:`nnabla_nas.utils.communicator` and docs/distributed.rst): :func:`execute` makes
the communicator once, checks that every rank has the same config, and passes it
down; each rank computes its part of every batch and rank 0 alone writes.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import nnabla as nn
import nnabla.random
import numpy as np

from ..config.loader import to_dict
from ..contrib.model import Model, parameter_count
from ..contrib.spaces import SEARCH_SPACES
from ..dataset import DATASETS, DatasetSplits
from ..runner.arch_costs import delivered_options
from ..runner.deliver import deliver
from ..runner.hardware import bound_messages, delivered_summary
from ..runner.regularizer import cost_terms, summary_figures
from ..runner.run import Run
from ..runner.schema import RunConfig
from ..runner.loop import per_rank_batch
from ..runner.searcher import SEARCHERS
from ..runner.trainer import Trainer
from ..config.fields import ConfigError
from ..contrib.estimator.table import read_table_file
from ..utils.communicator import Communicator, CommunicatorError, RanksDisagree, \
    SingleProcess, make_communicator
from ..utils.context import DEVICES, Device, DeviceError, use_context
from ..utils.interrupt import Interrupted, graceful_interrupts, requested, \
    stop_if_requested
from ..utils.memory import checked_build, require_fits
from ..utils.output import RankOutput, RunOutput, check_output_folder
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
    """The :class:`~nnabla_nas.runner.run.Run` of one phase of ``config``, on the
    processes of ``device.comm`` (one by default)."""
    comm = comm_of(device)
    return Run(model=model, data=data, config=section, output=output, seed=config.seed,
               space=space, device=device, quiet=config.quiet or not comm.is_main,
               checkpoint_every=config.checkpoint_every, train_options=train_options,
               comm=comm)


def comm_of(device: Device) -> Communicator:
    """The communicator a run's ``device`` was made with (one process if none)."""
    return device.comm if device.comm is not None else SingleProcess()


def run_device(config: RunConfig, comm: Communicator) -> Device:
    """The device of ``config`` for this process of the job: on ``cudnn`` each rank
    takes the GPU of its rank on its machine (``comm.local_rank``)."""
    device_id = comm.local_rank if comm.size > 1 and config.context == "cudnn" \
        else config.device_id
    return Device(config.context, device_id, comm=comm)


def parameters_digest(model: Model) -> str:
    """The SHA-256 of ``model``'s parameter values, in order (their bytes)."""
    digest = hashlib.sha256()
    for name, p in model.get_parameters().items():
        digest.update(name.encode("utf-8"))
        digest.update(np.ascontiguousarray(p.d, np.float32).tobytes())
    return digest.hexdigest()


def check_ranks_agree(comm: Communicator, model: Model, what: str, output: Any,
                      arch: Any = None) -> None:
    """After a phase of a data-parallel job: every rank must hold the same parameters
    (bit for bit) and, for a search, the same architecture; logged by rank 0.

    Raises:
        RanksDisagree: on every rank, naming what differs.
    """
    if comm.size == 1:
        return
    digest = parameters_digest(model)
    comm.check_same(f"the {what}'s parameters", digest)
    if arch is not None:
        comm.check_same(f"the {what}'s architecture", arch.key())
    output.logger.info(f"{what}: the {comm.size} ranks hold the same parameters "
                       f"(sha256 {digest[:16]}...)"
                       + (" and architecture" if arch is not None else ""))


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
    arch = searcher.search()
    check_ranks_agree(comm_of(device), model, "search", output, arch)
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
    comm = comm_of(device)
    check_ranks_agree(comm, model, "train", output)
    summary = dict(arch_path=os.path.abspath(arch_path),
                   params=parameter_count(model.get_modules()),
                   train_time_s=round(trainer.elapsed, 2),
                   valid_accuracy=1 - trainer.history[-1]["valid_error"],
                   test_accuracy=1 - test["error"], test_loss=test["loss"])
    if not comm.is_main:  # rank 0 exports and measures the network
        return summary
    # Measured on rank 0 alone: the others do not take part in these timings.
    device = Device(device.name, device.device_id, device.table)
    exported = deliver(model, space, arch, arch_path, data, output)
    summary.update(exported)
    # The search's bounds are checked on the delivered network, with the figures.
    terms = cost_terms(config.search) if config.search is not None else ()
    figures, bounds = delivered_summary(model, data.shape, terms, device,
                                        exported["nnp_path"], exported.get("onnx_path"))
    summary.update(figures)
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


def check_data_parallel(config: RunConfig, phases: Sequence[str], size: int) -> None:
    """What a run of ``size`` processes needs: batch sizes that split evenly over
    them, and a searcher that runs data-parallel (the black-box ones do not yet).

    Raises:
        ConfigError: naming the key.
    """
    if "search" in phases and config.search is not None:
        per_rank_batch("search.batch_size", config.search.batch_size, size)
        searcher = SEARCHERS.get(config.search.searcher.name)
        if searcher.scores_candidates:  # black-box: its workers are its parallelism
            raise ConfigError(f"search.searcher.name: {config.search.searcher.name} does "
                              f"not run data-parallel yet; run it without mpirun (this "
                              f"job has {size} processes)")
    if "train" in phases and config.train is not None:
        per_rank_batch("train.batch_size", config.train.batch_size, size)


def check_inputs(config: RunConfig, data: DatasetSplits,
                 phases: Sequence[str] = PHASES, device: Optional[Device] = None) -> None:
    """What can be checked of the run's inputs once the data is loaded, before anything
    is written: every batch fits its split (and, on several processes, splits evenly
    over them), and a given ``train.arch`` is valid.

    Raises:
        ConfigError: naming the batch size that is larger than its split.
        InputError: for a bad ``train.arch``.
    """
    splits = []
    size = comm_of(device).size if device is not None else 1
    if size > 1:
        check_data_parallel(config, phases, size)
    if "search" in phases and config.search is not None:
        for term in cost_terms(config.search):  # a profile table given to a cost
            table = getattr(term.config, "table", None)
            if table and os.path.exists(table):
                read_table_file(table)  # this device's or not: checked when it is used
        require_fits(f"search.space ({config.search.space.name} supernet)",
                     supernet(config, data), config.seed)
        SEARCHERS.get(config.search.searcher.name).check_inputs(
            config.search, data, device or Device(config.context, config.device_id),
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
        device: Where the run computes; its ``comm`` makes it data-parallel.
    """
    log = output.logger
    device = device or Device(config.context, config.device_id)
    comm = comm_of(device)
    if data is None:
        seed_everything(config.seed)
        data = load_data(config)
    log.info(f"dataset {data.name}: {len(data.train.x)} train, {len(data.valid.x)} valid, "
             f"{len(data.test.x)} test images of shape {data.shape}, "
             f"{data.num_classes} classes")
    summary = {"dataset": data.name, "context": config.context}
    if comm.size > 1:
        log.info(f"data-parallel over {comm.size} processes: each computes 1/{comm.size} "
                 "of every batch")
        summary["processes"] = comm.size
    if "search" in phases and config.search is not None:
        summary.update(search_phase(config, data, output, device))
        output.update_summary(**summary)
        stop_if_any_requested(comm, "stopped after the search, before the training; "
                                    "rerun the same command to train")
    if "train" in phases and config.train is not None:
        arch_path = config.train.arch or output.path("arch.json")
        summary.update(train_phase(config, data, output, arch_path, device))
        if config.train.top_k > 1:
            summary["retrained"] = retrain_ranked(config, data, output, device)
        for line in bound_messages(summary.get("bounds", {})):
            log.warning(line)  # log.txt's last lines
    return output.update_summary(**summary)


def stop_if_any_requested(comm: Communicator, where: str) -> None:
    """:func:`~nnabla_nas.utils.interrupt.stop_if_requested` on every rank when a
    signal reached any of them."""
    if comm.size == 1:
        stop_if_requested(where)
        return
    signum = requested()
    (mean,) = comm.allreduce_mean([[0.0 if signum is None else 1.0]])
    if mean[0] > 0:
        raise Interrupted(signum or signal.SIGTERM, where)


def agree(comm: Communicator, check: Callable[[], Any]
          ) -> Tuple[Any, Optional[str], int]:
    """Run ``check`` on every rank; a user's error (or an interruption) on any rank
    stops all of them together.

    Returns:
        ``(result, None, 0)`` when every rank succeeded; else ``(None, line, status)``
        with the one line to report (naming the rank when it is not rank 0) and the
        exit status, the same on every rank.
    """
    result, failure = None, None
    try:
        result = check()
    except (Interrupted, *USER_ERRORS) as e:
        failure = (one_line(e), exit_status(e))
    if comm.size == 1:
        return (result, None, 0) if failure is None else (None, *failure)
    failures = comm.allgather_object(failure)
    for rank, failed in enumerate(failures):
        if failed is not None:
            line, status = failed
            if rank:
                line = line.replace("error: ", f"error: rank {rank}: ", 1) \
                    if line.startswith("error: ") else f"rank {rank}: {line}"
            return None, line, status
    return result, None, 0


def execute(config: RunConfig, root: str, overwrite: bool = False,
            phases: Sequence[str] = PHASES) -> int:
    """Run ``phases`` of ``config`` in the output folder ``root`` and print the
    summary; returns the exit status: 2 for a user's mistake, 130 or 143 for a run
    stopped by SIGINT or SIGTERM (see :mod:`nnabla_nas.utils.interrupt`), each reported
    in one line.

    Everything that can be checked (the output folder, the device, the dataset, batch
    sizes, a given ``train.arch``) is checked before anything is written, so a refused
    run leaves the output folder as it was.

    Under ``mpirun -n N`` every process runs this: the communicator is made here
    (``mpirun`` without the ``mpi`` extra is one line saying what to install), every
    rank must have the same config (a digest broadcast from rank 0), the checks run
    on every rank and any rank's failure ends all with one line, rank 0 alone holds
    the output folder and prints; a rank that fails during the run stops the job
    with one line naming it (:meth:`~nnabla_nas.utils.communicator.Communicator.
    stop_all_on_error`).
    """
    plain = to_dict(config)
    try:
        comm = make_communicator(DEVICES[config.context][0])
    except (CommunicatorError, DeviceError) as e:
        return report(e)
    try:
        comm.check_same("config", json.dumps(plain, sort_keys=True, default=str))
    except RanksDisagree as e:
        return report(e) if comm.is_main else 2

    def prepare():
        with graceful_interrupts():
            if comm.is_main:
                check_output_folder(root, plain, overwrite)
            device = run_device(config, comm)
            with use_context(device.context):
                seed_everything(config.seed)
                data = load_data(config)
                check_inputs(config, data, phases, device)
            stop_if_requested("stopped before the run started; nothing was written")
            return device, data

    with comm.stop_all_on_error():  # anything but a user's error: a bug, stop all
        prepared, line, status = agree(comm, prepare)
        if line is None:
            device, data = prepared
            # Rank 0 alone takes the folder; the others wait for it, to stop if it
            # cannot.
            output, line, status = agree(comm, lambda: RunOutput(
                root, plain, overwrite=overwrite, quiet=config.quiet) if comm.is_main
                else RankOutput(root, comm.rank))
    if line is not None:
        if comm.is_main:
            print(line, file=sys.stderr)
        return status
    start = time.perf_counter()
    try:
        # Errors every rank raises together end them normally; any other stops the job.
        with comm.stop_all_on_error(collective=(Interrupted,)):
            try:
                with graceful_interrupts(), use_context(device.context):
                    summary = run(config, output, phases, data, device)
            except USER_ERRORS as e:
                output.logger.error(one_line(e))  # to log.txt before stopping
                raise
    except (Interrupted, RanksDisagree, *USER_ERRORS) as e:
        if not isinstance(e, USER_ERRORS):
            output.logger.error(one_line(e))
        if config.quiet and comm.is_main:
            report(e)
        return exit_status(e)
    finally:
        output.close()
    if comm.is_main:
        print(f"done in {time.perf_counter() - start:.1f} s; results in {output.root}")
        print_values(summary)
        for line in bound_messages(summary.get("bounds", {})):  # the last lines, plainly
            print(f"warning: {line}")
    nn.clear_parameters()
    return 0
