"""The supernet's optimizations (one ReLU per state, no computation for 'none', the
mixing weights folded into the candidates' last normalizations) keep its outputs and
gradients equal to the straightforward computation."""
import contextlib

import nnabla as nn
import nnabla.functions as F
import nnabla.random
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.contrib.darts import SearchNet
from nnabla_nas.module import MixedOp
from nnabla_nas.module.misc import Zero


def weighted_sum(self, input):
    """The textbook mixed operation: every candidate, each output times its weight."""
    weights = F.softmax(self.alpha, axis=0)
    return F.add_n(*[op(input) * F.reshape(F.slice(weights, (i,), (i + 1,)), (1, 1, 1, 1))
                     for i, op in enumerate(self.ops)])


def outputs_and_grads(straightforward: bool, monkeypatch):
    if straightforward:
        monkeypatch.setattr(Mo, "reuse_relu", contextlib.nullcontext)
        monkeypatch.setattr(MixedOp, "_weighted_sum", weighted_sum)
    nn.clear_parameters()
    nnabla.random.seed(0)  # the weights' initializers draw from NNabla's generator
    model = SearchNet(3, 4, 5, 10, num_nodes=3, multiplier=3, stem_multiplier=2,
                      rng=np.random.RandomState(0))
    rng = np.random.RandomState(1)
    for p in model.get_arch_parameters().values():
        p.d = rng.randn(*p.shape)
    x = nn.Variable.from_numpy_array(rng.randn(4, 3, 16, 16).astype(np.float32))
    y = model(x)
    y.persistent = True  # read after backward(clear_buffer=True)
    loss = F.sum(y * nn.Variable.from_numpy_array(rng.randn(*y.shape).astype(np.float32)))
    params = model.get_parameters(grad_only=True)
    for p in params.values():
        p.grad.zero()
    loss.forward(clear_no_need_grad=True)
    loss.backward(clear_buffer=True)
    functions = []
    y.visit(lambda f: functions.append(f.info.type_name))
    monkeypatch.undo()
    return y.d.copy(), {k: p.g.copy() for k, p in params.items()}, functions


def test_outputs_and_gradients_equal_the_straightforward_supernet(monkeypatch):
    fast_y, fast_g, fast_f = outputs_and_grads(False, monkeypatch)
    slow_y, slow_g, slow_f = outputs_and_grads(True, monkeypatch)
    np.testing.assert_allclose(fast_y, slow_y, rtol=1e-5, atol=1e-6)
    assert fast_g.keys() == slow_g.keys()
    for k in fast_g:
        np.testing.assert_allclose(fast_g[k], slow_g[k], rtol=1e-4, atol=1e-5, err_msg=k)
    # ... with fewer functions: one ReLU per state, and no 'none' candidates.
    assert fast_f.count("ReLU") < slow_f.count("ReLU") / 2
    assert len(fast_f) < len(slow_f)
    assert "Stack" not in fast_f  # every weighted candidate but skip folds its weight


def test_reuse_relu_shares_only_within_the_block_and_per_variable():
    x, z = nn.Variable((2, 3)), nn.Variable((2, 3))
    a, b = Mo.ReLU(), Mo.ReLU()
    assert a(x) is not b(x)
    with Mo.reuse_relu():
        assert a(x) is b(x)
        assert a(z) is not a(x)
        assert Mo.ReLU(inplace=True)(x) is not a(x)
    assert a(x) is not b(x)


@pytest.mark.parametrize("ops, live", [
    ([Zero(), Mo.Identity(), Mo.MaxPool((1, 1))], [1, 2]),
    ([Mo.Identity(), Zero(), Mo.MaxPool((1, 1))], [0, 2]),
    ([Zero(), Zero()], [])])
def test_mixedop_full_mode_skips_zero_candidates_exactly(ops, live):
    op = MixedOp(ops)
    op.alpha.d = np.arange(len(ops), dtype=np.float32) * 0.3
    assert op._live() == live
    x = nn.Variable.from_numpy_array(np.random.RandomState(0).randn(2, 3, 4, 4))
    y = op(x)
    loss = F.sum(y * y)
    op.alpha.grad.zero()
    loss.forward()
    loss.backward()
    p = np.exp(op.alpha.d) / np.exp(op.alpha.d).sum()
    expected = sum(p[i] for i in live) * x.d
    np.testing.assert_allclose(y.d, expected, rtol=1e-5, atol=1e-6)
    # d loss / d alpha_k = sum over live i of <2y, x> p_i (delta_ik - p_k)
    s = float((2 * y.d * x.d).sum())
    grad = np.array([sum(s * p[i] * ((i == k) - p[k]) for i in live)
                     for k in range(len(ops))])
    np.testing.assert_allclose(op.alpha.g, grad, rtol=1e-4, atol=1e-5)


def test_shared_relu_outputs_are_recomputed_not_held():
    # The states' ReLUs are redone in the backward pass: none of their outputs is held
    # after the forward pass, and the gradients are those of the test above.
    nn.clear_parameters()
    model = SearchNet(3, 4, 4, 10, num_nodes=2, multiplier=2, stem_multiplier=1,
                      rng=np.random.RandomState(0))
    x = nn.Variable.from_numpy_array(np.random.RandomState(1).randn(2, 3, 8, 8))
    loss = F.sum(model(x))
    relus = []
    loss.visit(lambda f: relus.extend(f.outputs) if f.info.type_name == "ReLU" else None)
    assert relus and all(v.recompute for v in relus)
    loss.forward(clear_no_need_grad=True)
    assert all(v.data.clear_called for v in relus)
    with Mo.reuse_relu():
        assert Mo.ReLU()(x).recompute and not Mo.ReLU(inplace=True)(x).recompute
    assert not Mo.ReLU()(x).recompute
