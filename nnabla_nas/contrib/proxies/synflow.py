"""``synflow``: the synaptic flow of Tanaka et al. (2020, "Pruning neural networks
without any data by iteratively conserving synaptic flow", NeurIPS), as Abdelfattah et
al. (2021) score architectures with it.

Every parameter is replaced by its absolute value, the input is all ones (one image),
``R`` is the sum of the outputs, and the score is ``S = sum over weight tensors of
sum(W * dR/dW)`` (:func:`~.base.weight_tensors`). Batch normalizations run in inference
mode with their running statistics (mean 0 and variance 1 at initialisation: a
positive scaling that keeps the signal's size, as removing them, Abdelfattah et al.'s
choice, would); with batch statistics a single all-ones image would be normalized to
zero.

Deep networks multiply the signal by the gain of every layer: ``R`` of a 40-layer
chain easily exceeds float32's 3.4e38. With non-negative weights and zero biases (any
network at initialisation here) the network is linear in its input and ``R`` in the
backward seed, so the score is computed on an input scaled by ``a`` and a seed of
``b``, chosen from a first forward pass so that activations and gradients stay near 1
in the logarithm, and ``S = S' / (a b)`` is formed in float64 logarithms. The score is
exact for gains up to about 1e70 and is returned as a float64 (0 when no signal
reaches the output).
"""
from __future__ import annotations

import math

import nnabla as nn
import numpy as np

from ... import module as Mo
from ..model import Model
from .base import PROXIES, Batch, logits, weight_tensors

#: Input scales tried for the first pass, as powers of ten.
_PROBES = (0, -25, -37)
#: The largest gain (log10) float32 can hold centred: 1e-38 .. 3.4e38.
MAX_LOG_GAIN = 74.0


def _output_sum(model: Model, shape, scale: float):
    x = nn.Variable.from_numpy_array(np.full((1,) + tuple(shape), scale, np.float32))
    y = logits(model, x)
    y.forward()
    return y, float(np.sum(y.d, dtype=np.float64))


@PROXIES.register("synflow")
def synflow(model: Model, batch: Batch) -> float:
    """``sum(W * dR/dW)`` of the network with absolute weights on an all-ones input."""
    model.apply(training=False, need_grad=True)
    stats = {id(v) for _, m in model.get_modules()
             if isinstance(m, Mo.BatchNormalization) for v in (m.mean, m.var)}
    for p in model.get_net_parameters().values():
        if id(p) not in stats:
            p.d = np.abs(p.d)
    shape = batch.inputs.shape[1:]
    for exponent in _PROBES:
        _, total = _output_sum(model, shape, 10.0 ** exponent)
        if math.isfinite(total):
            break
    else:
        raise ValueError(f"synflow: the output overflows even on inputs of "
                         f"1e{_PROBES[-1]}")
    if total <= 0:
        return 0.0
    gain = math.log10(total) - exponent  # log10 of R on an all-ones input
    if gain > MAX_LOG_GAIN:
        raise ValueError(f"synflow: the network's gain 1e{gain:.0f} exceeds what float32 "
                         f"can carry (1e{MAX_LOG_GAIN:.0f})")
    a = b = 10.0 ** (-gain / 2)
    weights = weight_tensors(model)
    for w in weights:
        w.need_grad = True
    y, _ = _output_sum(model, shape, a)
    for p in model.get_parameters().values():
        p.g = 0
    y.backward(b * np.ones(y.shape, np.float32), clear_buffer=True)
    scaled = sum(float(np.sum(w.d.astype(np.float64) * w.g)) for w in weights)
    if scaled <= 0:
        return 0.0
    return math.exp(math.log(scaled) - math.log(a) - math.log(b))
