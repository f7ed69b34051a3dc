"""SearchNet and TrainNet of the ProxylessNAS space: candidates, shapes, MixedOps,
sampling, derivation, and MobileNetV2's parameter count."""
import doctest

import nnabla as nn
import numpy as np
import pytest

from nnabla_nas.contrib.model import Model
from nnabla_nas.contrib.pnas import InvertedResidual
from nnabla_nas.contrib.pnas import network as N
from nnabla_nas.contrib.pnas.genotype import OPS, SKIP, plain_mobilenet_v2_arch
from nnabla_nas.contrib.pnas.network import SearchNet, TrainNet, candidate
from nnabla_nas.module import Identity, MixedOp

#: A tiny layout: 1 fixed block and 4 searched ones, three of which may skip.
TINY = [[1, 8, 1, 1], [6, 8, 2, 1], [3, 16, 2, 2]]
DIGITS = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 2, 2], [6, 64, 2, 2]]


def images(n, channels, size, seed=0):
    x = np.random.RandomState(seed).randn(n, channels, size, size).astype(np.float32)
    return nn.Variable.from_numpy_array(x)


def labels(n, classes=10, seed=0):
    return nn.Variable.from_numpy_array(np.random.RandomState(seed).randint(0, classes,
                                                                            (n, 1)))


def tiny_net(**kw):
    args = dict(in_channels=1, num_classes=10, stages=TINY, stem="small", stem_channels=8,
                head_channels=32, rng=np.random.RandomState(0))
    args.update(kw)
    return SearchNet(**args)


def graph_parameters(y):
    """The variables that functions of ``y``'s graph read (parameters among them)."""
    inputs = []
    y.visit(lambda f: inputs.extend(f.inputs))
    return inputs


def size(params):
    return sum(int(np.prod(p.shape)) for p in params.values())


# ---------------------------------------------------------------------- candidates
@pytest.mark.parametrize("name", OPS)
def test_candidate_is_the_named_inverted_residual(name):
    op = candidate(name, 8, 16, 2, rng=np.random.RandomState(0))
    kernel, expansion = int(name[1]), int(name[4])
    assert isinstance(op, InvertedResidual)
    assert op.depthwise[0].W.shape == (8 * expansion, kernel, kernel)
    assert op(nn.Variable((2, 8, 9, 9))).shape == (2, 16, 5, 5)


def test_skip_candidate_is_the_identity_where_allowed():
    assert isinstance(candidate(SKIP, 8, 8, 1), Identity)
    for shape in ((8, 16, 1), (8, 8, 2)):
        with pytest.raises(ValueError, match="candidate: name: 'skip' needs stride 1"):
            candidate(SKIP, *shape)


@pytest.mark.parametrize("name", ["k3_e1", "k9_e6", "sep_conv_3x3", None])
def test_unknown_candidate_names_the_name(name):
    with pytest.raises(ValueError, match=f"candidate: name: unknown candidate operation "
                                         f"{name!r}"):
        candidate(name, 8, 8, 1)


# ------------------------------------------------------------------------ SearchNet
@pytest.mark.parametrize("stem, stages, size, head_size", [
    ("small", DIGITS, 8, 2),        # digits: 8x8 kept by the stem, two stride-2 stages
    ("small", TINY, 32, 16),        # CIFAR-10 sized
    ("imagenet", TINY, 32, 8),      # the stem halves the image
    ("imagenet", [[1, 8, 1, 1], [6, 8, 1, 2], [6, 16, 1, 2], [6, 16, 1, 2],
                  [6, 16, 1, 2]], 32, 1),
])
def test_search_net_output_shape_for_both_stems(stem, stages, size, head_size):
    net = tiny_net(stem=stem, stages=stages)
    assert isinstance(net, Model)
    y = net(images(2, 1, size))
    y.forward()
    assert y.shape == (2, 10) and np.isfinite(y.d).all()
    assert net.head.input_shapes[0][2:] == (head_size, head_size)


def test_every_searched_block_is_a_mixed_op_with_skip_only_where_allowed():
    net = tiny_net()
    assert not isinstance(net.blocks[0], MixedOp)  # the fixed k3_e1 block
    assert net.mixed_ops() == [net.blocks[i] for i in range(1, 5)]
    # blocks 1-4: 8 -> 8, 8 -> 8, 8 -> 16 (stride 2), 16 -> 16: no skip in block 3.
    assert net.op_names() == [OPS + (SKIP,), OPS + (SKIP,), OPS, OPS + (SKIP,)]
    assert [len(op.ops) for op in net.mixed_ops()] == [7, 7, 6, 7]
    assert isinstance(net.mixed_ops()[1].ops[6], Identity)
    assert all(op.mode == "sample" for op in net.mixed_ops())


def test_alphas_are_the_only_parameters_named_alpha():
    net = tiny_net()
    arch = net.get_arch_parameters()
    assert list(arch) == [f"blocks/{i}/alpha" for i in range(1, 5)]
    assert [p.shape for p in arch.values()] == [(7,), (7,), (6,), (7,)]
    assert all(op.alpha is arch[f"blocks/{i + 1}/alpha"]
               for i, op in enumerate(net.mixed_ops()))
    assert not any("alpha" in k for k in net.get_net_parameters())
    assert len(arch) + len(net.get_net_parameters()) == len(net.get_parameters())


def test_alphas_start_small_random_and_seeded():
    a = np.concatenate([p.d for p in tiny_net().get_arch_parameters().values()])
    b = np.concatenate([p.d for p in tiny_net().get_arch_parameters().values()])
    np.testing.assert_array_equal(a, b)
    assert 0 < np.abs(a).max() < 1e-2


def test_sample_mode_runs_one_candidate_per_block_and_trains_only_its_weights():
    nn.random.seed(3)
    net = tiny_net()
    loss = net.loss(net(images(2, 1, 8)), labels(2))
    used = graph_parameters(loss)
    active_names = []
    for i, op in zip(range(1, 5), net.mixed_ops()):
        k = op.active_index
        assert k is not None
        for j, cand in enumerate(op.ops):
            params = cand.get_parameters()
            # exactly the drawn candidate is in the graph ...
            assert all((p in used) == (j == k) for p in params.values()), (i, j)
            # ... and only its weights are listed for the solver
            assert bool(cand.get_parameters(grad_only=True)) == (j == k and bool(params))
        active_names += [f"blocks/{i}/ops/{k}/{n}" for n, p in
                         op.ops[k].get_parameters().items() if p.need_grad]
    trainable = list(net.get_net_parameters(grad_only=True))
    assert [n for n in trainable if n.startswith(tuple(f"blocks/{i}/" for i in
                                                       range(1, 5)))] == active_names
    assert "stem/0/W" in trainable and "blocks/0/depthwise/0/W" in trainable
    loss.forward()
    loss.backward()
    # the drawn paths pass the binary-gate gradient to the alphas
    assert all(np.abs(p.g).sum() > 0 for p in net.get_arch_parameters().values())


def test_set_mode_switches_every_mixed_op():
    net = tiny_net()
    assert net.set_mode("max") is net and net.mode == "max"
    net(images(2, 1, 8))
    for op in net.mixed_ops():
        assert op.mode == "max" and op.active_index == int(np.argmax(op.alpha.d))
    net.set_mode("full")
    assert all(op.mode == "full" for op in net.mixed_ops())
    y = net(images(2, 1, 8))
    y.forward()
    assert y.shape == (2, 10)
    with pytest.raises(ValueError, match="SearchNet: mode: expected one of"):
        net.set_mode("fast")


def hand_set(net, choices):
    for op, k in zip(net.mixed_ops(), choices):
        alpha = np.zeros(op.alpha.shape, dtype=np.float32)
        alpha[k] = 0.5
        op.alpha.d = alpha


@pytest.mark.parametrize("choices, ops", [
    ([0, 6, 5, 6], ("k3_e3", SKIP, "k7_e6", SKIP)),
    ([3, 2, 1, 4], ("k5_e6", "k5_e3", "k3_e6", "k7_e3")),
])
def test_genotype_takes_the_largest_alpha_of_each_block(choices, ops):
    net = tiny_net()
    hand_set(net, choices)
    arch = net.genotype()
    assert arch.searched_ops == ops
    assert arch.blocks[0] == net.plain.blocks[0]
    assert [(b.out_channels, b.stride) for b in arch.blocks] == \
        [(b.out_channels, b.stride) for b in net.plain.blocks]


def test_genotype_ties_go_to_the_first_candidate():
    net = tiny_net()
    for op in net.mixed_ops():
        op.alpha.d = np.zeros(op.alpha.shape)
    assert net.genotype().searched_ops == ("k3_e3",) * 4


def test_genotype_with_given_choices():
    net = tiny_net()
    assert net.genotype([6, 0, 5, 6]).searched_ops == (SKIP, "k3_e3", "k7_e6", SKIP)
    assert net.genotype(np.array([1, 1, 1, 1])).searched_ops == ("k3_e6",) * 4


@pytest.mark.parametrize("choices, message", [
    ([0, 0, 0], r"choices: expected 4 indices \(one per MixedOp\), got 3"),
    ([0, 0, 6, 0], r"choices\[2\]: expected an index in \[0, 6\), got 6"),
    ([0, -1, 0, 0], r"choices\[1\]: expected an index in \[0, 7\), got -1"),
    ([0, True, 0, 0], r"choices\[1\]: expected an index"),
])
def test_genotype_rejects_bad_choices_by_index(choices, message):
    with pytest.raises(ValueError, match=f"^SearchNet.genotype: {message}"):
        tiny_net().genotype(choices)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(in_channels=0), ValueError, "in_channels: expected a positive int"),
    (dict(num_classes=1.5), ValueError, "num_classes: expected a positive int"),
    (dict(stages=[[1, 8, 1, 1], [6, 8, 1, 4]]), ValueError, r"stages\[1\]\[3\]: "),
    (dict(stem="tiny"), ValueError, "stem: expected one of"),
    (dict(width_multiplier=-1.0), ValueError, "width_multiplier"),
    (dict(head_channels=0), ValueError, "head_channels"),
    (dict(dropout=1.0), ValueError, "dropout"),
    (dict(mode="all"), ValueError, "mode: expected one of"),
    (dict(rng=0), TypeError, "rng: expected a numpy RandomState"),
])
def test_search_net_rejects_bad_arguments_by_name(kwargs, error, message):
    with pytest.raises(error, match=f"^SearchNet: {message}"):
        tiny_net(**kwargs)


# ------------------------------------------------------------------------- TrainNet
def test_train_net_has_the_parameter_shapes_of_the_chosen_candidates():
    search = tiny_net()
    hand_set(search, [4, 6, 1, 3])
    arch = search.genotype()
    train = TrainNet(arch, in_channels=1, num_classes=10)
    chosen = {f"blocks/{i}/ops/{k}/": f"blocks/{i}/"
              for i, k in zip(range(1, 5), [4, 6, 1, 3])}
    expected = {}
    for name, p in search.get_net_parameters().items():
        if name.startswith("blocks/") and "/ops/" in name:
            prefix = name[:name.index("/ops/") + len("/ops/")]
            prefix += name[len(prefix):].split("/", 1)[0] + "/"
            if prefix not in chosen:
                continue
            name = chosen[prefix] + name[len(prefix):]
        expected[name] = tuple(p.shape)
    assert {k: tuple(p.shape) for k, p in train.get_parameters().items()} == expected
    assert isinstance(train.blocks[2], Identity) and train.genotype is arch


@pytest.mark.parametrize("stem, size", [("small", 8), ("imagenet", 32)])
def test_train_net_output_shape(stem, size):
    arch = plain_mobilenet_v2_arch(DIGITS, stem=stem, head_channels=64)
    net = TrainNet(arch, 3, 7, dropout=0.2, rng=np.random.RandomState(0))
    y = net(images(2, 3, size))
    y.forward()
    assert y.shape == (2, 7) and np.isfinite(y.d).all()


def test_dropout_acts_before_the_classifier_in_training_only():
    net = TrainNet(plain_mobilenet_v2_arch(TINY, stem="small", head_channels=32), 1, 10,
                   dropout=0.5)
    x = images(4, 1, 8)

    def classifier_input(y):
        assert y.parent.info.type_name == "Affine"
        return y.parent.inputs[0].parent.info.type_name

    net.apply(training=False)
    y = net(x)
    assert classifier_input(y) == "Mean" and net.classifier.input_shapes == [(4, 32)]
    y.forward()
    first = y.d.copy()
    y.forward()
    np.testing.assert_array_equal(first, y.d)
    net.apply(training=True)
    assert classifier_input(net(x)) == "Mul2"  # the pooled features times the mask


def test_mobilenet_v2_has_the_published_parameter_count():
    """MobileNetV2 1.0 on ImageNet (224x224, 1000 classes): 3,504,872 trainable
    parameters, torchvision's count (conv weights without bias, BN gamma and beta, the
    classifier's weight and bias). NNabla also stores BN's running mean and variance
    as parameters, with need_grad=False: 2 x 17,056 BN channels more in all."""
    net = TrainNet(plain_mobilenet_v2_arch(), in_channels=3, num_classes=1000)
    assert size(net.get_parameters(grad_only=True)) == 3_504_872
    assert size(net.get_parameters()) == 3_504_872 + 2 * 17_056
    bn_channels = sum(int(p.size) for k, p in net.get_parameters().items()
                      if k.endswith("/mean"))
    assert bn_channels == 17_056
    with nn.auto_forward(False):
        assert net(nn.Variable((1, 3, 224, 224))).shape == (1, 1000)
    assert net.head.input_shapes == [(1, 320, 7, 7)]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(genotype="arch.json"), TypeError, "genotype: expected a Genotype"),
    (dict(in_channels=-1), ValueError, "in_channels"),
    (dict(num_classes=0), ValueError, "num_classes"),
    (dict(dropout=-0.1), ValueError, "dropout"),
])
def test_train_net_rejects_bad_arguments_by_name(kwargs, error, message):
    args = dict(genotype=plain_mobilenet_v2_arch(TINY), in_channels=1, num_classes=10)
    args.update(kwargs)
    with pytest.raises(error, match=f"^TrainNet: {message}"):
        TrainNet(**args)


def test_docstring_examples():
    assert doctest.testmod(N, raise_on_error=True).attempted >= 2


def test_the_candidate_registry_holds_exactly_the_arch_json_names():
    from nnabla_nas.contrib.pnas.genotype import OPS, SKIP
    from nnabla_nas.contrib.pnas.ops import CANDIDATES
    assert CANDIDATES.names() == list(OPS) + [SKIP]
