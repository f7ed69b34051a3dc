"""Per-epoch output of a loop, as callbacks: the loop computes, callbacks write.

A :class:`Callback` is called by :class:`~nnabla_nas.runner.loop.EpochLoop` after each
epoch's evaluation, before the checkpoint, on every rank of a data-parallel job (what
it computes must be the same on each; only rank 0, ``loop.is_main``, writes files);
what it must remember across a resume it returns from :meth:`Callback.state_dict`,
which the checkpoint stores under :attr:`Callback.name`. The searchers' default output is :func:`search_callbacks`:
TensorBoard scalars of every alpha, the architecture found so far (``arch.json``, its
log line and pictures), and the alpha history (``alpha_history.json`` and its plot).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

from ..utils.output import RunOutput
from ..visual.alphas import AlphaHistory, softmax_rows
from ..visual.images import add_image
from .deliver import Pictures


class Callback:
    """Something a loop does after each epoch."""

    #: The key of the callback's state in checkpoints ('' for none).
    name: str = ""

    def on_epoch_end(self, loop: Any, epoch: int, metrics: Dict[str, float]) -> None:
        """Called after ``epoch`` (0-based) was trained and evaluated."""

    def state_dict(self) -> Dict[str, Any]:
        """What a resume needs (JSON-serializable)."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class AlphaScalars(Callback):
    """TensorBoard scalars ``alpha/<name>[/<row>]/<candidate>``: the softmax of every
    architecture parameter."""

    def on_epoch_end(self, loop, epoch, metrics):
        writer = loop.output.writer
        for name, p in loop.model.get_arch_parameters().items():
            rows = softmax_rows(p.d)
            for row, probs in enumerate(rows):
                for i, value in enumerate(probs):
                    tag = f"alpha/{name}" + (f"/{row}" if len(rows) > 1 else "") + f"/{i}"
                    writer.add_scalar(tag, value, epoch + 1)


class ArchitectureOutput(Callback):
    """The architecture the search has found so far (``loop.derive()``): written to
    ``arch.json``, logged with its estimated costs, and drawn (pictures and
    TensorBoard images)."""

    def __init__(self, space: type, output: RunOutput):
        self.space = space
        self.pictures = Pictures(space, output)

    def on_epoch_end(self, loop, epoch, metrics):
        arch = loop.derive()  # on every rank: it may price networks together
        if not loop.is_main:
            return
        self.space.save_arch(arch, loop.output.path("arch.json"))
        costs = "".join(f", estimated {k} {v:.4g}" for k, v in loop.derived_costs.items())
        loop.log.info(f"search epoch {epoch + 1}: architecture "
                      f"{self.space.describe(arch)}{costs}")
        for path in self.pictures.draw(arch):
            if path.endswith(".png"):
                name = os.path.splitext(os.path.basename(path))[0]
                add_image(loop.output.writer, f"architecture/{name}", path, epoch + 1)


class AlphaHistoryOutput(Callback):
    """How every alpha's softmax moved: ``alpha_history.json`` and
    ``pictures/alphas.png`` (also a TensorBoard image), epoch by epoch."""

    name = "alpha_history"

    def __init__(self, space: type):
        self.space = space
        self.history = AlphaHistory()

    def on_epoch_end(self, loop, epoch, metrics):
        alphas = loop.model.get_arch_parameters()
        if not alphas:
            return
        self.history.record(epoch, alphas)
        if not loop.is_main:
            return
        self.history.save(loop.output.path("alpha_history.json"))
        png = self.history.plot(loop.output.path("pictures", "alphas.png"),
                                self.space.candidate_names(loop.model))
        add_image(loop.output.writer, "alphas", png, epoch + 1)

    def state_dict(self):
        return self.history.to_dict()

    def load_state_dict(self, state):
        self.history = AlphaHistory.from_dict(state)


def search_callbacks(space: type, output: RunOutput) -> List[Callback]:
    """A search's per-epoch output (see the module docstring)."""
    return [AlphaScalars(), ArchitectureOutput(space, output), AlphaHistoryOutput(space)]
