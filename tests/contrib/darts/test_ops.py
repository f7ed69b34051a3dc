"""The DARTS candidate operations: every registered candidate, and numpy references."""
import nnabla as nn
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.contrib.darts.ops import (CANDIDATES, PRIMITIVES, DilConv,
                                          FactorizedReduce, ReLUConvBN, SepConv)

EPS = 1e-5  # BatchNormalization's default
#: Candidates without trainable parameters, in the search and in the train setting.
PARAMETER_FREE = {("none", 1), ("none", 2), ("max_pool_3x3", 1), ("max_pool_3x3", 2),
                  ("avg_pool_3x3", 1), ("avg_pool_3x3", 2), ("skip_connect", 1)}


def variable(shape, seed=0):
    x = np.random.RandomState(seed).randn(*shape).astype(np.float32)
    return nn.Variable.from_numpy_array(x, need_grad=True)


def run(y):
    if y.parent is not None:  # Identity returns its input itself
        y.forward()
    return np.array(y.d, dtype=np.float64)


# ----------------------------------------------------------------- numpy references
def pad(x, p, value=0.0):
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=value)


def windows(x, k, stride, dilation=1):
    """(N, C, H', W', k, k) views of the k x k windows of an already padded input."""
    n, c, h, w = x.shape
    span = dilation * (k - 1) + 1
    out_h, out_w = (h - span) // stride + 1, (w - span) // stride + 1
    out = np.empty((n, c, out_h, out_w, k, k))
    for i in range(out_h):
        for j in range(out_w):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + span:dilation,
                                j * stride:j * stride + span:dilation]
    return out


def max_pool(x, stride):
    return windows(pad(x, 1, -np.inf), 3, stride).max(axis=(4, 5))


def avg_pool_excluding_pad(x, stride):
    total = windows(pad(x, 1), 3, stride).sum(axis=(4, 5))
    count = windows(pad(np.ones_like(x), 1), 3, stride).sum(axis=(4, 5))
    return total / count


def depthwise(x, weight, stride, p, dilation=1):
    k = weight.shape[-1]
    return np.einsum("nchwij,cij->nchw", windows(pad(x, p), k, stride, dilation), weight)


def pointwise(x, weight, stride=1):
    return np.einsum("nchw,oc->nohw", x[:, :, ::stride, ::stride], weight[:, :, 0, 0])


def bn_eval(x):  # running mean 0, variance 1, beta 0, gamma 1
    return x / np.sqrt(1 + EPS)


def bn_batch(x):
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + EPS)


def relu(x):
    return np.maximum(x, 0)


def weight(conv):
    return np.array(conv.W.d, dtype=np.float64)


# ------------------------------------------------------------------ the registry
def test_the_eight_candidates_are_registered_in_primitive_order():
    assert PRIMITIVES == ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                          "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
    assert CANDIDATES.names() == PRIMITIVES


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("size", [8, 7])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", CANDIDATES.names())
def test_output_shape(name, stride, size, affine):
    op = CANDIDATES.get(name)(8, stride, affine)
    y = op(variable((2, 8, size, size)))
    out = -(-size // stride)
    assert y.shape == (2, 8, out, out)
    assert np.isfinite(run(y)).all()


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", CANDIDATES.names())
def test_parameters_get_gradients(name, stride, affine):
    op = CANDIDATES.get(name)(8, stride, affine)
    x = variable((2, 8, 8, 8))
    params = op.get_parameters(grad_only=True)
    assert (not params) == ((name, stride) in PARAMETER_FREE)
    y = op(x)
    if y.parent is None:
        return  # the identity: nothing to differentiate
    y.forward()
    y.backward(grad=np.random.RandomState(1).randn(*y.shape).astype(np.float32))
    for key, p in params.items():
        assert np.abs(p.g).sum() > 0, f"{name}: {key} got no gradient"


@pytest.mark.parametrize("stride", [1, 2])
def test_none_outputs_zeros(stride):
    y = CANDIDATES.get("none")(8, stride, False)(variable((2, 8, 7, 7)))
    np.testing.assert_array_equal(run(y), 0)


@pytest.mark.parametrize("name", CANDIDATES.names())
def test_factories_reject_bad_arguments_by_name(name):
    factory = CANDIDATES.get(name)
    with pytest.raises(ValueError, match=f"{name}: stride: expected 1 or 2, got 3"):
        factory(8, 3, False)
    with pytest.raises(ValueError, match=f"{name}: stride: expected 1 or 2, got 1.0"):
        factory(8, 1.0, False)
    with pytest.raises(ValueError, match=f"{name}: channels"):
        factory(0, 1, False)
    with pytest.raises(TypeError, match=f"{name}: affine"):
        factory(8, 1, "no")


def test_lookup_of_an_unknown_candidate_suggests_the_closest():
    with pytest.raises(KeyError, match="unknown candidate operation 'sep_conv_9x9'; "
                                       "did you mean 'sep_conv_5x5'"):
        CANDIDATES.get("sep_conv_9x9")


# ------------------------------------------------------------ numpy references
@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("stride", [1, 2])
def test_pools_match_numpy_in_the_train_setting(stride, size):
    x = variable((2, 3, size, size))
    expected = {"max_pool_3x3": max_pool(x.d, stride),
                "avg_pool_3x3": avg_pool_excluding_pad(x.d, stride)}
    for name, reference in expected.items():
        op = CANDIDATES.get(name)(3, stride, True)
        assert not op.get_parameters()  # no BN in the train network
        np.testing.assert_allclose(run(op(x)), reference, rtol=1e-5, atol=1e-6)


def test_pools_are_batch_normalized_without_affine_in_the_search_setting():
    x = variable((4, 3, 7, 7))
    op = CANDIDATES.get("avg_pool_3x3")(3, 2, False)
    assert isinstance(op[1], Mo.BatchNormalization) and not op.get_parameters(True)
    np.testing.assert_allclose(run(op(x)), bn_batch(avg_pool_excluding_pad(x.d, 2)),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [7, 8])
def test_factorized_reduce_matches_numpy(size):
    op = FactorizedReduce(3, 4).apply(training=False)
    x = variable((2, 3, size, size))
    h = relu(np.array(x.d, dtype=np.float64))
    # The second half sees the input shifted by one pixel, zero-padded at the end.
    shifted = np.zeros_like(h)
    shifted[:, :, :-1, :-1] = h[:, :, 1:, 1:]
    expected = bn_eval(np.concatenate([pointwise(h, weight(op.conv1), 2),
                                       pointwise(shifted, weight(op.conv2), 2)], axis=1))
    np.testing.assert_allclose(run(op(x)), expected, rtol=1e-5, atol=1e-5)
    assert expected.shape[2:] == (-(-size // 2),) * 2


def test_factorized_reduce_needs_an_even_number_of_outputs():
    with pytest.raises(ValueError, match="FactorizedReduce: out_channels: expected an "
                                         "even number, got 5"):
        FactorizedReduce(4, 5)


@pytest.mark.parametrize("stride", [1, 2])
def test_dil_conv_matches_numpy(stride):
    op = DilConv(3, 4, kernel=3, stride=stride, pad=2, dilation=2).apply(training=False)
    x = variable((2, 3, 7, 7))
    h = depthwise(relu(np.array(x.d, dtype=np.float64)), weight(op.depthwise), stride,
                  2, dilation=2)
    expected = bn_eval(pointwise(h, weight(op.pointwise)))
    np.testing.assert_allclose(run(op(x)), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
def test_sep_conv_matches_numpy(stride):
    op = SepConv(3, 4, kernel=5, stride=stride, pad=2).apply(training=False)
    x = variable((2, 3, 7, 7))
    h = np.array(x.d, dtype=np.float64)
    for unit, s in ((op.first, stride), (op.second, 1)):
        _, dw, pw, _ = unit
        h = bn_eval(pointwise(depthwise(relu(h), weight(dw), s, 2), weight(pw)))
    np.testing.assert_allclose(run(op(x)), h, rtol=1e-4, atol=1e-5)


def test_relu_conv_bn_matches_numpy():
    op = ReLUConvBN(3, 5, kernel=1, stride=1, pad=0).apply(training=False)
    x = variable((2, 3, 4, 4))
    expected = bn_eval(pointwise(relu(np.array(x.d, dtype=np.float64)), weight(op.conv)))
    np.testing.assert_allclose(run(op(x)), expected, rtol=1e-5, atol=1e-5)


def test_blocks_have_readable_reprs():
    assert repr(SepConv(4, 4, 3, 2, 1, affine=False)).startswith(
        "SepConv(\n  in_channels=4, out_channels=4, kernel=3, stride=2, pad=1, "
        "affine=False\n  (first): Sequential(")
    assert "dilation=2" in repr(DilConv(4, 4, 3, 1, 2, 2))
    assert repr(FactorizedReduce(4, 6)).splitlines()[1].strip() == (
        "in_channels=4, out_channels=6, affine=True")
    assert "(conv): Conv(" in repr(ReLUConvBN(4, 6))
