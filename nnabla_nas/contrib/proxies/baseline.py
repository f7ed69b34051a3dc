"""Baselines that any proxy should beat: ``params``, the network's parameter count
(:func:`~nnabla_nas.contrib.model.parameter_count`, as ``estimate`` reports it), and
``flops``, the multiply-accumulates of one inference of one image
(:class:`~nnabla_nas.contrib.estimator.flops.FlopsEstimator`)."""
from __future__ import annotations

import nnabla as nn

from ..estimator.flops import FlopsEstimator
from ..model import Model, parameter_count
from .base import PROXIES, Batch, logits


@PROXIES.register("params")
def params(model: Model, batch: Batch) -> float:
    """The number of parameters."""
    return float(parameter_count(model.get_modules()))


@PROXIES.register("flops")
def flops(model: Model, batch: Batch) -> float:
    """Multiply-accumulates of the network on one image of the batch's shape."""
    model.apply(training=False)
    logits(model, nn.Variable.from_numpy_array(batch.inputs[:1]))
    return float(FlopsEstimator().get_estimation(model))
