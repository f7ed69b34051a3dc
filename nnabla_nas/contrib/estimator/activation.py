"""`ActivationEstimator`: the peak memory of the activations of one inference, in
bytes, read from the NNabla graph.

:meth:`~ActivationEstimator.get_estimation` is the peak of live activation buffers
while ``forward(clear_buffer=True)`` runs the module's inference graph (or the active
path of a search space), found by replaying NNabla's own allocation and release rules
(:meth:`~.memory.MemoryEstimator.activation_bytes`, whose docstring says exactly what
is counted: every buffer a function writes, in-place buffers once; not the input, the
parameters or scratch memory).

A peak does not add up over modules: the peak of a network is not the sum of its
layers' peaks. This estimator is therefore not :attr:`~.base.Estimator.additive`:

* the exact cost of an architecture of a search space (what sampling, evolution and
  random searchers compare with hard bounds, and what derivation reports) is the
  peak of the supernet running that path (:class:`~.expected.PathCosts` computes it
  so for every non-additive estimator);
* the per-module cost that expected costs (DARTS's soft penalty) and the knapsack of
  derivation under a hard bound (:func:`~nnabla_nas.runner.budget.within_budget`)
  combine is the bytes of every buffer a module's own functions write, whose sum over
  the network is an upper bound of the peak: a derivation that meets a bound with it
  meets it exactly, but it may refuse architectures that would fit (see the module
  :mod:`~nnabla_nas.runner.budget`).

Assumptions: float32 values (4 bytes), as :mod:`.memory`.

Example:
    >>> import nnabla as nn
    >>> from nnabla_nas import module as Mo
    >>> net = Mo.Sequential(Mo.Conv(3, 8, (3, 3), pad=(1, 1)), Mo.ReLU())
    >>> _ = net(nn.Variable((1, 3, 4, 4)))
    >>> int(ActivationEstimator().get_estimation(net))  # conv and relu outputs live
    1024
"""
from __future__ import annotations

import os
import tempfile
from typing import Dict

import nnabla as nn

from ...export import export_nnp
from ...module import Module
from .base import ESTIMATORS, Inference, figure
from .flops import output_shape
from .function_cost import FunctionCostEstimator
from .graph import module_graph
from .measure import FunctionSpec
from .memory import BYTES_PER_VALUE, MemoryEstimator
from .peak_memory import measure_nnp


@ESTIMATORS.register("activation_memory")
class ActivationEstimator(FunctionCostEstimator):
    """Peak bytes of the activations of one inference (see the module docstring)."""

    unit = "bytes"
    summary_key = "activation_bytes"
    additive = False

    def function_cost(self, spec: FunctionSpec) -> float:
        """Bytes of the (first) output a function writes."""
        size = 1
        for d in output_shape(spec.key):
            size *= int(d)
        return float(size * BYTES_PER_VALUE)

    def get_estimation(self, module: Module) -> float:
        """Peak bytes of the activations of one inference of ``module`` (or of its
        active path)."""
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.get_estimation: expected a Module, "
                            f"got {type(module).__name__}")
        _, outputs = module_graph(module, nn.get_current_context())
        return float(MemoryEstimator().activation_bytes(outputs))

    #: Activations a measurement must reach: 4096 pages of 4 KiB, so that whole-page
    #: rounding and buffers under glibc's mmap threshold are a small part of it.
    MEASURED_BYTES = 16 * 2 ** 20
    #: The largest batch measured at.
    MAX_BATCH = 1024

    def report(self, inference: Inference) -> Dict[str, float]:
        """``estimated_activation_bytes`` of one inference at batch 1, and, on a CPU
        on Linux, ``measured_activation_bytes``: the peak activation memory of the
        exported network's inference measured in a fresh process (see
        :func:`~nnabla_nas.contrib.estimator.peak_memory.measure_nnp`), at
        ``measured_activation_batch``, the smallest power-of-two batch whose estimated
        activations reach :attr:`MEASURED_BYTES` (8x8 digits at batch 1 are under the
        method's resolution), divided by that batch: bytes per sample. A measurement
        that reads no growth is left out, never reported as 0."""
        per_sample = self.get_estimation(inference.model)
        out = {f"estimated_{self.summary_key}": figure(per_sample)}
        if inference.nnp_path is not None and inference.device.name == "cpu" \
                and inference.model.input_shapes:
            batch = 1
            while batch * per_sample < self.MEASURED_BYTES and batch < self.MAX_BATCH:
                batch *= 2
            # NNabla's loader keeps a saved network's batch: export one at ``batch``.
            with tempfile.TemporaryDirectory() as folder:
                path = export_nnp(inference.model, inference.model.input_shapes[0][1:],
                                  os.path.join(folder, "net.nnp"), batch_size=batch)
                peak = measure_nnp(path)
            if peak is not None and peak["steady"] > 0:
                out[f"measured_{self.summary_key}"] = int(round(peak["steady"]
                                                                / peak["batch"]))
                out["measured_activation_batch"] = peak["batch"]
        return out
