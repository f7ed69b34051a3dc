"""Convert an NNP file to ONNX in process, with NNabla's own converter.

NNabla's ONNX exporter ships in the ``nnabla-converter`` package (importable as
``nnabla.utils.converter.onnx``), which needs only ``onnx`` for ONNX export. Its
declared requirements also pull TensorFlow for its other converters, so install it
without them::

    pip install "onnx~=1.13.1" && pip install --no-deps nnabla-converter==NNABLA_VERSION

with the version of the installed nnabla (its converter requires that exact version).

Three conversions are given to the exporter, on this conversion's exporter object only
(see :func:`_conversions`):

* NNabla's ``AveragePooling`` with ``including_pad=False`` (DARTS' ``avg_pool_3x3``)
  becomes one ONNX ``AveragePool`` with ``count_include_pad=0``, its exact meaning.
  nnabla-converter 1.39 instead pads the input with copies of its border values and
  averages over the full window, which changes every average along the border.
* ``AddN`` (``F.add_n``: ``Merging(mode='add')``, the DARTS search cell) becomes ONNX
  ``Sum`` and ``MulN`` (``Merging(mode='mul')``) a chain of ``Mul``, when the exporter
  has no conversion of its own for them (1.39 has none).

The metadata that :func:`~nnabla_nas.export.export_nnp` recorded (architecture,
preprocessing) is copied into the ONNX model's ``metadata_props`` under the key
:data:`METADATA_KEY`, as JSON.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from ..utils.output import atomic_path
from .nnp import _read_metadata

#: The opset the converter writes by default.
DEFAULT_OPSET = 11
#: The ONNX opsets nnabla-converter 1.39 writes.
OPSETS = (7, 9, 10, 11, 13)
#: The ``metadata_props`` key holding the NNP metadata as JSON.
METADATA_KEY = "nnabla_nas"
PathLike = Union[str, "os.PathLike[str]"]


class ConverterNotInstalledError(ImportError):
    """NNabla's ONNX converter or the ``onnx`` package is missing."""


class OnnxExportError(ValueError):
    """NNabla's converter cannot turn this NNP file into a valid ONNX model."""


class UnsupportedFunctionError(OnnxExportError):
    """The network runs functions NNabla's ONNX exporter has no conversion for.

    Attributes:
        functions: The unsupported function types, e.g. ``['CumSum']``.
    """

    def __init__(self, message: str, functions: Sequence[str]):
        super().__init__(message)
        self.functions = list(functions)


def _converter():
    """``(onnx, NnpImporter, OnnxExporter)``, imported on first use."""
    try:
        import onnx
        from nnabla.utils.converter.nnabla import NnpImporter
        from nnabla.utils.converter.onnx import OnnxExporter
    except ImportError as e:
        import nnabla
        raise ConverterNotInstalledError(
            f"export_onnx: NNabla's ONNX converter is not available ({e}); install it "
            'with: pip install "onnx~=1.13.1" && pip install --no-deps '
            f"nnabla-converter=={nnabla.__version__}") from None
    return onnx, NnpImporter, OnnxExporter


def _check_opset(opset: Any) -> int:
    if opset is None:
        return DEFAULT_OPSET
    if isinstance(opset, bool) or opset not in OPSETS:
        raise ValueError(f"export_onnx: opset: expected one of {list(OPSETS)}, got "
                         f"{opset!r}")
    return int(opset)


def _average_pooling(onnx, shapes: Dict[str, List[int]], fallback: Callable,
                     source: str) -> Callable:
    """The ``AveragePooling`` conversion: ``including_pad=False`` with padding as one
    ``AveragePool`` with ``count_include_pad=0``; every other case by ``fallback``
    (the converter's own, right when no padded pixel is left out)."""

    def convert(func) -> list:
        p = func.average_pooling_param
        kernel, stride, pad = list(p.kernel.dim), list(p.stride.dim), list(p.pad.dim)
        if p.including_pad or not any(pad):
            return fallback(func)
        if not p.ignore_border or len(shapes[func.input[0]]) != len(kernel) + 2:
            raise UnsupportedFunctionError(
                f"{source}: {func.name}: AveragePooling with including_pad=False and "
                "padding converts only with ignore_border=True on (N, C, spatial...) "
                "inputs", ["AveragePooling"])
        return [onnx.helper.make_node(
            "AveragePool", [func.input[0]], [func.output[0]], kernel_shape=kernel,
            strides=stride, pads=pad + pad, count_include_pad=0)]

    return convert


def _product(onnx) -> Callable:
    """``MulN`` as a chain of ``Mul`` nodes (an ``Identity`` for one input)."""

    def convert(func) -> list:
        inputs, output = list(func.input), func.output[0]
        if len(inputs) == 1:
            return [onnx.helper.make_node("Identity", inputs, [output])]
        nodes, product = [], inputs[0]
        for i, factor in enumerate(inputs[1:], start=2):
            target = output if i == len(inputs) else f"{output}_mul{i}"
            nodes.append(onnx.helper.make_node("Mul", [product, factor], [target]))
            product = target
        return nodes

    return convert


def _conversions(onnx, table: Dict[str, Any], shapes: Dict[str, List[int]],
                 source: str) -> Dict[str, Any]:
    """``table``, the exporter's conversions by NNabla function type, with ours (see
    the module docstring)."""
    table = dict(table)
    table["AveragePooling"] = _average_pooling(onnx, shapes, table["AveragePooling"],
                                               source)
    table.setdefault("AddN", lambda func: [onnx.helper.make_node(
        "Sum", list(func.input), list(func.output))])
    table.setdefault("MulN", _product(onnx))
    return table


def export_onnx(nnp_path: PathLike, onnx_path: PathLike,
                opset: Optional[int] = None) -> str:
    """Convert the NNP file ``nnp_path`` to the ONNX file ``onnx_path``.

    The first executor's network is converted at the batch size stored in the file.
    The result is checked with ``onnx.checker`` before it is written (atomically).

    Args:
        nnp_path: An NNP file, e.g. from :func:`~nnabla_nas.export.export_nnp`.
        onnx_path: The ONNX file to write.
        opset: The ONNX opset, one of :data:`OPSETS` (default :data:`DEFAULT_OPSET`).

    Returns:
        ``onnx_path``.

    Raises:
        ConverterNotInstalledError: if ``onnx`` or ``nnabla-converter`` is missing; the
            message says how to install them.
        FileNotFoundError: if ``nnp_path`` does not exist.
        UnsupportedFunctionError: naming the file and every function type the exporter
            cannot convert.
        OnnxExportError: naming the file, if the conversion fails otherwise or its
            result is not a valid ONNX model.
    """
    opset = _check_opset(opset)
    source, onnx_path = os.fspath(nnp_path), os.fspath(onnx_path)
    if not os.path.isfile(source):
        raise FileNotFoundError(f"export_onnx: no such file: {source!r}")
    onnx, NnpImporter, OnnxExporter = _converter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
            nnp = NnpImporter(source, expand_network=True, executor_index=0).execute()
        network = next(n for n in nnp.protobuf.network
                       if n.name == nnp.protobuf.executor[0].network_name)
    except Exception as e:  # the importer raises many kinds for a foreign file
        raise OnnxExportError(f"{source}: not a readable NNP file with an executor "
                              f"({type(e).__name__}: {e})") from e
    exporter = OnnxExporter(nnp, network.batch_size, -1, opset=str(opset))
    shapes = {v.name: list(v.shape.dim) for v in network.variable}
    table = _conversions(onnx, exporter.nnabla_function_type_to_onnx_optype, shapes,
                         source)
    functions = {f.type: f.name for f in network.function}
    missing = sorted(set(functions) - set(table))
    if missing:
        raise UnsupportedFunctionError(
            f"{source}: NNabla's ONNX exporter (opset {opset}) has no conversion for "
            + ", ".join(f"{t} (e.g. function {functions[t]!r})" for t in missing),
            missing)
    exporter.nnabla_function_type_to_onnx_optype = table
    try:
        with warnings.catch_warnings():  # it calls numpy's deprecated tostring()
            warnings.filterwarnings("ignore", category=DeprecationWarning,
                                    module=r"nnabla\.utils\.converter")
            model = exporter.export_model_proto()
        onnx.checker.check_model(model)
    except UnsupportedFunctionError:
        raise
    except Exception as e:  # the exporter's and the checker's own errors
        raise OnnxExportError(f"{source}: conversion to ONNX opset {opset} failed "
                              f"({type(e).__name__}: {e})") from e
    metadata = _read_metadata(source, required=False)
    if metadata is not None:
        onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(metadata)})
    with atomic_path(onnx_path) as tmp:
        with open(tmp, "wb") as f:
            f.write(model.SerializeToString())
            f.flush()
            os.fsync(f.fileno())
    return onnx_path
