"""The MobileNetV2 inverted-residual block, the stage layout and the random
MobileNetV2-style networks."""
import doctest

import nnabla as nn
import numpy as np
import pytest

from nnabla_nas.contrib.pnas import InvertedResidual, MobileNetV2Like, random_mobilenet
from nnabla_nas.contrib.pnas import blocks as B
from nnabla_nas.contrib.pnas.blocks import (EXPANSIONS, KERNELS, check_stages,
                                            make_divisible, random_specs)


def _run(module, x):
    module.apply(training=False)
    y = module(nn.Variable.from_numpy_array(x))
    y.forward()
    return y.d.copy()


@pytest.mark.parametrize("cin, cout, k, s, e, shape", [
    (8, 8, 3, 1, 6, (2, 8, 9, 9)),
    (8, 16, 5, 1, 3, (2, 16, 9, 9)),
    (8, 8, 7, 2, 1, (2, 8, 5, 5)),
])
def test_output_shape(cin, cout, k, s, e, shape):
    block = InvertedResidual(cin, cout, k, s, e, rng=np.random.RandomState(0))
    y = block(nn.Variable((2, cin, 9, 9)))
    assert y.shape == shape


def test_residual_add_is_written_in_call_outside_the_leaves():
    block = InvertedResidual(8, 8, 3, 1, 6, rng=np.random.RandomState(0))
    assert block.use_residual
    y = block(nn.Variable((1, 8, 6, 6)))
    assert y.parent.info.type_name == "Add2"
    for cin, cout, s in ((8, 16, 1), (8, 8, 2)):
        other = InvertedResidual(cin, cout, 3, s, 6)
        assert not other.use_residual
        assert other(nn.Variable((1, cin, 6, 6))).parent.info.type_name == \
            "BatchNormalization"


def test_residual_output_is_the_projection_plus_the_input():
    rng = np.random.RandomState(1)
    block = InvertedResidual(4, 4, 3, 1, 3, rng=rng)
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    y = _run(block, x)
    h = nn.Variable.from_numpy_array(x)
    inner = block.project(block.depthwise(block.expand(h)))
    inner.forward()
    np.testing.assert_allclose(y, inner.d + x, rtol=1e-5, atol=1e-6)


def test_expansion_one_has_no_expand_layer():
    assert "expand" not in InvertedResidual(8, 8, 3, 1, 1).modules
    block = InvertedResidual(8, 8, 3, 1, 6)
    assert block.expand[0].W.shape == (48, 8, 1, 1)
    assert block.depthwise[0].W.shape == (48, 3, 3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(kernel=4), "kernel: expected an odd size"),
    (dict(stride=3), "stride: expected one of"),
    (dict(expansion=0), "expansion: expected a positive int"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InvertedResidual(8, 8, **kwargs)


def test_relu6_and_bn_layers_in_order():
    block = InvertedResidual(4, 8, 3, 2, 3)
    y = block(nn.Variable((1, 4, 8, 8)))
    names = []
    y.visit(lambda f: names.append(f.info.type_name))
    assert names == ["Convolution", "BatchNormalization", "ReLU6",
                     "DepthwiseConvolution", "BatchNormalization", "ReLU6",
                     "Convolution", "BatchNormalization"]


@pytest.mark.parametrize("seed", range(20))
def test_random_specs_follow_the_mobilenet_pattern(seed):
    specs = random_specs(np.random.RandomState(seed))
    assert 7 <= len(specs) <= 12
    widths = [c for c, _, _, _ in specs]
    assert widths == sorted(widths) and 16 <= widths[0] and widths[-1] <= 96
    for i, (c, k, s, e) in enumerate(specs):
        assert k in KERNELS and e in EXPANSIONS and c % 8 == 0
        if i > 0:  # a new width exactly where a stride-2 block starts a stage
            assert (s == 2) == (c != specs[i - 1][0])
    assert 2 <= sum(s == 2 for _, _, s, _ in specs) <= 3


def test_random_mobilenet_is_seeded():
    a, b = random_mobilenet(5), random_mobilenet(5)
    assert a.specs == b.specs
    x = np.random.RandomState(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(_run(a, x), _run(b, x))
    assert random_mobilenet(6).specs != a.specs


def test_network_output_shape():
    net = MobileNetV2Like([(16, 3, 1, 1), (24, 5, 2, 6)], num_classes=7)
    assert net(nn.Variable((2, 3, 32, 32))).shape == (2, 7)


def test_make_divisible_gives_the_published_narrow_mobilenets():
    # MobileNetV2 0.35: stem 16, stages 8 8 16 24 32 56 112, the widths of the
    # reference implementations' 0.35 models.
    assert [make_divisible(c * 0.35) for c in (32, 16, 24, 32, 64, 96, 160, 320)] == \
        [16, 8, 8, 16, 24, 32, 56, 112]
    assert make_divisible(10) == 16  # 8 would lose more than 10 %
    assert make_divisible(1280 * 1.4) == 1792 and make_divisible(3, 8) == 8


@pytest.mark.parametrize("stages, message", [
    ([], r"stages: expected a non-empty list"),
    ("1,16,1,1", r"stages: expected a non-empty list"),
    ([[1, 16, 1]], r"stages\[0\]: expected a row"),
    ([[1, 16, 1, 1], [6, 24, 2.0, 2]], r"stages\[1\]: expected a row .* of 4 ints"),
    ([[1, 16, 1, True]], r"stages\[0\]: expected a row"),
    ([[4, 16, 1, 1]], r"stages\[0\]\[0\]: expected an expansion in \[1, 3, 6\], got 4"),
    ([[6, 0, 1, 1]], r"stages\[0\]\[1\]: expected positive channels, got 0"),
    ([[6, 8, 0, 1]], r"stages\[0\]\[2\]: expected positive repeats, got 0"),
    ([[6, 8, 1, 1], [6, 8, 1, 3]], r"stages\[1\]\[3\]: expected a stride of 1 or 2"),
])
def test_bad_stages_name_the_row_and_entry(stages, message):
    with pytest.raises(ValueError, match=message):
        check_stages(stages)


def test_docstring_examples():
    assert doctest.testmod(B, raise_on_error=True).attempted >= 1
