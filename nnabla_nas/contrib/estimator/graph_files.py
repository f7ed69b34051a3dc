"""NNabla graphs as files: an NNP network of a graph, and its ONNX model.

Profiling on ONNX Runtime (see :mod:`.ort_profiler`) and latency bundles (see
:mod:`.bundle`) save graphs built in memory: one function alone on random inputs,
or a whole network. Parameters are stored in the file, so that a runtime sees them
as constants (ONNX Runtime pre-packs constant convolution weights and folds batch
normalization into the convolution before it, as it would in deployment); the
graph's inputs stay inputs.
"""
from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import nnabla as nn
from nnabla.utils.save import save as save_nnp

from . import measure

def save_graph(path: str, name: str, inputs: Sequence[nn.Variable],
               outputs: Sequence[nn.Variable],
               parameters: Optional[Dict[str, nn.Variable]] = None) -> None:
    """Save the graph from ``inputs`` (named ``x0``, ``x1``, ...) to ``outputs``
    (``y0``, ...) as an NNP file at batch size 1, with ``parameters`` (name ->
    variable) stored in it by their names."""
    names = {f"x{i}": x for i, x in enumerate(inputs)}
    outs = {f"y{i}": y for i, y in enumerate(outputs)}
    contents = {"networks": [{"name": name, "batch_size": 1, "outputs": outs,
                              "names": names}],
                "executors": [{"name": "runtime", "network": name,
                               "data": list(names), "output": list(outs)}]}
    with nn.parameter_scope("", OrderedDict()):
        for key, value in (parameters or {}).items():
            nn.parameter.set_parameter(key, value)
        save_nnp(path, contents, variable_batch_size=False)


def function_graph(spec: measure.FunctionSpec, ctx, rng=None
                   ) -> Tuple[List[nn.Variable], List[nn.Variable], Dict[str, nn.Variable]]:
    """The function of ``spec`` alone on random inputs (:func:`.measure.build_function`),
    split as a network has it: ``(activation inputs, outputs, parameters)``, the
    parameters being the inputs :data:`.measure.PARAMETER_INPUTS` names (``p1``, ...)."""
    inputs, outputs = measure.build_function(spec, ctx, rng)
    constant = measure.PARAMETER_INPUTS.get(spec.type_name, ())
    data = [x for i, x in enumerate(inputs) if i not in constant]
    parameters = {f"p{i}": x for i, x in enumerate(inputs) if i in constant}
    return data, outputs, parameters


def graph_parameters(inputs: Sequence[nn.Variable], outputs: Sequence[nn.Variable]
                     ) -> Dict[str, nn.Variable]:
    """The variables the graph to ``outputs`` reads besides ``inputs``: its
    parameters (and constants), named ``p0``, ``p1``, ... in execution order."""
    stop, leaves = set(inputs), OrderedDict()
    root = outputs[0] if len(outputs) == 1 else nn.sink(*outputs)

    def visit(f) -> None:
        for v in f.inputs:
            if v.parent is None and v not in stop and v not in leaves:
                leaves[v] = None

    root.visit(visit)
    return {f"p{i}": v for i, v in enumerate(leaves)}


Graph = Tuple[Sequence[nn.Variable], Sequence[nn.Variable], Dict[str, nn.Variable]]


def onnx_models(graphs: Sequence[Graph], opset: Optional[int] = None) -> List[bytes]:
    """The serialized ONNX model of each ``(inputs, outputs, parameters)`` graph, as
    :func:`onnx_model` makes them, converted together: NNabla's exporter costs
    about 0.1 s a call whatever the graph, so the graphs are saved as one network,
    converted once, and each is cut out of the result with
    ``onnx.utils.Extractor`` (its inputs, outputs and the constants it reads)."""
    import onnx
    import onnx.utils
    inputs: List[nn.Variable] = []
    outputs: List[nn.Variable] = []
    parameters: Dict[str, nn.Variable] = {}
    spans = []
    for i, (x, y, p) in enumerate(graphs):
        spans.append((range(len(inputs), len(inputs) + len(x)),
                      range(len(outputs), len(outputs) + len(y))))
        inputs.extend(x)
        outputs.extend(y)
        parameters.update({f"g{i}_{name}": v for name, v in (p or {}).items()})
    if not graphs:
        return []
    if len(graphs) == 1:
        return [onnx_model(inputs, outputs, parameters, opset)]
    extractor = onnx.utils.Extractor(onnx.load_from_string(
        onnx_model(inputs, outputs, parameters, opset)))
    return [extractor.extract_model([f"x{j}" for j in x], [f"y{j}" for j in y]
                                    ).SerializeToString() for x, y in spans]


def onnx_model(inputs: Sequence[nn.Variable], outputs: Sequence[nn.Variable],
               parameters: Optional[Dict[str, nn.Variable]] = None,
               opset: Optional[int] = None) -> bytes:
    """The serialized ONNX model of a graph (by default its parameters are every
    variable it reads besides ``inputs``, see :func:`graph_parameters`), converted
    by NNabla's own exporter (:func:`nnabla_nas.export.export_onnx`).

    Raises:
        ConverterNotInstalledError, OnnxExportError: as ``export_onnx``.
    """
    from ...export.onnx import export_onnx
    inputs, outputs = list(inputs), list(outputs)
    if parameters is None:
        parameters = graph_parameters(inputs, outputs)
    with tempfile.TemporaryDirectory(prefix="nnabla-nas-onnx-") as folder:
        nnp, path = os.path.join(folder, "g.nnp"), os.path.join(folder, "g.onnx")
        save_graph(nnp, "g", inputs, outputs, parameters)
        export_onnx(nnp, path, opset)
        with open(path, "rb") as f:
            return f.read()
