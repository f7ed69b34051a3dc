"""The device onnxruntime-cpu: its name, its table (fingerprint with ONNX Runtime's
version and threads), estimates profiled through ONNX Runtime sessions, calibration
against networks measured through ONNX Runtime, the bundle round trip, and timing an
ONNX file."""
import json
import os
import subprocess
import sys

import nnabla as nn
import numpy as np
import onnxruntime
import pytest

from nnabla_nas.contrib.estimator import (LatencyEstimator, ProfileTableError,
                                          export_bundle, import_table, measure)
from nnabla_nas.contrib.estimator import onnx_runtime as R
from nnabla_nas.contrib.estimator.calibration import default_networks
from nnabla_nas.contrib.estimator.ort_profiler import OrtProfiler
from nnabla_nas.contrib.estimator.profiler import IN_MEMORY, Profiler
from nnabla_nas.utils.context import DEVICES, Device

from .helpers import fast_estimator, small_block


def ort_estimator(**kwargs) -> LatencyEstimator:
    """An onnxruntime-cpu estimator with the fewest timing repeats, an in-memory table
    and no calibration unless asked for (as ``fast_estimator`` for NNabla)."""
    kwargs.setdefault("rounds", 1)
    return fast_estimator(context="onnxruntime-cpu", **kwargs)


@pytest.fixture
def sessions(monkeypatch):
    """Counts the ONNX Runtime sessions made (every profiling goes through them)."""
    made = []
    real = R.make_session

    def counting(model, threads=None):
        made.append(threads)
        return real(model, threads)

    monkeypatch.setattr(R, "make_session", counting)
    return made


# ------------------------------------------------------------------ the device
def test_the_device_trains_on_nnabla_cpu_and_profiles_with_onnx_runtime():
    device = Device("onnxruntime-cpu")
    assert device.runtime == "onnxruntime" and Device("cpu").runtime == "nnabla"
    assert list(device.context.backend) == list(Device("cpu").context.backend)
    assert "onnxruntime-cpu" in DEVICES


@pytest.mark.parametrize("name, hint", [("onnxruntime_cpu", "onnxruntime-cpu"),
                                        ("ort", None), ("", None)])
def test_a_bad_device_name_names_the_key(name, hint):
    with pytest.raises(ValueError, match="^context: expected one of") as info:
        Device(name)
    assert repr(name) in str(info.value)
    if hint:
        assert f"did you mean {hint!r}" in str(info.value)


def test_the_config_accepts_the_device_and_names_the_key_of_a_bad_one():
    from nnabla_nas.config.fields import ConfigError
    from nnabla_nas.config.loader import from_dict
    from nnabla_nas.runner.schema import RunConfig
    from tests.tiny import tiny_run
    assert from_dict(RunConfig, tiny_run(context="onnxruntime-cpu")).context == \
        "onnxruntime-cpu"
    with pytest.raises(ConfigError, match="context") as info:
        from_dict(RunConfig, tiny_run(context="onnxruntime"))
    assert "onnxruntime-cpu" in str(info.value)


def test_without_onnx_runtime_one_error_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    with pytest.raises(R.OnnxRuntimeNotInstalledError, match="pip install onnxruntime"):
        R.make_session(b"")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    from nnabla_nas.utils.context import DeviceError
    with pytest.raises(DeviceError, match="^context: onnxruntime-cpu .*pip install "
                                          "onnxruntime"):
        Device("onnxruntime-cpu")


# ---------------------------------------------------------------- the table
def test_the_table_fingerprint_names_onnx_runtime_and_threads():
    fp = OrtProfiler(table=IN_MEMORY, threads=1).fingerprint
    assert fp["context"] == "onnxruntime-cpu:float"
    assert fp["onnxruntime"] == onnxruntime.__version__ and fp["threads"] == "1"
    assert "onnxruntime " + onnxruntime.__version__ in measure.describe_fingerprint(fp)
    assert OrtProfiler(table=IN_MEMORY).threads == R.nnabla_threads() >= 1


def test_tables_of_other_runtimes_versions_or_threads_are_refused(tmp_path):
    path = str(tmp_path / "ort.json")
    est = ort_estimator(table=path)
    assert est.get_estimation(small_block()) > 0 and os.path.isfile(path)
    with pytest.raises(ProfileTableError, match="made for 'onnxruntime-cpu"):
        Profiler("cpu", table=path)  # NNabla's timings are another device's
    with pytest.raises(ProfileTableError, match="differs in threads"):
        OrtProfiler(table=path, threads=R.nnabla_threads() + 1)
    with open(path) as f:
        data = json.load(f)
    old = dict(data["fingerprint"], onnxruntime="1.0.0")
    (tmp_path / "old.json").write_text(measure.table_text(
        old, data["calibration"], data["entries"], data["statistic"]))
    with pytest.raises(ProfileTableError, match="differs in onnxruntime"):
        ort_estimator(table=str(tmp_path / "old.json"))
    nnabla = str(tmp_path / "nnabla.json")
    fast_estimator(table=nnabla).get_estimation(small_block())
    with pytest.raises(ProfileTableError, match="made for 'cpu:float"):
        ort_estimator(table=nnabla)


# --------------------------------------------------------------- estimates
def test_estimates_are_profiled_through_onnx_runtime_sessions(sessions):
    est = ort_estimator()
    block = small_block()
    ms = est.get_estimation(block)
    specs = {s.key for s in est.functions(block)}
    assert ms > 0 and set(est.table) == specs
    # one session per function, and one per chunk for the session call's own cost
    assert len(sessions) == len(specs) + 1
    assert est.table.fingerprint["context"] == "onnxruntime-cpu:float"


def test_a_function_cheaper_than_the_session_call_keeps_a_share_of_its_raw_time():
    """Subtracting the session call's cost never makes a function free: a run faster
    than the ``overhead`` keeps NET_TIME_FLOOR of its raw time (was 0, which made a
    small block's whole estimate 0 ms once under load)."""
    import time

    def slow_overhead():
        time.sleep(0.002)

    fast, slower = (lambda: None), (lambda: time.sleep(0.004))
    quick, net = R.time_functions([fast, slower], slow_overhead, warmup=1, repeats=3,
                                  rounds=1, statistic="median")
    assert 0 < quick < 0.002 and net > 0.0


def test_the_function_sessions_hold_weights_as_constants():
    from nnabla_nas.contrib.estimator.graph_files import function_graph, onnx_model
    from nnabla_nas.utils.context import make_context
    est = ort_estimator()
    conv = next(s for s in est.functions(small_block()) if s.type_name == "Convolution")
    session = R.make_session(onnx_model(*function_graph(conv, make_context("cpu"))), 1)
    assert [i.name for i in session.get_inputs()] == ["x0"]  # W is an initializer


def test_a_network_through_onnx_runtime_computes_what_nnabla_does():
    from nnabla_nas.contrib.estimator.graph import module_graph
    from nnabla_nas.contrib.estimator.graph_files import onnx_model
    from nnabla_nas.utils.context import make_context
    net = default_networks((1, 3, 16, 16), seeds=[3])[0]
    inputs, outputs = module_graph(net, make_context("cpu"))
    x = np.random.RandomState(0).randn(1, 3, 16, 16).astype(np.float32)
    inputs[0].d = x
    outputs[0].forward()
    session = R.make_session(onnx_model(inputs, outputs), 1)
    np.testing.assert_allclose(session.run(None, {"x0": x})[0], outputs[0].d,
                               atol=1e-4)


def test_calibration_fits_networks_measured_through_onnx_runtime(sessions):
    est = ort_estimator()
    nets = [small_block(), small_block(8, 16)]
    fit = est.calibrate(nets, repeats=2, rounds=1, warmup=1)
    assert fit["networks"] == 2 and est.calibration is not None
    functions = len({s.key for net in nets for s in est.functions(net)})
    # the functions of each network (with the call's cost each time), then each
    # whole network once
    assert len(sessions) == functions + len(nets) + len(nets)


def test_the_report_measures_the_network_through_onnx_runtime(sessions):
    from nnabla_nas.contrib.estimator.base import Inference
    est = ort_estimator()
    net = small_block()
    x = nn.Variable((1, 8, 8, 8))
    x.d = np.random.RandomState(0).randn(*x.shape)
    with nn.auto_forward(False):
        y = net(x)
    before = len(sessions)
    figures = est.report(Inference(net, [y], Device("onnxruntime-cpu")))
    assert figures["measured_latency_ms"] > 0 and figures["estimated_latency_ms"] > 0
    assert len(sessions) > before


# ------------------------------------------------------------- ONNX files
def test_time_onnx_file(tmp_path):
    from nnabla_nas.export import export_nnp, export_onnx
    net = default_networks((1, 3, 16, 16), seeds=[1])[0]
    nnp = export_nnp(net, (3, 16, 16), str(tmp_path / "n.nnp"))
    path = export_onnx(nnp, str(tmp_path / "n.onnx"))
    for statistic in measure.STATISTICS:
        assert R.time_onnx_file(path, warmup=1, repeats=3, statistic=statistic,
                                threads=1) > 0
    assert R.time_onnx_file(path, (1, 3, 16, 16), warmup=0, repeats=1) > 0
    with pytest.raises(ValueError, match="statistic"):
        R.time_onnx_file(path, statistic="mean")
    with pytest.raises(ValueError, match="threads"):
        R.make_session(path, threads=0)


# ------------------------------------------------------------------ bundle
def test_a_bundle_for_onnx_runtime_round_trips(tmp_path):
    folder = tmp_path / "bundle"
    block = small_block()
    nets = [small_block(8, 16), small_block(8, 8, stride=2)]
    manifest = export_bundle(str(folder), block, networks=nets, warmup=0, repeats=2,
                             network_repeats=2, network_rounds=1, runtime="onnxruntime")
    with open(manifest) as f:
        data = json.load(f)
    assert data["runtime"] == "onnxruntime"
    assert all(e["file"].endswith(".onnx") for e in data["functions"] + data["networks"])
    output = str(tmp_path / "profile.json")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-I", str(folder / "run_bundle.py"),
                             "--output", output, "--threads", "1"],
                            capture_output=True, text=True, cwd=str(tmp_path), env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "calibrated on 2" in result.stdout and "onnxruntime-cpu" in result.stdout
    table = import_table(output)
    assert table.fingerprint == R.fingerprint(1) and table.calibration is not None
    est = fast_estimator(table=table)  # estimates for that device, never profiles
    assert est.get_estimation(block) > 0 and est.profiler.profiled == 0
    # the same table is this device's own for an estimator with its threads
    assert OrtProfiler(table=output, threads=1).can_profile


def test_a_bundle_refuses_an_unknown_runtime(tmp_path):
    with pytest.raises(ValueError, match="runtime: expected one of"):
        export_bundle(str(tmp_path / "b"), small_block(), networks=[], runtime="tvm")
    from nnabla_nas.contrib.estimator.runner import check_manifest
    with pytest.raises(ValueError, match="runtime"):
        check_manifest("b", {"format": "nnabla-nas-latency-bundle", "version": 1,
                             "runtime": "tvm"})


def test_estimates_of_a_module_tree_add_up_on_onnx_runtime():
    est = ort_estimator()
    net = small_block()
    total = sum(est.predict(m) for _, m in net.get_modules())
    assert total == pytest.approx(est.get_estimation(net))


# ------------------------------------------------------------ a search step
@pytest.mark.slow
def test_a_search_on_the_digits_profiles_through_onnx_runtime(tmp_path):
    import yaml
    from tests.tiny import tiny_run
    table = tmp_path / "ort.json"
    config = tiny_run(context="onnxruntime-cpu")
    del config["train"]
    # calibrate: never keeps the step short (calibration through ONNX Runtime is
    # tested above); the table is a file, to see whose timings the search used
    config["search"].update(epochs=1, warmup_epochs=0, regularizers={"latency": {
        "weight": 0.1, "bound": 5.0, "mode": "multiplicative", "table": str(table),
        "calibrate": "never"}})
    config["search"]["space"].update(num_nodes=1, multiplier=1)
    config["search"]["searcher"]["order"] = 1
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    result = subprocess.run([sys.executable, os.path.join(root, "main.py"), "--config",
                             str(path), "--output-path", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["context"] == "onnxruntime-cpu"
    assert summary["search_arch_latency_ms"] > 0
    data = import_table(str(table))
    assert data.fingerprint == R.fingerprint() and len(data) > 0
