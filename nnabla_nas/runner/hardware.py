"""Hardware figures of a trained network for ``summary.json``: what every registered
estimator reports (:meth:`~nnabla_nas.contrib.estimator.base.Estimator.report`) of one
inference at batch size 1, e.g. ``estimated_<summary_key>`` and, where the estimator
can measure, ``measured_<summary_key>``; and :func:`bounds_summary`, the search's
bounds checked on the delivered network. :func:`delivered_summary` gives both from
one measurement of each estimator (a run's summary then shows one latency, not two
taken moments apart)."""
from __future__ import annotations

import dataclasses
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import nnabla as nn
import numpy as np

from ..contrib.estimator import ESTIMATORS
from ..contrib.estimator.base import Inference, figure, module_estimators
from ..contrib.model import Model
from ..contrib.estimator.peak_memory import forward_order
from ..module import training_mode
from ..utils.context import Device
from ..utils.memory import require_memory
from .regularizer import CostTerm

#: A bound holds when every measurement is at most ``bound * (1 + TOLERANCE)``: the
#: ±10% that latency estimates are held to (issue 16), stated before any check ran.
TOLERANCE = 0.10


@contextmanager
def one_inference(model: Model, shape: Sequence[int], device: Device,
                  nnp_path: Optional[str] = None, onnx_path: Optional[str] = None
                  ) -> Iterator[Inference]:
    """One inference of ``model`` (in inference mode within the block) on one
    ``shape`` (C, H, W) sample of random data, with the exported files."""
    with training_mode(model, False):
        x = nn.Variable((1,) + tuple(shape))
        out = model(x)  # a graph: nothing allocated before the check below
        outputs = list(out) if isinstance(out, (list, tuple)) else [out]
        # At most every value of the graph at once (NNabla releases some earlier).
        values = x.size + sum(v.size for f in forward_order(outputs) for v in f.outputs)
        require_memory(4 * values, "one inference of the network (input and activations)")
        x.d = np.random.RandomState(0).randn(*x.shape)
        yield Inference(model, outputs, device, nnp_path, onnx_path)


class Reports:
    """What estimators report of one inference, each estimator asked once per set of
    its options (``Config`` fields; a cost's config carries them and more)."""

    def __init__(self, inference: Inference):
        self.inference = inference
        self._done: Dict[Tuple[str, Tuple[Any, ...]], Tuple[Any, Dict[str, Any]]] = {}

    def get(self, name: str, options: Any) -> Tuple[Any, Dict[str, Any]]:
        """The estimator ``name`` made with ``options`` for the inference's device,
        and its report (``{}`` if it reports nothing)."""
        cls = ESTIMATORS.get(name)
        fields = [f.name for f in dataclasses.fields(cls.Config)]
        key = (name, tuple(getattr(options, f) for f in fields))
        if key not in self._done:
            estimator = cls.from_config(cls.Config(**dict(zip(fields, key[1]))),
                                        self.inference.device)
            report = estimator.report(self.inference) if estimator.summary_key else {}
            self._done[key] = (estimator, report)
        return self._done[key]


def _figures(reports: Reports) -> Dict[str, float]:
    figures: Dict[str, float] = OrderedDict()
    for name, cls in module_estimators().items():
        if cls.summary_key:
            figures.update(reports.get(name, cls.Config())[1])
    return figures


def hardware_summary(model: Model, shape: Sequence[int], device: Optional[Device] = None,
                     nnp_path: Optional[str] = None, onnx_path: Optional[str] = None
                     ) -> Dict[str, float]:
    """The figures every reporting estimator gives for one inference of ``model`` on
    one ``shape`` (C, H, W) sample of random data, on ``device`` (default: the CPU),
    each estimator built with its default options for the device; ``nnp_path``, the
    exported network, and ``onnx_path``, its ONNX file, let estimators measure them."""
    return delivered_summary(model, shape, (), device, nnp_path, onnx_path)[0]


def delivered_summary(model: Model, shape: Sequence[int], terms: Sequence[CostTerm],
                      device: Optional[Device] = None, nnp_path: Optional[str] = None,
                      onnx_path: Optional[str] = None
                      ) -> Tuple[Dict[str, float], Dict[str, Dict[str, Any]]]:
    """:func:`hardware_summary` and :func:`bounds_summary` of the delivered network
    from one inference, an estimator whose options a bound shares with the
    defaults reporting (and measuring) once for both."""
    device = device or Device()
    with one_inference(model, shape, device, nnp_path, onnx_path) as inference:
        reports = Reports(inference)
        return _figures(reports), _bounds(reports, terms)


def bounds_summary(model: Model, shape: Sequence[int], terms: Sequence[CostTerm],
                   device: Optional[Device] = None, nnp_path: Optional[str] = None,
                   onnx_path: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
    """The ``bounds`` of ``summary.json``: per cost of ``terms`` with a bound, checked
    on the delivered network ``model`` and its exported files.

    Each entry gives the config key, mode, bound and unit, the estimate (the cost's
    estimator with the cost's options), the measurements its ``report()`` gives by
    runtime (``measured_<summary_key>`` is the network in memory on the device's
    runtime; ``measured_<summary_key>_<runtime>`` the delivered files), the
    tolerance, and ``holds``: True when every measurement is within the bound plus
    the tolerance, False when one is not, and None, with a ``reason``, when nothing
    could be measured on this device (never counted as held).
    """
    if not _bounded(terms):
        return OrderedDict()
    with one_inference(model, shape, device or Device(), nnp_path, onnx_path) as inference:
        return _bounds(Reports(inference), terms)


def _bounded(terms: Sequence[CostTerm]) -> List[CostTerm]:
    return [t for t in terms if t.config.bound is not None and t.config.active]


def _bounds(reports: Reports, terms: Sequence[CostTerm]) -> Dict[str, Dict[str, Any]]:
    out: Dict[str, Dict[str, Any]] = OrderedDict()
    device = reports.inference.device
    for term in _bounded(terms):
        estimator, report = reports.get(term.name, term.config)
        key = estimator.summary_key
        measured = OrderedDict()
        for name, value in report.items():
            if name == f"measured_{key}":
                measured["in_memory"] = value
            elif name.startswith(f"measured_{key}_"):
                measured[name[len(f"measured_{key}_"):]] = value
        limit = float(term.config.bound)
        entry: Dict[str, Any] = OrderedDict(
            key=term.key, mode=term.config.mode, bound=limit, unit=estimator.unit,
            estimated=report.get(f"estimated_{key}",
                                 figure(estimator.get_estimation(reports.inference.model))),
            measured=measured, tolerance=TOLERANCE)
        profiler = getattr(estimator, "profiler", None)
        if not measured:
            entry["holds"] = None
            entry["reason"] = (f"{term.name} cannot be measured on this device "
                               f"({device.name}): its estimator reports no measurement")
        elif profiler is not None and not profiler.table.is_for(profiler.fingerprint):
            entry["holds"] = None
            entry["reason"] = ("the estimate is for the device of an imported "
                               "profile table; measurements here say nothing of it")
        else:
            entry["holds"] = all(v <= limit * (1 + TOLERANCE) for v in measured.values())
        out[term.name] = entry
    return out


def bound_messages(bounds: Dict[str, Dict[str, Any]]) -> List[str]:
    """One plain line per bound that does not hold in measurement, or could not be
    measured (for the end of a run's output)."""
    lines = []
    for name, b in bounds.items():
        if b["holds"] is False:
            figures = ", ".join(f"{v:g} {b['unit']} ({runtime})"
                                for runtime, v in b["measured"].items())
            lines.append(f"{b['key']}.bound: the delivered network does NOT meet the "
                         f"{b['mode']} bound of {b['bound']:g} {b['unit']} in "
                         f"measurement: {figures}, more than the bound plus "
                         f"{100 * b['tolerance']:g}% (estimated {b['estimated']:g} "
                         f"{b['unit']})")
        elif b["holds"] is None:
            lines.append(f"{b['key']}.bound: not checked in measurement: {b['reason']}")
    return lines
