"""`Optimizer`: an NNabla solver with schedule, weight decay and global-norm clipping."""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Mapping

import nnabla as nn
import nnabla.solvers as S
import numpy as np


def cosine_lr(lr: float, lr_min: float, step: int, total_steps: int) -> float:
    """Cosine annealing from ``lr`` at step 0 to ``lr_min`` at ``total_steps``."""
    progress = min(max(step / max(total_steps, 1), 0.0), 1.0)
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * progress))


class Optimizer:
    """Updates a set of parameters from their gradients.

    Args:
        config: An :class:`~nnabla_nas.runner.schema.OptimizerConfig`.
        params: The parameters, by name.
        total_steps: Steps of the whole run (for the schedule).
        comm: The communicator of a data-parallel job: :meth:`update` first replaces
            each gradient by its mean over the ranks (:meth:`average_grads`). None:
            one process.
    """

    def __init__(self, config, params: Mapping[str, nn.Variable], total_steps: int,
                 comm: Any = None):
        self.config = config
        self.params = OrderedDict(params)
        self.total_steps = int(total_steps)
        self.comm = comm
        if config.name == "sgd":
            self.solver = S.Momentum(config.lr, config.momentum)
        else:
            self.solver = S.Adam(config.lr, config.betas[0], config.betas[1])
        self.solver.set_parameters(self.params, reset=False, retain_state=True)

    def learning_rate(self, step: int) -> float:
        """The learning rate at global ``step``."""
        c = self.config
        if c.schedule == "cosine":
            return cosine_lr(c.lr, c.lr_min, step, self.total_steps)
        return c.lr

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero."""
        self.solver.zero_grad()

    def grad_norm(self) -> float:
        """The global L2 norm of the gradients.

        Gradients still zeroed by :meth:`zero_grad` (no backward reached them) count as
        zero without being read: reading would materialize them, and NNabla's solvers
        skip exactly the parameters whose gradient is still lazily zeroed.
        """
        return float(math.sqrt(sum(float(np.sum(np.square(p.g)))
                                   for p in self.params.values() if not p.grad.zeroing)))

    def average_grads(self) -> None:
        """In a data-parallel job, replace the gradient of every parameter a backward
        reached by its mean over the ranks (the gradient of the global batch, each
        rank having the mean over its equal part). The ranks run the same paths, so
        they reach the same parameters; gradients still zeroed are left so."""
        if self.comm is not None and self.comm.size > 1:
            self.comm.allreduce_mean_grads([p for p in self.params.values()
                                            if not p.grad.zeroing])

    def update(self, step: int) -> float:
        """Average the gradients over the ranks (:meth:`average_grads`), then clip,
        decay and apply them; returns the learning rate used.

        Parameters that no backward reached since :meth:`zero_grad` (the candidates a
        sampling searcher did not run) are left as they are: no momentum, no weight
        decay, and their solver state does not advance.
        """
        self.average_grads()
        c = self.config
        if c.grad_clip > 0:
            norm = self.grad_norm()
            if norm > c.grad_clip:
                self.solver.scale_grad(c.grad_clip / (norm + 1e-6))
        if c.weight_decay > 0:
            self.solver.weight_decay(c.weight_decay)
        lr = self.learning_rate(step)
        self.solver.set_learning_rate(lr)
        self.solver.update()
        return lr

    def next_weights(self, step: int) -> "OrderedDict[str, np.ndarray]":
        """The parameter values the next update would give from the current gradients,
        without applying it (no clipping): for sgd ``w - (momentum * m + lr * (g + wd w))``
        with NNabla's momentum buffer ``m``, as DARTS' unrolled step; for adam a plain
        gradient step ``w - lr * (g + wd w)``."""
        lr, decay = self.learning_rate(step), self.config.weight_decay
        states = self.solver.get_states() if self.config.name == "sgd" else {}
        out = OrderedDict()
        for name, p in self.params.items():
            w = np.array(p.d)
            delta = lr * (np.array(p.g) + decay * w)
            if name in states and "m" in states[name].pstate:
                delta = delta + self.config.momentum * np.array(states[name].pstate["m"].d)
            out[name] = w - delta
        return out

    def save_states(self, path: str) -> None:
        """Write the solver's state (momentum buffers, Adam moments) to ``path`` (.h5)."""
        self.solver.save_states(path)

    def load_states(self, path: str) -> None:
        """Restore the solver's state written by :meth:`save_states`."""
        self.solver.load_states(path)

    def _buffers(self, states) -> "OrderedDict[str, nn.Variable]":
        """The solver's state buffers by their names in :meth:`state_arrays`."""
        return OrderedDict((f"{name}/{key}", buffer) for name, state in states.items()
                           for key, buffer in state.pstate.items())

    def state_arrays(self) -> "OrderedDict[str, np.ndarray]":
        """The solver's state as named arrays: ``<param>/<buffer>`` for each buffer
        (momentum, Adam's moments) and ``<param>#t`` for each update count."""
        states = self.solver.get_states()
        out = OrderedDict((k, np.array(b.d)) for k, b in self._buffers(states).items())
        out.update((f"{name}#t", np.array(state.t, dtype=np.int64))
                   for name, state in states.items())
        return out

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray],
                          source: str = "the given arrays") -> None:
        """Restore the state :meth:`state_arrays` returned, all or nothing.

        Raises:
            KeyError: naming ``source`` and the missing or unexpected names.
        """
        states = self.solver.get_states()
        buffers = self._buffers(states)
        wanted = list(buffers) + [f"{name}#t" for name in states]
        missing = [k for k in wanted if k not in arrays]
        unexpected = sorted(set(arrays) - set(wanted))
        mismatched = [f"{k}: {arrays[k].shape} in source, {b.shape} here"
                      for k, b in buffers.items()
                      if k in arrays and arrays[k].shape != b.shape]
        if missing or unexpected or mismatched:
            raise KeyError(f"{source}: optimizer state does not fit: missing "
                           f"{missing[:5]}, unexpected {unexpected[:5]}, other shapes "
                           f"{mismatched[:5]}")
        for key, buffer in buffers.items():
            buffer.d = arrays[key]
        for name, state in states.items():
            state.t = int(arrays[f"{name}#t"])
        self.solver.set_states(states)
