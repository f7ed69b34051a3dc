"""Model: the arch/net split, default loss and metrics, summary."""
import nnabla as nn
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.contrib.model import Model, is_arch_parameter
from nnabla_nas.contrib.spaces import SEARCH_SPACES


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


def test_parameter_count_examples():
    import doctest

    from nnabla_nas.contrib import model

    assert doctest.testmod(model).failed == 0


def test_parameter_count_is_every_network_value_batch_norm_statistics_included():
    from nnabla_nas.contrib.estimator.base import active_modules
    from nnabla_nas.contrib.model import parameter_count

    net = Net()
    net.bn = Mo.BatchNormalization(3, 2)
    shared = net.head.W
    net.tail = Mo.Linear(4, 3)
    net.tail.W = shared  # a shared parameter counts once
    everything = 4 * 4 + 4 + 4 * 3 + 3 + 4 * 3 + 3 + 4 * 3  # two Linear, tail's b, BN
    assert parameter_count(net.get_modules()) == everything - 4 * 3
    net.choice.mode = "max"  # the path of Identity: not the first Linear
    net.choice.alpha.d = np.array([0.0, 1.0])
    assert parameter_count(active_modules(net)) == everything - 4 * 3 - 4 * 4 - 4


@pytest.mark.parametrize("space_name", SEARCH_SPACES.names())
def test_params_and_estimated_params_are_one_count(space_name):
    """summary.json's ``params`` (training) and ``estimated_params`` (hardware summary)
    of the same network agree: one function computes both."""
    from nnabla_nas.contrib.model import parameter_count
    from nnabla_nas.runner.hardware import hardware_summary

    space = SEARCH_SPACES.get(space_name)
    rng = np.random.RandomState(0)
    from nnabla_nas.config.loader import from_dict
    options = from_dict(space.SearchConfig, dict(space.smoke_options))
    arch = space.sample(space.arch_options(options), rng)
    train_options = from_dict(space.TrainConfig, dict(space.smoke_train_options))
    model = space.build_train(arch, train_options, (3, 32, 32), 10, rng)
    grad_only = sum(int(np.prod(p.shape))
                    for p in model.get_parameters(grad_only=True).values())
    params = parameter_count(model.get_modules())
    assert params > grad_only  # batch-norm running statistics are counted
    assert hardware_summary(model, (3, 32, 32))["estimated_params"] == params
