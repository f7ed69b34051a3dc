"""`MemoryEstimator`: parameter count, parameter bytes, and the peak activation memory
of an inference pass or a training step, read from the NNabla graph.

Units:
    * :meth:`~MemoryEstimator.predict` and :meth:`~MemoryEstimator.get_estimation`:
      number of parameter values, as the estimator of the earlier nnabla-nas API.
    * :meth:`~MemoryEstimator.parameter_bytes` and
      :meth:`~MemoryEstimator.activation_bytes`: bytes.

Assumptions: every array holds float32 values (4 bytes), NNabla's default.
What is a parameter is defined once, by :func:`~nnabla_nas.contrib.model.parameter_count`
(batch-norm running statistics included, architecture parameters excluded): the
``params`` of ``summary.json`` and this estimator's ``estimated_params`` are the same
count.

Example:
    >>> from nnabla_nas import module as Mo
    >>> net = Mo.Sequential(Mo.Conv(3, 8, (3, 3)), Mo.ReLU())
    >>> MemoryEstimator().get_estimation(net)  # 8 * 3 * 3 * 3 weights + 8 biases
    224.0
"""
from __future__ import annotations

import heapq
import os
import tempfile
from typing import Callable, Dict, Hashable, List, Optional, Sequence, Union

import nnabla as nn
import nnabla.functions as F
import numpy as np

from ...export import export_nnp
from ...module import Module, training_mode
from ..model import is_arch_parameter, parameter_count
from .base import ESTIMATORS, Estimator, Inference, NamedModules, build_graph
from .peak_memory import forward_order, measure_nnp

#: Bytes per value: NNabla computes in float32.
BYTES_PER_VALUE = 4

Target = Union[Module, nn.Variable, Sequence[nn.Variable]]


@ESTIMATORS.register("memory")
class MemoryEstimator(Estimator):
    """Memory of networks and search spaces, from the module tree and the NNabla graph.

    * ``predict(module)``: the number of values of the module's own parameters.
    * ``get_estimation(module)``: the number of parameter values of the whole tree, or
      of the active path of a search space (see
      :func:`~nnabla_nas.contrib.estimator.base.active_modules`); a parameter shared
      by several modules is counted once.
    * :meth:`parameter_bytes`: the same in bytes.
    * :meth:`activation_bytes`: the peak memory of the buffers NNabla allocates for
      the activations (and, for training, their gradients), found by replaying
      NNabla's own allocation and release rules over the graph.
    """

    unit = "parameters"
    summary_key = "params"

    def _predict(self, module: Module) -> float:
        return float(sum(p.size for p in module.parameters.values()
                         if not is_arch_parameter(p)))

    def _signature(self, module: Module) -> Hashable:
        # Parameters do not depend on the input shapes; a replaced one changes this.
        return tuple((name, id(p), tuple(p.shape)) for name, p in module.parameters.items())

    def total(self, modules: NamedModules) -> float:
        """Parameter values of the ``(name, module)`` pairs, as
        :func:`~nnabla_nas.contrib.model.parameter_count` counts them."""
        return float(parameter_count(modules))

    #: Activations a measurement must reach: 4096 pages of 4 KiB, so that whole-page
    #: rounding and buffers under glibc's mmap threshold are a small part of it.
    MEASURED_BYTES = 16 * 2 ** 20
    #: The largest batch measured at.
    MAX_BATCH = 1024

    def report(self, inference: Inference) -> Dict[str, float]:
        """``estimated_params``, ``estimated_activation_bytes`` of one inference at
        batch 1, and, on a CPU on Linux, ``measured_activation_bytes``: the peak
        activation memory of the exported network's inference measured in a fresh
        process (see :func:`~nnabla_nas.contrib.estimator.peak_memory.measure_nnp`),
        at ``measured_activation_batch``, the smallest power-of-two batch whose
        estimated activations reach :attr:`MEASURED_BYTES` (8x8 digits at batch 1 are
        under the method's resolution), divided by that batch: bytes per sample.
        A measurement that reads no growth is left out, never reported as 0."""
        out = super().report(inference)
        per_sample = int(self.activation_bytes(inference.model))
        out["estimated_activation_bytes"] = per_sample
        if inference.nnp_path is not None and inference.device.context.backend[0] \
                .startswith("cpu") and inference.model.input_shapes:
            batch = 1
            while batch * per_sample < self.MEASURED_BYTES and batch < self.MAX_BATCH:
                batch *= 2
            shape = inference.model.input_shapes[0][1:]
            with tempfile.TemporaryDirectory() as folder:  # the network at that batch
                path = export_nnp(inference.model, shape, os.path.join(folder, "net.nnp"),
                                  batch_size=batch)
                peak = measure_nnp(path)
            if peak is not None and peak["steady"] > 0:
                out["measured_activation_bytes"] = int(round(peak["steady"] / peak["batch"]))
                out["measured_activation_batch"] = peak["batch"]
        return out

    def parameter_bytes(self, module: Module) -> int:
        """Bytes of the parameters of ``module``'s tree or active path (float32), as
        counted by :meth:`get_estimation`. Solvers add their own state (gradients,
        momentum) on top."""
        return int(self.get_estimation(module)) * BYTES_PER_VALUE

    def activation_bytes(self, target: Target, training: bool = False,
                         scratch: bool = False) -> int:
        """Peak bytes of activation buffers during an inference pass or a training step.

        Args:
            target: A module, whose graph is built by calling it on new variables of
                the shapes it was last called with (see
                :func:`~nnabla_nas.contrib.estimator.base.build_graph`; the
                tree's ``training`` flags are set to ``training`` meanwhile); or the
                output variable(s) of a graph that is already built.
            training: With False, an inference pass,
                ``forward(clear_buffer=True)``: a buffer lives from the function that
                writes it until its last consumer has run. With True, a training
                step, ``forward(clear_no_need_grad=True)`` and then
                ``backward(clear_buffer=True)`` from the first output (for a module:
                from the sum of its outputs): a buffer that some function's backward
                reads, or that an in-place function shares, stays until the backward
                pass of the function that wrote it; gradient buffers appear during the
                backward pass and go with the data.

        What is counted: every data buffer written by a function (and, for training,
        every gradient buffer of a variable written by a function), with buffers that
        in-place functions such as ``reshape`` share counted once. Not counted:
        buffers of leaf variables (the inputs, the parameters and their gradients),
        scratch memory that functions free before they return, and, unless
        ``scratch``, the scratch buffers they keep. No buffer is assumed to be
        allocated before the pass.

        Returns:
            The peak, in bytes.
        """
        outputs = self._outputs(target, training)
        return _peak_bytes(outputs, training, scratch)

    @staticmethod
    def _outputs(target: Target, training: bool) -> List[nn.Variable]:
        if isinstance(target, nn.Variable):
            return [target]
        if isinstance(target, (list, tuple)) and target and all(
                isinstance(v, nn.Variable) for v in target):
            return list(target)
        if not isinstance(target, Module):
            raise TypeError("MemoryEstimator.activation_bytes: target: expected a Module "
                            "or nn.Variable outputs, got " + type(target).__name__)
        shapes = target.input_shapes
        if not shapes:
            raise ValueError(f"MemoryEstimator.activation_bytes: {type(target).__name__} "
                             "has not been called, so its input shapes are unknown; call "
                             "it once on variables of the shapes to estimate")
        with training_mode(target, training):
            out = build_graph(target, shapes)
        outputs = list(out) if isinstance(out, (list, tuple)) else [out]
        if not outputs or not all(isinstance(v, nn.Variable) for v in outputs):
            raise TypeError(f"MemoryEstimator.activation_bytes: {type(target).__name__} "
                            "must return nn.Variable outputs")
        if training:  # a scalar loss that depends on every output
            sums = [F.sum(v) for v in outputs]
            outputs = [sums[0] if len(sums) == 1 else F.add_n(*sums)]
        return outputs


# ------------------------------------------------------------- graph replay
def _prod(values) -> int:
    return int(np.prod([int(v) for v in values], dtype=np.int64))


def _depthwise_columns(f) -> int:
    x, w, y = f.inputs[0], f.inputs[1], f.outputs[0]
    base = f.info.args.get("base_axis", 1)
    return int(x.shape[base]) * _prod(w.shape[1:]) * _prod(y.shape[base + 1:])


#: Values of the scratch buffers that NNabla's CPU functions allocate on their first
#: run and keep as long as the function exists, by function type (measured with
#: NNabla 1.39): the per-sample im2col buffer of depthwise convolutions, and the
#: index of the maximum of every output of max pooling. (The CPU convolution keeps
#: none.)
SCRATCH: Dict[str, Callable[[object], int]] = {
    "DepthwiseConvolution": _depthwise_columns,
    "MaxPooling": lambda f: int(f.outputs[0].size),
}


def _nbytes(v: nn.Variable) -> int:
    return int(v.size) * BYTES_PER_VALUE


class _Live:
    """The buffers alive at a point in the replay, and the peak of their bytes."""

    def __init__(self) -> None:
        self.sizes: Dict[tuple, int] = {}
        self.current = self.peak = 0

    def alloc(self, key: tuple, nbytes: int) -> None:
        if key not in self.sizes:
            self.sizes[key] = nbytes
            self.current += nbytes
            self.peak = max(self.peak, self.current)

    def free(self, key: tuple) -> None:
        self.current -= self.sizes.pop(key, 0)


def _peak_bytes(outputs: Sequence[nn.Variable], training: bool, scratch: bool = False,
                trace: Optional[list] = None) -> int:
    """Replay NNabla's buffer rules over the graph of ``outputs`` and return the peak
    of live bytes.

    The rules are those of ``ForwardCallback`` and ``BackwardCallback`` in NNabla's
    ``src/nbla/computation_graph/variable.cpp`` (1.39), with what NNabla's Python API
    shows of each function: ``inplace_data``, ``grad_depends_input_data`` and
    ``grad_depends_output_data``. Three properties it does not show are taken as
    false, as they are for all but a few rare functions: ``inplace_grad``,
    ``prohibit_clear_input_buffers`` and ``overwrite_input_data_in_forward``.

    With ``trace``, append ``(pass, function, live bytes while it runs)`` for every
    function run, for comparisons with measurements.
    """
    funcs = forward_order(outputs)
    need_grad: Dict[object, bool] = {}  # function -> whether it needs gradients
    rank: Dict[object, int] = {}        # function -> NNabla's rank (depth)

    def state(v) -> bool:  # the need_grad state of a variable
        return bool(v.need_grad) if v.parent is None else need_grad[v.parent]

    for f in funcs:
        need_grad[f] = any(state(v) for v in f.inputs)
        rank[f] = 1 + max((rank[v.parent] for v in f.inputs if v.parent is not None),
                          default=0)

    live = _Live()
    owner: Dict[object, object] = {}  # variable -> variable owning its data buffer
    visits: Dict[object, int] = {}
    kept, inplaced = set(), set()     # never released by forward

    def last_visit(v) -> bool:  # check_last_visit
        refs = len(v.function_references)
        if refs < 2:
            return True
        visits[v] = visits.get(v, 0) + 1
        return visits[v] == refs

    # Forward: a function writes its outputs, then releases the inputs it was the
    # last consumer of, unless in-place functions share them or, for training, some
    # function's backward reads them.
    for f in funcs:
        n = len(f.inputs)
        if scratch and f.info.type_name in SCRATCH:
            live.alloc(("scratch", f), SCRATCH[f.info.type_name](f) * BYTES_PER_VALUE)
        shared = {f.inplace_data_with(i): i for i in range(n) if f.inplace_data(i)}
        for o, v in enumerate(f.outputs):
            if o in shared:
                src = f.inputs[shared[o]]
                owner[v] = owner.get(src, src)
            else:
                owner[v] = v
                live.alloc(("data", v), _nbytes(v))
        if trace is not None:
            trace.append(("forward", f, live.current))
        if training and need_grad[f]:
            kept.update(v for o, v in enumerate(f.outputs)
                        if any(f.grad_depends_output_data(i, o) for i in range(n)))
        for j, v in enumerate(f.inputs):
            if training and need_grad[f] and any(f.grad_depends_input_data(i, j)
                                                 for i in range(n)):
                kept.add(v)
            if f.inplace_data(j):
                inplaced.update((v, f.outputs[f.inplace_data_with(j)]))
            if not last_visit(v) or v.parent is None or v.persistent or v in inplaced \
                    or (training and v in kept):
                continue
            live.free(("data", owner[v]))
    if not training or outputs[0].parent is None:
        return live.peak

    # Backward from the first output, by decreasing rank (ties: discovery order). A
    # function writes the gradients of its inputs, then releases the data and the
    # gradients of its outputs.
    top = outputs[0].parent
    live.alloc(("grad", outputs[0]), _nbytes(outputs[0]))  # backward(grad=1)
    clear: Dict[object, List[bool]] = {}  # variable -> [release data, release grad]
    ids = {top: 0}
    heap = [(-rank[top], 0, top)]
    while heap:
        _, _, f = heapq.heappop(heap)
        if not need_grad[f]:
            continue
        n = len(f.inputs)
        shared = {f.inplace_data_with(i): i for i in range(n) if f.inplace_data(i)}
        for i, v in enumerate(f.inputs):
            flags = clear.setdefault(v, [True, True])
            if f.inplace_data(i):
                out = f.outputs[f.inplace_data_with(i)]
                if out not in clear or not clear[out][0] or out.persistent:
                    flags[0] = False
        out_flags = []
        for v in f.outputs:
            if v not in clear:  # no one gave it a gradient: kept, and zero-filled
                clear[v] = [False, False]
                if f is not top:
                    live.alloc(("grad", v), _nbytes(v))
            if v.persistent:
                clear[v] = [False, False]
            out_flags.append(list(clear[v]))
        for o in shared:
            out_flags[o][0] = False
        for v in f.inputs:
            if state(v) and v.parent is not None:  # written, or accumulated into
                live.alloc(("grad", v), _nbytes(v))
        if trace is not None:
            trace.append(("backward", f, live.current))
        for (release_data, release_grad), v in zip(out_flags, f.outputs):
            if release_data:
                live.free(("data", owner[v]))
            if release_grad:
                live.free(("grad", v))
        for v in f.inputs:
            p = v.parent
            if p is not None and state(v) and p not in ids:
                ids[p] = len(ids)
                heapq.heappush(heap, (-rank[p], ids[p], p))
    return live.peak
