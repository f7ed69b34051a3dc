"""Hardware figures of a trained network for ``summary.json``: what every registered
estimator reports (:meth:`~nnabla_nas.contrib.estimator.base.Estimator.report`) of one
inference at batch size 1, e.g. ``estimated_<summary_key>`` and, where the estimator
can measure, ``measured_<summary_key>``."""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Optional, Sequence

import nnabla as nn
import numpy as np

from ..contrib.estimator.base import Inference, module_estimators
from ..contrib.model import Model
from ..contrib.estimator.peak_memory import forward_order
from ..module import training_mode
from ..utils.context import Device
from ..utils.memory import require_memory


def hardware_summary(model: Model, shape: Sequence[int], device: Optional[Device] = None,
                     nnp_path: Optional[str] = None) -> Dict[str, float]:
    """The figures every reporting estimator gives for one inference of ``model`` on
    one ``shape`` (C, H, W) sample of random data, on ``device`` (default: the CPU),
    each estimator built with its default options for the device; ``nnp_path``, the
    exported network, lets estimators measure it."""
    device = device or Device()
    with training_mode(model, False):
        x = nn.Variable((1,) + tuple(shape))
        out = model(x)  # a graph: nothing allocated before the check below
        outputs = list(out) if isinstance(out, (list, tuple)) else [out]
        # At most every value of the graph at once (NNabla releases some earlier).
        values = x.size + sum(v.size for f in forward_order(outputs) for v in f.outputs)
        require_memory(4 * values, "one inference of the network (input and activations)")
        x.d = np.random.RandomState(0).randn(*x.shape)
        inference = Inference(model, outputs, device, nnp_path)
        figures: Dict[str, float] = OrderedDict()
        for cls in module_estimators().values():
            if cls.summary_key:
                figures.update(cls.from_config(cls.Config(), device).report(inference))
        return figures
