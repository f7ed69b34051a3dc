"""`Trainer`: trains a fixed architecture and evaluates it on the test split."""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Mapping, Sequence

import nnabla as nn

from ...dataset import DataLoader
from ..callbacks import Callback
from ..loop import EpochLoop
from ..meter import check_finite
from ..optimizer import Optimizer
from ..run import Run


class Trainer(EpochLoop):
    """Trains every weight of ``model`` on the training split with one optimizer,
    validates after each epoch and finally measures the test split.

    A model with a ``drop_path_prob`` attribute has it ramped up linearly from 0 to its
    configured value over the epochs, as in DARTS' retraining.

    Args:
        run: The network to train, the data, the ``train`` config section, the output
            folder and the seed.
        callbacks: Per-epoch output (none by default).
    """

    phase = "train"

    def __init__(self, run: Run, callbacks: Sequence[Callback] = ()):
        config = run.config
        super().__init__(run, config.epochs, config.batch_size, callbacks)
        data, seed, model = run.data, run.seed, run.model
        self.config = config
        self.train_loader = self.loader(data.train, shuffle=True, seed=seed,
                                        augment=data.augment)
        self.steps_per_epoch = len(self.train_loader)
        self.optimizer = Optimizer(config.optimizer, model.get_parameters(grad_only=True),
                                   self.steps_per_epoch * config.epochs, run.comm)
        self.max_drop_path = float(getattr(model, "drop_path_prob", 0.0) or 0.0)

    def optimizers(self) -> Mapping[str, Optimizer]:
        return OrderedDict(net=self.optimizer)

    def loaders(self) -> Mapping[str, DataLoader]:
        return OrderedDict(train=self.train_loader)

    def begin_epoch(self, epoch: int) -> List[nn.Variable]:
        # Built per epoch: the drop-path rate is fixed when a graph is built.
        if self.max_drop_path > 0:
            self.model.drop_path_prob = self.max_drop_path * epoch / self.epochs
        self.x, self.y = self.placeholders(self.local_batch)
        self.model.apply(training=True)
        out = self.model(self.x)
        self.loss = self.model.loss(out, self.y)
        self.error = self.model.metrics(out, self.y)["error"]
        return [self.loss, self.error]

    def train_step(self, epoch: int, step: int) -> Dict[str, float]:
        self.x.d, self.y.d = self.train_loader.next_batch()
        self.optimizer.zero_grad()
        nn.forward_all([self.loss, self.error], clear_no_need_grad=True)
        self.loss.backward(clear_buffer=True)
        values = OrderedDict(loss=float(self.loss.d), error=float(self.error.d))
        check_finite(values, f"train step {step + 1} (epoch {epoch + 1})")
        self.optimizer.update(step)
        return values

    def epoch_metrics(self, epoch: int) -> Dict[str, float]:
        metrics = {"lr": self.optimizer.learning_rate((epoch + 1) * self.steps_per_epoch - 1)}
        if self.max_drop_path > 0:
            metrics["drop_path_prob"] = self.model.drop_path_prob
        return metrics

    def train(self) -> Dict[str, float]:
        """Train (resuming from a checkpoint if one exists), save ``weights.h5`` and
        return the test metrics."""
        self.run()
        if self.is_main:
            self.model.save_parameters(self.output.path("weights.h5"))
        test = self.evaluate(self.data.test, "test")
        self.log.info(f"train: test loss {test['loss']:.4f}, test accuracy "
                      f"{1 - test['error']:.4f}")
        return test
