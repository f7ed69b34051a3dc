"""Numeric helpers shared by the tests: finite differences and running a Module on
numpy inputs.

NNabla computes in float32, so gradient checks compare NNabla's backward pass with
central differences of the *same* NNabla graph, evaluated forward repeatedly, with the
differences taken in float64 on the numpy side.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import nnabla as nn
import numpy as np


def numerical_grad(f: Callable[[List[np.ndarray]], float], arrays: Sequence[np.ndarray],
                   eps: float = 1e-3) -> List[np.ndarray]:
    """Central finite differences of the scalar function ``f`` at ``arrays``.

    ``f`` receives a list of float64 arrays (copies of ``arrays``; one element is
    perturbed at a time) and returns a number. Returns one float64 gradient array per
    input array.
    """
    xs = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for x in xs:
        g = np.zeros_like(x)
        flat, gflat = x.reshape(-1), g.reshape(-1)  # views into x and g
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            plus = float(f(xs))
            flat[i] = orig - eps
            minus = float(f(xs))
            flat[i] = orig
            gflat[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def variables(arrays: Sequence[np.ndarray], need_grad: bool = True) -> List[nn.Variable]:
    """float32 ``nn.Variable`` copies of numpy arrays."""
    return [nn.Variable.from_numpy_array(np.asarray(a, dtype=np.float32), need_grad=need_grad)
            for a in arrays]


class ModuleRun:
    """A module called once on numpy inputs; its graph can then be evaluated again.

    Args:
        module: The module (its ``training`` flag is used as it is).
        inputs: numpy arrays, converted to float32 variables with ``need_grad=True``.

    Attributes:
        xs: The input variables.
        y: The output variable (built by calling the module, not yet computed).
        params: The module's parameters with ``need_grad=True``, by name.
    """

    def __init__(self, module, inputs: Sequence[np.ndarray]):
        self.module = module
        self.xs = variables(inputs)
        self.y = module(*self.xs)
        self.params = module.get_parameters(grad_only=True)

    def forward(self) -> np.ndarray:
        """Compute the output and return a float64 copy of it."""
        if self.y.parent is not None:  # a layer may return its input (no function)
            self.y.forward()
        return np.array(self.y.d, dtype=np.float64)

    def backward(self, out_grad: np.ndarray):
        """Gradients of ``sum(y * out_grad)`` at the last :meth:`forward`:
        ``(input grads, {name: param grad})``.

        The graph is not recomputed, so a random layer (dropout) is differentiated with
        the mask of the output already seen. Every gradient (parameters with
        ``need_grad=False`` included) is zeroed first, as NNabla accumulates into leaf
        gradients.
        """
        for v in list(self.xs) + list(self.module.get_parameters().values()):
            v.grad.zero()
        w = np.asarray(out_grad, dtype=np.float32)
        if self.y.parent is not None:
            self.y.backward(grad=w)
        else:  # the layer returned one of its inputs: the gradient is out_grad itself
            self.y.g = self.y.g + w
        return ([np.array(x.g, dtype=np.float64) for x in self.xs],
                {k: np.array(p.g, dtype=np.float64) for k, p in self.params.items()})

    def numerical_grads(self, out_grad: np.ndarray, eps: float = 1e-3):
        """Finite-difference counterpart of :meth:`backward` (inputs, then parameters).
        """
        targets = list(self.xs) + list(self.params.values())
        saved = [np.array(v.d, dtype=np.float64) for v in targets]
        w = np.asarray(out_grad, dtype=np.float64)

        def loss(arrays):
            for v, a in zip(targets, arrays):
                v.d = a.astype(np.float32)
            return float(np.sum(self.forward() * w))

        try:
            grads = numerical_grad(loss, saved, eps)
        finally:
            for v, a in zip(targets, saved):
                v.d = a.astype(np.float32)
        n = len(self.xs)
        return grads[:n], dict(zip(self.params.keys(), grads[n:]))


def run_module(module, inputs: Sequence[np.ndarray],
               out_grad: Optional[np.ndarray] = None):
    """Call ``module`` on numpy ``inputs`` and compute the output; with ``out_grad``
    also the gradients of ``sum(y * out_grad)``.

    Returns ``(run, y)`` or ``(run, y, input_grads, param_grads)``.
    """
    run = ModuleRun(module, inputs)
    y = run.forward()
    if out_grad is None:
        return run, y
    return (run, y) + run.backward(out_grad)
