"""DartsSearcher on a tiny problem: the architecture gradient of both orders against
finite differences, warm-up, and search output with resume."""
import json
from dataclasses import replace

import h5py
import numpy as np
import pytest

from nnabla_nas.runner.schema import (ArchOptimizerConfig, OptimizerConfig,
                                      SearchConfig)
from nnabla_nas.config.loader import Component
from nnabla_nas.runner.searcher.darts import DartsSearcher
from tests.helpers import numerical_grad
from tests.runner.tiny import N, StubSpace, SuperNet, phase

ARCH_LR = 0.5
NET_LR = 0.1


def config(epochs=1, warmup_epochs=0, net_schedule="constant", weight_decay=0.0):
    return SearchConfig(
        epochs=epochs, warmup_epochs=warmup_epochs, batch_size=N,
        net_optimizer=OptimizerConfig(name="sgd", lr=NET_LR, schedule=net_schedule,
                                      lr_min=0.01, momentum=0.0,
                                      weight_decay=weight_decay, grad_clip=0.0),
        # Plain SGD: an architecture step is exactly -ARCH_LR * alpha.g.
        arch_optimizer=ArchOptimizerConfig(name="sgd", lr=ARCH_LR, momentum=0.0,
                                           weight_decay=0.0, grad_clip=0.0))


def searcher(tmp_path, order=1, seed=0, **kw):
    section = replace(config(**kw), searcher=Component(
        "darts", DartsSearcher.Config(order=order)))
    return DartsSearcher(phase(tmp_path, SuperNet(seed), section))


def feed(s):
    """The whole train and valid splits (one batch each), as the searcher feeds them."""
    s.x_train.d, s.y_train.d = s.train_loader.next_batch()
    s.x_valid.d, s.y_valid.d = s.valid_loader.next_batch()


def alpha_of(s):
    (alpha,) = s.arch_params.values()
    return alpha


def values(params):
    return [p.d.copy() for p in params.values()]


def forward(loss):
    loss.forward(clear_no_need_grad=True)
    return float(loss.d)


def set_alpha(alpha, value):
    # float32, as NNabla keeps the dtype of what is assigned to ``.d``.
    alpha.d = np.asarray(value, dtype=np.float32)


def valid_objective(s):
    """L_val(w, alpha) at the current weights, by the graph."""
    alpha = alpha_of(s)

    def f(arrays):
        set_alpha(alpha, arrays[0])
        return forward(s.valid_loss)

    return f


def test_first_order_step_descends_the_finite_difference_validation_gradient(tmp_path):
    s = searcher(tmp_path, order=1)
    feed(s)
    alpha = alpha_of(s)
    a0 = alpha.d.copy()
    w0 = values(s.net_params)
    (expected,) = numerical_grad(valid_objective(s), [a0], eps=1e-2)
    set_alpha(alpha, a0)
    assert np.abs(expected).max() > 1e-2  # a gradient worth checking

    s.valid_on_batch(0)
    np.testing.assert_allclose(alpha.g, expected, rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose((a0 - alpha.d) / ARCH_LR, expected, rtol=2e-3, atol=1e-5)
    for w, p in zip(w0, s.net_params.values()):  # the architecture step leaves w alone
        np.testing.assert_array_equal(p.d, w)


def unrolled_objective(s, xi, decay):
    """f(alpha) = L_val(w - xi (dL_train/dw + decay w), alpha), by the graphs."""
    alpha = alpha_of(s)

    def f(arrays):
        set_alpha(alpha, arrays[0])
        w = values(s.net_params)
        try:
            for p in list(s.net_params.values()) + [alpha]:
                p.grad.zero()
            s.train_loss.forward(clear_no_need_grad=True)
            s.train_loss.backward(clear_buffer=True)
            for p, wi in zip(s.net_params.values(), w):
                p.d = wi - xi * (p.g + decay * wi)
            return forward(s.valid_loss)
        finally:
            for p, wi in zip(s.net_params.values(), w):
                p.d = wi

    return f


def test_second_order_gradient_is_that_of_the_validation_loss_after_a_virtual_step(
        tmp_path):
    decay = 0.05
    s = searcher(tmp_path, order=2, epochs=3, net_schedule="cosine", weight_decay=decay)
    feed(s)
    step = 1
    xi = s.net_optimizer.learning_rate(step)
    assert xi != NET_LR  # the scheduled rate, not the initial one
    alpha = alpha_of(s)
    a0 = alpha.d.copy()
    w0 = values(s.net_params)

    (expected,) = numerical_grad(unrolled_objective(s, xi, decay), [a0], eps=1e-2)
    set_alpha(alpha, a0)
    for w, p in zip(w0, s.net_params.values()):
        np.testing.assert_array_equal(p.d, w)
    (first_order,) = numerical_grad(valid_objective(s), [a0], eps=1e-2)
    set_alpha(alpha, a0)
    # The unrolled step changes the gradient measurably, so the test tells them apart.
    assert np.abs(expected - first_order).max() > 0.1 * np.abs(expected).max()

    s._unrolled_gradient(step)
    np.testing.assert_allclose(alpha.g, expected, rtol=2e-3, atol=1e-5)
    for w, p in zip(w0, s.net_params.values()):  # weights restored exactly
        np.testing.assert_array_equal(p.d, w)
    np.testing.assert_array_equal(alpha.d, a0)


def test_second_order_valid_on_batch_steps_alpha_by_the_unrolled_gradient(tmp_path):
    s = searcher(tmp_path, order=2)
    feed(s)
    alpha = alpha_of(s)
    a0 = alpha.d.copy()
    w0 = values(s.net_params)
    (expected,) = numerical_grad(unrolled_objective(s, NET_LR, 0.0), [a0], eps=1e-2)
    set_alpha(alpha, a0)
    s.valid_on_batch(0)
    np.testing.assert_allclose((a0 - alpha.d) / ARCH_LR, expected, rtol=2e-3, atol=1e-5)
    for w, p in zip(w0, s.net_params.values()):
        np.testing.assert_array_equal(p.d, w)


def test_warm_up_epochs_train_the_weights_only(tmp_path):
    s = searcher(tmp_path, epochs=2, warmup_epochs=1)
    alpha = alpha_of(s)
    a0, w0 = alpha.d.copy(), values(s.net_params)
    metrics = s.train_epoch(0)
    np.testing.assert_array_equal(alpha.d, a0)
    assert any(not np.array_equal(p.d, w) for p, w in zip(s.net_params.values(), w0))
    assert not any(k.startswith("arch_") for k in metrics)
    w1 = values(s.net_params)
    metrics = s.train_epoch(1)
    assert not np.array_equal(alpha.d, a0)
    assert any(not np.array_equal(p.d, w) for p, w in zip(s.net_params.values(), w1))
    assert "arch_loss" in metrics and "loss" in metrics


def test_search_writes_arch_and_weights_and_a_rerun_resumes(tmp_path, monkeypatch):
    s = searcher(tmp_path, epochs=2, warmup_epochs=1)
    arch = s.search()
    assert arch == StubSpace.derive(s.model, None)
    assert json.loads((tmp_path / "arch.json").read_text()) == {
        "space": "stub", "version": 2, "options": {}, "choices": dict(arch.choices)}
    with h5py.File(tmp_path / "search_weights.h5", "r") as f:
        for name, p in s.model.get_parameters().items():
            np.testing.assert_array_equal(f[name][()], p.d)
    assert [h.keys() >= {"loss", "valid_loss", "valid_error"} for h in s.history] == [
        True, True]
    final = {k: p.d.copy() for k, p in s.model.get_parameters().items()}
    s.output.close()

    again = searcher(tmp_path, seed=1, epochs=2, warmup_epochs=1)
    monkeypatch.setattr(again, "train_epoch", pytest.fail)
    assert again.run() == s.history
    for k, p in again.model.get_parameters().items():  # restored from the checkpoint
        np.testing.assert_array_equal(p.d, final[k])
    again.output.close()
