"""export_nnp and read_nnp_metadata: the file loads with NNabla's own NnpLoader and
computes exactly what the model computes in inference mode; the metadata round trip;
bad input."""
import json
import os
import zipfile
from collections import OrderedDict

import nnabla as nn
import nnabla.functions as F
import numpy as np
import pytest
from nnabla.utils.nnp_graph import NnpLoader
from nnabla.utils.save import save

from nnabla_nas import module as Mo
from nnabla_nas.contrib.darts import Genotype
from nnabla_nas.dataset import cifar10
from nnabla_nas.export import export_nnp, read_nnp_metadata
from nnabla_nas.export.nnp import METADATA_MEMBER

from .networks import ALL_OPS, NETWORKS, build, inference, random_inputs

SHAPE = (3, 6, 6)


def run_nnp(path, x):
    """The output of the file's network on ``x`` through NnpLoader, and the parameters
    it loaded, by name."""
    loader = NnpLoader(path)
    with nn.parameter_scope("", OrderedDict()):
        net = loader.get_network("network", batch_size=len(x))
        params = nn.get_parameters(grad_only=False)
    net.inputs["x"].d = x
    net.outputs["y"].forward(clear_buffer=True)
    return np.array(net.outputs["y"].d), params


def tiny():
    return Mo.Sequential(Mo.Conv(3, 4, (3, 3), pad=(1, 1)), Mo.BatchNormalization(4),
                         Mo.ReLU(), Mo.GlobalAvgPool())


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_nnp_computes_the_inference_outputs_exactly(tmp_path, name):
    case = build(name)
    nodes = [m for _, m in case.net.get_modules()]
    nodes[-1].training = False  # a module's own mode survives the export
    path = export_nnp(case.net, case.shape, str(tmp_path / "net.nnp"), batch_size=2)
    assert path == str(tmp_path / "net.nnp")
    assert [m.training for m in nodes] == [True] * (len(nodes) - 1) + [False]
    x = random_inputs(case.shape, 2)
    out, params = run_nnp(path, x)
    assert out.shape == (2, 10)
    np.testing.assert_array_equal(out, inference(case.net, x))
    # Exactly the parameters inference reads (no auxiliary head), by hierarchical name.
    expected = {k: p for k, p in case.net.get_parameters().items()
                if not k.startswith("auxiliary_head/")}
    assert set(params) == set(expected)
    for k, p in expected.items():
        np.testing.assert_array_equal(params[k].d, p.d, err_msg=k)


def test_darts_export_leaves_out_drop_path_and_the_auxiliary_head(tmp_path):
    case = build("darts")
    assert case.net.auxiliary and case.net.drop_path_prob > 0
    path = export_nnp(case.net, case.shape, tmp_path / "net.nnp")
    with zipfile.ZipFile(path) as nnp:
        nntxt = nnp.read("network.nntxt").decode()
    types = {line.split('"')[1] for line in nntxt.splitlines()
             if line.strip().startswith("type:") and '"' in line}
    assert "Convolution" in types and "BatchNormalization" in types
    assert not {t for t in types if t.startswith("Rand")}
    assert "batch_stat: true" not in nntxt
    assert "auxiliary_head" not in nntxt


def test_metadata_round_trip(tmp_path):
    case = build("darts")
    pre = {"scale": 1 / 255, "mean": cifar10.MEAN, "std": cifar10.STD}
    path = export_nnp(case.net, case.shape, tmp_path / "net.nnp", arch=ALL_OPS,
                      preprocessing=pre, batch_size=3)
    meta = read_nnp_metadata(path)
    assert meta["arch"] == case.arch
    assert Genotype.from_dict(meta["arch"]) == ALL_OPS
    assert meta["preprocessing"] == {"scale": 1 / 255, "mean": list(cifar10.MEAN),
                                     "std": list(cifar10.STD), "input_shape": [3, 16, 16]}
    assert meta["input"] == {"name": "x", "shape": [3, 3, 16, 16]}
    assert meta["output"] == {"name": "y", "shape": [3, 10]}
    assert (meta["network"], meta["executor"]) == ("network", "runtime")
    assert meta["nnabla_version"] == nn.__version__
    with zipfile.ZipFile(path) as nnp:
        assert sorted(nnp.namelist()) == sorted(
            ["nnp_version.txt", "network.nntxt", "parameter.h5", METADATA_MEMBER])


def test_one_mean_and_std_for_all_channels_and_no_arch(tmp_path):
    path = export_nnp(tiny(), SHAPE, tmp_path / "net.nnp",
                      preprocessing={"scale": 1 / 16, "mean": 0.3, "std": [0.4],
                                     "input_shape": list(SHAPE)})
    meta = read_nnp_metadata(path)
    assert meta["preprocessing"] == {"scale": 1 / 16, "mean": [0.3], "std": [0.4],
                                     "input_shape": list(SHAPE)}
    assert meta["arch"] is None


def test_a_plain_constant_variable_is_stored_with_the_parameters(tmp_path):
    c = nn.Variable.from_numpy_array(np.arange(4, dtype=np.float32).reshape(1, 4))
    net = Mo.Sequential(tiny(), Mo.Lambda(lambda h: h * c, name="scale"))
    path = export_nnp(net, SHAPE, tmp_path / "net.nnp", batch_size=2)
    x = random_inputs(SHAPE, 2)
    out, params = run_nnp(path, x)
    np.testing.assert_array_equal(params["constant/0"].d, c.d)
    np.testing.assert_array_equal(out, inference(net, x))


PRE = {"scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


@pytest.mark.parametrize("change, key", [
    ({"std": None}, "preprocessing.std: missing key"),
    ({"std": [0.2, 0.0, 0.2]}, "preprocessing.std"),
    ({"mean": [0.5, 0.5]}, "preprocessing.mean"),
    ({"mean": "0.5"}, "preprocessing.mean"),
    ({"scale": 0}, "preprocessing.scale"),
    ({"scale": float("nan")}, "preprocessing.scale"),
    ({"crop": 4}, "preprocessing.crop: unknown key"),
    ({"input_shape": [3, 8, 8]}, "preprocessing.input_shape"),
])
def test_bad_preprocessing_names_the_key_and_writes_nothing(tmp_path, change, key):
    pre = {k: v for k, v in {**PRE, **change}.items() if v is not None}
    with pytest.raises(ValueError, match=key):
        export_nnp(tiny(), SHAPE, tmp_path / "net.nnp", preprocessing=pre)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kwargs, error, key", [
    ({"shape": (3, 0, 6)}, ValueError, "shape"),
    ({"shape": 3}, ValueError, "shape"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": True}, ValueError, "batch_size"),
    ({"path": "net.onnx"}, ValueError, "path"),
    ({"model": "net"}, TypeError, "model"),
    ({"arch": ["sep_conv_3x3"]}, TypeError, "arch"),
    ({"arch": {"op": object()}}, TypeError, "arch"),
    ({"preprocessing": [1, 2]}, TypeError, "preprocessing"),
])
def test_bad_arguments_are_named(tmp_path, kwargs, error, key):
    args = {"model": tiny(), "shape": SHAPE, "path": "net.nnp", **kwargs}
    args["path"] = str(tmp_path / args["path"])
    with pytest.raises(error, match=key):
        export_nnp(args.pop("model"), args.pop("shape"), args.pop("path"), **args)
    assert os.listdir(tmp_path) == []


def test_a_failed_export_leaves_an_existing_file_untouched(tmp_path):
    path = tmp_path / "net.nnp"
    path.write_bytes(b"previous")
    two_outputs = Mo.Lambda(lambda x: [x * 2, x * 3])
    with pytest.raises(ValueError, match="returns 2 outputs"):
        export_nnp(two_outputs, SHAPE, path)
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["net.nnp"]


def test_a_graph_that_draws_random_numbers_is_refused(tmp_path):
    noisy = Mo.Lambda(lambda x: x * F.rand(shape=x.shape))
    with pytest.raises(ValueError, match="not deterministic.*Rand"):
        export_nnp(noisy, SHAPE, tmp_path / "net.nnp")


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_nnp(tiny(), SHAPE, tmp_path / "no" / "net.nnp")


def test_metadata_of_other_files_is_an_error_naming_the_file(tmp_path):
    foreign = str(tmp_path / "foreign.nnp")
    x = nn.Variable((1,) + SHAPE)
    with nn.parameter_scope("", OrderedDict()):
        save(foreign, {"networks": [{"name": "n", "batch_size": 1,
                                     "outputs": {"y": F.relu(x)}, "names": {"x": x}}],
                       "executors": [{"name": "runtime", "network": "n", "data": ["x"],
                                      "output": ["y"]}]})
    with pytest.raises(ValueError, match=f"{foreign}: no {METADATA_MEMBER}"):
        read_nnp_metadata(foreign)
    text = tmp_path / "text.nnp"
    text.write_text("not a zip")
    with pytest.raises(ValueError, match="not an NNP file"):
        read_nnp_metadata(text)
    newer = tmp_path / "newer.nnp"
    with zipfile.ZipFile(newer, "w") as z:
        z.writestr(METADATA_MEMBER, json.dumps({"format": "nnabla-nas-export",
                                                "version": 99}))
    with pytest.raises(ValueError, match="version: expected 1, got 99"):
        read_nnp_metadata(newer)
    with pytest.raises(FileNotFoundError):
        read_nnp_metadata(tmp_path / "missing.nnp")
