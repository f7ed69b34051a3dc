"""MemoryEstimator: parameter counts against numpy sums, the active path of search
spaces, and activation peaks against hand counts and against NNabla's own buffer
releases."""
import doctest
import subprocess
import sys
from pathlib import Path

import nnabla as nn
import nnabla.functions as F
import nnabla.random
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.contrib.darts import SearchNet
from nnabla_nas.contrib.estimator import base as base_module
from nnabla_nas.contrib.estimator import memory as memory_module
from nnabla_nas.contrib.estimator.base import active_modules
from nnabla_nas.contrib.estimator.memory import MemoryEstimator, _peak_bytes
from nnabla_nas.contrib.estimator.peak_memory import forward_order

F32 = 4  # bytes per value


def numpy_count(params):
    return int(sum(np.prod(p.shape) for p in params))


def small_net():
    return Mo.Sequential(Mo.Conv(3, 4, (3, 3), pad=(1, 1)), Mo.BatchNormalization(4, 4),
                         Mo.ReLU(), Mo.GlobalAvgPool(), Mo.Linear(4, 5))


def tiny_darts(**kw):
    return SearchNet(3, 4, 3, 10, num_nodes=2, multiplier=2,
                     rng=np.random.RandomState(0), **kw)


def test_docstring_examples_run():
    for module in (base_module, memory_module):
        assert doctest.testmod(module).failed == 0, module.__name__


# ------------------------------------------------------------------ parameters
def test_predict_counts_the_modules_own_parameters():
    net, est = small_net(), MemoryEstimator()
    for _, m in net.get_modules():
        assert est.predict(m) == numpy_count(m.parameters.values())
    assert est.predict(net[1]) == 4 * 4  # beta, gamma, mean, var
    assert est.unit == "parameters"


def test_get_estimation_counts_the_tree_and_parameter_bytes_are_float32():
    net, est = small_net(), MemoryEstimator()
    expected = numpy_count(net.get_parameters().values())
    assert expected == 4 * 3 * 9 + 4 + 16 + 4 * 5 + 5
    assert est.get_estimation(net) == expected
    assert est.parameter_bytes(net) == F32 * expected


def test_a_shared_parameter_is_counted_once():
    a, b = Mo.Linear(6, 6), Mo.Linear(6, 6)
    b.W = a.W
    net = Mo.Sequential(a, b)
    est = MemoryEstimator()
    assert est.predict(a) + est.predict(b) == 2 * 42
    assert est.get_estimation(net) == 36 + 6 + 6


def test_predict_is_memoized_and_follows_replaced_parameters():
    lin, est = Mo.Linear(3, 2), MemoryEstimator()
    assert est.predict(lin) == 8
    assert est.predict(lin) == 8
    lin.W = Mo.Parameter((3, 7))
    assert est.predict(lin) == 21 + 2
    est.reset()
    assert est.predict(lin) == 23


def test_architecture_parameters_are_not_counted():
    net = tiny_darts()
    net(nn.Variable((2, 3, 8, 8)))
    est = MemoryEstimator()
    assert net.get_arch_parameters()  # shared alphas, in their own ParameterLists
    assert est.get_estimation(net) == numpy_count(net.get_net_parameters().values())
    mixed = Mo.MixedOp([Mo.Linear(2, 2), Mo.Identity()])
    assert est.predict(mixed) == 0 and est.get_estimation(mixed) == 6


def mixed_net(mode):
    rng = np.random.RandomState(0)
    mixed = Mo.MixedOp([Mo.Conv(3, 3, (3, 3), pad=(1, 1), rng=rng),
                        Mo.Conv(3, 3, (1, 1), rng=rng), Mo.Identity()], mode=mode)
    return Mo.Sequential(Mo.Conv(3, 3, (1, 1), rng=rng), mixed), mixed


@pytest.mark.parametrize("mode", ["sample", "max"])
def test_sample_and_max_modes_count_only_the_active_candidate(mode):
    net, mixed = mixed_net(mode)
    mixed.alpha.d = np.array([0.1, 2.0, -1.0])
    nnabla.random.seed(3)
    net(nn.Variable((1, 3, 4, 4)))
    k = mixed.active_index
    assert k is not None
    stem = 3 * 3 + 3
    candidate = numpy_count(mixed.ops[k].get_parameters().values())
    assert MemoryEstimator().get_estimation(net) == stem + candidate
    candidates = [name for name, _ in active_modules(net)
                  if name.startswith("1/ops/") and name.count("/") == 2]
    assert candidates == [f"1/ops/{k}"]


def test_full_mode_counts_every_candidate_and_max_follows_alpha():
    net, mixed = mixed_net("full")
    est = MemoryEstimator()
    weights = [p for name, p in net.get_parameters().items() if "alpha" not in name]
    assert est.get_estimation(net) == numpy_count(weights) == 12 + 84 + 12
    mixed.mode = "max"  # never called in this mode: the argmax of the current alpha
    mixed.alpha.d = np.array([0.0, 0.0, 5.0])
    assert est.get_estimation(net) == 12


def test_sample_mode_before_any_call_is_an_error_naming_the_module():
    net, _ = mixed_net("sample")
    with pytest.raises(ValueError, match="1: in 'sample' mode"):
        MemoryEstimator().get_estimation(net)


def test_wrong_types_are_refused():
    est = MemoryEstimator()
    with pytest.raises(TypeError, match="expected a Module"):
        est.predict("conv")
    with pytest.raises(TypeError, match="expected a Module"):
        est.get_estimation(3)
    with pytest.raises(TypeError, match="target"):
        est.activation_bytes("net")


# ------------------------------------------------------------------ activations
def test_inference_peak_of_a_chain_is_two_neighbouring_buffers():
    # conv (2x4x8x8) -> relu (same) -> conv (2x5x8x8): while the second convolution
    # runs, the relu output and its own output are alive; the first is released.
    net = Mo.Sequential(Mo.Conv(3, 4, (3, 3), pad=(1, 1)), Mo.ReLU(),
                        Mo.Conv(4, 5, (3, 3), pad=(1, 1)))
    net(nn.Variable((2, 3, 8, 8)))
    a, c = 2 * 4 * 64 * F32, 2 * 5 * 64 * F32
    assert MemoryEstimator().activation_bytes(net) == max(2 * a, a + c) == a + c


def test_training_keeps_what_backward_reads_and_adds_gradients():
    # Forward: ReLU's backward reads its output, not its input, so the first
    # convolution's output (a) goes after the ReLU; the second convolution's backward
    # reads its input, so the ReLU output (a) stays; the sum reads nothing back, so the
    # second convolution's output (c) goes after it. Backward: the root gradient (4
    # bytes) and the sum (4) are there; the sum's backward writes the gradient of the
    # convolution output (c), whose backward then writes the ReLU output's (a).
    net = Mo.Sequential(Mo.Conv(3, 4, (3, 3), pad=(1, 1)), Mo.ReLU(),
                        Mo.Conv(4, 5, (3, 3), pad=(1, 1)))
    net(nn.Variable((2, 3, 8, 8)))
    a, c = 2 * 4 * 64 * F32, 2 * 5 * 64 * F32
    est = MemoryEstimator()
    training = est.activation_bytes(net, training=True)
    assert training == a + 4 + 4 + c + a
    assert training > est.activation_bytes(net) == a + c


def test_in_place_reshape_shares_its_buffer():
    x = nn.Variable((4, 8))
    h = F.relu(x)                            # 128 bytes
    r = F.reshape(h, (32,), inplace=True)    # shares h
    y = F.sigmoid(r)                         # 128 bytes
    assert r.parent.inplace_data(0)
    assert MemoryEstimator().activation_bytes(y) == 2 * 128
    copy = F.sigmoid(F.reshape(F.relu(x), (32,), inplace=False))
    assert MemoryEstimator().activation_bytes(copy) == 2 * 128  # relu freed, copy alive


def test_module_estimates_restore_training_flags_and_the_random_state():
    net = Mo.Sequential(Mo.Conv(3, 4, (3, 3)), Mo.BatchNormalization(4, 4), Mo.Dropout(0.5))
    net(nn.Variable((2, 3, 6, 6)))
    net.apply(training=False)
    state = nnabla.random.prng.get_state()
    MemoryEstimator().activation_bytes(net, training=True)
    assert not any(m.training for _, m in net.get_modules())
    assert np.array_equal(nnabla.random.prng.get_state()[1], state[1])


def test_a_module_that_was_never_called_is_an_error():
    with pytest.raises(ValueError, match="has not been called"):
        MemoryEstimator().activation_bytes(Mo.Conv(3, 4, (3, 3)))


def test_scratch_adds_the_buffers_functions_keep():
    conv = Mo.DwConv(4, (3, 3), pad=(1, 1), stride=(2, 2))
    conv(nn.Variable((2, 4, 8, 8)))
    est = MemoryEstimator()
    out = 2 * 4 * 4 * 4 * F32
    assert est.activation_bytes(conv) == out
    assert est.activation_bytes(conv, scratch=True) == out + 4 * 9 * 16 * F32
    pool = Mo.MaxPool((2, 2))
    pool(nn.Variable((2, 4, 8, 8)))
    assert est.activation_bytes(pool, scratch=True) == 2 * est.activation_bytes(pool)


def nnabla_forward_trace(outputs, training):
    """Bytes of the data buffers NNabla really holds while each function runs, read
    from its clear flags in function hooks."""
    funcs = forward_order(outputs)
    produced, trace = set(), []

    def live_bytes():
        total = 0
        for f in funcs:
            shared = {f.inplace_data_with(i) for i in range(len(f.inputs))
                      if f.inplace_data(i)}
            for o, v in enumerate(f.outputs):
                if f in produced and o not in shared and not v.data.clear_called:
                    total += v.size * F32
        return total

    def post(f):
        produced.add(f)
        trace.append(live_bytes())

    for v in outputs:
        v.forward(clear_buffer=not training, clear_no_need_grad=training,
                  function_post_hook=post)
    return trace


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("network", ["residual", "darts"])
def test_forward_replay_holds_what_nnabla_holds_after_every_function(network, training):
    rng = np.random.RandomState(0)
    if network == "darts":
        net = tiny_darts()
        x = nn.Variable.from_numpy_array(rng.randn(2, 3, 8, 8).astype(np.float32))
    else:
        body = Mo.Sequential(Mo.Conv(4, 8, (1, 1)), Mo.BatchNormalization(8, 4),
                             Mo.ReLU6(), Mo.DwConv(8, (3, 3), pad=(1, 1)),
                             Mo.Conv(8, 4, (1, 1)))
        net = Mo.Lambda(lambda x: F.reshape(body(x) + x, (2, -1)) * 2.0)
        net.body = body
        x = nn.Variable.from_numpy_array(rng.randn(2, 4, 6, 6).astype(np.float32))
    net.apply(training=training)
    y = net(x)
    outputs = [F.sum(y)] if training else [y]
    replay = []
    _peak_bytes(outputs, training, trace=replay)
    forward = [live for kind, _, live in replay if kind == "forward"]
    assert forward == nnabla_forward_trace(outputs, training)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_benchmark_runs_and_prints_estimates_next_to_measurements():
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, str(root / "bench" / "memory_estimator.py"), "--repeats", "1",
         "--networks", "conv_chain"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Peak activation memory (MiB), estimated vs measured")
    infer, train = lines[3].split(), lines[4].split()
    assert infer[:3] == ["conv_chain", "infer", "8.00"]  # 32x32x32x32 floats, twice
    assert train[:3] == ["conv_chain", "train", "19.00"]
    assert lines[5].startswith("mean |error|")
