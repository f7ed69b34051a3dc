"""Baselines that any proxy should beat: ``params``, the network's parameter count
(:func:`~nnabla_nas.contrib.model.parameter_count`, as ``estimate`` reports it)."""
from __future__ import annotations

from ..model import Model, parameter_count
from .base import PROXIES, Batch


@PROXIES.register("params")
def params(model: Model, batch: Batch) -> float:
    """The number of parameters."""
    return float(parameter_count(model.get_modules()))
