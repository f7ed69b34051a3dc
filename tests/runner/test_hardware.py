"""summary.json's hardware figures: estimated and measured latency and memory."""
import nnabla as nn
import numpy as np
import pytest

from nnabla_nas.contrib.estimator.base import module_estimators
from nnabla_nas.contrib.estimator.peak_memory import supported
from nnabla_nas.contrib.pnas.blocks import random_mobilenet
from nnabla_nas.export import export_nnp
from nnabla_nas.runner.hardware import hardware_summary


@pytest.mark.skipif(not supported(), reason="peak memory is read from Linux's /proc")
def test_measured_activation_memory_is_near_the_estimate(tmp_path):
    net = random_mobilenet(1)
    nnp = export_nnp(net, (3, 64, 64), str(tmp_path / "net.nnp"))
    summary = hardware_summary(net, (3, 64, 64), nnp_path=nnp)
    for key in ("estimated_latency_ms", "measured_latency_ms", "estimated_params",
                "estimated_activation_bytes", "measured_activation_bytes"):
        assert summary[key] > 0, key
    estimated, measured = (summary["estimated_activation_bytes"],
                           summary["measured_activation_bytes"])
    assert abs(estimated - measured) / measured < 0.35
    assert net.training  # put back in training mode


def test_without_an_exported_network_memory_is_estimated_only():
    net = random_mobilenet(2)
    net(nn.Variable((1, 3, 32, 32)))
    summary = hardware_summary(net, (3, 32, 32))
    assert "measured_activation_bytes" not in summary
    assert summary["latency_calibrated"] is True  # calibrated by default
    # Every parameter, BN statistics included (as the older API's MemoryEstimator).
    assert summary["estimated_params"] == sum(int(np.prod(p.shape)) for p in
                                              net.get_parameters().values())


@pytest.mark.parametrize("name", [n for n, cls in module_estimators().items()
                                  if cls.summary_key])
def test_every_registered_estimator_reports_its_estimate(name):
    net = random_mobilenet(3)
    summary = hardware_summary(net, (3, 16, 16))
    assert summary[f"estimated_{module_estimators()[name].summary_key}"] > 0
