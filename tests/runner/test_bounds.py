"""The ``bounds`` of summary.json: a search's bounds checked on the delivered network,
by measurement; a bound that does not hold is said in the run's last lines (exit 0);
a cost that cannot be measured is reported as unmeasured, never as held; and no
activation figure of 0 that is not a measurement."""
import json

import pytest
import yaml

from nnabla_nas import module as Mo
from nnabla_nas.cli import main
from nnabla_nas.config.loader import from_dict
from nnabla_nas.contrib.estimator import ESTIMATORS, Estimator
from nnabla_nas.contrib.estimator import activation as activation_module
from nnabla_nas.contrib.estimator.activation import ActivationEstimator
from nnabla_nas.contrib.estimator.base import figure
from nnabla_nas.contrib.estimator.memory import MemoryEstimator
from nnabla_nas.contrib.estimator.peak_memory import supported
from nnabla_nas.contrib.pnas.blocks import random_mobilenet
from nnabla_nas.export import export_nnp, export_onnx
from nnabla_nas.runner.hardware import TOLERANCE, bound_messages, bounds_summary, \
    delivered_summary, one_inference
from nnabla_nas.runner.regularizer import CostTerm, cost_config
from nnabla_nas.utils.context import Device
from tests.tiny import tiny_run

SHAPE = (3, 16, 16)


def term(name, **values):
    config = from_dict(cost_config(ESTIMATORS.get(name)), values, f"search.costs.{name}")
    return CostTerm(name, f"search.costs.{name}", config)


class ConvLayers(Estimator):
    """Convolutions on the path that runs; nothing it can measure."""

    unit = "layers"
    summary_key = "conv_layers"

    def _predict(self, module):
        return float(isinstance(module, (Mo.Conv, Mo.DwConv)))


class MeasuredConvLayers(ConvLayers):
    """The same, with a 'measurement' twice the estimate (a stand-in for a device on
    which the estimate is far too low)."""

    summary_key = "measured_conv_layers"

    def report(self, inference):
        estimated = self.get_estimation(inference.model)
        return {f"estimated_{self.summary_key}": figure(estimated),
                f"measured_{self.summary_key}": figure(2 * estimated)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("net")
    net = random_mobilenet(1)
    nnp = export_nnp(net, SHAPE, str(folder / "net.nnp"))
    return net, nnp, export_onnx(nnp, str(folder / "net.onnx"))


def test_a_latency_bound_is_checked_on_the_files_delivered(exported):
    net, nnp, onnx = exported
    loose, tight = 1e6, 1e-6
    bounds = bounds_summary(net, SHAPE, [term("latency", mode="hard", bound=loose)],
                            nnp_path=nnp, onnx_path=onnx)
    b = bounds["latency"]
    assert b["key"] == "search.costs.latency" and b["bound"] == loose
    assert b["unit"] == "ms" and b["tolerance"] == TOLERANCE and b["estimated"] > 0
    assert set(b["measured"]) == {"in_memory", "nnp", "onnxruntime"}
    assert all(v > 0 for v in b["measured"].values())
    assert b["holds"] is True and bound_messages(bounds) == []

    bounds = bounds_summary(net, SHAPE, [term("latency", mode="hard", bound=tight)],
                            nnp_path=nnp, onnx_path=onnx)
    assert bounds["latency"]["holds"] is False
    (line,) = bound_messages(bounds)
    assert line.startswith("search.costs.latency.bound: the delivered network does NOT "
                           "meet the hard bound of 1e-06 ms in measurement")


def test_the_figures_and_the_bounds_of_a_run_are_one_measurement(exported, monkeypatch):
    """A bound on latency with the default options reuses the summary's measurement:
    the network is timed once per runtime, and summary.json shows one figure (two
    measurements moments apart had disagreed by 1.6x on a shared machine)."""
    from nnabla_nas.contrib.estimator import delivered
    net, nnp, onnx = exported
    calls = []
    real = delivered.time_nnp
    monkeypatch.setattr(delivered, "time_nnp",
                        lambda *a, **k: calls.append(a) or real(*a, **k))
    figures, bounds = delivered_summary(
        net, SHAPE, [term("latency", mode="hard", bound=1e6),
                     term("memory", mode="soft", weight=0.1)], nnp_path=nnp, onnx_path=onnx)
    assert len(calls) == 1 and set(bounds) == {"latency"}
    measured = bounds["latency"]["measured"]
    assert measured["in_memory"] == figures["measured_latency_ms"]
    assert measured["nnp"] == figures["measured_latency_ms_nnp"]
    assert bounds["latency"]["estimated"] == figures["estimated_latency_ms"]


def test_a_cost_that_cannot_be_measured_is_reported_as_unmeasured(exported):
    net, nnp, onnx = exported
    with ESTIMATORS.temporarily("conv_layers", ConvLayers):
        bounds = bounds_summary(net, SHAPE, [term("conv_layers", mode="hard", bound=1e9),
                                             term("memory", mode="hard", bound=1e9)],
                                nnp_path=nnp, onnx_path=onnx)
    for name in ("conv_layers", "memory"):
        assert bounds[name]["holds"] is None and bounds[name]["measured"] == {}
        assert "cannot be measured on this device" in bounds[name]["reason"]
    assert [line.split(":")[0] for line in bound_messages(bounds)] == [
        "search.costs.conv_layers.bound", "search.costs.memory.bound"]


@pytest.mark.slow
def test_a_bound_failing_in_measurement_ends_the_run_and_its_log(tmp_path, capsys):
    config = tiny_run()
    config["search"].update(epochs=1, warmup_epochs=0)
    config["train"].update(epochs=1)
    # A bound the estimate can meet (the stem, two preprocessing convolutions per cell
    # and the derived ops) that the doubled "measurement" cannot.
    config["search"]["costs"] = {"measured_conv_layers": {"bound": 40, "mode": "hard"}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    args = ["--config", str(tmp_path / "run.yaml"), "--output-path", str(out)]
    with ESTIMATORS.temporarily("measured_conv_layers", MeasuredConvLayers):
        assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    b = summary["bounds"]["measured_conv_layers"]
    assert b["estimated"] <= 40 < b["measured"]["in_memory"] and b["holds"] is False
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("warning: search.costs.measured_conv_layers.bound: the "
                           "delivered network does NOT meet the hard bound of 40 layers")
    log = (out / "log.txt").read_text().strip().splitlines()
    assert "does NOT meet the hard bound of 40 layers" in log[-1]


@pytest.mark.skipif(not supported(), reason="peak memory is read from Linux's /proc")
def test_activation_memory_is_measured_at_a_batch_above_the_resolution(tmp_path):
    net = Mo.Sequential(Mo.Conv(1, 4, (3, 3), pad=(1, 1)), Mo.ReLU())  # 8x8 digits size
    nnp = export_nnp(net, (1, 8, 8), str(tmp_path / "tiny.nnp"))
    with one_inference(net, (1, 8, 8), Device(), nnp) as inference:
        figures = ActivationEstimator().report(inference)
    batch, estimated = figures["measured_activation_batch"], \
        figures["estimated_activation_bytes"]
    assert batch * estimated >= ActivationEstimator.MEASURED_BYTES \
        or batch == ActivationEstimator.MAX_BATCH
    # Per image, as the estimate (2048 bytes at batch 1 would read as 0 or a page).
    assert 0.5 * estimated < figures["measured_activation_bytes"] < 2 * estimated


def test_a_measurement_reading_no_growth_is_not_reported(tmp_path, monkeypatch):
    net = Mo.Sequential(Mo.Conv(1, 4, (3, 3), pad=(1, 1)), Mo.ReLU())
    nnp = export_nnp(net, (1, 8, 8), str(tmp_path / "tiny.nnp"))
    monkeypatch.setattr(activation_module, "measure_nnp",
                        lambda path: {"first": 0, "steady": 0, "batch": 1})
    with one_inference(net, (1, 8, 8), Device(), nnp) as inference:
        figures = ActivationEstimator().report(inference)
    assert "measured_activation_bytes" not in figures
    assert "measured_activation_batch" not in figures
    assert figures["estimated_activation_bytes"] > 0
