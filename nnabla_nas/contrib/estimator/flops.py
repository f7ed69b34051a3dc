"""`FlopsEstimator`: multiply-accumulates (MACs) of one inference, counted function by
function from the NNabla graph.

Unit: MACs (one multiplication and one addition), the "MAdds"/"FLOPs" of the
MobileNetV2, ShuffleNet, SPOS and FairNAS papers and of fvcore's ``FlopCountAnalysis``:
the multiply-accumulates of the linear layers, bias additions not counted. Exactly
what is counted, per NNabla function (``y`` the output, ``x`` the input, ``W`` the
weight, ``prod`` the product of a shape):

* ``Convolution`` (any ``group``, ``dilation``, ``stride``, ``pad``, layout) and
  ``DepthwiseConvolution``: ``prod(y.shape) * prod(W.shape[1:])``, i.e. every output
  value is a dot product over ``in_channels / group`` channels times the kernel
  (the depthwise kernel has one channel). Padding is counted as the zeros it
  multiplies, as every paper does.
* ``Deconvolution`` and ``DepthwiseDeconvolution``: ``prod(x.shape) * prod(W.shape[1:])``:
  every input value is multiplied into ``out_channels / group`` kernels.
* ``Affine``: ``prod(x.shape[:base_axis]) * prod(W.shape)``.
* ``BatchMatmul``: ``prod(y.shape)`` times the contracted dimension.
* Average pooling in every spelling, since it is a depthwise convolution with
  constant weights: ``AveragePooling`` and ``SumPooling`` ``prod(y.shape) *
  prod(kernel)``; ``GlobalAveragePooling``, ``Mean`` and ``Sum`` (how
  :class:`~nnabla_nas.module.GlobalAvgPool` is written) ``prod(x.shape)``.
* Everything else counts 0: max pooling (comparisons), batch normalization (folded
  into the preceding convolution at deployment), activations, element-wise
  additions and multiplications, concatenation, reshapes.

Counts are for the input shapes the module was last called with (searches price one
image: batch 1). Like latency, the functions a module's own ``call()`` creates outside
its submodules (a MixedOp's weighted sum in ``'full'`` mode, a block's residual add)
belong to that module, so :meth:`FlopsEstimator.predict` summed over the modules that
run equals :meth:`FlopsEstimator.get_estimation`, as expected costs need.

Example:
    >>> import nnabla as nn
    >>> from nnabla_nas import module as Mo
    >>> conv = Mo.Conv(64, 64, (3, 3), pad=(1, 1))
    >>> _ = conv(nn.Variable((1, 64, 32, 32)))
    >>> int(FlopsEstimator().get_estimation(conv))  # 32 * 32 * 64 outputs * 64 * 3 * 3
    37748736
"""
from __future__ import annotations

import functools
from typing import Callable, Dict, Sequence, Tuple

import nnabla as nn
import nnabla.function as _function

from .base import ESTIMATORS
from .function_cost import FunctionCostEstimator
from .graph import graph_functions
from .measure import FunctionSpec

Shape = Tuple[int, ...]


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


@functools.lru_cache(maxsize=4096)
def output_shape(key: str) -> Shape:
    """The first output shape of the function of a spec key, from NNabla's own setup
    (variables are created without data)."""
    spec = FunctionSpec.from_key(key)
    inputs = [nn.Variable(shape) for shape, _ in spec.inputs]
    function = getattr(_function, spec.type_name)(nn.get_current_context(), **spec.args)
    with nn.auto_forward(False):
        out = function(*inputs)
    return tuple((out[0] if isinstance(out, (list, tuple)) else out).shape)


def _conv(spec: FunctionSpec) -> int:
    return _prod(output_shape(spec.key)) * _prod(spec.inputs[1][0][1:])


def _deconv(spec: FunctionSpec) -> int:
    return _prod(spec.inputs[0][0]) * _prod(spec.inputs[1][0][1:])


def _affine(spec: FunctionSpec) -> int:
    base = int(spec.args.get("base_axis", 1))
    return _prod(spec.inputs[0][0][:base]) * _prod(spec.inputs[1][0])


def _batch_matmul(spec: FunctionSpec) -> int:
    a = spec.inputs[0][0]
    inner = a[-2] if spec.args.get("transpose_a") else a[-1]
    return _prod(output_shape(spec.key)) * int(inner)


def _pooling(spec: FunctionSpec) -> int:
    return _prod(output_shape(spec.key)) * _prod(spec.args["kernel"])


def _every_input(spec: FunctionSpec) -> int:
    return _prod(spec.inputs[0][0])


#: MACs of one call, by NNabla function type; other functions count 0 (see the
#: module docstring).
MACS: Dict[str, Callable[[FunctionSpec], int]] = {
    "Convolution": _conv,
    "DepthwiseConvolution": _conv,
    "Deconvolution": _deconv,
    "DepthwiseDeconvolution": _deconv,
    "Affine": _affine,
    "BatchMatmul": _batch_matmul,
    "AveragePooling": _pooling,
    "SumPooling": _pooling,
    "GlobalAveragePooling": _every_input,
    "Mean": _every_input,
    "Sum": _every_input,
}


def function_macs(spec: FunctionSpec) -> int:
    """The MACs of one function call (0 for functions without multiply-accumulates)."""
    count = MACS.get(spec.type_name)
    return 0 if count is None else int(count(spec))


def graph_macs(outputs) -> int:
    """The MACs of one forward pass to ``outputs`` (an ``nn.Variable`` or a list)."""
    return sum(function_macs(s) for s in graph_functions(outputs))


@ESTIMATORS.register("flops")
class FlopsEstimator(FunctionCostEstimator):
    """Multiply-accumulates (MACs) of one inference of a module, or of the active path
    of a search space (see the module docstring for what is counted).

    * ``get_estimation(module)``: every function of the module's inference graph.
    * ``predict(module)``: the functions its own ``call()`` creates, outside its
      submodules; for a leaf, all of them.
    """

    unit = "MACs"
    summary_key = "macs"

    def function_cost(self, spec: FunctionSpec) -> float:
        return float(function_macs(spec))
