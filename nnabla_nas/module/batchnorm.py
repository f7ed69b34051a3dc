"""`BatchNormalization`."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import nnabla.functions as F

from . import checks as C
from .module import Module
from .parameter import Parameter

_DEFAULT_INIT = {"beta": 0.0, "gamma": 1.0, "mean": 0.0, "var": 1.0}


class BatchNormalization(Module):
    """Batch normalization, wrapping ``nnabla.functions.batch_normalization``.

    In training mode (``training=True``) it normalizes with the batch statistics and
    updates the running ``mean`` and ``var``; otherwise it uses the running statistics.

    Args:
        n_features: Size of the normalized axis (channels).
        n_dims: Number of dimensions of the input.
        axes: The one normalized axis, as a one-element list.
        decay_rate: Decay of the running statistics.
        eps: Added to the variance for stability.
        output_stat: Also return the batch mean and variance.
        fix_parameters: Keep ``beta`` and ``gamma`` constant (``need_grad=False``).
        param_init: Initial values or initializers by name: ``'beta'``, ``'gamma'``,
            ``'mean'``, ``'var'``.
    """

    def __init__(self, n_features: int, n_dims: int = 4, axes: Sequence[int] = (1,),
                 decay_rate: float = 0.9, eps: float = 1e-5, output_stat: bool = False,
                 fix_parameters: bool = False,
                 param_init: Optional[Mapping[str, Any]] = None):
        name = type(self).__name__
        self._n_features = C.positive_int(name, "n_features", n_features)
        self._n_dims = C.positive_int(name, "n_dims", n_dims)
        axes = C.int_tuple(name, "axes", axes, length=1)
        if axes[0] >= n_dims:
            raise ValueError(f"{name}: axes: axis {axes[0]} is out of range for "
                             f"n_dims={n_dims}")
        self._axes = list(axes)
        self._decay_rate = C.probability(name, "decay_rate", decay_rate, allow_one=True)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"{name}: eps: expected a positive float, got {eps!r}")
        self._eps = float(eps)
        self._output_stat = bool(output_stat)
        self._fix_parameters = bool(fix_parameters)
        init = dict(_DEFAULT_INIT)
        unknown = set(param_init or {}) - set(init)
        if unknown:
            raise KeyError(f"{name}: param_init: unknown keys {sorted(unknown)}, expected "
                           f"some of {sorted(init)}")
        init.update(param_init or {})
        shape = [1] * n_dims
        shape[axes[0]] = n_features
        self.beta = Parameter(shape, not fix_parameters, init["beta"])
        self.gamma = Parameter(shape, not fix_parameters, init["gamma"])
        self.mean = Parameter(shape, False, init["mean"])
        self.var = Parameter(shape, False, init["var"])

    def call(self, input):
        return self._normalize(input, self.beta, self.gamma)

    def folds_scale(self) -> bool:
        return not self._output_stat

    def call_scaled(self, input, scale):
        """``scale * self(input)`` as one normalization with ``scale * beta`` and
        ``scale * gamma``: the same values and gradients, and no output kept for
        backward (a normalization's backward needs only its input and statistics)."""
        if not self.folds_scale():
            return super().call_scaled(input, scale)
        self._record_inputs(input)
        scale = F.reshape(scale, (1,) * self._n_dims)
        if self._fix_parameters and not self.beta.d.any():  # constant 0: stays 0
            beta = self.beta
        else:
            beta = self.beta * scale
        return self._normalize(input, beta, self.gamma * scale)

    def _normalize(self, input, beta, gamma):
        name = type(self).__name__
        C.variable(name, input, ndim=self._n_dims)
        C.axis_size(name, input, self._axes[0], self._n_features, "features")
        if self._output_stat and not self.training:
            raise ValueError(f"{name}: output_stat: batch statistics exist only in "
                             "training mode; set training=True or output_stat=False")
        return F.batch_normalization(input, beta, gamma, self.mean, self.var,
                                     axes=self._axes, decay_rate=self._decay_rate,
                                     eps=self._eps, batch_stat=self.training,
                                     output_stat=self._output_stat)

    def extra_repr(self) -> str:
        return (f"n_features={self._n_features}, fix_parameters={self._fix_parameters}, "
                f"eps={self._eps}, decay_rate={self._decay_rate}")


@contextmanager
def reestimated_statistics(module: Module) -> Iterator[Callable[[int], None]]:
    """Within the block, the running statistics of every :class:`BatchNormalization`
    of ``module``'s tree can be estimated afresh; on exit they, and the decay rates,
    are restored (an exception included).

    The block receives ``begin(b)``: call it before building the training-mode graph of
    the ``b``-th batch (from 0); the running ``mean`` and ``var`` then become the plain
    average of the batch statistics of batches 0..b (decay ``b / (b + 1)``), as in
    single-path one-shot NAS (Guo et al., 2020), where a path inheriting a supernet's
    weights gets statistics of its own before it is evaluated.
    """
    norms = [m for _, m in module.get_modules() if isinstance(m, BatchNormalization)]
    saved = [(m, m._decay_rate, m.mean.d.copy(), m.var.d.copy()) for m in norms]

    def begin(batch: int) -> None:
        for m in norms:
            m._decay_rate = batch / (batch + 1.0)

    try:
        yield begin
    finally:
        for m, decay, mean, var in saved:
            m._decay_rate, m.mean.d, m.var.d = decay, mean, var
