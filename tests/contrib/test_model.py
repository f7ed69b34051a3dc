"""Model: the arch/net split, default loss and metrics, summary."""
import nnabla as nn
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.contrib.model import Model, is_arch_parameter


class Net(Model):
    def __init__(self):
        self.choice = Mo.MixedOp([Mo.Linear(4, 4), Mo.Identity()])
        self.head = Mo.Linear(4, 3)

    def call(self, x):
        return self.head(self.choice(x))


def test_default_split_of_architecture_and_network_parameters():
    net = Net()
    assert list(net.get_arch_parameters()) == ["choice/alpha"]
    assert list(net.get_net_parameters()) == ["choice/ops/0/W", "choice/ops/0/b",
                                              "head/W", "head/b"]
    # The kind decides, not the name: a network weight named alpha is a weight.
    assert is_arch_parameter(net.choice.alpha) and not is_arch_parameter(net.head.W)
    net.head.alpha_like = Mo.Parameter((2,))
    assert "head/alpha_like" in net.get_net_parameters()
    assert "head/alpha_like" not in net.get_arch_parameters()
    del net.head.alpha_like
    net.choice.alpha.need_grad = False
    assert list(net.get_arch_parameters(grad_only=True)) == []


def _logits_and_labels():
    rng = np.random.RandomState(0)
    logits = rng.randn(5, 3).astype(np.float32)
    labels = np.array([[0], [2], [1], [1], [0]])
    return logits, labels


def _cross_entropy(logits, labels):
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -logp[np.arange(len(labels)), labels[:, 0]].mean()


def test_default_loss_is_mean_cross_entropy_weighted_over_outputs():
    logits, labels = _logits_and_labels()
    o = nn.Variable.from_numpy_array(logits)
    t = nn.Variable.from_numpy_array(labels)
    loss = Net().loss(o, t)
    loss.forward()
    np.testing.assert_allclose(loss.d, _cross_entropy(logits, labels), rtol=1e-5)
    two = Net().loss([o, o], [t, t], loss_weights=[1.0, 0.4])
    two.forward()
    np.testing.assert_allclose(two.d, 1.4 * _cross_entropy(logits, labels), rtol=1e-5)
    with pytest.raises(ValueError, match="2 outputs, 2 targets and 1 loss_weights"):
        Net().loss([o, o], [t, t], loss_weights=[1.0])


def test_default_metric_is_top1_error():
    logits, labels = _logits_and_labels()
    error = Net().metrics(nn.Variable.from_numpy_array(logits),
                          nn.Variable.from_numpy_array(labels))["error"]
    error.forward()
    expected = (logits.argmax(1) != labels[:, 0]).mean()
    np.testing.assert_allclose(error.d, expected)


def test_summary_counts_parameters_per_part():
    lines = Net().summary().splitlines()
    assert lines[0].split() == ["part", "net", "params", "arch", "params"]
    assert lines[1].split() == ["choice", "20", "2"]
    assert lines[2].split() == ["head", "15", "0"]
    assert lines[3].split() == ["total", "35", "2"]
