"""The gradient proxies, as Abdelfattah et al. (2021, "Zero-Cost Proxies for
Lightweight NAS", ICLR) compute them on one batch with the network in training mode
and the cross-entropy loss ``L``, over the weights of the convolutions and linear
layers (:func:`~.base.weight_tensors`):

* ``grad_norm``: the sum over weight tensors of the Euclidean norm of ``dL/dW``;
* ``snip`` (Lee et al., 2019): the sum of ``|W * dL/dW|``, the loss' sensitivity to
  removing each weight;
* ``jacov`` (Mellor et al., 2021, first version): how uncorrelated the input
  Jacobians ``J_i = d(sum of outputs)/dx_i`` of the batch are: with ``v`` the
  eigenvalues of their correlation matrix and ``k = 1e-5``, ``-sum(log(v + k) +
  1 / (v + k))``.
"""
from __future__ import annotations

import numpy as np

from ..model import Model
from .base import PROXIES, Batch, backward_from, cross_entropy, logits, weight_tensors


def _loss_gradients(model: Model, batch: Batch):
    model.apply(training=True, need_grad=True)
    loss, _ = cross_entropy(model, batch)
    weights = weight_tensors(model)
    for w in weights:
        w.need_grad = True
    backward_from(model, loss)
    return weights


@PROXIES.register("grad_norm")
def grad_norm(model: Model, batch: Batch) -> float:
    """Sum of the norms of the loss gradients of the weight tensors."""
    return float(sum(np.linalg.norm(w.g.astype(np.float64))
                     for w in _loss_gradients(model, batch)))


@PROXIES.register("snip")
def snip(model: Model, batch: Batch) -> float:
    """Sum of ``|W * dL/dW|`` over the weights."""
    return float(sum(np.abs(w.d.astype(np.float64) * w.g).sum()
                     for w in _loss_gradients(model, batch)))


def jacobian_score(jacobians: np.ndarray, k: float = 1e-5) -> float:
    """``-sum(log(v + k) + 1 / (v + k))`` over the eigenvalues ``v`` of the correlation
    matrix of the rows of ``jacobians`` (one flattened Jacobian per input)."""
    corr = np.corrcoef(jacobians.astype(np.float64))
    v = np.linalg.eigvalsh(np.nan_to_num(corr))
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


@PROXIES.register("jacov")
def jacov(model: Model, batch: Batch) -> float:
    """The correlation score of the input Jacobians (higher: less correlated)."""
    model.apply(training=True)
    x, _ = batch.variables(need_grad=True)
    y = logits(model, x)
    x.g = 0
    y.forward()
    y.backward(np.ones(y.shape, dtype=np.float32), clear_buffer=True)
    return jacobian_score(x.g.reshape(len(batch.inputs), -1))
