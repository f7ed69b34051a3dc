"""`EpochLoop`: what searchers and trainers share: epochs, evaluation, logging,
TensorBoard, checkpoints and resume."""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Dict, Iterable, List, Mapping, Tuple

import nnabla as nn
import nnabla.random
import numpy as np
from tqdm import tqdm

from ..contrib.model import Model
from ..dataset import DataLoader, DatasetSplits, Split
from ..utils.output import RunOutput
from .checkpoint import Checkpointer
from .meter import Meter, check_finite
from .optimizer import Optimizer


class EpochLoop:
    """An epoch loop over a model, with evaluation, logging and crash-safe resume.

    Subclasses define :meth:`train_epoch` (one epoch of updates, returning its mean
    metrics) and :meth:`optimizers`; this class evaluates on the validation split after
    each epoch, logs to the console, ``log.txt`` and TensorBoard, and writes a checkpoint
    from which a rerun of the same command continues.

    The class attribute ``phase`` (``'search'`` or ``'train'``) names the checkpoint
    folder and the log and TensorBoard tags.

    Args:
        model: The network.
        data: The dataset splits.
        epochs: Number of epochs.
        batch_size: Batch size of every graph.
        output: The run's output folder.
        seed: Seeds the data order.
        quiet: No progress bars.
    """

    phase = "run"

    def __init__(self, model: Model, data: DatasetSplits, epochs: int, batch_size: int,
                 output: RunOutput, seed: int, quiet: bool = False):
        self.model = model
        self.data = data
        self.epochs = epochs
        self.batch_size = batch_size
        self.output = output
        self.seed = seed
        self.quiet = quiet
        self.log = output.logger
        self.history: List[Dict[str, float]] = []
        self.checkpointer = Checkpointer(output.path("checkpoints", self.phase, ""))
        self._eval_graphs: Dict[int, Tuple[nn.Variable, ...]] = {}
        self.elapsed = 0.0

    # ------------------------------------------------------------- for subclasses
    def optimizers(self) -> Mapping[str, Optimizer]:
        """The optimizers whose states are checkpointed, by name."""
        raise NotImplementedError

    def loaders(self) -> Mapping[str, DataLoader]:
        """The data loaders whose positions are checkpointed, by name."""
        raise NotImplementedError

    def train_epoch(self, epoch: int) -> Dict[str, float]:
        """Run one epoch of updates and return its mean metrics."""
        raise NotImplementedError

    def end_epoch(self, epoch: int, metrics: Dict[str, float]) -> None:
        """Called after each epoch's evaluation, before the checkpoint."""

    # ---------------------------------------------------------------- shared parts
    def progress(self, iterable: Iterable, desc: str, total: int):
        """A tqdm progress bar, or the bare iterable when quiet."""
        return tqdm(iterable, desc=desc, total=total, disable=self.quiet, leave=False,
                    dynamic_ncols=True)

    def placeholders(self, batch: int) -> Tuple[nn.Variable, nn.Variable]:
        """Input and label variables for a batch of ``batch`` samples."""
        return (nn.Variable((batch,) + tuple(self.data.shape)), nn.Variable((batch, 1)))

    def _eval_graph(self, batch: int):
        if batch not in self._eval_graphs:
            x, y = self.placeholders(batch)
            self.model.apply(training=False)
            try:
                out = self.model(x)
                loss = self.model.loss(out, y)
                error = self.model.metrics(out, y)["error"]
            finally:
                self.model.apply(training=True)
            self._eval_graphs[batch] = (x, y, loss, error)
        return self._eval_graphs[batch]

    def evaluate(self, split: Split, name: str) -> Dict[str, float]:
        """Mean loss and error of the model in inference mode over ``split``."""
        loader = DataLoader(split, self.batch_size, shuffle=False, seed=0, prefetch=0)
        meter = Meter()
        for xb, yb in self.progress(loader, f"{self.phase} {name}", len(loader)):
            x, y, loss, error = self._eval_graph(len(xb))
            x.d, y.d = xb, yb
            nn.forward_all([loss, error], clear_no_need_grad=True)
            meter.update({"loss": float(loss.d), "error": float(error.d)}, len(xb))
        means = meter.means()
        check_finite(means, f"{self.phase} evaluation on {name}")
        return means

    def _state(self, epoch: int) -> dict:
        return {
            "epoch": epoch,
            "history": self.history,
            "elapsed": self.elapsed,
            "loaders": {k: v.state_dict() for k, v in self.loaders().items()},
            "nnabla_prng": nnabla.random.prng.get_state(),
        }

    def _resume(self) -> int:
        tag = self.checkpointer.latest(warn=self.log.warning)
        if tag is None:
            return 0
        state = self.checkpointer.load(tag, self.model.get_parameters(), self.optimizers())
        for name, loader in self.loaders().items():
            loader.load_state_dict(state["loaders"][name])
        nnabla.random.prng.set_state(state["nnabla_prng"])
        self.history = list(state["history"])
        self.elapsed = float(state["elapsed"])
        self.log.info(f"{self.phase}: resumed from checkpoint {tag} "
                      f"(epoch {state['epoch'] + 1} of {self.epochs} done)")
        return int(state["epoch"]) + 1

    def _report(self, epoch: int, metrics: Mapping[str, float]) -> None:
        shown = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        self.log.info(f"{self.phase} epoch {epoch + 1}/{self.epochs}  {shown}")
        for k, v in metrics.items():
            self.output.writer.add_scalar(f"{self.phase}/{k}", v, epoch + 1)
        self.output.writer.flush()

    def run(self) -> List[Dict[str, float]]:
        """Run the remaining epochs (all of them unless a checkpoint exists)."""
        self.model.apply(training=True)
        for epoch in range(self._resume(), self.epochs):
            start = time.perf_counter()
            metrics = OrderedDict(self.train_epoch(epoch))
            check_finite(metrics, f"{self.phase} epoch {epoch + 1}")
            for k, v in self.evaluate(self.data.valid, "valid").items():
                metrics[f"valid_{k}"] = v
            self.elapsed += time.perf_counter() - start
            self.end_epoch(epoch, metrics)
            self._report(epoch, metrics)
            self.history.append(dict(metrics))
            self.checkpointer.save(f"epoch-{epoch + 1:05d}", self.model.get_parameters(),
                                   self.optimizers(), self._state(epoch))
        return self.history


def parameter_count(params: Mapping[str, nn.Variable]) -> int:
    """Total number of values in ``params``."""
    return int(sum(np.prod(p.shape) for p in params.values()))
