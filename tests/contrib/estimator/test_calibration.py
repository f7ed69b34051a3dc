"""Calibration: the fit on synthetic data, and the calibration of a real table."""
import numpy as np
import pytest

from nnabla_nas.contrib.estimator import fit_calibration
from nnabla_nas.contrib.estimator.calibration import default_networks

from .helpers import fast_estimator


def test_fit_recovers_known_coefficients():
    rng = np.random.RandomState(0)
    sums = rng.uniform(5, 50, size=6)
    counts = rng.randint(50, 150, size=6)
    measured = 1.12 * sums + 0.004 * counts
    fit = fit_calibration(sums, counts, measured)
    assert fit["a"] == pytest.approx(1.12, rel=1e-9)
    assert fit["b"] == pytest.approx(0.004, rel=1e-6)
    assert fit["rms_relative_error"] < 1e-9 and fit["networks"] == 6


def test_fit_keeps_coefficients_non_negative():
    sums = np.array([10.0, 20.0, 30.0, 40.0])
    counts = np.array([100, 50, 200, 80])
    measured = 1.5 * sums - 0.01 * counts  # a negative per-function term
    fit = fit_calibration(sums, counts, measured)
    assert fit["b"] == 0.0 and fit["a"] > 0


def test_fit_minimizes_relative_error():
    # One small network 20% off and one large network fit exactly: the relative fit
    # does not sacrifice the small one to the large one's absolute error.
    fit = fit_calibration([1.0, 100.0], [0, 0], [1.2, 100.0])
    assert 1.0 < fit["a"] < 1.2


@pytest.mark.parametrize("args", [([], [], []), ([1.0], [1], [0.0]),
                                  ([1.0, 2.0], [1], [1.0])])
def test_fit_rejects_bad_input(args):
    with pytest.raises(ValueError, match="fit_calibration"):
        fit_calibration(*args)


def test_calibrate_stores_coefficients_in_the_table(tmp_path):
    path = str(tmp_path / "profile.json")
    est = fast_estimator(table=path)
    nets = default_networks((1, 3, 16, 16), seeds=[1, 2])
    before = est.get_estimation(nets[0])
    result = est.calibrate(nets, rounds=1, repeats=2, warmup=1)
    assert set(result) >= {"a", "b", "networks", "seconds"} and result["networks"] == 2
    again = fast_estimator(table=path)
    assert again.calibration["a"] == result["a"]
    sums = sum(est.table.get(s.key) for s in est.functions(nets[0]))
    n = len(est.functions(nets[0]))
    assert est.get_estimation(nets[0]) == pytest.approx(
        result["a"] * sums + result["b"] * n)
    assert before == pytest.approx(sums)  # uncalibrated: the plain sum
