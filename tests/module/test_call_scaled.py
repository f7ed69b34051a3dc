"""``Module.call_scaled(x, s)`` equals ``s * module(x)`` in values and in the gradients
of the input, the parameters and the scale, whether the module folds the scale into
its last normalization or multiplies; MixedOp relies on it to weight candidates."""
import nnabla as nn
import nnabla.functions as F
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.contrib.darts.ops import CANDIDATES


def batch_norm(**kw):
    return lambda: Mo.BatchNormalization(4, 4, **kw)


MODULES = {
    "bn-fixed": (batch_norm(fix_parameters=True), True),
    "bn-fixed-nonzero-beta": (batch_norm(fix_parameters=True,
                                         param_init={"beta": 0.5, "gamma": 2.0}), True),
    "bn-affine": (batch_norm(param_init={"beta": 0.3, "gamma": 1.5}), True),
    "sequential-conv-bn": (lambda: Mo.Sequential(Mo.Conv(4, 4, (3, 3), pad=(1, 1)),
                                                 Mo.BatchNormalization(4, 4)), True),
    "sequential-bn-only": (lambda: Mo.Sequential(Mo.BatchNormalization(4, 4)), True),
    "sequential-bn-relu": (lambda: Mo.Sequential(Mo.BatchNormalization(4, 4), Mo.ReLU()),
                           False),
    "conv": (lambda: Mo.Conv(4, 4, (3, 3), pad=(1, 1)), False),
}
for _name in CANDIDATES:
    if _name != "none":  # Zero: MixedOp never weights it
        for _stride in (1, 2):
            MODULES[f"darts-{_name}-s{_stride}"] = (
                lambda n=_name, s=_stride: CANDIDATES.get(n)(channels=4, stride=s,
                                                             affine=False),
                _name not in ("skip_connect",) or _stride == 2)


def run(module, scaled: bool, training: bool):
    rng = np.random.RandomState(0)
    x = nn.Variable.from_numpy_array(rng.randn(3, 4, 8, 8).astype(np.float32),
                                     need_grad=True)
    s = nn.Variable.from_numpy_array(np.array([0.37], np.float32), need_grad=True)
    module.training = training
    y = module.call_scaled(x, s) if scaled else module(x) * F.reshape(s, (1, 1, 1, 1))
    y.persistent = True
    r = nn.Variable.from_numpy_array(rng.randn(*y.shape).astype(np.float32))
    loss = F.sum(y * r)
    params = list(module.get_parameters(grad_only=True).values())
    for v in [x, s] + params:
        v.grad.zero()
    loss.forward(clear_no_need_grad=True)
    loss.backward(clear_buffer=True)
    stats = [p.d.copy() for p in module.get_parameters().values()]  # running mean/var
    return y.d.copy(), [v.g.copy() for v in [x, s] + params], stats


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_call_scaled_equals_scale_times_the_output(name, training):
    build, folds = MODULES[name]
    module = build()
    assert module.folds_scale() is folds
    state = {k: p.d.copy() for k, p in module.get_parameters().items()}
    y_ref, g_ref, stats_ref = run(module, False, training)
    module.set_parameters(state)  # the first pass moved the running statistics
    y, g, stats = run(module, True, training)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for a, b in zip(stats, stats_ref):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_normalization_that_also_returns_its_statistics_does_not_fold():
    assert not Mo.BatchNormalization(4, 4, output_stat=True).folds_scale()


def test_call_scaled_records_the_input_shape():
    module = CANDIDATES.get("sep_conv_3x3")(channels=4, stride=1, affine=False)
    x = nn.Variable((2, 4, 8, 8))
    module.call_scaled(x, nn.Variable((1,)))
    assert module.input_shapes == [(2, 4, 8, 8)]
    assert module.second.input_shapes == [(2, 4, 8, 8)]
