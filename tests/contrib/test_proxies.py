"""Zero-cost proxies against values computed with numpy (or by hand) on tiny networks,
the network left as it was, and ``main.py score``."""
import json
import math

import numpy as np
import pytest

import nnabla_nas.builtins  # noqa: F401
from nnabla_nas import module as Mo
from nnabla_nas.cli import main
from nnabla_nas.contrib.model import Model, parameter_count
from nnabla_nas.contrib.proxies import PROXIES, Batch, score
from nnabla_nas.contrib.proxies.gradient import jacobian_score


class Chain(Model):
    """Linear layers, optionally with a ReLU after each but the last."""

    def __init__(self, widths, relu=False, bias=False, rng=None):
        layers = []
        for k, (i, o) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(Mo.Linear(i, o, with_bias=bias, rng=rng))
            if relu and k < len(widths) - 2:
                layers.append(Mo.ReLU())
        self.layers = Mo.Sequential(*layers)

    def call(self, x):
        return self.layers(x)

    def weights(self):
        return [m.W.d.astype(np.float64) for m in self.layers if isinstance(m, Mo.Linear)]


def batch(n=6, shape=(1, 2, 2), classes=3, seed=0):
    rng = np.random.RandomState(seed)
    return Batch(rng.randn(n, *shape), rng.randint(0, classes, (n, 1)))


def test_naswot_is_the_log_determinant_of_the_hamming_kernel_of_a_two_layer_relu_net():
    net = Chain([4, 7, 3], relu=True, bias=True, rng=np.random.RandomState(1))
    net.layers[0].b.d = np.random.RandomState(2).randn(7) * 0.3
    b = batch()
    w1, b1 = net.layers[0].W.d, net.layers[0].b.d
    codes = (b.inputs.reshape(6, 4) @ w1 + b1 > 0).astype(np.float64)  # (6, 7)
    # K[i, j] = units where codes agree = 7 - Hamming distance
    k = np.array([[7 - np.sum(codes[i] != codes[j]) for j in range(6)] for i in range(6)])
    assert score(net, b, ["naswot"])["naswot"] == pytest.approx(np.linalg.slogdet(k)[1])


@pytest.mark.parametrize("depth,gain", [(3, 1.0), (40, 12.0)])
def test_synflow_of_a_linear_chain_is_the_product_formula(depth, gain):
    # R = 1^T |W_L| ... |W_1| 1; R is of degree 1 in each layer's weights, so
    # sum(W_l * dR/dW_l) = R for every layer (Euler) and synflow = depth * R.
    rng = np.random.RandomState(depth)
    net = Chain([4] * (depth + 1), rng=rng)
    for m in net.layers:  # signed weights of mean absolute gain `gain` per layer
        m.W.d = rng.uniform(-1, 1, (4, 4)) * gain / 2
    log_r = 0.0
    v = np.ones(4)
    for w in net.weights():  # (in, out): v <- v |W|, renormalized in logs
        v = v @ np.abs(w)
        log_r += math.log(v.sum())
        v /= v.sum()
    expected_log = math.log(depth) + log_r
    if depth == 40:
        assert log_r / math.log(10) > 38.6  # R itself overflows float32
    got = score(net, batch(n=2), ["synflow"])["synflow"]
    assert math.log(got) == pytest.approx(expected_log, rel=1e-5)


def test_synflow_is_zero_when_no_signal_reaches_the_output():
    net = Chain([4, 4, 3])
    net.layers[1].W.d = 0
    assert score(net, batch(), ["synflow"])["synflow"] == 0.0


def softmax_ce_gradient(x, w, t):
    """dL/dW of mean softmax cross-entropy of logits x @ w."""
    z = x @ w
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(t)), t[:, 0]] -= 1
    return x.T @ p / len(t)


def test_grad_norm_and_snip_of_a_linear_classifier():
    net = Chain([4, 3], bias=True, rng=np.random.RandomState(3))
    b = batch()
    g = softmax_ce_gradient(b.inputs.reshape(6, 4).astype(np.float64),
                            net.layers[0].W.d.astype(np.float64), b.targets)
    got = score(net, b, ["grad_norm", "snip"])
    assert got["grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-4)
    assert got["snip"] == pytest.approx(np.abs(net.layers[0].W.d * g).sum(), rel=1e-4)


def test_jacov_of_two_inputs_by_hand():
    # two Jacobians with correlation r: eigenvalues 1 + r, 1 - r
    j = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 5.0]])
    r = np.corrcoef(j)[0, 1]
    k = 1e-5
    hand = -sum(math.log(v + k) + 1 / (v + k) for v in (1 + r, 1 - r))
    assert jacobian_score(j) == pytest.approx(hand)


def test_jacov_uses_the_input_jacobians_of_the_network():
    net = Chain([4, 5, 3], relu=True, rng=np.random.RandomState(4))
    b = batch(n=4)
    w1, w2 = net.weights()
    x = b.inputs.reshape(4, 4).astype(np.float64)
    active = (x @ w1 > 0).astype(np.float64)  # d(sum y)/dx_i = W1 diag(a_i) W2 1
    jac = np.stack([w1 @ (a * (w2 @ np.ones(3))) for a in active])
    assert score(net, b, ["jacov"])["jacov"] == pytest.approx(jacobian_score(jac), rel=1e-4)


def test_params_and_every_proxy_leave_the_network_as_it_was():
    net = Chain([4, 6, 3], relu=True, bias=True, rng=np.random.RandomState(5))
    before = {k: v.d.copy() for k, v in net.get_parameters().items()}
    scores = score(net, batch(), PROXIES.names())
    assert set(scores) == {"naswot", "synflow", "snip", "grad_norm", "jacov", "params",
                           "flops"}
    assert scores["params"] == parameter_count(net.get_modules()) == 4 * 6 + 6 + 6 * 3 + 3
    assert scores["flops"] == 4 * 6 + 6 * 3  # multiply-accumulates of one input
    assert all(np.array_equal(before[k], v.d) for k, v in net.get_parameters().items())
    assert all(m.training for _, m in net.get_modules())
    assert all(np.isfinite(v) for v in scores.values())


def test_an_unknown_proxy_is_named_with_the_valid_ones():
    with pytest.raises(KeyError, match="unknown zero-cost proxy 'synflw'; did you mean"):
        score(Chain([4, 3]), batch(), ["synflw"])


EXAMPLE = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
           "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")


def test_score_command_prints_the_proxies_as_json(tmp_path, capsys):
    path = tmp_path / "arch.json"
    path.write_text(json.dumps({"arch_str": EXAMPLE}))
    code = main(["score", "--arch", str(path), "--proxy", "naswot,synflow,params",
                 "--batch-size", "4", "--input-shape", "3", "8", "8", "--json",
                 "channels=2", "cells=1"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["space"] == "nasbench201" and out["arch"] == EXAMPLE
    assert list(out["scores"]) == ["naswot", "synflow", "params"]
    assert out["scores"]["synflow"] > 0 and out["batch_size"] == 4


def test_score_command_refuses_an_unknown_proxy_in_one_line(tmp_path, capsys):
    code = main(["score", "--arch", EXAMPLE, "--proxy", "naswot,zen", "--json"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "unknown zero-cost proxy 'zen'" in err and "grad_norm, jacov, naswot" in err
