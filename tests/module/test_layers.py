"""Every layer of ``nnabla_nas.module.LAYERS``: output shapes, forward against a numpy
reference, gradients that reach the parameters (checked against finite differences),
``training`` on and off, and argument checking.

The table ``CASES`` has one or more entries per layer class; ``test_every_layer_has_a_case``
fails when a layer is added to ``LAYERS`` without one.

NNabla behaviour these tests rely on (checked with nnabla 1.39 on CPU):

* ``max_pooling`` ignores padded cells (padding acts as -inf, not as zeros); the
  ``MaxPool`` cases use all-negative inputs so that zero padding would show.
* ``average_pooling`` with ``including_pad=True`` divides by the full kernel area
  (padded cells count as zeros); with ``including_pad=False`` by the number of real
  cells in the window. With ``ignore_border=False`` (and no padding) the last, partial
  window is kept and averaged over the cells it covers.
* ``depthwise_convolution`` with ``multiplier=M`` computes output channel ``o`` from
  input channel ``o // M``.
* ``batch_normalization`` in training mode normalizes with the biased batch variance but
  updates the running variance with the *unbiased* one (``n / (n - 1)``).
* The CPU backend implements neither convolution nor pooling with ``channel_last=True``
  (forward raises ``not supported in CPU``), so those cases check the shapes NNabla
  infers when the graph is built, and nothing that needs a forward pass.
* Pooling is 2-D or 3-D only (a 1-D kernel fails when the graph is built).
* ``relu(..., inplace=True)`` leaves the input buffer untouched (the flag is ignored).
* Leaf gradients accumulate across ``backward`` calls; the helpers zero them first.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import nnabla as nn
import numpy as np
import pytest
from nnabla.initializer import UniformInitializer

from nnabla_nas import module as Mo
from tests.helpers import numerical_grad, run_module

FD_EPS = 1e-2  # finite-difference step; inputs keep at least 5 steps away from kinks


# ------------------------------------------------------------------ numpy references
def conv_ref(x, W, b, pad=None, stride=None, dilation=None, group=1, base_axis=1,
             channel_last=False):
    """N-D grouped, dilated, strided convolution (cross-correlation) in float64."""
    x, W = np.asarray(x, np.float64), np.asarray(W, np.float64)
    if channel_last:
        x, W = np.moveaxis(x, -1, base_axis), np.moveaxis(W, -1, 1)
    lead = x.shape[:base_axis]
    x = x.reshape((-1,) + x.shape[base_axis:])
    n = W.ndim - 2
    kernel = W.shape[2:]
    pad, stride, dilation = pad or (0,) * n, stride or (1,) * n, dilation or (1,) * n
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    out = tuple((xp.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
                for i in range(n))
    N, cin, cout, G = x.shape[0], x.shape[1], W.shape[0], group
    y = np.zeros((N, G, cout // G) + out)
    for offs in itertools.product(*(range(k) for k in kernel)):
        window = tuple(slice(o * d, o * d + s * (m - 1) + 1, s)
                       for o, d, s, m in zip(offs, dilation, stride, out))
        patch = xp[(slice(None), slice(None)) + window].reshape((N, G, cin // G) + out)
        w = W[(slice(None), slice(None)) + offs].reshape(G, cout // G, cin // G)
        y += np.einsum("ngc...,goc->ngo...", patch, w)
    y = y.reshape((N, cout) + out)
    if b is not None:
        y = y + np.asarray(b, np.float64).reshape((1, cout) + (1,) * n)
    y = y.reshape(lead + y.shape[1:])
    return np.moveaxis(y, base_axis, -1) if channel_last else y


def pool_ref(x, kernel, stride=None, pad=None, mode="max", including_pad=True,
             ignore_border=True):
    """Max or average pooling over the trailing ``len(kernel)`` axes, in float64.

    Max pooling ignores padded cells; see the module docstring for the averages.
    """
    x = np.asarray(x, np.float64)
    n = len(kernel)
    stride, pad = stride or kernel, pad or (0,) * n
    sizes = x.shape[-n:]
    if ignore_border:
        out = [(sz + 2 * p - k) // s + 1 for sz, k, s, p in zip(sizes, kernel, stride, pad)]
    else:
        assert not any(pad), "no reference for ignore_border=False with padding"
        out = [(sz - k + s - 1) // s + 1 for sz, k, s in zip(sizes, kernel, stride)]
    y = np.empty(x.shape[:-n] + tuple(out))
    axes = tuple(range(-n, 0))
    for idx in itertools.product(*(range(o) for o in out)):
        lo = [i * s - p for i, s, p in zip(idx, stride, pad)]
        hi = [l + k for l, k in zip(lo, kernel)]
        valid = tuple(slice(max(l, 0), min(h, sz)) for l, h, sz in zip(lo, hi, sizes))
        win = x[(Ellipsis,) + valid]
        if mode == "max":
            y[(Ellipsis,) + idx] = win.max(axis=axes)
        else:
            if including_pad:
                count = np.prod([min(h, sz + p) - max(l, -p)
                                 for l, h, sz, p in zip(lo, hi, sizes, pad)])
            else:
                count = np.prod(win.shape[-n:])
            y[(Ellipsis,) + idx] = win.sum(axis=axes) / count
    return y


def bn_ref(x, beta, gamma, mean, var, axis, eps, batch_stat):
    """Batch normalization; with ``batch_stat`` the (biased) batch statistics."""
    x = np.asarray(x, np.float64)
    if batch_stat:
        red = tuple(i for i in range(x.ndim) if i != axis)
        mean, var = x.mean(red, keepdims=True), x.var(red, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def linear_ref(x, W, b, base_axis=1):
    x = np.asarray(x, np.float64)
    y = x.reshape(x.shape[:base_axis] + (-1,)) @ np.asarray(W, np.float64)
    return y if b is None else y + b


def relu6(x):
    return np.clip(x, 0.0, 6.0)


def _d(p):
    """A parameter's value in float64, or None."""
    return None if p is None else np.asarray(p.d, np.float64)


# ----------------------------------------------------------------------- inputs
def normal(rng, shape):
    return rng.randn(*shape)


def kink_free(rng, shape):
    """Values in [-5, 8], at least 0.1 from the kinks -3, 0, 3 and 6 of the activations,
    so that finite differences never straddle one."""
    x = rng.uniform(-5, 8, shape)
    for k in (-3.0, 0.0, 3.0, 6.0):
        near = np.abs(x - k) < 0.1
        x[near] = k + np.where(x[near] >= k, 0.1, -0.1)
    return x


def distinct_negative(rng, shape):
    """All-negative values at least 0.1 apart: max-pool windows have one clear winner,
    and zero padding would win any border window."""
    size = int(np.prod(shape))
    return -0.5 - 0.1 * rng.permutation(size).reshape(shape).astype(np.float64)


def uniform_init(seed, low=-1.0, high=1.0):
    return UniformInitializer((low, high), rng=np.random.RandomState(seed))


def bn_init(n_features, n_dims=4, axis=1, seed=0):
    """Random, non-trivial initial values for the four BN parameters."""
    rng = np.random.RandomState(seed)
    shape = [1] * n_dims
    shape[axis] = n_features
    return {"beta": rng.randn(*shape).astype(np.float32),
            "gamma": rng.uniform(0.5, 1.5, shape).astype(np.float32),
            "mean": rng.randn(*shape).astype(np.float32),
            "var": rng.uniform(0.5, 2.0, shape).astype(np.float32)}


# -------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    """One layer configuration.

    Attributes:
        id: Test id.
        layer: The class under test (``factory()`` must build exactly this class).
        factory: Builds a fresh module (deterministic initial values).
        in_shapes: One shape per call input.
        out_shape: The expected output shape.
        reference: ``reference(module, *inputs)`` with float64 inputs, or None.
        params: Names in ``get_parameters(grad_only=True)``.
        training: The ``training`` mode the case runs in.
        inputs: ``inputs(rng, shape)`` makes one input array.
        fd: Whether the output is a deterministic, differentiable function of the
            inputs at the test point (finite differences apply).
        cpu_forward: False when NNabla's CPU backend cannot compute the case; only the
            shapes inferred at graph construction are checked.
    """
    id: str
    layer: type
    factory: Callable[[], Mo.Module]
    in_shapes: Tuple[tuple, ...]
    out_shape: tuple
    reference: Optional[Callable[..., np.ndarray]]
    params: Tuple[str, ...] = ()
    training: bool = True
    inputs: Callable = normal
    fd: bool = True
    cpu_forward: bool = True


def conv_case(id, in_shape, out_shape, *args, **kw):
    ref_kw = {k: kw[k] for k in ("pad", "stride", "dilation", "group", "base_axis",
                                 "channel_last") if k in kw}
    if isinstance(ref_kw.get("pad"), int):
        ref_kw["pad"] = (ref_kw["pad"],) * len(args[2])

    def factory():
        return Mo.Conv(*args, rng=np.random.RandomState(1), b_init=uniform_init(2), **kw)

    return Case(id, Mo.Conv, factory, (in_shape,), out_shape,
                lambda m, x: conv_ref(x, m.W.d, _d(m.b), **ref_kw),
                params=("W", "b") if kw.get("with_bias", True) else ("W",),
                cpu_forward=not kw.get("channel_last", False))


def dwconv_case(id, in_shape, out_shape, in_channels, kernel, **kw):
    ref_kw = {k: kw[k] for k in ("pad", "stride", "dilation") if k in kw}

    def factory():
        return Mo.DwConv(in_channels, kernel, rng=np.random.RandomState(1),
                         b_init=uniform_init(2), **kw)

    def reference(m, x):
        # Output channel o = c * multiplier + j filters input channel c: a grouped
        # convolution with one group per input channel.
        W = m.W.d.reshape((m.W.shape[0], 1) + tuple(kernel))
        return conv_ref(x, W, _d(m.b), group=in_channels, **ref_kw)

    return Case(id, Mo.DwConv, factory, (in_shape,), out_shape, reference,
                params=("W", "b") if kw.get("with_bias", True) else ("W",))


def linear_case(id, in_shape, out_shape, in_features, out_features, **kw):
    def factory():
        return Mo.Linear(in_features, out_features, rng=np.random.RandomState(1),
                         b_init=uniform_init(2), **kw)

    with_bias = kw.get("with_bias", True) if kw.get("bias") is None else kw["bias"]
    return Case(id, Mo.Linear, factory, (in_shape,), out_shape,
                lambda m, x: linear_ref(x, m.W.d, _d(m.b), kw.get("base_axis", 1)),
                params=("W", "b") if with_bias else ("W",))


def bn_case(id, in_shape, training, n_features, n_dims=4, axis=1, eps=1e-5):
    def factory():
        return Mo.BatchNormalization(n_features, n_dims=n_dims, axes=(axis,), eps=eps,
                                     param_init=bn_init(n_features, n_dims, axis))

    def reference(m, x):
        return bn_ref(x, _d(m.beta), _d(m.gamma), _d(m.mean), _d(m.var), axis, eps,
                      batch_stat=training)

    return Case(id, Mo.BatchNormalization, factory, (in_shape,), in_shape, reference,
                params=("beta", "gamma"), training=training)


def pool_case(id, layer, in_shape, out_shape, kernel, **kw):
    mode = "max" if layer is Mo.MaxPool else "avg"
    ref_kw = {k: kw[k] for k in ("stride", "pad", "including_pad", "ignore_border")
              if k in kw}
    channel_last = kw.get("channel_last", False)
    return Case(id, layer, lambda: layer(kernel, **kw), (in_shape,), out_shape,
                lambda m, x: pool_ref(x, kernel, mode=mode, **ref_kw),
                inputs=distinct_negative if mode == "max" else normal,
                cpu_forward=not channel_last)


def act_case(id, layer, ref, shape=(2, 3, 4, 4), **kw):
    return Case(id, layer, lambda: layer(**kw), (shape,), shape,
                lambda m, x: ref(x), inputs=kink_free)


def zero_case(id, in_shape, out_shape, **kw):
    return Case(id, Mo.Zero, lambda: Mo.Zero(**kw), (in_shape,), out_shape,
                lambda m, x: np.zeros(out_shape))


def merging_case(id, in_shapes, out_shape, ref, **kw):
    return Case(id, Mo.Merging, lambda: Mo.Merging(**kw), tuple(in_shapes), out_shape,
                lambda m, *xs: ref(*xs))


CASES = [
    # Conv
    conv_case("Conv-3x3", (2, 4, 6, 6), (2, 6, 4, 4), 4, 6, (3, 3)),
    conv_case("Conv-pad1-stride2", (2, 4, 6, 6), (2, 6, 3, 3), 4, 6, (3, 3),
              pad=(1, 1), stride=(2, 2)),
    conv_case("Conv-pad2-dilation2", (2, 3, 5, 5), (2, 4, 5, 5), 3, 4, (3, 3),
              pad=(2, 2), dilation=(2, 2)),
    conv_case("Conv-group2", (2, 4, 5, 5), (2, 6, 5, 5), 4, 6, (3, 3), pad=(1, 1),
              group=2),
    conv_case("Conv-depthwise-group", (2, 3, 4, 4), (2, 6, 2, 2), 3, 6, (3, 3), group=3),
    conv_case("Conv-1x1-no-bias", (2, 3, 4, 4), (2, 5, 4, 4), 3, 5, (1, 1),
              with_bias=False),
    conv_case("Conv-3x2-asymmetric", (2, 3, 5, 6), (2, 4, 5, 3), 3, 4, (3, 2),
              pad=(1, 0), stride=(1, 2)),
    conv_case("Conv-1d-int-pad", (2, 2, 7), (2, 3, 7), 2, 3, (3,), pad=1),
    conv_case("Conv-3d", (1, 2, 3, 3, 3), (1, 3, 2, 2, 2), 2, 3, (2, 2, 2)),
    conv_case("Conv-base-axis2", (2, 2, 3, 4, 4), (2, 2, 4, 3, 3), 3, 4, (2, 2),
              base_axis=2),
    conv_case("Conv-channel-last", (2, 5, 5, 3), (2, 3, 5, 4), 3, 4, (3, 3),
              pad=(1, 1), stride=(2, 1), channel_last=True),
    # DwConv
    dwconv_case("DwConv-3x3-pad1", (2, 3, 5, 5), (2, 3, 5, 5), 3, (3, 3), pad=(1, 1)),
    dwconv_case("DwConv-stride2-multiplier2", (2, 3, 5, 5), (2, 6, 3, 3), 3, (3, 3),
                pad=(1, 1), stride=(2, 2), multiplier=2),
    dwconv_case("DwConv-dilation2-no-bias", (2, 4, 6, 6), (2, 4, 2, 2), 4, (3, 3),
                dilation=(2, 2), with_bias=False),
    dwconv_case("DwConv-transient-stride2-multiplier2", (2, 3, 5, 5), (2, 6, 3, 3), 3,
                (3, 3), pad=(1, 1), stride=(2, 2), multiplier=2, transient_buffer=True),
    dwconv_case("DwConv-transient-dilation2-no-bias", (2, 4, 6, 6), (2, 4, 2, 2), 4, (3, 3),
                dilation=(2, 2), with_bias=False, transient_buffer=True),
    # Linear
    linear_case("Linear", (4, 5), (4, 3), 5, 3),
    linear_case("Linear-flattens", (2, 3, 2, 2), (2, 3), 12, 3),
    linear_case("Linear-base-axis2", (2, 5, 4), (2, 5, 3), 4, 3, base_axis=2),
    linear_case("Linear-no-bias", (4, 5), (4, 3), 5, 3, with_bias=False),
    linear_case("Linear-bias-alias-False", (4, 5), (4, 3), 5, 3, bias=False),
    # BatchNormalization
    bn_case("BN-training", (4, 3, 2, 2), True, 3),
    bn_case("BN-eval", (4, 3, 2, 2), False, 3),
    bn_case("BN-2d-training", (6, 5), True, 5, n_dims=2),
    bn_case("BN-2d-eval", (6, 5), False, 5, n_dims=2),
    bn_case("BN-axis3-training-eps0.1", (3, 2, 2, 4), True, 4, axis=3, eps=0.1),
    bn_case("BN-axis3-eval", (3, 2, 2, 4), False, 4, axis=3),
    # Activations
    act_case("ReLU", Mo.ReLU, lambda x: np.maximum(x, 0)),
    act_case("ReLU-inplace", Mo.ReLU, lambda x: np.maximum(x, 0), inplace=True),
    act_case("ReLU6", Mo.ReLU6, relu6),
    act_case("LeakyReLU", Mo.LeakyReLU, lambda x: np.where(x > 0, x, 0.1 * x)),
    act_case("LeakyReLU-alpha0.3", Mo.LeakyReLU, lambda x: np.where(x > 0, x, 0.3 * x),
             alpha=0.3),
    act_case("Hswish", Mo.Hswish, lambda x: x * relu6(x + 3) / 6),
    act_case("Hsigmoid", Mo.Hsigmoid, lambda x: relu6(x + 3) / 6),
    act_case("Hswish-2d", Mo.Hswish, lambda x: x * relu6(x + 3) / 6, shape=(5, 7)),
    # Pooling
    pool_case("MaxPool-2x2", Mo.MaxPool, (2, 3, 4, 4), (2, 3, 2, 2), (2, 2)),
    pool_case("MaxPool-3x3-stride2-pad1", Mo.MaxPool, (2, 3, 5, 5), (2, 3, 3, 3), (3, 3),
              stride=(2, 2), pad=(1, 1)),
    pool_case("MaxPool-2x2-stride1-pad1", Mo.MaxPool, (2, 2, 4, 4), (2, 2, 5, 5), (2, 2),
              stride=(1, 1), pad=(1, 1)),
    pool_case("MaxPool-keep-border", Mo.MaxPool, (2, 3, 5, 5), (2, 3, 3, 3), (2, 2),
              ignore_border=False),
    pool_case("MaxPool-3d", Mo.MaxPool, (1, 2, 4, 4, 4), (1, 2, 2, 2, 2), (2, 2, 2)),
    pool_case("MaxPool-channel-last", Mo.MaxPool, (2, 5, 5, 3), (2, 4, 4, 3), (2, 2),
              stride=(1, 1), channel_last=True),
    pool_case("AvgPool-2x2", Mo.AvgPool, (2, 3, 4, 4), (2, 3, 2, 2), (2, 2)),
    pool_case("AvgPool-3x3-stride2-pad1", Mo.AvgPool, (2, 3, 5, 5), (2, 3, 3, 3), (3, 3),
              stride=(2, 2), pad=(1, 1)),
    pool_case("AvgPool-3x3-stride2-pad1-excluding-pad", Mo.AvgPool, (2, 3, 5, 5),
              (2, 3, 3, 3), (3, 3), stride=(2, 2), pad=(1, 1), including_pad=False),
    pool_case("AvgPool-keep-border", Mo.AvgPool, (2, 3, 5, 5), (2, 3, 3, 3), (2, 2),
              ignore_border=False),
    pool_case("AvgPool-channel-last", Mo.AvgPool, (2, 5, 5, 3), (2, 3, 3, 3), (2, 2),
              pad=(1, 1), channel_last=True),
    Case("GlobalAvgPool", Mo.GlobalAvgPool, Mo.GlobalAvgPool, ((2, 3, 4, 5),), (2, 3),
         lambda m, x: x.mean(axis=(2, 3))),
    Case("GlobalAvgPool-keep-dims", Mo.GlobalAvgPool,
         lambda: Mo.GlobalAvgPool(keep_dims=True), ((2, 3, 4, 5),), (2, 3, 1, 1),
         lambda m, x: x.mean(axis=(2, 3), keepdims=True)),
    Case("GlobalAvgPool-1d", Mo.GlobalAvgPool, Mo.GlobalAvgPool, ((2, 3, 7),), (2, 3),
         lambda m, x: x.mean(axis=2)),
    Case("GlobalAvgPool-3d", Mo.GlobalAvgPool, Mo.GlobalAvgPool, ((2, 3, 2, 3, 4),),
         (2, 3), lambda m, x: x.mean(axis=(2, 3, 4))),
    # Structural layers
    Case("Identity", Mo.Identity, Mo.Identity, ((2, 3, 4),), (2, 3, 4), lambda m, x: x),
    zero_case("Zero", (2, 3, 4, 4), (2, 3, 4, 4)),
    zero_case("Zero-stride2-odd", (2, 3, 5, 5), (2, 3, 3, 3), stride=(2, 2)),
    zero_case("Zero-stride2-even", (2, 3, 4, 6), (2, 3, 2, 3), stride=(2, 2)),
    zero_case("Zero-stride3-last-axis", (2, 3, 4, 7), (2, 3, 4, 3), stride=(3,)),
    Case("Dropout-p0-training", Mo.Dropout, lambda: Mo.Dropout(0.0), ((2, 3, 4),),
         (2, 3, 4), lambda m, x: x),
    Case("Dropout-p0.5-eval", Mo.Dropout, lambda: Mo.Dropout(0.5), ((2, 3, 4),),
         (2, 3, 4), lambda m, x: x, training=False),
    Case("Dropout-p0.5-training", Mo.Dropout, lambda: Mo.Dropout(0.5), ((2, 3, 4),),
         (2, 3, 4), None, fd=False),  # random; see the Dropout tests below
    merging_case("Merging-concat", [(2, 3, 4, 4), (2, 5, 4, 4)], (2, 8, 4, 4),
                 lambda a, b: np.concatenate([a, b], axis=1)),
    merging_case("Merging-concat-axis3", [(2, 3, 4, 2), (2, 3, 4, 5), (2, 3, 4, 1)],
                 (2, 3, 4, 8), lambda *xs: np.concatenate(xs, axis=3),
                 mode="concat", axis=3),
    merging_case("Merging-add", [(2, 3, 4)] * 3, (2, 3, 4), lambda a, b, c: a + b + c,
                 mode="add"),
    merging_case("Merging-mul", [(2, 3, 4)] * 2, (2, 3, 4), lambda a, b: a * b,
                 mode="mul"),
    merging_case("Merging-mul-single-input", [(2, 3, 4)], (2, 3, 4), lambda a: a,
                 mode="mul"),
    Case("Lambda-scale", Mo.Lambda, lambda: Mo.Lambda(lambda x: x * 2.0), ((2, 3, 4),),
         (2, 3, 4), lambda m, x: 2 * x),
    Case("Lambda-two-inputs", Mo.Lambda, lambda: Mo.Lambda(lambda a, b: a * b - a, "f"),
         ((2, 3), (2, 3)), (2, 3), lambda m, a, b: a * b - a),
]

ids = [c.id for c in CASES]
assert len(set(ids)) == len(ids), "case ids must be unique"

RUNNABLE = [c for c in CASES if c.cpu_forward]
WITH_REFERENCE = [c for c in RUNNABLE if c.reference is not None]
DIFFERENTIABLE = [c for c in RUNNABLE if c.fd]
WITH_PARAMS = [c for c in RUNNABLE if c.params]
MODE_FREE = [c for c in RUNNABLE if c.layer not in (Mo.BatchNormalization, Mo.Dropout)]


def _params(cases):
    return pytest.mark.parametrize("case", cases, ids=[c.id for c in cases])


def make(case: Case) -> Mo.Module:
    module = case.factory()
    module.apply(training=case.training)
    return module


def make_inputs(case: Case, seed: int = 0):
    rng = np.random.RandomState(seed)
    return [case.inputs(rng, s).astype(np.float32) for s in case.in_shapes]


def out_grad(shape, seed=1):
    return np.random.RandomState(seed).randn(*shape)


@pytest.fixture(autouse=True)
def _seed():
    nn.random.seed(0)


# ---------------------------------------------------------------------- the table
def test_every_layer_has_a_case():
    covered = {c.layer for c in CASES}
    missing = [cls.__name__ for cls in Mo.LAYERS if cls not in covered]
    assert not missing, f"layers without a test case in CASES: {missing}"
    assert covered <= set(Mo.LAYERS)


def test_every_layer_is_checked_against_a_reference_and_differentiated():
    for cases in (WITH_REFERENCE, DIFFERENTIABLE):
        missing = set(Mo.LAYERS) - {c.layer for c in cases}
        assert not missing, sorted(cls.__name__ for cls in missing)


@_params(CASES)
def test_factory_builds_the_layer(case):
    module = make(case)
    assert type(module) is case.layer
    assert module.training is case.training
    assert tuple(module.get_parameters(grad_only=True)) == case.params


# ------------------------------------------------------------------------ shapes
@_params(CASES)
def test_output_shape(case):
    module = make(case)
    xs = [nn.Variable(s) for s in case.in_shapes]
    y = module(*xs)
    assert tuple(y.shape) == case.out_shape  # inferred when the graph is built
    assert module.input_shapes == list(case.in_shapes)
    if case.cpu_forward:
        _, out = run_module(make(case), make_inputs(case))
        assert out.shape == case.out_shape


def test_weight_layouts():
    conv = Mo.Conv(3, 4, (3, 2), group=1, channel_last=True)
    assert conv.W.shape == (4, 3, 2, 3)
    grouped = Mo.Conv(4, 6, (3, 3), group=2)
    assert grouped.W.shape == (6, 2, 3, 3)
    assert Mo.DwConv(3, (3, 3), multiplier=2).W.shape == (6, 3, 3)
    assert Mo.Linear(12, 5).W.shape == (12, 5)


# ----------------------------------------------------------------------- forward
@_params(WITH_REFERENCE)
def test_forward_matches_numpy(case):
    module = make(case)
    inputs = make_inputs(case)
    expected = case.reference(module, *[x.astype(np.float64) for x in inputs])
    _, y = run_module(module, inputs)
    assert expected.shape == case.out_shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_depthwise_transient_buffer_is_a_grouped_convolution_in_training_only():
    # Convolution frees its im2col buffer after each call, DepthwiseConvolution keeps
    # one per function; inference graphs (timed by the estimators) keep the latter.
    dw = Mo.DwConv(3, (3, 3), pad=(1, 1), multiplier=2, transient_buffer=True)
    x = nn.Variable((2, 3, 5, 5))
    types = []
    dw(x).visit(lambda f: types.append(f.info.type_name))
    assert "Convolution" in types and "DepthwiseConvolution" not in types
    dw.apply(training=False)
    types = []
    dw(x).visit(lambda f: types.append(f.info.type_name))
    assert types == ["DepthwiseConvolution"]
    assert "transient_buffer=True" in repr(dw)


def test_max_pool_padding_is_ignored_not_zero():
    x = -np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4)
    _, y = run_module(Mo.MaxPool((2, 2), stride=(2, 2), pad=(1, 1)), [x])
    np.testing.assert_array_equal(y[0, 0], [[-1, -2, -4], [-5, -6, -8], [-13, -14, -16]])


def test_avg_pool_including_pad_counts_padded_cells():
    x = np.ones((1, 1, 4, 4), np.float32)
    _, incl = run_module(Mo.AvgPool((2, 2), stride=(2, 2), pad=(1, 1)), [x])
    _, excl = run_module(Mo.AvgPool((2, 2), stride=(2, 2), pad=(1, 1),
                                    including_pad=False), [x])
    np.testing.assert_allclose(incl[0, 0], [[.25, .5, .25], [.5, 1, .5], [.25, .5, .25]])
    np.testing.assert_allclose(excl, np.ones((1, 1, 3, 3)))


def test_depthwise_multiplier_channel_order():
    # Output channel c * multiplier + j comes from input channel c.
    x = np.zeros((1, 2, 3, 3), np.float32)
    x[0, 0, 1, 1], x[0, 1, 1, 1] = 1.0, 10.0
    w = np.arange(1, 5, dtype=np.float32).reshape(4, 1, 1)
    dw = Mo.DwConv(2, (1, 1), multiplier=2, w_init=w, with_bias=False)
    _, y = run_module(dw, [x])
    np.testing.assert_allclose(y[0, :, 1, 1], [1, 2, 30, 40])


# --------------------------------------------------------------------- gradients
@_params(DIFFERENTIABLE)
def test_gradients_match_finite_differences(case):
    module = make(case)
    inputs = make_inputs(case)
    w = out_grad(case.out_shape)
    run, _, gx, gp = run_module(module, inputs, w)
    nx, np_ = run.numerical_grads(w, eps=FD_EPS)
    assert list(gp) == list(case.params)
    for i, (a, n) in enumerate(zip(gx, nx)):
        np.testing.assert_allclose(a, n, rtol=1e-2, atol=1e-2, err_msg=f"input {i}")
        if case.layer is not Mo.Zero:
            assert np.any(a != 0), f"no gradient reaches input {i}"
    for name in case.params:
        np.testing.assert_allclose(gp[name], np_[name], rtol=1e-2, atol=1e-2,
                                   err_msg=f"parameter {name}")


@_params(WITH_PARAMS)
def test_every_trainable_parameter_gets_a_gradient(case):
    module = make(case)
    inputs = make_inputs(case)
    _, _, _, gp = run_module(module, inputs, out_grad(case.out_shape))
    assert set(gp) == set(case.params)
    for name, g in gp.items():
        assert np.all(np.isfinite(g)), name
        assert np.any(g != 0), f"parameter {name} got no gradient"
    # Non-trainable parameters (BN running statistics) get none.
    for name, p in module.get_parameters().items():
        if name not in gp:
            assert not p.need_grad
            assert np.all(p.g == 0), name


def test_zero_passes_no_gradient():
    run, y, (gx,), _ = run_module(Mo.Zero(stride=(2, 2)), [np.ones((2, 3, 5, 5))],
                                  np.ones((2, 3, 3, 3)))
    assert np.all(y == 0)
    assert np.all(gx == 0)


def test_numerical_grad_helper():
    # The helper itself: d/dx sum(x**3 * w) = 3 x**2 w, d/dw = x**3.
    rng = np.random.RandomState(0)
    x, w = rng.randn(3, 2), rng.randn(3, 2)
    gx, gw = numerical_grad(lambda a: np.sum(a[0] ** 3 * a[1]), [x, w], eps=1e-4)
    np.testing.assert_allclose(gx, 3 * x ** 2 * w, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gw, x ** 3, rtol=1e-6, atol=1e-7)
    assert x.dtype == np.float64 and np.all(x == np.random.RandomState(0).randn(3, 2))


# ------------------------------------------------------------ fix_parameters / bias
FIXABLE = [
    ("Conv", lambda fix: Mo.Conv(3, 4, (3, 3), pad=(1, 1), fix_parameters=fix,
                                 rng=np.random.RandomState(1), b_init=uniform_init(2)),
     (2, 3, 5, 5), ("W", "b")),
    ("DwConv", lambda fix: Mo.DwConv(3, (3, 3), pad=(1, 1), fix_parameters=fix,
                                     rng=np.random.RandomState(1), b_init=uniform_init(2)),
     (2, 3, 5, 5), ("W", "b")),
    ("Linear", lambda fix: Mo.Linear(5, 3, fix_parameters=fix,
                                     rng=np.random.RandomState(1), b_init=uniform_init(2)),
     (4, 5), ("W", "b")),
    ("BatchNormalization", lambda fix: Mo.BatchNormalization(
        3, fix_parameters=fix, param_init=bn_init(3)), (4, 3, 2, 2),
     ("beta", "gamma", "mean", "var")),
]


@pytest.mark.parametrize("factory, shape, names", [f[1:] for f in FIXABLE],
                         ids=[f[0] for f in FIXABLE])
def test_fix_parameters(factory, shape, names):
    fixed, free = factory(True), factory(False)
    assert tuple(fixed.get_parameters()) == names  # still registered (saved, loaded)
    assert tuple(free.get_parameters()) == names
    assert all(not p.need_grad for p in fixed.get_parameters().values())
    assert len(fixed.get_parameters(grad_only=True)) == 0
    trainable = tuple(n for n in names if n not in ("mean", "var"))
    assert tuple(free.get_parameters(grad_only=True)) == trainable

    x = np.random.RandomState(0).randn(*shape)
    run_fixed, y_fixed = run_module(fixed, [x])
    _, y_free = run_module(free, [x])
    np.testing.assert_array_equal(y_fixed, y_free)  # same values, same computation
    gx, gp = run_fixed.backward(out_grad(y_fixed.shape))
    assert gp == {}
    assert np.any(gx[0] != 0)  # the input still gets its gradient
    for name, p in fixed.get_parameters().items():
        assert np.all(p.g == 0), f"fixed parameter {name} got a gradient"


@pytest.mark.parametrize("factory", [
    lambda: Mo.Conv(3, 4, (3, 3), with_bias=False),
    lambda: Mo.DwConv(3, (3, 3), with_bias=False),
    lambda: Mo.Linear(3, 4, with_bias=False),
    lambda: Mo.Linear(3, 4, bias=False),
], ids=["Conv", "DwConv", "Linear", "Linear-bias-alias"])
def test_without_bias(factory):
    module = factory()
    assert module.b is None
    assert list(module.get_parameters()) == ["W"]


# ---------------------------------------------------------------------- training
@_params(MODE_FREE)
def test_training_flag_does_not_change_output(case):
    inputs = make_inputs(case)
    outputs = []
    for mode in (True, False):
        module = case.factory()
        module.apply(training=mode)
        assert module.training is mode
        outputs.append(run_module(module, inputs)[1])
    if "transient" in case.id:  # another NNabla function in training: rounding differs
        np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(outputs[0], outputs[1])


def _bn_stats(module):
    return np.array(module.mean.d, np.float64), np.array(module.var.d, np.float64)


def test_batchnorm_training_uses_batch_stats_and_updates_running_stats():
    init = bn_init(3)
    bn = Mo.BatchNormalization(3, decay_rate=0.8, param_init=init)
    assert bn.training
    x = 2.0 + 3.0 * np.random.RandomState(0).randn(4, 3, 2, 2).astype(np.float32)
    _, y = run_module(bn, [x])
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(
        y, bn_ref(x64, init["beta"], init["gamma"], None, None, 1, 1e-5, True),
        rtol=1e-5, atol=1e-5)
    n = x.size // 3
    batch_mean = x64.mean((0, 2, 3), keepdims=True)
    batch_var = x64.var((0, 2, 3), keepdims=True) * n / (n - 1)  # unbiased
    mean, var = _bn_stats(bn)
    np.testing.assert_allclose(mean, 0.8 * init["mean"] + 0.2 * batch_mean, rtol=1e-5)
    np.testing.assert_allclose(var, 0.8 * init["var"] + 0.2 * batch_var, rtol=1e-5)


def test_batchnorm_training_output_ignores_running_stats():
    x = np.random.RandomState(0).randn(4, 3, 2, 2)
    init = bn_init(3)
    other = dict(init, mean=init["mean"] + 5, var=init["var"] * 10)
    _, y1 = run_module(Mo.BatchNormalization(3, param_init=init), [x])
    _, y2 = run_module(Mo.BatchNormalization(3, param_init=other), [x])
    np.testing.assert_allclose(y1, y2, rtol=1e-6, atol=1e-6)


def test_batchnorm_eval_uses_running_stats_and_keeps_them():
    init = bn_init(3)
    bn = Mo.BatchNormalization(3, param_init=init).apply(training=False)
    assert not bn.training
    x = 2.0 + 3.0 * np.random.RandomState(0).randn(4, 3, 2, 2).astype(np.float32)
    run, y = run_module(bn, [x])
    run.backward(out_grad(x.shape))
    run.forward()
    np.testing.assert_allclose(
        y, bn_ref(x, init["beta"], init["gamma"], init["mean"], init["var"], 1, 1e-5,
                  False), rtol=1e-5, atol=1e-5)
    mean, var = _bn_stats(bn)
    np.testing.assert_array_equal(mean, init["mean"])
    np.testing.assert_array_equal(var, init["var"])
    # and the result really is not the batch-statistics one
    assert not np.allclose(y, bn_ref(x, init["beta"], init["gamma"], None, None, 1, 1e-5,
                                     True), atol=1e-2)


def test_batchnorm_switches_mode_on_the_same_module():
    init = bn_init(3)
    bn = Mo.BatchNormalization(3, param_init=init)
    x = 1.0 + np.random.RandomState(0).randn(4, 3, 2, 2)
    _, y_train = run_module(bn, [x])
    stats_after_training = _bn_stats(bn)
    bn.apply(training=False)
    _, y_eval = run_module(bn, [x])
    np.testing.assert_allclose(y_eval, bn_ref(x, init["beta"], init["gamma"],
                                              *stats_after_training, 1, 1e-5, False),
                               rtol=1e-5, atol=1e-5)
    assert not np.allclose(y_train, y_eval, atol=1e-2)
    for before, after in zip(stats_after_training, _bn_stats(bn)):
        np.testing.assert_array_equal(before, after)


def test_batchnorm_output_stat():
    bn = Mo.BatchNormalization(3, output_stat=True, param_init=bn_init(3))
    x = np.random.RandomState(0).randn(4, 3, 2, 2).astype(np.float32)
    y, mean, var = bn(nn.Variable.from_numpy_array(x))
    nn.forward_all([y, mean, var])
    np.testing.assert_allclose(mean.d, x.mean((0, 2, 3), keepdims=True), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(var.d, x.var((0, 2, 3), keepdims=True), rtol=1e-5)


@pytest.mark.parametrize("p", [0.25, 0.5])
def test_dropout_training_drops_and_rescales(p):
    x = np.random.RandomState(0).uniform(1, 2, (8, 125)).astype(np.float32)
    w = out_grad(x.shape)
    run, y, (gx,), _ = run_module(Mo.Dropout(p), [x], w)
    dropped = y == 0
    assert abs(dropped.mean() - p) < 0.06, dropped.mean()
    np.testing.assert_allclose(y[~dropped], x[~dropped] / (1 - p), rtol=1e-6)
    # the gradient follows the same mask and scale
    np.testing.assert_allclose(gx, np.where(dropped, 0.0, w / (1 - p)), rtol=1e-5,
                               atol=1e-6)


def test_dropout_masks_differ_between_calls():
    x = np.ones((4, 50), np.float32)
    d = Mo.Dropout(0.5)
    masks = [run_module(d, [x])[1] == 0 for _ in range(2)]
    assert not np.array_equal(masks[0], masks[1])


@pytest.mark.parametrize("p", [0.0, 0.5, 0.9])
def test_dropout_eval_is_exact_identity(p):
    x = np.random.RandomState(0).randn(8, 125).astype(np.float32)
    w = out_grad(x.shape)
    d = Mo.Dropout(p).apply(training=False)
    run, y, (gx,), _ = run_module(d, [x], w)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(gx, w.astype(np.float32))


def test_dropout_switches_mode_on_the_same_module():
    x = np.ones((4, 50), np.float32)
    d = Mo.Dropout(0.5)
    assert np.any(run_module(d, [x])[1] == 0)
    d.apply(training=False)
    np.testing.assert_array_equal(run_module(d, [x])[1], x)
    d.apply(training=True)
    assert np.any(run_module(d, [x])[1] == 0)


# ----------------------------------------------------------------- bad arguments
BAD_ARGUMENTS = [
    ("Conv-in_channels-0", lambda: Mo.Conv(0, 4, (3, 3)), "in_channels"),
    ("Conv-in_channels-bool", lambda: Mo.Conv(True, 4, (3, 3)), "in_channels"),
    ("Conv-out_channels", lambda: Mo.Conv(3, -1, (3, 3)), "out_channels"),
    ("Conv-kernel-int", lambda: Mo.Conv(3, 4, 3), "kernel"),
    ("Conv-kernel-0", lambda: Mo.Conv(3, 4, (3, 0)), "kernel"),
    ("Conv-pad-length", lambda: Mo.Conv(3, 4, (3, 3), pad=(1,)), "pad"),
    ("Conv-pad-negative", lambda: Mo.Conv(3, 4, (3, 3), pad=(1, -1)), "pad"),
    ("Conv-stride-0", lambda: Mo.Conv(3, 4, (3, 3), stride=(0, 1)), "stride"),
    ("Conv-dilation-0", lambda: Mo.Conv(3, 4, (3, 3), dilation=(1, 0)), "dilation"),
    ("Conv-group-0", lambda: Mo.Conv(4, 4, (3, 3), group=0), "group"),
    ("Conv-group-not-dividing-out", lambda: Mo.Conv(4, 6, (3, 3), group=4), "group"),
    ("Conv-group-not-dividing-in", lambda: Mo.Conv(3, 6, (3, 3), group=2), "group"),
    ("DwConv-in_channels", lambda: Mo.DwConv(0, (3, 3)), "in_channels"),
    ("DwConv-kernel-int", lambda: Mo.DwConv(3, 3), "kernel"),
    ("DwConv-multiplier", lambda: Mo.DwConv(3, (3, 3), multiplier=0), "multiplier"),
    ("Linear-in_features", lambda: Mo.Linear(0, 3), "in_features"),
    ("Linear-out_features", lambda: Mo.Linear(3, 2.5), "out_features"),
    ("BN-n_features", lambda: Mo.BatchNormalization(0), "n_features"),
    ("BN-n_dims", lambda: Mo.BatchNormalization(3, n_dims=0), "n_dims"),
    ("BN-axes-out-of-range", lambda: Mo.BatchNormalization(3, n_dims=2, axes=(2,)),
     "axes"),
    ("BN-axes-two", lambda: Mo.BatchNormalization(3, axes=(1, 2)), "axes"),
    ("BN-decay_rate", lambda: Mo.BatchNormalization(3, decay_rate=1.5), "decay_rate"),
    ("BN-eps", lambda: Mo.BatchNormalization(3, eps=0.0), "eps"),
    ("MaxPool-kernel-int", lambda: Mo.MaxPool(2), "kernel"),
    ("MaxPool-stride-0", lambda: Mo.MaxPool((2, 2), stride=(0, 2)), "stride"),
    ("AvgPool-pad-length", lambda: Mo.AvgPool((2, 2), pad=(1, 1, 1)), "pad"),
    ("Zero-stride-0", lambda: Mo.Zero(stride=(2, 0)), "stride"),
    ("Merging-mode", lambda: Mo.Merging(mode="bad"), "mode"),
    ("Dropout-1", lambda: Mo.Dropout(1.0), "drop_prob"),
    ("Dropout-negative", lambda: Mo.Dropout(-0.1), "drop_prob"),
]


@pytest.mark.parametrize("build, name", [b[1:] for b in BAD_ARGUMENTS],
                         ids=[b[0] for b in BAD_ARGUMENTS])
def test_bad_argument_is_named(build, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        build()


def test_bad_param_init_key_is_named():
    with pytest.raises(KeyError, match="param_init.*foo"):
        Mo.BatchNormalization(3, param_init={"foo": 1.0})


def test_lambda_needs_a_callable():
    with pytest.raises(TypeError, match="func"):
        Mo.Lambda(3)


BAD_INPUTS = [
    ("Conv-channels", lambda: Mo.Conv(3, 4, (3, 3)), [(2, 5, 6, 6)],
     r"input: expected 3 channels at axis 1, got shape \(2, 5, 6, 6\)"),
    ("Conv-channel-last-channels", lambda: Mo.Conv(3, 4, (3, 3), channel_last=True),
     [(2, 6, 6, 4)], r"input: expected 3 channels at axis 3, got shape \(2, 6, 6, 4\)"),
    ("Conv-rank", lambda: Mo.Conv(3, 4, (3, 3)), [(3, 6, 6)],
     r"input: expected at least 4 dimensions, got shape \(3, 6, 6\)"),
    ("DwConv-channels", lambda: Mo.DwConv(3, (3, 3)), [(2, 4, 5, 5)],
     r"input: .*3 channels.*\(2, 4, 5, 5\)"),
    ("Linear-features", lambda: Mo.Linear(12, 3), [(2, 13)],
     r"input: expected 12 features.*\(2, 13\)"),
    ("Linear-base-axis2-features", lambda: Mo.Linear(4, 3, base_axis=2), [(2, 4, 5)],
     r"input: expected 4 features from axis 2.*\(2, 4, 5\)"),
    ("BN-n_dims", lambda: Mo.BatchNormalization(3), [(2, 3)],
     r"input: expected 4 dimensions, got shape \(2, 3\)"),
    ("BN-features", lambda: Mo.BatchNormalization(3), [(2, 4, 2, 2)],
     r"input: expected 3 features at axis 1, got shape \(2, 4, 2, 2\)"),
    ("MaxPool-rank", lambda: Mo.MaxPool((2, 2)), [(4, 4)],
     r"input: expected at least 3 dimensions, got shape \(4, 4\)"),
    ("GlobalAvgPool-rank", lambda: Mo.GlobalAvgPool(), [(2, 3)],
     r"input: expected at least 3 dimensions, got shape \(2, 3\)"),
    ("Zero-stride-rank", lambda: Mo.Zero(stride=(2, 2, 2)), [(4, 4)],
     r"input: stride \(2, 2, 2\) has more axes than the input shape \(4, 4\)"),
    ("Merging-add-shapes", lambda: Mo.Merging("add"), [(2, 3), (2, 4)],
     r"'add' needs inputs of one shape.*\(2, 3\), \(2, 4\)"),
    ("Merging-mul-shapes", lambda: Mo.Merging("mul"), [(2, 3), (3, 2)],
     r"'mul' needs inputs of one shape"),
    ("Merging-no-input", lambda: Mo.Merging(), [], r"at least one input"),
]


@pytest.mark.parametrize("build, shapes, message", [b[1:] for b in BAD_INPUTS],
                         ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_reported_with_its_shape(build, shapes, message):
    with pytest.raises(ValueError, match=message):
        build()(*[nn.Variable(s) for s in shapes])


# Lambda passes its inputs to the wrapped function unchecked, by design.
@_params([c for c in CASES if c.layer is not Mo.Lambda])
def test_non_variable_input_is_a_type_error(case):
    module = make(case)
    arrays = make_inputs(case)
    with pytest.raises(TypeError, match=r"input( 0)?: expected an nnabla.Variable, "
                                        r"got ndarray"):
        module(*arrays)


def test_merging_names_the_bad_input():
    with pytest.raises(TypeError, match=r"input 1: expected an nnabla.Variable, got list"):
        Mo.Merging("add")(nn.Variable((2, 3)), [1, 2, 3])


@pytest.mark.parametrize("make, match", [
    (lambda: Mo.MaxPool((2,)), "kernel: NNabla pools over 2 or 3 spatial axes"),
    (lambda: Mo.AvgPool((2, 2, 2, 2)), "kernel: NNabla pools over 2 or 3 spatial axes"),
    (lambda: Mo.BatchNormalization(3, eps=None), "eps: expected a positive float"),
])
def test_arguments_nnabla_cannot_handle_are_refused_by_name(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_output_stat_outside_training_is_refused_by_name():
    bn = Mo.BatchNormalization(3, 4, output_stat=True)
    bn.apply(training=False)
    with pytest.raises(ValueError, match="output_stat: batch statistics exist only"):
        bn(nn.Variable((2, 3, 4, 4)))
