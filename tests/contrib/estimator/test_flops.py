"""FlopsEstimator: MACs of hand-computed layers, the additivity the expected costs need,
and MobileNetV2 1.0 at 224x224 against its paper's 300M multiply-adds."""
import doctest

import nnabla as nn
import nnabla.functions as F
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.contrib.darts import SearchNet as DartsSearchNet
from nnabla_nas.contrib.estimator import flops as flops_module
from nnabla_nas.contrib.estimator.base import active_modules
from nnabla_nas.contrib.estimator.expected import PathCosts, expected_cost
from nnabla_nas.contrib.estimator.flops import FlopsEstimator, graph_macs
from nnabla_nas.contrib.pnas.genotype import plain_mobilenet_v2_arch
from nnabla_nas.contrib.pnas.network import SearchNet, TrainNet
from tests.contrib.estimator.helpers import called


def macs(module, *shape):
    return FlopsEstimator().get_estimation(called(module, *shape))


def test_docstring_example_runs():
    assert doctest.testmod(flops_module).failed == 0


@pytest.mark.parametrize("module, shape, expected", [
    # the check: 32*32 outputs * 64 maps * 64 channels * 3*3
    (Mo.Conv(64, 64, (3, 3), pad=(1, 1)), (1, 64, 32, 32), 37_748_736),
    # a bias adds nothing; batch 2 doubles
    (Mo.Conv(64, 64, (3, 3), pad=(1, 1), with_bias=False), (2, 64, 32, 32), 75_497_472),
    # stride 2: 16*16 outputs * 16 maps * 3 channels * 9
    (Mo.Conv(3, 16, (3, 3), pad=(1, 1), stride=(2, 2)), (1, 3, 32, 32), 110_592),
    # 4 groups: 16*16 * 64 maps * (32/4) channels * 9
    (Mo.Conv(32, 64, (3, 3), pad=(1, 1), group=4), (1, 32, 16, 16), 1_179_648),
    # dilation 2, no padding: a 12x12 input gives 8x8; 8*8 * 16 * 8 * 9
    (Mo.Conv(8, 16, (3, 3), dilation=(2, 2)), (1, 8, 12, 12), 73_728),
    # depthwise: 16*16 * 32 maps * 1 channel * 9
    (Mo.DwConv(32, (3, 3), pad=(1, 1)), (1, 32, 16, 16), 73_728),
    # depthwise 5x5 of stride 2: 8*8 * 32 * 25
    (Mo.DwConv(32, (5, 5), pad=(2, 2), stride=(2, 2)), (1, 32, 16, 16), 51_200),
    # affine: 128 inputs * 10 outputs, per sample
    (Mo.Linear(128, 10), (3, 128), 3 * 1280),
    # average pooling 3x3 of stride 2 on 9x9: 4*4 outputs * 8 maps * 9
    (Mo.AvgPool((3, 3), stride=(2, 2)), (1, 8, 9, 9), 1_152),
    # global average pooling: every input value once
    (Mo.GlobalAvgPool(), (1, 8, 7, 7), 392),
    # no multiply-accumulates: max pooling, batch norm (folded), activations
    (Mo.MaxPool((2, 2), stride=(2, 2)), (1, 8, 8, 8), 0),
    (Mo.BatchNormalization(8, 4), (1, 8, 8, 8), 0),
    (Mo.ReLU6(), (1, 8, 8, 8), 0),
])
def test_hand_computed_layers(module, shape, expected):
    module.apply(training=False)
    assert macs(module, *shape) == expected


def test_deconvolution_and_element_wise_functions_of_a_graph():
    x = nn.Variable((1, 8, 5, 5))
    w = nn.Variable((8, 4, 3, 3))  # (in, out / group, kh, kw)
    y = F.deconvolution(x, w, stride=(2, 2))
    assert graph_macs(y) == 8 * 5 * 5 * 4 * 9  # every input value into 4 kernels
    assert graph_macs(F.relu(y) + y) == graph_macs(y)  # element-wise: 0


def test_a_sequence_sums_its_layers_and_the_unit_and_key():
    net = Mo.Sequential(Mo.Conv(3, 8, (3, 3), pad=(1, 1)), Mo.ReLU(), Mo.GlobalAvgPool(),
                        Mo.Linear(8, 4))
    est = FlopsEstimator()
    total = est.get_estimation(called(net, 1, 3, 8, 8))
    assert total == 8 * 8 * 8 * 27 + 8 * 64 + 32
    assert est.unit == "MACs" and est.summary_key == "macs"


def tiny_pnas(mode):
    net = SearchNet(3, 10, stages=[[1, 8, 1, 1], [3, 8, 2, 1], [3, 16, 1, 2]],
                    stem="small", stem_channels=8, head_channels=16,
                    rng=np.random.RandomState(0))
    net.set_mode(mode)
    return called(net, 1, 3, 8, 8)


def test_own_functions_of_every_module_add_up_to_the_graph():
    """predict() over the modules that run equals get_estimation(): the residual adds
    and a 'full' MixedOp's weighted sum belong to the module whose call() makes them."""
    for net in (tiny_pnas("max"), tiny_pnas("full"),
                called(DartsSearchNet(3, 4, 3, 10, num_nodes=2, multiplier=2,
                                      rng=np.random.RandomState(0)), 1, 3, 8, 8)):
        est = FlopsEstimator()
        assert est.total(active_modules(net)) == est.get_estimation(net) > 0


def test_path_costs_and_one_hot_expected_cost_give_the_exact_path():
    net = tiny_pnas("max")
    est = FlopsEstimator()
    costs = PathCosts(net, est, inputs=[(1, 3, 8, 8)])  # every candidate called
    choices = {id(m): int(np.argmax(m.probabilities())) for m in costs.mixed}
    assert costs.of(choices) == est.get_estimation(net)
    for m in costs.mixed:
        m.alpha.d = np.where(np.arange(m.alpha.size) == 0, 1e4, 0.0).reshape(m.alpha.shape)
    cost = expected_cost(net, FlopsEstimator(), inputs=[(1, 3, 8, 8)])
    cost.forward()
    assert float(cost.d) == pytest.approx(est.get_estimation(net), rel=1e-6)
    assert costs.of({id(m): 0 for m in costs.mixed}) == est.get_estimation(net)


def test_a_module_never_called_is_an_error_naming_it():
    with pytest.raises(ValueError, match="Conv.*never called"):
        FlopsEstimator().predict(Mo.Conv(3, 8, (3, 3)))


def test_mobilenet_v2_at_224_is_the_papers_300m_multiply_adds():
    """Sandler et al. (2018), table 3: 300M multiply-adds; our blocks count
    300,774,272 in the convolutions and the classifier, plus 62,720 for the global
    average pooling (7*7*1280): 300,836,992, within 1% of the paper's round figure."""
    net = TrainNet(plain_mobilenet_v2_arch(), 3, 1000, rng=np.random.RandomState(0))
    net.apply(training=False)
    total = macs(net, 1, 3, 224, 224)
    assert total == 300_836_992
    assert total == pytest.approx(300e6, rel=0.01)
