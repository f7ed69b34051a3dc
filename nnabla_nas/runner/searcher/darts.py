"""`DartsSearcher`: Liu et al., 2019, "DARTS: Differentiable Architecture Search".

Weights are trained on the training split; the architecture parameters alpha descend
the validation loss, either directly (first order) or through one virtual weight step
(second order, the paper's eq. 7 with the finite-difference Hessian-vector product of
eq. 8).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict

import nnabla as nn
import numpy as np

from ...config.fields import option
from ..meter import check_finite
from . import SEARCHERS
from .search import Searcher


@SEARCHERS.register("darts")
class DartsSearcher(Searcher):
    """Differentiable architecture search over MixedOps in ``'full'`` mode."""

    @dataclass(frozen=True)
    class Config:
        """Options of the DARTS searcher."""

        order: int = option(1, "1: first-order approximation; 2: the unrolled step with "
                               "a finite-difference Hessian-vector product",
                            choices=(1, 2))
        hessian_eps: float = option(0.01, "finite-difference step of the second-order "
                                          "update, divided by the gradient norm",
                                    minimum=0, exclusive_minimum=True)

    def build(self) -> None:
        model = self.model
        model.apply(training=True)
        if hasattr(model, "set_mode"):
            model.set_mode("full")
        out = model(self.x_train)
        self.train_loss = model.loss(out, self.y_train)
        self.train_error = model.metrics(out, self.y_train)["error"]
        out = model(self.x_valid)
        self.valid_loss = model.loss(out, self.y_valid)
        self.valid_error = model.metrics(out, self.y_valid)["error"]
        # Hardware costs under softmax(alpha) (they do not depend on the weights).
        self.arch_objective = self.regularizers.objective(self.valid_loss)
        for v in [self.train_loss, self.train_error, self.valid_loss, self.valid_error]:
            v.persistent = True  # read after clear_no_need_grad forwards
        self.net_params = model.get_net_parameters(grad_only=True)
        self.arch_params = model.get_arch_parameters(grad_only=True)

    @staticmethod
    def _forward_backward(loss: nn.Variable, error: nn.Variable) -> None:
        nn.forward_all([loss, error], clear_no_need_grad=True)
        loss.backward(clear_buffer=True)

    def train_on_batch(self, step: int) -> Dict[str, float]:
        self.net_optimizer.zero_grad()
        self._forward_backward(self.train_loss, self.train_error)
        values = OrderedDict(loss=float(self.train_loss.d), error=float(self.train_error.d))
        check_finite(values, f"search step {step + 1}, weight step")  # before updating
        values["lr"] = self.net_optimizer.update(step)
        return values

    def valid_on_batch(self, step: int) -> Dict[str, float]:
        """One architecture update. The ``loss`` and ``error`` it reports are those of
        the objective it descended: at the current weights (first order) or at the
        virtual weights after one training step (second order)."""
        if self.options.order == 2:
            self._unrolled_gradient(step)
        else:
            self.arch_optimizer.zero_grad()
            nn.forward_all([self.arch_objective, self.valid_error], clear_no_need_grad=True)
            self.arch_objective.backward(clear_buffer=True)
        values = OrderedDict(loss=float(self.valid_loss.d), error=float(self.valid_error.d))
        if self.regularizers:
            if self.options.order == 2:  # from the unrolled loss's gradient to the objective's
                self.regularizers.add_gradient(values["loss"], self.arch_params)
            values.update(self.regularizers.values())
        check_finite(values, f"search step {step + 1}, architecture step")
        self.arch_optimizer.update(step)
        return values

    # ----------------------------------------------------------------- second order
    def _set(self, params, values) -> None:
        for p, v in zip(params.values(), values):
            p.d = v

    def _grads(self, params):
        return [p.g.copy() for p in params.values()]

    def _zero_all(self) -> None:
        self.net_optimizer.zero_grad()
        self.arch_optimizer.zero_grad()

    def _unrolled_gradient(self, step: int) -> None:
        """Leave in alpha.g the gradient of L_val(w', alpha), w' = w - xi dL_train/dw.

        The virtual step is the weight optimizer's next update (momentum buffer,
        learning rate and weight decay, as in the paper's code); its second-order term
        ``xi * d2L_train/(dalpha dw) . dL_val/dw'`` is the central difference of
        dL_train/dalpha at ``w +- eps dL_val/dw'``.

        In a data-parallel job the two weight gradients are averaged over the ranks
        (the virtual step and the difference are those of the global batch); alpha's
        gradient, linear in what each rank computes then, is averaged by the
        architecture optimizer's update.
        """
        net, arch = self.net_params, self.arch_params
        xi = self.net_optimizer.learning_rate(step)
        w = [p.d.copy() for p in net.values()]
        try:
            self._zero_all()
            self._forward_backward(self.train_loss, self.train_error)
            self.net_optimizer.average_grads()
            self._set(net, self.net_optimizer.next_weights(step).values())

            self._zero_all()
            self._forward_backward(self.valid_loss, self.valid_error)
            self.net_optimizer.average_grads()
            d_alpha = self._grads(arch)
            d_w = self._grads(net)
            norm = math.sqrt(sum(float(np.sum(g * g)) for g in d_w))
            eps = self.options.hessian_eps / max(norm, 1e-12)

            grads = []
            for sign in (1.0, -1.0):
                self._set(net, [wi + sign * eps * g for wi, g in zip(w, d_w)])
                self._zero_all()
                self._forward_backward(self.train_loss, self.train_error)
                grads.append(self._grads(arch))
        finally:
            self._set(net, w)
        for p, da, gp, gn in zip(arch.values(), d_alpha, grads[0], grads[1]):
            p.g = da - xi * (gp - gn) / (2.0 * eps)
