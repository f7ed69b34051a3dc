"""``naswot``: the score of Mellor et al. (2021, "Neural Architecture Search without
Training", ICML; the version of its second revision).

Every ReLU of the network in training mode gives, for each input of the batch, a binary
code: which of its units are active. Two inputs whose codes agree on many units are
hard for the network to tell apart. The kernel ``K[i, j] = sum over units of
[c_i == c_j]`` (the number of units minus the Hamming distance of the codes, over
every ReLU) is the network's view of the batch, and the score is ``log |det K|``:
higher when the inputs' codes differ more.
"""
from __future__ import annotations

from typing import List

import nnabla as nn
import numpy as np

from ..model import Model
from .base import PROXIES, Batch, logits


def relu_outputs(y: nn.Variable) -> List[nn.Variable]:
    """The outputs of every ReLU function of the graph of ``y``."""
    found = []
    y.visit(lambda f: found.append(f.outputs[0]) if f.info.type_name == "ReLU" else None)
    return found


def hamming_kernel(codes: np.ndarray) -> np.ndarray:
    """``K[i, j]``: the units on which binary codes ``i`` and ``j`` (rows) agree."""
    c = codes.astype(np.float64)
    return c @ c.T + (1 - c) @ (1 - c).T


@PROXIES.register("naswot")
def naswot(model: Model, batch: Batch) -> float:
    """``log |det K|`` of the Hamming kernel of the ReLU codes of the batch."""
    model.apply(training=True)
    x, _ = batch.variables()
    y = logits(model, x)
    relus = relu_outputs(y)
    if not relus:
        raise ValueError("naswot: the network has no ReLU")
    y.forward()
    codes = np.concatenate([(r.d > 0).reshape(len(batch.inputs), -1) for r in relus],
                           axis=1)
    return float(np.linalg.slogdet(hamming_kernel(codes))[1])
