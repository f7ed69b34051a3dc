"""Meter: sample-weighted means; check_finite: NaN and infinity stop a run by name."""
import math

import numpy as np
import pytest

from nnabla_nas.runner.meter import Meter, NonFiniteError, check_finite


def test_means_are_weighted_by_the_sample_counts():
    meter = Meter()
    meter.update({"loss": 1.0, "error": 0.5}, n=3)
    meter.update({"loss": 4.0, "error": 0.0}, n=1)
    meter.update({"loss": np.float32(2.0)}, n=4)  # a key may be missing from a batch
    means = meter.means()
    assert list(means) == ["loss", "error"]
    assert means["loss"] == pytest.approx((3 * 1.0 + 4.0 + 4 * 2.0) / 8)
    assert means["error"] == pytest.approx((3 * 0.5 + 0.0) / 4)


def test_default_weight_is_one_and_a_fresh_meter_is_empty():
    meter = Meter()
    assert dict(meter.means()) == {}
    for v in (1.0, 2.0, 6.0):
        meter.update({"lr": v})
    assert meter.means()["lr"] == pytest.approx(3.0)


def test_finite_values_pass():
    check_finite({"loss": 0.0, "error": 1.0, "lr": np.float32(1e30), "big": -1e300},
                 "train step 1")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_nan_and_infinity_raise_naming_where_and_the_key(bad):
    with pytest.raises(NonFiniteError) as info:
        check_finite({"loss": 0.5, "arch_loss": bad}, "search step 7 (epoch 2)")
    message = str(info.value)
    assert message.startswith("search step 7 (epoch 2): arch_loss is ")
    assert str(float(bad)).lstrip("-") in message.lower()
