"""Timing helpers: statistics against numpy, and the round-robin order of samples.
Nothing here asserts on how long anything takes."""
import numpy as np
import pytest

from nnabla_nas.contrib.estimator import measure


def test_statistics_against_numpy():
    x = np.random.RandomState(0).exponential(size=41) + 1.0
    assert measure.summarize(x, "median") == pytest.approx(np.median(x))
    assert measure.summarize(x, "lower_quartile") == pytest.approx(np.percentile(x, 25))
    assert measure.summarize(x, "min") == x.min()
    s = np.sort(x)
    assert measure.summarize(x, "trimmed_mean") == pytest.approx(s[10:31].mean())
    with pytest.raises(ValueError, match="statistic: expected one of"):
        measure.summarize(x, "mean")


def test_round_robin_spreads_every_workload_over_every_round():
    calls = []
    runs = [lambda i=i: calls.append(i) for i in range(3)]
    samples = measure.time_round_robin(runs, warmup=1, repeats=5, rounds=2,
                                       min_sample_ms=0.0)
    assert [len(s) for s in samples] == [5, 5, 5]
    # Round 1 times 3 samples of each workload, round 2 two; each run() also gets
    # its warm-up call and one call that sizes the sample.
    first = [i for i in calls[:15]]
    assert first == [0] * 5 + [1] * 5 + [2] * 5
    assert calls[15:] == [0] * 4 + [1] * 4 + [2] * 4


def test_random_inputs_are_mixed_sign_except_variances():
    spec = measure.FunctionSpec("BatchNormalization", {}, [((1, 4, 8, 8), "float32")] +
                                [((1, 4, 1, 1), "float32")] * 4)
    arrays = measure.random_inputs(spec, np.random.RandomState(0))
    assert (arrays[0] < 0).any() and (arrays[0] > 0).any()
    assert (arrays[4] > 0).all()
    ints = measure.random_inputs(measure.FunctionSpec("OneHot", {}, [((2, 1), "int32")]),
                                 np.random.RandomState(0))
    assert ints[0].dtype == np.int32 and not ints[0].any()


def test_samples_span_the_timing_window():
    """``seconds``: more samples than ``repeats`` until they span the window."""
    import time
    samples = measure.time_calls(lambda: time.sleep(0.002), warmup=0, repeats=2,
                                 min_sample_ms=0.0, seconds=0.1)
    assert len(samples) > 2 and sum(samples) >= 0.09 * 1e3
    assert len(measure.time_calls(lambda: None, 0, 3, seconds=0.0)) == 3


@pytest.mark.parametrize("text, seconds", [("", 1.5), ("0", 0.0), (" 2.5 ", 2.5)])
def test_the_measurement_window_comes_from_the_environment(monkeypatch, text, seconds):
    from nnabla_nas.contrib.estimator.latency import SECONDS_ENV, measure_seconds
    monkeypatch.setenv(SECONDS_ENV, text)
    assert measure_seconds(1.5) == seconds


@pytest.mark.parametrize("text", ["-1", "soon", "inf", "nan"])
def test_a_bad_measurement_window_names_the_variable(monkeypatch, text):
    from nnabla_nas.contrib.estimator.latency import SECONDS_ENV, measure_seconds
    monkeypatch.setenv(SECONDS_ENV, text)
    with pytest.raises(ValueError, match=f"^{SECONDS_ENV}: expected a number of seconds"):
        measure_seconds(1.0)
