"""export_onnx: ONNX Runtime computes what NNabla computes (within 1e-4), for a DARTS
network with every candidate operation and a MobileNetV2-style network; the fixes to
the converter; errors that name the file and the function."""
import json
import os
import sys
from collections import OrderedDict

import nnabla as nn
import nnabla.functions as F
import numpy as np
import onnx
import onnxruntime
import pytest
from nnabla.utils.save import save

from nnabla_nas import module as Mo
from nnabla_nas.contrib.darts.ops import CANDIDATES
from nnabla_nas.export import (ConverterNotInstalledError, OnnxExportError,
                               UnsupportedFunctionError, export_nnp, export_onnx,
                               read_nnp_metadata)
from nnabla_nas.export.onnx import METADATA_KEY, OPSETS

from .networks import ALL_OPS, NETWORKS, build, inference, random_inputs

TOLERANCE = 1e-4


def session(path):
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def max_diff(model, path, x):
    """Largest absolute difference between ONNX Runtime on the ONNX file ``path`` and
    NNabla's inference on ``model``, for the batch ``x``."""
    out = session(path).run(["y"], {"x": x})[0]
    return float(np.abs(out - inference(model, x)).max())


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def exported(request, tmp_path_factory):
    """A network and its NNP file (batch size 2), once per network for both opsets."""
    case = build(request.param)
    folder = tmp_path_factory.mktemp(request.param)
    return case, export_nnp(case.net, case.shape, str(folder / "net.nnp"),
                            arch=case.arch, batch_size=2,
                            preprocessing={"scale": 1 / 255, "mean": 0.5, "std": 0.25})


def test_the_darts_network_uses_every_candidate_operation():
    assert {op for op, _ in ALL_OPS.normal} == set(CANDIDATES)
    assert {op for op, _ in ALL_OPS.reduce} == set(CANDIDATES)


@pytest.mark.parametrize("opset", OPSETS)
def test_onnx_runtime_matches_nnabla(exported, opset, tmp_path):
    case, nnp = exported
    path = export_onnx(nnp, tmp_path / "net.onnx", opset=opset)
    assert path == str(tmp_path / "net.onnx")
    model = onnx.load(path)
    assert [o.version for o in model.opset_import] == [opset]
    inputs, outputs = session(path).get_inputs(), session(path).get_outputs()
    assert [(i.name, i.shape) for i in inputs] == [("x", [2, *case.shape])]
    assert [(o.name, o.shape) for o in outputs] == [("y", [2, 10])]
    for seed in (1, 2):
        assert max_diff(case.net, path, random_inputs(case.shape, 2, seed)) <= TOLERANCE
    meta = session(path).get_modelmeta().custom_metadata_map
    assert json.loads(meta[METADATA_KEY]) == read_nnp_metadata(nnp)


@pytest.mark.parametrize("including_pad", [False, True])
@pytest.mark.parametrize("stride, size", [(1, 6), (2, 6), (2, 7)])
def test_average_pooling_with_and_without_the_padding(tmp_path, including_pad, stride,
                                                      size):
    pool = Mo.AvgPool((3, 3), stride=(stride, stride), pad=(1, 1),
                      including_pad=including_pad)
    nnp = export_nnp(pool, (4, size, size), tmp_path / "pool.nnp", batch_size=2)
    path = export_onnx(nnp, tmp_path / "pool.onnx")
    assert max_diff(pool, path, random_inputs((4, size, size), 2)) <= 1e-6
    if not including_pad:  # one node, averaging over the real pixels only
        [node] = onnx.load(path).graph.node
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert (node.op_type, attributes["count_include_pad"]) == ("AveragePool", 0)


class Merge(Mo.Module):
    """Merging of three variables made from the one input."""

    def __init__(self, mode):
        self.merge = Mo.Merging(mode)

    def call(self, x):
        return self.merge(x, F.relu(x), x * 0.5)


@pytest.mark.parametrize("mode, op", [("add", "Sum"), ("mul", "Mul")])
def test_merging_of_several_inputs_converts(tmp_path, mode, op):
    net = Merge(mode)
    nnp = export_nnp(net, (2, 3, 3), tmp_path / "merge.nnp", batch_size=2)
    path = export_onnx(nnp, tmp_path / "merge.onnx")
    assert op in [n.op_type for n in onnx.load(path).graph.node]
    assert max_diff(net, path, random_inputs((2, 3, 3), 2)) <= 1e-6


def test_an_unconvertible_function_is_named_with_the_file(tmp_path):
    nnp = export_nnp(Mo.Lambda(F.mish), (2, 3, 3), tmp_path / "mish.nnp")
    with pytest.raises(UnsupportedFunctionError, match=f"{nnp}.*Mish") as info:
        export_onnx(nnp, tmp_path / "mish.onnx")
    assert info.value.functions == ["Mish"]
    assert os.listdir(tmp_path) == ["mish.nnp"]


def test_a_missing_converter_says_how_to_install_it(tmp_path, monkeypatch):
    nnp = export_nnp(Mo.ReLU(), (2, 3, 3), tmp_path / "relu.nnp")
    monkeypatch.setitem(sys.modules, "nnabla.utils.converter.onnx", None)
    with pytest.raises(ConverterNotInstalledError,
                       match="pip install --no-deps nnabla-converter==" + nn.__version__):
        export_onnx(nnp, tmp_path / "relu.onnx")


def test_an_nnp_file_of_other_tools_converts_without_metadata(tmp_path):
    nnp = str(tmp_path / "foreign.nnp")
    x = nn.Variable((1, 2, 3, 3))
    with nn.parameter_scope("", OrderedDict()):
        save(nnp, {"networks": [{"name": "n", "batch_size": 1,
                                 "outputs": {"y": F.relu(x)}, "names": {"x": x}}],
                   "executors": [{"name": "runtime", "network": "n", "data": ["x"],
                                  "output": ["y"]}]})
    path = export_onnx(nnp, tmp_path / "foreign.onnx")
    assert METADATA_KEY not in session(path).get_modelmeta().custom_metadata_map
    x = random_inputs((2, 3, 3), 1)
    np.testing.assert_array_equal(session(path).run(["y"], {"x": x})[0],
                                  np.maximum(x, 0))


def test_bad_input_is_named(tmp_path):
    nnp = export_nnp(Mo.ReLU(), (2, 3, 3), tmp_path / "relu.nnp")
    with pytest.raises(ValueError, match="opset: expected one of"):
        export_onnx(nnp, tmp_path / "relu.onnx", opset=12)
    with pytest.raises(FileNotFoundError, match="missing.nnp"):
        export_onnx(tmp_path / "missing.nnp", tmp_path / "relu.onnx")
    text = tmp_path / "text.nnp"
    text.write_text("not a zip")
    with pytest.raises(OnnxExportError, match=f"{text}: not a readable NNP file"):
        export_onnx(text, tmp_path / "relu.onnx")
    assert sorted(os.listdir(tmp_path)) == ["relu.nnp", "text.nnp"]
