"""MixedOp in all modes."""
import nnabla as nn
import nnabla.functions as F
import nnabla.random
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.contrib.darts import modules as darts_modules
from nnabla_nas.module import MixedOp, Parameter
from nnabla_nas.module.mixedop import softmax

SHAPE = (2, 3, 5, 5)


def make(mode="full", alpha=(0.3, -0.2, 0.9), **kw):
    rng = np.random.RandomState(0)
    op = MixedOp([
        Mo.Conv(3, 3, (3, 3), pad=(1, 1), rng=rng),
        Mo.MaxPool((3, 3), stride=(1, 1), pad=(1, 1)),
        Mo.Identity(),
    ], mode=mode, **kw)
    op.alpha.d = np.array(alpha)
    return op


def inputs(seed=0):
    x = np.random.RandomState(seed).randn(*SHAPE).astype(np.float32)
    return nn.Variable.from_numpy_array(x, need_grad=True)


def candidate_outputs(op, x):
    outs = []
    for candidate in op.ops:
        y = candidate(x)
        if y.parent is not None:  # Identity returns its input itself
            y.forward()
        outs.append(y.d.copy())
    return np.stack(outs)


def test_importable_from_module_and_darts_modules():
    assert darts_modules.MixedOp is Mo.MixedOp is MixedOp


def test_alpha_is_a_registered_parameter_named_alpha():
    op = make()
    assert list(op.get_parameters())[0] == "alpha"
    assert isinstance(op.alpha, Parameter) and op.alpha.shape == (3,)


def test_full_is_the_softmax_weighted_sum_of_candidates():
    op, x = make("full"), inputs()
    y = op(x)
    y.forward()
    expected = np.tensordot(softmax(op.alpha.d), candidate_outputs(op, x), axes=1)
    np.testing.assert_allclose(y.d, expected, rtol=1e-5, atol=1e-5)
    assert op.active_index is None


def test_full_gives_alpha_the_exact_gradient():
    op, x = make("full"), inputs()
    r = np.random.RandomState(1).randn(*SHAPE).astype(np.float32)
    loss = F.sum(op(x) * nn.Variable.from_numpy_array(r))
    op.alpha.grad.zero()
    loss.forward()
    loss.backward()
    outs = candidate_outputs(op, x)
    p = softmax(op.alpha.d)
    dl_dw = np.array([(o * r).sum() for o in outs])  # dL/d(weight_i)
    expected = p * (dl_dw - (p * dl_dw).sum())  # through the softmax Jacobian
    np.testing.assert_allclose(op.alpha.g, expected, rtol=1e-4, atol=1e-4)
    assert np.abs(op.alpha.g).max() > 1e-3


def test_full_needs_one_output_shape():
    op = MixedOp([Mo.Identity(), Mo.MaxPool((2, 2))])
    with pytest.raises(ValueError, match="one output shape"):
        op(inputs())


def test_sample_draws_from_softmax_alpha():
    op = make("sample", alpha=(0.0, 1.0, -1.0), rng=np.random.RandomState(3))
    x = inputs()
    counts = np.zeros(3)
    n = 3000
    for _ in range(n):
        op(x)
        counts[op.active_index] += 1
    expected = softmax(op.alpha.d) * n
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 13.8  # 99.9% quantile of chi-square with 2 degrees of freedom


def test_sample_forward_is_the_drawn_candidate_and_alpha_gets_the_gate_gradient():
    x = inputs()
    r = np.random.RandomState(2).randn(*SHAPE).astype(np.float32)
    seen = set()
    for seed in range(12):
        op = make("sample", rng=np.random.RandomState(seed))
        y = op(x)
        k = op.active_index
        seen.add(k)
        loss = F.sum(y * nn.Variable.from_numpy_array(r))
        op.alpha.grad.zero()
        loss.forward()
        loss.backward()
        y_k = candidate_outputs(op, x)[k]
        np.testing.assert_array_equal(y.d, y_k)
        p = softmax(op.alpha.d)
        onehot = np.eye(3)[k]
        expected = (y_k * r).sum() * p[k] * (onehot - p)
        np.testing.assert_allclose(op.alpha.g, expected, rtol=1e-4, atol=1e-4)
    assert seen == {0, 1, 2}


def test_sample_and_max_expose_only_the_active_path_to_solvers():
    op = make("sample", alpha=(5.0, -5.0, -5.0), rng=np.random.RandomState(0))
    op(inputs())
    assert op.active_index == 0
    assert list(op.get_parameters(grad_only=True)) == ["alpha", "ops/0/W", "ops/0/b"]
    op.alpha.d = np.array([-5.0, -5.0, 5.0])
    op(inputs())
    assert op.active_index == 2
    assert list(op.get_parameters(grad_only=True)) == ["alpha"]
    op.mode = "full"
    op(inputs())
    assert list(op.get_parameters(grad_only=True)) == ["alpha", "ops/0/W", "ops/0/b"]


def test_max_runs_the_argmax_candidate_without_alpha_gradient():
    op, x = make("max", alpha=(0.1, 2.0, 0.5)), inputs()
    y = op(x)
    assert op.active_index == 1
    loss = F.sum(y)
    op.alpha.grad.zero()
    loss.forward()
    loss.backward()
    np.testing.assert_array_equal(y.d, candidate_outputs(op, x)[1])
    np.testing.assert_array_equal(op.alpha.g, np.zeros(3))


def test_sample_is_reproducible_with_nnabla_seed():
    def draws():
        nnabla.random.seed(123)
        op = make("sample", alpha=(0.0, 0.0, 0.0))
        return [op(inputs()) and op.active_index for _ in range(20)]

    assert draws() == draws()


def test_shared_alpha_is_listed_once_and_collects_both_gradients():
    alpha = Parameter((2,), initializer=np.array([0.2, -0.4]))

    class Two(Mo.Module):
        def __init__(self):
            self.a = MixedOp([Mo.Identity(), Mo.Zero()], alpha=alpha)
            self.b = MixedOp([Mo.Identity(), Mo.Zero()], alpha=alpha)

        def call(self, x):
            return self.a(x) + self.b(x)

    net, x = Two(), inputs()
    assert list(net.get_parameters()) == ["a/alpha"]
    loss = F.sum(net(x))
    alpha.grad.zero()
    loss.forward()
    loss.backward()
    p = softmax(alpha.d)
    s = x.d.sum()
    # Each op gives p0 * sum(x); d(p0)/d(alpha) = p0 * (e0 - p); two ops double it.
    np.testing.assert_allclose(alpha.g, 2 * s * p[0] * (np.eye(2)[0] - p), rtol=1e-4)


def test_alpha_of_the_older_five_dimensional_shape_is_accepted():
    alpha = Parameter((3, 1, 1, 1, 1), initializer=np.zeros((3, 1, 1, 1, 1)))
    op = MixedOp([Mo.Identity(), Mo.Identity(), Mo.Identity()], alpha=alpha)
    y = op(inputs())
    y.forward()
    np.testing.assert_allclose(y.d, inputs().d, rtol=1e-6)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(operators=[Mo.Identity()], mode="best"), ValueError, "mode: expected one of"),
    (dict(operators=[]), TypeError, "operators: expected a non-empty list"),
    (dict(operators=Mo.Identity()), TypeError, "operators"),
    (dict(operators=[Mo.Identity(), "conv"]), TypeError, "item 1: expected a Module"),
    (dict(operators=[Mo.Identity()], alpha=Parameter((2,))), ValueError,
     "alpha: expected a Parameter with 1 entries"),
])
def test_bad_arguments_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        MixedOp(**kwargs)


def test_repr():
    assert repr(make()).splitlines()[:2] == ["MixedOp(", "  num_ops=3, mode=full"]


@pytest.mark.parametrize("selection", [(0,), (2,), (0, 2), (2, 1), (1, 0)])
def test_selected_candidates_run_with_the_binary_gate_gradient(selection):
    """One index: that candidate, as if drawn. A pair (k, j): candidate k's output,
    and alpha's gradient sum_m <dL/dy, y_m> q_m (e_m - q) over m in {k, j}, with q the
    softmax of the two alphas (ProxylessNAS' two-path estimator)."""
    x = inputs()
    r = np.random.RandomState(4).randn(*SHAPE).astype(np.float32)
    op = make("sample").select(selection)
    y = op(x)
    loss = F.sum(y * nn.Variable.from_numpy_array(r))
    op.alpha.grad.zero()
    loss.forward()
    loss.backward()
    outs = candidate_outputs(op, x)
    k = selection[0]
    assert op.active_index == k
    np.testing.assert_array_equal(y.d, outs[k])
    alpha = op.alpha.d
    idx = list(selection)
    if len(idx) == 1:
        p = softmax(alpha)
        expected = (outs[k] * r).sum() * p[k] * (np.eye(3)[k] - p)
    else:
        q = softmax(alpha[idx])
        expected = np.zeros(3)
        for m in range(2):
            dq = q[m] * (np.eye(2)[m] - q)
            expected[idx] += (outs[idx[m]] * r).sum() * dq
    np.testing.assert_allclose(op.alpha.g, expected, rtol=1e-4, atol=1e-4)
    # Only the active candidate's weights are exposed to solvers.
    assert [n for n in op.get_parameters(grad_only=True)] == (
        ["alpha", "ops/0/W", "ops/0/b"] if k == 0 else ["alpha"])


def test_select_none_draws_again_and_draw_is_without_replacement():
    op = make("sample", rng=np.random.RandomState(0)).select(1)
    assert op.selected == (1,)
    assert {op(inputs()) is not None and op.active_index for _ in range(5)} == {1}
    op.select(None)
    assert op.selected is None
    assert {op(inputs()) is not None and op.active_index for _ in range(30)} == {0, 1, 2}
    rng = np.random.RandomState(1)
    for _ in range(20):
        pair = op.draw(2, rng)
        assert len(set(pair)) == 2 and all(0 <= i < 3 for i in pair)
    op.alpha.d = np.array([0.0, 50.0, -50.0])
    assert op.draw(1, rng) == (1,)
    assert op.draw(3, rng)[0] == 1


@pytest.mark.parametrize("bad", [(0, 0), (3,), (-1,), (0, 1, 2), (), (True,), ("a",)])
def test_select_names_bad_indices(bad):
    with pytest.raises(ValueError, match=r"MixedOp.select: indices: expected an index"):
        make("sample").select(bad)


def test_draw_names_a_bad_count():
    with pytest.raises(ValueError, match=r"MixedOp.draw: count: expected 1 to 3"):
        make("sample").draw(4)
