"""`EpochLoop`: what searchers and trainers share: epochs, evaluation, logging,
TensorBoard, checkpoints and resume, in one process or as one rank of a data-parallel
job (see :class:`EpochLoop`)."""
from __future__ import annotations

import signal
import time
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import nnabla as nn
import nnabla.random
import numpy as np
from tqdm import tqdm

from ..config.fields import ConfigError
from ..dataset import DataLoader, DatasetSplits, Split
from ..dataset.base import Augment
from ..module import training_mode
from ..utils.communicator import Communicator, SingleProcess
from ..utils.interrupt import Interrupted, requested
from .callbacks import Callback
from .checkpoint import Checkpointer
from .meter import Meter, NonFiniteError, check_finite
from .optimizer import Optimizer
from .randomness import replay, seed_epoch
from .run import Run


def per_rank_batch(key: str, batch_size: int, size: int) -> int:
    """The part of a global batch of ``batch_size`` each of ``size`` ranks computes.

    Raises:
        ConfigError: naming ``key`` when ``size`` does not divide ``batch_size``.
    """
    if batch_size % size:
        raise ConfigError(f"{key}: {batch_size} does not split evenly over the {size} "
                          f"processes of this job; expected a multiple of {size}")
    return batch_size // size


class Evaluator:
    """A model, its data and a batch size: evaluation on a split in inference mode.

    What an :class:`EpochLoop` evaluates with, on its own for code that evaluates
    without training epochs or an output folder (a worker process scoring candidates,
    :func:`~nnabla_nas.runner.candidate.prepare`).

    Args:
        model: The network.
        data: Its dataset splits.
        batch_size: Batch size of every graph: the global batch, of which each rank of a
            data-parallel job computes its part (:meth:`loader`).
        quiet: No progress bars.
        comm: The job's communicator; default: one process.
    """

    phase = "run"

    def __init__(self, model: Any, data: DatasetSplits, batch_size: int,
                 quiet: bool = False, comm: Optional[Communicator] = None):
        self.model = model
        self.data = data
        self.batch_size = batch_size
        self.quiet = quiet
        self.comm = SingleProcess() if comm is None else comm
        self._eval_graphs: Dict[int, Tuple[nn.Variable, ...]] = {}

    def loader(self, split: Split, shuffle: bool, seed: int,
               augment: Optional[Augment] = None, drop_last: bool = True,
               prefetch: int = 2) -> DataLoader:
        """A loader of global batches of :attr:`batch_size`, yielding this rank's
        part of each (all of it in one process)."""
        return DataLoader(split, self.batch_size, shuffle=shuffle, seed=seed,
                          augment=augment, drop_last=drop_last, prefetch=prefetch,
                          shard=(self.comm.rank, self.comm.size))

    def progress(self, iterable: Iterable, desc: str, total: int):
        """A tqdm progress bar, or the bare iterable when quiet."""
        return tqdm(iterable, desc=desc, total=total, disable=self.quiet, leave=False,
                    dynamic_ncols=True)

    def placeholders(self, batch: int) -> Tuple[nn.Variable, nn.Variable]:
        """Input and label variables for a batch of ``batch`` samples."""
        return (nn.Variable((batch,) + tuple(self.data.shape)), nn.Variable((batch, 1)))

    def reset_eval_graphs(self) -> None:
        """Forget the evaluation graphs, so that the next evaluation builds them anew
        (for a model whose path changes between evaluations)."""
        self._eval_graphs.clear()

    def _eval_graph(self, batch: int):
        if batch not in self._eval_graphs:
            x, y = self.placeholders(batch)
            with training_mode(self.model, False):
                out = self.model(x)
                loss = self.model.loss(out, y)
                error = self.model.metrics(out, y)["error"]
            self._eval_graphs[batch] = (x, y, loss, error)
        return self._eval_graphs[batch]

    def evaluate(self, split: Split, name: str) -> Dict[str, float]:
        """Mean loss and error of the model in inference mode over ``split`` (each
        rank evaluates its part of every batch; the means are over the whole split)."""
        loader = self.loader(split, shuffle=False, seed=0, drop_last=False, prefetch=0)
        meter = Meter()
        for xb, yb in self.progress(loader, f"{self.phase} {name}", len(loader)):
            if not len(xb):  # a last batch smaller than the ranks: nothing here
                continue
            x, y, loss, error = self._eval_graph(len(xb))
            x.d, y.d = xb, yb
            nn.forward_all([loss, error], clear_no_need_grad=True)
            meter.update({"loss": float(loss.d), "error": float(error.d)}, len(xb))
        means = meter.summed_over(self.comm).means()
        check_finite(means, f"{self.phase} evaluation on {name}")
        return means


class EpochLoop(Evaluator):
    """An epoch loop over a model, with evaluation, logging and crash-safe resume.

    Subclasses define :meth:`train_step` (one update), :meth:`optimizers` and
    :meth:`loaders`, and set ``steps_per_epoch``; this class runs the steps, evaluates
    on the validation split after each epoch, calls the :attr:`callbacks` (per-epoch
    output, see :mod:`~nnabla_nas.runner.callbacks`), logs to the console, ``log.txt``
    and TensorBoard, and writes checkpoints from which a rerun of the same command
    continues exactly.

    The class attribute ``phase`` (``'search'`` or ``'train'``) names the checkpoint
    folder and the log and TensorBoard tags.

    Data parallelism (``run.comm`` of several ranks): every loader draws the same
    global batches and each rank takes its ``batch_size / size`` part
    (:meth:`loader`, graphs built at :attr:`local_batch`); the optimizers average the
    gradients over the ranks before each update; rank 0's parameters, optimizer
    states and run state are broadcast at the start and after a resume; each step's
    metrics, the stop decision and the evaluations are averaged over the ranks, so
    every rank logs and decides the same. Only rank 0 writes (checkpoints, logs,
    TensorBoard, the callbacks' files).

    Args:
        run: The phase's model, data, output folder, seed and settings.
        epochs: Number of epochs.
        batch_size: Batch size of every graph.
        callbacks: Called after each epoch, in order; their states are checkpointed.
    """

    phase = "run"

    def __init__(self, run: Run, epochs: int, batch_size: int,
                 callbacks: Sequence[Callback] = ()):
        super().__init__(run.model, run.data, batch_size, run.quiet, run.comm)
        self.epochs = epochs
        #: The part of each batch this rank computes.
        self.local_batch = per_rank_batch(f"{self.phase}.batch_size", batch_size,
                                          run.comm.size)
        self.output = run.output
        self.seed = run.seed
        self.checkpoint_every = int(run.checkpoint_every)
        self.callbacks = list(callbacks)
        self.log = run.output.logger
        self.history: List[Dict[str, float]] = []
        self.checkpointer = Checkpointer(run.output.path("checkpoints", self.phase, ""))
        self.elapsed = 0.0

    # ------------------------------------------------------------- for subclasses
    steps_per_epoch: int = 0

    def optimizers(self) -> Mapping[str, Optimizer]:
        """The optimizers whose states are checkpointed, by name."""
        raise NotImplementedError

    def loaders(self) -> Mapping[str, DataLoader]:
        """The data loaders whose positions are checkpointed, by name."""
        raise NotImplementedError

    def begin_epoch(self, epoch: int) -> List[nn.Variable]:
        """Prepare ``epoch`` (e.g. build its graph) and return the outputs of the graphs
        its steps run, whose random functions a resume must replay."""
        return []

    def train_step(self, epoch: int, step: int) -> Dict[str, float]:
        """One update at global ``step``; returns its metrics (``loss``, ``error``...)."""
        raise NotImplementedError

    def epoch_metrics(self, epoch: int) -> Dict[str, float]:
        """Extra values to log for ``epoch`` (learning rate...)."""
        return {}

    def end_epoch(self, epoch: int, metrics: Dict[str, float]) -> None:
        """Called after each epoch's evaluation, before the callbacks."""

    def extra_state(self) -> dict:
        """Further state a resume needs (JSON-serializable), e.g. a moving baseline."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore what :meth:`extra_state` returned."""

    def step_description(self, epoch: int) -> str:
        """The progress bar's label for ``epoch``."""
        return f"{self.phase} {epoch + 1}/{self.epochs}"

    # ---------------------------------------------------------------- shared parts
    @property
    def is_main(self) -> bool:
        """Whether this process writes the outputs (rank 0, or the only process)."""
        return self.comm.is_main

    # ---------------------------------------------------------------- checkpoints
    def _checkpoint(self, epoch: int, step: int, meter: Meter) -> None:
        """Save the run as "``step`` steps into ``epoch``" (step 0: the epoch is next).

        Parameters that are no longer finite are never saved: the run stops and the
        previous checkpoint stays the newest.
        """
        params = self.model.get_parameters()
        for name, p in params.items():
            if not np.all(np.isfinite(p.d)):
                raise NonFiniteError(
                    f"{self.phase} epoch {epoch + 1}, step {step}: parameter {name} is no "
                    "longer finite; stopping (the last good checkpoint is kept)")
        if not self.is_main:
            return
        state = {
            "epoch": epoch, "step": step, "meter": meter.state_dict(),
            "history": self.history, "elapsed": self.elapsed,
            "loaders": {k: v.state_dict() for k, v in self.loaders().items()},
            "nnabla_prng": nnabla.random.prng.get_state(),
            "extra": self._extra_state(),
        }
        self.checkpointer.save(f"{epoch:05d}-{step:06d}", params, self.optimizers(), state)

    def _extra_state(self) -> dict:
        state = {cb.name: cb.state_dict() for cb in self.callbacks if cb.name}
        state.update(self.extra_state())
        return state

    def _load_extra_state(self, state: dict) -> None:
        for cb in self.callbacks:
            if cb.name and cb.name in state:
                cb.load_state_dict(state[cb.name])
        self.load_extra_state(state)
    def _stop(self, epoch: int, step: int) -> None:
        """Raise :class:`Interrupted` after the checkpoint "``step`` steps into
        ``epoch``" was written."""
        where = f"{step} steps into epoch {epoch + 1}" if step else \
            f"after epoch {epoch}"
        # A rank the signal did not reach stops with the others, as if by SIGTERM.
        signum = requested() or signal.SIGTERM
        message = (f"{self.phase} stopped {where} of {self.epochs}, checkpoint saved in "
                   f"{self.checkpointer.root.rstrip('/')}; rerun the same command to "
                   "resume from it")
        self.log.info(f"{self.phase}: interrupted; {message}")
        raise Interrupted(signum, message)

    def _latest_checkpoint(self) -> Tuple[Optional[str], Optional[dict]]:
        """The newest checkpoint's tag and run state (None, None without one), its
        parameters and optimizer states loaded. In a data-parallel job rank 0 reads it
        and broadcasts it with its parameters, which every rank starts from."""
        if self.comm.size == 1:
            tag = self.checkpointer.latest(warn=self.log.warning)
            if tag is None:
                return None, None
            return tag, self.checkpointer.load(tag, self.model.get_parameters(),
                                               self.optimizers())
        found = None
        if self.is_main:
            tag = self.checkpointer.latest(warn=self.log.warning)
            if tag is not None:
                state = self.checkpointer.load(tag, self.model.get_parameters(),
                                               self.optimizers())
                found = (tag, state, {name: opt.state_arrays()
                                      for name, opt in self.optimizers().items()})
        found = self.comm.bcast_object(found)
        self.comm.bcast_parameters(self.model.get_parameters())
        if found is None:
            return None, None
        tag, state, optimizer_states = found
        if not self.is_main:
            for name, opt in self.optimizers().items():
                opt.load_state_arrays(optimizer_states[name],
                                      source=f"rank 0's checkpoint {tag}")
        return tag, state

    def _resume(self) -> Tuple[int, int, Meter, Optional[dict]]:
        tag, state = self._latest_checkpoint()
        if tag is None:
            return 0, 0, Meter(), None
        for name, loader in self.loaders().items():
            loader.load_state_dict(state["loaders"][name])
        self.history = list(state["history"])
        self._load_extra_state(state.get("extra", {}))
        self.elapsed = float(state["elapsed"])
        epoch, step = int(state["epoch"]), int(state["step"])
        where = (f"all {self.epochs} epochs done" if epoch >= self.epochs else
                 f"continuing at epoch {epoch + 1} of {self.epochs}, step {step}")
        self.log.info(f"{self.phase}: resumed from checkpoint {tag} ({where})")
        return epoch, step, Meter.from_state(state["meter"]), state

    def train_epoch(self, epoch: int, start_step: int = 0, meter: Optional[Meter] = None,
                    prng_state: Optional[tuple] = None) -> Dict[str, float]:
        """Run the steps of ``epoch`` from ``start_step`` and return the epoch's metrics.

        The epoch's random numbers are seeded from the run's seed; when resuming inside
        it (``start_step`` > 0) the graph's random functions are replayed and
        ``nnabla.random.prng`` is set to ``prng_state``, so the steps continue exactly.
        """
        meter = Meter() if meter is None else meter
        seed_epoch(self.seed, self.phase, epoch)
        graphs = self.begin_epoch(epoch)
        if start_step > 0:
            replay(graphs, start_step)
        if prng_state is not None:
            nnabla.random.prng.set_state(prng_state)
        started = time.perf_counter()
        bar = self.progress(range(start_step, self.steps_per_epoch),
                            self.step_description(epoch), self.steps_per_epoch - start_step)
        for i in bar:
            step = epoch * self.steps_per_epoch + i
            values = self.train_step(epoch, step)
            check_finite(values, f"{self.phase} step {step + 1} (epoch {epoch + 1})")
            values, stop_asked = self._agree(values, requested() is not None)
            meter.update(values)
            means = meter.means()
            bar.set_postfix(loss=f"{means['loss']:.3f}", acc=f"{1 - means['error']:.3f}")
            done = i + 1
            stop = stop_asked and done < self.steps_per_epoch
            if stop or (self.checkpoint_every and done % self.checkpoint_every == 0
                        and done < self.steps_per_epoch):
                self.elapsed += time.perf_counter() - started
                started = time.perf_counter()
                self._checkpoint(epoch, done, meter)
            if stop:
                self._stop(epoch, done)
        self.elapsed += time.perf_counter() - started
        metrics = OrderedDict(meter.means())
        metrics.update(self.epoch_metrics(epoch))
        check_finite(metrics, f"{self.phase} epoch {epoch + 1}")
        return metrics

    def _agree(self, values: Mapping[str, float], stop: bool
               ) -> Tuple[Dict[str, float], bool]:
        """A step's metrics averaged over the ranks, and whether any rank was asked to
        stop (a signal may reach the ranks at different steps): one collective."""
        if self.comm.size == 1:
            return dict(values), stop
        keys = list(values)
        (means,) = self.comm.allreduce_mean([[float(values[k]) for k in keys]
                                             + [float(stop)]])
        return OrderedDict(zip(keys, (float(v) for v in means[:-1]))), means[-1] > 0

    def _report(self, epoch: int, metrics: Mapping[str, float]) -> None:
        shown = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        self.log.info(f"{self.phase} epoch {epoch + 1}/{self.epochs}  {shown}")
        for k, v in metrics.items():
            self.output.writer.add_scalar(f"{self.phase}/{k}", v, epoch + 1)
        self.output.writer.flush()

    def run(self) -> List[Dict[str, float]]:
        """Run the remaining epochs (all of them unless a checkpoint exists).

        A checkpoint is written after every epoch and, with ``checkpoint_every`` > 0,
        every that many steps; a rerun continues from the newest intact one and ends
        exactly as an uninterrupted run would.
        """
        self.model.apply(training=True)
        first, start_step, meter, state = self._resume()
        for epoch in range(first, self.epochs):
            # Inside an epoch, the generator continues from the checkpoint; at its start
            # it is seeded afresh, as in an uninterrupted run.
            restored = state["nnabla_prng"] if state is not None and start_step else None
            state = None
            metrics = self.train_epoch(epoch, start_step, meter, restored)
            started = time.perf_counter()
            for k, v in self.evaluate(self.data.valid, "valid").items():
                metrics[f"valid_{k}"] = v
            self.elapsed += time.perf_counter() - started
            self.end_epoch(epoch, metrics)
            for callback in self.callbacks:
                callback.on_epoch_end(self, epoch, metrics)
            self._report(epoch, metrics)
            self.history.append(dict(metrics))
            start_step, meter = 0, Meter()
            self._checkpoint(epoch + 1, 0, meter)
            if self._agree({}, requested() is not None)[1] and epoch + 1 < self.epochs:
                self._stop(epoch + 1, 0)
        return self.history

