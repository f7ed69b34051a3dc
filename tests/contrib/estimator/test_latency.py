"""LatencyEstimator and LatencyGraphEstimator: what is counted, how estimates add up,
and how search spaces are handled. Timings use one repeat: nothing asserts on time."""
import nnabla as nn
import nnabla.functions as F
import nnabla.random
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.contrib.estimator import (LatencyEstimator, LatencyGraphEstimator,
                                          ProfileReport, expected, graph_functions)
from nnabla_nas.contrib.estimator.base import active_modules
from nnabla_nas.contrib.estimator.graph import module_graph
from nnabla_nas.contrib.estimator.profiler import IN_MEMORY
from nnabla_nas.contrib.pnas import InvertedResidual
from nnabla_nas.utils.context import make_context

from .helpers import called, fast_estimator, small_block


def test_works_without_arguments():
    est = LatencyEstimator()
    ms = est.get_estimation(called(Mo.ReLU(), 1, 4))
    assert ms > 0 and est.unit == "ms"


def test_residual_add_outside_leaves_is_counted():
    est = fast_estimator()
    with_add, without = small_block(8, 8), small_block(8, 16)
    assert with_add.use_residual and not without.use_residual
    names = [s.type_name for s in est.functions(with_add)]
    assert names.count("Add2") == 1
    assert "Add2" not in [s.type_name for s in est.functions(without)]
    assert len(est.functions(with_add)) == len(est.functions(without)) + 1
    # The add is the block's own function: the leaves alone miss it.
    leaves = [m for _, m in with_add.get_modules() if not m.modules]
    assert sum(len(est.own_functions(m)) for m in leaves) == len(names) - 1
    assert [s.type_name for s in est.own_functions(with_add)] == ["Add2"]
    assert est.get_estimation(with_add) > sum(est.predict(m) for m in leaves)


def test_predict_summed_over_what_runs_equals_the_whole_graph():
    est = fast_estimator()
    est.table.calibration = {"a": 1.3, "b": 0.01}
    block = small_block()
    whole = est.get_estimation(block)
    assert est.total(active_modules(block)) == pytest.approx(whole, rel=1e-9)
    specs = est.functions(block)
    times = [est.table.get(s.key) for s in specs]
    assert whole == pytest.approx(1.3 * sum(times) + 0.01 * len(specs), rel=1e-9)


def test_predict_on_a_module_never_called_names_it():
    est = fast_estimator()
    with pytest.raises(ValueError, match=r"DwConv\(in_channels=4.*never called"):
        est.predict(Mo.DwConv(4, (3, 3)))
    with pytest.raises(ValueError, match="never called"):
        est.get_estimation(InvertedResidual(4, 4))


def test_inference_graph_restores_training_flags():
    block = small_block()
    block.apply(training=True)
    block.depthwise.apply(training=False)
    flags = [m.training for _, m in block.get_modules()]
    est = fast_estimator()
    specs = est.functions(block)
    bns = [s for s in specs if s.type_name == "BatchNormalization"]
    assert bns and all(s.args["batch_stat"] is False for s in bns)
    assert [m.training for _, m in block.get_modules()] == flags


def _mixed(mode):
    ops = [Mo.Conv(4, 4, (3, 3), pad=(1, 1)), Mo.Sequential(Mo.ReLU(), Mo.ReLU()),
           Mo.Identity()]
    mixed = Mo.MixedOp(ops, mode=mode)
    return called(mixed, 1, 4, 8, 8)


def test_sample_mode_estimates_the_active_path_without_drawing():
    nnabla.random.seed(3)
    mixed = _mixed("sample")
    mixed.alpha.d = np.array([0.0, 1.0, 2.0])
    k = mixed.active_index
    state = nnabla.random.prng.get_state()[1].copy()
    est = fast_estimator()
    names = [s.type_name for s in est.functions(mixed)]
    expected_names = {0: ["Convolution"], 1: ["ReLU", "ReLU"], 2: []}[k]
    assert names == expected_names  # no gate, no other candidate
    assert mixed.active_index == k and mixed.mode == "sample"
    assert mixed.alpha.need_grad
    np.testing.assert_array_equal(nnabla.random.prng.get_state()[1], state)


def test_full_mode_counts_every_candidate_and_the_weighted_sum():
    est = fast_estimator()
    names = [s.type_name for s in est.functions(_mixed("full"))]
    assert names.count("Convolution") == 1 and names.count("ReLU") == 2
    assert "Softmax" in names and "Affine" in names


def test_max_mode_follows_alpha_and_memo_follows_the_path():
    est = fast_estimator()
    mixed = _mixed("max")
    mixed.alpha.d = np.array([5.0, 0.0, 0.0])
    assert [s.type_name for s in est.functions(mixed)] == ["Convolution"]
    mixed.alpha.d = np.array([0.0, 5.0, 0.0])
    assert [s.type_name for s in est.functions(mixed)] == ["ReLU", "ReLU"]


def test_expected_cost_is_exact_for_one_hot_alpha():
    est = fast_estimator()
    net = Mo.Sequential(Mo.Conv(3, 4, (3, 3), pad=(1, 1)), _mixed("full"))
    called(net, 1, 3, 8, 8)  # in 'full' mode every candidate records its input shape
    mixed = net[1]
    mixed.mode = "max"
    for k in range(3):
        alpha = np.zeros(3)
        alpha[k] = 1e4
        mixed.alpha.d = alpha
        cost = expected.expected_cost(net, est)
        cost.forward()
        assert float(cost.d) == pytest.approx(est.get_estimation(net), rel=1e-5)


def test_profile_covers_every_candidate_once():
    est = fast_estimator()
    mixed = _mixed("sample")
    report = est.profile(mixed)
    assert isinstance(report, ProfileReport) and report.seconds >= 0
    keys = {s.key for op in mixed.ops
            for s in graph_functions(module_graph(op, make_context(), [(1, 4, 8, 8)])[1])}
    assert keys <= set(est.table)
    assert report.profiled == report.functions == len(set(est.table))
    assert est.profile(mixed).profiled == 0


def test_graph_estimator_agrees_with_module_estimator():
    est = fast_estimator()
    block = small_block()
    _, outputs = module_graph(block, make_context())
    graph_est = LatencyGraphEstimator(profiler=est.profiler)
    assert graph_est.get_estimation(outputs[0]) == pytest.approx(
        est.get_estimation(block))
    assert [s for s, _ in graph_est.breakdown(outputs[0])] == est.functions(block)


def test_graph_estimator_counts_functions_of_a_plain_graph():
    x = nn.Variable((1, 4, 8, 8))
    h = F.relu(x)
    y = F.concatenate(h, F.add2(h, x), axis=1)
    names = [s.type_name for s in graph_functions(y)]
    assert names == ["ReLU", "Add2", "Concatenate"]
    est = LatencyGraphEstimator(warmup=0, repeats=1, table=IN_MEMORY)
    assert est.get_estimation(y) > 0 and est.profiler.profiled == 3
    with pytest.raises(TypeError, match="nn.Variable"):
        est.get_estimation("y")


def test_function_that_cannot_be_rebuilt_is_named():
    from nnabla_nas.contrib.estimator.measure import FunctionSpec
    est = fast_estimator()
    with pytest.raises(ValueError, match="NoSuchFunction"):
        est.profiler.times([FunctionSpec("NoSuchFunction", {}, [((1,), "float32")])])


def test_containers_that_never_run_cost_nothing_but_leaves_must_have_run():
    est = fast_estimator()
    assert est.predict(Mo.ModuleList([Mo.ReLU()])) == 0.0
    with pytest.raises(ValueError, match="never called"):
        est.predict(Mo.Sequential(Mo.ReLU()))
