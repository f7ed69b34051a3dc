"""Optimizer: schedules, one update against numpy, weight decay, clipping, states."""
import math
from collections import OrderedDict

import numpy as np
import pytest

from nnabla_nas.module import Parameter
from nnabla_nas.runner.optimizer import Optimizer, cosine_lr
from nnabla_nas.runner.schema import OptimizerConfig

SHAPES = OrderedDict(W=(3, 2), b=(4,))


def params(seed=0):
    rng = np.random.RandomState(seed)
    return OrderedDict((k, Parameter(s, initializer=rng.randn(*s).astype(np.float32)))
                       for k, s in SHAPES.items())


def grads(seed):
    rng = np.random.RandomState(100 + seed)
    return OrderedDict((k, rng.randn(*s).astype(np.float32)) for k, s in SHAPES.items())


def set_grads(ps, gs):
    for k, p in ps.items():
        p.g = gs[k]


def plain_sgd(**kw):
    base = dict(name="sgd", lr=0.1, schedule="constant", momentum=0.0, weight_decay=0.0,
                grad_clip=0.0)
    base.update(kw)
    return OptimizerConfig(**base)


def one_update(config, step=0):
    """Weights before, gradients, weights after one update, and the rate used."""
    ps = params()
    before = OrderedDict((k, p.d.copy()) for k, p in ps.items())
    gs = grads(0)
    opt = Optimizer(config, ps, total_steps=10)
    set_grads(ps, gs)
    lr = opt.update(step)
    after = OrderedDict((k, p.d.copy()) for k, p in ps.items())
    return before, gs, after, lr


def assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


def test_cosine_lr_endpoints_midpoint_and_clamping():
    assert cosine_lr(0.1, 0.001, 0, 100) == pytest.approx(0.1)
    assert cosine_lr(0.1, 0.001, 100, 100) == pytest.approx(0.001)
    assert cosine_lr(0.1, 0.001, 50, 100) == pytest.approx((0.1 + 0.001) / 2)
    assert cosine_lr(0.1, 0.001, 25, 100) == pytest.approx(
        0.001 + 0.5 * 0.099 * (1 + math.cos(math.pi / 4)))
    assert cosine_lr(0.1, 0.001, 250, 100) == pytest.approx(0.001)


def test_learning_rate_follows_the_schedule():
    ps = params()
    constant = Optimizer(plain_sgd(lr=0.2), ps, total_steps=10)
    assert [constant.learning_rate(s) for s in (0, 5, 10)] == [0.2, 0.2, 0.2]
    cosine = Optimizer(plain_sgd(lr=0.2, schedule="cosine", lr_min=0.02), params(),
                       total_steps=10)
    assert cosine.learning_rate(0) == pytest.approx(0.2)
    assert cosine.learning_rate(5) == pytest.approx(0.11)
    assert cosine.learning_rate(10) == pytest.approx(0.02)


def test_cosine_update_uses_and_returns_the_scheduled_rate():
    config = plain_sgd(lr=0.2, schedule="cosine", lr_min=0.02)
    before, g, after, lr = one_update(config, step=5)
    assert lr == pytest.approx(0.11)
    for k in before:
        assert_close(after[k], before[k] - 0.11 * g[k])


def test_plain_sgd_step_is_w_minus_lr_g():
    before, g, after, lr = one_update(plain_sgd())
    assert lr == 0.1
    for k in before:
        assert_close(after[k], before[k] - 0.1 * g[k])


def test_adam_first_step_moves_each_weight_by_lr_against_the_gradient_sign():
    # After one step Adam's bias-corrected update is lr * g / (|g| + eps) ~ lr * sign(g).
    config = OptimizerConfig(name="adam", lr=0.01, schedule="constant", weight_decay=0.0,
                             grad_clip=0.0)
    before, g, after, _ = one_update(config)
    for k in before:
        np.testing.assert_allclose(after[k], before[k] - 0.01 * np.sign(g[k]), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_weight_decay_adds_wd_times_w_to_the_gradient(name):
    wd = 0.3
    decayed = one_update(plain_sgd(name=name, weight_decay=wd))
    # The same update without decay but with the gradient g + wd * w given by hand.
    ps = params()
    opt = Optimizer(plain_sgd(name=name), ps, total_steps=10)
    for k, p in ps.items():
        p.g = decayed[1][k] + wd * p.d
    opt.update(0)
    for k, p in ps.items():
        assert_close(decayed[2][k], p.d)
    if name == "sgd":
        before, g, after, _ = decayed
        for k in before:
            assert_close(after[k], before[k] - 0.1 * (g[k] + wd * before[k]))


def global_norm(gs):
    return math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64)))
                         for g in gs.values()))


def test_grad_norm_is_the_global_l2_norm():
    ps = params()
    opt = Optimizer(plain_sgd(), ps, total_steps=10)
    set_grads(ps, grads(0))
    assert opt.grad_norm() == pytest.approx(global_norm(grads(0)), rel=1e-6)


def test_clipping_scales_every_gradient_to_the_clip_norm_when_above():
    g = grads(0)
    norm = global_norm(g)
    clip = norm / 4
    before, _, after, _ = one_update(plain_sgd(grad_clip=clip))
    applied = OrderedDict((k, (before[k] - after[k]) / 0.1) for k in before)
    assert global_norm(applied) == pytest.approx(clip, rel=1e-4)
    for k in before:  # every gradient by the same factor: the direction is kept
        np.testing.assert_allclose(applied[k], g[k] * (clip / norm), rtol=1e-3, atol=1e-6)


def test_clipping_leaves_gradients_below_the_clip_norm_alone():
    g = grads(0)
    clip = global_norm(g) * 1.5
    before, _, after, _ = one_update(plain_sgd(grad_clip=clip))
    for k in before:
        assert_close(after[k], before[k] - 0.1 * g[k])


def test_clipping_happens_before_weight_decay():
    # DARTS clips the loss gradient; the decay term is added by the solver afterwards.
    g = grads(0)
    norm = global_norm(g)
    clip, wd = norm / 4, 0.2
    before, _, after, _ = one_update(plain_sgd(grad_clip=clip, weight_decay=wd))
    for k in before:
        expected = before[k] - 0.1 * (g[k] * clip / norm + wd * before[k])
        np.testing.assert_allclose(after[k], expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("config", [
    OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, weight_decay=1e-2, grad_clip=0.0),
    OptimizerConfig(name="adam", lr=0.01, betas=(0.5, 0.9), weight_decay=1e-2,
                    grad_clip=0.0),
], ids=["sgd-momentum", "adam"])
def test_saved_states_restore_momentum_so_the_next_updates_match(config, tmp_path):
    a = params()
    opt_a = Optimizer(config, a, total_steps=10)
    for step in range(3):
        set_grads(a, grads(step))
        opt_a.update(step)
    path = str(tmp_path / "states.h5")
    opt_a.save_states(path)

    b = params(seed=1)
    for k, p in b.items():
        p.d = a[k].d.copy()
    opt_b = Optimizer(config, b, total_steps=10)
    opt_b.load_states(path)
    fresh = params(seed=1)
    for k, p in fresh.items():
        p.d = a[k].d.copy()
    opt_fresh = Optimizer(config, fresh, total_steps=10)

    for step in (3, 4):
        for ps, opt in ((a, opt_a), (b, opt_b), (fresh, opt_fresh)):
            set_grads(ps, grads(step))
            opt.update(step)
        for k in a:
            np.testing.assert_array_equal(b[k].d, a[k].d)
    # Without the saved state the updates differ: the state did matter.
    assert any(not np.allclose(fresh[k].d, a[k].d, rtol=1e-5) for k in a)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_next_weights_predicts_the_next_update_without_applying_it(name):
    # sgd: the momentum buffer from a first update must be part of the prediction.
    config = OptimizerConfig(name=name, lr=0.1, schedule="constant", momentum=0.9,
                             weight_decay=0.01, grad_clip=0.0)
    ps = params()
    opt = Optimizer(config, ps, total_steps=10)
    set_grads(ps, grads(1))
    opt.update(0)
    set_grads(ps, grads(2))
    before = {k: p.d.copy() for k, p in ps.items()}
    predicted = opt.next_weights(1)
    for k, p in ps.items():  # nothing applied
        np.testing.assert_array_equal(p.d, before[k])
    if name == "sgd":
        opt.update(1)
        for k, p in ps.items():
            np.testing.assert_allclose(predicted[k], p.d, rtol=1e-5, atol=1e-6)
    else:  # adam: a plain gradient step
        for k, p in ps.items():
            expected = before[k] - 0.1 * (grads(2)[k] + 0.01 * before[k])
            np.testing.assert_allclose(predicted[k], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_parameters_no_backward_reached_are_not_updated(name):
    """A sampling searcher backpropagates through one path: the other candidates'
    weights must keep their values and solver states (no momentum, no decay)."""
    import nnabla.functions as F

    ps = params()
    config = OptimizerConfig(name=name, lr=0.1, momentum=0.9, weight_decay=0.1,
                             grad_clip=0.5, schedule="constant")
    opt = Optimizer(config, ps, total_steps=10)
    loss = F.sum(ps["W"] * ps["W"]) + F.sum(ps["b"])
    loss.forward()
    opt.zero_grad()
    loss.backward()
    opt.update(0)  # both move; momentum buffers are now non-zero
    w_only = F.sum(ps["W"] * ps["W"])
    for step in range(1, 3):
        b_before, w_before = ps["b"].d.copy(), ps["W"].d.copy()
        opt.zero_grad()
        w_only.forward()
        w_only.backward()
        norm = opt.grad_norm()
        assert norm == pytest.approx(float(np.linalg.norm(2 * w_before)), rel=1e-5)
        opt.update(step)
        np.testing.assert_array_equal(ps["b"].d, b_before)
        assert not np.array_equal(ps["W"].d, w_before)
