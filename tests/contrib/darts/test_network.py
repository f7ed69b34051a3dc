"""SearchNet and TrainNet: shapes, architecture parameters, modes, derivation, training."""
import nnabla as nn
import numpy as np
import pytest

from nnabla_nas.contrib.darts import (DARTS_V2, Genotype, SearchNet, TrainNet,
                                      load_genotype, save_genotype)
from nnabla_nas.contrib.model import Model
from nnabla_nas.module import MixedOp

from .test_genotype import hand_set_alphas


def images(n, channels, size, seed=0):
    x = np.random.RandomState(seed).randn(n, channels, size, size).astype(np.float32)
    return nn.Variable.from_numpy_array(x)


def labels(n, classes=10, seed=0):
    t = np.random.RandomState(seed).randint(0, classes, (n, 1))
    return nn.Variable.from_numpy_array(t)


def search_net(**kw):
    args = dict(in_channels=1, init_channels=4, num_cells=3, num_classes=10,
                rng=np.random.RandomState(0))
    args.update(kw)
    return SearchNet(**args)


def mixed_ops(net):
    return [m for _, m in net.get_modules() if isinstance(m, MixedOp)]


# ------------------------------------------------------------------------ SearchNet
@pytest.mark.parametrize("in_channels, size", [(1, 8), (3, 8), (3, 32)])
def test_search_net_output_shape(in_channels, size):
    net = search_net(in_channels=in_channels)
    assert isinstance(net, Model)
    y = net(images(2, in_channels, size))
    y.forward()
    assert y.shape == (2, 10) and np.isfinite(y.d).all()


def test_search_net_reduces_at_one_and_two_thirds_doubling_channels():
    net = search_net(num_cells=5, multiplier=3)
    net(images(2, 1, 8))
    assert [c.reduction for c in net.cells] == [False, True, False, True, False]
    # input shapes (s0, s1) of each cell: channels are multiplier * node channels
    assert [c.input_shapes[1] for c in net.cells] == [
        (2, 12, 8, 8), (2, 12, 8, 8), (2, 24, 4, 4), (2, 24, 4, 4), (2, 48, 2, 2)]
    assert net.classifier.W.shape == (48, 10)


def test_shared_alphas_are_one_per_edge_and_kind_named_alpha():
    net = search_net(num_cells=4)
    arch = net.get_arch_parameters()
    assert list(arch) == ([f"alpha_normal/{e}" for e in range(14)]
                          + [f"alpha_reduce/{e}" for e in range(14)])
    assert all(p.shape == (8,) for p in arch.values())
    assert not any("alpha" in k for k in net.get_net_parameters())
    assert len(arch) + len(net.get_net_parameters()) == len(net.get_parameters())


def test_shared_alphas_are_the_same_objects_in_every_cell():
    net = search_net(num_cells=4)
    for cell in net.cells:
        shared = net.alpha_reduce if cell.reduction else net.alpha_normal
        assert all(edge.alpha is shared[e] for e, edge in enumerate(cell.edges))


def test_unshared_alphas_belong_to_each_edge():
    net = search_net(num_cells=3, shared=False)
    arch = net.get_arch_parameters()
    assert len(arch) == 3 * 14 and all(p.shape == (8,) for p in arch.values())
    assert "cells/2/edges/13/alpha" in arch
    assert len({id(p) for p in arch.values()}) == 3 * 14
    assert not any("alpha" in k for k in net.get_net_parameters())


def test_alphas_start_small_random_and_seeded():
    a = np.stack([p.d for p in search_net().get_arch_parameters().values()])
    b = np.stack([p.d for p in search_net().get_arch_parameters().values()])
    np.testing.assert_array_equal(a, b)
    assert 0 < np.abs(a).max() < 1e-2 and 3e-4 < a.std() < 3e-3


def test_alphas_and_weights_receive_gradients_in_full_mode():
    net = search_net()
    loss = net.loss(net(images(4, 1, 8)), labels(4))
    loss.forward()
    loss.backward()
    for name, p in net.get_arch_parameters().items():
        assert np.abs(p.g).sum() > 0, name
    assert np.abs(net.stem[0].W.g).sum() > 0


def test_sample_mode_runs_one_path_per_edge():
    net = search_net(mode="sample")
    full = len(search_net().get_net_parameters(grad_only=True))
    loss = net.loss(net(images(2, 1, 8)), labels(2))
    loss.forward()
    loss.backward()
    ops = mixed_ops(net)
    assert len(ops) == 3 * 14 and all(op.active_index is not None for op in ops)
    for op in ops:
        active = op.ops[op.active_index]
        others = [o for k, o in enumerate(op.ops) if k != op.active_index]
        trainable = [k for k, p in active.get_parameters().items() if p.need_grad]
        assert list(active.get_parameters(grad_only=True)) == trainable
        assert not any(o.get_parameters(grad_only=True) for o in others)
    assert len(net.get_net_parameters(grad_only=True)) < full
    # the drawn paths pass the binary-gate gradient to the alphas
    assert any(np.abs(p.g).sum() > 0 for p in net.get_arch_parameters().values())


def test_set_mode_switches_every_mixed_op():
    net = search_net()
    assert net.set_mode("max") is net and net.mode == "max"
    assert all(op.mode == "max" for op in mixed_ops(net))
    net(images(2, 1, 8))
    for op in mixed_ops(net):
        assert op.active_index == int(np.argmax(op.alpha.d))
    net.set_mode("full")
    assert all(op.mode == "full" for op in mixed_ops(net))
    with pytest.raises(ValueError, match="SearchNet: mode: expected one of"):
        net.set_mode("fast")


def test_genotype_of_shared_alphas():
    alphas, expected = hand_set_alphas()
    net = search_net()
    for e, p in enumerate(net.alpha_normal):
        p.d = alphas[e]
    g = net.genotype()
    assert isinstance(g, Genotype) and g.normal == expected
    assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)


def test_genotype_of_unshared_alphas_averages_the_cells_of_each_kind():
    alphas, expected = hand_set_alphas()
    net = search_net(num_cells=4, shared=False)  # normal cells 0 and 3
    normal = [c for c in net.cells if not c.reduction]
    for e in range(14):
        normal[0].edges[e].alpha.d = 2 * alphas[e] - 1
        normal[1].edges[e].alpha.d = np.ones(8)
    np.testing.assert_allclose(net.alpha_array("normal"), alphas, atol=1e-6)
    assert net.genotype().normal == expected
    reduce = np.mean([[e.alpha.d for e in c.edges] for c in net.cells if c.reduction], 0)
    np.testing.assert_allclose(net.alpha_array("reduce"), reduce)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(in_channels=0), ValueError, "in_channels"),
    (dict(init_channels=-1), ValueError, "init_channels"),
    (dict(num_cells=2), ValueError, "num_cells: expected an int >= 3"),
    (dict(num_classes=1.5), ValueError, "num_classes"),
    (dict(num_nodes=0), ValueError, "num_nodes"),
    (dict(multiplier=5), ValueError, "multiplier: expected at most num_nodes=4"),
    (dict(stem_multiplier=0), ValueError, "stem_multiplier"),
    (dict(mode="fast"), ValueError, "mode"),
    (dict(shared="yes"), TypeError, "shared"),
    (dict(rng=42), TypeError, "rng"),
])
def test_search_net_rejects_bad_arguments_by_name(kwargs, error, message):
    with pytest.raises(error, match=f"SearchNet: {message}"):
        search_net(**kwargs)


# ------------------------------------------------------------------------- TrainNet
def train_net(**kw):
    args = dict(genotype=DARTS_V2, in_channels=1, init_channels=4, num_cells=3,
                num_classes=10)
    args.update(kw)
    return TrainNet(**args)


@pytest.mark.parametrize("in_channels, size", [(1, 8), (3, 32), (1, 28)])
def test_train_net_output_shape(in_channels, size):
    net = train_net(in_channels=in_channels).apply(training=False)
    y = net(images(2, in_channels, size))
    y.forward()
    assert y.shape == (2, 10) and np.isfinite(y.d).all()


@pytest.mark.parametrize("size", [8, 32, 4])
def test_auxiliary_output_in_training_only(size):
    net = train_net(auxiliary=True, num_cells=5)
    outputs = net(images(2, 1, size))
    assert isinstance(outputs, list) and [o.shape for o in outputs] == [(2, 10)] * 2
    net.apply(training=False)
    assert net(images(2, 1, size)).shape == (2, 10)
    assert train_net(auxiliary=False)(images(2, 1, size)).shape == (2, 10)


def test_loss_with_auxiliary_head_trains_every_weight():
    net = train_net(auxiliary=True, drop_path_prob=0.2)
    outputs = net(images(4, 1, 8))
    loss = net.loss(outputs, labels(4))
    loss.forward()
    loss.backward()
    assert np.isfinite(loss.d)
    for name, p in net.get_net_parameters(grad_only=True).items():
        assert np.abs(p.g).sum() > 0, name
    assert not net.get_arch_parameters()


def test_loss_weights_the_auxiliary_output_by_auxiliary_weight():
    net = train_net(auxiliary=True, auxiliary_weight=0.25)
    outputs, t = net(images(4, 1, 8)), labels(4)
    default, explicit = net.loss(outputs, t), net.loss(outputs, t, loss_weights=[1, 0.25])
    nn.forward_all([default, explicit])
    np.testing.assert_allclose(default.d, explicit.d, rtol=1e-6)


def test_drop_path_prob_is_settable_and_off_in_eval():
    net = train_net()
    assert net.drop_path_prob == 0.0
    net.drop_path_prob = 0.3
    assert net.drop_path_prob == 0.3
    with pytest.raises(ValueError, match="TrainNet: drop_path_prob"):
        net.drop_path_prob = 1.0
    x = images(8, 1, 8)
    y = net(x)
    y.forward()
    first = y.d.copy()
    y.forward()
    assert not np.allclose(first, y.d)  # new paths dropped at each pass
    net.apply(training=False)
    y = net(x)
    y.forward()
    first = y.d.copy()
    y.forward()
    np.testing.assert_array_equal(first, y.d)


def test_train_net_is_smaller_than_the_search_net():
    def count(net):
        return sum(p.size for p in net.get_net_parameters().values())

    search = SearchNet(3, 8, 5, 10)
    assert count(train_net(in_channels=3, init_channels=8, num_cells=5)) < count(search)


def test_search_derive_save_load_train(tmp_path):
    search = search_net()
    path = tmp_path / "arch.json"
    save_genotype(search.genotype(), path)
    genotype = load_genotype(path)
    assert genotype == search.genotype()
    net = TrainNet(genotype, 1, 4, 3, 10)
    assert net.genotype is genotype and net(images(2, 1, 8)).shape == (2, 10)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(genotype="arch.json"), TypeError, "genotype: expected a Genotype"),
    (dict(in_channels=0), ValueError, "in_channels"),
    (dict(num_cells=0), ValueError, "num_cells"),
    (dict(auxiliary=1), TypeError, "auxiliary"),
    (dict(stem_multiplier=-3), ValueError, "stem_multiplier"),
    (dict(drop_path_prob=-0.1), ValueError, "drop_path_prob"),
    (dict(auxiliary_weight=-1.0), ValueError, "auxiliary_weight"),
])
def test_train_net_rejects_bad_arguments_by_name(kwargs, error, message):
    with pytest.raises(error, match=f"TrainNet: {message}"):
        train_net(**kwargs)
