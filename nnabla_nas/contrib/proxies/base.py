"""The registry of zero-cost proxies and what they share: the batch, the weight tensors
they look at, and leaving the network unchanged."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Sequence

import nnabla as nn
import nnabla.functions as F
import numpy as np

from ... import module as Mo
from ...registry import Registry
from ..model import Model

#: Zero-cost proxies by name: functions ``(model, batch) -> float``, higher is better.
PROXIES = Registry("zero-cost proxy")

Proxy = Callable[[Model, "Batch"], float]


@dataclass(frozen=True)
class Batch:
    """One batch the proxies see.

    Attributes:
        inputs: Images, float32 of shape (N, C, H, W).
        targets: Class indices, int of shape (N, 1).
    """

    inputs: np.ndarray
    targets: np.ndarray

    def __post_init__(self) -> None:
        x, y = np.asarray(self.inputs), np.asarray(self.targets)
        if x.ndim != 4 or y.shape != (len(x), 1) or len(x) < 1:
            raise ValueError(f"Batch: expected inputs (N, C, H, W) and targets (N, 1), "
                             f"got {x.shape} and {y.shape}")
        object.__setattr__(self, "inputs", x.astype(np.float32))
        object.__setattr__(self, "targets", y.astype(np.int32))

    def variables(self, need_grad: bool = False):
        """The inputs and targets as NNabla variables."""
        x = nn.Variable.from_numpy_array(self.inputs, need_grad=need_grad)
        return x, nn.Variable.from_numpy_array(self.targets)


def weight_tensors(model: Model) -> List[nn.Variable]:
    """The weights of the convolutions and linear layers (not biases or
    normalizations), each once: what snip, grad_norm and synflow sum over, as
    Abdelfattah et al.'s code does."""
    seen, out = set(), []
    for _, m in model.get_modules():
        if isinstance(m, (Mo.Conv, Mo.DwConv, Mo.Linear)) and id(m.W) not in seen:
            seen.add(id(m.W))
            out.append(m.W)
    return out


def logits(model: Model, x: nn.Variable) -> nn.Variable:
    """The model's (first) output."""
    y = model(x)
    return y[0] if isinstance(y, (list, tuple)) else y


def backward_from(model: Model, y: nn.Variable) -> None:
    """Zero the gradients of the model's parameters, then back-propagate ``y`` (its
    ``g`` as set by the caller, or ones)."""
    for p in model.get_parameters().values():
        p.g = 0
    y.forward()
    y.backward(clear_buffer=True)


def cross_entropy(model: Model, batch: Batch, need_grad: bool = False):
    """``(loss, inputs)``: the mean softmax cross-entropy of the batch."""
    x, t = batch.variables(need_grad)
    return F.mean(F.softmax_cross_entropy(logits(model, x), t)), x


@contextmanager
def preserved(model: Model) -> Iterator[Model]:
    """Within the block the proxy may change the model's parameters, gradients,
    ``need_grad`` flags and modes; afterwards they are as before."""
    params = list(model.get_parameters().values())
    saved = [(p, p.d.copy(), p.g.copy(), p.need_grad) for p in params]
    flags = [(m, m.training, m.need_grad) for _, m in model.get_modules()]
    try:
        yield model
    finally:
        for p, d, g, need_grad in saved:
            p.d, p.g, p.need_grad = d, g, need_grad
        for m, training, need_grad in flags:
            m.training, m.need_grad = training, need_grad


def score(model: Model, batch: Batch, names: Sequence[str]) -> Dict[str, float]:
    """The proxies ``names`` of ``model`` on ``batch``, in that order, each from the
    model as it is (each proxy starts from the same weights and modes).

    Raises:
        KeyError: naming an unknown proxy and the valid ones (before computing any).
    """
    proxies = [(n, PROXIES.get(n)) for n in names]
    out = {}
    for name, proxy in proxies:
        with preserved(model):
            out[name] = float(proxy(model, batch))
    return out
