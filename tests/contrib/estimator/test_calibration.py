"""Calibration: the fit on synthetic data, the calibration of a real table, and the
calibration by default: stored in the device's persistent table, reused, redone for
another device, and never half-written."""
import json
import os

import numpy as np
import pytest

from nnabla_nas.contrib.estimator import LatencyEstimator, ProfileTable, fit_calibration
from nnabla_nas.contrib.estimator import calibration as cal
from nnabla_nas.contrib.estimator import measure
from nnabla_nas.contrib.estimator.calibration import default_networks
from nnabla_nas.contrib.estimator.table import default_table_path
from nnabla_nas.utils.cache import CACHE_ENV

from .helpers import fast_estimator, small_block


def rows(sums, counts):
    return np.stack([sums, counts], axis=1)


def test_fit_recovers_known_coefficients():
    rng = np.random.RandomState(0)
    sums = rng.uniform(5, 50, size=6)
    counts = rng.randint(50, 150, size=6)
    measured = 1.12 * sums + 0.004 * counts
    fit = fit_calibration(rows(sums, counts), measured)
    assert fit["a"] == pytest.approx(1.12, rel=1e-6)
    assert fit["b"] == pytest.approx(0.004, rel=1e-5)
    assert set(fit) == {"a", "b", "networks", "rms_relative_error"}
    assert fit["rms_relative_error"] < 1e-9 and fit["networks"] == 6


def test_fit_keeps_coefficients_non_negative():
    sums = np.array([10.0, 20.0, 30.0, 40.0])
    counts = np.array([100, 50, 200, 80])
    measured = 1.5 * sums - 0.01 * counts  # a negative per-function term
    fit = fit_calibration(rows(sums, counts), measured)
    assert fit["b"] == 0.0 and fit["a"] > 0


def test_fit_minimizes_relative_error():
    # One small network 20% off and one large network fit exactly: the relative fit
    # does not sacrifice the small one to the large one's absolute error.
    fit = fit_calibration(rows([1.0, 100.0], [0, 0]), [1.2, 100.0])
    assert 1.0 < fit["a"] < 1.2


@pytest.mark.parametrize("args", [([], []), ([[1.0, 1]], [0.0]),
                                  ([[1.0, 1], [2.0, 1]], [1.0]),
                                  ([[1.0, 1, 0]], [1.0])])
def test_fit_rejects_bad_input(args):
    with pytest.raises(ValueError, match="fit_calibration"):
        fit_calibration(*args)


def test_calibrate_stores_coefficients_in_the_table(tmp_path):
    path = str(tmp_path / "profile.json")
    est = fast_estimator(table=path)
    nets = default_networks((1, 3, 16, 16), seeds=[1, 2])
    before = est.get_estimation(nets[0])
    result = est.calibrate(nets, rounds=1, repeats=2, warmup=1)
    assert set(result) >= {"a", "b", "networks", "seconds"}
    assert result["networks"] == 2
    again = fast_estimator(table=path)
    assert again.calibration["a"] == result["a"]
    specs = est.functions(nets[0])
    sums = sum(est.table.get(s.key) for s in specs)
    assert est.get_estimation(nets[0]) == pytest.approx(
        result["a"] * sums + result["b"] * len(specs))
    assert before == pytest.approx(sums)  # uncalibrated: the plain sum


# ------------------------------------------------------- calibrated by default
@pytest.fixture
def tiny_calibration(monkeypatch, tmp_path):
    """The default calibration on two tiny networks with the fewest repeats, and a
    cache folder of this test's own; counts the calibrations that run."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(cal, "CALIBRATION_SET", ((1, 16), (2, 24)))
    monkeypatch.setattr(cal, "CALIBRATION_TIMING", dict(rounds=1, repeats=2, warmup=1))
    runs = []
    fit = cal.calibrate_graphs

    def counted(*args, **kwargs):
        runs.append(1)
        return fit(*args, **kwargs)

    monkeypatch.setattr(cal, "calibrate_graphs", counted)
    return runs


def default_estimator(**kwargs):
    return LatencyEstimator(warmup=0, repeats=1, **kwargs)


def test_first_use_calibrates_and_stores_it_in_the_device_table(tiny_calibration):
    est = default_estimator()
    path = default_table_path()
    assert est.table.path == path and not os.path.exists(path)
    assert est.get_estimation(small_block()) > 0
    assert tiny_calibration == [1] and est.calibrated
    stored = ProfileTable.load(path, measure.device_fingerprint())
    assert stored.calibration == est.calibration
    # Later estimators (later runs) reuse it: no second calibration.
    again = default_estimator()
    again.get_estimation(small_block())
    assert tiny_calibration == [1] and again.calibration == est.calibration


def test_never_and_always(tiny_calibration):
    est = default_estimator(calibrate_mode="never")
    est.get_estimation(small_block())
    assert tiny_calibration == [] and not est.calibrated
    default_estimator().get_estimation(small_block())
    default_estimator(calibrate_mode="always").get_estimation(small_block())
    assert tiny_calibration == [1, 1]
    with pytest.raises(ValueError, match="calibrate_mode: expected one of"):
        default_estimator(calibrate_mode="sometimes")


def test_a_table_of_another_device_or_version_is_replaced_not_used(tiny_calibration):
    path = default_table_path()
    os.makedirs(os.path.dirname(path))
    other = dict(measure.device_fingerprint(), nnabla="0.0.1")
    block = small_block()
    foreign = ProfileTable(other, path)
    for spec in fast_estimator().functions(block):
        foreign.put(spec.key, 1000.0, 1)  # absurd times: using them would show
    foreign.calibration = {"a": 5.0, "b": 1.0}
    foreign.save()
    est = default_estimator()
    assert est.table.replaces is not None and len(est.table) == 0
    ms = est.get_estimation(block)
    assert tiny_calibration == [1] and est.calibration["a"] != 5.0 and ms < 1000.0
    stored = ProfileTable.load(path, measure.device_fingerprint())
    assert stored.fingerprint["nnabla"] != "0.0.1"
    assert all(stored.get(k) != 1000.0 for k in stored)


def test_a_table_of_the_earlier_three_term_model_is_replaced_and_recalibrated(
        tiny_calibration):
    # Version 1 stored a third term (per input megabyte) that version 2 dropped: such
    # a table is not read with its old fit, it is profiled and calibrated again.
    path = default_table_path()
    os.makedirs(os.path.dirname(path))
    block = small_block()
    old = ProfileTable(measure.device_fingerprint(), path)
    for spec in fast_estimator().functions(block):
        old.put(spec.key, 1000.0, 1)
    old.save()
    data = json.loads(open(path).read())
    data.update(version=1, calibration={"a": 0.7, "b": 0.0, "c": 0.6, "networks": 8})
    with open(path, "w") as f:
        json.dump(data, f)
    est = default_estimator()
    assert "format version 1" in est.table.replaces and len(est.table) == 0
    assert est.get_estimation(block) < 1000.0 and tiny_calibration == [1]
    stored = json.loads(open(path).read())
    assert stored["version"] == measure.TABLE_VERSION == 2
    assert set(stored["calibration"]) >= {"a", "b"} and "c" not in stored["calibration"]


def test_an_interrupted_calibration_leaves_the_table_file_as_it_was(tiny_calibration,
                                                                    monkeypatch):
    est = default_estimator(calibrate_mode="never")
    est.get_estimation(small_block())  # a table file without calibration
    path = est.table.path
    with open(path, "rb") as f:
        before = f.read()
    entries = len(est.table)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cal, "measure_graphs", interrupted)
    est = default_estimator()
    with pytest.raises(KeyboardInterrupt):
        est.get_estimation(small_block(8, 16))
    with open(path, "rb") as f:
        assert f.read() == before
    assert len(est.table) == entries and est.table.calibration is None



def test_a_calibration_another_process_stored_meanwhile_is_used_not_redone(
        tiny_calibration):
    # Two runs started together on a fresh device: both read the table before either
    # calibrated; the first calibrates it, the second takes that calibration.
    first, second = default_estimator(), default_estimator()
    first.get_estimation(small_block())
    assert tiny_calibration == [1]
    second.get_estimation(small_block())
    assert tiny_calibration == [1] and second.calibration == first.calibration
    # "always" still calibrates, whatever the file holds.
    default_estimator(calibrate_mode="always").get_estimation(small_block())
    assert tiny_calibration == [1, 1]


def test_one_process_at_a_time_holds_a_table_file(tmp_path):
    import subprocess
    import sys
    import textwrap

    path = str(tmp_path / "profile.json")
    table = ProfileTable(measure.device_fingerprint(), path)
    order = tmp_path / "order.txt"
    code = textwrap.dedent(f"""
        from nnabla_nas.contrib.estimator import ProfileTable
        from nnabla_nas.contrib.estimator import measure
        table = ProfileTable(measure.device_fingerprint(), {path!r})
        with table.exclusive():
            with open({str(order)!r}, "a") as f:
                f.write("other\\n")
        """)
    with table.exclusive():
        other = subprocess.Popen([sys.executable, "-c", code])
        try:  # the other process waits for the lock until this block ends
            assert other.wait(timeout=3) is None
        except subprocess.TimeoutExpired:
            pass
        with open(order, "a") as f:
            f.write("this\n")
    assert other.wait(timeout=120) == 0
    assert order.read_text().split() == ["this", "other"]
