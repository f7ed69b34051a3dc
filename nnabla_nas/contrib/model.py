"""`Model`: the base class of searchable networks."""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Iterable, Optional, Sequence, Tuple, Union

import nnabla as nn
import nnabla.functions as F
import numpy as np

from ..module import Module, Parameter, is_arch_parameter

Variables = Union[nn.Variable, Sequence[nn.Variable]]

__all__ = ["Model", "is_arch_parameter"]


def parameter_count(modules: Iterable[Tuple[str, Module]]) -> int:
    """The number of parameter values of ``(name, module)`` pairs such as
    :meth:`Module.get_modules` (a whole tree) or
    :func:`~nnabla_nas.contrib.estimator.base.active_modules` (the path that runs)
    yield: what ``params`` means wherever nnabla-nas reports it.

    Counted: every :class:`~nnabla_nas.module.Parameter` of the modules, once even if
    shared, trainable or not: weights, biases, batch-norm scale and shift *and its
    running mean and variance* (an inference needs them; they are in the weights
    file), and an auxiliary head's when the network has one. Not counted: architecture
    parameters (:func:`is_arch_parameter`).

    Example:
        >>> from nnabla_nas import module as Mo
        >>> net = Mo.Sequential(Mo.Conv(3, 8, (3, 3)), Mo.BatchNormalization(8, 4))
        >>> parameter_count(net.get_modules())  # 8*3*3*3 + 8, then 4 * 8 in the BN
        256
    """
    seen, count = set(), 0
    for _, module in modules:
        for p in module.parameters.values():
            if id(p) in seen or is_arch_parameter(p):
                continue
            seen.add(id(p))
            count += int(np.prod(p.shape))
    return count


def _as_list(x: Variables) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


class Model(Module):
    """Base class of searchable networks: subclass it and override ``call()``.

    Architecture parameters and network weights are two filters over the one
    parameter traversal, by the parameter's kind
    (:class:`~nnabla_nas.module.ArchParameter`, as a MixedOp's ``alpha`` is), not by its
    name; subclasses may override either.
    The default loss and metrics are those of classification (softmax cross-entropy and
    top-1 error); override them for other tasks.
    """

    def get_arch_parameters(self, grad_only: bool = False
                            ) -> "OrderedDict[str, Parameter]":
        """The architecture parameters (:class:`~nnabla_nas.module.ArchParameter`)."""
        return OrderedDict((k, v) for k, v in self.get_parameters(grad_only).items()
                           if is_arch_parameter(v))

    def get_net_parameters(self, grad_only: bool = False
                           ) -> "OrderedDict[str, Parameter]":
        """The network weights: every parameter that is not an architecture parameter."""
        return OrderedDict((k, v) for k, v in self.get_parameters(grad_only).items()
                           if not is_arch_parameter(v))

    def loss(self, outputs: Variables, targets: Variables,
             loss_weights: Optional[Sequence[float]] = None) -> nn.Variable:
        """Mean softmax cross-entropy, summed over outputs with ``loss_weights``.

        Args:
            outputs: Logits ``(N, classes)``, or a list of them (e.g. with an auxiliary
                head).
            targets: Integer labels ``(N, 1)``, one per output.
            loss_weights: One weight per output (default: all 1).

        Returns:
            A scalar variable.
        """
        outputs, targets = _as_list(outputs), _as_list(targets)
        if len(targets) == 1 and len(outputs) > 1:
            targets = targets * len(outputs)
        weights = [1.0] * len(outputs) if loss_weights is None else list(loss_weights)
        if not (len(outputs) == len(targets) == len(weights)):
            raise ValueError(f"{type(self).__name__}.loss: got {len(outputs)} outputs, "
                             f"{len(targets)} targets and {len(weights)} loss_weights")
        terms = [w * F.mean(F.softmax_cross_entropy(o, t))
                 for o, t, w in zip(outputs, targets, weights)]
        return terms[0] if len(terms) == 1 else F.add_n(*terms)

    def metrics(self, outputs: Variables, targets: Variables) -> Dict[str, nn.Variable]:
        """Metrics to monitor: ``{'error': top-1 error of the first output}``."""
        return {"error": F.mean(F.top_n_error(_as_list(outputs)[0], _as_list(targets)[0]))}

    def summary(self) -> str:
        """A table of parameter counts per top-level part, network and architecture."""
        rows = OrderedDict()
        for name, p in self.get_parameters().items():
            part = name.split("/", 1)[0] if "/" in name else "(own)"
            net, arch = rows.get(part, (0, 0))
            size = int(np.prod(p.shape))
            rows[part] = (net, arch + size) if is_arch_parameter(p) else (net + size, arch)
        total = (sum(r[0] for r in rows.values()), sum(r[1] for r in rows.values()))
        width = max([len("part"), len("total")] + [len(k) for k in rows])
        lines = [f"{'part':<{width}}  {'net params':>12}  {'arch params':>12}"]
        lines += [f"{k:<{width}}  {n:>12,}  {a:>12,}" for k, (n, a) in rows.items()]
        lines.append(f"{'total':<{width}}  {total[0]:>12,}  {total[1]:>12,}")
        return "\n".join(lines)
