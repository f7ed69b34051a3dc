"""`ProxylessNasSearcher`: Cai et al., 2019, "ProxylessNAS: Direct Neural Architecture
Search on Target Task and Hardware", https://arxiv.org/abs/1812.00332.

Every step trains one path: the weight step draws one candidate per MixedOp from
softmax(alpha) and trains only that child network on the training split, so memory is
that of one network. The architecture step, on the validation split, estimates the
gradient of alpha in one of two ways:

* ``gradient`` (the paper's section 3.2.1): two candidates per MixedOp are drawn, the
  first runs, and binary gates give alpha the gradient
  ``sum_i <dL/dy, y_i> dq_i/dalpha`` over both, with ``q`` the softmax of the two
  alphas (:meth:`~nnabla_nas.module.MixedOp.select`). After the update the two alphas
  are shifted together so that the other candidates' probabilities are unchanged, as
  in the paper's code.
* ``reinforce`` (section 3.2.2): one path is drawn and scored by its validation
  accuracy, divided by the multiplicative hardware factors and minus the additive
  penalties (:meth:`~nnabla_nas.runner.regularizer.Regularizers.reward`); alpha
  ascends ``(reward - baseline) * dlog p(path)/dalpha`` with a moving-average baseline.

Hard bounds are on the network the run delivers (see :class:`.search.Searcher`).
Sampled paths over budget are rejected (both steps redraw, see
:meth:`ProxylessNasSearcher.sample`) by the supernet's per-candidate costs, rescaled to
the delivered network's figure at the architecture derived so far; the architecture
returned is derived within the bounds on the delivered network itself.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import nnabla as nn
import numpy as np

from ...config.fields import option
from ...contrib.spaces import labelled_ops
from ...module import MixedOp
from ..meter import check_finite
from . import SEARCHERS
from .search import Searcher

Path = List[Tuple[int, ...]]


@SEARCHERS.register("proxylessnas")
class ProxylessNasSearcher(Searcher):
    """One sampled path per step; binary-gate or REINFORCE architecture gradients."""

    @dataclass(frozen=True)
    class Config:
        """Options of the ProxylessNAS searcher."""

        estimator: str = option("gradient", "architecture gradient: gradient (binary "
                                            "gates over two sampled paths) or reinforce "
                                            "(REINFORCE with a moving-average baseline)",
                                choices=("gradient", "reinforce"))
        baseline_decay: float = option(0.9, "reinforce: decay of the reward's moving "
                                            "average", minimum=0, maximum=1,
                                       exclusive_maximum=True)
        max_draws: int = option(100, "hard bounds: draws of a path before the step uses "
                                     "the best architecture within budget instead",
                                minimum=1)

    def build(self) -> None:
        model = self.model
        seen, self.mixed = set(), []
        for _, m in model.get_modules():
            if isinstance(m, MixedOp) and id(m) not in seen:
                seen.add(id(m))
                self.mixed.append(m)
                m.mode = "sample"
        if not self.mixed:
            raise ValueError("proxylessnas searcher: the search space has no MixedOp")
        self.labels = {id(m): label for label, ops in labelled_ops(model).items()
                       for m in ops}
        self.arch_params = model.get_arch_parameters(grad_only=True)
        self.weights = list(model.get_net_parameters().values())
        self.baseline: Optional[float] = None
        self.rejected = 0

    # ------------------------------------------------------------------ paths
    def sample(self, count: int) -> Path:
        """Draw ``count`` distinct candidates per MixedOp (the first one runs), redrawing
        paths over a hard bound; after ``max_draws`` rejections, the best
        architecture within budget runs (its second candidates still drawn).

        In a data-parallel job rank 0 draws and broadcasts the path (and its count of
        rejections), so that every rank trains the same path; the best architecture
        within budget is derived by every rank (the same on each)."""
        counts = [min(count, len(m.ops)) for m in self.mixed]
        path = self._draw(counts) if self.is_main else None
        if self.comm.size > 1:
            path, self.rejected = self.comm.bcast_object((path, self.rejected))
        if path is not None:
            return path
        best = self._best_within_budget()
        orders = [m.draw(len(m.ops)) for m in self.mixed] if self.is_main else None
        if self.comm.size > 1:
            orders = self.comm.bcast_object(orders)
        path = []
        for m, c, order in zip(self.mixed, counts, orders):
            k = m.names.index(best.choices[self.labels[id(m)]])
            others = [i for i in order if i != k][:c - 1]
            path.append((k, *others))
        return path

    def _draw(self, counts: List[int]) -> Optional[Path]:
        """A path of ``counts[i]`` candidates of MixedOp ``i`` within the hard bounds,
        or None after ``max_draws`` rejections."""
        for _ in range(self.options.max_draws):
            path = [m.draw(c) for m, c in zip(self.mixed, counts)]
            if not self.regularizers.bounds or self.regularizers.within_bounds(
                    self.regularizers.path_costs(self._choices(path))):
                return path
            self.rejected += 1
        return None

    def _best_within_budget(self):
        """The architecture derivation gives within the hard bounds (on the delivered
        network, see :meth:`Searcher.derive`)."""
        return self.derive()

    def _choices(self, path: Path) -> Dict[int, int]:
        return {id(m): p[0] for m, p in zip(self.mixed, path)}

    def _graph(self, x: nn.Variable, y: nn.Variable, path: Path, gates: bool):
        """The loss and error of ``path``; with ``gates`` alpha gets its gradient."""
        for m, p in zip(self.mixed, path):
            m.select(p)
        for p in self.arch_params.values():
            p.need_grad = gates
        try:
            out = self.model(x)
        finally:
            for m in self.mixed:
                m.select(None)
            for p in self.arch_params.values():
                p.need_grad = True
        loss = self.model.loss(out, y)
        error = self.model.metrics(out, y)["error"]
        loss.persistent = error.persistent = True
        return loss, error

    # ------------------------------------------------------------------ steps
    def train_on_batch(self, step: int) -> Dict[str, float]:
        loss, error = self._graph(self.x_train, self.y_train, self.sample(1), gates=False)
        self.net_optimizer.zero_grad()
        nn.forward_all([loss, error], clear_no_need_grad=True)
        loss.backward(clear_buffer=True)
        values = OrderedDict(loss=float(loss.d), error=float(error.d))
        check_finite(values, f"search step {step + 1}, weight step")
        values["lr"] = self.net_optimizer.update(step)
        return values

    def valid_on_batch(self, step: int) -> Dict[str, float]:
        if self.options.estimator == "reinforce":
            values = self._reinforce(step)
        else:
            values = self._binary_gates(step)
        if self.regularizers:
            values.update(self.regularizers.values())
        return values

    def _binary_gates(self, step: int) -> Dict[str, float]:
        path = self.sample(2)
        loss, error = self._graph(self.x_valid, self.y_valid, path, gates=True)
        objective = self.regularizers.objective(loss)
        self.arch_optimizer.zero_grad()
        # Only alpha is updated: without weight gradients, backward needs fewer of the
        # forward's buffers (clear_no_need_grad frees them) and less time.
        weights = [(p, p.need_grad) for p in self.weights]
        for p, _ in weights:
            p.need_grad = False
        try:
            nn.forward_all([objective, error], clear_no_need_grad=True)
            objective.backward(clear_buffer=True)
        finally:
            for p, flag in weights:
                p.need_grad = flag
        values = OrderedDict(loss=float(loss.d), error=float(error.d))
        check_finite(values, f"search step {step + 1}, architecture step")
        before = [m.alpha.d.copy() for m in self.mixed]
        self.arch_optimizer.update(step)
        for m, old, pair in zip(self.mixed, before, path):
            rescale_pair(m, old, pair)
        return values

    def _reinforce(self, step: int) -> Dict[str, float]:
        path = self.sample(1)
        loss, error = self._graph(self.x_valid, self.y_valid, path, gates=False)
        nn.forward_all([loss, error], clear_buffer=True)
        values = OrderedDict(loss=float(loss.d), error=float(error.d))
        check_finite(values, f"search step {step + 1}, architecture step")
        if self.comm.size > 1:  # the accuracy, so the reward, of the global batch
            (means,) = self.comm.allreduce_mean([[values["loss"], values["error"]]])
            values = OrderedDict(loss=float(means[0]), error=float(means[1]))
        costs = self.regularizers.path_costs(self._choices(path))
        reward = self.regularizers.reward(1.0 - values["error"], costs)
        baseline = reward if self.baseline is None else self.baseline
        advantage = reward - baseline
        decay = self.options.baseline_decay
        self.baseline = decay * baseline + (1 - decay) * reward
        # Ascend advantage * log p(path): alpha.g = -advantage * (onehot - p).
        self.arch_optimizer.zero_grad()
        grads: Dict[int, np.ndarray] = {}
        for m, p in zip(self.mixed, path):
            g = -advantage * (np.eye(len(m.ops))[p[0]] - m.probabilities())
            grads[id(m.alpha)] = grads.get(id(m.alpha), 0.0) + g.reshape(m.alpha.shape)
        for m in self.mixed:
            if id(m.alpha) in grads:
                m.alpha.g = grads.pop(id(m.alpha))
        self.arch_optimizer.update(step)
        values.update(reward=reward, baseline=self.baseline)
        return values

    # ---------------------------------------------------------- evaluation, state
    def evaluate(self, split, name: str) -> Dict[str, float]:
        """Validation of the architecture derived so far (within the hard bounds)."""
        arch = self._best_within_budget()
        self.reset_eval_graphs()  # the path changes from epoch to epoch
        try:
            with self.space.fixed(self.model, arch):
                return super().evaluate(split, name)
        finally:
            self.reset_eval_graphs()

    def extra_state(self) -> dict:
        return {"baseline": self.baseline, "rejected": self.rejected}

    def load_extra_state(self, state: dict) -> None:
        self.baseline = state.get("baseline")
        self.rejected = int(state.get("rejected", 0))

    def epoch_metrics(self, epoch: int) -> Dict[str, float]:
        metrics = super().epoch_metrics(epoch)
        if self.regularizers.bounds:
            metrics["rejected_paths"] = float(self.rejected)
        return metrics


def rescale_pair(mixed: MixedOp, before: np.ndarray, pair: Sequence[int]) -> None:
    """Shift the updated alphas of ``pair`` by one constant so that their summed
    ``exp`` is what it was ``before`` the update: the candidates outside the pair keep
    their probabilities (the update only moves mass within the pair)."""
    if len(pair) < 2:
        return
    flat = np.array(mixed.alpha.d, dtype=np.float64).ravel()
    old = np.asarray(before, dtype=np.float64).ravel()
    idx = list(pair)
    offset = np.logaddexp.reduce(flat[idx]) - np.logaddexp.reduce(old[idx])
    flat[idx] -= offset
    mixed.alpha.d = flat.reshape(mixed.alpha.shape)
