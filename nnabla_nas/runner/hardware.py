"""Hardware figures of a trained network for ``summary.json``: estimated and measured
latency, parameters, and estimated and measured activation memory of one inference at
batch size 1."""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Optional, Sequence, Union

import nnabla as nn
import numpy as np

from ..contrib.estimator.latency import LatencyEstimator
from ..contrib.estimator.measure import forward_runner, summarize, time_calls
from ..contrib.estimator.memory import MemoryEstimator
from ..contrib.estimator.peak_memory import measure_nnp
from ..contrib.estimator.table import ProfileTable
from ..contrib.model import Model
from ..utils.context import make_context, synchronize
from ..utils.memory import require_memory

WARMUP, REPEATS = 5, 30


def hardware_summary(model: Model, shape: Sequence[int], context: str = "cpu",
                     device_id: int = 0, table: Union[None, str, ProfileTable] = None,
                     nnp_path: Optional[str] = None) -> Dict[str, float]:
    """Estimated and measured latency (ms) and memory of one inference of ``model`` on
    one ``shape`` (C, H, W) sample, on ``context``.

    The measured latency summarizes ``REPEATS`` timed forwards after ``WARMUP`` with
    the statistic the latency estimator is calibrated with; the estimate comes from
    :class:`LatencyEstimator`, profiled on the same device. The measured activation
    memory is that of the exported network ``nnp_path`` run in a fresh process
    (:func:`~nnabla_nas.contrib.estimator.peak_memory.measure_nnp`; CPU on Linux only,
    left out elsewhere).
    """
    model.apply(training=False)
    try:
        x = nn.Variable((1,) + tuple(shape))
        out = model(x)  # a graph: nothing allocated before the check below
        memory = MemoryEstimator()
        activations = int(memory.activation_bytes([out]))
        require_memory(activations + 4 * x.size, "one inference of the network "
                       "(input and activations)")
        x.d = np.random.RandomState(0).randn(*x.shape)
        latency = LatencyEstimator(context=context, device_id=device_id, table=table)
        estimated = latency.get_estimation(model)
        ctx = make_context(context, device_id)
        measured = summarize(time_calls(forward_runner([out]), WARMUP, REPEATS,
                                        lambda: synchronize(ctx)))
        out = OrderedDict(
            estimated_latency_ms=round(float(estimated), 4),
            measured_latency_ms=round(float(measured), 4),
            estimated_params=int(memory.get_estimation(model)),
            estimated_activation_bytes=activations,
        )
        if nnp_path is not None and context == "cpu":
            peak = measure_nnp(nnp_path)
            if peak is not None:
                out["measured_activation_bytes"] = int(peak["steady"])
        return out
    finally:
        model.apply(training=True)
